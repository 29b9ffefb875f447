"""Read an XGBoost binary classifier's trees from its JSON, and prune them per person.

XGBoost sends a row left when ``x < threshold``, strictly, comparing float32 values.
Pruning therefore compares the float32 form of every grid level with the float32
threshold: each level lands on exactly one side, so no epsilon is needed and no value
is ambiguous at a threshold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from sleeprx.utils.errors import ModelMismatchError

__all__ = [
    "WALK_ROWS",
    "Ensemble",
    "PrunedTree",
    "Split",
    "TreeScorer",
    "dependencies",
    "dependency_masks",
    "prune_for_person",
    "read_ensemble",
    "tree_scorer",
]


@functools.cache
def _libm() -> ctypes.CDLL | None:
    """The C math library with its single-precision ``expf`` and ``logf``, which
    XGBoost calls; None where it cannot be found. Loaded at the first use."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or ctypes.util.find_library("c"))
        functions = libm.expf, libm.logf
    except (OSError, AttributeError, TypeError):
        return None
    for function in functions:
        function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
    return libm


@dataclass(frozen=True)
class Tree:
    left: np.ndarray  # child ids, -1 at a leaf
    right: np.ndarray
    feature: np.ndarray  # split feature index
    threshold: np.ndarray  # float32 split value; at a leaf, the leaf's value
    default_left: np.ndarray  # where a missing value goes

    @cached_property
    def nodes(self) -> tuple[list[int], list[int], list[int], list[float], list[bool]]:
        """The arrays as Python lists: a per-node walk in Python is several times
        faster on lists than on numpy scalars. float32 values widen to float64
        exactly, so comparisons keep XGBoost's float32 order."""
        return (
            self.left.tolist(),
            self.right.tolist(),
            self.feature.tolist(),
            self.threshold.astype(float).tolist(),
            self.default_left.tolist(),
        )


@dataclass(frozen=True)
class Ensemble:
    """The trees of a binary ``binary:logistic`` booster, and its base margin."""

    trees: tuple[Tree, ...]
    base_margin: float
    feature_names: tuple[str, ...]
    #: the booster's own float32 base margin, where its probabilities start; None if
    #: unknown (the probabilities are then the booster's, not emulated)
    base_margin32: float | None = None

    def leaf_value(self, tree: int, node: int) -> float:
        return float(self.trees[tree].threshold[node])

    @cached_property
    def _padded(self) -> tuple[np.ndarray, ...]:
        """Trees x nodes arrays (left, right, feature, threshold, default_left)."""
        width = max(len(t.threshold) for t in self.trees)
        shape = (len(self.trees), width)
        left, right = np.full(shape, -1), np.full(shape, -1)
        feature, default_left = np.zeros(shape, dtype=int), np.zeros(shape, dtype=bool)
        threshold = np.zeros(shape)
        for t, tree in enumerate(self.trees):
            n = len(tree.threshold)
            left[t, :n], right[t, :n], feature[t, :n] = tree.left, tree.right, tree.feature
            threshold[t, :n] = tree.threshold.astype(float)
            default_left[t, :n] = tree.default_left
        return left, right, feature, threshold, default_left

    @cached_property
    def _node_values(self) -> np.ndarray:
        """Trees x nodes table of node values in float64 (leaf values at the leaves)."""
        width = max(len(t.threshold) for t in self.trees)
        table = np.zeros((len(self.trees), width))
        for t, tree in enumerate(self.trees):
            table[t, : len(tree.threshold)] = tree.threshold.astype(float)
        return table

    @cached_property
    def paths(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each node's path from its tree's root, as trees x nodes x depth arrays: at
        each split above the node, its feature (-1 past the path's end), threshold
        (float32 as float64), whether the path goes left there, and the split's
        default side (where a missing value goes)."""
        left, right, feature, threshold, default_left = self._padded
        steps: dict[tuple[int, int], list[tuple[int, float, bool, bool]]] = {}
        for t in range(len(self.trees)):
            stack = [(0, [])]
            while stack:  # once per booster: a plain walk of every node
                node, path = stack.pop()
                steps[t, node] = path
                if left[t, node] != -1:
                    split = (int(feature[t, node]), float(threshold[t, node]))
                    default = bool(default_left[t, node])
                    stack.append((int(left[t, node]), [*path, (*split, True, default)]))
                    stack.append((int(right[t, node]), [*path, (*split, False, default)]))
        depth = max(1, max(len(path) for path in steps.values()))
        shape = (*left.shape, depth)
        on, at = np.full(shape, -1), np.zeros(shape)
        went_left, default_side = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
        for (t, node), path in steps.items():
            for d, (j, cut, goes_left, default) in enumerate(path):
                on[t, node, d], at[t, node, d] = j, cut
                went_left[t, node, d], default_side[t, node, d] = goes_left, default
        return on, at, went_left, default_side

    def splits_on(self, features: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The (tree, node) ids of every split on one of ``features``, in tree then
        node order; found once per set of features (people share their levers)."""
        found = self._splits.get(features)
        if found is None:
            left, _, feature, _, _ = self._padded
            found = np.nonzero((left != -1) & np.isin(feature, features))
            self._splits[features] = found
        return found

    @cached_property
    def _splits(self) -> dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]:
        return {}

    @cached_property
    def cut_counts(self) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """How many of each tree's splits on a feature have a threshold at or below a
        value: ``(cuts, counts)``, where ``cuts[j]`` are the thresholds of feature ``j``
        across all trees, ascending, and for ``i = offset_j + searchsorted(cuts[j], v,
        "right")`` column ``counts[:, i]`` gives that count for every tree at value
        ``v`` (``offset_j``: the columns of the features before ``j``, in key order).

        Two values with equal counts in a tree fall on the same side of every one of
        its splits on ``j``: they reach the same leaves.
        """
        left, _, feature, threshold, _ = self._padded
        inner = left != -1
        cuts, blocks = {}, []
        for j in np.unique(feature[inner]).tolist():
            t, n = np.nonzero(inner & (feature == j))
            order = np.argsort(threshold[t, n], kind="stable")
            cuts[j] = threshold[t, n][order]
            hits = np.zeros((len(self.trees), len(order) + 1), dtype=np.int32)
            hits[t[order], np.arange(1, len(order) + 1)] = 1
            blocks.append(np.cumsum(hits, axis=1))
        counts = np.hstack(blocks) if blocks else np.zeros((len(self.trees), 0), np.int32)
        return cuts, counts

    @cached_property
    def cut_offsets(self) -> dict[int, int]:
        """``offset_j`` of :attr:`cut_counts` for each feature ``j`` that has splits."""
        cuts, _ = self.cut_counts
        sizes = [len(thresholds) + 1 for thresholds in cuts.values()]
        return dict(zip(cuts, np.cumsum([0, *sizes])[:-1].tolist(), strict=True))

    def walk(self, rows: np.ndarray, row: np.ndarray, tree: np.ndarray) -> np.ndarray:
        """The leaf value tree ``tree[i]`` gives row ``rows[row[i]]``, for every pair i.

        The traversal is XGBoost's: a row goes left when ``x < threshold`` in float32,
        and a missing value follows the split's default side. All pairs step down
        together, one depth at a time.
        """
        x32 = np.asarray(rows, dtype=np.float32).astype(float)
        return self.walk_pairs(lambda pairs, features: x32[row[pairs], features], tree)

    def walk_pairs(
        self, value: Callable[[np.ndarray, np.ndarray], np.ndarray], tree: np.ndarray
    ) -> np.ndarray:
        """The leaf value tree ``tree[i]`` gives pair i, whose features are read lazily:
        ``value(pairs, features)`` is pair ``pairs[j]``'s value of feature
        ``features[j]``, already rounded to float32. Lazy, so that callers walking many
        cells that differ in a few features need not build a full row per cell.
        """
        return self._node_values[tree, self.walk_nodes(value, tree)]

    def walk_nodes(
        self, value: Callable[[np.ndarray, np.ndarray], np.ndarray], tree: np.ndarray
    ) -> np.ndarray:
        """The leaf node id tree ``tree[i]`` gives pair i (as :meth:`walk_pairs`)."""
        left, right, feature, threshold, default_left = self._padded
        node = np.zeros(len(tree), dtype=int)
        active = np.flatnonzero(left[tree, node] != -1)
        while len(active):
            t, n = tree[active], node[active]
            x = value(active, feature[t, n])
            go_left = np.where(np.isnan(x), default_left[t, n], x < threshold[t, n])
            node[active] = np.where(go_left, left[t, n], right[t, n])
            active = active[left[t, node[active]] != -1]
        return node

    def leaf_values(self, leaves: np.ndarray) -> np.ndarray:
        """Rows x trees matrix of leaf values (float64) from ``pred_leaf`` leaf ids."""
        leaves = np.atleast_2d(leaves).astype(np.intp)
        # one flat gather: a third of the time of the broadcast two-index one
        table = self._node_values
        leaves += np.arange(len(self.trees), dtype=np.intp) * table.shape[1]
        return table.ravel()[leaves]

    def margin_from_leaves(self, leaves: np.ndarray) -> np.ndarray:
        """Margin in float64 from leaf ids (as ``Booster.predict(pred_leaf=True)`` gives).

        Leaf values are float32; they are summed in float64, tree by tree in order.
        """
        values = self.leaf_values(leaves)
        start = np.full((values.shape[0], 1), self.base_margin, dtype=float)
        # add.accumulate is sequential, so the rounding never depends on numpy's pairwise
        # sums; one call, where a loop over 200 trees costs a third of a millisecond
        return np.add.accumulate(np.concatenate([start, values], axis=1), axis=1)[:, -1]


def _base_margin(config: dict) -> float:
    """``base_score`` as a margin. XGBoost 3 writes it as a string like ``'[6.87E-1]'``."""
    raw = config["learner"]["learner_model_param"]["base_score"]
    p = float(np.float32(str(raw).strip("[]")))
    objective = config["learner"]["objective"]["name"]
    if objective != "binary:logistic":
        raise ModelMismatchError(f"only binary:logistic boosters are supported, not {objective}")
    return math.log(p / (1.0 - p))


def _base_margin32(config: dict) -> float | None:
    """XGBoost's float32 base margin, ``-logf(1 / base_score - 1)`` in float32 with the
    C library's ``logf``, as its predictions start from; None without a C ``logf``."""
    if _libm() is None:
        return None
    raw = config["learner"]["learner_model_param"]["base_score"]
    one, p = np.float32(1.0), np.float32(str(raw).strip("[]"))
    return float(-np.float32(_libm().logf(float(one / p - one))))


def read_ensemble(booster) -> Ensemble:
    """Parse the trees of an :class:`xgboost.Booster` from its JSON form."""
    raw = json.loads(booster.save_raw(raw_format="json"))
    config = json.loads(booster.save_config())
    model = raw["learner"]["gradient_booster"]["model"]
    trees = []
    for t in model["trees"]:
        if any(t.get("split_type", [])):
            raise ModelMismatchError(
                "categorical splits are not supported; sleeprx one-hot encodes"
            )
        trees.append(
            Tree(
                left=np.asarray(t["left_children"], dtype=int),
                right=np.asarray(t["right_children"], dtype=int),
                feature=np.asarray(t["split_indices"], dtype=int),
                threshold=np.asarray(t["split_conditions"], dtype=np.float32),
                default_left=np.asarray(t["default_left"], dtype=bool),
            )
        )
    names = tuple(raw["learner"].get("feature_names", []))
    return Ensemble(tuple(trees), _base_margin(config), names, _base_margin32(config))


#: Up to this many rows, :meth:`TreeScorer.margin` walks the trees in numpy.
WALK_ROWS = 16


@dataclass(frozen=True)
class TreeScorer:
    """A booster and its parsed trees: leaf ids, leaf values and float64 margins.

    ``Booster.predict`` sums leaf values in float32 (about 1e-6 off); :meth:`margin`
    sums the leaves the booster's own traversal picks in float64, which is the exact
    value exact mode optimises, so the two can be compared to 1e-9.
    """

    booster: Any
    ensemble: Ensemble
    n_features: int

    def leaves(self, features: np.ndarray) -> np.ndarray:
        """Rows x trees matrix of the leaf id each tree gives each encoded row."""
        import xgboost as xgb

        # numpy, not pandas: xgboost's DataFrame path costs ~1 ms a call. nthread=1: on
        # small batches, starting threads costs far more than the work.
        rows = np.asarray(features, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ModelMismatchError(
                f"expected rows of {self.n_features} encoded features, got shape {rows.shape}"
            )
        # Columns are in the model's order by construction (the encoder), so the name
        # check, which costs more than the prediction on a few rows, is skipped.
        matrix = xgb.DMatrix(rows, nthread=1)
        return self.booster.predict(matrix, pred_leaf=True, validate_features=False)

    def margin(self, features: np.ndarray) -> np.ndarray:
        """The booster's margin of each row, summed in float64.

        A few rows are walked in numpy (:meth:`Ensemble.walk_nodes`, XGBoost's own
        traversal): building a DMatrix and asking the booster costs about a
        millisecond, many times the walk; many rows go to the booster, which is faster
        there."""
        rows = np.asarray(features, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != self.n_features or len(rows) > WALK_ROWS:
            return self.ensemble.margin_from_leaves(self.leaves(rows))
        return self.ensemble.margin_from_leaves(self.walked_leaves(rows))

    def scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's :meth:`margin` (float64) and the booster's probability, what
        ``Booster.inplace_predict`` gives to the bit (float32 values).

        A few rows are walked once for both: the booster's float32 sum of the same
        leaves, tree by tree from its float32 base margin, and its sigmoid
        ``1 / (1 + expf(-m))`` with the C library's ``expf``, which the booster calls
        (numpy's own ``exp`` differs in the last bit on some values). Many rows, or a
        platform where the C library or this emulation does not match the booster
        (checked once per scorer), go to the booster."""
        rows = np.asarray(features, dtype=float)
        small = rows.ndim == 2 and rows.shape[1] == self.n_features and len(rows) <= WALK_ROWS
        if not small or not self._emulates_booster:
            p = self.booster.inplace_predict(rows, validate_features=False)
            return self.margin(rows), np.asarray(p, dtype=float)
        leaves = self.walked_leaves(rows)
        return self.ensemble.margin_from_leaves(leaves), self._probability(leaves)

    def _probability(self, leaves: np.ndarray) -> np.ndarray:
        """The booster's float32 probability of each row of leaf ids, as float64."""
        values = self.ensemble.leaf_values(leaves).astype(np.float32)
        start = np.full((len(values), 1), np.float32(self.ensemble.base_margin32))
        # float32 throughout, sequentially: XGBoost's own accumulation
        margin = np.add.accumulate(np.concatenate([start, values], axis=1), axis=1)[:, -1]
        one, expf = np.float32(1.0), _libm().expf
        return np.array([float(one / (one + np.float32(expf(-m)))) for m in margin.tolist()])

    @cached_property
    def _emulates_booster(self) -> bool:
        """Whether :meth:`_probability` gives the booster's probabilities on a few
        probe rows (zeros, ones, missing values): False without a C ``expf``."""
        if _libm() is None or self.ensemble.base_margin32 is None:
            return False
        probes = np.vstack([np.zeros(self.n_features), np.ones(self.n_features)])
        probes = np.vstack([probes, np.full(self.n_features, np.nan), -probes])
        p = self.booster.inplace_predict(probes, validate_features=False)
        return bool(np.array_equal(self._probability(self.walked_leaves(probes)), p))

    def walked_leaves(self, rows: np.ndarray) -> np.ndarray:
        """Rows x trees matrix of leaf ids, as :meth:`leaves` gives, walked in numpy."""
        n_trees = len(self.ensemble.trees)
        x32 = np.asarray(rows, dtype=np.float32).astype(float)
        row = np.repeat(np.arange(len(rows)), n_trees)
        tree = np.tile(np.arange(n_trees), len(rows))
        nodes = self.ensemble.walk_nodes(lambda pairs, features: x32[row[pairs], features], tree)
        return nodes.reshape(len(rows), n_trees)


_SCORERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tree_scorer(booster: Any) -> TreeScorer:
    """The :class:`TreeScorer` of an :class:`xgboost.Booster`, parsed once per booster."""
    scorer = _SCORERS.get(booster)
    if scorer is None:
        ensemble = read_ensemble(booster)
        scorer = TreeScorer(booster, ensemble, booster.num_features())
        _SCORERS[booster] = scorer
    return scorer


@dataclass(frozen=True)
class Split:
    """A split that still matters for one person: on factor ``factor``, levels whose
    mask entry is True go left. ``left_leaves``/``right_leaves`` index the tree's leaves."""

    factor: int
    goes_left: np.ndarray
    left_leaves: tuple[int, ...]
    right_leaves: tuple[int, ...]


@dataclass(frozen=True)
class PrunedTree:
    """A tree with every split on a fixed feature resolved: its reachable leaves and the
    splits on modifiable factors that choose among them. One leaf means a constant."""

    leaf_values: tuple[float, ...]
    leaf_nodes: tuple[int, ...]
    splits: tuple[Split, ...]

    @property
    def factors(self) -> tuple[int, ...]:
        """The factors this tree still depends on, ascending."""
        return tuple(sorted({s.factor for s in self.splits}))

    def values_at(self, choices: np.ndarray) -> np.ndarray:
        """The leaf value at each profile of level indices (profiles x factors): a leaf
        is reached when every split above it sends the profile's level its way."""
        reach = np.ones((len(choices), len(self.leaf_values)), dtype=bool)
        for split in self.splits:
            left = split.goes_left[choices[:, split.factor]][:, None]
            reach[:, list(split.left_leaves)] &= left
            reach[:, list(split.right_leaves)] &= ~left
        return reach @ np.asarray(self.leaf_values)


def dependencies(
    ensemble: Ensemble,
    x: np.ndarray,
    factor_features: tuple[int, ...],
    factor_levels: tuple[np.ndarray, ...],
) -> np.ndarray:
    """For every tree, a bitmask of the factors it still depends on for one person.

    Bit ``k`` is set when some split on factor ``k`` is reachable with both of its
    sides reachable by some level; 0 means the tree is a constant.
    """
    factor_of = np.full((1, len(x)), -1)
    factor_of[0, list(factor_features)] = np.arange(len(factor_features))
    low = np.array([[np.float32(v).min() for v in factor_levels]], dtype=np.float32)
    high = np.array([[np.float32(v).max() for v in factor_levels]], dtype=np.float32)
    x32 = np.asarray(x, dtype=np.float32).astype(float)[None, :]
    return dependency_masks(ensemble, x32, factor_of, low.astype(float), high.astype(float))[0]


def dependency_masks(
    ensemble: Ensemble,
    x32: np.ndarray,
    factor_of: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> np.ndarray:
    """People x trees bitmasks of the factors each tree still depends on (see
    :func:`dependencies`), for many people in one walk.

    ``x32`` (people x features) holds the encoded rows rounded to float32;
    ``factor_of[p, j]`` is the factor feature ``j`` is for person ``p``, or -1 if it is
    fixed; ``low``/``high`` (people x factors) are the float32 extremes of each
    factor's levels. All (person, tree) pairs step down together, one depth at a
    time, so the cost is a few numpy operations per depth, not a Python step per node.
    One person is checked split by split instead (:func:`_person_masks`).
    """
    if len(x32) == 1:
        return _person_masks(ensemble, x32[0], factor_of[0], low[0], high[0])[None, :]
    left, right, feature, threshold, default_left = ensemble._padded
    n_trees = len(ensemble.trees)
    masks = np.zeros(len(x32) * n_trees, dtype=np.int64)
    person = np.repeat(np.arange(len(x32)), n_trees)
    tree = np.tile(np.arange(n_trees), len(x32))
    node = np.zeros(len(tree), dtype=int)
    while len(tree):
        inner = left[tree, node] != -1
        person, tree, node = person[inner], tree[inner], node[inner]
        j = feature[tree, node]
        k = factor_of[person, j]
        fixed = k < 0
        # splits on fixed features: follow the person's own value (or the default side)
        p_fix, t_fix, n_fix = person[fixed], tree[fixed], node[fixed]
        value = x32[p_fix, j[fixed]]
        go_left = np.where(
            np.isnan(value), default_left[t_fix, n_fix], value < threshold[t_fix, n_fix]
        )
        # splits on factors: a side is reachable if some allowed level goes there
        p_free, t_free, n_free, k_free = person[~fixed], tree[~fixed], node[~fixed], k[~fixed]
        cut = threshold[t_free, n_free]
        can_left = low[p_free, k_free] < cut
        can_right = high[p_free, k_free] >= cut
        both = can_left & can_right
        np.bitwise_or.at(masks, p_free[both] * n_trees + t_free[both], 1 << k_free[both])
        person = np.concatenate([p_fix, p_free[can_left], p_free[can_right]])
        tree = np.concatenate([t_fix, t_free[can_left], t_free[can_right]])
        node = np.concatenate(
            [
                np.where(go_left, left[t_fix, n_fix], right[t_fix, n_fix]),
                left[t_free[can_left], n_free[can_left]],
                right[t_free[can_right], n_free[can_right]],
            ]
        )
    return masks.reshape(len(x32), n_trees)


def _person_masks(
    ensemble: Ensemble, x32: np.ndarray, factor_of: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """One person's row of :func:`dependency_masks`, without a walk: a split on factor
    ``k`` with both sides open to some level (``low < cut <= high``) sets bit ``k``
    when every split on its path (:attr:`Ensemble.paths`, read once per booster) lets
    the person through, a fixed feature by the person's value (or the default side),
    a factor by some level (``low < cut`` to go left, ``high >= cut`` to go right):
    what the walk finds, in a few numpy operations whatever the depth."""
    features = np.flatnonzero(factor_of >= 0)
    tree, node = ensemble.splits_on(tuple(features.tolist()))
    _, _, feature, threshold, _ = ensemble._padded
    k, cut = factor_of[feature[tree, node]], threshold[tree, node]
    both = (low[k] < cut) & (high[k] >= cut)
    tree, node, k = tree[both], node[both], k[both]
    on, at, went_left, default_left = (a[tree, node] for a in ensemble.paths)
    used = on >= 0
    on = np.where(used, on, 0)
    x, factor = x32[on], factor_of[on]
    fixed = np.where(np.isnan(x), default_left == went_left, (x < at) == went_left)
    k_on = np.where(factor >= 0, factor, 0)
    free = np.where(went_left, low[k_on] < at, high[k_on] >= at)
    reached = (~used | np.where(factor >= 0, free, fixed)).all(axis=1)
    masks = np.zeros(len(ensemble.trees), dtype=np.int64)
    np.bitwise_or.at(masks, tree[reached], 1 << k[reached])
    return masks


def prune_for_person(
    ensemble: Ensemble,
    x: np.ndarray,
    factor_features: tuple[int, ...],
    factor_levels: tuple[np.ndarray, ...],
    *,
    trees: list[int] | None = None,
) -> list[PrunedTree]:
    """Prune every tree (or those in ``trees``) to the leaves reachable for one person.

    ``x`` is the person's encoded feature row (immutable values used as they are);
    factor ``k`` is feature ``factor_features[k]`` and may take any of
    ``factor_levels[k]``.
    """
    column_of = {feature: k for k, feature in enumerate(factor_features)}
    levels32 = [np.asarray(v, dtype=np.float32).astype(float) for v in factor_levels]
    bounds = [(float(v.min()), float(v.max())) for v in levels32]
    x32 = np.asarray(x, dtype=np.float32).astype(float).tolist()
    chosen = range(len(ensemble.trees)) if trees is None else trees
    return [_prune(ensemble.trees[t], x32, column_of, levels32, bounds) for t in chosen]


def _prune(tree: Tree, x32, column_of, levels32, bounds) -> PrunedTree:
    left_of, right_of, feature_of, threshold_of, default_left = tree.nodes
    leaf_values: list[float] = []
    leaf_nodes: list[int] = []
    splits: list[Split] = []

    def walk(node: int) -> list[int]:
        """Return the ids (in leaf_values) of the leaves reachable below ``node``."""
        while left_of[node] != -1:
            feature, threshold = feature_of[node], threshold_of[node]
            k = column_of.get(feature)
            if k is None:
                value = x32[feature]
                go_left = default_left[node] if value != value else value < threshold
                node = left_of[node] if go_left else right_of[node]
                continue
            low, high = bounds[k]
            if high < threshold:
                node = left_of[node]
            elif low >= threshold:
                node = right_of[node]
            else:
                left, right = walk(left_of[node]), walk(right_of[node])
                splits.append(Split(k, levels32[k] < threshold, tuple(left), tuple(right)))
                return left + right
        leaf_values.append(threshold_of[node])
        leaf_nodes.append(node)
        return [len(leaf_values) - 1]

    walk(0)
    return PrunedTree(tuple(leaf_values), tuple(leaf_nodes), tuple(splits))
