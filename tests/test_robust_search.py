"""The robust bound search against brute force that asks every booster itself, and
against robust enumeration on the messy example's own bootstrap boosters."""

from __future__ import annotations

import math
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_real_surveys import cases
from test_robust import (
    GOAL,
    PENALISED,
    _exact_problem,
    _hand,
    _predicted,
    _robust,
    boosters,  # noqa: F401  (a fixture)
    draw_cells,
    messy,  # noqa: F401  (a fixture)
    oracle,
)

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.optimize import bound_search
from sleeprx.optimize import robust_search as robust_search_module
from sleeprx.optimize.bruteforce import total
from sleeprx.optimize.factor_tables import compile_tables_for_models
from sleeprx.optimize.robust import RobustProblem, robust_best
from sleeprx.optimize.robust_search import robust_optimum, robust_search
from sleeprx.prescribing.run import prepare_problems
from sleeprx.settings import PrescribeSettings


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cases(),
    st.sampled_from([0.25, 0.5, 0.7, 0.75, 1.0]),
    st.sampled_from(["mean", "quantile"]),
    st.integers(1, 3),
    st.sampled_from([0.0, 1 / 64, 4 / 64, 8 / 64]),
    st.none() | st.sampled_from([1.0, 3.0]),
    st.sampled_from([0, bound_search.TREE_CELLS]),
    st.sampled_from([1, 2, None]),
)
def test_the_search_equals_brute_force_over_every_booster(
    boosters,  # noqa: F811
    case,
    q,
    statistic,
    k,
    lam,
    budget,
    tree_cells,
    bounded,
):
    """``tree_cells`` 0: every pruned tree beside the tables is bounded by its reachable
    leaves, not tabulated; ``bounded``: how many models bound the goal's search."""
    _, _, problem, config = case
    assume(sum(len(f.levels) > 1 for f in problem.factors) >= 2)
    problem = _exact_problem(problem, boosters[0])
    update = {"mode": "exact", "robust": q, "robust_statistic": statistic, "max_changes": k}
    config = config.model_copy(update=update | {"lam": lam, "budget": budget})
    ensembles = [tree_scorer(b).ensemble for b in boosters]
    own = compile_tables_for_models([problem], ensembles, max_cells=draw_cells(problem))[0]
    with (
        _patched(bound_search, "TREE_CELLS", tree_cells),
        _patched(robust_search_module, "BOUNDED", bounded),
    ):
        found = robust_search(RobustProblem(own[0], own[1:]), config)
    best = oracle(boosters, problem, config, q, statistic)
    if best is None:
        assert found.status == "infeasible" and found.levels is None
        return
    assert found.status == "optimal" and found.levels is not None
    levels = np.asarray([found.levels])
    margins = _predicted(boosters, problem, levels)[0]
    cost = float(total(problem, levels, "cost")[0])
    assert sum(i > 0 for i in found.levels) <= config.max_changes
    if budget is not None:
        assert float(total(problem, levels, "intensity")[0]) <= budget + 1e-9
    if config.goal is None:
        gains = margins - _predicted(boosters, problem, np.zeros_like(levels))[0]
        need = math.ceil(Fraction(str(q)) * len(boosters))
        assert (gains > 0).sum() >= need or not any(found.levels)
        stat = gains.mean() if statistic == "mean" else np.sort(gains)[::-1][need - 1]
        assert stat - config.lam * cost == pytest.approx(best[1], abs=1e-4)
    else:
        t = math.log(config.goal / (1 - config.goal))
        need = math.ceil(Fraction(str(q)) * (len(boosters) - 1))
        assert margins[0] >= t and (margins[1:] >= t).sum() >= need
        assert found.support == (margins[1:] >= t).sum()
        assert cost == pytest.approx(best[1], abs=1e-9)
    assert found.gain == pytest.approx(margins[0] - problem.logit_before, abs=1e-5)


@pytest.mark.parametrize(("q", "level", "support"), [(0.5, 1, 2), (0.75, 2, 4), (1.0, 2, 4)])
def test_by_hand_a_goal_must_hold_in_the_share_of_bootstraps(q, level, support):
    found = robust_search(_hand(GOAL), _robust(q, goal=0.5))
    assert (found.levels, found.support) == ((level,), support)


@pytest.mark.parametrize(("q", "level"), [(0.4, 1), (0.5, 0)])
def test_by_hand_without_a_goal_the_gain_must_be_positive_in_the_share(q, level):
    assert robust_search(_hand(PENALISED), _robust(q, lam=0.0)).levels == (level,)


def test_the_route_enumerates_small_programs_and_searches_large_ones():
    small = robust_optimum(_hand(GOAL), _robust(0.5, goal=0.5))
    large = robust_optimum(_hand(GOAL), _robust(0.5, goal=0.5, enumeration_limit=2))
    assert (small.status, large.status) == ("enumerated", "optimal")
    assert small.levels == large.levels


@pytest.mark.parametrize(
    "update",
    [
        {"goal": 0.7, "robust": 0.75},
        {"goal": 0.6, "robust": 1.0, "budget": 4.0},
        {"lam": 0.1, "robust": 0.75},
        {"lam": 0.05, "robust": 0.6, "robust_statistic": "quantile"},
    ],
)
def test_the_search_equals_robust_enumeration_on_the_messy_example(messy, update):  # noqa: F811
    """Four bootstrap boosters, 10 levers, K = 3: the linear rows, blanks and fixed
    costs of the messy description included."""
    survey, model = messy
    config = PrescribeSettings(mode="exact", max_changes=3, min_gain=0.0, min_gain_prob=0.0)
    config = config.model_copy(update=update | {"enumeration_limit": 10**9})
    problems = prepare_problems(model, survey.frame.iloc[:25], config)
    for problem in problems.values():
        enumerated = robust_best(problem, config)
        searched = robust_search(problem, config)
        assert (searched.levels is None) == (enumerated.levels is None)
        if enumerated.levels is None:
            continue
        if config.goal is None:
            assert searched.statistic - config.lam * _cost(problem, searched) == pytest.approx(
                enumerated.statistic - config.lam * _cost(problem, enumerated), abs=1e-9
            )
        else:
            assert _cost(problem, searched) == pytest.approx(_cost(problem, enumerated))


@pytest.mark.parametrize("update", [{"goal": 0.7, "robust": 0.75}, {"lam": 0.1, "robust": 0.75}])
def test_trees_too_large_to_tabulate_are_bounded_by_their_reachable_leaves(
    messy,  # noqa: F811
    monkeypatch,
    update,
):
    """Tables of at most 24 cells leave many trees beside them; none is tabulated."""
    monkeypatch.setattr(bound_search, "TREE_CELLS", 0)
    survey, model = messy
    config = PrescribeSettings(
        mode="exact", max_changes=3, min_gain=0.0, min_gain_prob=0.0, max_table_cells=24
    )
    config = config.model_copy(update=update | {"enumeration_limit": 10**9})
    problems = prepare_problems(model, survey.frame.iloc[:25], config)
    assert sum(len(p.main.trees or ()) for p in problems.values()) > 25
    for problem in problems.values():
        enumerated, searched = robust_best(problem, config), robust_search(problem, config)
        assert (searched.levels is None) == (enumerated.levels is None)
        if enumerated.levels is not None and config.goal is not None:
            assert _cost(problem, searched) == pytest.approx(_cost(problem, enumerated))
        elif enumerated.levels is not None:
            assert searched.statistic - config.lam * _cost(problem, searched) == pytest.approx(
                enumerated.statistic - config.lam * _cost(problem, enumerated), abs=1e-9
            )


@contextmanager
def _patched(module, name: str, value):
    """``module.name`` set to ``value`` inside the block (hypothesis runs many examples
    in one test call, so pytest's function-scoped monkeypatch cannot reset it)."""
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _cost(problem: RobustProblem, found) -> float:
    return float(total(problem.main, np.asarray([found.levels]), "cost")[0])
