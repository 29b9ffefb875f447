"""The routes to an optimum: their states, the rule that picks one, and the registry.

Problems are built by hand: a few levers with known additive gains, small enough that
every route answers them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sleeprx.optimize import routes
from sleeprx.optimize.enumeration import profiles
from sleeprx.optimize.formulation import build_program
from sleeprx.optimize.problem import FactorChoice, PersonProblem
from sleeprx.optimize.routes import Sweep, choose_route, find_best, register_route
from sleeprx.optimize.separable import SWEEP_FRONTIER_ABOVE
from sleeprx.optimize.solver import solve
from sleeprx.optimize.states import Found, SolutionStatus, SolverStatus, Termination
from sleeprx.settings import PrescribeSettings, parse_goal
from sleeprx.utils.errors import ConfigError


def _problem(n_factors: int = 3, n_levels: int = 4, *, person_id: object = 0) -> PersonProblem:
    """Levers whose level j is j steps up, each step worth 0.6 log-odds less than the
    one before it, at a cost of one per step."""
    factors = []
    for f in range(n_factors):
        levels = np.arange(n_levels, dtype=float) + f
        steps = levels - levels[0]
        gain = np.cumsum([0.0] + [1.5 - 0.6 * j for j in range(n_levels - 1)]) * (1 + 0.1 * f)
        factors.append(FactorChoice(f"f{f}", levels, steps, steps, gain))
    features = np.array([f.levels[0] for f in factors])
    return PersonProblem(person_id, tuple(factors), -1.0, features, tuple(range(n_factors)))


def _answers(problem: PersonProblem) -> dict[SolverStatus, Found]:
    """One real case for each state a route can report."""
    mip = PrescribeSettings(solver="mip")
    unreachable = dataclasses.replace(problem, goal_margin=float("inf"))
    return {
        SolverStatus.ENUMERATED: find_best(problem, PrescribeSettings()),
        SolverStatus.DYNAMIC_PROGRAMMING: find_best(
            problem, PrescribeSettings(enumeration_limit=0)
        ),
        SolverStatus.OPTIMAL: find_best(problem, mip),
        SolverStatus.TIME_LIMIT: find_best(problem, mip.model_copy(update={"time_limit": 1e-9})),
        SolverStatus.INFEASIBLE: find_best(problem, PrescribeSettings(goal=0.999)),
    } | {
        # the same verdict by the other two ways a route reaches it
        "mip infeasible": find_best(problem, mip.model_copy(update={"goal": 0.999})),
        "no margin": find_best(unreachable, PrescribeSettings(goal=0.6)),
    }


def test_every_documented_state_is_returned_and_nothing_else():
    answers = _answers(_problem())
    for expected, found in answers.items():
        assert isinstance(found.status, SolverStatus)
        if isinstance(expected, SolverStatus):
            assert found.status is expected
        else:
            assert found.status is SolverStatus.INFEASIBLE, expected
    assert {found.status for found in answers.values()} == set(SolverStatus)
    assert answers[SolverStatus.TIME_LIMIT].levels is None  # stopped before any point
    optimum = answers[SolverStatus.OPTIMAL]
    for status in (SolverStatus.ENUMERATED, SolverStatus.DYNAMIC_PROGRAMMING):
        assert answers[status].levels == optimum.levels
        assert answers[status].gain == pytest.approx(optimum.gain, abs=1e-9)


def test_the_states_write_the_text_they_replace():
    """StrEnums: the CSV text of the solver_status column is unchanged."""
    assert [str(s) for s in SolverStatus] == [
        "enumerated",
        "dynamic_programming",
        "optimal",
        "time_limit",
        "infeasible",
    ]
    assert f"{SolverStatus.DYNAMIC_PROGRAMMING}" == "dynamic_programming"
    assert {SolverStatus.of_mip(t) for t in Termination} <= set(SolverStatus)


def test_termination_is_kept_apart_from_the_solution_status():
    problem = _problem()
    settings = PrescribeSettings(solver="mip")
    model = build_program(problem, settings).model
    seen = {}
    for update in ({}, {"goal": 0.999}, {"time_limit": 1e-9}):
        point = settings.model_copy(update=update)
        solution = solve(build_program(problem, point).model if update else model, point)
        seen[solution.termination] = solution.solution_status
    assert seen == {
        Termination.OPTIMAL: SolutionStatus.OPTIMAL,
        Termination.INFEASIBLE: SolutionStatus.NO_SOLUTION,
        Termination.TIME_LIMIT: SolutionStatus.NO_SOLUTION,
    }
    stopped = dataclasses.replace(solve(model, settings), termination=Termination.TIME_LIMIT)
    assert stopped.solution_status is SolutionStatus.FEASIBLE  # a point, not proven


def test_the_backend_does_not_choose_the_route():
    """The backend is the MIP's business: under 'auto', Pyomo's settings enumerate and
    use the frontier as HiGHS's do."""
    problem = _problem()
    for backend in ("highs", "pyomo"):
        small = PrescribeSettings(backend=backend)
        assert find_best(problem, small).status is SolverStatus.ENUMERATED
        large = small.model_copy(update={"enumeration_limit": 0})
        assert find_best(problem, large).status is SolverStatus.DYNAMIC_PROGRAMMING
        assert Sweep(problem, large).route.name == "dynamic_programming"
        forced = small.model_copy(update={"solver": "mip"})
        assert find_best(problem, forced).status is SolverStatus.OPTIMAL


def test_a_sweep_and_a_single_solve_share_one_rule():
    """Both ask choose_route; a sweep moves to the frontier sooner (it re-scans every
    enumerated profile at each point)."""
    problem = _problem(n_factors=4, n_levels=9)  # 9**4 = 6,561 profiles at K = 4
    settings = PrescribeSettings(max_changes=4)
    assert SWEEP_FRONTIER_ABOVE < profiles(problem, settings) <= settings.enumeration_limit
    assert choose_route(problem, settings).name == "enumeration"
    assert choose_route(problem, settings, sweep=True).name == "dynamic_programming"
    assert Sweep(problem, settings).route is choose_route(problem, settings, sweep=True)
    forced = settings.model_copy(update={"solver": "enumeration"})
    assert Sweep(problem, forced).route.name == "enumeration"  # forced: any size


class _Toy:
    """A route for people whose id says so: always 'no change'."""

    name = "toy"

    def applies(self, problem, settings, *, sweep=False):
        return problem.person_id == "toy"

    def best(self, problem, settings):
        return Found(SolverStatus.ENUMERATED, (0,) * len(problem.factors), 0.0, 0.0)

    def prepare(self, problem, widest):
        return _ToyPrepared(self, problem)


@dataclasses.dataclass
class _ToyPrepared:
    route: _Toy
    problem: PersonProblem

    def best(self, settings):
        return self.route.best(self.problem, settings)


def test_a_route_registered_from_outside_is_chosen():
    toy = _Toy()
    register_route(toy, before="enumeration")
    try:
        assert [r.name for r in routes.ROUTES][-1] == "mip"
        mine, other = _problem(person_id="toy"), _problem()
        settings = PrescribeSettings()
        assert choose_route(mine, settings) is toy
        assert find_best(mine, settings).levels == (0, 0, 0)
        assert Sweep(mine, settings).route is toy
        assert Sweep(mine, settings).best(settings).levels == (0, 0, 0)
        assert choose_route(other, settings).name == "enumeration"
        with pytest.raises(ConfigError, match="'toy' is registered already"):
            register_route(toy)
    finally:
        routes.ROUTES.remove(toy)
    with pytest.raises(ConfigError, match="route 'nowhere': no such route"):
        register_route(toy, before="nowhere")


def test_a_bad_goal_names_the_value_not_a_flag():
    with pytest.raises(ConfigError, match=r"^'p>=1\.5': expected a goal of the form p>=0\.7"):
        parse_goal("p>=1.5")


def test_the_states_are_plain_data():
    """The states load without numpy, HiGHS, Pyomo or pandas (a fresh interpreter)."""
    import subprocess
    import sys

    heavy = ("numpy", "highspy", "pyomo", "pandas", "pydantic")
    code = f"import sys, sleeprx.optimize.states; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
