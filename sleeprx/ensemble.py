"""Read an XGBoost binary classifier's trees from its JSON, and prune them per person.

XGBoost sends a row left when ``x < threshold``, strictly, comparing float32 values.
Pruning therefore compares the float32 form of every grid level with the float32
threshold: each level lands on exactly one side, so no epsilon is needed and no value
is ambiguous at a threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Ensemble", "PrunedTree", "Split", "prune_for_person", "read_ensemble"]


@dataclass(frozen=True)
class Tree:
    left: np.ndarray  # child ids, -1 at a leaf
    right: np.ndarray
    feature: np.ndarray  # split feature index
    threshold: np.ndarray  # float32 split value; at a leaf, the leaf's value
    default_left: np.ndarray  # where a missing value goes


@dataclass(frozen=True)
class Ensemble:
    """The trees of a binary ``binary:logistic`` booster, and its base margin."""

    trees: tuple[Tree, ...]
    base_margin: float
    feature_names: tuple[str, ...]

    def leaf_value(self, tree: int, node: int) -> float:
        return float(self.trees[tree].threshold[node])

    @cached_property
    def _node_values(self) -> np.ndarray:
        """Trees x nodes table of node values in float64 (leaf values at the leaves)."""
        width = max(len(t.threshold) for t in self.trees)
        table = np.zeros((len(self.trees), width))
        for t, tree in enumerate(self.trees):
            table[t, : len(tree.threshold)] = tree.threshold.astype(float)
        return table

    def leaf_values(self, leaves: np.ndarray) -> np.ndarray:
        """Rows x trees matrix of leaf values (float64) from ``pred_leaf`` leaf ids."""
        leaves = np.atleast_2d(leaves).astype(int)
        return self._node_values[np.arange(len(self.trees))[None, :], leaves]

    def margin_from_leaves(self, leaves: np.ndarray) -> np.ndarray:
        """Margin in float64 from leaf ids (as ``Booster.predict(pred_leaf=True)`` gives).

        Leaf values are float32; they are summed in float64, tree by tree in order.
        """
        values = self.leaf_values(leaves)
        total = np.full(leaves.shape[0], self.base_margin, dtype=float)
        for t in range(values.shape[1]):  # sequential, so the rounding never depends on numpy
            total += values[:, t]
        return total


def _base_margin(config: dict) -> float:
    """``base_score`` as a margin. XGBoost 3 writes it as a string like ``'[6.87E-1]'``."""
    raw = config["learner"]["learner_model_param"]["base_score"]
    p = float(np.float32(str(raw).strip("[]")))
    objective = config["learner"]["objective"]["name"]
    if objective != "binary:logistic":
        raise ValueError(f"only binary:logistic boosters are supported, not {objective}")
    return math.log(p / (1.0 - p))


def read_ensemble(booster) -> Ensemble:
    """Parse the trees of an :class:`xgboost.Booster` from its JSON form."""
    raw = json.loads(booster.save_raw(raw_format="json"))
    config = json.loads(booster.save_config())
    model = raw["learner"]["gradient_booster"]["model"]
    trees = []
    for t in model["trees"]:
        if any(t.get("split_type", [])):
            raise ValueError("categorical splits are not supported; sleeprx one-hot encodes")
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
    return Ensemble(tuple(trees), _base_margin(config), names)


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


def prune_for_person(
    ensemble: Ensemble,
    x: np.ndarray,
    factor_features: tuple[int, ...],
    factor_levels: tuple[np.ndarray, ...],
) -> list[PrunedTree]:
    """Prune every tree to the leaves reachable for one person.

    ``x`` is the person's encoded feature row (immutable values used as they are);
    factor ``k`` is feature ``factor_features[k]`` and may take any of
    ``factor_levels[k]``.
    """
    column_of = {feature: k for k, feature in enumerate(factor_features)}
    levels32 = [np.asarray(v, dtype=np.float32) for v in factor_levels]
    x32 = np.asarray(x, dtype=np.float32)
    return [_prune(tree, x32, column_of, levels32) for tree in ensemble.trees]


def _prune(tree: Tree, x32, column_of, levels32) -> PrunedTree:
    leaf_values: list[float] = []
    leaf_nodes: list[int] = []
    splits: list[Split] = []

    def walk(node: int) -> list[int]:
        """Return the ids (in leaf_values) of the leaves reachable below ``node``."""
        while tree.left[node] != -1:
            feature, threshold = tree.feature[node], tree.threshold[node]
            k = column_of.get(feature)
            if k is None:
                value = x32[feature]
                go_left = tree.default_left[node] if np.isnan(value) else value < threshold
                node = tree.left[node] if go_left else tree.right[node]
                continue
            mask = levels32[k] < threshold
            if mask.all():
                node = tree.left[node]
            elif not mask.any():
                node = tree.right[node]
            else:
                left, right = walk(tree.left[node]), walk(tree.right[node])
                splits.append(Split(k, mask, tuple(left), tuple(right)))
                return left + right
        leaf_values.append(float(tree.threshold[node]))
        leaf_nodes.append(int(node))
        return [len(leaf_values) - 1]

    walk(0)
    return PrunedTree(tuple(leaf_values), tuple(leaf_nodes), tuple(splits))
