"""sleeprx: personal, minimal, feasible sleep-behaviour prescriptions.

A classifier predicts good sleep from a survey; SHAP attributions of the factors a
person can change parameterise a mixed-integer program (solved with HiGHS) that picks
the smallest worthwhile set of changes; the real classifier re-scores every answer.
Exact mode embeds the tree ensemble itself in the program.

Decision support for research, not medical advice.
"""

from .bruteforce import brute_force
from .data import Survey, load_survey, read_survey, shipped_survey_path
from .errors import (
    ArtifactError,
    ConfigError,
    DescriptionError,
    ModelMismatchError,
    SleeprxError,
    SolverError,
    SurveyError,
)
from .evaluate import evaluate_models
from .explain import Explanation, explain
from .fidelity import fidelity_report
from .model import ModelSettings, TrainedModel, load_model, save_model, train
from .pareto import knee, person_fronts, population_curve, sensitivity
from .pipeline import load_pipeline, run_pipeline
from .prescribe import plan_person, prepare_problems, prescribe
from .settings import PrescribeSettings
from .survey import SurveyDescription, load_description

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DescriptionError",
    "Explanation",
    "ModelMismatchError",
    "ModelSettings",
    "PrescribeSettings",
    "SleeprxError",
    "SolverError",
    "Survey",
    "SurveyDescription",
    "SurveyError",
    "TrainedModel",
    "brute_force",
    "evaluate_models",
    "explain",
    "fidelity_report",
    "knee",
    "load_description",
    "load_model",
    "load_pipeline",
    "load_survey",
    "person_fronts",
    "plan_person",
    "population_curve",
    "prepare_problems",
    "prescribe",
    "read_survey",
    "run_pipeline",
    "save_model",
    "sensitivity",
    "shipped_survey_path",
    "train",
]
