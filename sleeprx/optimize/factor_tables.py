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

import itertools
from collections.abc import Callable
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
        return compile_trees(problem, scorer.ensemble, scorer.leaf_values, max_cells=max_cells)
    levels = tuple(f.levels for f in problem.factors)
    trees = prune_for_person(scorer.ensemble, problem.features, problem.factor_features, levels)
    return replace(problem, trees=tuple(trees), base_margin=scorer.ensemble.base_margin)


def compile_trees(
    problem: PersonProblem,
    ensemble: Ensemble,
    leaf_values: Callable[[np.ndarray], np.ndarray],
    *,
    max_cells: int = 4096,
) -> PersonProblem:
    """``problem`` with its trees as factor tables, and pruned trees for the rest.

    ``leaf_values`` maps encoded feature rows to a rows x trees matrix of each tree's
    leaf value in float64 (see :meth:`TreeScorer.leaf_values`).
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
        cells = np.array(list(itertools.product(*(range(n) for n in shape))), dtype=int)
        rows = np.repeat(problem.features[None, :], max(len(cells), 1), axis=0)
        for axis, k in enumerate(g):
            rows[:, problem.factor_features[k]] = levels[k][cells[:, axis]]
        blocks.append(rows)
    values = leaf_values(np.vstack(blocks)) if blocks else np.zeros((0, len(masks)))
    tables, start = [], 0
    for g, ts in kept.items():
        shape = tuple(sizes[k] for k in g)
        n = int(np.prod(shape))
        summed = values[start : start + n][:, ts].sum(axis=1)
        tables.append(FactorTable(g, tuple(ts), summed.reshape(shape)))
        start += n
    trees = prune_for_person(
        ensemble, problem.features, problem.factor_features, levels, trees=left_over
    )
    return replace(
        problem, tables=tuple(tables), trees=tuple(trees), base_margin=ensemble.base_margin
    )
