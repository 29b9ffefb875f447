"""Robust goal answers found at the least-cost profiles (sleeprx.optimize.robust_screen):
the same answers as the refits' tables, and as brute force over every booster."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_real_surveys import cases
from test_robust import (
    _exact_problem,
    _hand,
    _predicted,
    _robust,
    boosters,  # noqa: F401  (the drawn surveys' boosters, a fixture)
    oracle,
)

import sleeprx.optimize.robust_screen as screen
from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import ModelSettings, train
from sleeprx.optimize.bruteforce import _built, _patterns
from sleeprx.optimize.problem import PersonProblem, profile_features
from sleeprx.optimize.robust import RobustProblem, attach_bootstraps, robust_best
from sleeprx.prescribing.run import prepare_problems
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import load_description, shipped_description_path
from sleeprx.survey.read import read_survey
from sleeprx.utils.errors import SolverError

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy_sleep_survey.csv"


@pytest.fixture(scope="module")
def messy():
    """A small model with six bootstrap boosters on the messy example, and 80 people's
    plain problems."""
    description = load_description(shipped_description_path().with_name("messy_sleep.yaml"))
    survey = read_survey(MESSY, description)
    model = train(survey, settings=ModelSettings(n_estimators=40, max_depth=3, bootstrap=6))
    frame = survey.frame.iloc[::50]
    problems = list(prepare_problems(model, frame, PrescribeSettings(mode="surrogate")).values())
    return model, problems


def _boosters(model):
    return [model.booster, *(b.booster for b in model.bootstraps)]


def _same(screened, compiled, config):
    for a, b in zip(screened, compiled, strict=True):
        x, y = robust_best(a, config), robust_best(b, config)
        assert (x.status, x.levels, x.support) == (y.status, y.levels, y.support)
        if x.levels is not None:
            assert x.gain == pytest.approx(y.gain, abs=1e-12)


@pytest.mark.parametrize(
    ("q", "k", "goal"), [(0.5, 1, 0.6), (0.7, 2, 0.7), (1.0, 3, 0.7), (0.9, 3, 0.8)]
)
def test_the_screen_gives_the_tables_answer(messy, q, k, goal):
    model, problems = messy
    config = PrescribeSettings(
        mode="exact", goal=goal, robust=q, max_changes=k, enumeration_limit=400_000
    )
    every = _boosters(model)
    screened = screen.attach_robust(problems, every, config)
    assert any(p.screened is not None for p in screened)
    _same(screened, attach_bootstraps(problems, every), config)


def test_people_the_screen_leaves_undecided_get_the_tables(messy, monkeypatch):
    """With a screen of 2 profiles a person, people whose answer is further down fall
    back to the tables."""
    model, problems = messy
    monkeypatch.setattr(screen, "SCREEN_ROWS", 2)
    monkeypatch.setattr(screen, "SCREEN_FIRST", 1)
    config = PrescribeSettings(mode="exact", goal=0.7, robust=0.8, max_changes=2)
    every = _boosters(model)
    screened = screen.attach_robust(problems, every, config)
    assert sum(p.scorer is not None for p in screened) >= 5
    _same(screened, attach_bootstraps(problems, every), config)


def test_a_screened_problem_under_other_settings_compiles_its_tables(messy):
    model, problems = messy
    every = _boosters(model)
    asked = PrescribeSettings(mode="exact", goal=0.7, robust=0.8, max_changes=2)
    other = asked.model_copy(update={"goal": 0.6, "robust": 0.5})
    penalised = asked.model_copy(update={"goal": None})
    screened = screen.attach_robust(problems[:10], every, asked)
    compiled = attach_bootstraps(problems[:10], every)
    _same(screened, compiled, other)
    _same(screened, compiled, penalised)


def test_too_many_profiles_is_refused_without_compiling(messy):
    model, problems = messy
    config = PrescribeSettings(mode="exact", goal=0.7, robust=0.8, enumeration_limit=3)
    [problem] = screen.attach_robust(problems[:1], _boosters(model), config)
    assert problem.scorer is None and problem.screened is None
    with pytest.raises(SolverError, match="enumeration_limit 3"):
        robust_best(problem, config)


def test_the_rounding_bound_covers_float32_predict(messy):
    """The band inside which the screen asks the float64 leaf sum: float32 ``predict``
    is never further than the bound from it."""
    model, problems = messy
    rng = np.random.default_rng(0)
    for booster in _boosters(model):
        scorer = tree_scorer(booster)
        rows = np.vstack(
            [
                profile_features(p, [rng.integers(0, len(f.levels)) for f in p.factors])
                for p in problems
            ]
        )
        matrix = xgb.DMatrix(rows, feature_names=booster.feature_names)
        rough = booster.predict(matrix, output_margin=True).astype(float)
        assert np.abs(rough - scorer.margin(rows)).max() <= screen._rounding(scorer)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases(), st.sampled_from([0.25, 0.5, 0.75, 1.0]), st.integers(1, 3))
def test_the_screened_optimum_equals_brute_force_over_every_booster(boosters, case, q, k):  # noqa: F811
    """Blanks, ladders, rules and linear rows of the drawn surveys, through the screen."""
    _, _, problem, config = case
    assume(sum(len(f.levels) > 1 for f in problem.factors) >= 2)
    assume(config.goal is not None)
    problem = _exact_problem(problem, boosters[0])
    config = config.model_copy(update={"mode": "exact", "robust": q, "max_changes": k})
    [robust] = screen.attach_robust([problem], boosters, config)
    found = robust_best(robust, config)
    best = oracle(boosters, problem, config, q, "mean")
    if best is None:
        assert found.status == "infeasible" and found.levels is None
        return
    levels = np.asarray([found.levels])
    cost = sum(f.cost[i] for f, i in zip(problem.factors, found.levels, strict=True))
    assert cost == pytest.approx(best[1], abs=1e-9)
    margins = _predicted(boosters, problem, levels)[0]
    t = math.log(config.goal / (1 - config.goal))
    assert found.support == (margins[1:] >= t).sum()


# -- the policy: a robust answer never lowers the main model's probability ------------


def test_a_goal_answer_never_lowers_the_main_models_probability():
    """Already past the goal under the main model (margin 1), not under the refits.
    Level 1 is cheapest and held by every refit, but the main model scores it lower."""
    margins = [[1, 0.5, 1.5], [-1, 1, 1], [-1, 1, 1], [-1, 1, 1], [-1, 1, 1]]
    found = robust_best(_hand(margins), _robust(1.0, goal=0.5))
    assert found.levels == (2,) and found.gain == 0.5


def test_a_penalised_change_must_gain_in_the_main_model():
    """Level 1: a large mean gain, positive in 4 of 5 models but not in the main one."""
    margins = [[0, -0.5, 0.2], [0, 3, 0.2], [0, 3, 0.2], [0, 3, 0.2], [0, 3, 0.2]]
    found = robust_best(_hand(margins), _robust(0.8, lam=0.0))
    assert found.levels == (2,) and found.gain > 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=7), st.integers(0, 4))
def test_patterns_from_the_box_are_the_patterns_built(sizes, k):
    np.testing.assert_array_equal(_patterns(tuple(sizes), k), _built(tuple(sizes), k))


def test_robust_settings_copied_to_surrogate_mode_give_plain_problems(messy):
    """The pages ask for the problems' structure in surrogate mode with robust settings
    copied (``model_copy`` does not validate): plain problems, not robust ones."""
    model, _ = messy
    survey = read_survey(MESSY, model.description)
    robust = PrescribeSettings(mode="exact", goal=0.7, robust=0.9)
    structure = robust.model_copy(update={"mode": "surrogate"})
    plain = prepare_problems(model, survey.frame.iloc[:3], structure)
    assert all(isinstance(p, PersonProblem) for p in plain.values())
    assert all(
        isinstance(p, RobustProblem)
        for p in prepare_problems(model, survey.frame.iloc[:3], robust).values()
    )
