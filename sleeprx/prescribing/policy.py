"""The decision policy: from one person's optimum to a plan and its verdict.

:func:`plan_person` solves a person's program through the optimisation layer (the
routes, or :func:`~sleeprx.optimize.robust_search.robust_optimum` for a robust program);
:func:`decide` applies the minimum-gain rules of the settings and says why when the
answer is no change, infeasible or a time limit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.options import Floors, next_best
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.robust import RobustFound, RobustProblem, least_count
from sleeprx.optimize.robust_search import robust_optimum
from sleeprx.optimize.routes import Found, find_best
from sleeprx.optimize.states import SolverStatus
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.odds import logit, sigmoid

__all__ = [
    "VERDICT_BY",
    "Plan",
    "Problem",
    "decide",
    "main_problem",
    "plan_options",
    "plan_person",
]

#: One person's program: a plain or exact one, or (``settings.robust``) a robust one.
Problem = PersonProblem | RobustProblem


def main_problem(problem: Problem) -> PersonProblem:
    """The person's program under the main model (a robust one's ``main``)."""
    return problem.main if isinstance(problem, RobustProblem) else problem


@dataclass(frozen=True)
class Plan:
    """The program's answer for one person, before verification."""

    person_id: object
    status: Status
    levels: tuple[int, ...] | None  # chosen level index per factor
    gain_planned: float  # delta-logit under the mode's own gain model
    gain_surrogate: float  # delta-logit under the SHAP surrogate
    cost: float
    intensity: float
    objective: float
    solver_status: str
    gap: float
    seconds: float
    reason: str = ""
    margin_mip: float = float("nan")


#: Whose estimate an "infeasible" verdict rests on, by mode.
VERDICT_BY = {
    "surrogate": "by the SHAP surrogate's estimate",
    "exact": "by the model itself",
}

#: The plan's numbers that follow from its levels.
_SCORES = ("gain_planned", "gain_surrogate", "cost", "intensity", "objective")


def plan_person(
    problem: Problem, settings: PrescribeSettings, *, outcome: str = "the positive outcome"
) -> Plan:
    """Solve one person's program and decide changed / no change / infeasible.

    A :class:`~sleeprx.optimize.robust.RobustProblem` (``settings.robust``) is solved by
    :func:`~sleeprx.optimize.robust_search.robust_optimum`, any other by the routes.
    ``outcome`` names the positive class in the reasons (the description's label).
    """
    start = time.perf_counter()
    if isinstance(problem, RobustProblem):
        found = robust_optimum(problem, settings)
        seconds = time.perf_counter() - start
        refits = len(problem.bootstraps)
        return decide(problem.main, settings, found, seconds, outcome=outcome, refits=refits)
    solution = find_best(problem, settings)
    return decide(problem, settings, solution, time.perf_counter() - start, outcome=outcome)


def plan_options(
    problem: Problem,
    settings: PrescribeSettings,
    first: Plan,
    *,
    outcome: str = "the positive outcome",
) -> list[Plan]:
    """The person's options 2..N (``settings.options``) after ``first``, their
    optimum: the next-best distinct plans of the same program that are worth acting
    on by the same minimum-gain rules, best first; each a ``changed`` plan.

    Empty when ``first`` is not a change (nothing is worth doing, the goal is met or
    unreachable, or a time limit left it unproven): the options are alternatives to a
    change, never to no change. Fewer than N - 1 when the program allows no more.
    """
    if settings.options == 1 or first.status != Status.CHANGED or first.levels is None:
        return []
    problem = main_problem(problem)  # settings refuse options under robust
    start = time.perf_counter()
    found = next_best(
        problem, settings, first.levels, settings.options - 1, _floors(problem, settings)
    )
    seconds = (time.perf_counter() - start) / max(len(found), 1)
    plans = [decide(problem, settings, f, seconds, outcome=outcome) for f in found]
    # the floors are the rules of _too_small; a plan at their rounding edge is dropped
    return [p for p in plans if p.status == Status.CHANGED]


def _floors(problem: PersonProblem, settings: PrescribeSettings) -> Floors:
    """:func:`_too_small`'s minimum gains as floors on a plan's gain and objective: the
    rise in probability ``sigmoid(m + g) - sigmoid(m) > min_gain_prob`` is
    ``g > logit(sigmoid(m) + min_gain_prob) - m``. A goal has no minimum."""
    if settings.goal is not None:
        return Floors()
    reach = sigmoid(problem.logit_before) + settings.min_gain_prob
    least_gain = logit(reach) - problem.logit_before if reach < 1 else math.inf
    return Floors(least_gain=least_gain, least_objective=settings.min_gain)


def decide(
    problem: PersonProblem,
    settings: PrescribeSettings,
    solution: Found | RobustFound,
    seconds: float,
    *,
    outcome: str = "the positive outcome",
    refits: int = 0,
) -> Plan:
    """Turn an optimum into a plan: changed, no change (with the reason), infeasible or
    time limit, applying the minimum-gain rules of ``settings``.

    A robust optimum (:class:`~sleeprx.optimize.robust.RobustFound`, of ``refits``
    bootstrap boosters) is judged by the statistic it maximised without a goal, and its
    reasons name the share of refitted models it had to hold in.
    """
    levels = solution.levels
    if levels is None:
        status, reason = _without_levels(settings, solution, refits)
        scores = dict.fromkeys(_SCORES, math.nan)
    else:
        scores = _scores(problem, settings, solution)
        n_changes = int(problem.changes(np.asarray(levels))[0])
        too_small = _too_small(problem, settings, scores, n_changes, outcome)
        if too_small:  # the best change is not worth making: hold every lever
            status, reason = Status.NO_CHANGE, too_small
            levels = (0,) * len(levels)
            scores = dict.fromkeys(_SCORES, 0.0)
        elif n_changes:
            status, reason = Status.CHANGED, ""
        else:
            status, reason = Status.NO_CHANGE, _why_no_change(settings, outcome, refits)
        if solution.status == SolverStatus.TIME_LIMIT:
            status = Status.TIME_LIMIT
            reason = (
                f"time limit {settings.time_limit:g} s reached; best solution found, "
                f"gap {solution.gap:.2g}"
            )
    return Plan(
        person_id=problem.person_id,
        status=status,
        levels=levels,
        **scores,
        solver_status=SolverStatus(solution.status),
        gap=solution.gap,
        seconds=seconds,
        reason=reason,
        margin_mip=problem.logit_before + scores["gain_planned"],
    )


def _without_levels(
    settings: PrescribeSettings, solution: Found | RobustFound, refits: int
) -> tuple[Status, str]:
    """The verdict and its reason when the solver found no profile at all."""
    if solution.status == SolverStatus.TIME_LIMIT:
        reason = f"time limit {settings.time_limit:g} s reached before any solution was found"
        return Status.TIME_LIMIT, reason
    if settings.goal is not None:
        return Status.INFEASIBLE, (
            f"no allowed change (at most {settings.max_changes}, inside the safe ranges) "
            f"reaches p >= {settings.goal:g} {VERDICT_BY[settings.mode]}"
            + _in_refits(settings, refits)
        )
    return Status.INFEASIBLE, "the program has no feasible point"


def _in_refits(settings: PrescribeSettings, refits: int) -> str:
    """`` and in 18 of its 20 refitted models`` under ``settings.robust``; else empty."""
    if settings.robust is None or not refits:
        return ""
    need = least_count(settings.robust, refits)
    return f" and in {settings.robust:.0%} ({need} of {refits}) of its refitted models"


def _scores(
    problem: PersonProblem, settings: PrescribeSettings, solution: Found | RobustFound
) -> dict[str, float]:
    """The gains, cost, intensity and objective of the solution's levels; a robust
    optimum without a goal is worth the robust statistic it maximised, not the main
    model's gain."""
    pick = list(zip(problem.factors, solution.levels, strict=True))
    cost = float(sum(f.cost[i] for f, i in pick))
    surrogate = float(sum(f.surrogate_gain[i] for f, i in pick))
    if problem.coupled:  # a group's cost once, derived levers' curves
        profile = np.asarray(solution.levels)
        cost, surrogate = (
            float(problem.cost_of(profile)[0]),
            float(problem.surrogate_of(profile)[0]),
        )
    worth = solution.statistic if isinstance(solution, RobustFound) else solution.gain
    return {
        "gain_planned": solution.gain,
        "gain_surrogate": surrogate,
        "cost": cost,
        "intensity": float(sum(f.intensity[i] for f, i in pick)),
        "objective": worth - settings.lam * cost if settings.goal is None else cost,
    }


def _too_small(
    problem: PersonProblem,
    settings: PrescribeSettings,
    scores: dict[str, float],
    n_changes: int,
    outcome: str,
) -> str:
    """Why the best change falls below a minimum gain; empty when it does not (or when
    a goal, not a minimum, decides)."""
    if settings.goal is not None or not n_changes:
        return ""
    objective = scores["objective"]
    if objective <= settings.min_gain:
        return (
            f"the best change scores {objective:.3f} log-odds after its penalty, "
            f"not above the minimum gain {settings.min_gain:g}"
        )
    p_before = sigmoid(problem.logit_before)
    rise = sigmoid(problem.logit_before + scores["gain_planned"]) - p_before
    if rise <= settings.min_gain_prob:
        return (
            f"the best change would raise the chance of {outcome} from "
            f"{p_before:.3f} by only {rise:.4f}, not above "
            f"the minimum {settings.min_gain_prob:g}"
        )
    return ""


def _why_no_change(settings: PrescribeSettings, outcome: str, refits: int = 0) -> str:
    if settings.goal is not None:
        return f"already at p >= {settings.goal:g}"
    if settings.robust is not None and refits:
        need = least_count(settings.robust, refits + 1)
        return (
            f"no allowed change raises the predicted chance of {outcome} in at least "
            f"{need} of the {refits + 1} models (the model and its refits) by more than "
            "it costs"
        )
    return f"no allowed change raises the predicted chance of {outcome} by more than it costs"
