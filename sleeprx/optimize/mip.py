"""The MIP route: build the program and solve it with HiGHS.

It answers every program the other routes cannot take, so the registry puts it last.
The backend (highspy directly, or through Pyomo) is this route's business alone, read
by :func:`~sleeprx.optimize.solver.solve`. A sweep loads its program into HiGHS once
(:class:`~sleeprx.optimize.solver.HighsSession`, highspy whatever the backend) and
re-solves it at every point.
"""

from __future__ import annotations

import numpy as np

from sleeprx.optimize.enumeration import profiles
from sleeprx.optimize.filters import refuse_filters
from sleeprx.optimize.formulation import Program, build_program
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.solver import HighsSession, Solution, solve
from sleeprx.optimize.states import Found, SolverStatus
from sleeprx.settings import PrescribeSettings

__all__ = ["MIP", "Mip", "MipSweep"]


def _found(program: Program, solution: Solution) -> Found:
    status = SolverStatus.of_mip(solution.termination)
    if solution.x is None:
        return Found.nothing(status, solution.gap)
    levels = program.chosen_levels(solution.x)
    return Found(status, levels, program.gain.evaluate(solution.x), solution.gap)


class Mip:
    """The mixed-integer program, proven optimal within the settings' gaps."""

    name = "mip"

    def applies(
        self, problem: PersonProblem, settings: PrescribeSettings, *, sweep: bool = False
    ) -> bool:
        """Always: the MIP takes every program, and refuses one with profile filters
        (:mod:`sleeprx.optimize.filters`), which it cannot write."""
        return True

    def best(self, problem: PersonProblem, settings: PrescribeSettings) -> Found:
        refuse_filters(problem, self.name, profiles(problem, settings))
        program = build_program(problem, settings)
        return _found(program, solve(program.model, settings))

    def prepare(self, problem: PersonProblem, widest: PrescribeSettings) -> MipSweep:
        refuse_filters(problem, self.name, profiles(problem, widest))
        return MipSweep(problem, widest)


class MipSweep:
    """The program loaded once; each point changes the K and budget rows and the
    objective, and starts from the previous optimum when the limits have only grown."""

    def __init__(self, problem: PersonProblem, widest: PrescribeSettings) -> None:
        self._has_budget = widest.budget is not None
        wide = widest.model_copy(
            update={"lam": 0.0, "budget": np.inf if self._has_budget else None}
        )
        self.program = build_program(problem, wide)
        self._wide = wide
        # no lever to move: nothing for HiGHS to hold; solve() answers it at once
        model = self.program.model
        self.session = HighsSession(model, wide) if model.n_vars else None
        self._gain_cost = np.asarray(self.program.model.cost, dtype=float)
        self._last: tuple[np.ndarray, int, float] | None = None

    def best(self, settings: PrescribeSettings) -> Found:
        budget, program = settings.budget, self.program
        if self.session is None:
            return _found(program, solve(program.model, self._wide))
        self.session.set_row_bounds("max_changes", -np.inf, float(settings.max_changes))
        if self._has_budget:
            upper = np.inf if budget is None else float(budget)
            self.session.set_row_bounds("budget", -np.inf, upper)
        cost = self._gain_cost.copy()
        cost[program.cost_index] -= settings.lam * program.cost_value
        self.session.set_costs(cost)
        limit = np.inf if budget is None else budget
        grown = self._last is not None and (
            settings.max_changes >= self._last[1] and limit >= self._last[2]
        )
        solution = self.session.solve(start_from=self._last[0] if grown else None)
        if solution.x is not None:
            self._last = (solution.x, settings.max_changes, limit)
        return _found(program, solution)


#: The MIP route, as the registry holds it.
MIP = Mip()
