"""The recourse goal in exact mode by a cost-bounded search over the factor tables.

The program: least cost such that the booster's margin rises by at least ``need``,

.. math::

    \\min_l \\sum_f c_f(l_f) \\quad \\text{s.t.} \\quad
    b + \\sum_G T_G(l_G) - m_0 \\ge \\text{need},\\ \\#\\{f : l_f > 0\\} \\le K,\\
    \\sum_f i_f(l_f) \\le B,\\ \\text{rows},

with the tables :math:`T_G` of :mod:`sleeprx.optimize.factor_tables`. Every profile of
cost at most ``C`` is built lever by lever, all partial profiles of one layer at once
in numpy, and a partial profile is dropped as soon as its cost passes ``C``, its
changes K or its intensity the budget, or its *bound* falls below ``need``: the bound
is the sum, over the tables, of the largest entry consistent with the levers set so
far (the levers of a table are set in one order, so each table's partial maxima are
tabulated once). A bound is never below the margin of any completion, so nothing
dropped could have reached the goal. The survivors of the last layer are complete
profiles; the cheapest that meets the goal and the rows is the optimum, since every
cheaper profile had cost at most ``C`` and was built or validly dropped. If none
survives, ``C`` doubles, up to the dearest profile K allows; then none reaches the
goal. Proven optimal, by exhaustion.

It pays where enumeration stops: at large K the optimum of a goal is a small change,
so few profiles cost at most ``C`` and the bound drops most of them early. On the
10-lever example at K = 10 (goal p >= 0.5, cost sum |change| / step; 56 people, up
to 3 million profiles each) the search took a median 22-27 ms a person against the
MIP's 900 ms, with the same optimal cost for all 56 (busy machine; BENCHMARKS.md has
the run beside OCEAN). A person whose search would hold more than
:data:`MAX_STATES` partial profiles is handed to the MIP, which is exact too.

The levers are set greedily, the one that completes the most tables first (ties: the
widest tables), so each table's bound becomes exact early; other orders were not
compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.enumeration import profiles, table_gain
from sleeprx.optimize.factor_tables import merge_tables
from sleeprx.optimize.mip import MIP
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.states import Found, SolverStatus
from sleeprx.settings import PrescribeSettings

__all__ = [
    "COST_BOUND",
    "MAX_STATES",
    "TREE_CELLS",
    "CostBound",
    "TooLarge",
    "gain_tables",
    "lever_order",
    "ordered_tables",
    "search",
    "search_n",
]

_TOL = 1e-9

#: Most partial profiles one layer of the search may hold (a few tens of MB) before the
#: person is handed to the MIP.
MAX_STATES = 500_000


#: Most cells a pruned tree left beside the tables may have to be tabulated alone for
#: the search; a person with a larger one goes to the MIP.
TREE_CELLS = 100_000


@dataclass(frozen=True)
class _Table:
    """One merged table, its axes in the search's lever order, and the increase of its
    bound as each of its levers is set: ``steps[j]`` over its first ``j + 1`` axes."""

    levers: tuple[int, ...]  # lever indices, in the search's order
    steps: tuple[np.ndarray, ...]
    top: float  # the largest entry: the bound before any of its levers is set


def lever_order(problem: PersonProblem, tables) -> list[int]:
    """The search's lever order: greedily the lever that completes the most tables,
    then the one whose tables span the widest range (their bound tightens first)."""
    n = len(problem.factors)
    spread = np.zeros(n)
    for factors, values in tables:
        for k in factors:
            spread[k] += float(values.max() - values.min())
    placed: list[int] = []
    while len(placed) < n:
        done = set(placed)

        def key(k: int, done=done) -> tuple[int, float]:
            closes = sum(1 for factors, _ in tables if k in factors and set(factors) - {k} <= done)
            return closes, spread[k]

        placed.append(max((k for k in range(n) if k not in done), key=key))
    return placed


def ordered_tables(merged, order: list[int]) -> list[_Table]:
    """The tables with their partial maxima, in the search's lever order."""
    rank = {k: r for r, k in enumerate(order)}
    out = []
    for factors, values in merged:
        axes = sorted(range(len(factors)), key=lambda a: rank[factors[a]])
        ordered = values.transpose(axes)
        maxima = [ordered]  # maxima[j]: the largest entry given the first len - j axes
        for _ in factors:
            maxima.append(maxima[-1].max(axis=-1))
        maxima.reverse()  # maxima[j] over the first j axes
        steps = tuple(maxima[j + 1] - maxima[j][..., None] for j in range(len(factors)))
        out.append(_Table(tuple(factors[a] for a in axes), steps, float(maxima[0])))
    return out


def _cells(problem: PersonProblem, factors: tuple[int, ...]) -> int:
    return int(np.prod([len(problem.factors[k].levels) for k in factors]))


def gain_tables(
    problem: PersonProblem,
) -> tuple[float, list[tuple[tuple[int, ...], np.ndarray]]]:
    """The merged tables, and each pruned tree left beside them (a group too large to
    tabulate as one) tabulated alone over its own levers: one tree has far fewer
    levers than its group has cells."""
    constant, merged = merge_tables(problem.tables or ())
    n = len(problem.factors)
    for tree in problem.trees or ():
        factors = tree.factors
        if not factors:
            constant += float(tree.values_at(np.zeros((1, n), dtype=int))[0])
            continue
        shape = [len(problem.factors[k].levels) for k in factors]
        choices = np.zeros((int(np.prod(shape)), n), dtype=int)
        choices[:, list(factors)] = np.indices(shape).reshape(len(shape), -1).T
        merged.append((factors, tree.values_at(choices).reshape(shape)))
    return constant, merged


class TooLarge(Exception):
    """The search would hold more than :data:`MAX_STATES` partial profiles."""


def search(problem: PersonProblem, settings: PrescribeSettings) -> tuple[int, ...] | None:
    """The least-cost profile reaching the goal (level indices), or None if none does.

    Raises :class:`TooLarge` past :data:`MAX_STATES` partial profiles.
    """
    found = search_n(problem, settings, 1, plans_only=False)
    return found[0] if found else None


def search_n(
    problem: PersonProblem,
    settings: PrescribeSettings,
    count: int,
    *,
    plans_only: bool = True,
    skip: tuple[int, ...] | None = None,
) -> list[tuple[int, ...]]:
    """The ``count`` least-cost profiles reaching the goal, cheapest (then fewest
    changes) first; ``plans_only`` leaves out the current profile, ``skip`` one more.

    The same search as :func:`search`: once at least ``count`` profiles of cost at most
    ``C`` reach the goal, the cheapest ``count`` of them are the cheapest of all, since
    every profile of cost at most ``C`` was built or validly dropped. Raises
    :class:`TooLarge` past :data:`MAX_STATES` partial profiles.
    """
    need = problem.need(settings.goal_logit)
    constant, merged = gain_tables(problem)
    constant += problem.base_margin - problem.logit_before  # the gain's offset
    order = lever_order(problem, merged)
    tables = ordered_tables(merged, order)
    if constant + sum(t.top for t in tables) < need - _TOL:
        return []  # not even the best entry of every table reaches the goal
    costs = [f.cost for f in problem.factors]
    positive = [c[c > 0] for c in costs if (c > 0).any()]
    dearest = sum(sorted((float(c.max()) for c in costs), reverse=True)[: settings.max_changes])
    limit = min((float(c.min()) for c in positive), default=0.0)
    while True:
        levels, cost, changes = _within(problem, settings, order, constant, tables, limit)
        keep = changes > 0 if plans_only else np.ones(len(levels), dtype=bool)
        if skip is not None:
            keep &= ~(levels == np.asarray(skip)).all(axis=1)
        found = _cheapest(problem, settings, levels[keep], cost[keep], changes[keep], count)
        if len(found) >= count or limit >= dearest:
            return found
        limit = min(2 * limit, dearest) if limit > 0 else dearest


def _within(
    problem: PersonProblem,
    settings: PrescribeSettings,
    order: list[int],
    constant: float,
    tables: list[_Table],
    limit: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The complete profiles of cost at most ``limit`` whose bound reaches the goal:
    their levels, costs and numbers of changes (the goal itself is checked later)."""
    need = problem.need(settings.goal_logit)
    budget = np.inf if settings.budget is None else settings.budget
    n = len(problem.factors)
    levels = np.zeros((1, n), dtype=np.int32)
    cost, intensity = np.zeros(1), np.zeros(1)
    changes = np.zeros(1, dtype=np.int32)
    bound = np.full(1, constant + sum(t.top for t in tables))
    for k in order:
        factor = problem.factors[k]
        fits = (cost[:, None] + factor.cost[None, :] <= limit + _TOL) & (
            intensity[:, None] + factor.intensity[None, :] <= budget + _TOL
        )
        fits[:, 1:] &= (changes < settings.max_changes)[:, None]
        state, level = np.nonzero(fits)
        levels = levels[state]
        levels[:, k] = level
        bound = bound[state]
        for table in tables:
            if k in table.levers:
                j = table.levers.index(k)
                bound += table.steps[j][tuple(levels[:, m] for m in table.levers[: j + 1])]
        keep = bound >= need - _TOL
        levels, bound = levels[keep], bound[keep]
        state, level = state[keep], level[keep]
        cost = cost[state] + factor.cost[level]
        intensity = intensity[state] + factor.intensity[level]
        changes = changes[state] + (level > 0)
        if len(levels) > MAX_STATES:
            raise TooLarge
    return levels, cost, changes


def _cheapest(
    problem: PersonProblem,
    settings: PrescribeSettings,
    levels: np.ndarray,
    cost: np.ndarray,
    changes: np.ndarray,
    count: int = 1,
) -> list[tuple[int, ...]]:
    """Of complete profiles, the ``count`` cheapest (then fewest changes) that meet the
    goal by the exact gain (as enumeration scores it), every row and every profile
    filter."""
    if len(levels) == 0:
        return []
    ok = table_gain(problem)(levels) >= problem.need(settings.goal_logit)
    for row in problem.rows:
        value = row.values(problem.factors, levels)
        ok &= (value >= row.lower - _TOL) & (value <= row.upper + _TOL)
    for accepts in problem.filters:  # half adherence, the trust region: on whole profiles
        if ok.any():
            ok[ok] = accepts(problem, levels[ok])
    index = np.flatnonzero(ok)
    best = index[np.lexsort((changes[index], cost[index]))[:count]]
    return [tuple(int(v) for v in levels[j]) for j in best]


class CostBound:
    """The recourse goal in exact mode by the cost-bounded search (module docstring)."""

    name = "cost_bound"

    def applies(
        self, problem: PersonProblem, settings: PrescribeSettings, *, sweep: bool = False
    ) -> bool:
        """Whether, under ``solver = "auto"``, the program is exact mode with a goal, the
        gain is all in factor tables (no pruned tree beside them) and it allows more
        profiles than enumeration takes (``enumeration_limit``)."""
        if settings.solver != "auto" or settings.mode != "exact" or settings.goal is None:
            return False
        if problem.coupled:  # its bound adds lever by lever: enumeration takes these
            return False
        if problem.tables is None or any(
            _cells(problem, tree.factors) > TREE_CELLS for tree in problem.trees or ()
        ):
            return False
        return profiles(problem, settings) > settings.enumeration_limit

    def best(self, problem: PersonProblem, settings: PrescribeSettings) -> Found:
        try:
            levels = search(problem, settings)
        except TooLarge:
            return MIP.best(problem, settings)
        if levels is None:
            return Found.nothing(SolverStatus.INFEASIBLE)
        gain = float(table_gain(problem)(np.asarray([levels]))[0])
        return Found(SolverStatus.OPTIMAL, levels, gain, 0.0)

    def prepare(self, problem: PersonProblem, widest: PrescribeSettings) -> _Prepared:
        return _Prepared(self, problem)


@dataclass(frozen=True)
class _Prepared:
    """Nothing to build once: each point is a fresh search (a sweep takes no goal, so
    the registry never picks this route for one)."""

    route: CostBound
    problem: PersonProblem

    def best(self, settings: PrescribeSettings) -> Found:
        return self.route.best(self.problem, settings)


#: The cost-bounded route, as the registry holds it.
COST_BOUND = CostBound()
