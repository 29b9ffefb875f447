"""The only place that knows HiGHS: options, time limits, termination, extraction.

Two routes solve the same :class:`~sleeprx.optimize.formulation.LinearModel`:

``highs``  passes the arrays straight to highspy. This is the default; a per-person
           program is small and HiGHS solves it in milliseconds, so a modelling
           layer's translation would dominate the run time.
``pyomo``  builds the Pyomo model (:meth:`LinearModel.to_pyomo`) and solves it with
           Pyomo's HiGHS interface. Same answers, slower; the tests check they agree.

Gaps default to zero relative and 1e-9 absolute (HiGHS's defaults are 1e-4 and 1e-6),
so "optimal" means proven optimal, not optimal to within a tolerance.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

from sleeprx.optimize.formulation import LinearModel
from sleeprx.optimize.states import SolutionStatus, Termination
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import SolverError

__all__ = ["SOLVERS", "HighsSession", "Solution", "solve"]


@dataclass(frozen=True)
class Solution:
    """What a solve found. ``x`` is None when no feasible point is known."""

    termination: Termination
    x: np.ndarray | None
    objective: float
    bound: float
    gap: float
    seconds: float

    @property
    def solution_status(self) -> SolutionStatus:
        """What the answer is worth, apart from why the solver stopped."""
        if self.x is None:
            return SolutionStatus.NO_SOLUTION
        if self.termination == Termination.OPTIMAL:
            return SolutionStatus.OPTIMAL
        return SolutionStatus.FEASIBLE


def _highs_options(h: highspy.Highs, settings: PrescribeSettings) -> None:
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", settings.mip_rel_gap)
    h.setOptionValue("mip_abs_gap", settings.mip_abs_gap)
    h.setOptionValue("time_limit", settings.time_limit)
    # Measured on the shipped model (benchmarks/bench_prescribe.py --breakdown): these
    # programs solve at the root, and presolve, primal heuristics and symmetry detection
    # cost more time than they save. None of them bears on the proof: the gaps above
    # still decide when a solution is optimal.
    h.setOptionValue("presolve", "off")
    h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    h.setOptionValue("mip_heuristic_effort", 0.0)
    h.setOptionValue("mip_detect_symmetry", False)
    for name, value in settings.highs_options.items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise SolverError(f"highs_options: HiGHS refused option {name!r} = {value!r}")


_banner_shown = False


def _new_highs() -> highspy.Highs:
    """A Highs instance. The first one in a process prints a copyright banner to the C
    stdout before any option can silence it; send that one line to /dev/null."""
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()
    _banner_shown = True
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _load(model: LinearModel, settings: PrescribeSettings) -> highspy.Highs:
    """A Highs instance holding ``model``, with sleeprx's options."""
    h = _new_highs()
    _highs_options(h, settings)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = model.n_vars, model.n_rows
    lp.col_cost_ = np.asarray(model.cost, dtype=float)
    lp.col_lower_ = np.asarray(model.lb, dtype=float)
    lp.col_upper_ = np.asarray(model.ub, dtype=float)
    lp.row_lower_ = np.asarray(model.row_lb, dtype=float)
    lp.row_upper_ = np.asarray(model.row_ub, dtype=float)
    lp.offset_ = model.offset
    lp.sense_ = highspy.ObjSense.kMaximize if model.sense == "max" else highspy.ObjSense.kMinimize
    starts, index, value = model.csr()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = model.n_vars, model.n_rows
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = starts, index, value
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
        for i in model.integer
    ]
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise SolverError("HiGHS refused the model")
    return h


def _run(h: highspy.Highs, start: float) -> Solution:
    """Run HiGHS on the model it holds and read the answer back."""
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    seconds = time.perf_counter() - start
    has_point = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value) if has_point else None
    if status == highspy.HighsModelStatus.kOptimal:
        gap = max(info.mip_gap, 0.0)
        return Solution(
            Termination.OPTIMAL, x, info.objective_function_value, info.mip_dual_bound, gap, seconds
        )
    if status == highspy.HighsModelStatus.kInfeasible:
        return _infeasible(seconds)
    if status == highspy.HighsModelStatus.kTimeLimit:
        objective = info.objective_function_value if has_point else float("nan")
        return Solution(
            Termination.TIME_LIMIT, x, objective, info.mip_dual_bound, info.mip_gap, seconds
        )
    raise SolverError(f"HiGHS stopped with status {h.modelStatusToString(status)}")


def _solve_highs(model: LinearModel, settings: PrescribeSettings) -> Solution:
    start = time.perf_counter()
    return _run(_load(model, settings), start)


class HighsSession:
    """One program loaded into HiGHS once, then re-solved after changes to its objective
    or its row bounds (a sweep), starting from the previous optimum when it is still
    feasible, instead of building and loading the program again."""

    def __init__(self, model: LinearModel, settings: PrescribeSettings) -> None:
        self.model = model
        self._highs = _load(model, settings)
        self._rows = {name: r for r, name in enumerate(model.row_names)}

    def set_row_bounds(self, name: str, lower: float, upper: float) -> None:
        self._highs.changeRowBounds(self._rows[name], lower, upper)

    def set_costs(self, cost: np.ndarray) -> None:
        index = np.arange(self.model.n_vars, dtype=np.int32)
        self._highs.changeColsCost(self.model.n_vars, index, np.asarray(cost, dtype=float))

    def solve(self, start_from: np.ndarray | None = None) -> Solution:
        start = time.perf_counter()
        if start_from is not None:
            self._highs.setSolution(_solution(start_from))
        return _run(self._highs, start)


def _solution(x: np.ndarray) -> highspy.HighsSolution:
    solution = highspy.HighsSolution()
    solution.col_value = list(np.asarray(x, dtype=float))
    solution.value_valid = True
    return solution


def _solve_pyomo(model: LinearModel, settings: PrescribeSettings) -> Solution:
    import pyomo.environ as pyo
    from pyomo.opt import TerminationCondition as TC

    start = time.perf_counter()
    m = model.to_pyomo()
    solver = pyo.SolverFactory("appsi_highs")
    solver.config.time_limit = settings.time_limit
    solver.highs_options.update(
        {"mip_rel_gap": settings.mip_rel_gap, "mip_abs_gap": settings.mip_abs_gap}
    )
    result = solver.solve(m, load_solutions=False)
    condition = result.solver.termination_condition
    seconds = time.perf_counter() - start
    if condition == TC.infeasible:
        return _infeasible(seconds)
    if condition not in (TC.optimal, TC.maxTimeLimit):
        raise SolverError(f"Pyomo/HiGHS stopped with termination condition {condition}")
    m.solutions.load_from(result)
    x = np.array([pyo.value(m.x[j]) for j in range(model.n_vars)])
    objective = pyo.value(m.objective)
    if condition == TC.optimal:
        return Solution(Termination.OPTIMAL, x, objective, float("nan"), 0.0, seconds)
    return Solution(Termination.TIME_LIMIT, x, objective, float("nan"), float("nan"), seconds)


#: The MIP's backends, by ``PrescribeSettings.backend``.
SOLVERS: dict[str, Callable[[LinearModel, PrescribeSettings], Solution]] = {
    "highs": _solve_highs,
    "pyomo": _solve_pyomo,
}


def solve(model: LinearModel, settings: PrescribeSettings) -> Solution:
    """Solve ``model`` with the backend named by ``settings.backend``."""
    if model.n_vars == 0:  # a person with no lever to move: nothing for HiGHS to do
        return _solve_empty(model)
    return SOLVERS[settings.backend](model, settings)


def _solve_empty(model: LinearModel) -> Solution:
    """A program without variables: its rows hold at zero or nothing does."""
    if all(lb <= 0.0 <= ub for lb, ub in zip(model.row_lb, model.row_ub, strict=True)):
        return Solution(Termination.OPTIMAL, np.zeros(0), model.offset, model.offset, 0.0, 0.0)
    return _infeasible(0.0)


def _infeasible(seconds: float) -> Solution:
    nan = float("nan")
    return Solution(Termination.INFEASIBLE, None, nan, nan, nan, seconds)
