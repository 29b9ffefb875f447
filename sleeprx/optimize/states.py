"""How a solve ended and what it found, as types: plain data that imports nothing heavy.

Pyomo keeps apart why a solver stopped and what it hands back
(``TerminationCondition`` and ``SolutionStatus`` in
``pyomo/contrib/solver/common/results.py``); so does sleeprx:

- :class:`Termination` is why HiGHS stopped;
- :class:`SolutionStatus` is what the MIP's answer is worth;
- :class:`SolverStatus` is how a person's optimum was found, by which route: the
  ``solver_status`` column of the prescriptions.

Each is a :class:`enum.StrEnum`, so a value compares equal to its text and writes the
same text into a CSV as the string literals it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Found", "SolutionStatus", "SolverStatus", "Termination"]


class Termination(StrEnum):
    """Why the MIP solver stopped. Any other HiGHS status raises a ``SolverError``."""

    OPTIMAL = "optimal"
    """Proven optimal within ``mip_rel_gap`` and ``mip_abs_gap`` (or no variable to set)."""
    INFEASIBLE = "infeasible"
    """Proven to have no feasible point."""
    TIME_LIMIT = "time_limit"
    """Stopped at ``time_limit`` seconds, with or without a feasible point."""


class SolutionStatus(StrEnum):
    """What the MIP hands back, whatever stopped it."""

    NO_SOLUTION = "no_solution"
    """No feasible point is known (infeasible, or stopped before finding one)."""
    FEASIBLE = "feasible"
    """A feasible point, not proven optimal (stopped by the time limit)."""
    OPTIMAL = "optimal"
    """A feasible point proven optimal."""


class SolverStatus(StrEnum):
    """How a person's optimum was found: the route that proved it, or how the MIP ended.

    ``ENUMERATED`` and ``DYNAMIC_PROGRAMMING`` are exhaustive, so proven optimal; the
    three others are the MIP's :class:`Termination` (``INFEASIBLE`` also when no margin
    can reach the goal, or when enumeration finds no allowed profile reaching it).
    """

    ENUMERATED = "enumerated"
    DYNAMIC_PROGRAMMING = "dynamic_programming"
    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"

    @classmethod
    def of_mip(cls, termination: Termination) -> SolverStatus:
        """The status a MIP solve that ended with ``termination`` reports."""
        return cls(termination.value)


@dataclass(frozen=True)
class Found:
    """The best profile a route found. ``levels`` is None when none is known."""

    status: SolverStatus
    levels: tuple[int, ...] | None  # level index per factor
    gain: float  # delta-logit under the mode's gain model
    gap: float  # the MIP's relative gap; 0 for exhaustive routes

    @classmethod
    def nothing(cls, status: SolverStatus, gap: float = float("nan")) -> Found:
        """No profile known, for the reason ``status`` gives."""
        return cls(status, None, float("nan"), gap)
