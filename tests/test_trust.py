"""Half adherence and the trust region, against brute force with the real model.

Tiny boosters and trust regions are fitted inside the tests on data drawn by
hypothesis; every optimum under ``require_half`` / ``require_plausible`` is checked
against a scan of every profile scored by the booster's own traversal and, for the
isolation forest, by scikit-learn's own ``score_samples``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import IsolationForest
from test_exact import leaf_margin

from sleeprx.analysis.report import _trust_lines
from sleeprx.learn.ensemble import read_ensemble, tree_scorer
from sleeprx.learn.model import ModelSettings, load_model, save_model, train
from sleeprx.learn.trust import fit_trust_region
from sleeprx.optimize.factor_tables import compile_tables
from sleeprx.optimize.filters import HalfHolds, InRegion, half_way
from sleeprx.optimize.problem import FactorChoice, PersonProblem, allowed_levels, steps_between
from sleeprx.optimize.routes import find_best
from sleeprx.prescribing import columns
from sleeprx.prescribing.policy import plan_person
from sleeprx.prescribing.run import prepare_problems, prescribe
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import Direction, ModifiableFactor
from sleeprx.utils.errors import ArtifactError, ConfigError, SolverError

TRUST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# -- half-way, by hand ------------------------------------------------------------------


def lever(**kw) -> ModifiableFactor:
    base = {"column": "x", "label": "x", "max_change": 10, "fixed_cost": 0}
    return ModifiableFactor(**(base | kw))


def test_half_way_rounds_toward_the_current_value_on_the_grid():
    grid = lever(lower=0, upper=10, step=1)
    assert half_way(grid, 4, [4, 5, 6, 7, 8, 3, 2, 1]).tolist() == [4, 4, 5, 5, 6, 4, 3, 3]
    off = lever(lower=0, upper=10, step=1)  # an answer between two grid points
    assert half_way(off, 4.5, [6, 7, 2, 1]).tolist() == [5, 5, 4, 3]


def test_half_way_counts_rungs_on_a_ladder():
    ladder = lever(levels=(0, 1, 5, 20, 50), max_change=4)
    assert half_way(ladder, 1, [5, 20, 50, 0]).tolist() == [1, 5, 5, 1]


# -- tiny problems with a real booster and a real trust region --------------------------


def oracle_half(factor: ModifiableFactor, current: float, value: float) -> float:
    """Half-way by scanning the grid: the rung farthest from ``current`` whose position
    is at most half-way to ``value``'s."""
    p = factor.position
    best = current
    for g in factor.grid:
        closer = abs(p(g) - p(current)) <= abs(p(value) - p(current)) / 2 + 1e-9
        same_side = (g - current) * (value - current) > 1e-12
        if same_side and closer and abs(g - current) > abs(best - current):
            best = float(g)
    return best


@st.composite
def tiny_cases(draw):
    """A booster and a trust region on 2-3 levers and one immutable column, one person
    and their problem (surrogate gains drawn; exact mode's tables compiled)."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    levers = []
    for j in range(draw(st.integers(2, 3))):
        step = draw(st.sampled_from([1.0, 0.5]))
        size = draw(st.integers(4, 8))
        start = draw(st.integers(-3, 3)) * step
        levers.append(
            lever(
                column=f"f{j}",
                lower=start,
                upper=start + step * (size - 1),
                step=step,
                max_change=step * draw(st.integers(1, size - 1)),
                fixed_cost=draw(st.sampled_from([0.0, 0.5])),
                direction=draw(st.sampled_from(list(Direction))),
            )
        )
    n_rows = draw(st.integers(40, 90))
    X = np.column_stack(
        [rng.choice(f.grid, n_rows) for f in levers] + [rng.integers(0, 3, n_rows).astype(float)]
    )
    signal = X[:, : len(levers)].sum(axis=1) + rng.normal(0, 1, n_rows)
    y = (signal > np.median(signal)).astype(int)
    booster = (
        xgb.XGBClassifier(n_estimators=draw(st.integers(3, 12)), max_depth=2, n_jobs=1)
        .fit(X, y)
        .get_booster()
    )
    names = [f.column for f in levers] + ["fixed"]
    method = draw(st.sampled_from(["isolation_forest", "knn"]))
    region = fit_trust_region(X, names, names[:-1], method=method, seed=seed)
    x = X[draw(st.integers(0, n_rows - 1))].copy()
    factors = []
    for j, f in enumerate(levers):
        if draw(st.booleans()):  # an answer off the grid, inside its range
            x[j] = min(x[j] + f.step * 0.4, f.safe_upper)
        levels = allowed_levels(f, x[j])
        intensity = steps_between(f, levels, x[j])
        cost = f.fixed_cost * (np.arange(len(levels)) > 0) + intensity
        gains = np.concatenate([[0.0], rng.normal(0, 1, len(levels) - 1)])
        factors.append(FactorChoice(f.column, levels, cost, intensity, gains))
    problem = PersonProblem(
        0,
        tuple(factors),
        float(leaf_margin(booster, x)[0]),
        x,
        tuple(range(len(levers))),
    )
    if draw(st.booleans()):
        problem = compile_tables([problem], read_ensemble(booster))[0]
    return problem, levers, booster, region, X, seed


def oracle_best(problem, levers, booster, region, X, seed, config):
    """The optimum by scanning every profile, with the booster's traversal and (for the
    isolation forest) scikit-learn's own score."""
    choices = np.array(list(itertools.product(*(range(len(f.levels)) for f in problem.factors))))
    choices = choices[(choices > 0).sum(axis=1) <= config.max_changes]
    values = np.column_stack([f.levels[choices[:, j]] for j, f in enumerate(problem.factors)])
    rows = np.repeat(problem.features[None, :], len(choices), axis=0)
    rows[:, : len(levers)] = values
    status_quo = ~(choices > 0).any(axis=1)
    ok = np.ones(len(choices), dtype=bool)
    if config.require_half:
        half = rows.copy()
        for j, f in enumerate(levers):
            half[:, j] = [oracle_half(f, problem.features[j], v) for v in values[:, j]]
        margin = leaf_margin(booster, half)
        need = logit(config.goal) if config.goal is not None else None
        holds = margin >= need if need is not None else margin > problem.logit_before + 1e-9
        ok &= status_quo | holds
    if config.require_plausible:
        cols = list(region.columns)
        train_rows = X[:, cols]
        if region.method == "isolation_forest":
            forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=1)
            score = forest.fit(train_rows).score_samples(rows[:, cols])
        else:
            center, scale = train_rows.mean(axis=0), train_rows.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
            z, t = (rows[:, cols] - center) / scale, (train_rows - center) / scale
            dist = np.sqrt(((z[:, None, :] - t[None]) ** 2).sum(axis=2))
            score = -np.sort(dist, axis=1)[:, min(5, len(t)) - 1]
        ok &= status_quo | (score - region.threshold >= -1e-9)
    if config.mode == "exact":
        gain = leaf_margin(booster, rows) - problem.logit_before
    else:
        gain = sum(f.surrogate_gain[choices[:, j]] for j, f in enumerate(problem.factors))
    cost = sum(f.cost[choices[:, j]] for j, f in enumerate(problem.factors))
    if config.goal is None:
        objective = np.where(ok, gain - config.lam * cost, -np.inf)
        return choices, ok, float(objective.max())
    ok &= gain >= logit(config.goal) - problem.logit_before
    return choices, ok, (float(cost[ok].min()) if ok.any() else None)


@TRUST
@given(tiny_cases(), st.data())
def test_the_optimum_under_the_filters_is_brute_forces(case, data):
    problem, levers, booster, region, X, seed = case
    exact = problem.tables is not None
    config = PrescribeSettings(
        mode="exact" if exact else "surrogate",
        max_changes=data.draw(st.integers(1, len(levers))),
        lam=data.draw(st.sampled_from([0.0, 0.1, 0.5])),
        goal=data.draw(st.none() | st.floats(0.2, 0.9)),
        require_half=data.draw(st.booleans()),
        require_plausible=data.draw(st.booleans()),
        min_gain=0.0,
        min_gain_prob=0.0,
    )
    filters = []
    if config.require_half:
        half = tuple(
            half_way(f, problem.features[j], c.levels)
            for j, (f, c) in enumerate(zip(levers, problem.factors, strict=True))
        )
        need = None if config.goal is None else logit(config.goal)
        filters.append(HalfHolds(half, tree_scorer(booster).margin, need))
    if config.require_plausible:
        filters.append(InRegion(region.inside))
    problem = dataclasses.replace(problem, filters=tuple(filters))
    found = find_best(problem, config)
    choices, ok, best = oracle_best(problem, levers, booster, region, X, seed, config)
    if best is None:
        assert found.levels is None
        return
    assert found.levels is not None
    row = int(np.flatnonzero((choices == found.levels).all(axis=1))[0])
    assert ok[row]  # the answer meets every filter, by the oracle's own scores
    pick = list(zip(problem.factors, found.levels, strict=True))
    cost = sum(f.cost[i] for f, i in pick)
    objective = cost if config.goal is not None else found.gain - config.lam * cost
    assert objective == pytest.approx(best, abs=1e-6)


def test_the_mip_refuses_a_filtered_program(small_model, survey):
    config = PrescribeSettings(require_half=True, solver="mip")
    problem = prepare_problems(small_model, survey.frame.iloc[:1], config)
    with pytest.raises(SolverError, match=r"settings.require_half is enforced by enumeration"):
        plan_person(next(iter(problem.values())), config)


# -- the trust region, saved and loaded -------------------------------------------------


@pytest.fixture(scope="module", params=["isolation_forest", "knn"])
def trusted(request, survey):
    settings = ModelSettings(n_estimators=30, max_depth=3, trust_region=request.param)
    return train(survey, settings=settings)


def test_an_isolation_forest_parsed_scores_as_scikit_learn(survey):
    X = survey.frame[list(survey.description.modifiable_names)].dropna().to_numpy(float)
    names = list(survey.description.modifiable_names)
    region = fit_trust_region(X, names, names, method="isolation_forest", seed=7)
    forest = IsolationForest(n_estimators=100, random_state=7, n_jobs=1).fit(X)
    probe = X + np.random.default_rng(0).normal(0, 1, X.shape)
    np.testing.assert_array_equal(region.score.raw(probe), forest.score_samples(probe))
    assert np.mean(region.inside(X)) >= region.coverage


def test_a_trust_region_survives_save_and_load_without_pickle(trusted, survey, tmp_path):
    folder = save_model(trusted, tmp_path / "m")
    assert {p.suffix for p in folder.rglob("*") if p.is_file()} == {".json"}
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["trust_region"]["method"] == trusted.settings.trust_region
    loaded = load_model(folder)
    rows = trusted.encode(survey.frame).to_numpy(float)
    np.testing.assert_array_equal(
        loaded.trust_region.plausibility(rows), trusted.trust_region.plausibility(rows)
    )
    meta["trust_region"]["names"] = ["bogus"] * len(meta["trust_region"]["names"])
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="trust_region"):
        load_model(folder)
    del meta["trust_region"]
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="trust_region record is missing"):
        load_model(folder)


# -- the table --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["surrogate", "exact"])
def test_every_answer_with_the_options_on_meets_them(trusted, survey, mode):
    ids = list(survey.frame.index[::6])
    on = PrescribeSettings(mode=mode, require_half=True, require_plausible=True)
    table = prescribe(survey, trusted, settings=on, ids=ids)
    assert list(table.columns[-2:]) == [columns.HOLDS_AT_HALF, columns.PLAUSIBILITY]
    changed = table[table["status"].eq(Status.CHANGED)]
    assert len(changed) and changed[columns.HOLDS_AT_HALF].all()
    assert (changed[columns.PLAUSIBILITY] >= -1e-9).all()
    off = prescribe(
        survey, trusted, settings=PrescribeSettings(mode=mode, report_half=True), ids=ids
    )
    moved = off[off["status"].eq(Status.CHANGED)]
    # the options cost something: without them some answers fail one of the two
    assert (~moved[columns.HOLDS_AT_HALF].astype(bool) | (moved[columns.PLAUSIBILITY] < 0)).any()
    lines = _trust_lines(PrescribeSettings(), moved)
    assert lines[0].startswith("- changed people outside the trust region (constraint off)")


def test_the_columns_stay_as_they_were_without_the_options(small_model, survey):
    table = prescribe(survey, small_model, ids=list(survey.frame.index[:5]))
    assert list(table.columns) == columns.names(survey.description.modifiable_names)


def test_holds_at_half_is_the_real_models_verdict(small_model, survey):
    ids = list(survey.frame.index[::5])
    table = prescribe(survey, small_model, settings=PrescribeSettings(report_half=True), ids=ids)
    changed = table[table["status"].eq(Status.CHANGED)].set_index("person_id")
    assert table.loc[table["status"].ne(Status.CHANGED), columns.HOLDS_AT_HALF].isna().all()
    half = survey.frame.loc[changed.index].copy()
    for f in survey.description.modifiable:
        half[f.column] = [
            oracle_half(f, b, a)
            for b, a in zip(
                changed[f"{f.column}_before"], changed[f"{f.column}_after"], strict=True
            )
        ]
    real = small_model.margin(half) > small_model.margin(survey.frame.loc[changed.index])
    pd.testing.assert_series_equal(
        changed[columns.HOLDS_AT_HALF].astype(bool), real, check_names=False
    )


def test_require_plausible_needs_a_trust_region(small_model, survey):
    with pytest.raises(ConfigError, match=r"ModelSettings\.trust_region"):
        prescribe(survey, small_model, settings=PrescribeSettings(require_plausible=True), ids=[1])
