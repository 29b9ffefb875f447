"""The penalised branch-and-bound route against brute force over the booster itself.

The cases of ``test_costbound`` (small boosters drawn by hypothesis, tables with some
trees left beside them, sometimes a linear row over two levers) without a goal and
with a penalty; the route is made to answer (``enumeration_limit = 0``) and its
objective is compared with brute force scoring every allowed profile by the booster.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_costbound import _tabulated, goal_cases
from test_exact import EXACT, booster_gain_of, leaf_margin, profile

from sleeprx.optimize import bound_search, penalised_search
from sleeprx.optimize.bruteforce import brute_force, total
from sleeprx.optimize.enumeration import table_gain
from sleeprx.optimize.penalised_search import PENALTY_BOUND
from sleeprx.optimize.routes import Sweep, choose_route, find_best
from sleeprx.optimize.states import SolverStatus
from sleeprx.settings import PrescribeSettings


@EXACT
@given(goal_cases(), st.sampled_from([0.0, 0.05, 0.2, 1.0]), st.sampled_from([0, 2]))
def test_the_objective_is_brute_forces_over_the_booster(case, lam, first_changes):
    """``first_changes`` 0: the first incumbent is the status quo, so the bound alone
    must find every better profile."""
    problem, booster, settings = case
    settings = settings.model_copy(update={"goal": None, "lam": lam})
    assert choose_route(problem, settings) is PENALTY_BOUND
    kept = penalised_search.INCUMBENT_CHANGES
    penalised_search.INCUMBENT_CHANGES = first_changes
    try:
        found = find_best(problem, settings)
    finally:
        penalised_search.INCUMBENT_CHANGES = kept
    gain_of = booster_gain_of(booster, problem)
    best = brute_force(problem, settings, gain_of=gain_of)
    assert found.status is SolverStatus.OPTIMAL
    levels = np.asarray([found.levels])
    assert (levels > 0).sum() <= settings.max_changes
    if settings.budget is not None:
        assert total(problem, levels, "intensity")[0] <= settings.budget + 1e-9
    for row in problem.rows:
        assert row.values(problem.factors, levels)[0] <= row.upper + 1e-9
    real = leaf_margin(booster, profile(problem, found.levels))[0] - problem.logit_before
    objective = real - lam * total(problem, levels, "cost")[0]
    assert objective == pytest.approx(best.objective, abs=1e-9)
    assert found.gain == pytest.approx(real, abs=1e-9)


def test_the_rule_gives_the_route_penalised_programs_too_large_to_enumerate():
    problem = _tabulated()
    settings = PrescribeSettings(mode="exact", lam=0.1, max_changes=4, enumeration_limit=100)
    assert choose_route(problem, settings) is PENALTY_BOUND
    small = settings.model_copy(update={"enumeration_limit": 20_000})
    assert choose_route(problem, small).name == "enumeration"
    assert choose_route(problem, settings, sweep=True).name == "mip"
    assert Sweep(problem, settings).route.name == "mip"
    assert choose_route(problem, settings.model_copy(update={"mode": "surrogate"})).name != (
        PENALTY_BOUND.name
    )


def test_too_many_partial_profiles_go_to_the_mip_with_the_same_objective(monkeypatch):
    problem = _tabulated()
    settings = PrescribeSettings(mode="exact", lam=0.3, max_changes=4, enumeration_limit=0)

    def objective(found) -> float:
        levels = np.asarray([found.levels])
        return found.gain - settings.lam * total(problem, levels, "cost")[0]

    searched = find_best(problem, settings)
    monkeypatch.setattr(bound_search, "MAX_STATES", 0)
    handed = find_best(problem, settings)
    assert objective(searched) == pytest.approx(objective(handed), abs=1e-9)
    best = brute_force(problem, settings, gain_of=table_gain(problem))
    assert objective(searched) == pytest.approx(best.objective, abs=1e-9)
