"""Robust exact prescriptions for programs too large to enumerate.

The programs of :mod:`sleeprx.optimize.robust` (same goal and penalised forms, same
tie rules up to the order of equal optima), solved by the layered search of
:mod:`.bound_search` with one bound per model, main booster and bootstraps:

- **under a goal**, every profile of cost at most ``C`` is grown, and a partial
  profile is dropped when the main model's bound is below its need, or (with
  :data:`BOUNDED` models bounded) fewer bootstrap bounds reach theirs than could still
  make :math:`\\lceil Q B \\rceil`: no completion could then be held. The cheapest
  survivor held by the exact margins (every model's own tables) and meeting the rows
  and filters is the optimum; if none, ``C`` doubles, up to the dearest profile K
  allows. Proven optimal by exhaustion, as in :mod:`.costbound`.
- **without a goal**, the robust statistic (mean, or the
  :math:`\\lceil Q (B + 1) \\rceil`-th largest gain) is monotone in every model's gain,
  so the statistic of the bounds less the penalty of the cost so far bounds every
  completion's objective. A partial profile is dropped when that is below the best
  objective known (first the best profile with at most two changes, enumerated), or
  when fewer than :math:`\\lceil Q (B + 1) \\rceil` bounds can still gain; the status
  quo is always a candidate. Branch and bound, proven optimal.

A person whose search outgrows :data:`.bound_search.MAX_STATES` partial profiles gets
a :class:`~sleeprx.utils.errors.SolverError` naming the limits to lower: there is no
robust MIP to hand them to.
"""

from __future__ import annotations

import math

import numpy as np

from sleeprx.optimize.bound_search import TOL, TooLarge, allowed, bound_plan, grow
from sleeprx.optimize.bruteforce import enumerate_choices, total
from sleeprx.optimize.enumeration import profiles
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.robust import (
    FIRST_BLOCK,
    REAL_GAIN,
    RobustFound,
    RobustProblem,
    least_count,
    penalised_best,
    robust_best,
    robust_statistic,
)
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import SolverError

__all__ = ["robust_optimum", "robust_search"]

#: Models (the main one first) whose bounds prune the goal's search; the others are
#: asked only about its survivors, cheapest first. On the 10-lever example at K = 10
#: (B = 20, goal p >= 0.5, Q = 0.9; 30 people, load average 11-12) bounding the main
#: model alone took a median 52-81 ms a person against 159-231 ms bounding all 21:
#: building 21 models' bounds costs more than the pruning they add. None: all.
BOUNDED: int | None = 1

#: Profiles with at most this many changes are enumerated for the first incumbent of
#: the penalised search (a few thousand on 10 levers).
INCUMBENT_CHANGES = 2


def robust_optimum(problem: RobustProblem, settings: PrescribeSettings) -> RobustFound:
    """The robust optimum by the route the rule picks: enumeration
    (:func:`~sleeprx.optimize.robust.robust_best`) for a program of at most
    ``enumeration_limit`` profiles, where scoring every profile under all B + 1 models
    at once is cheapest (K = 2 and 3 do not move); the bound search above, where
    enumeration would score millions (the 10-lever example at K = 10: 2 million)."""
    if profiles(problem.main, settings) <= settings.enumeration_limit:
        return robust_best(problem, settings)
    problem = problem.compiled()  # a screened problem's refits have no tables yet
    if not all(m.tables is not None for m in _models(problem)):
        return robust_best(problem, settings)  # refuses a program too large for it
    return robust_search(problem, settings)


def robust_search(problem: RobustProblem, settings: PrescribeSettings) -> RobustFound:
    """The robust optimum of one person's program by the bound search (module
    docstring); its status is ``optimal`` or ``infeasible``."""
    problem = problem.compiled()
    main = problem.main
    nothing = RobustFound("infeasible", None, math.nan, math.nan, 0, math.nan)
    if settings.goal is not None and main.need(settings.goal_logit) == np.inf:
        return nothing
    try:
        if settings.goal is None:
            return _penalised(problem, settings)
        return _goal(problem, settings) or nothing
    except TooLarge:
        raise SolverError(
            f"person {main.person_id}: the robust search outgrew its memory limit at "
            f"max_changes {settings.max_changes}; lower max_changes or set a budget"
        ) from None


def _models(problem: RobustProblem):
    return (problem.main, *problem.bootstraps)


def _goal(problem: RobustProblem, settings: PrescribeSettings) -> RobustFound | None:
    main, models = problem.main, _models(problem)
    # a model's margin must reach its threshold: the rise it needs plus where it is now
    need = np.array([m.need(settings.goal_logit) + m.logit_before for m in models])
    # as in robust enumeration: the answer never lowers the main model's probability
    need[0] = max(need[0], main.logit_before - REAL_GAIN)
    least = least_count(settings.robust, len(models) - 1)
    if not _reachable(models, need, least):
        return None  # not even every table's best entry is held
    bounded = len(models) if BOUNDED is None else min(BOUNDED, len(models))
    plan = bound_plan(models[:bounded])

    def keep(bounds: np.ndarray, cost: np.ndarray) -> np.ndarray:
        reach = bounds >= need[:bounded] - TOL
        return reach[:, 0] & (reach[:, 1:].sum(axis=1) >= least - (len(models) - bounded))

    costs = [f.cost for f in main.factors]
    dearest = sum(sorted((float(c.max()) for c in costs), reverse=True)[: settings.max_changes])
    positive = [float(c[c > 0].min()) for c in costs if (c > 0).any()]
    limit = min(positive, default=0.0)
    above = -np.inf
    while True:
        grown = grow(main, settings, plan, keep, limit)
        found = _cheapest_held(problem, need, least, grown, above)
        if found is not None or limit >= dearest:
            return found
        above, limit = limit, (min(2 * limit, dearest) if limit > 0 else dearest)


def _reachable(models, need: np.ndarray, least: int) -> bool:
    """Whether the sum of each model's largest table entries reaches its threshold in
    the main model and ``least`` bootstraps (a loose bound: no table merged)."""
    top = np.array([m.base_margin + sum(float(t.values.max()) for t in m.tables) for m in models])
    top += [sum(max(tree.leaf_values) for tree in m.trees or ()) for m in models]
    reach = top >= need - TOL
    return bool(reach[0] and reach[1:].sum() >= least)


def _cheapest_held(
    problem: RobustProblem,
    need: np.ndarray,
    least: int,
    grown: tuple[np.ndarray, np.ndarray, np.ndarray],
    above: float,
) -> RobustFound | None:
    """Of complete profiles (levels, cost, changes) dearer than ``above`` (the cheaper
    ones were asked before), the cheapest (then fewest changes) that the main model and
    enough bootstraps hold by their exact margins and that meets the rows and filters.

    The main model and the rows first; then the bootstraps score the rest in order of
    cost a block at a time, as :mod:`.robust` does, up to the first block that holds.
    """
    levels, cost, changes = grown
    scorer, main = problem.table_scorer(), problem.main
    dearer = cost > above + TOL
    levels, cost, changes = levels[dearer], cost[dearer], changes[dearer]
    ok = allowed(main, levels)
    ok[ok] = scorer.margins(levels[ok], 0, 1)[:, 0] >= need[0]
    index = np.flatnonzero(ok)
    index = index[np.lexsort((changes[index], cost[index]))]
    at, size = 0, FIRST_BLOCK
    while at < len(index):
        rows = index[at : at + size]
        support = (scorer.margins(levels[rows], 1) >= need[1:]).sum(axis=1)
        held = np.flatnonzero(support >= least)
        if len(held):
            best = rows[held[0]]
            gain = float(scorer.margins(levels[best : best + 1], 0, 1)[0, 0] - main.logit_before)
            chosen = tuple(int(v) for v in levels[best])
            return RobustFound("optimal", chosen, gain, 0.0, int(support[held[0]]), math.nan)
        at, size = at + size, size * 4
    return None


def _penalised(problem: RobustProblem, settings: PrescribeSettings) -> RobustFound:
    main, models = problem.main, _models(problem)
    scorer = problem.table_scorer()
    before = np.array([m.logit_before for m in models])
    need = least_count(settings.robust, len(models))

    def best_of(levels: np.ndarray) -> tuple[RobustFound, float]:
        cost = total(main, levels, "cost")
        found = penalised_best(
            levels, scorer.margins(levels) - before, cost, settings.robust, settings
        )
        return found, found.statistic - settings.lam * _cost(main, found.levels)

    few = settings.model_copy(update={"max_changes": min(INCUMBENT_CHANGES, settings.max_changes)})
    first, incumbent = best_of(enumerate_choices(main, few))

    def keep(bounds: np.ndarray, cost: np.ndarray) -> np.ndarray:
        gains = bounds - before
        best = robust_statistic(gains, need, settings.robust_statistic) - settings.lam * cost
        gaining = (gains > REAL_GAIN - TOL).sum(axis=1) >= need
        return gaining & (best >= incumbent - TOL)

    levels, _, _ = grow(main, settings, bound_plan(models), keep)
    levels = levels[allowed(main, levels)]
    found, value = best_of(
        np.concatenate([np.zeros((1, len(main.factors)), dtype=levels.dtype), levels])
    )
    if value < incumbent:  # no survivor beats the first incumbent (ties: the survivor)
        found = first
    return RobustFound("optimal", found.levels, found.gain, 0.0, found.support, found.statistic)


def _cost(problem: PersonProblem, levels: tuple[int, ...] | None) -> float:
    return float(total(problem, np.asarray([levels]), "cost")[0]) if levels else 0.0
