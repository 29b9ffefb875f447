"""Compile a person's pruned ensemble into tables over the levels of the factors.

After pruning, each tree depends on a few modifiable factors only (on the shipped data
at most two). Trees that depend on the same set of factors add up to one table over
the product of those factors' levels, and the ensemble's margin is

.. math::

    m(x') = b + \\sum_{t\\ \\mathrm{constant}} w_t + \\sum_{G} T_G(l_G),

a sum of tables indexed by the chosen levels. This is an exact reformulation, not an
approximation; the tables are filled by the booster's own traversal at one profile
per cell (the other factors at their current values, on which the group's trees do
not depend), so the strict float32 ``x < threshold`` rule is XGBoost's own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .problem import PersonProblem

__all__ = ["FactorTable", "factor_tables"]


@dataclass(frozen=True)
class FactorTable:
    """The summed leaf values of ``trees`` for every combination of ``factors``' levels.

    ``values`` has one axis per factor, in the order of ``factors``; index 0 on an axis
    is that factor's current value.
    """

    factors: tuple[int, ...]
    trees: tuple[int, ...]
    values: np.ndarray


def factor_tables(
    problem: PersonProblem,
    leaf_values: Callable[[np.ndarray], np.ndarray],
    *,
    max_cells: int = 4096,
) -> tuple[FactorTable, ...]:
    """Tables for every group of trees whose factors have at most ``max_cells`` cells.

    ``leaf_values`` maps encoded feature rows to a rows x trees matrix of each tree's
    leaf value (float64). Groups with more cells are left out: the formulation keeps
    their trees as leaf variables.
    """
    if problem.trees is None:
        raise ValueError("factor tables need the pruned trees (exact mode)")
    groups: dict[tuple[int, ...], list[int]] = {}
    for t, tree in enumerate(problem.trees):
        if len(tree.leaf_values) > 1:
            groups.setdefault(tree.factors, []).append(t)
    sizes = [len(f.levels) for f in problem.factors]
    kept = {g: ts for g, ts in groups.items() if np.prod([sizes[k] for k in g]) <= max_cells}
    if not kept:
        return ()
    blocks, shapes = [], []
    for g in kept:
        shape = tuple(sizes[k] for k in g)
        cells = np.array(list(itertools.product(*(range(n) for n in shape))), dtype=int)
        rows = np.repeat(problem.features[None, :], len(cells), axis=0)
        for axis, k in enumerate(g):
            rows[:, problem.factor_features[k]] = problem.factors[k].levels[cells[:, axis]]
        blocks.append(rows)
        shapes.append(shape)
    values = leaf_values(np.vstack(blocks))
    tables, start = [], 0
    for (g, ts), shape in zip(kept.items(), shapes, strict=True):
        n = int(np.prod(shape))
        summed = values[start : start + n][:, ts].sum(axis=1)
        tables.append(FactorTable(g, tuple(ts), summed.reshape(shape)))
        start += n
    return tuple(tables)
