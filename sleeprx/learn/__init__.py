"""The learning side: features, the classifier (fit, evaluate, tune, calibrate, save
and load without pickle), its trees parsed as plain arrays (:mod:`sleeprx.learn.ensemble`),
and SHAP explanations.

It reads the survey layer and never the layers above it; the optimisation layer reads
only the tree types defined here.
"""
