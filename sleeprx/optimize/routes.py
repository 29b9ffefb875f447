"""Two exact routes to one person's optimum: enumeration or the MIP.

Both solve the same program (:func:`~sleeprx.optimize.formulation.build_program`).
A small program is solved by scoring every profile it allows in numpy
(:func:`~sleeprx.optimize.bruteforce.brute_force`): exhaustive, so proven optimal, and
with a few thousand profiles far faster than building and solving a MIP. A larger one goes
to HiGHS. ``PrescribeSettings.solver`` forces either route.

In exact mode the enumeration scores profiles with the person's factor tables, which
are the booster's own leaf values (see :mod:`sleeprx.optimize.factor_tables`), so the
two routes give the same optimum; the tests check that they do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.bruteforce import brute_force, count_profiles, enumerate_choices, total
from sleeprx.optimize.formulation import build_program
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.separable import Frontier, frontier, groups_of
from sleeprx.optimize.solver import HighsSession, solve
from sleeprx.settings import PrescribeSettings

__all__ = ["Found", "Sweep", "find_best", "table_gain", "uses_enumeration"]


@dataclass(frozen=True)
class Found:
    """The best profile found. ``levels`` is None when none is known."""

    status: str  # optimal | enumerated | time_limit | infeasible
    levels: tuple[int, ...] | None
    gain: float  # delta-logit under the mode's gain model
    gap: float


def table_gain(problem: PersonProblem) -> Callable[[np.ndarray], np.ndarray]:
    """Exact delta-logit of level-index profiles, from the person's factor tables and
    any pruned trees left beside them."""
    constant, tables = _merged(problem.tables or ())
    constant += problem.base_margin - problem.logit_before
    trees = problem.trees or ()

    def gain_of(choices: np.ndarray) -> np.ndarray:
        total = np.full(len(choices), constant)
        for factors, values in tables:
            total += values[tuple(choices[:, k] for k in factors)]
        for tree in trees:  # groups too large to tabulate, or the leaf encoding
            total += tree.values_at(choices)
        return total

    return gain_of


def _merged(tables) -> tuple[float, list[tuple[tuple[int, ...], np.ndarray]]]:
    """The tables added into as few as possible: a table over factors that another
    table covers is broadcast into it. Each profile then costs one lookup per merged
    table instead of one per table (on the 10-lever example, 10 instead of 34).
    """
    constant = 0.0
    merged: list[tuple[tuple[int, ...], np.ndarray]] = []
    covers: list[int] = []  # each merged table's factors as a bitmask
    for table in sorted(tables, key=lambda t: -len(t.factors)):
        if not table.factors:
            constant += float(table.values)
            continue
        own = sum(1 << k for k in table.factors)
        for (factors, values), cover in zip(merged, covers, strict=True):
            if own & ~cover == 0:  # both ascending: the axes keep their order
                shape = [
                    n if own >> k & 1 else 1 for k, n in zip(factors, values.shape, strict=True)
                ]
                values += table.values.reshape(shape)
                break
        else:
            merged.append((table.factors, table.values.copy()))
            covers.append(own)
    return constant, merged


def uses_enumeration(problem: PersonProblem, settings: PrescribeSettings) -> bool:
    """Whether ``settings.solver`` sends this person's program to enumeration."""
    if settings.solver == "mip" or (settings.solver == "auto" and settings.backend == "pyomo"):
        return False  # asked for the MIP, or for the Pyomo route to it
    exact_ready = settings.mode == "surrogate" or (
        problem.tables is not None or problem.trees is not None
    )
    if settings.solver == "enumeration":
        return exact_ready
    sizes = tuple(len(f.levels) for f in problem.factors)
    return exact_ready and count_profiles(sizes, settings.max_changes) <= settings.enumeration_limit


def uses_frontier(problem: PersonProblem, settings: PrescribeSettings) -> bool:
    """Whether a program too large to enumerate is solved by dynamic programming: the
    penalised surrogate program, whose gain and cost are sums over levers."""
    return (
        settings.solver == "auto"
        and settings.backend == "highs"
        and settings.mode == "surrogate"
        and settings.goal is None
        and not uses_enumeration(problem, settings)
    )


def _from_frontier(problem: PersonProblem, front: Frontier, settings) -> Found:
    state = front.best(settings.max_changes, settings.budget)
    levels = tuple(int(v) for v in front.levels[state])
    gain = sum(float(f.surrogate_gain[i]) for f, i in zip(problem.factors, levels, strict=True))
    return Found("dynamic_programming", levels, gain, 0.0)


def find_best(problem: PersonProblem, settings: PrescribeSettings) -> Found:
    """The person's optimum by the route ``settings`` and the problem's size choose."""
    if uses_frontier(problem, settings):
        front = frontier(problem, settings.lam, settings.max_changes, settings.budget)
        return _from_frontier(problem, front, settings)
    if settings.goal is not None and problem.need(settings.goal_logit) == np.inf:
        return Found("infeasible", None, float("nan"), float("nan"))  # no margin reaches it
    if uses_enumeration(problem, settings):
        gain_of = table_gain(problem) if settings.mode == "exact" else None
        best = brute_force(problem, settings, gain_of=gain_of)
        if best.levels is None:
            return Found("infeasible", None, float("nan"), float("nan"))
        return Found("enumerated", best.levels, best.gain, 0.0)
    program = build_program(problem, settings)
    solution = solve(program.model, settings)
    if solution.x is None:
        return Found(solution.status, None, float("nan"), solution.gap)
    levels = program.chosen_levels(solution.x)
    return Found(solution.status, levels, program.gain.evaluate(solution.x), solution.gap)


#: Above this many profiles a surrogate sweep uses the dynamic-programming frontier.
SURROGATE_SWEEP_ENUMERATION = 2_000


class Sweep:
    """One person's program built once for a sweep, then re-solved at every point.

    A sweep changes only the limits (K, the intensity budget) and the penalty weight.
    By enumeration, the profiles allowed at the widest limits are scored once and
    each point is a masked argmax over them, in the order :func:`brute_force` uses,
    so ties fall as they would in a fresh solve. By the MIP, the program is loaded into
    HiGHS once (:class:`~sleeprx.optimize.solver.HighsSession`); each point changes the
    K and budget rows and the objective, and starts from the previous optimum when the
    limits have only grown. A surrogate program too large to enumerate is answered from
    one dynamic-programming frontier per penalty weight (:mod:`.separable`). ``widest``
    must hold the largest K and the largest budget (None if no point has one); the goal
    must be None.
    """

    def __init__(self, problem: PersonProblem, widest: PrescribeSettings) -> None:
        if widest.goal is not None:
            raise ValueError("a sweep re-solves the penalised program; it takes no goal")
        self.problem = problem
        # no lever to move: nothing for HiGHS to hold, one profile to enumerate
        # a surrogate sweep enumerates small programs only: beyond a few thousand
        # profiles one frontier per weight answers the points faster (measured on the
        # 10-lever example); exact sweeps enumerate up to the settings' limit
        small = widest
        if widest.mode == "surrogate" and widest.solver == "auto":
            limit = min(widest.enumeration_limit, SURROGATE_SWEEP_ENUMERATION)
            small = widest.model_copy(update={"enumeration_limit": limit})
        self.enumerated = uses_enumeration(problem, small) or not problem.factors
        self.separable = not self.enumerated and uses_frontier(problem, small)
        self._widest = widest
        self._has_budget = widest.budget is not None
        self._fronts: dict[float, Frontier] = {}
        self._last: tuple[np.ndarray, int, float] | None = None
        if self.enumerated:
            open_budget = widest.model_copy(update={"budget": None})
            self.choices = enumerate_choices(problem, open_budget)
            exact = widest.mode == "exact" and (problem.tables or problem.trees) is not None
            gain_of = table_gain(problem) if exact else None
            self.gain = (
                gain_of(self.choices)
                if gain_of is not None
                else total(problem, self.choices, "surrogate_gain")
            )
            self.cost = total(problem, self.choices, "cost")
            self.intensity = total(problem, self.choices, "intensity")
            self.n_changes = (self.choices > 0).sum(axis=1)
        elif self.separable:
            self._groups = groups_of(problem)
        else:
            wide = widest.model_copy(
                update={"lam": 0.0, "budget": np.inf if self._has_budget else None}
            )
            self.program = build_program(problem, wide)
            self.session = HighsSession(self.program.model, wide)
            self._gain_cost = np.asarray(self.program.model.cost, dtype=float)

    def best(self, settings: PrescribeSettings) -> Found:
        """The optimum at one point of the sweep (same mode and problem as built)."""
        budget = settings.budget
        if budget is not None and not self._has_budget:
            raise ValueError("this sweep was built without a budget row")
        if self.enumerated:
            keep = self.n_changes <= settings.max_changes
            if budget is not None:
                keep &= self.intensity <= budget + 1e-9
            index = np.flatnonzero(keep)
            objective = self.gain[index] - settings.lam * self.cost[index]
            j = int(index[np.argmax(objective)])
            return Found(
                "enumerated", tuple(int(v) for v in self.choices[j]), float(self.gain[j]), 0.0
            )
        if self.separable:  # one frontier per penalty weight answers every limit
            if settings.lam not in self._fronts:
                self._fronts[settings.lam] = frontier(
                    self.problem,
                    settings.lam,
                    self._widest.max_changes,
                    None,  # points without a budget are answered from the same states
                    self._groups,
                    by_intensity=self._has_budget,
                )
            return _from_frontier(self.problem, self._fronts[settings.lam], settings)
        session, program = self.session, self.program
        session.set_row_bounds("max_changes", -np.inf, float(settings.max_changes))
        if self._has_budget:
            session.set_row_bounds("budget", -np.inf, np.inf if budget is None else float(budget))
        cost = self._gain_cost.copy()
        cost[program.cost_index] -= settings.lam * program.cost_value
        session.set_costs(cost)
        limit = np.inf if budget is None else budget
        grown = self._last is not None and (
            settings.max_changes >= self._last[1] and limit >= self._last[2]
        )
        solution = session.solve(start_from=self._last[0] if grown else None)
        if solution.x is None:
            return Found(solution.status, None, float("nan"), solution.gap)
        self._last = (solution.x, settings.max_changes, limit)
        levels = program.chosen_levels(solution.x)
        return Found(solution.status, levels, program.gain.evaluate(solution.x), solution.gap)
