"""How a person's prescription ended: the ``status`` column of the prescription table.

Plain data, importing nothing heavy. A :class:`~enum.StrEnum`, so the table's text is
the value itself (``changed``, ``no_change``, ...).
"""

from __future__ import annotations

import enum

__all__ = ["DONE", "Status"]


class Status(enum.StrEnum):
    """The verdict on one person (the solver's own termination is ``solver_status``)."""

    CHANGED = "changed"  # a worthwhile change was found
    NO_CHANGE = "no_change"  # nothing allowed is worth its cost, or the goal is met
    INFEASIBLE = "infeasible"  # no allowed change reaches the goal, or no feasible point
    TIME_LIMIT = "time_limit"  # the solver stopped at its time limit
    ERROR = "error"  # invalid data or a solver failure; ``advice`` says which


#: Statuses whose rows carry a prescribed profile to check.
DONE = (Status.CHANGED, Status.NO_CHANGE, Status.TIME_LIMIT)
