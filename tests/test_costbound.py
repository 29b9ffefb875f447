"""The cost-bounded route against brute force over the booster itself.

Small boosters drawn by hypothesis (as in ``test_exact``), their trees compiled into
factor tables, with some trees left beside them when a group is over ``max_cells``;
a linear row sometimes ties two levers. The route is made to answer
(``enumeration_limit = 0``) and its least cost is compared with brute force scoring
every allowed profile by the booster's own traversal.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_exact import EXACT, booster_gain_of, booster_problems, leaf_margin, profile
from test_routes import _problem

from sleeprx.learn.ensemble import read_ensemble
from sleeprx.optimize import costbound
from sleeprx.optimize.bruteforce import brute_force, total
from sleeprx.optimize.costbound import COST_BOUND
from sleeprx.optimize.factor_tables import compile_tables
from sleeprx.optimize.problem import FactorTable, LinearRow
from sleeprx.optimize.routes import choose_route, find_best
from sleeprx.optimize.states import SolverStatus
from sleeprx.settings import PrescribeSettings


@st.composite
def goal_cases(draw):
    """A tabulated problem, perhaps with a row over two levers, and goal settings."""
    problem, booster = draw(booster_problems())
    if problem.tables is None:  # leaf variables only: tables, some trees left beside
        max_cells = draw(st.sampled_from([4096, 6]))
        bare = dataclasses.replace(problem, trees=None)
        problem = compile_tables([bare], read_ensemble(booster), max_cells=max_cells)[0]
    if draw(st.booleans()):
        coef = (draw(st.sampled_from([-1.0, 1.0])), draw(st.sampled_from([-1.0, 1.0])))
        now = sum(c * problem.factors[k].current for k, c in enumerate(coef))
        slack = draw(st.sampled_from([0.0, 0.5, 2.0]))
        row = LinearRow("row", ((0, coef[0]), (1, coef[1])), 0.0, -np.inf, now + slack)
        problem = dataclasses.replace(problem, rows=(row,))
    n = len(problem.factors)
    most = sum(float(f.intensity.max()) for f in problem.factors)
    settings = PrescribeSettings(
        mode="exact",
        max_changes=draw(st.integers(0, n)),
        budget=draw(st.none() | st.floats(0, most + 1)),
        goal=draw(st.floats(0.05, 0.95)),
        min_gain=0.0,
        min_gain_prob=0.0,
        enumeration_limit=0,
    )
    return problem, booster, settings


@EXACT
@given(goal_cases())
def test_the_least_cost_is_brute_forces_over_the_booster(case):
    problem, booster, settings = case
    assert choose_route(problem, settings) is COST_BOUND
    found = find_best(problem, settings)
    best = brute_force(problem, settings, gain_of=booster_gain_of(booster, problem))
    if best.levels is None:
        assert found.status is SolverStatus.INFEASIBLE and found.levels is None
        return
    assert found.status is SolverStatus.OPTIMAL
    levels = np.asarray([found.levels])
    assert total(problem, levels, "cost")[0] == pytest.approx(best.objective, abs=1e-9)
    assert (levels > 0).sum() <= settings.max_changes
    if settings.budget is not None:
        assert total(problem, levels, "intensity")[0] <= settings.budget + 1e-9
    for row in problem.rows:
        assert row.values(problem.factors, levels)[0] <= row.upper + 1e-9
    real = leaf_margin(booster, profile(problem, found.levels))[0]
    assert real - problem.logit_before >= problem.need(settings.goal_logit)
    assert found.gain == pytest.approx(real - problem.logit_before, abs=1e-9)


def _tabulated(n_factors: int = 4, n_levels: int = 5):
    """test_routes' additive levers, their surrogate gains given as one-lever tables."""
    problem = _problem(n_factors, n_levels)
    tables = tuple(
        FactorTable((k,), (), np.asarray(f.surrogate_gain)) for k, f in enumerate(problem.factors)
    )
    return dataclasses.replace(problem, tables=tables, trees=())


def test_the_rule_gives_the_route_exact_goals_too_large_to_enumerate():
    problem = _tabulated()
    goal = PrescribeSettings(mode="exact", goal=0.8, max_changes=4, enumeration_limit=100)
    assert choose_route(problem, goal) is COST_BOUND
    small = goal.model_copy(update={"enumeration_limit": 20_000})
    assert choose_route(problem, small).name == "enumeration"
    assert choose_route(problem, goal.model_copy(update={"goal": None})).name == "penalty_bound"
    assert choose_route(problem, goal.model_copy(update={"solver": "mip"})).name == "mip"
    leaves = dataclasses.replace(problem, tables=None, trees=())
    assert choose_route(leaves, goal).name == "mip"  # no tables: declined


def test_too_many_partial_profiles_go_to_the_mip_with_the_same_cost(monkeypatch):
    problem = _tabulated()
    settings = PrescribeSettings(mode="exact", goal=0.9, max_changes=4, enumeration_limit=0)
    searched = find_best(problem, settings)
    monkeypatch.setattr(costbound, "MAX_STATES", 0)
    handed = find_best(problem, settings)
    assert searched.status is SolverStatus.OPTIMAL and handed.status is SolverStatus.OPTIMAL
    cost = [total(problem, np.asarray([f.levels]), "cost")[0] for f in (searched, handed)]
    assert cost[0] == pytest.approx(cost[1], abs=1e-9)
    best = brute_force(problem, settings, gain_of=lambda c: total(problem, c, "surrogate_gain"))
    assert cost[0] == pytest.approx(best.objective, abs=1e-9)
