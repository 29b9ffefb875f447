"""The figures of :mod:`sleeprx.analysis.plots`, one module per family: the house
style (:mod:`.style`), Pareto fronts and sensitivity (:mod:`.pareto`), population
prescriptions (:mod:`.prescriptions`), and the model's view: SHAP, fidelity and
calibration (:mod:`.model`). Import them from :mod:`sleeprx.analysis.plots`.
"""
