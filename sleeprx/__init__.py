"""sleeprx: personal, minimal, feasible behaviour prescriptions from a survey.

A classifier predicts the survey's positive outcome (good sleep, on the shipped
survey); SHAP attributions of the factors a person can change parameterise a
mixed-integer program (solved with HiGHS) that picks the smallest worthwhile set of
changes; the real classifier re-scores every answer. Exact mode embeds the tree
ensemble itself in the program.

The package reads in the order the data flow: :mod:`sleeprx.learn` (survey, model,
SHAP), :mod:`sleeprx.optimize` (problems, programs, solver), :mod:`sleeprx.prescribe`
and :mod:`sleeprx.verify`, :mod:`sleeprx.analysis` (fronts, sensitivity, fidelity,
figures), then :mod:`sleeprx.pipeline` and the command line.

Decision support for research, not medical advice.
"""

from .analysis.fidelity import fidelity_report
from .analysis.fronts import person_fronts, population_curve
from .analysis.sensitivity import sensitivity
from .errors import SleeprxError
from .learn.data import read_survey
from .learn.evaluate import evaluate_models
from .learn.explain import explain
from .learn.model import ModelSettings, load_model, save_model, train
from .learn.survey import load_description
from .pipeline import load_pipeline, run_pipeline
from .prescribe import prescribe
from .settings import PrescribeSettings

__version__ = "0.2.0"

__all__ = [
    "ModelSettings",
    "PrescribeSettings",
    "SleeprxError",
    "evaluate_models",
    "explain",
    "fidelity_report",
    "load_description",
    "load_model",
    "load_pipeline",
    "person_fronts",
    "population_curve",
    "prescribe",
    "read_survey",
    "run_pipeline",
    "save_model",
    "sensitivity",
    "train",
]
