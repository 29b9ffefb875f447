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
from functools import cached_property

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
_FEW = 32  # up to this many states a frontier is searched in plain Python

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
        if budget is None and len(self.value) <= _FEW:
            return self._best_of_few(max_changes)
        keep = self.changes <= max_changes
        if budget is not None:
            keep &= self.intensity <= budget + _TOL
        index = np.flatnonzero(keep)
        return int(index[np.argmax(self.value[index])]) if len(index) else None

    @cached_property
    def _lists(self) -> tuple[list[int], list[float]]:
        return self.changes.tolist(), self.value.tolist()

    def _best_of_few(self, max_changes: int) -> int | None:
        """:meth:`best` without a budget in plain Python (a sweep asks a changes-only
        frontier of K + 1 states once a point): the first state of greatest value, as
        numpy's argmax picks it."""
        changes, values = self._lists
        best = None
        for state, (c, v) in enumerate(zip(changes, values, strict=True)):
            if c <= max_changes and (best is None or v > values[best]):
                best = state
        return best


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


@dataclass(frozen=True)
class _Segments:
    """Every group's options in one array, each group's sorted by its number of changes
    (stably, so ties keep the option order): the part of :func:`_by_changes` that does
    not depend on the penalty weight, built once for a sweep's every ``lam``."""

    gain: np.ndarray
    cost: np.ndarray
    option: np.ndarray  # each entry's option index within its group
    starts: np.ndarray  # first entry of each (group, number of changes) segment
    segment: np.ndarray  # each entry's segment
    spans: list[tuple[int, int, list[int]]]  # per group: its segments, their changes
    factors: list[tuple[int, ...]]  # per group: its levers
    levels: list[list[list[int]]]  # per group: each option's level of each lever


def _segments(groups: list[Group]) -> _Segments:
    gain, cost, option, starts, spans = [], [], [], [], []
    at = n_segments = 0
    for group in groups:
        order = np.argsort(group.changes, kind="stable")
        counts = group.changes[order]
        first = np.flatnonzero(np.diff(counts, prepend=-1)) if len(counts) else order
        starts.append(at + first)
        spans.append((n_segments, n_segments + len(first), counts[first].tolist()))
        gain.append(group.gain[order])
        cost.append(group.cost[order])
        option.append(order)
        at, n_segments = at + len(order), n_segments + len(first)
    starts_all = np.concatenate([np.zeros(0, dtype=int), *starts]).astype(int)
    lengths = np.diff(np.append(starts_all, at))
    return _Segments(
        np.concatenate([np.zeros(0), *gain]),
        np.concatenate([np.zeros(0), *cost]),
        np.concatenate([np.zeros(0, dtype=int), *option]).astype(int),
        starts_all,
        np.repeat(np.arange(len(starts_all)), lengths),
        spans,
        [group.factors for group in groups],
        [group.levels.tolist() for group in groups],
    )


def _best_options(segments: _Segments, lam: float) -> tuple[list[float], list[int]]:
    """Each segment's greatest ``gain - lam * cost`` and the first option reaching it
    (the order the loop over a sort by changes, value down and index used to keep)."""
    if not len(segments.starts):  # no levers
        return [], []
    value = segments.gain - lam * segments.cost
    best = np.maximum.reduceat(value, segments.starts)
    entries = np.arange(len(value))
    at_best = np.where(value == best[segments.segment], entries, len(value))
    first = np.minimum.reduceat(at_best, segments.starts)
    return best.tolist(), segments.option[first].tolist()


def _by_changes(
    problem: PersonProblem,
    groups: list[Group],
    lam: float,
    max_changes: int,
    segments: _Segments | None = None,
) -> Frontier:
    """The frontier when only changes are counted: the best value at each number of
    changes, combined group by group (a max-plus convolution of vectors of at most K + 1
    numbers, in plain Python: numpy's per-call cost dominates at that size), then traced
    back to the levels. Each group's best option at each of its numbers of changes is
    found for all groups at once, by segment (``segments``: :func:`_segments`)."""
    segments = segments if segments is not None else _segments(groups)
    best, option = _best_options(segments, lam)
    value = [0.0]  # best value with exactly h changes so far
    back: list[tuple[list[int], list[int]]] = []  # per group: previous h, option
    for lo, hi, counts in segments.spans:
        size = min(len(value) + max(counts), max_changes + 1)
        new_value = [-np.inf] * size
        prev, chosen = [-1] * size, [-1] * size
        for h, v in enumerate(value):  # h-major, g ascending: the first best is kept
            if v == -np.inf:
                continue
            for g, b, o in zip(counts, best[lo:hi], option[lo:hi], strict=True):
                t = h + g
                if t < size and v + b > new_value[t] + _TOL:
                    new_value[t], prev[t], chosen[t] = v + b, h, o
        value = new_value
        back.append((prev, chosen))
    rows = []
    ok = [h for h, v in enumerate(value) if v != -np.inf]
    for h in ok:  # in Python lists: a handful of rows, where numpy's indexing is slower
        row = [0] * len(problem.factors)
        for factors, levels, (prev, chosen) in zip(
            reversed(segments.factors), reversed(segments.levels), reversed(back), strict=True
        ):
            for k, level in zip(factors, levels[chosen[h]], strict=True):
                row[k] = level
            h = prev[h]
        rows.append(row)
    levels = np.asarray(rows, dtype=int).reshape(len(ok), len(problem.factors))
    return Frontier(np.asarray(ok, dtype=int), np.zeros(len(ok)), np.asarray(value)[ok], levels)


def _found(
    problem: PersonProblem,
    front: Frontier,
    settings: PrescribeSettings,
    gains: list[list[float]] | None = None,
) -> Found:
    """The best state within the limits; ``gains`` (each lever's surrogate gains as a
    list) spares a sweep numpy's scalar indexing, the same sum in the same order."""
    state = front.best(settings.max_changes, settings.budget)
    if gains is None:
        levels = tuple(int(v) for v in front.levels[state])
        gain = sum(float(f.surrogate_gain[i]) for f, i in zip(problem.factors, levels, strict=True))
    else:
        levels = tuple(front.levels[state].tolist())
        gain = sum(g[i] for g, i in zip(gains, levels, strict=True))
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
        self._segments: _Segments | None = None
        self._gains = [f.surrogate_gain.tolist() for f in problem.factors]

    def best(self, settings: PrescribeSettings) -> Found:
        if settings.lam not in self._fronts:
            self._fronts[settings.lam] = self._frontier(settings.lam)
        return _found(self.problem, self._fronts[settings.lam], settings, self._gains)

    def _frontier(self, lam: float) -> Frontier:
        max_changes = self._widest.max_changes
        if self._widest.budget is None:  # changes only: the lam-free part built once
            if self._segments is None:
                self._segments = _segments(self._groups)
            return _by_changes(self.problem, self._groups, lam, max_changes, self._segments)
        # points without a budget are answered from the same states
        return frontier(self.problem, lam, max_changes, None, self._groups, by_intensity=True)


#: The dynamic-programming route, as the registry holds it.
FRONTIER = FrontierRoute()
