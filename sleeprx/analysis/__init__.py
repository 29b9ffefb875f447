"""Analysis of prescriptions: Pareto fronts and population curves, the sensitivity
grid, the surrogate's fidelity to the model, and the figures."""
