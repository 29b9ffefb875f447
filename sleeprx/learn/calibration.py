"""A smooth, strictly increasing calibration map from the booster's margin to a probability.

XGBoost's probabilities are ``sigmoid(margin)``; on a noisy survey they are often too
sure of themselves. :class:`CalibrationMap` is beta calibration (Kull, Silva Filho and
Flach, "Beyond sigmoids", Electronic Journal of Statistics 11, 2017) written on the
margin ``m``: with :math:`p_0 = \\sigma(m)`,

.. math::

    \\operatorname{logit} p = a \\ln p_0 - b \\ln(1 - p_0) + c,
    \\qquad a, b \\ge a_{\\min} > 0,

fitted by maximum likelihood on *out-of-fold* margins (each from a model that did
not see the person). Its slope in ``m`` lies between ``a`` and ``b``, so it is strictly
increasing: distinct margins get distinct probabilities, no probability is clipped,
it never reorders people (ROC AUC is unchanged) and a goal ``p >= 0.7`` is one
threshold on the margin, :meth:`CalibrationMap.margin_for`. ``a = b = 1, c = 0`` is
the identity; ``a = b`` is Platt scaling. Three numbers, saved as JSON.

Why this map: on out-of-fold margins of the shipped and the messy survey it had the
lowest Brier score of Platt scaling, isotonic regression (a staircase) and isotonic
regression interpolated between block midpoints, with an ECE close to theirs.

A map is kept only if it lowers both the Brier score and the ECE of the out-of-fold
margins, each person's calibrated probability coming from a map fitted on the other
folds (:func:`choose_calibration`); otherwise sleeprx keeps the identity map and its
:class:`CalibrationCheck` says why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import expit
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedGroupKFold

__all__ = [
    "ECE_BINS",
    "CalibrationCheck",
    "CalibrationMap",
    "calibration_from_json",
    "calibration_to_json",
    "choose_calibration",
    "cross_fitted_probabilities",
    "expected_calibration_error",
    "reliability_table",
]

#: Equal-width probability bins on [0, 1] of the expected calibration error.
ECE_BINS = 10
#: Least slope of each tail (in log-odds per unit of margin): keeps both tails rising.
MIN_SLOPE = 1e-3


def _features(margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ln sigmoid(m)`` and ``-ln(1 - sigmoid(m))``, without overflow."""
    return -np.logaddexp(0.0, -margin), np.logaddexp(0.0, margin)


@dataclass(frozen=True)
class CalibrationMap:
    """``logit p = a ln sigmoid(m) - b ln(1 - sigmoid(m)) + c``; ``n`` margins fitted.

    ``a`` is the slope of the lower tail, ``b`` of the upper one (log-odds per unit of
    margin); both at least :data:`MIN_SLOPE`, so the map strictly increases.
    """

    a: float
    b: float
    c: float
    n: int

    def __post_init__(self) -> None:
        values = (self.a, self.b, self.c)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise ValueError(f"calibration a, b, c must be finite numbers, found {values}")
        if min(self.a, self.b) < MIN_SLOPE:
            raise ValueError(
                f"calibration slopes a = {self.a}, b = {self.b} must be at least {MIN_SLOPE}"
            )

    @classmethod
    def identity(cls, n: int = 0) -> CalibrationMap:
        """``p = sigmoid(m)``."""
        return cls(1.0, 1.0, 0.0, n)

    @classmethod
    def fit(
        cls, margins: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
    ) -> CalibrationMap:
        """Maximum likelihood of ``y`` (0/1) given ``margins``, from the identity; each
        person's term weighted by the survey ``weights`` when given."""
        m = np.asarray(margins, dtype=float)
        y = np.asarray(y, dtype=float)
        w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=float)
        u, v = _features(m)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            z = theta[0] * u + theta[1] * v + theta[2]
            residual = w * (expit(z) - y)
            value = float(np.sum(w * (np.logaddexp(0.0, z) - y * z)))
            return value, np.array([residual @ u, residual @ v, residual.sum()])

        bounds = [(MIN_SLOPE, None), (MIN_SLOPE, None), (None, None)]
        found = minimize(loss, np.array([1.0, 1.0, 0.0]), jac=True, bounds=bounds)
        a, b, c = (float(t) for t in found.x)
        return cls(max(a, MIN_SLOPE), max(b, MIN_SLOPE), c, len(m))

    def log_odds(self, margin: np.ndarray | float) -> np.ndarray:
        """Calibrated log-odds at each margin."""
        u, v = _features(np.asarray(margin, dtype=float))
        return self.a * u + self.b * v + self.c

    def probability(self, margin: np.ndarray | float) -> np.ndarray:
        """Calibrated probability at each margin (vectorised; NaN stays NaN)."""
        return expit(self.log_odds(margin))

    def margin_for(self, p: float) -> float:
        """The smallest margin whose calibrated probability is at least ``p``.

        ``-inf`` for ``p <= 0`` and ``+inf`` for ``p >= 1``. A margin constraint
        ``margin >= margin_for(p)`` is then exactly ``probability >= p``.
        """
        if p <= 0:
            return -math.inf
        if p >= 1:
            return math.inf
        target = math.log(p / (1 - p))
        # the slope is at least min(a, b), which brackets the root around 0
        reach = abs(target - float(self.log_odds(0.0))) / min(self.a, self.b) + 1.0
        root = brentq(lambda x: float(self.log_odds(x)) - target, -reach, reach, xtol=1e-15)
        return self._least_reaching(float(root), p)

    def _least_reaching(self, near: float, p: float) -> float:
        """The smallest float margin whose probability is at least ``p``, by bisection
        between floats either side of ``near`` (near p = 1 a probability is flat over
        thousands of floats, too many to step through)."""
        step = max(abs(near), 1.0) * 1e-12
        lo = hi = near
        while float(self.probability(hi)) < p:
            hi, step = hi + step, 2 * step
        while float(self.probability(lo)) >= p:
            lo, step = lo - step, 2 * step
        while True:  # probability(lo) < p <= probability(hi)
            mid = lo + (hi - lo) / 2
            if not lo < mid < hi:
                return float(hi)
            if float(self.probability(mid)) >= p:
                hi = mid
            else:
                lo = mid

    def to_json(self) -> dict:
        return {
            "method": "beta calibration of out-of-fold margins: "
            "logit p = a ln sigmoid(m) - b ln(1 - sigmoid(m)) + c",
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "n": int(self.n),
        }

    @classmethod
    def from_json(cls, raw: dict) -> CalibrationMap:
        """A map written by :meth:`to_json`; raises KeyError, TypeError or ValueError."""
        return cls(float(raw["a"]), float(raw["b"]), float(raw["c"]), int(raw["n"]))


@dataclass(frozen=True)
class CalibrationCheck:
    """Out-of-fold Brier score and ECE without (identity) and with a calibration map.

    Each person's calibrated probability is from a map fitted on the other ``splits``
    folds of out-of-fold margins (:func:`cross_fitted_probabilities`).
    """

    n: int
    splits: int
    brier_identity: float
    brier_map: float
    ece_identity: float
    ece_map: float

    @property
    def improves(self) -> bool:
        """True when the map lowers both the Brier score and the ECE."""
        return self.brier_map < self.brier_identity and self.ece_map < self.ece_identity

    @property
    def kept(self) -> str:
        return "map" if self.improves else "identity"

    @property
    def verdict(self) -> str:
        """One sentence: what the map did to the scores and which map is kept."""
        scores = (
            f"out-of-fold Brier {self.brier_identity:.4f} -> {self.brier_map:.4f}, "
            f"ECE {self.ece_identity:.4f} -> {self.ece_map:.4f}"
        )
        if self.improves:
            return f"calibration map kept: it lowers both ({scores})"
        return f"identity kept: the calibration map does not lower both ({scores})"

    @classmethod
    def of(
        cls,
        y: np.ndarray,
        p_identity: np.ndarray,
        p_map: np.ndarray,
        splits: int,
        weights: np.ndarray | None = None,
    ) -> CalibrationCheck:
        w = weights
        return cls(
            n=len(y),
            splits=splits,
            brier_identity=float(brier_score_loss(y, p_identity, sample_weight=w)),
            brier_map=float(brier_score_loss(y, p_map, sample_weight=w)),
            ece_identity=expected_calibration_error(y, p_identity, weights=w),
            ece_map=expected_calibration_error(y, p_map, weights=w),
        )

    def to_json(self) -> dict:
        return {**asdict(self), "kept": self.kept, "verdict": self.verdict}

    @classmethod
    def from_json(cls, raw: dict) -> CalibrationCheck:
        names = ("brier_identity", "brier_map", "ece_identity", "ece_map")
        return cls(int(raw["n"]), int(raw["splits"]), *(float(raw[k]) for k in names))


def _splitter(groups: np.ndarray, splits: int, seed: int) -> StratifiedGroupKFold:
    n = min(splits, len(np.unique(groups)))
    return StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)


def cross_fitted_probabilities(
    margins: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    splits: int,
    seed: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Each person's probability from a map fitted on the other folds' margins
    (stratified group k-fold: copies of a row stay in one fold), weighted by the
    survey ``weights`` when given."""
    margins = np.asarray(margins, dtype=float)
    out = np.full(len(margins), np.nan)
    for tr, te in _splitter(groups, splits, seed).split(margins, y, groups):
        w = None if weights is None else weights[tr]
        out[te] = CalibrationMap.fit(margins[tr], y[tr], w).probability(margins[te])
    return out


def choose_calibration(
    margins: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    splits: int,
    seed: int,
    weights: np.ndarray | None = None,
) -> tuple[CalibrationMap | None, CalibrationCheck]:
    """The map fitted on every out-of-fold margin if it lowers both the cross-fitted
    Brier score and ECE, else ``None`` (the identity); and the check that decided. With
    survey ``weights``, the fits and the scores are weighted."""
    margins = np.asarray(margins, dtype=float)
    p_map = cross_fitted_probabilities(
        margins, y, groups, splits=splits, seed=seed, weights=weights
    )
    n_splits = _splitter(groups, splits, seed).get_n_splits()
    check = CalibrationCheck.of(y, expit(margins), p_map, n_splits, weights)
    return (CalibrationMap.fit(margins, y, weights) if check.improves else None), check


def calibration_to_json(calibration: CalibrationMap | None, check: CalibrationCheck) -> dict:
    """The saved form: the check and the kept map (``None`` for the identity)."""
    return {
        "check": check.to_json(),
        "map": None if calibration is None else calibration.to_json(),
    }


def calibration_from_json(raw: dict) -> tuple[CalibrationMap | None, CalibrationCheck]:
    """Read :func:`calibration_to_json`; raises KeyError, TypeError or ValueError."""
    check = CalibrationCheck.from_json(raw["check"])
    calibration = None if raw["map"] is None else CalibrationMap.from_json(raw["map"])
    if check.improves != (calibration is not None):
        raise ValueError(
            f"the map is {'present' if calibration else 'missing'} but {check.kept} was kept"
        )
    return calibration, check


def _bins(p: np.ndarray, bins: int) -> np.ndarray:
    return np.clip(np.floor(p * bins).astype(int), 0, bins - 1)


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS, *, weights: np.ndarray | None = None
) -> float:
    """ECE with ``bins`` equal-width bins on [0, 1] (p = 1 falls in the last bin):
    the mean over people of |observed rate - mean predicted probability| in their bin;
    with ``weights`` (survey weights), weighted means and a weighted mean over people."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    which = _bins(p, bins)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        wb = w[inside]
        gap = np.average(y[inside], weights=wb) - np.average(p[inside], weights=wb)
        total += wb.sum() * abs(gap)
    return float(total / w.sum())


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
