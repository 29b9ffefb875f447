"""Robust exact prescriptions for programs too large to enumerate.

The programs of :mod:`sleeprx.optimize.robust` (same goal and penalised forms, same
tie rules up to the order of equal optima), solved by the layered search of
:mod:`.bound_search` with one bound per model, main booster and bootstraps:

- **under a goal**, every profile of cost at most ``C`` is grown, and a partial
  profile is dropped when the main model's bound is below its need, or fewer than
  :math:`\\lceil Q B \\rceil` bootstrap bounds reach theirs: no completion could then
  be held. The cheapest survivor held by the exact margins (every model's own tables)
  and meeting the rows and filters is the optimum; if none, ``C`` doubles, up to the
  dearest profile K allows. Proven optimal by exhaustion, as in :mod:`.costbound`.
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

from sleeprx.optimize.bound_search import TOL, TooLarge, allowed, bound_plan, fits_tables, grow
from sleeprx.optimize.bruteforce import enumerate_choices, total
from sleeprx.optimize.enumeration import profiles
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.robust import (
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

#: Profiles with at most this many changes are enumerated for the first incumbent of
#: the penalised search (a few thousand on 10 levers).
INCUMBENT_CHANGES = 2


def robust_optimum(problem: RobustProblem, settings: PrescribeSettings) -> RobustFound:
    """The robust optimum by the route the rule picks: enumeration
    (:func:`~sleeprx.optimize.robust.robust_best`) for a program of at most
    ``enumeration_limit`` profiles, or under ``solver = "enumeration"``; else the
    bound search, which takes the gain in factor tables (pruned trees beside them
    tabulated alone, up to :data:`~.costbound.TREE_CELLS` cells)."""
    main = problem.main
    small = profiles(main, settings) <= settings.enumeration_limit
    tabulated = all(fits_tables(m) for m in (main, *problem.bootstraps))
    if small or settings.solver == "enumeration" or not tabulated:
        return robust_best(problem, settings)  # refuses a program too large for it
    return robust_search(problem, settings)


def robust_search(problem: RobustProblem, settings: PrescribeSettings) -> RobustFound:
    """The robust optimum of one person's program by the bound search (module
    docstring); its status is ``optimal`` or ``infeasible``."""
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
    least = least_count(settings.robust, len(models) - 1)
    plan = bound_plan(models)

    def keep(bounds: np.ndarray, cost: np.ndarray) -> np.ndarray:
        reach = bounds >= need - TOL
        return reach[:, 0] & (reach[:, 1:].sum(axis=1) >= least)

    if not keep(plan.top[None, :], np.zeros(1))[0]:
        return None  # not even every table's best entry is held
    costs = [f.cost for f in main.factors]
    dearest = sum(sorted((float(c.max()) for c in costs), reverse=True)[: settings.max_changes])
    positive = [float(c[c > 0].min()) for c in costs if (c > 0).any()]
    limit = min(positive, default=0.0)
    while True:
        levels, cost, changes = grow(main, settings, plan, keep, limit)
        found = _cheapest_held(problem, settings, need, least, levels, cost, changes)
        if found is not None or limit >= dearest:
            return found
        limit = min(2 * limit, dearest) if limit > 0 else dearest


def _cheapest_held(problem, settings, need, least, levels, cost, changes) -> RobustFound | None:
    """Of complete profiles, the cheapest (then fewest changes) that the main model and
    enough bootstraps hold by their exact margins, and that meets the rows and filters."""
    if len(levels) == 0:
        return None
    margins = problem.table_scorer().margins(levels)
    reach = margins >= need
    support = reach[:, 1:].sum(axis=1)
    ok = reach[:, 0] & (support >= least) & allowed(problem.main, levels)
    index = np.flatnonzero(ok)
    if len(index) == 0:
        return None
    best = index[np.lexsort((changes[index], cost[index]))[0]]
    gain = float(margins[best, 0] - problem.main.logit_before)
    chosen = tuple(int(v) for v in levels[best])
    return RobustFound("optimal", chosen, gain, 0.0, int(support[best]), math.nan)


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
