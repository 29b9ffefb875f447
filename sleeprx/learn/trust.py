"""A trust region: where the training survey's levers are, fitted once and saved as JSON.

A prescription may move a person to a combination of lever values that nobody in the
survey has, where the classifier extrapolates. The trust region scores how plausible
an after-profile is, on the encoded columns of the modifiable factors only (the levers
are what a prescription moves; the other answers are the person's own), and calls a
profile *inside* when its score is at least the score of ``coverage`` of the training
rows. Two scores, chosen by name from :data:`REGIONS`:

- ``isolation_forest``: scikit-learn's :class:`~sklearn.ensemble.IsolationForest`
  (OCEAN's choice, Parmentier & Vidal 2021), its trees parsed into arrays. The score is
  :math:`-2^{-\\bar h(x)/c(n)}` with :math:`\\bar h` the mean over trees of the leaf's
  path length, so a sum over trees like the booster's margin;
- ``knn``: minus the distance from the profile to its k-th nearest training row, each
  column scaled by its standard deviation.

:meth:`TrustRegion.plausibility` is the score less the threshold: at least 0 inside.
Saved with :meth:`TrustRegion.to_json` and read back with :func:`trust_region_from_json`:
arrays and numbers, no pickle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "INSIDE_TOL",
    "REGIONS",
    "IsolationScore",
    "KnnScore",
    "TrustRegion",
    "fit_trust_region",
    "trust_region_from_json",
]

#: Share of the training rows a region is fitted to hold.
COVERAGE = 0.95
#: The neighbour whose distance the ``knn`` score reads.
NEIGHBOURS = 5
#: A plausibility this far below 0 is still inside: a profile that sits on the
#: threshold (grid data repeat distances exactly) must not flip with rounding.
INSIDE_TOL = 1e-9
#: Rows of profiles scored at once by ``knn`` (profiles x training rows of distances).
_CHUNK = 2048


class Score(Protocol):
    """A plausibility score on the region's columns: higher is more like the survey."""

    method: str

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The score of each row of ``X`` (rows x the region's columns, no NaN)."""
        ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class IsolationScore:
    """An isolation forest as arrays: per tree, the children, split feature and threshold
    of every node and, at a leaf, its path length (depth + c(samples) - 1)."""

    trees: tuple[dict[str, np.ndarray], ...]
    denominator: float  # n_trees * c(max_samples)
    method: str = "isolation_forest"

    def raw(self, X: np.ndarray) -> np.ndarray:
        # scikit-learn's trees compare float32 copies of the data with float64 thresholds
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        depth = np.zeros(len(X))
        rows = np.arange(len(X))
        for tree in self.trees:
            left, right = tree["left"], tree["right"]
            feature, threshold = tree["feature"], tree["threshold"]
            node = np.zeros(len(X), dtype=np.int64)
            active = left[node] >= 0
            while active.any():
                at = node[active]
                go_left = X[rows[active], feature[at]] <= threshold[at]
                node[active] = np.where(go_left, left[at], right[at])
                active = left[node] >= 0
            depth += tree["value"][node]
        return -(2.0 ** (-depth / self.denominator))

    def to_json(self) -> dict[str, Any]:
        return {
            "denominator": self.denominator,
            "trees": [{k: v.tolist() for k, v in t.items()} for t in self.trees],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IsolationScore:
        kinds = {"left": np.int64, "right": np.int64, "feature": np.int64}
        trees = tuple(
            {k: np.asarray(t[k], dtype=kinds.get(k, np.float64)) for k in _TREE_KEYS}
            for t in raw["trees"]
        )
        return cls(trees, float(raw["denominator"]))


_TREE_KEYS = ("left", "right", "feature", "threshold", "value")


@dataclass(frozen=True)
class KnnScore:
    """Minus the scaled distance to the k-th nearest training row."""

    points: np.ndarray  # training rows, scaled
    center: np.ndarray
    scale: np.ndarray
    k: int
    method: str = "knn"

    def raw(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, dtype=float) - self.center) / self.scale
        out = np.empty(len(Z))
        for start in range(0, len(Z), _CHUNK):
            out[start : start + _CHUNK] = -_kth_distance(
                Z[start : start + _CHUNK], self.points, self.k
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "points": self.points.tolist(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> KnnScore:
        points = np.asarray(raw["points"], dtype=float).reshape(-1, len(raw["center"]))
        return cls(
            points, np.asarray(raw["center"], float), np.asarray(raw["scale"], float), int(raw["k"])
        )


def _kth_distance(Z: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance from each row of ``Z`` to its k-th nearest row of ``points``."""
    d2 = ((Z[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    k = min(k, points.shape[0]) - 1
    return np.sqrt(np.partition(d2, k, axis=1)[:, k])


@dataclass(frozen=True)
class TrustRegion:
    """A fitted plausibility score over some encoded columns, and its threshold.

    ``columns`` index the model's encoded feature row; ``names`` are their feature
    names; a blank answer is scored at ``fill`` (the training median of its column).
    """

    score: IsolationScore | KnnScore
    columns: tuple[int, ...]
    names: tuple[str, ...]
    fill: np.ndarray
    threshold: float
    coverage: float

    @property
    def method(self) -> str:
        return self.score.method

    def plausibility(self, rows: np.ndarray) -> np.ndarray:
        """Score less threshold of encoded feature rows (rows x all features): at least 0
        inside the region."""
        X = np.atleast_2d(np.asarray(rows, dtype=float))[:, list(self.columns)]
        X = np.where(np.isnan(X), self.fill, X)
        return self.score.raw(X) - self.threshold

    def inside(self, rows: np.ndarray) -> np.ndarray:
        """Whether each encoded feature row is inside the region (up to rounding)."""
        return self.plausibility(rows) >= -INSIDE_TOL

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "columns": list(self.columns),
            "names": list(self.names),
            "fill": self.fill.tolist(),
            "threshold": self.threshold,
            "coverage": self.coverage,
            "score": self.score.to_json(),
        }


def trust_region_from_json(raw: dict[str, Any]) -> TrustRegion:
    """The region :meth:`TrustRegion.to_json` wrote (KeyError, TypeError or ValueError
    if it is malformed; the model loader names the file)."""
    method = raw["method"]
    if method not in _READERS:
        raise ValueError(f"unknown trust-region method {method!r}; known: {sorted(_READERS)}")
    return TrustRegion(
        _READERS[method](raw["score"]),
        tuple(int(c) for c in raw["columns"]),
        tuple(str(n) for n in raw["names"]),
        np.asarray(raw["fill"], dtype=float),
        float(raw["threshold"]),
        float(raw["coverage"]),
    )


def _fit_isolation(X: np.ndarray, seed: int) -> IsolationScore:
    """Fit scikit-learn's forest and read its trees into arrays."""
    from sklearn.ensemble import IsolationForest
    from sklearn.ensemble._iforest import _average_path_length

    forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=1).fit(X)
    whole = forest._max_features == X.shape[1]  # then every tree reads every column
    trees = []
    for t, (est, features) in enumerate(
        zip(forest.estimators_, forest.estimators_features_, strict=True)
    ):
        tree = est.tree_
        columns = np.arange(X.shape[1]) if whole else np.asarray(features)
        leaf = tree.children_left < 0
        feature = np.where(leaf, 0, columns[np.maximum(tree.feature, 0)])
        value = forest._decision_path_lengths[t] + forest._average_path_length_per_tree[t] - 1.0
        trees.append(
            {
                "left": tree.children_left.astype(np.int64),
                "right": tree.children_right.astype(np.int64),
                "feature": feature.astype(np.int64),
                "threshold": tree.threshold.astype(np.float64),
                "value": np.where(leaf, value, 0.0).astype(np.float64),
            }
        )
    denominator = len(trees) * float(_average_path_length([forest._max_samples])[0])
    return IsolationScore(tuple(trees), denominator)


def _fit_knn(X: np.ndarray, seed: int) -> KnnScore:
    center = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return KnnScore((X - center) / scale, center, scale, NEIGHBOURS)


#: The trust regions by name: each fits its score on the training rows.
REGIONS: dict[str, Callable[[np.ndarray, int], IsolationScore | KnnScore]] = {
    "isolation_forest": _fit_isolation,
    "knn": _fit_knn,
}

_READERS: dict[str, Callable[[dict[str, Any]], IsolationScore | KnnScore]] = {
    "isolation_forest": IsolationScore.from_json,
    "knn": KnnScore.from_json,
}


def fit_trust_region(
    features: np.ndarray,
    feature_names: Sequence[str],
    levers: Sequence[str],
    *,
    method: str,
    seed: int = 42,
    coverage: float = COVERAGE,
) -> TrustRegion:
    """Fit the region ``method`` on the encoded training rows' lever columns.

    Rows with a blank lever are left out of the fit. The threshold is the score that
    ``coverage`` of the training rows reach (for ``knn``, each row's distance counts
    its k nearest *other* rows, so a row is not its own neighbour).
    """
    names = list(feature_names)
    columns = tuple(names.index(lever) for lever in levers)
    X = np.asarray(features, dtype=float)[:, list(columns)]
    X = X[~np.isnan(X).any(axis=1)]
    score = REGIONS[method](X, seed)
    if isinstance(score, KnnScore):  # leave each row out of its own neighbours
        own = -_kth_distance(score.points, score.points, score.k + 1)
    else:
        own = score.raw(X)
    threshold = float(np.quantile(own, 1.0 - coverage))
    fill = np.median(X, axis=0)
    return TrustRegion(score, columns, tuple(levers), fill, threshold, coverage)
