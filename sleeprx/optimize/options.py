"""The next-best distinct plans of one person's program, after its optimum.

Two plans are distinct when their after-profiles differ: at least one lever ends at a
different value (a different level index on some factor). The current profile is not
a plan (it is "no change"), and a plan must clear the caller's floors (the decision
policy's minimum gains), so a list may hold fewer plans than asked for, or none: the
program allows no more distinct plans worth acting on.

The plans are ranked by the program's own objective, the gain less the penalty or,
under a goal, the cost among the profiles reaching it. :func:`next_best` returns the
best ``count`` plans other than a given first one (the optimum a route found), best
first; with that optimum in front they are a proven N best of the program: no plan
left out scores better than the last one listed.

- **Enumeration** (whenever :data:`~.enumeration.ENUMERATION` applies): every
  allowed profile scored, sorted stably, so ties fall in
  :func:`~.bruteforce.enumerate_choices`' order (fewest changes first).
- **The cost-bound search** (exact goals too large to enumerate, where
  :data:`~.costbound.COST_BOUND` applies): :func:`~.costbound.search_n` raises its
  cost bound until ``count`` plans reach the goal within it; a search too large for
  memory goes to the MIP, as the route's own does.
- **The MIP** (every other program): solved again after each plan with a no-good cut
  (:mod:`.formulation.cuts`) and the floors as rows, each solve proven optimal. A
  solve that stops at its time limit ends the list: its plan is not proven.

The dynamic-programming frontier (:mod:`.separable`) keeps one best value per number
of changes, not the N best, so its programs' further plans come from the MIP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.bruteforce import enumerate_choices, total
from sleeprx.optimize.costbound import COST_BOUND, TooLarge, search_n
from sleeprx.optimize.enumeration import ENUMERATION, profiles, table_gain
from sleeprx.optimize.filters import refuse_filters
from sleeprx.optimize.formulation import add_floors, add_no_good, build_program
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.solver import solve
from sleeprx.optimize.states import Found, SolverStatus, Termination
from sleeprx.settings import PrescribeSettings

__all__ = ["Floors", "next_best", "ranked"]


@dataclass(frozen=True)
class Floors:
    """What a plan must exceed to be listed: its gain (log-odds) and, in a penalised
    program, its objective (gain less the penalty); None: no floor on the objective."""

    least_gain: float = -math.inf
    least_objective: float | None = None


def ranked(
    problem: PersonProblem,
    settings: PrescribeSettings,
    choices: np.ndarray,
    gain: np.ndarray,
    floors: Floors,
) -> np.ndarray:
    """Row numbers of ``choices`` (with their ``gain``) that are plans clearing
    ``floors``, best first under the program's objective; ties keep the rows' order."""
    cost = total(problem, choices, "cost")
    keep = (choices > 0).any(axis=1) & (gain > floors.least_gain)
    if settings.goal is None:
        objective = gain - settings.lam * cost
        if floors.least_objective is not None:
            keep &= objective > floors.least_objective
        key = -objective
    else:
        keep &= gain >= problem.need(settings.goal_logit)
        key = cost
    index = np.flatnonzero(keep)
    return index[np.argsort(key[index], kind="stable")]


def next_best(
    problem: PersonProblem,
    settings: PrescribeSettings,
    first: tuple[int, ...],
    count: int,
    floors: Floors = Floors(),
) -> list[Found]:
    """Up to ``count`` plans other than ``first``, best first (see the module)."""
    if count < 1 or not problem.factors:
        return []
    if ENUMERATION.applies(problem, settings):
        return _enumerated(problem, settings, first, count, floors)
    if COST_BOUND.applies(problem, settings) and not math.isfinite(floors.least_gain):
        try:
            return _cost_bounded(problem, settings, first, count)
        except TooLarge:
            pass  # the MIP is exact too
    return _by_cuts(problem, settings, first, count, floors)


def _cost_bounded(
    problem: PersonProblem, settings: PrescribeSettings, first: tuple[int, ...], count: int
) -> list[Found]:
    found = search_n(problem, settings, count, skip=first)
    if not found:
        return []
    gain = table_gain(problem)(np.asarray(found))
    return [
        Found(SolverStatus.OPTIMAL, levels, float(g), 0.0)
        for levels, g in zip(found, gain, strict=True)
    ]


def _enumerated(
    problem: PersonProblem,
    settings: PrescribeSettings,
    first: tuple[int, ...],
    count: int,
    floors: Floors,
) -> list[Found]:
    choices = enumerate_choices(problem, settings)
    if settings.mode == "exact":
        gain = np.asarray(table_gain(problem)(choices), dtype=float)
    else:
        gain = total(problem, choices, "surrogate_gain")
    order = ranked(problem, settings, choices, gain, floors)
    order = order[~(choices[order] == np.asarray(first)).all(axis=1)][:count]
    return [
        Found(SolverStatus.ENUMERATED, tuple(int(v) for v in choices[j]), float(gain[j]), 0.0)
        for j in order
    ]


def _by_cuts(
    problem: PersonProblem,
    settings: PrescribeSettings,
    first: tuple[int, ...],
    count: int,
    floors: Floors,
) -> list[Found]:
    refuse_filters(problem, "mip", profiles(problem, settings))
    program = build_program(problem, settings)
    add_no_good(program, (0,) * len(problem.factors), "no_good[current]")
    add_no_good(program, first, "no_good[0]")
    least_objective = floors.least_objective if settings.goal is None else None
    add_floors(
        program, least_gain=floors.least_gain, least_objective=least_objective, lam=settings.lam
    )
    out: list[Found] = []
    while len(out) < count:
        solution = solve(program.model, settings)
        if solution.termination != Termination.OPTIMAL or solution.x is None:
            break  # infeasible: no more plans; a time limit: the next is not proven
        levels = program.chosen_levels(solution.x)
        gain = program.gain.evaluate(solution.x)
        out.append(Found(SolverStatus.OPTIMAL, levels, gain, solution.gap))
        add_no_good(program, levels, f"no_good[{len(out)}]")
    return out
