"""SHAP attributions of a trained model and the effect curves of the modifiable factors.

The effect curve :math:`g_f(v)` of a modifiable factor is the population's SHAP
dependence curve: at every value of ``f`` observed in the survey, the mean SHAP
contribution of ``f`` among people with that value; between observed values it is
interpolated linearly, and beyond them it stays flat (no extrapolation). The curves
are estimated once, on the training survey, and saved with the model. Averaging
over people with the same value absorbs interactions into the mean, which is what
the paper's surrogate assumes; exact mode does without this approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sleeprx.learn.attributions import effect_curve, shap_attributions
from sleeprx.learn.model import TrainedModel
from sleeprx.survey.curves import EffectCurve

__all__ = ["Explanation", "effect_curves", "explain"]


@dataclass(frozen=True)
class Explanation:
    """SHAP values of a population and the effect curves derived from them."""

    shap_values: pd.DataFrame  # people x encoded features, log-odds
    base_value: float
    features: pd.DataFrame  # the encoded features the values explain
    curves: dict[str, EffectCurve]

    @property
    def importance(self) -> pd.Series:
        """Mean |SHAP| of each modifiable factor, largest first."""
        cols = list(self.curves)
        return self.shap_values[cols].abs().mean().sort_values(ascending=False)


def explain(model: TrainedModel, frame: pd.DataFrame) -> Explanation:
    """SHAP values of ``frame`` under ``model`` and the modifiable factors' curves."""
    X = model.encode(frame)
    shap_frame, base = shap_attributions(model.classifier, X)
    curves = {
        name: effect_curve(name, X[name].to_numpy(float), shap_frame[name].to_numpy())
        for name in (*model.description.modifiable_names, *model.description.derived_features)
    }
    return Explanation(shap_frame, base, X, curves)


def effect_curves(
    model: TrainedModel, frame: pd.DataFrame, explanation: Explanation | None = None
) -> dict[str, EffectCurve]:
    """The curves prescriptions use: from ``explanation`` if given, else the ones saved
    with the model (the training survey's), else (for a factor the model's policy did
    not have) estimated on ``frame``."""
    if explanation is not None:
        return explanation.curves
    names = (*model.description.modifiable_names, *model.description.derived_features)
    if all(name in model.curves for name in names):
        return model.curves
    return explain(model, frame).curves
