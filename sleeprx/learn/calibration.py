"""A monotone calibration map from the booster's margin (log-odds) to a probability.

XGBoost's probabilities are ``sigmoid(margin)``; on a noisy survey they are often too
sure of themselves. :class:`CalibrationMap` is isotonic regression of the observed
outcome on *out-of-fold* margins (each margin from a model that did not see the
person), stored as plain knots: between knots the map is linear, beyond them flat.
It is monotone non-decreasing, so it never reorders people (ROC AUC is unchanged up to
ties) and a goal ``p >= 0.7`` is still one threshold on the margin,
:meth:`CalibrationMap.margin_for`, which exact mode can use as it uses ``logit(0.7)``.

Plain data: numpy arrays and JSON lists, no pickle; scikit-learn only fits it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ECE_BINS", "CalibrationMap", "expected_calibration_error", "reliability_table"]

#: Equal-width probability bins on [0, 1] of the expected calibration error.
ECE_BINS = 10


@dataclass(frozen=True, eq=False)
class CalibrationMap:
    """``p = interp(margin, knots, probabilities)``, flat beyond the end knots.

    ``knots`` strictly increase and ``probabilities`` never decrease, so the map is
    monotone non-decreasing. ``n`` is the number of margins it was fitted on.
    """

    knots: np.ndarray
    probabilities: np.ndarray
    n: int

    def __post_init__(self) -> None:
        knots = np.asarray(self.knots, dtype=float)
        probs = np.asarray(self.probabilities, dtype=float)
        if knots.ndim != 1 or knots.shape != probs.shape or len(knots) < 1:
            raise ValueError("calibration knots and probabilities must be equal-length lists")
        if not (np.all(np.isfinite(knots)) and np.all(np.isfinite(probs))):
            raise ValueError("calibration knots and probabilities must be finite")
        if np.any(np.diff(knots) <= 0):
            raise ValueError("calibration knots must increase strictly")
        if np.any(np.diff(probs) < 0) or probs[0] < 0 or probs[-1] > 1:
            raise ValueError("calibration probabilities must rise within [0, 1]")
        object.__setattr__(self, "knots", knots)
        object.__setattr__(self, "probabilities", probs)

    @classmethod
    def fit(cls, margins: np.ndarray, y: np.ndarray) -> CalibrationMap:
        """Isotonic regression of ``y`` (0/1) on ``margins``.

        The probabilities are kept within ``[1/(2n), 1 - 1/(2n)]`` so that their
        log-odds stay finite: a block of people who were all negative (or all positive)
        says the rate is small, not that it is zero.
        """
        from sklearn.isotonic import IsotonicRegression

        m = np.asarray(margins, dtype=float)
        y = np.asarray(y, dtype=float)
        iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(m, y)
        knots = np.asarray(iso.X_thresholds_, dtype=float)
        probs = np.asarray(iso.y_thresholds_, dtype=float)
        knots, first = np.unique(knots, return_index=True)  # defensive: strictly increasing
        probs = np.maximum.accumulate(probs[first])
        eps = 0.5 / max(len(m), 1)
        return cls(knots, np.clip(probs, eps, 1 - eps), len(m))

    def probability(self, margin: np.ndarray | float) -> np.ndarray:
        """Calibrated probability at each margin (vectorised; NaN stays NaN)."""
        return np.interp(np.asarray(margin, dtype=float), self.knots, self.probabilities)

    def margin_for(self, p: float) -> float:
        """The smallest margin whose calibrated probability is at least ``p``.

        ``-inf`` when every margin reaches ``p``; ``+inf`` when none does. A margin
        constraint ``margin >= margin_for(p)`` is then exactly ``probability >= p``.
        """
        knots, probs = self.knots, self.probabilities
        if p <= probs[0]:
            return -math.inf
        if p > probs[-1]:
            return math.inf
        i = int(np.searchsorted(probs, p, side="left"))  # first knot with probs[i] >= p
        lo_x, hi_x, lo_p, hi_p = knots[i - 1], knots[i], probs[i - 1], probs[i]
        m = float(lo_x + (p - lo_p) / (hi_p - lo_p) * (hi_x - lo_x))
        m = min(max(m, float(lo_x)), float(hi_x))
        # np.interp rounds; step by single floats until m is the smallest that works
        while float(self.probability(m)) < p:
            m = float(np.nextafter(m, math.inf))
        while float(self.probability(np.nextafter(m, -math.inf))) >= p:
            m = float(np.nextafter(m, -math.inf))
        return m

    def to_json(self) -> dict:
        return {
            "method": "isotonic regression of the outcome on out-of-fold margins (log-odds)",
            "knots": self.knots.tolist(),
            "probabilities": self.probabilities.tolist(),
            "n": int(self.n),
        }

    @classmethod
    def from_json(cls, raw: dict) -> CalibrationMap:
        """A map written by :meth:`to_json`; raises KeyError, TypeError or ValueError."""
        return cls(
            np.asarray(raw["knots"], dtype=float),
            np.asarray(raw["probabilities"], dtype=float),
            int(raw["n"]),
        )


def _bins(p: np.ndarray, bins: int) -> np.ndarray:
    return np.clip(np.floor(p * bins).astype(int), 0, bins - 1)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with ``bins`` equal-width bins on [0, 1] (p = 1 falls in the last bin):
    the mean over people of |observed rate - mean predicted probability| in their bin."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    which = _bins(p, bins)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.sum() * abs(y[inside].mean() - p[inside].mean())
    return float(total / len(y))


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """One row per non-empty bin: its range, people, mean prediction, observed rate."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    which = _bins(p, bins)
    return [
        {
            "bin_low": b / bins,
            "bin_high": (b + 1) / bins,
            "n": int((which == b).sum()),
            "p_mean": float(p[which == b].mean()),
            "observed": float(y[which == b].mean()),
        }
        for b in np.unique(which)
    ]
