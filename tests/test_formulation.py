"""The prescription program against brute force, on problems built by hand.

Every problem here is plain data drawn by hypothesis: a few factors whose level 0 is
the current value (cost 0, intensity 0, gain 0) and random levels, gains, costs and
intensities for the others. Numbers are multiples of 1/64 or 1/4, so sums are exact
and a tie at a budget or at a goal is a tie for the solver and for the enumeration
alike. Exact mode is exercised on random tree ensembles written as arrays, scored
by a traversal written here, independent of :func:`sleeprx.learn.ensemble.prune_for_person`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import fixed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleeprx.learn.ensemble import Ensemble, Tree, prune_for_person
from sleeprx.optimize.bruteforce import brute_force
from sleeprx.optimize.formulation import build_program
from sleeprx.optimize.problem import FactorChoice, PersonProblem, allowed_levels
from sleeprx.optimize.solver import solve
from sleeprx.prescribing.run import plan_person
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import Direction, ModifiableFactor

TOL = 1e-6
CHEAP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -------------------------------------------------------------------------

dyadic = st.integers(-192, 192).map(lambda k: k / 64)  # [-3, 3] in steps of 1/64


@st.composite
def factor_choices(draw, name: str, *, distinct_gains: bool = False) -> FactorChoice:
    """One factor: 2-6 distinct levels, level 0 the current value."""
    n = draw(st.integers(2, 6))
    step = draw(st.sampled_from([0.25, 0.1, 1.0]))
    ticks = draw(st.lists(st.integers(-30, 30), min_size=n, max_size=n, unique=True))
    levels = np.round(np.asarray(ticks) * step, 10)
    if distinct_gains:
        others = draw(
            st.lists(
                st.integers(-192, 192).filter(bool), min_size=n - 1, max_size=n - 1, unique=True
            )
        )
        gain = np.asarray([0, *others]) / 64
    else:
        gain = np.asarray([0.0] + [draw(dyadic) for _ in range(n - 1)])
    intensity = np.asarray([0.0] + [draw(st.integers(1, 24)) / 4 for _ in range(n - 1)])
    cost = np.asarray([0.0] + [draw(st.integers(1, 320)) / 64 for _ in range(n - 1)])
    return FactorChoice(name, levels, cost, intensity, gain)


@st.composite
def problems(draw, *, distinct_gains: bool = False) -> PersonProblem:
    """A surrogate-mode problem with 2-4 factors."""
    n = draw(st.integers(2, 4))
    factors = tuple(draw(factor_choices(f"f{j}", distinct_gains=distinct_gains)) for j in range(n))
    return PersonProblem(
        person_id=draw(st.integers(0, 10_000)),
        factors=factors,
        logit_before=draw(dyadic),
        features=np.asarray([f.current for f in factors]),
        factor_features=tuple(range(n)),
    )


@st.composite
def prescribe_settings(draw, problem: PersonProblem, *, goal: bool, mode: str = "surrogate"):
    n = len(problem.factors)
    most = sum(float(f.intensity.max()) for f in problem.factors)
    budget = draw(st.none() | st.integers(0, int(4 * most) + 2).map(lambda k: k / 4))
    return PrescribeSettings(
        mode=mode,
        max_changes=draw(st.integers(0, n + 1)),
        lam=draw(st.just(0.0) | st.integers(0, 128).map(lambda k: k / 64)),
        budget=budget,
        goal=draw(st.floats(0.02, 0.98)) if goal else None,
        min_gain=0.0,
        min_gain_prob=0.0,
    )


@st.composite
def cases(draw, *, goal: bool | None = None):
    problem = draw(problems())
    use_goal = draw(st.booleans()) if goal is None else goal
    return problem, draw(prescribe_settings(problem, goal=use_goal))


# -- helpers ----------------------------------------------------------------------------


def pick(problem: PersonProblem, levels) -> tuple[float, float, float]:
    """Surrogate gain, cost and intensity of a profile given as level indices."""
    chosen = list(zip(problem.factors, levels, strict=True))
    return (
        float(sum(f.surrogate_gain[i] for f, i in chosen)),
        float(sum(f.cost[i] for f, i in chosen)),
        float(sum(f.intensity[i] for f, i in chosen)),
    )


def check_solution(problem, config, program, solution) -> tuple[int, ...]:
    """Constraints every solution must satisfy; returns the chosen level indices."""
    x = solution.x
    assert x is not None
    assert program.model.violations(x) == []
    for z in program.choice:
        assert np.all(np.abs(x[z] - np.round(x[z])) <= 1e-6), "z is not integral"
        assert abs(x[z].sum() - 1) <= 1e-6, "not exactly one level per factor"
    levels = program.chosen_levels(x)
    assert sum(i > 0 for i in levels) <= config.max_changes
    _, cost, intensity = pick(problem, levels)
    if config.budget is not None:
        assert intensity <= config.budget + 1e-9
    assert solution.objective == pytest.approx(program.model.evaluate(x), abs=TOL)
    if config.goal is None:
        gain = program.gain.evaluate(x)
        assert solution.objective == pytest.approx(gain - config.lam * cost, abs=TOL)
    else:
        assert solution.objective == pytest.approx(cost, abs=TOL)
        need = math.log(config.goal / (1 - config.goal))
        assert problem.logit_before + program.gain.evaluate(x) >= need - TOL
    return levels


# -- surrogate mode against brute force -------------------------------------------------


@CHEAP
@given(cases(goal=False))
def test_surrogate_optimum_equals_brute_force(case):
    problem, config = case
    program = build_program(problem, config)
    solution = solve(program.model, config)
    best = brute_force(problem, config)
    assert solution.termination == "optimal"
    assert solution.objective == pytest.approx(best.objective, abs=TOL)
    levels = check_solution(problem, config, program, solution)
    gain, cost, _ = pick(problem, levels)
    assert gain - config.lam * cost == pytest.approx(best.objective, abs=TOL)


@CHEAP
@given(cases(goal=True))
def test_goal_mode_agrees_with_brute_force(case):
    problem, config = case
    program = build_program(problem, config)
    solution = solve(program.model, config)
    best = brute_force(problem, config)
    if best.levels is None:
        assert solution.termination == "infeasible"
        assert solution.x is None
        return
    assert solution.termination == "optimal"
    assert solution.objective == pytest.approx(best.objective, abs=TOL)
    levels = check_solution(problem, config, program, solution)
    assert pick(problem, levels)[1] == pytest.approx(best.objective, abs=TOL)


@CHEAP
@given(cases())
def test_plan_person_reports_the_optimum(case):
    """The plan's figures describe its own levels, and its objective is the optimum."""
    problem, config = case
    plan = plan_person(problem, config)
    best = brute_force(problem, config)
    if best.levels is None:
        assert plan.status == "infeasible"
        assert plan.levels is None
        return
    assert plan.status in ("changed", "no_change")
    assert (plan.status == "changed") == any(i > 0 for i in plan.levels)
    gain, cost, intensity = pick(problem, plan.levels)
    assert plan.gain_planned == pytest.approx(gain, abs=TOL)
    assert plan.gain_surrogate == pytest.approx(gain, abs=TOL)
    assert plan.cost == pytest.approx(cost, abs=TOL)
    assert plan.intensity == pytest.approx(intensity, abs=TOL)
    assert plan.margin_mip == pytest.approx(problem.logit_before + gain, abs=TOL)
    assert plan.objective == pytest.approx(best.objective, abs=TOL)
    assert sum(i > 0 for i in plan.levels) <= config.max_changes
    if config.budget is not None:
        assert intensity <= config.budget + 1e-9


# -- limiting cases ---------------------------------------------------------------------


@CHEAP
@given(problems(), st.integers(1, 128), st.integers(0, 5))
def test_nobody_changes_when_every_change_is_very_costly(problem, lam64, k):
    factors = tuple(dataclasses.replace(f, cost=f.cost * 1e6) for f in problem.factors)
    problem = dataclasses.replace(problem, factors=factors)
    config = PrescribeSettings(max_changes=k, lam=lam64 / 64, min_gain=0.0, min_gain_prob=0.0)
    plan = plan_person(problem, config)
    assert plan.status == "no_change"
    assert plan.levels == (0,) * len(factors)
    assert plan.gain_planned == 0.0
    assert plan.cost == 0.0


@CHEAP
@given(problems(distinct_gains=True))
def test_free_changes_take_each_factors_best_level(problem):
    config = PrescribeSettings(
        max_changes=len(problem.factors), lam=0.0, min_gain=0.0, min_gain_prob=0.0
    )
    plan = plan_person(problem, config)
    assert plan.levels == tuple(int(np.argmax(f.surrogate_gain)) for f in problem.factors)
    best = sum(float(f.surrogate_gain.max()) for f in problem.factors)
    assert plan.objective == pytest.approx(best, abs=TOL)


@CHEAP
@given(problems(), st.integers(0, 5), st.integers(0, 128))
def test_no_change_allowed_means_no_change(problem, k, lam64):
    """K = 0, or a budget of 0 (every change has positive intensity), keeps everyone put."""
    for config in (
        PrescribeSettings(max_changes=0, lam=lam64 / 64, min_gain=0.0, min_gain_prob=0.0),
        PrescribeSettings(
            max_changes=k, lam=lam64 / 64, budget=0.0, min_gain=0.0, min_gain_prob=0.0
        ),
    ):
        plan = plan_person(problem, config)
        assert plan.levels == (0,) * len(problem.factors)


# -- fixing the decision variables ------------------------------------------------------


@CHEAP
@given(cases(goal=False))
def test_surrogate_gain_is_zero_at_the_current_values(case):
    problem, config = case
    program = build_program(problem, config)
    current = (0,) * len(problem.factors)
    x = np.zeros(program.model.n_vars)
    for z in program.choice:
        x[z[0]] = 1.0
    assert program.gain.evaluate(x) == 0.0
    assert program.model.evaluate(x) == 0.0
    assert program.model.violations(x) == []
    solution = solve(fixed(program, current), config)
    assert solution.termination == "optimal"
    assert program.chosen_levels(solution.x) == current
    assert program.gain.evaluate(solution.x) == 0.0
    assert solution.objective == pytest.approx(0.0, abs=1e-12)


@CHEAP
@given(cases(goal=False), st.data())
def test_fixed_profile_scores_its_own_gain_and_penalty(case, data):
    problem, config = case
    config = config.model_copy(update={"max_changes": len(problem.factors), "budget": None})
    levels = tuple(data.draw(st.integers(0, len(f.levels) - 1)) for f in problem.factors)
    program = build_program(problem, config)
    solution = solve(fixed(program, levels), config)
    gain, cost, _ = pick(problem, levels)
    assert solution.termination == "optimal"
    assert program.chosen_levels(solution.x) == levels
    assert program.gain.evaluate(solution.x) == pytest.approx(gain, abs=1e-9)
    assert solution.objective == pytest.approx(gain - config.lam * cost, abs=1e-9)


# -- exact mode on hand-built tree ensembles --------------------------------------------


@st.composite
def trees(draw, levels: list[np.ndarray], n_features: int) -> Tree:
    """A random tree over ``n_features`` features; thresholds often sit on a level."""
    left, right, feature, threshold, default_left = [], [], [], [], []
    depth = draw(st.integers(0, 3))

    def grow(d: int) -> int:
        i = len(left)
        for column in (left, right, feature, threshold, default_left):
            column.append(None)
        if d < depth and draw(st.integers(0, 4)) > 0:
            f = draw(st.integers(0, n_features - 1))
            on_level = st.sampled_from(list(levels[f])) if f < len(levels) else st.nothing()
            t = draw(on_level | st.integers(-40, 40).map(lambda k: k / 8))
            feature[i], threshold[i], default_left[i] = f, t, draw(st.booleans())
            left[i] = grow(d + 1)
            right[i] = grow(d + 1)
        else:
            feature[i], threshold[i], default_left[i] = 0, draw(dyadic), False
            left[i] = right[i] = -1
        return i

    grow(0)
    return Tree(
        left=np.asarray(left, dtype=int),
        right=np.asarray(right, dtype=int),
        feature=np.asarray(feature, dtype=int),
        threshold=np.asarray(threshold, dtype=np.float32),
        default_left=np.asarray(default_left, dtype=bool),
    )


def leaf_sum(ensemble: Ensemble, row: np.ndarray) -> float:
    """The ensemble's margin at ``row``: x < threshold goes left, in float32."""
    total = ensemble.base_margin
    row32 = np.asarray(row, dtype=np.float32)
    for tree in ensemble.trees:
        node = 0
        while tree.left[node] != -1:
            value = row32[tree.feature[node]]
            go_left = tree.default_left[node] if np.isnan(value) else value < tree.threshold[node]
            node = tree.left[node] if go_left else tree.right[node]
        total += float(tree.threshold[node])
    return total


def profile_gain(problem: PersonProblem, ensemble: Ensemble):
    """``gain_of`` for brute force: the hand-written traversal, minus the margin now."""

    def gain_of(choices: np.ndarray) -> np.ndarray:
        out = []
        for row in choices:
            x = problem.features.copy()
            for j, (f, col) in enumerate(
                zip(problem.factors, problem.factor_features, strict=True)
            ):
                x[col] = f.levels[row[j]]
            out.append(leaf_sum(ensemble, x) - problem.logit_before)
        return np.asarray(out)

    return gain_of


@st.composite
def tree_problems(draw):
    """A surrogate problem given random trees on its factors and one immutable feature."""
    problem = draw(problems())
    n = len(problem.factors)
    immutable = draw(st.integers(-8, 8).map(lambda k: k / 4) | st.just(math.nan))
    features = np.asarray([*(f.current for f in problem.factors), immutable])
    levels = [f.levels for f in problem.factors]
    ensemble = Ensemble(
        tuple(draw(st.lists(trees(levels, n + 1), min_size=1, max_size=5))),
        base_margin=draw(dyadic),
        feature_names=(),
    )
    idx = tuple(range(n))
    pruned = tuple(prune_for_person(ensemble, features, idx, tuple(levels)))
    problem = dataclasses.replace(
        problem,
        features=features,
        logit_before=leaf_sum(ensemble, features),
        trees=pruned,
        base_margin=ensemble.base_margin,
    )
    return problem, ensemble


@SOME
@given(tree_problems(), st.data())
def test_exact_optimum_on_hand_built_trees_equals_brute_force(case, data):
    problem, ensemble = case
    config = data.draw(prescribe_settings(problem, goal=data.draw(st.booleans()), mode="exact"))
    program = build_program(problem, config)
    solution = solve(program.model, config)
    best = brute_force(problem, config, gain_of=profile_gain(problem, ensemble))
    if best.levels is None:
        assert solution.termination == "infeasible"
        return
    assert solution.termination == "optimal"
    assert solution.objective == pytest.approx(best.objective, abs=TOL)
    levels = check_solution(problem, config, program, solution)
    gain = profile_gain(problem, ensemble)(np.asarray([levels]))[0]
    assert program.gain.evaluate(solution.x) == pytest.approx(gain, abs=1e-9)


@SOME
@given(tree_problems(), st.data())
def test_exact_gain_is_zero_at_the_current_values(case, data):
    problem, _ = case
    config = data.draw(prescribe_settings(problem, goal=False, mode="exact"))
    program = build_program(problem, config)
    current = (0,) * len(problem.factors)
    solution = solve(fixed(program, current), config)
    assert solution.termination == "optimal"
    assert program.gain.evaluate(solution.x) == pytest.approx(0.0, abs=1e-9)
    assert solution.objective == pytest.approx(0.0, abs=1e-9)


@SOME
@given(tree_problems(), st.data())
def test_exact_fixed_profile_scores_the_trees(case, data):
    """With z fixed, the leaf weights cannot spread to earn more than the trees give."""
    problem, ensemble = case
    config = PrescribeSettings(mode="exact", max_changes=len(problem.factors), lam=0.0)
    levels = tuple(data.draw(st.integers(0, len(f.levels) - 1)) for f in problem.factors)
    program = build_program(problem, config)
    solution = solve(fixed(program, levels), config)
    gain = profile_gain(problem, ensemble)(np.asarray([levels]))[0]
    assert solution.termination == "optimal"
    assert solution.objective == pytest.approx(gain, abs=1e-9)
    assert program.gain.evaluate(solution.x) == pytest.approx(gain, abs=1e-9)


# -- the Pyomo route --------------------------------------------------------------------


@FEW
@given(cases())
def test_pyomo_backend_agrees_with_highs_surrogate(case):
    problem, config = case
    program = build_program(problem, config)
    direct = solve(program.model, config)
    via_pyomo = solve(program.model, config.model_copy(update={"backend": "pyomo"}))
    assert via_pyomo.termination == direct.termination
    if direct.termination == "optimal":
        assert via_pyomo.objective == pytest.approx(direct.objective, abs=TOL)
        check_solution(problem, config, program, via_pyomo)


@FEW
@given(tree_problems(), st.data())
def test_pyomo_backend_agrees_with_highs_exact(case, data):
    problem, _ = case
    config = data.draw(prescribe_settings(problem, goal=data.draw(st.booleans()), mode="exact"))
    program = build_program(problem, config)
    direct = solve(program.model, config)
    via_pyomo = solve(program.model, config.model_copy(update={"backend": "pyomo"}))
    assert via_pyomo.termination == direct.termination
    if direct.termination == "optimal":
        assert via_pyomo.objective == pytest.approx(direct.objective, abs=TOL)
        check_solution(problem, config, program, via_pyomo)


# -- allowed levels ---------------------------------------------------------------------


@st.composite
def factors_and_current(draw):
    step = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 5.0, 500.0]))
    lower_ticks = draw(st.integers(-20, 20))
    n = draw(st.integers(0, 15))
    factor = ModifiableFactor(
        column="f",
        label="f",
        lower=round(lower_ticks * step, 10),
        upper=round((lower_ticks + n) * step, 10),
        step=step,
        direction=draw(st.sampled_from(list(Direction))),
        max_change=draw(st.integers(1, 8)) * step,
        fixed_cost=1.0,
    )
    on_grid = st.integers(lower_ticks - 3, lower_ticks + n + 3).map(lambda k: round(k * step, 10))
    off_grid = st.floats(factor.lower - 3 * step, factor.upper + 3 * step)
    return factor, draw(on_grid | off_grid)


@CHEAP
@given(factors_and_current())
def test_allowed_levels_respect_grid_bounds_direction_and_largest_change(case):
    factor, current = case
    levels = allowed_levels(factor, current)
    assert levels[0] == current
    moves = levels[1:]
    delta = moves - current
    assert len(np.unique(levels)) == len(levels)
    assert np.all(np.isin(moves, factor.grid)), "a level is off the grid"
    assert np.all((moves >= factor.lower) & (moves <= factor.upper))
    assert np.all(np.abs(delta) <= factor.max_change + 1e-9)
    assert np.all(np.abs(delta) > 1e-9)
    if factor.direction == Direction.UP:
        assert np.all(delta > 0)
    elif factor.direction == Direction.DOWN:
        assert np.all(delta < 0)
    # and nothing allowed is left out
    for value in factor.grid:
        d = value - current
        ok = 1e-9 < abs(d) <= factor.max_change + 1e-9
        ok &= {Direction.UP: d > 0, Direction.DOWN: d < 0, Direction.BOTH: True}[factor.direction]
        assert ok == (value in moves), f"grid value {value} wrongly {'dropped' if ok else 'kept'}"


def test_allowed_levels_by_hand():
    factor = ModifiableFactor(
        column="stress", label="stress", lower=3, upper=8, step=1, direction="down",
        max_change=3, fixed_cost=1.5,
    )  # fmt: skip
    assert allowed_levels(factor, 7).tolist() == [7, 4, 5, 6]
    assert allowed_levels(factor, 3).tolist() == [3]
    assert allowed_levels(factor, 10).tolist() == [10, 7, 8]  # above the safe range: down into it
    sleep = ModifiableFactor(
        column="sleep", label="sleep", lower=6, upper=9, step=0.25, max_change=0.5,
        fixed_cost=1.0,
    )  # fmt: skip
    assert allowed_levels(sleep, 6.1).tolist() == [6.1, 6.0, 6.25, 6.5]


def _one_factor_problem(levels, gains) -> PersonProblem:
    steps = np.abs(np.asarray(levels, float) - levels[0])
    factor = FactorChoice("f", np.asarray(levels, float), steps, steps, np.asarray(gains, float))
    return PersonProblem(0, (factor,), 0.0, np.asarray(levels[:1], float), (0,))


@pytest.mark.parametrize("backend", ["highs", "pyomo"])
def test_unreachable_goal_is_reported_infeasible(backend):
    problem = _one_factor_problem([0.0, 1.0], [0.0, 0.5])  # at most +0.5 log-odds
    config = PrescribeSettings(goal=0.9, backend=backend)  # needs +2.2
    solution = solve(build_program(problem, config).model, config)
    assert solution.termination == "infeasible"
    assert solution.x is None


@pytest.mark.parametrize("backend", ["highs", "pyomo"])
def test_a_factor_with_nowhere_to_go(backend):
    """A person already at the edge of the only factor: the change rows have no terms."""
    problem = _one_factor_problem([3.0], [0.0])
    config = PrescribeSettings(backend=backend, min_gain=0.0, min_gain_prob=0.0)
    plan = plan_person(problem, config)
    assert plan.status == "no_change"
    assert plan.levels == (0,)
