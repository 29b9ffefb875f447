"""Compile a person's tree ensemble into tables over the levels of the factors.

Once the immutable features are fixed, each tree depends on a few modifiable factors
only (on the shipped data at most two). Trees that depend on the same set of factors
add up to one table over the product of those factors' levels, and the margin is

.. math::

    m(x') = b + \\sum_{G} T_G(l_G),

a sum of tables indexed by the chosen levels (the empty set of factors holds the
trees that are constant for this person). This is an exact reformulation, not an
approximation. The tables are filled by the booster's own traversal at one profile
per cell (the other factors at their current values, on which the group's trees do
not depend), so the strict float32 ``x < threshold`` rule is XGBoost's own. Groups
with more than ``max_cells`` cells stay as pruned trees for the leaf formulation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from .ensemble import Ensemble, TreeScorer, dependencies, prune_for_person
from .problem import FactorTable, PersonProblem

__all__ = ["attach_ensemble", "compile_trees"]


def attach_ensemble(
    problem: PersonProblem,
    scorer: TreeScorer,
    *,
    encoding: Literal["tables", "leaves"] = "tables",
    max_cells: int = 4096,
) -> PersonProblem:
    """``problem`` ready for exact mode: the one place that adds a person's trees.

    ``"tables"`` compiles the trees into factor tables (pruned trees for groups over
    ``max_cells``); ``"leaves"`` keeps every tree pruned, for the leaf formulation.
    """
    if encoding == "tables":
        return compile_trees(problem, scorer.ensemble, max_cells=max_cells)
    levels = tuple(f.levels for f in problem.factors)
    trees = prune_for_person(scorer.ensemble, problem.features, problem.factor_features, levels)
    return replace(problem, trees=tuple(trees), base_margin=scorer.ensemble.base_margin)


def compile_trees(
    problem: PersonProblem,
    ensemble: Ensemble,
    *,
    max_cells: int = 4096,
) -> PersonProblem:
    """``problem`` with its trees as factor tables, and pruned trees for the rest.

    Each table is filled by walking only its own trees over its cells
    (:meth:`Ensemble.walk`, XGBoost's rule; tested against the booster's ``pred_leaf``).
    """
    levels = tuple(f.levels for f in problem.factors)
    masks = dependencies(ensemble, problem.features, problem.factor_features, levels)
    sizes = [len(v) for v in levels]
    groups: dict[tuple[int, ...], list[int]] = {}
    for mask in np.unique(masks).tolist():
        factors = tuple(k for k in range(len(sizes)) if mask >> k & 1)
        groups[factors] = np.flatnonzero(masks == mask).tolist()
    kept = {g: ts for g, ts in groups.items() if np.prod([sizes[k] for k in g]) <= max_cells}
    left_over = sorted(t for g, ts in groups.items() if g not in kept for t in ts)

    blocks = []
    for g in kept:
        shape = tuple(sizes[k] for k in g)
        # every cell's level indices, in C order (a group of no factors: one cell)
        cells = np.indices(shape).reshape(len(shape), -1).T if g else np.zeros((1, 0), int)
        rows = np.repeat(problem.features[None, :], max(len(cells), 1), axis=0)
        for axis, k in enumerate(g):
            rows[:, problem.factor_features[k]] = levels[k][cells[:, axis]]
        blocks.append(rows)
    per_group = _walk_groups(ensemble, blocks, list(kept.values()))
    tables = []
    for (g, ts), summed in zip(kept.items(), per_group, strict=True):
        shape = tuple(sizes[k] for k in g)
        tables.append(FactorTable(g, tuple(ts), summed.reshape(shape)))
    trees = prune_for_person(
        ensemble, problem.features, problem.factor_features, levels, trees=left_over
    )
    return replace(
        problem, tables=tuple(tables), trees=tuple(trees), base_margin=ensemble.base_margin
    )


def _walk_groups(
    ensemble: Ensemble, blocks: list[np.ndarray], trees: list[list[int]]
) -> list[np.ndarray]:
    """Each group's cells summed over only that group's trees, in one walk of all
    (cell, tree) pairs; sums run tree by tree in order, like the leaf formulation."""
    if not blocks:
        return []
    rows = np.vstack(blocks)
    starts = np.cumsum([0] + [len(b) for b in blocks])
    pair_row = np.concatenate(
        [
            np.repeat(np.arange(a, b), len(ts))
            for a, b, ts in zip(starts, starts[1:], trees, strict=False)
        ]
    )
    pair_tree = np.concatenate(
        [
            np.tile(np.asarray(ts, dtype=int), b - a)
            for a, b, ts in zip(starts, starts[1:], trees, strict=False)
        ]
    )
    values = ensemble.walk(rows, pair_row, pair_tree)
    out, at = [], 0
    for a, b, ts in zip(starts, starts[1:], trees, strict=False):
        n = (b - a) * len(ts)
        out.append(values[at : at + n].reshape(b - a, len(ts)).sum(axis=1))
        at += n
    return out
