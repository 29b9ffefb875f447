"""Effect curves: plain data that imports nothing of sleeprx.

The effect curve :math:`g_f(v)` of a modifiable factor is piecewise linear through
``knots`` (observed values) and ``effects`` (mean SHAP there), flat beyond the ends.
The optimisation layer reads curves, so they live here, apart from SHAP and XGBoost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EffectCurve", "curves_from_json", "curves_to_json"]


@dataclass(frozen=True)
class EffectCurve:
    """Piecewise-linear ``g_f``: ``knots`` are observed values, ``effects`` mean SHAP."""

    factor: str
    knots: np.ndarray
    effects: np.ndarray
    counts: np.ndarray

    def __call__(self, values: np.ndarray | float) -> np.ndarray:
        return np.interp(np.asarray(values, dtype=float), self.knots, self.effects)


def curves_to_json(curves: dict[str, EffectCurve]) -> dict[str, dict[str, list]]:
    """The curves as JSON-ready lists."""
    return {
        name: {
            "knots": c.knots.tolist(),
            "effects": c.effects.tolist(),
            "counts": c.counts.tolist(),
        }
        for name, c in curves.items()
    }


def curves_from_json(raw: dict) -> dict[str, EffectCurve]:
    """Curves written by :func:`curves_to_json`; raises KeyError, TypeError or ValueError."""
    return {
        name: EffectCurve(
            name,
            np.asarray(c["knots"], float),
            np.asarray(c["effects"], float),
            np.asarray(c["counts"], int),
        )
        for name, c in raw.items()
    }
