"""Robust exact prescriptions: factor tables per booster, and the robust optimum
against brute force that asks every booster itself."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_real_surveys import cases

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import ModelSettings, train
from sleeprx.optimize.bruteforce import enumerate_choices
from sleeprx.optimize.factor_tables import (
    compile_tables,
    compile_tables_for_models,
    compile_with_scorers,
    profile_margins,
)
from sleeprx.optimize.problem import FactorChoice, FactorTable, PersonProblem, profile_features
from sleeprx.optimize.robust import RobustProblem, attach_bootstraps, least_count, robust_best
from sleeprx.prescribing.run import prepare_problems
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import load_description, shipped_description_path
from sleeprx.survey.read import read_survey
from sleeprx.utils.errors import ConfigError, SolverError

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy_sleep_survey.csv"


@pytest.fixture(scope="module")
def messy():
    """A small model with four bootstrap boosters on the messy example."""
    description = load_description(shipped_description_path().with_name("messy_sleep.yaml"))
    survey = read_survey(MESSY, description)
    model = train(survey, settings=ModelSettings(n_estimators=30, max_depth=3, bootstrap=4))
    return survey, model


def _boosters(model):
    return [model.booster, *(b.booster for b in model.bootstraps)]


def booster_margins(booster, problem, choices) -> np.ndarray:
    """The booster's own margin (``predict(output_margin=True)``) at each profile."""
    rows = profile_features(problem, choices)
    matrix = xgb.DMatrix(rows, feature_names=booster.feature_names)
    return booster.predict(matrix, output_margin=True).astype(float)


def test_tables_per_booster_are_each_boosters_own(messy):
    survey, model = messy
    frame = survey.frame.iloc[:40]
    plain = prepare_problems(model, frame, PrescribeSettings(mode="surrogate"))
    ensembles = [tree_scorer(b).ensemble for b in _boosters(model)]
    per_person = compile_tables_for_models(list(plain.values()), ensembles, max_cells=24)
    alone = compile_tables(list(plain.values()), ensembles[0], max_cells=24)
    config = PrescribeSettings(mode="exact", max_changes=2)
    for problems, main in zip(per_person, alone, strict=True):
        assert len(problems) == len(ensembles)
        assert [(t.factors, t.trees) for t in problems[0].tables] == [
            (t.factors, t.trees) for t in main.tables
        ]
        for a, b in zip(problems[0].tables, main.tables, strict=True):
            np.testing.assert_array_equal(a.values, b.values)
        choices = enumerate_choices(problems[0], config)
        for problem, booster in zip(problems, _boosters(model), strict=True):
            own = booster_margins(booster, problem, choices)
            np.testing.assert_allclose(profile_margins(problem, choices), own, atol=1e-5)
            now = booster_margins(booster, problem, choices[:1])[0]
            assert problem.logit_before == pytest.approx(now, abs=1e-5)
        assert all(p.goal_margin is None for p in problems[1:])


def _walked_table(ensemble, problem, table) -> np.ndarray:
    """A table recomputed from scratch: each of its trees walked at every cell (the
    booster's rule), summed tree by tree in order from 0.0, as the compile sums them."""
    shape = table.values.shape
    choices = np.zeros((int(np.prod(shape, dtype=int)), len(problem.factors)), dtype=int)
    for axis, k in enumerate(table.factors):
        choices[:, k] = np.indices(shape).reshape(len(shape), -1)[axis]
    rows = profile_features(problem, choices)
    total = np.zeros(len(choices))
    for tree in table.trees:
        total += ensemble.walk(rows, np.arange(len(rows)), np.full(len(rows), tree))
    return total.reshape(shape)


def test_the_batched_compile_gives_each_boosters_own_tables_exactly(messy):
    """All boosters compiled together give, for each booster, bit for bit the tables of
    that booster compiled alone, and each table is its trees walked cell by cell."""
    survey, model = messy
    frame = survey.frame.iloc[40:48]
    plain = list(prepare_problems(model, frame, PrescribeSettings(mode="surrogate")).values())
    ensembles = [tree_scorer(b).ensemble for b in _boosters(model)]
    together = compile_with_scorers(plain, ensembles, max_cells=40)
    for m, ensemble in enumerate(ensembles):
        alone = compile_tables(plain, ensemble, max_cells=40)
        for (own, _), problem in zip(together, alone, strict=True):
            mine = own[m]
            assert [(t.factors, t.trees) for t in mine.tables] == [
                (t.factors, t.trees) for t in problem.tables
            ]
            for table, other in zip(mine.tables, problem.tables, strict=True):
                np.testing.assert_array_equal(table.values, other.values)
                np.testing.assert_array_equal(table.values, _walked_table(ensemble, mine, table))
            assert [t.leaf_nodes for t in mine.trees] == [t.leaf_nodes for t in problem.trees]
            covered = sorted(i for t in mine.tables for i in t.trees)
            assert len(covered) + len(mine.trees) == len(ensemble.trees)


def test_the_scorer_gives_each_boosters_margin_and_no_gain_at_the_status_quo(messy):
    survey, model = messy
    frame = survey.frame.iloc[48:56]
    plain = list(prepare_problems(model, frame, PrescribeSettings(mode="surrogate")).values())
    ensembles = [tree_scorer(b).ensemble for b in _boosters(model)]
    config = PrescribeSettings(mode="exact", max_changes=2)
    for own, scorer in compile_with_scorers(plain, ensembles, max_cells=24):
        choices = enumerate_choices(own[0], config)
        margins = scorer.margins(choices)
        for m, problem in enumerate(own):
            np.testing.assert_allclose(
                margins[:, m], profile_margins(problem, choices), rtol=0, atol=1e-12
            )
        assert (scorer.margins(np.zeros_like(choices[:1]))[0, 1:] == scorer.at_current()[1:]).all()
        assert [p.logit_before for p in own[1:]] == scorer.at_current()[1:].tolist()
        rebuilt = RobustProblem(own[0], own[1:]).table_scorer()
        np.testing.assert_allclose(rebuilt.margins(choices), margins, rtol=0, atol=1e-12)


# -- the robust optimum against brute force over every booster's own predict ------------

LEVER_RANGES = {"sleep_weekday": (4.0, 11.0), "sleep_weekend": (4.0, 11.0), "drinking": (0.0, 7.0)}


@pytest.fixture(scope="module")
def boosters() -> list[xgb.Booster]:
    """Five small boosters on the three levers of the drawn surveys (blanks included):
    the main one and four fitted on bootstrap resamples."""
    rng = np.random.default_rng(3)
    n = 600
    X = np.column_stack([rng.uniform(lo, hi, n) for lo, hi in LEVER_RANGES.values()])
    logit = 1.2 * (X[:, 0] - 7.5) + 0.6 * (X[:, 1] - 8) - 0.5 * X[:, 2] + rng.normal(0, 1.5, n)
    y = (logit > 0).astype(int)
    X[rng.random(X.shape) < 0.1] = np.nan
    out = []
    for b in range(5):
        rows = np.arange(n) if b == 0 else rng.integers(0, n, n)
        matrix = xgb.DMatrix(X[rows], label=y[rows], feature_names=list(LEVER_RANGES))
        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": b}
        out.append(xgb.train(params | {"nthread": 1}, matrix, num_boost_round=12))
    return out


def _exact_problem(problem, booster):
    """``problem`` with its current margin read from the main booster."""
    matrix = xgb.DMatrix(problem.features[None, :], feature_names=list(LEVER_RANGES))
    margin = float(booster.predict(matrix, output_margin=True)[0])
    return dataclasses.replace(problem, logit_before=margin)


def _predicted(boosters, problem, choices) -> np.ndarray:
    """Profiles x models margins, from every booster's own ``predict``."""
    return np.column_stack([booster_margins(b, problem, choices) for b in boosters])


def _ambiguous(values: np.ndarray, at: float = 0.0) -> bool:
    """Whether float32 prediction could fall on either side of ``at``."""
    near = np.abs(values - at) < 1e-4
    return bool((near & (values != at)).any())


def oracle(boosters, problem, config, q: float, statistic: str):
    """Brute force: every allowed profile scored by every booster's ``predict``.
    Returns (levels, value) of the best, value = cost (goal) or objective; or None."""
    choices = enumerate_choices(problem, config)
    margins = _predicted(boosters, problem, choices)
    cost = np.array(
        [sum(f.cost[i] for f, i in zip(problem.factors, c, strict=True)) for c in choices]
    )
    b = len(boosters) - 1
    now = _predicted(boosters, problem, np.zeros_like(choices[:1]))[0]
    if config.goal is not None:
        t = math.log(config.goal / (1 - config.goal))
        assume(not _ambiguous(margins, t) and not _ambiguous(margins[:, 0], now[0]))
        need = math.ceil(Fraction(str(q)) * b)
        ok = (margins[:, 0] >= t) & ((margins[:, 1:] >= t).sum(axis=1) >= need)
        ok &= margins[:, 0] >= now[0]  # never lower the main model's probability
        if not ok.any():
            return None
        best = min(np.flatnonzero(ok), key=lambda j: cost[j])
        return choices[best], cost[best]
    gains = margins - now
    assume(not _ambiguous(gains))
    need = math.ceil(Fraction(str(q)) * (b + 1))
    ranked = np.sort(gains, axis=1)[:, ::-1]
    stat = gains.mean(axis=1) if statistic == "mean" else ranked[:, need - 1]
    # a change gains in enough models, the main one among them
    ok = ((gains > 0).sum(axis=1) >= need) & (gains[:, 0] > 0) | (choices == 0).all(axis=1)
    objective = np.where(ok, stat - config.lam * cost, -np.inf)
    best = int(np.argmax(objective))
    return choices[best], objective[best]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cases(),
    st.sampled_from([0.25, 0.5, 0.7, 0.75, 1.0]),
    st.sampled_from(["mean", "quantile"]),
    st.integers(1, 3),
    st.sampled_from([0.0, 1 / 64, 4 / 64, 8 / 64]),
)
def test_the_robust_optimum_equals_brute_force_over_every_booster(
    boosters, case, q, statistic, k, lam
):
    _, _, problem, config = case
    assume(sum(len(f.levels) > 1 for f in problem.factors) >= 2)  # something to trade
    problem = _exact_problem(problem, boosters[0])
    # light penalties: the drawn boosters' gains are of the order of one log-odds
    update = {"mode": "exact", "robust": q, "robust_statistic": statistic, "max_changes": k}
    config = config.model_copy(update=update | {"lam": lam})
    ensembles = [tree_scorer(b).ensemble for b in boosters]
    own = compile_tables_for_models([problem], ensembles, max_cells=draw_cells(problem))[0]
    found = robust_best(RobustProblem(own[0], own[1:]), config)
    best = oracle(boosters, problem, config, q, statistic)
    if best is None:
        assert found.status == "infeasible" and found.levels is None
        return
    assert found.levels is not None
    levels = np.asarray([found.levels])
    margins = _predicted(boosters, problem, levels)[0]
    cost = sum(f.cost[i] for f, i in zip(problem.factors, found.levels, strict=True))
    assert sum(i > 0 for i in found.levels) <= config.max_changes
    if config.goal is None:
        gains = margins - _predicted(boosters, problem, np.zeros_like(levels))[0]
        need = math.ceil(Fraction(str(q)) * len(boosters))
        assert ((gains > 0).sum() >= need and gains[0] > 0) or not any(found.levels)
        ranked = np.sort(gains)[::-1]
        stat = gains.mean() if statistic == "mean" else ranked[need - 1]
        assert stat - config.lam * cost == pytest.approx(best[1], abs=1e-4)
    else:
        t = math.log(config.goal / (1 - config.goal))
        need = math.ceil(Fraction(str(q)) * (len(boosters) - 1))
        assert margins[0] >= t and (margins[1:] >= t).sum() >= need
        assert margins[0] >= _predicted(boosters, problem, np.zeros_like(levels))[0, 0]
        assert found.support == (margins[1:] >= t).sum()
        assert cost == pytest.approx(best[1], abs=1e-9)
    assert found.gain == pytest.approx(margins[0] - problem.logit_before, abs=1e-5)


def draw_cells(problem) -> int:
    """Small tables for some people, so that pruned trees stand beside the tables."""
    return 4096 if len(problem.factors) % 2 else 3


# -- by hand: one lever with two moves, margins written per model -----------------------


def _hand(margins: list[list[float]], goal_margin: float | None = None) -> RobustProblem:
    """One lever at levels 0, 1, 2 (costs 0, 1, 2); ``margins[m]`` is model m's margin
    at each level, the first model the main one."""
    factor = FactorChoice("f", np.arange(3.0), np.arange(3.0), np.arange(3.0), np.zeros(3))

    def problem(values, goal=None):
        table = FactorTable((0,), (), np.asarray(values, dtype=float))
        return PersonProblem(
            1, (factor,), values[0], np.zeros(1), (0,), tables=(table,), goal_margin=goal
        )

    main, *rest = margins
    return RobustProblem(problem(main, goal_margin), tuple(problem(m) for m in rest))


def _robust(q: float, **values) -> PrescribeSettings:
    base = {"mode": "exact", "max_changes": 1, "min_gain": 0.0, "min_gain_prob": 0.0}
    return PrescribeSettings(**base, robust=q, **values)


GOAL = [[-1, 1, 2], [-1, 1, 1], [-1, -1, 1], [-1, -1, 1], [-1, 1, 1]]  # p >= 0.5: margin 0


@pytest.mark.parametrize(("q", "level", "support"), [(0.5, 1, 2), (0.75, 2, 4), (1.0, 2, 4)])
def test_a_goal_must_hold_in_the_share_of_bootstraps(q, level, support):
    found = robust_best(_hand(GOAL), _robust(q, goal=0.5))
    assert found.levels == (level,)
    assert found.support == support
    assert found.gain == GOAL[0][level] - GOAL[0][0]


def test_a_calibrated_main_model_keeps_its_own_threshold():
    """The main model reaches the goal at its calibrated margin 1.5; refits at 0."""
    found = robust_best(_hand(GOAL, goal_margin=1.5), _robust(0.5, goal=0.5))
    assert found.levels == (2,)


def test_no_profile_held_by_enough_bootstraps_is_infeasible():
    margins = [[-1, 1, 2], [-1, -1, -1], [-1, -1, -1], [-1, 1, 1], [-1, -1, 1]]
    assert robust_best(_hand(margins), _robust(0.75, goal=0.5)).status == "infeasible"


PENALISED = [[0, 3, 0], [0, 3, 0], [0, -0.1, 0], [0, -0.1, 0], [0, -0.1, 0]]


@pytest.mark.parametrize(("q", "level"), [(0.4, 1), (0.5, 0)])
def test_without_a_goal_the_gain_must_be_positive_in_the_share_of_models(q, level):
    """Mean gain 1.14 at level 1, but positive in 2 of 5 models: ceil(0.5 * 5) = 3."""
    found = robust_best(_hand(PENALISED), _robust(q, lam=0.0))
    assert found.levels == (level,)


def test_the_quantile_statistic_is_the_gain_the_share_of_models_reach():
    margins = [[0, 2, 0.9], [0, 3, 0.9], [0, 0.1, 0.8], [0, 0.2, 0.8], [0, 4, 0.9]]
    mean = robust_best(_hand(margins), _robust(0.6, lam=0.0))
    lowest = robust_best(_hand(margins), _robust(0.6, lam=0.0, robust_statistic="quantile"))
    assert mean.levels == (1,) and mean.statistic == pytest.approx(9.3 / 5)
    # third largest of five: 2 at level 1, 0.9 at level 2
    assert lowest.levels == (1,) and lowest.statistic == pytest.approx(2.0)
    assert robust_best(
        _hand(margins), _robust(0.8, lam=0.0, robust_statistic="quantile")
    ).levels == (2,)


def test_least_count_reads_the_share_as_written():
    assert [least_count(q, 10) for q in (0.1, 0.7, 0.9, 1.0)] == [1, 7, 9, 10]
    assert least_count(0.9, 20) == 18 and least_count(0.9, 21) == 19


def test_robust_mode_needs_bootstrap_boosters(boosters):
    with pytest.raises(ConfigError, match=r"ModelSettings\.bootstrap >= 1"):
        attach_bootstraps([], boosters[:1])


def test_a_program_too_large_to_enumerate_is_refused():
    with pytest.raises(SolverError, match=r"3 profiles, more than settings\.enumeration_limit 2"):
        robust_best(_hand(GOAL), _robust(0.5, goal=0.5, enumeration_limit=2))
