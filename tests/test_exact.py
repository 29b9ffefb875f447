"""Exact mode against the booster itself.

Small XGBoost models are trained inside the tests on synthetic data drawn by
hypothesis; every answer of exact mode is checked against the booster's own traversal
(``pred_leaf``), with the leaf values summed in float64, never against sleeprx's
reading of the trees alone.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import xgboost as xgb
from conftest import fixed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleeprx.learn.ensemble import WALK_ROWS, prune_for_person, read_ensemble, tree_scorer
from sleeprx.learn.explain import explain
from sleeprx.optimize.bruteforce import brute_force
from sleeprx.optimize.factor_tables import compile_tables
from sleeprx.optimize.formulation import build_program
from sleeprx.optimize.problem import FactorChoice, PersonProblem
from sleeprx.optimize.solver import solve
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.prescribing.verify import booster_gain
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ModelMismatchError

TOL = 1e-6
EXACT = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# -- the booster's own answer -----------------------------------------------------------


def leaf_margin(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """Margin from the leaves the booster's traversal picks, summed in float64.

    Leaf values and the base score are read from the booster's JSON here, not through
    :func:`sleeprx.learn.ensemble.read_ensemble`.
    """
    raw = json.loads(booster.save_raw(raw_format="json"))
    config = json.loads(booster.save_config())
    p = float(np.float32(config["learner"]["learner_model_param"]["base_score"].strip("[]")))
    trees = raw["learner"]["gradient_booster"]["model"]["trees"]
    leaves = booster.predict(xgb.DMatrix(np.atleast_2d(X)), pred_leaf=True).astype(int)
    leaves = leaves.reshape(len(np.atleast_2d(X)), len(trees))
    total = np.full(len(leaves), logit(p))
    for t, tree in enumerate(trees):
        values = np.asarray(tree["split_conditions"], dtype=np.float32).astype(float)
        total += values[leaves[:, t]]
    return total


def booster_gain_of(booster, problem: PersonProblem):
    """``gain_of`` for brute force: profiles scored by :func:`leaf_margin`."""

    def gain_of(choices: np.ndarray) -> np.ndarray:
        X = np.repeat(problem.features[None, :], len(choices), axis=0)
        for j, (f, col) in enumerate(zip(problem.factors, problem.factor_features, strict=True)):
            X[:, col] = f.levels[choices[:, j]]
        return leaf_margin(booster, X) - problem.logit_before

    return gain_of


def profile(problem: PersonProblem, levels) -> np.ndarray:
    x = problem.features.copy()
    for f, col, i in zip(problem.factors, problem.factor_features, levels, strict=True):
        x[col] = f.levels[i]
    return x


# -- small random boosters --------------------------------------------------------------


def thresholds(booster: xgb.Booster, feature: int) -> list[float]:
    raw = json.loads(booster.save_raw(raw_format="json"))
    out = set()
    for tree in raw["learner"]["gradient_booster"]["model"]["trees"]:
        for left, f, t in zip(
            tree["left_children"], tree["split_indices"], tree["split_conditions"], strict=True
        ):
            if left != -1 and f == feature:
                out.add(float(np.float32(t)))
    return sorted(out)


@st.composite
def booster_problems(draw):
    """A tiny booster on 2-3 grid features and one immutable feature, and one person.

    The trees are given to the program as leaf variables, as factor tables, or both.
    A person's levels (at most six besides the current value) are taken first from the
    split thresholds on the factor (a level exactly on a threshold goes right), then
    sometimes the float32 just below a threshold (goes left), then the grid.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_factors = draw(st.integers(2, 3))
    grids = []
    for _ in range(n_factors):
        step = draw(st.sampled_from([1.0, 0.25, 0.1]))
        start = draw(st.integers(-4, 4))
        size = draw(st.integers(3, 8))
        grids.append(np.round((start + np.arange(size)) * step, 10))
    n_rows = draw(st.integers(30, 80))
    X = np.column_stack(
        [rng.choice(g, n_rows) for g in grids] + [rng.integers(0, 4, n_rows).astype(float)]
    )
    if draw(st.booleans()):
        X[rng.random(n_rows) < 0.2, -1] = np.nan
    y = rng.integers(0, 2, n_rows)
    y[:2] = [0, 1]
    model = xgb.XGBClassifier(
        n_estimators=draw(st.integers(3, 15)),
        max_depth=draw(st.integers(2, 3)),
        learning_rate=draw(st.sampled_from([0.3, 0.7, 1.0])),
        tree_method=draw(st.sampled_from(["hist", "exact", "approx"])),
        min_child_weight=0.0,
        reg_lambda=draw(st.sampled_from([0.0, 1.0])),
        n_jobs=1,
        random_state=seed % 2**31,
    ).fit(X, y)
    booster = model.get_booster()
    ensemble = read_ensemble(booster)

    x = X[draw(st.integers(0, n_rows - 1))].copy()
    if draw(st.booleans()):
        x[-1] = draw(st.sampled_from([0.0, 1.5, 3.0, 7.0, math.nan]))
    factors, levels_of = [], []
    for j, grid in enumerate(grids):
        cuts = thresholds(booster, j)
        below = [float(np.nextafter(np.float32(t), np.float32(-np.inf))) for t in cuts]
        just_below = draw(st.lists(st.sampled_from(below), max_size=2) if below else st.just([]))
        # thresholds first, so that the cut to at most six levels rarely drops them all
        others = draw(st.permutations(cuts)) + just_below + draw(st.permutations(list(grid)))
        others = [v for v in dict.fromkeys(others) if np.float32(v) != np.float32(x[j])]
        others = others[: draw(st.integers(1, 6))]
        levels = np.asarray([x[j], *others])
        intensity = np.abs(levels - x[j]) / (grid[1] - grid[0])
        cost = np.asarray([0.0] + [draw(st.integers(1, 128)) / 64 for _ in others])
        factors.append(FactorChoice(f"f{j}", levels, cost, intensity, np.zeros(len(levels))))
        levels_of.append(levels)

    idx = tuple(range(n_factors))
    leaves = booster.predict(xgb.DMatrix(x[None, :]), pred_leaf=True)
    problem = PersonProblem(
        person_id=0,
        factors=tuple(factors),
        logit_before=float(ensemble.margin_from_leaves(leaves)[0]),
        features=x,
        factor_features=idx,
        trees=tuple(prune_for_person(ensemble, x, idx, tuple(levels_of))),
        base_margin=ensemble.base_margin,
    )
    # The trees enter as leaf variables, as factor tables, or as a mix of both.
    max_cells = draw(st.sampled_from([None, 4096, 6]))
    if max_cells is not None:
        # tables filled by sleeprx's own walk of the trees; the answers are checked
        # against the booster's traversal below
        problem = dataclasses.replace(problem, trees=None)
        problem = compile_tables([problem], ensemble, max_cells=max_cells)[0]
    return problem, booster


@st.composite
def exact_settings(draw, problem: PersonProblem, *, goal: bool):
    n = len(problem.factors)
    most = sum(float(f.intensity.max()) for f in problem.factors)
    return PrescribeSettings(
        mode="exact",
        max_changes=draw(st.integers(0, n)),
        lam=draw(st.just(0.0) | st.integers(0, 64).map(lambda k: k / 64)),
        budget=draw(st.none() | st.floats(0, most + 1)),
        goal=draw(st.floats(0.05, 0.95)) if goal else None,
        min_gain=0.0,
        min_gain_prob=0.0,
    )


@EXACT
@given(booster_problems(), st.data())
def test_exact_optimum_equals_brute_force_over_the_booster(case, data):
    problem, booster = case
    config = data.draw(exact_settings(problem, goal=data.draw(st.booleans())))
    program = build_program(problem, config)
    solution = solve(program.model, config)
    best = brute_force(problem, config, gain_of=booster_gain_of(booster, problem))
    if best.levels is None:
        assert solution.termination == "infeasible"
        return
    assert solution.termination == "optimal"
    assert program.model.violations(solution.x) == []
    assert solution.objective == pytest.approx(best.objective, abs=TOL)
    levels = program.chosen_levels(solution.x)
    assert sum(i > 0 for i in levels) <= config.max_changes
    real = leaf_margin(booster, profile(problem, levels))[0]
    assert problem.logit_before + program.gain.evaluate(solution.x) == pytest.approx(real, abs=1e-9)


@EXACT
@given(booster_problems(), st.data())
def test_planned_margin_is_the_boosters_margin(case, data):
    """Plan.margin_mip equals the float64 leaf sum of the prescribed profile."""
    problem, booster = case
    config = data.draw(exact_settings(problem, goal=data.draw(st.booleans())))
    plan = plan_person(problem, config)
    if plan.levels is None:
        return
    real = leaf_margin(booster, profile(problem, plan.levels))[0]
    assert plan.margin_mip == pytest.approx(real, abs=1e-9)
    assert plan.gain_planned == pytest.approx(real - problem.logit_before, abs=1e-9)
    if config.goal is not None:
        assert real >= logit(config.goal) - 1e-9


@EXACT
@given(booster_problems(), st.data())
def test_fixed_decisions_score_what_the_booster_scores(case, data):
    """Fixing z at the current values gives zero gain; at any profile, its real gain."""
    problem, booster = case
    config = PrescribeSettings(mode="exact", max_changes=len(problem.factors), lam=0.0)
    program = build_program(problem, config)
    current = (0,) * len(problem.factors)
    at_current = solve(fixed(program, current), config)
    assert at_current.termination == "optimal"
    assert program.gain.evaluate(at_current.x) == pytest.approx(0.0, abs=1e-9)
    assert at_current.objective == pytest.approx(0.0, abs=1e-9)

    levels = tuple(data.draw(st.integers(0, len(f.levels) - 1)) for f in problem.factors)
    anywhere = solve(fixed(program, levels), config)
    real = leaf_margin(booster, profile(problem, levels))[0] - problem.logit_before
    assert anywhere.objective == pytest.approx(real, abs=1e-9)
    assert program.gain.evaluate(anywhere.x) == pytest.approx(real, abs=1e-9)


# -- the shipped survey -----------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped(survey, small_model):
    """Thirty people of the shipped survey, their exact and surrogate problems."""
    frame = survey.frame.iloc[:: max(1, len(survey.frame) // 30)].iloc[:30]
    explanation = explain(small_model, survey.frame)
    out = {}
    for mode in ("exact", "surrogate"):
        config = PrescribeSettings(
            mode=mode, max_changes=2, lam=0.1, min_gain=0.0, min_gain_prob=0.0
        )
        problems = prepare_problems(small_model, frame, config, explanation=explanation)
        out[mode] = problems
    return out


def test_exact_optimum_equals_brute_force_on_the_shipped_survey(shipped, small_model):
    config = PrescribeSettings(
        mode="exact", max_changes=2, lam=0.1, min_gain=0.0, min_gain_prob=0.0
    )
    assert len(shipped["exact"]) == 30
    for pid, problem in shipped["exact"].items():
        program = build_program(problem, config)
        solution = solve(program.model, config)
        best = brute_force(problem, config, gain_of=booster_gain(small_model, problem))
        assert solution.termination == "optimal", pid
        assert solution.objective == pytest.approx(best.objective, abs=TOL), pid
        levels = program.chosen_levels(solution.x)
        margin = problem.logit_before + program.gain.evaluate(solution.x)
        real = tree_scorer(small_model.booster).margin(profile(problem, levels)[None, :])[0]
        assert margin == pytest.approx(real, abs=1e-9), pid


@pytest.mark.parametrize("goal", [0.8, 0.97])
def test_exact_goal_mode_on_the_shipped_survey(shipped, small_model, goal):
    config = PrescribeSettings(mode="exact", max_changes=2, goal=goal)
    for pid, problem in shipped["exact"].items():
        plan = plan_person(problem, config)
        best = brute_force(problem, config, gain_of=booster_gain(small_model, problem))
        if best.levels is None:
            assert plan.status == "infeasible", pid
            continue
        assert plan.objective == pytest.approx(best.objective, abs=TOL), pid
        assert plan.margin_mip >= logit(goal) - 1e-9


def test_exact_is_never_worse_than_the_surrogate_under_the_real_model(shipped, small_model):
    config = PrescribeSettings(max_changes=2, lam=0.1, min_gain=0.0, min_gain_prob=0.0)
    for pid, exact_problem in shipped["exact"].items():
        surrogate_problem = shipped["surrogate"][pid]
        real = booster_gain(small_model, exact_problem)

        def true_objective(levels, problem=exact_problem, real=real):
            cost = sum(f.cost[i] for f, i in zip(problem.factors, levels, strict=True))
            return real(np.asarray([levels]))[0] - config.lam * cost

        by_surrogate = plan_person(surrogate_problem, config)
        by_exact = plan_person(exact_problem, config.model_copy(update={"mode": "exact"}))
        assert true_objective(by_exact.levels) >= true_objective(by_surrogate.levels) - 1e-9, pid
        assert by_exact.objective == pytest.approx(true_objective(by_exact.levels), abs=1e-9)


# -- reading the booster ----------------------------------------------------------------


def _fit(base_score=None, positives=0.7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 5, size=(80, 3)).astype(float)
    y = (rng.random(80) < positives).astype(int)
    kwargs = {} if base_score is None else {"base_score": base_score}
    return xgb.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1, **kwargs).fit(X, y), X


def test_base_margin_is_the_logit_of_base_score():
    model, X = _fit(positives=0.7)
    booster = model.get_booster()
    raw = json.loads(booster.save_config())["learner"]["learner_model_param"]["base_score"]
    p = float(raw.strip("[]"))
    assert 0.55 < p < 0.85, raw  # estimated from the labels, not the old 0.5 default
    ensemble = read_ensemble(booster)
    assert ensemble.base_margin == pytest.approx(logit(p), abs=1e-6)
    # the booster agrees (it sums in float32)
    leaves = booster.predict(xgb.DMatrix(X), pred_leaf=True)
    own = booster.predict(xgb.DMatrix(X), output_margin=True)
    np.testing.assert_allclose(ensemble.margin_from_leaves(leaves), own, atol=1e-5)
    np.testing.assert_allclose(ensemble.margin_from_leaves(leaves), leaf_margin(booster, X))


@pytest.mark.parametrize("base_score", [0.3, 0.5, 0.9])
def test_base_margin_of_a_given_base_score(base_score):
    model, _ = _fit(base_score=base_score)
    assert read_ensemble(model.get_booster()).base_margin == pytest.approx(
        logit(base_score), abs=1e-6
    )


class _Rewritten:
    """A booster whose config writes base_score in another format."""

    def __init__(self, booster, text):
        self.booster, self.text = booster, text

    def save_raw(self, raw_format):
        return self.booster.save_raw(raw_format=raw_format)

    def save_config(self):
        config = json.loads(self.booster.save_config())
        config["learner"]["learner_model_param"]["base_score"] = self.text
        return json.dumps(config)


@pytest.mark.parametrize("text", ["[6.87E-1]", "6.87E-1", "0.687", "[0.687]"])
def test_base_score_formats(text):
    model, _ = _fit()
    ensemble = read_ensemble(_Rewritten(model.get_booster(), text))
    assert ensemble.base_margin == pytest.approx(logit(0.687), abs=1e-6)


def test_only_binary_logistic_is_read():
    rng = np.random.default_rng(1)
    X = rng.random((40, 2))
    y = rng.integers(0, 2, 40)
    model = xgb.XGBClassifier(n_estimators=2, objective="binary:logitraw", n_jobs=1).fit(X, y)
    with pytest.raises(ModelMismatchError, match="binary:logistic"):
        read_ensemble(model.get_booster())


def test_vectorised_dependencies_match_the_pruned_trees(survey, small_model, model):
    """The bitmask walk over all trees at once finds the same factors as pruning."""
    from sleeprx.learn.ensemble import dependencies

    settings = PrescribeSettings(mode="exact", tree_encoding="leaves")
    for booster_model in (small_model, model):
        problems = prepare_problems(booster_model, survey.frame.iloc[::5], settings)
        for problem in problems.values():
            levels = tuple(f.levels for f in problem.factors)
            masks = dependencies(
                tree_scorer(booster_model.booster).ensemble,
                problem.features,
                problem.factor_features,
                levels,
            )
            expected = [sum(1 << k for k in tree.factors) for tree in problem.trees]
            assert masks.tolist() == expected


def _random_rows(rng: np.random.Generator, *, rows: int, features: int) -> np.ndarray:
    """Rows rounded to 0.1, so that values land on the trees' thresholds, with a fifth
    of the cells blank."""
    X = np.round(rng.normal(size=(rows, features)), 1)
    X[rng.random(X.shape) < 0.2] = np.nan
    return X


def _random_booster(
    rng: np.random.Generator, *, rows: int, features: int, trees: int, depth: int
) -> tuple[np.ndarray, xgb.Booster]:
    """:func:`_random_rows` and a booster fitted on them to random labels."""
    X = _random_rows(rng, rows=rows, features=features)
    y = rng.integers(0, 2, len(X))
    model = xgb.XGBClassifier(n_estimators=trees, max_depth=depth, n_jobs=1)
    return X, model.fit(X, y).get_booster()


@EXACT
@given(st.data())
def test_the_tree_walk_picks_the_boosters_own_leaves(data):
    """Ensemble.walk against pred_leaf, on rows with values at, just below and above
    the thresholds, and missing values."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    X, booster = _random_booster(rng, rows=60, features=3, trees=8, depth=3)
    ensemble = read_ensemble(booster)
    rows = X[rng.integers(0, len(X), 40)].copy()
    cuts = [t for j in range(3) for t in thresholds(booster, j)]
    for r in range(0, len(rows), 3):
        if cuts:
            j = int(rng.integers(0, 3))
            t = float(rng.choice(cuts))
            rows[r, j] = data.draw(
                st.sampled_from([t, float(np.nextafter(np.float32(t), np.float32(-np.inf)))])
            )
    trees = np.arange(len(ensemble.trees))
    pair_row = np.repeat(np.arange(len(rows)), len(trees))
    pair_tree = np.tile(trees, len(rows))
    walked = ensemble.walk(rows, pair_row, pair_tree).reshape(len(rows), len(trees))
    leaves = booster.predict(xgb.DMatrix(rows), pred_leaf=True)
    np.testing.assert_array_equal(walked, ensemble.leaf_values(leaves))


@EXACT
@given(st.data())
def test_a_few_rows_walked_in_numpy_get_the_boosters_leaves_and_margin(data):
    """TreeScorer.margin walks up to WALK_ROWS rows in numpy: the same leaf ids as
    pred_leaf, and so the same float64 margins, at thresholds and with missing values."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    X, booster = _random_booster(rng, rows=60, features=3, trees=8, depth=3)
    scorer = tree_scorer(booster)
    n = data.draw(st.integers(1, WALK_ROWS))
    rows = X[rng.integers(0, len(X), n)].copy()
    cuts = [t for j in range(3) for t in thresholds(booster, j)]
    if cuts:
        rows[0, int(rng.integers(0, 3))] = float(rng.choice(cuts))
    leaves = booster.predict(xgb.DMatrix(rows), pred_leaf=True)
    np.testing.assert_array_equal(scorer.walked_leaves(rows), leaves)
    np.testing.assert_array_equal(scorer.margin(rows), scorer.ensemble.margin_from_leaves(leaves))


@EXACT
@given(st.data())
def test_a_few_rows_scored_get_the_boosters_own_probabilities_to_the_bit(data):
    """TreeScorer.scores walks a few rows once for both numbers: the float64 margin of
    TreeScorer.margin, and the probability inplace_predict gives, bit for bit (its
    float32 sum and sigmoid), whatever the base score, at thresholds and blanks."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    X = _random_rows(rng, rows=60, features=3)
    y = (rng.random(len(X)) < data.draw(st.floats(0.1, 0.9))).astype(int)
    model = xgb.XGBClassifier(n_estimators=data.draw(st.integers(1, 40)), max_depth=3, n_jobs=1)
    booster = model.fit(X, y).get_booster()
    scorer = tree_scorer(booster)
    rows = X[rng.integers(0, len(X), data.draw(st.integers(1, WALK_ROWS)))].copy()
    cuts = [t for j in range(3) for t in thresholds(booster, j)]
    if cuts:
        rows[0, int(rng.integers(0, 3))] = float(rng.choice(cuts))
    margin, p = scorer.scores(rows)
    np.testing.assert_array_equal(margin, scorer.margin(rows))
    own = booster.inplace_predict(rows, validate_features=False)
    assert p.dtype == float and np.array_equal(p, own.astype(float))
    assert scorer._emulates_booster  # the walk was taken, not the booster's fallback


@EXACT
@given(st.data())
def test_dependencies_from_the_paths_match_the_pruned_trees(data):
    """One person's dependencies read from each split's path (once per booster) are
    those of pruning each tree by walking it, and of the walk of several people at
    once, with blanks among the fixed features and levels at the thresholds."""
    from sleeprx.learn.ensemble import dependencies, dependency_masks

    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    X, booster = _random_booster(rng, rows=80, features=4, trees=12, depth=4)
    ensemble = read_ensemble(booster)
    x = X[int(rng.integers(0, len(X)))].copy()
    factors = tuple(sorted(rng.choice(4, size=int(rng.integers(1, 4)), replace=False).tolist()))
    levels = []
    for j in factors:
        cuts = thresholds(booster, j) or [0.0]
        pool = np.concatenate([np.round(rng.normal(size=4), 1), rng.choice(cuts, 2)])
        levels.append(np.unique(pool[: int(rng.integers(1, len(pool) + 1))]))
        x[j] = levels[-1][0]
    masks = dependencies(ensemble, x, factors, tuple(levels))
    pruned = prune_for_person(ensemble, x, factors, tuple(levels))
    assert masks.tolist() == [sum(1 << k for k in tree.factors) for tree in pruned]
    # the same person twice: the batch walk, not the paths
    x32 = np.float32(np.vstack([x, x])).astype(float)
    factor_of = np.full((2, 4), -1)
    factor_of[:, list(factors)] = np.arange(len(factors))
    low = np.array([[np.float32(v).min() for v in levels]] * 2, dtype=np.float32)
    high = np.array([[np.float32(v).max() for v in levels]] * 2, dtype=np.float32)
    walked = dependency_masks(ensemble, x32, factor_of, low.astype(float), high.astype(float))
    assert walked.tolist() == [masks.tolist()] * 2
