"""SHAP attributions of a fitted tree classifier, and effect curves from them.

This module knows SHAP and nothing of sleeprx's model class, so that training can
estimate the curves it saves without an import cycle (:mod:`.explain` builds on the
model; the model builds on this).

Attributions come from :class:`shap.TreeExplainer` in log-odds units (the booster's
raw margin), so they add up to each person's margin. The effect curve of a factor is
its population SHAP dependence curve: at every observed value, the mean SHAP
contribution among people with that value (see :class:`~.curves.EffectCurve`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sleeprx.survey.curves import EffectCurve

__all__ = ["effect_curve", "shap_attributions"]


def shap_attributions(classifier: object, X: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """SHAP values (people x encoded features, log-odds) and the base value."""
    import shap

    explainer = shap.TreeExplainer(classifier)
    values = np.asarray(explainer.shap_values(X), dtype=float)
    base = float(np.ravel(explainer.expected_value)[0])
    return pd.DataFrame(values, index=X.index, columns=X.columns), base


def effect_curve(name: str, x: np.ndarray, phi: np.ndarray) -> EffectCurve:
    """The mean of ``phi`` at each observed value of ``x`` (blank values left out)."""
    ok = ~np.isnan(x)
    table = pd.DataFrame({"x": x[ok], "phi": phi[ok]}).groupby("x")["phi"].agg(["mean", "size"])
    return EffectCurve(
        name, table.index.to_numpy(float), table["mean"].to_numpy(), table["size"].to_numpy()
    )
