"""Brute-force enumeration of a person's profiles: the test oracle and a benchmark row.

Every combination of levels with at most K changes (and within the intensity budget)
is scored; the best one is optimal by exhaustion. The count grows as the product of
the factors' level counts, which is why the MIP serves in general.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sleeprx.optimize.problem import PersonProblem
from sleeprx.settings import PrescribeSettings

__all__ = ["BruteForceResult", "brute_force", "count_profiles", "enumerate_choices", "total"]


@dataclass(frozen=True)
class BruteForceResult:
    """The best profile found by enumeration; ``levels`` is None if none is feasible."""

    levels: tuple[int, ...] | None
    objective: float
    gain: float
    n_profiles: int


def count_profiles(sizes: tuple[int, ...], max_changes: int) -> int:
    """How many profiles change at most ``max_changes`` factors (``sizes`` = levels per
    factor, the current one included): the coefficients of prod (1 + (n_f - 1) t)."""
    counts = [1] + [0] * max_changes
    for n in sizes:
        for k in range(max_changes, 0, -1):
            counts[k] += counts[k - 1] * (n - 1)
    return sum(counts)


#: Largest ratio of profiles in the box of equal level counts to a person's own for
#: which :func:`_patterns` filters the box's (cached) patterns instead of building them.
BOX_RATIO = 32


@lru_cache(maxsize=512)
def _patterns(sizes: tuple[int, ...], max_changes: int) -> np.ndarray:
    """Level indices of every profile with at most ``max_changes`` changes, fewest changes
    first; cached, since people with the same level counts share them.

    Level counts vary from person to person (current values, safe ranges), so most
    people miss the cache. Their patterns are then the rows of the box's, the patterns
    of ``max(sizes)`` levels on every factor, with every index below its factor's
    count: building them costs a numpy call per set of changed factors (176 at ten
    factors and K = 3), filtering the cached box's one. Filtering keeps the order, so
    both give the same array.
    """
    n = len(sizes)
    box = max(sizes, default=1)
    if count_profiles((box,) * n, max_changes) > BOX_RATIO * count_profiles(sizes, max_changes):
        return _built(sizes, max_changes)
    full = _built((box,) * n, max_changes)
    keep = np.ones(len(full), dtype=bool)
    for k, size in enumerate(sizes):
        if size < box:  # only the factors with fewer levels than the box cut rows
            keep &= full[:, k] < size
    out = full[keep]
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def _built(sizes: tuple[int, ...], max_changes: int) -> np.ndarray:
    """:func:`_patterns`, built a set of changed factors at a time."""
    blocks = [np.zeros((1, len(sizes)), dtype=np.int32)]
    for k in range(1, min(max_changes, len(sizes)) + 1):
        for changed in itertools.combinations(range(len(sizes)), k):
            shape = tuple(sizes[f] - 1 for f in changed)
            block = np.zeros((int(np.prod(shape)), len(sizes)), dtype=np.int32)
            block[:, list(changed)] = np.indices(shape).reshape(k, -1).T + 1
            blocks.append(block)
    out = np.concatenate(blocks)
    out.setflags(write=False)
    return out


def enumerate_choices(problem: PersonProblem, settings: PrescribeSettings) -> np.ndarray:
    """Level indices (profiles x factors) of every profile the constraints and the
    problem's filters allow."""
    sizes = tuple(len(f.levels) for f in problem.factors)
    # a lever group's members count once toward K: widen the patterns, then count
    extra = sum(len(g.members) - 1 for g in problem.groups)
    choices = _patterns(sizes, settings.max_changes + extra)
    if problem.groups:
        choices = choices[problem.changes(choices) <= settings.max_changes]
    if settings.budget is not None:
        intensity = total(problem, choices, "intensity")
        choices = choices[intensity <= settings.budget + 1e-9]
    for row in problem.rows:
        value = row.values(problem.factors, choices)
        choices = choices[(value >= row.lower - 1e-9) & (value <= row.upper + 1e-9)]
    for accepts in problem.filters:  # after the cheap rows: filters re-score profiles
        choices = choices[accepts(problem, choices)]
    return choices


def brute_force(
    problem: PersonProblem,
    settings: PrescribeSettings,
    gain_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> BruteForceResult:
    """Best profile by enumeration under the program's own objective.

    ``gain_of`` maps level-index profiles to delta-logit; by default the surrogate.
    """
    choices = enumerate_choices(problem, settings)
    if gain_of is None:
        gain = problem.surrogate_of(choices)
    else:
        gain = np.asarray(gain_of(choices), dtype=float)
    cost = problem.cost_of(choices)
    if settings.goal is None:
        objective = gain - settings.lam * cost
        best = int(np.argmax(objective))
    else:
        need = problem.need(settings.goal_logit)
        ok = gain >= need
        if not ok.any():
            return BruteForceResult(None, float("nan"), float("nan"), len(choices))
        objective = np.where(ok, cost, np.inf)
        best = int(np.argmin(objective))
    return BruteForceResult(
        tuple(int(v) for v in choices[best]),
        float(objective[best]),
        float(gain[best]),
        len(choices),
    )


def total(problem: PersonProblem, choices: np.ndarray, field: str) -> np.ndarray:
    """The sum over factors of a per-level array, at each profile."""
    total = np.zeros(len(choices))
    for j, f in enumerate(problem.factors):
        total += getattr(f, field)[choices[:, j]]
    return total
