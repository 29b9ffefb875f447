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

from ..settings import PrescribeSettings
from .bruteforce import brute_force, count_profiles
from .formulation import build_program
from .problem import PersonProblem
from .solver import solve

__all__ = ["Found", "find_best", "table_gain", "uses_enumeration"]


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
    constant = problem.base_margin - problem.logit_before
    tables, trees = problem.tables or (), problem.trees or ()

    def gain_of(choices: np.ndarray) -> np.ndarray:
        total = np.full(len(choices), constant)
        for table in tables:
            if table.factors:
                total += table.values[tuple(choices[:, k] for k in table.factors)]
            else:
                total += float(table.values)
        for tree in trees:  # groups too large to tabulate, or the leaf encoding
            total += tree.values_at(choices)
        return total

    return gain_of


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


def find_best(problem: PersonProblem, settings: PrescribeSettings) -> Found:
    """The person's optimum by the route ``settings`` and the problem's size choose."""
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
