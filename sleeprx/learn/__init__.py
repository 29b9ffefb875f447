"""The learning side: read a survey against its description, train and evaluate the
classifier, and explain it with SHAP effect curves.

Nothing here knows the optimisation layer; the optimisation layer reads only the plain
data defined here (the survey description and the effect curves).
"""
