"""The surrogate program by dynamic programming over independent groups of levers.

In surrogate mode the gain and the cost are sums over levers, so the program couples
levers only through K, the intensity budget and the description's linear constraints.
Levers tied by a constraint form one *group* whose joint options are enumerated (and
filtered by the constraint); groups are then independent but for the two resources,
changes and intensity. Combining the groups one at a time and keeping only the
partial choices no other partial choice beats on every count,

.. math::

    (c, i, v) \\text{ is kept unless some } (c', i', v') \\text{ has }
    c' \\le c,\\ i' \\le i,\\ v' \\ge v,

gives every optimum of the program at once: the best value with at most K changes
and at most B intensity is the best kept state with :math:`c \\le K, i \\le B`. This is
exact (a dominated partial choice can never complete to something better than its
dominator does), so a whole sweep of K and B is answered by one pass. It serves
programs too large to enumerate; exact mode's gain is not separable and uses the MIP.

:data:`FRONTIER` is this module's route (see :mod:`sleeprx.optimize.routes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.enumeration import profiles
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.states import Found, SolverStatus
from sleeprx.settings import PrescribeSettings

__all__ = [
    "FRONTIER",
    "SWEEP_FRONTIER_ABOVE",
    "Frontier",
    "FrontierRoute",
    "FrontierSweep",
    "Group",
    "frontier",
    "groups_of",
]

_TOL = 1e-9

#: Above this many profiles a surrogate sweep uses the frontier: every point of a sweep
#: re-scans all the enumerated profiles, while one frontier per penalty weight answers
#: every point; beyond a few thousand profiles the frontier is faster (measured on the
#: 10-lever example).
SWEEP_FRONTIER_ABOVE = 2_000


@dataclass(frozen=True)
class Group:
    """Levers tied by constraints, with every joint option the constraints allow."""

    factors: tuple[int, ...]
    levels: np.ndarray  # options x factors: level indices
    changes: np.ndarray
    intensity: np.ndarray
    gain: np.ndarray
    cost: np.ndarray


def groups_of(problem: PersonProblem) -> list[Group]:
    """The connected groups of the problem's levers under its linear rows."""
    n = len(problem.factors)
    parent = list(range(n))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for row in problem.rows:
        ks = [k for k, _ in row.terms]
        for k in ks[1:]:
            parent[root(k)] = root(ks[0])
    members: dict[int, list[int]] = {}
    for k in range(n):
        members.setdefault(root(k), []).append(k)
    groups = []
    for factors in members.values():
        sizes = [len(problem.factors[k].levels) for k in factors]
        levels = np.indices(sizes).reshape(len(sizes), -1).T
        full = np.zeros((len(levels), n), dtype=int)
        full[:, factors] = levels
        keep = np.ones(len(levels), dtype=bool)
        for row in problem.rows:
            if {k for k, _ in row.terms} <= set(factors) and row.terms:
                value = row.values(problem.factors, full)
                keep &= (value >= row.lower - _TOL) & (value <= row.upper + _TOL)
        levels = levels[keep]

        def total(field: str, levels=levels, factors=factors) -> np.ndarray:
            out = np.zeros(len(levels))
            for j, k in enumerate(factors):
                out += getattr(problem.factors[k], field)[levels[:, j]]
            return out

        groups.append(
            Group(
                tuple(factors),
                levels,
                (levels > 0).sum(axis=1),
                total("intensity"),
                total("surrogate_gain"),
                total("cost"),
            )
        )
    return groups


@dataclass(frozen=True)
class Frontier:
    """The non-dominated complete choices: changes, intensity, value, and the level
    index of every lever (states x factors)."""

    changes: np.ndarray
    intensity: np.ndarray
    value: np.ndarray
    levels: np.ndarray

    def best(self, max_changes: int, budget: float | None) -> int | None:
        """The state of greatest value within the limits (None if none is)."""
        keep = self.changes <= max_changes
        if budget is not None:
            keep &= self.intensity <= budget + _TOL
        index = np.flatnonzero(keep)
        return int(index[np.argmax(self.value[index])]) if len(index) else None


def frontier(
    problem: PersonProblem,
    lam: float,
    max_changes: int,
    budget: float | None,
    groups: list[Group] | None = None,
    *,
    by_intensity: bool | None = None,
) -> Frontier:
    """Every optimum of ``gain - lam * cost`` with at most ``max_changes`` changes and
    (if given) at most ``budget`` intensity, as one frontier of non-dominated states.

    ``by_intensity`` keeps intensity as a count to compare states on (default: when a
    budget is given), so that the frontier answers every smaller budget too.
    """
    by_intensity = budget is not None if by_intensity is None else by_intensity
    groups = groups if groups is not None else groups_of(problem)
    if not by_intensity and budget is None:
        return _by_changes(problem, groups, lam, max_changes)
    n = len(problem.factors)
    changes = np.zeros(1, dtype=int)
    intensity = np.zeros(1)
    value = np.zeros(1)
    levels = np.zeros((1, n), dtype=int)
    for group in groups:
        option_value = group.gain - lam * group.cost
        c = changes[:, None] + group.changes[None, :]
        i = intensity[:, None] + group.intensity[None, :]
        keep = c <= max_changes
        if budget is not None:
            keep &= i <= budget + _TOL
        state, option = np.nonzero(keep)
        changes, intensity = c[state, option], i[state, option]
        value = value[state] + option_value[option]
        levels = levels[state]
        levels[:, list(group.factors)] = group.levels[option]
        kept = _non_dominated(changes, intensity if by_intensity else None, value)
        changes, intensity, value, levels = (
            changes[kept],
            intensity[kept],
            value[kept],
            levels[kept],
        )
    return Frontier(changes, intensity, value, levels)


def _non_dominated(changes: np.ndarray, intensity: np.ndarray | None, value: np.ndarray):
    """Indices of the states no other state beats with no more changes, no more
    intensity (when counted) and at least the value; of equal states, the first."""
    if intensity is None:
        intensity = np.zeros(len(value))
    order = np.lexsort((np.arange(len(value)), -value, intensity, changes))
    kept: list[int] = []
    front_i = np.zeros(0)  # intensities of kept states with fewer changes, ascending
    front_v = np.zeros(0)  # best value among those at or below each intensity
    start = 0
    c_sorted = changes[order]
    while start < len(order):
        stop = int(np.searchsorted(c_sorted, c_sorted[start], side="right"))
        block = order[start:stop]
        at = np.searchsorted(front_i, intensity[block], side="right") - 1
        beaten = np.zeros(len(block), dtype=bool)
        if len(front_v):
            beaten = (at >= 0) & (front_v[np.maximum(at, 0)] >= value[block] - _TOL)
        candidates = block[~beaten]
        # within the block (sorted by intensity, then value down): beat the running best
        values = value[candidates]
        before = np.concatenate([[-np.inf], np.maximum.accumulate(values)[:-1]])
        survivors = candidates[values > before + _TOL]
        kept += survivors.tolist()
        if len(survivors):
            merged_i = np.concatenate([front_i, intensity[survivors]])
            merged_v = np.concatenate([front_v, value[survivors]])
            sort = np.argsort(merged_i, kind="stable")
            front_i, front_v = merged_i[sort], np.maximum.accumulate(merged_v[sort])
        start = stop
    return np.asarray(kept, dtype=int)


def _by_changes(
    problem: PersonProblem, groups: list[Group], lam: float, max_changes: int
) -> Frontier:
    """The frontier when only changes are counted: the best value at each number of
    changes, combined group by group (a max-plus convolution of vectors of at most K + 1
    numbers, in plain Python: numpy's per-call cost dominates at that size), then traced
    back to the levels."""
    value = [0.0]  # best value with exactly h changes so far
    back: list[tuple[list[int], list[int]]] = []  # per group: previous h, option
    for group in groups:
        option_value = group.gain - lam * group.cost
        # the group's best option at each exact number of its own changes (first on ties)
        order = np.lexsort((np.arange(len(option_value)), -option_value, group.changes))
        best_at: dict[int, int] = {}
        for o in order.tolist():
            best_at.setdefault(int(group.changes[o]), o)
        size = min(len(value) + max(best_at), max_changes + 1)
        new_value = [-np.inf] * size
        prev, chosen = [-1] * size, [-1] * size
        for h, v in enumerate(value):  # h-major, g ascending: the first best is kept
            if v == -np.inf:
                continue
            for g, o in sorted(best_at.items()):
                t = h + g
                if t < size and v + option_value[o] > new_value[t] + _TOL:
                    new_value[t], prev[t], chosen[t] = v + float(option_value[o]), h, o
        value = new_value
        back.append((prev, chosen))
    ok = [h for h, v in enumerate(value) if v != -np.inf]
    levels = np.zeros((len(ok), len(problem.factors)), dtype=int)
    for row, h in enumerate(ok):
        for group, (prev, chosen) in zip(reversed(groups), reversed(back), strict=True):
            levels[row, list(group.factors)] = group.levels[chosen[h]]
            h = prev[h]
    return Frontier(np.asarray(ok, dtype=int), np.zeros(len(ok)), np.asarray(value)[ok], levels)


def _found(problem: PersonProblem, front: Frontier, settings: PrescribeSettings) -> Found:
    state = front.best(settings.max_changes, settings.budget)
    levels = tuple(int(v) for v in front.levels[state])
    gain = sum(float(f.surrogate_gain[i]) for f, i in zip(problem.factors, levels, strict=True))
    return Found(SolverStatus.DYNAMIC_PROGRAMMING, levels, gain, 0.0)


class FrontierRoute:
    """The penalised surrogate program by dynamic programming over groups of levers."""

    name = "dynamic_programming"

    def applies(
        self, problem: PersonProblem, settings: PrescribeSettings, *, sweep: bool = False
    ) -> bool:
        """Whether, under ``solver = "auto"``, the program is separable (surrogate gain
        and penalty, no goal, no profile filter) and allows more profiles than
        enumeration takes: more than ``enumeration_limit``, and in a sweep more than
        :data:`SWEEP_FRONTIER_ABOVE` too."""
        if settings.solver != "auto" or settings.mode != "surrogate" or settings.goal is not None:
            return False
        if problem.filters or problem.coupled:  # on whole profiles: not separable
            return False
        limit = settings.enumeration_limit
        if sweep:
            limit = min(limit, SWEEP_FRONTIER_ABOVE)
        return profiles(problem, settings) > limit

    def best(self, problem: PersonProblem, settings: PrescribeSettings) -> Found:
        front = frontier(problem, settings.lam, settings.max_changes, settings.budget)
        return _found(problem, front, settings)

    def prepare(self, problem: PersonProblem, widest: PrescribeSettings) -> FrontierSweep:
        return FrontierSweep(problem, widest)


class FrontierSweep:
    """One frontier per penalty weight, kept to answer every K and budget of a sweep."""

    def __init__(self, problem: PersonProblem, widest: PrescribeSettings) -> None:
        self.problem = problem
        self._widest = widest
        self._groups = groups_of(problem)
        self._fronts: dict[float, Frontier] = {}

    def best(self, settings: PrescribeSettings) -> Found:
        if settings.lam not in self._fronts:
            self._fronts[settings.lam] = frontier(
                self.problem,
                settings.lam,
                self._widest.max_changes,
                None,  # points without a budget are answered from the same states
                self._groups,
                by_intensity=self._widest.budget is not None,
            )
        return _found(self.problem, self._fronts[settings.lam], settings)


#: The dynamic-programming route, as the registry holds it.
FRONTIER = FrontierRoute()
