"""sleeprx: personal, minimal, feasible behaviour prescriptions from a survey.

A classifier predicts the survey's positive outcome (good sleep, on the shipped
survey); SHAP attributions of the factors a person can change parameterise a
mixed-integer program (solved with HiGHS) that picks the smallest worthwhile set of
changes; the real classifier re-scores every answer. Exact mode embeds the tree
ensemble itself in the program.

The package reads in the order the data flow: :mod:`sleeprx.learn` (survey, model,
SHAP), :mod:`sleeprx.optimize` (problems, programs, solver), :mod:`sleeprx.prescriptions`
and :mod:`sleeprx.verify`, :mod:`sleeprx.analysis` (fronts, sensitivity, fidelity,
figures), then :mod:`sleeprx.pipeline` and the command line.

Decision support for research, not medical advice.
"""

from .lazy import lazy_exports

__version__ = "0.2.0"

#: The public API: each name and the module that defines it. Loaded on first use, so
#: that importing a light module (say sleeprx.optimize.problem) does not import
#: XGBoost, SHAP and HiGHS through this package's __init__.
_EXPORTS = {
    "ModelSettings": "sleeprx.learn.model",
    "PrescribeSettings": "sleeprx.settings",
    "SleeprxError": "sleeprx.errors",
    "evaluate_models": "sleeprx.learn.evaluate",
    "explain": "sleeprx.learn.explain",
    "fidelity_report": "sleeprx.analysis.fidelity",
    "load_description": "sleeprx.learn.survey",
    "load_model": "sleeprx.learn.model",
    "load_pipeline": "sleeprx.pipeline",
    "person_fronts": "sleeprx.analysis.fronts",
    "population_curve": "sleeprx.analysis.fronts",
    "prescribe": "sleeprx.prescriptions",
    "read_survey": "sleeprx.learn.data",
    "run_pipeline": "sleeprx.pipeline",
    "save_model": "sleeprx.learn.model",
    "sensitivity": "sleeprx.analysis.sensitivity",
    "train": "sleeprx.learn.model",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
