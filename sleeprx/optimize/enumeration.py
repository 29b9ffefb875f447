"""The enumeration route: score every profile the program allows, in numpy.

Exhaustive, so proven optimal, and with a few thousand profiles far faster than building
and solving a MIP. In exact mode the profiles are scored with the person's factor
tables, which are the booster's own leaf values (see
:mod:`sleeprx.optimize.factor_tables`), so enumeration and the MIP give the same
optimum; the tests check that they do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sleeprx.optimize.bruteforce import brute_force, count_profiles, enumerate_choices, total
from sleeprx.optimize.factor_tables import merge_tables
from sleeprx.optimize.problem import PersonProblem, profile_features
from sleeprx.optimize.states import Found, SolverStatus
from sleeprx.settings import PrescribeSettings

__all__ = ["ENUMERATION", "EnumeratedSweep", "Enumeration", "profiles", "table_gain"]


def table_gain(problem: PersonProblem) -> Callable[[np.ndarray], np.ndarray]:
    """Exact delta-logit of level-index profiles, from the person's factor tables and
    any pruned trees left beside them."""
    if problem.scorer is not None:  # a derived lever the model reads: the booster itself
        return booster_gain(problem)
    # merged: one lookup per covering table (on the 10-lever example 10 instead of 34)
    constant, tables = merge_tables(problem.tables or ())
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


def booster_gain(problem: PersonProblem) -> Callable[[np.ndarray], np.ndarray]:
    """Exact delta-logit of level-index profiles by the booster's own scorer, on the
    feature rows with every lever and derived lever written in."""

    def gain_of(choices: np.ndarray) -> np.ndarray:
        rows = profile_features(problem, choices)
        return problem.scorer.margin(rows) - problem.logit_before

    return gain_of


def profiles(problem: PersonProblem, settings: PrescribeSettings) -> int:
    """How many profiles change at most K levers (before the budget and the rows; with
    lever groups, the wider count :func:`enumerate_choices` starts from)."""
    extra = sum(len(g.members) - 1 for g in problem.groups)
    sizes = tuple(len(f.levels) for f in problem.factors)
    return count_profiles(sizes, settings.max_changes + extra)


def _gain_of(
    problem: PersonProblem, settings: PrescribeSettings
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The exact gain in exact mode; None (the surrogate, by default) otherwise."""
    return table_gain(problem) if settings.mode == "exact" else None


class Enumeration:
    """Every allowed profile scored; ties fall to the first profile in
    :func:`~sleeprx.optimize.bruteforce.enumerate_choices`' order (fewest changes first).
    """

    name = "enumeration"

    def applies(
        self, problem: PersonProblem, settings: PrescribeSettings, *, sweep: bool = False
    ) -> bool:
        """Whether numpy can score the gain (the surrogate always; exact mode once the
        tables or trees are attached) and, under ``solver = "auto"``, the program allows
        at most ``enumeration_limit`` profiles. Forced by ``solver = "enumeration"``."""
        ready = settings.mode == "surrogate" or (
            problem.tables is not None or problem.trees is not None or problem.scorer is not None
        )
        if settings.solver != "auto":
            return ready and settings.solver == self.name
        return ready and profiles(problem, settings) <= settings.enumeration_limit

    def best(self, problem: PersonProblem, settings: PrescribeSettings) -> Found:
        best = brute_force(problem, settings, gain_of=_gain_of(problem, settings))
        if best.levels is None:
            return Found.nothing(SolverStatus.INFEASIBLE)
        return Found(SolverStatus.ENUMERATED, best.levels, best.gain, 0.0)

    def prepare(self, problem: PersonProblem, widest: PrescribeSettings) -> EnumeratedSweep:
        return EnumeratedSweep(problem, widest)


class EnumeratedSweep:
    """The profiles allowed at the widest limits, scored once; each point of a sweep is
    a masked argmax over them, in the order :func:`brute_force` uses, so ties fall as
    they would in a fresh solve."""

    def __init__(self, problem: PersonProblem, widest: PrescribeSettings) -> None:
        self.choices = enumerate_choices(problem, widest.model_copy(update={"budget": None}))
        exact = widest.mode == "exact" and (
            (problem.tables or problem.trees) is not None or problem.scorer is not None
        )
        gain_of = table_gain(problem) if exact else None
        self.gain = (
            gain_of(self.choices) if gain_of is not None else problem.surrogate_of(self.choices)
        )
        self.cost = problem.cost_of(self.choices)
        self.intensity = total(problem, self.choices, "intensity")
        self.n_changes = problem.changes(self.choices)

    def best(self, settings: PrescribeSettings) -> Found:
        keep = self.n_changes <= settings.max_changes
        if settings.budget is not None:
            keep &= self.intensity <= settings.budget + 1e-9
        index = np.flatnonzero(keep)
        objective = self.gain[index] - settings.lam * self.cost[index]
        j = int(index[np.argmax(objective)])
        levels = tuple(int(v) for v in self.choices[j])
        return Found(SolverStatus.ENUMERATED, levels, float(self.gain[j]), 0.0)


#: The enumeration route, as the registry holds it.
ENUMERATION = Enumeration()
