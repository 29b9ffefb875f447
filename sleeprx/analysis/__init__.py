"""Analysis of prescriptions: Pareto fronts and population curves, the sensitivity
grid, the surrogate's fidelity to the model, the figures, and a run's Markdown
summary (:mod:`sleeprx.analysis.report`)."""
