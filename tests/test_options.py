"""The N best distinct plans (``PrescribeSettings.options``) against brute force.

A small booster is trained once on a drawn survey of the real-survey test description
(two sleep levers on a grid, a drinking ladder); hypothesis draws its policy (rules or
not, a linear constraint or not), a person (blank answers included), a goal or a
penalty, and the route (enumeration or the MIP with no-good cuts). Every table of
``options = 3`` must list, rank by rank, the objectives of a brute-force top 3 over
the profiles the program allows, each scored by the booster's own traversal
(:func:`~sleeprx.prescribing.verify.booster_gain`), under the same minimum gains; and
every row must pass the verifier. The cost-bounded search's own N best (exact goals
too large to enumerate) are checked on test_costbound's drawn boosters the same way.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_costbound import goal_cases
from test_exact import EXACT, booster_gain_of, leaf_margin, profile
from test_real_surveys import LADDER, LEVERS, _description
from test_real_surveys import cases as surrogate_cases

from sleeprx.learn.model import ModelSettings, train
from sleeprx.optimize.bruteforce import enumerate_choices, total
from sleeprx.optimize.costbound import COST_BOUND
from sleeprx.optimize.options import next_best
from sleeprx.optimize.routes import choose_route, find_best
from sleeprx.prescribing.run import plan_person, prepare_problems, prescribe
from sleeprx.prescribing.verify import booster_gain, constraint_violations
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.read import read_survey
from sleeprx.utils.errors import ConfigError

N = 3
TOL = 1e-6
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def drawn_model():
    """A booster on 300 drawn people whose good sleep depends on all three levers."""
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "age": rng.integers(18, 90, n),
            "sex": rng.choice(["Male", "Female"], n),
            "sleep_weekday": rng.integers(8, 22, n) / 2,
            "sleep_weekend": rng.integers(8, 22, n) / 2,
            "drinking": rng.choice(LADDER, n),
        }
    )
    score = (
        -np.abs(frame["sleep_weekday"] - 7.5)
        - 0.5 * np.abs(frame["sleep_weekend"] - 8)
        - 0.3 * frame["drinking"]
        + rng.normal(0, 0.7, n)
    )
    frame["q"] = np.where(score > score.median(), 8, 5)
    survey = read_survey(frame, _description(False, None))
    return train(survey, settings=ModelSettings(n_estimators=30, max_depth=3))


def sometimes_blank(answers: st.SearchStrategy, blank: object = math.nan) -> st.SearchStrategy:
    """``answers``, or ``blank`` one time in four (a person with every lever blank has
    no plan to rank)."""
    return st.sampled_from([False, False, False, True]).flatmap(
        lambda empty: st.just(blank) if empty else answers
    )


@st.composite
def people(draw):
    hours = st.integers(10, 20).map(lambda k: k / 2)  # 5 h .. 10 h, some off the safe range
    return {
        "id": 1,
        "age": draw(sometimes_blank(st.integers(18, 90).map(float))),
        "sex": draw(sometimes_blank(st.sampled_from(["Male", "Female"]), None)),
        "sleep_weekday": draw(sometimes_blank(hours)),
        "sleep_weekend": draw(sometimes_blank(hours)),
        "drinking": draw(sometimes_blank(st.sampled_from(LADDER))),
    }


@st.composite
def programs(draw):
    description = _description(
        draw(st.booleans()),
        draw(st.none() | st.sampled_from([(-2.0, 2.0), (0.0, 1.0), (-1.0, 0.0)])),
    )
    # a goal above the person's chance (set by the test, which knows it), or none
    rise = draw(st.sampled_from([None, 0.05, 0.1, 0.2]))
    minimum = draw(st.booleans())  # the default minimum gains, or none
    config = PrescribeSettings(
        mode="exact",
        options=N,
        max_changes=draw(st.integers(1, 3)),
        lam=draw(st.integers(0, 16)) / 64,
        goal=None if rise is None else 0.5,
        solver=draw(st.sampled_from(["auto", "mip"])),
        **({} if minimum else {"min_gain": 0.0, "min_gain_prob": 0.0}),
    )
    return description, draw(people()), config, rise


def oracle(problem, config: PrescribeSettings, gain: np.ndarray, choices: np.ndarray) -> list:
    """The objectives of the brute-force top N, best first, by the decision policy:
    an empty list when option 1 is no change or infeasible."""
    cost = total(problem, choices, "cost")
    changed = (choices > 0).any(axis=1)
    if config.goal is not None:
        ok = gain >= problem.need(config.goal_logit)
        if not ok.any() or ok[~changed].any():  # unreachable, or reached already
            return []
        return sorted(cost[ok & changed])[:N]
    objective = gain - config.lam * cost
    rise = 1 / (1 + np.exp(-(problem.logit_before + gain))) - 1 / (
        1 + math.exp(-problem.logit_before)
    )
    worth = changed & (objective > config.min_gain) & (rise > config.min_gain_prob)
    best = int(np.argmax(objective))
    if not changed[best] or not worth[best]:
        return []
    return sorted(objective[worth], reverse=True)[:N]


@PROPERTY
@given(programs())
def test_options_are_a_brute_force_top_n_by_the_booster(drawn_model, case):
    description, person, config, rise = case
    model = drawn_model.with_description(description)
    if rise is not None:
        p_before = float(
            model.predict_proba(read_survey(pd.DataFrame([person]), description).frame).iloc[0]
        )
        config = config.model_copy(update={"goal": min(p_before + rise, 0.95)})
    table = prescribe(pd.DataFrame([person]), model, settings=config)
    frame = read_survey(pd.DataFrame([person]), description).frame
    problem = prepare_problems(model, frame, config)[1]
    choices = enumerate_choices(problem, config)
    expected = oracle(problem, config, booster_gain(model, problem)(choices), choices)
    assert table["option"].tolist() == list(range(1, max(len(expected), 1) + 1))
    if not expected:
        assert table["status"].iloc[0] != "changed"
        return
    assert (table["status"] == "changed").all()
    assert table["objective"].to_numpy() == pytest.approx(expected, abs=TOL)
    # the booster's own margin of every listed profile is the one the program planned
    assert table["gain_logit"].to_numpy() == pytest.approx(table["gain_planned"], abs=TOL)
    after = table[[f"{n}_after" for n in LEVERS]].fillna(-1.0)
    assert not after.duplicated().any()  # distinct after-profiles
    assert constraint_violations(table, description, config.max_changes, frame=frame) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(surrogate_cases(), st.integers(1, 6))
def test_the_mip_lists_the_same_objectives_as_enumeration(case, count):
    """No-good cuts and the floors as rows rank the surrogate program's plans as a
    sort of every allowed profile does."""
    _, _, problem, config = case
    first = plan_person(problem, config)
    if first.levels is None:
        return
    by_sort = next_best(
        problem, config.model_copy(update={"solver": "enumeration"}), first.levels, count
    )
    by_cuts = next_best(problem, config.model_copy(update={"solver": "mip"}), first.levels, count)
    scores = [_objective(problem, config, f) for f in by_sort]
    assert [_objective(problem, config, f) for f in by_cuts] == pytest.approx(scores, abs=TOL)
    listed = [f.levels for f in by_sort]
    assert first.levels not in listed and len(set(listed)) == len(listed)
    assert all(any(i > 0 for i in levels) for levels in listed)


def _objective(problem, config: PrescribeSettings, found) -> float:
    cost = sum(f.cost[i] for f, i in zip(problem.factors, found.levels, strict=True))
    return cost if config.goal is not None else found.gain - config.lam * cost


def test_one_option_is_the_table_without_options(drawn_model):
    survey = read_survey(_people_frame(), drawn_model.description)
    one = prescribe(survey, drawn_model)
    three = prescribe(survey, drawn_model, settings=PrescribeSettings(options=N))
    assert "option" not in one.columns
    assert list(three.columns[:2]) == ["person_id", "option"]
    first = three[three["option"].eq(1)].drop(columns="option").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        first.drop(columns="solve_seconds"), one.drop(columns="solve_seconds")
    )
    # a person's rows together, in option order; no-change people keep one row
    for _pid, rows in three.groupby("person_id", sort=False):
        assert rows["option"].tolist() == list(range(1, len(rows) + 1))
        if rows["status"].iloc[0] != "changed":
            assert len(rows) == 1
    assert three["person_id"].drop_duplicates().tolist() == one["person_id"].tolist()


def test_fewer_plans_than_asked_when_the_program_allows_fewer(drawn_model):
    """One lever left to move by one value: a single plan, however many are asked for."""
    person = {
        "id": 1,
        "age": 40.0,
        "sex": "Male",
        "sleep_weekday": 5.5,
        "sleep_weekend": math.nan,
        "drinking": math.nan,
    }
    config = PrescribeSettings(options=5, max_changes=1, lam=0.0, min_gain=0.0, min_gain_prob=0.0)
    table = prescribe(pd.DataFrame([person]), drawn_model, settings=config)
    frame = read_survey(pd.DataFrame([person]), drawn_model.description).frame
    problem = prepare_problems(drawn_model, frame, config)[1]
    gain = total(problem, enumerate_choices(problem, config), "surrogate_gain")
    assert len(table) == max(1, min(5, int((gain[1:] > 0).sum())))


def test_robust_refuses_more_than_one_option():
    with pytest.raises(ValueError, match="options 3 with robust"):
        PrescribeSettings(mode="exact", robust=0.8, options=3)
    with pytest.raises(ConfigError):
        from sleeprx.settings import make_settings

        make_settings(options=0)


def _people_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "id": np.arange(1, 21),
            "age": rng.integers(18, 90, 20),
            "sex": rng.choice(["Male", "Female"], 20),
            "sleep_weekday": rng.integers(8, 22, 20) / 2,
            "sleep_weekend": rng.integers(8, 22, 20) / 2,
            "drinking": rng.choice(LADDER, 20),
        }
    )


@EXACT
@given(goal_cases(), st.floats(0.05, 2.0), st.integers(1, 5))
def test_the_cost_bound_lists_the_cheapest_plans_by_the_booster(case, rise, count):
    """The cost-bounded search's next plans (exact goals too large to enumerate) are
    the cheapest ones reaching the goal by the booster's own traversal; the goal is
    set ``rise`` log-odds above the person, so that most cases need a change."""
    problem, booster, config = case
    goal = min(max(1 / (1 + math.exp(-(problem.logit_before + rise))), 0.01), 0.99)
    config = config.model_copy(update={"goal": goal, "max_changes": len(problem.factors)})
    assert choose_route(problem, config) is COST_BOUND
    first = find_best(problem, config)
    if first.levels is None or not any(first.levels):
        return  # infeasible, or the goal is met already: no options
    listed = next_best(problem, config, first.levels, count)
    assert all(f.status == "optimal" for f in listed)
    choices = enumerate_choices(problem, config)
    gain = booster_gain_of(booster, problem)(choices)
    cost = total(problem, choices, "cost")
    plans = (choices > 0).any(axis=1) & (gain >= problem.need(config.goal_logit))
    plans &= ~(choices == np.asarray(first.levels)).all(axis=1)
    expected = sorted(cost[plans])[:count]
    listed_levels = np.asarray([f.levels for f in listed], dtype=int).reshape(-1, choices.shape[1])
    assert total(problem, listed_levels, "cost") == pytest.approx(expected, abs=1e-9)
    for f in listed:  # each reaches the goal by the booster itself
        real = leaf_margin(booster, profile(problem, f.levels))[0] - problem.logit_before
        assert real >= problem.need(config.goal_logit) and f.gain == pytest.approx(real, abs=1e-9)
