"""sleeprx: personal, minimal, feasible behaviour prescriptions from a survey.

A classifier predicts the survey's positive outcome (good sleep, on the shipped
survey); SHAP attributions of the factors a person can change parameterise a
mixed-integer program (solved with HiGHS) that picks the smallest worthwhile set of
changes; the real classifier re-scores every answer. Exact mode embeds the tree
ensemble itself in the program.

The package reads in the order the data flow: :mod:`sleeprx.survey` (description,
reading, validation), :mod:`sleeprx.learn` (features, model, trees, SHAP),
:mod:`sleeprx.optimize` (problems, programs, routes, solver), :mod:`sleeprx.prescribing`
(a population's prescriptions, the policy, the table, verification), :mod:`sleeprx.analysis`
(fronts, sensitivity, fidelity, figures), :mod:`sleeprx.batch` (cohorts on Dask), then
:mod:`sleeprx.app` (the command line and pipelines). :mod:`sleeprx.utils` holds what
every layer shares.

Decision support for research, not medical advice.
"""

from sleeprx.utils.lazy import lazy_exports

__version__ = "0.2.0"

#: The public API: each name and the module that defines it. Loaded on first use, so
#: that importing a light module (say sleeprx.optimize.problem) does not import
#: XGBoost, SHAP and HiGHS through this package's __init__.
_EXPORTS = {
    "ModelSettings": "sleeprx.learn.model",
    "PrescribeSettings": "sleeprx.settings",
    "SleeprxError": "sleeprx.utils.errors",
    "evaluate_models": "sleeprx.learn.evaluate",
    "explain": "sleeprx.learn.explain",
    "fidelity_report": "sleeprx.analysis.fidelity",
    "load_description": "sleeprx.survey.description",
    "load_model": "sleeprx.learn.model",
    "load_pipeline": "sleeprx.app.config",
    "person_fronts": "sleeprx.analysis.fronts",
    "population_curve": "sleeprx.analysis.fronts",
    "prescribe": "sleeprx.prescribing.run",
    "read_survey": "sleeprx.survey.read",
    "run_pipeline": "sleeprx.app.pipeline",
    "save_model": "sleeprx.learn.model",
    "sensitivity": "sleeprx.analysis.sensitivity",
    "train": "sleeprx.learn.model",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
