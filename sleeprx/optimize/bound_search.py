"""A layered search over the levers with one upper bound per model.

The cost-bounded goal search of :mod:`.costbound` generalised to several models at
once (the main booster and its bootstrap boosters) and to any pruning rule on the
bounds. Each model ``m`` has its factor tables (merged, and any pruned tree beside
them tabulated alone) and its margin is :math:`c_m + \\sum_G T_{mG}(l_G)`. The levers
are set one at a time, all partial profiles of a layer at once in numpy; a partial
profile's bound for model ``m`` is the sum over ``m``'s tables of the largest entry
consistent with the levers set so far, so it never falls below the margin of any
completion. The caller's ``keep`` rule sees every partial profile's bounds (profiles x
models) and its cost so far and drops the ones that no completion could make worth
keeping; the survivors of the last layer are complete profiles, which the caller
scores exactly.

Where :mod:`.costbound` adds one table's step at a time, here every table of every
model that a lever completes a step of is laid end to end in one flat array per
lever, so a layer costs one index product, one gather and one sum per model
(:class:`_Layer`), whatever the number of models. A pruned tree beside the tables (a
group too large to tabulate) is tabulated alone over its own levers when that is at
most :data:`~.costbound.TREE_CELLS` cells; a larger one (a bootstrap booster's tree
over 8 of 10 levers has millions) is bounded by its largest leaf that the levers set
so far still reach, which is its exact value once they are all set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

from sleeprx.learn.ensemble import PrunedTree
from sleeprx.optimize.costbound import TREE_CELLS, lever_order, ordered_tables
from sleeprx.optimize.factor_tables import merge_tables
from sleeprx.optimize.problem import PersonProblem
from sleeprx.settings import PrescribeSettings

__all__ = ["TOL", "BoundPlan", "TooLarge", "allowed", "bound_plan", "grow"]

TOL = 1e-9

#: Most partial profiles one layer may hold (a few tens of MB with 21 models' bounds).
MAX_STATES = 400_000

#: ``keep(bounds, cost)``: a mask of the partial profiles worth growing.
Keep = Callable[[np.ndarray, np.ndarray], np.ndarray]


class TooLarge(Exception):
    """The search would hold more than :data:`MAX_STATES` partial profiles."""


@dataclass(frozen=True)
class _Layer:
    """The bound steps one lever completes, over every model, as one flat array:
    partial profile ``s`` gains ``values[levels[s] @ strides + offsets]`` summed into
    its models by ``to_model`` (steps x models of 0/1)."""

    values: np.ndarray
    offsets: np.ndarray
    strides: np.ndarray  # factors x steps, float64 for BLAS (small integers: exact)
    to_model: np.ndarray


@dataclass(frozen=True)
class BoundPlan:
    """Every model's tables arranged for the search: the lever order, each model's
    bound before any lever is set, the layer of each lever, and the trees too large to
    tabulate with their models."""

    order: tuple[int, ...]
    top: np.ndarray  # models: the constant plus every table's and tree's largest entry
    layers: tuple[_Layer, ...]  # by lever index
    trees: tuple[tuple[int, PrunedTree], ...] = ()


def _tabulated(problem: PersonProblem):
    """The merged tables with each pruned tree of at most :data:`~.costbound.TREE_CELLS`
    cells tabulated alone over its levers; the larger trees; the constant."""
    constant, merged = merge_tables(problem.tables or ())
    n, large = len(problem.factors), []
    for tree in problem.trees or ():
        factors = tree.factors
        shape = [len(problem.factors[k].levels) for k in factors]
        if not factors:
            constant += float(tree.values_at(np.zeros((1, n), dtype=int))[0])
        elif int(np.prod(shape)) > TREE_CELLS:
            large.append(tree)
        else:
            choices = np.zeros((int(np.prod(shape)), n), dtype=int)
            choices[:, list(factors)] = np.indices(shape).reshape(len(shape), -1).T
            merged.append((factors, tree.values_at(choices).reshape(shape)))
    return constant, merged, large


def bound_plan(problems: Sequence[PersonProblem]) -> BoundPlan:
    """The plan of one person's problems under several models (the same factors, each
    with factor tables); a model's bound is of its margin, base margin included."""
    per_model = [_tabulated(problem) for problem in problems]
    # the main model's tables alone choose the order: the bootstraps' share its data
    order = lever_order(problems[0], per_model[0][1])
    tops, steps, trees = [], [], []  # steps: (model, lever ids, step array)
    for m, (constant, merged, large) in enumerate(per_model):
        tables = ordered_tables(merged, order)
        tops.append(constant + problems[m].base_margin + sum(t.top for t in tables))
        tops[-1] += sum(max(tree.leaf_values) for tree in large)
        steps += [(m, t.levers[: j + 1], s) for t in tables for j, s in enumerate(t.steps)]
        trees += [(m, tree) for tree in large]
    n, n_models = len(problems[0].factors), len(problems)
    layers = tuple(_layer([s for s in steps if s[1][-1] == k], n, n_models) for k in range(n))
    return BoundPlan(tuple(order), np.asarray(tops), layers, tuple(trees))


def _layer(steps, n: int, n_models: int) -> _Layer:
    values, offsets, at = [np.zeros(1)], [], 1
    strides = np.zeros((n, max(len(steps), 1)))
    to_model = np.zeros((max(len(steps), 1), n_models))
    for s, (m, levers, array) in enumerate(steps):
        values.append(array.ravel())
        offsets.append(at)
        at += array.size
        stride = 1
        for lever, size in zip(levers[::-1], array.shape[::-1], strict=True):  # C order
            strides[lever, s] = stride
            stride *= size
        to_model[s, m] = 1.0
    if not steps:  # a lever no table reads: one 0.0 step
        offsets.append(0)
    return _Layer(np.concatenate(values), np.asarray(offsets, dtype=np.intp), strides, to_model)


def grow(
    problem: PersonProblem,
    settings: PrescribeSettings,
    plan: BoundPlan,
    keep: Keep,
    limit: float = np.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The complete profiles that survive ``keep`` at every layer, with at most K
    changes, intensity within the budget and cost at most ``limit``, as (levels, cost,
    changes). The linear rows and the profile filters are the caller's to check.

    Raises :class:`TooLarge` past :data:`MAX_STATES` partial profiles.
    """
    budget = np.inf if settings.budget is None else settings.budget
    n = len(problem.factors)
    levels = np.zeros((1, n), dtype=np.int32)
    cost, intensity = np.zeros(1), np.zeros(1)
    changes = np.zeros(1, dtype=np.int32)
    bounds = plan.top[None, :].copy()
    reach = _Reach(plan.trees)
    for k in plan.order:
        factor = problem.factors[k]
        fits = (cost[:, None] + factor.cost[None, :] <= limit + TOL) & (
            intensity[:, None] + factor.intensity[None, :] <= budget + TOL
        )
        fits[:, 1:] &= (changes < settings.max_changes)[:, None]
        state, level = np.nonzero(fits)
        levels = levels[state]
        levels[:, k] = level
        layer = plan.layers[k]
        with _blas().limit(limits=1, user_api="blas"):
            index = (levels @ layer.strides).astype(np.intp) + layer.offsets
            bounds = bounds[state] + layer.values[index] @ layer.to_model
        reach.step(state, levels, k, bounds)
        cost = cost[state] + factor.cost[level]
        ok = keep(bounds, cost)
        levels, bounds, cost = levels[ok], bounds[ok], cost[ok]
        reach.select(ok)
        state, level = state[ok], level[ok]
        intensity = intensity[state] + factor.intensity[level]
        changes = changes[state] + (level > 0)
        if len(levels) > MAX_STATES:
            raise TooLarge
    return levels, cost, changes


class _Reach:
    """The leaves of each large tree that the levers set so far still reach (partial
    profiles x leaves), and the largest of their values: that tree's part of its
    model's bound."""

    def __init__(self, trees: Sequence[tuple[int, PrunedTree]]) -> None:
        self.trees = trees
        self.values = [np.asarray(tree.leaf_values) for _, tree in trees]
        self.reach = [np.ones((1, len(v)), dtype=bool) for v in self.values]
        self.best = [v.max(keepdims=True) for v in self.values]

    def step(self, state: np.ndarray, levels: np.ndarray, k: int, bounds: np.ndarray) -> None:
        """Follow partial profiles ``state`` to their new lever ``k``, tightening
        ``bounds`` (in place) by each tree with a split on it."""
        for i, (m, tree) in enumerate(self.trees):
            reach, best = self.reach[i][state], self.best[i][state]
            splits = [split for split in tree.splits if split.factor == k]
            for split in splits:
                left = split.goes_left[levels[:, k]][:, None]
                reach[:, list(split.left_leaves)] &= left
                reach[:, list(split.right_leaves)] &= ~left
            if splits:
                tighter = np.where(reach, self.values[i], -np.inf).max(axis=1)
                bounds[:, m] += tighter - best
                best = tighter
            self.reach[i], self.best[i] = reach, best

    def select(self, keep: np.ndarray) -> None:
        self.reach = [r[keep] for r in self.reach]
        self.best = [b[keep] for b in self.best]


def allowed(problem: PersonProblem, levels: np.ndarray) -> np.ndarray:
    """A mask of the complete profiles that meet every linear row and profile filter."""
    ok = np.ones(len(levels), dtype=bool)
    for row in problem.rows:
        value = row.values(problem.factors, levels)
        ok &= (value >= row.lower - TOL) & (value <= row.upper + TOL)
    for accepts in problem.filters:
        if ok.any():
            ok[ok] = accepts(problem, levels[ok])
    return ok


@cache
def _blas() -> ThreadpoolController:
    """The BLAS thread pools: the products here are small, and waking threads for them
    costs more than the product (as in :mod:`.table_scorer`)."""
    return ThreadpoolController()
