"""SHAP attributions of the classifier and the effect curves of the modifiable factors.

Attributions come from :class:`shap.TreeExplainer` on the XGBoost booster, in
log-odds units (the booster's raw margin), so they add up to each person's margin.

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

import numpy as np
import pandas as pd

from .model import TrainedModel

__all__ = ["EffectCurve", "Explanation", "effect_curves", "explain"]


@dataclass(frozen=True)
class EffectCurve:
    """Piecewise-linear ``g_f``: ``knots`` are observed values, ``effects`` mean SHAP."""

    factor: str
    knots: np.ndarray
    effects: np.ndarray
    counts: np.ndarray

    def __call__(self, values: np.ndarray | float) -> np.ndarray:
        return np.interp(np.asarray(values, dtype=float), self.knots, self.effects)


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
    import shap

    X = model.encode(frame)
    explainer = shap.TreeExplainer(model.pipeline.named_steps["classify"])
    values = np.asarray(explainer.shap_values(X), dtype=float)
    shap_frame = pd.DataFrame(values, index=frame.index, columns=X.columns)
    curves = {
        name: _effect_curve(name, X[name].to_numpy(float), shap_frame[name].to_numpy())
        for name in model.description.modifiable_names
    }
    base = float(np.ravel(explainer.expected_value)[0])
    return Explanation(shap_frame, base, X, curves)


def _effect_curve(name: str, x: np.ndarray, phi: np.ndarray) -> EffectCurve:
    ok = ~np.isnan(x)
    table = pd.DataFrame({"x": x[ok], "phi": phi[ok]}).groupby("x")["phi"].agg(["mean", "size"])
    return EffectCurve(
        name, table.index.to_numpy(float), table["mean"].to_numpy(), table["size"].to_numpy()
    )


def effect_curves(
    model: TrainedModel, frame: pd.DataFrame, explanation: Explanation | None = None
) -> dict[str, EffectCurve]:
    """The curves prescriptions use: from ``explanation`` if given, else the ones saved
    with the model (the training survey's), else estimated on ``frame``."""
    if explanation is not None:
        return explanation.curves
    saved = model.curves or {}
    if all(name in saved for name in model.description.modifiable_names):
        return saved
    return explain(model, frame).curves
