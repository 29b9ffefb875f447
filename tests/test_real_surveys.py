"""Real-survey features against brute force: blank answers, ladders, per-person rules and
linear constraints.

Descriptions and people are drawn by hypothesis. Each program is checked three ways:
its optimum equals brute-force enumeration; its answer passes
:func:`sleeprx.prescribing.verify.constraint_violations`, which reads the description and the
person's answers and knows nothing of how the program was built; and the set of
profiles the problem allows is exactly the set of profiles on the safe values that
the verifier accepts.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import ModelSettings, train
from sleeprx.optimize.bruteforce import brute_force, enumerate_choices
from sleeprx.optimize.problem import build_problem, profile_features
from sleeprx.optimize.routes import Sweep
from sleeprx.prescribing.run import decide, plan_person, prepare_problems, prescribe
from sleeprx.prescribing.verify import booster_gain, constraint_violations
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.curves import EffectCurve
from sleeprx.survey.description import (
    description_from_dict,
    load_description,
    shipped_description_path,
)
from sleeprx.survey.read import read_survey

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LADDER = [0.0, 0.029, 0.087, 0.25, 0.5, 1.5, 3.5, 5.5, 7.0]
LEVERS = ("sleep_weekday", "sleep_weekend", "drinking")


def _description(raw_rules: bool, constraint: tuple[float, float] | None):
    """A small survey: age and sex, two sleep levers on a grid, a drinking ladder."""
    sleep = {"lower": 6.0, "upper": 9.0, "step": 0.5, "max_change": 1.5, "fixed_cost": 1.0}
    rules_sleep = [{"when": [{"column": "age", "op": ">=", "value": 65}], "upper": 8.0}]
    rules_drink = [
        {"when": [{"column": "sex", "op": "==", "value": "Female"}], "max_change": 1},
        {"when": [{"column": "age", "op": "<", "value": 21}], "available": False},
    ]
    raw = {
        "name": "drawn",
        "id_column": "pid",
        "columns": [
            {"source": "id", "name": "pid", "type": "integer"},
            {"source": "age", "name": "age", "type": "integer", "allow_missing": True},
            {
                "source": "sex",
                "name": "sex",
                "type": "categorical",
                "categories": ["Male", "Female"],
                "allow_missing": True,
            },
            *({"source": n, "name": n, "type": "numeric", "allow_missing": True} for n in LEVERS),
            {"source": "q", "name": "q", "type": "integer"},
        ],
        "target": {"column": "q", "threshold": 7},
        "modifiable": [
            {"column": "sleep_weekday", "label": "weekday sleep", **sleep}
            | ({"rules": rules_sleep} if raw_rules else {}),
            {"column": "sleep_weekend", "label": "weekend sleep", **sleep},
            {
                "column": "drinking",
                "label": "drinking frequency",
                "levels": LADDER,
                "direction": "down",
                "max_change": 2,
                "fixed_cost": 0.5,
            }
            | ({"rules": rules_drink} if raw_rules else {}),
        ],
    }
    if constraint is not None:
        raw["constraints"] = [
            {
                "name": "weekend_minus_weekday",
                "terms": [
                    {"column": "sleep_weekend", "coef": 1},
                    {"column": "sleep_weekday", "coef": -1},
                ],
                "lower": constraint[0],
                "upper": constraint[1],
            }
        ]
    return description_from_dict(raw)


blank = st.just(math.nan)
half_hours = st.integers(8, 22).map(lambda k: k / 2)  # 4 h .. 11 h, some off the safe range


@st.composite
def cases(draw):
    description = _description(
        draw(st.booleans()),
        draw(st.none() | st.sampled_from([(-2.0, 2.0), (0.0, 1.0), (-1.0, 0.0)])),
    )
    person = {
        "age": draw(blank | st.integers(18, 90).map(float)),
        "sex": draw(st.none() | st.sampled_from(["Male", "Female"])),
        "sleep_weekday": draw(blank | half_hours),
        "sleep_weekend": draw(blank | half_hours),
        # on the ladder, or an answer between its rungs
        "drinking": draw(
            blank | st.sampled_from(LADDER) | st.floats(0, 7).map(lambda v: round(v, 2))
        ),
    }
    curves = {}
    for f in description.modifiable:
        knots = f.grid
        effects = np.asarray([draw(st.integers(-128, 128)) / 64 for _ in knots])
        curves[f.column] = EffectCurve(f.column, knots, effects, np.ones(len(knots), int))
    features = np.asarray([person[n] for n in LEVERS], dtype=float)
    problem = build_problem(
        1,
        person,
        description,
        features=features,
        feature_names=list(LEVERS),
        logit_before=draw(st.integers(-192, 192)) / 64,
        curves=curves,
    )
    goal = draw(st.none() | st.sampled_from([0.3, 0.6, 0.9]))
    config = PrescribeSettings(
        max_changes=draw(st.integers(0, 3)),
        lam=draw(st.integers(0, 32)) / 64,
        goal=goal,
        min_gain=0.0,
        min_gain_prob=0.0,
    )
    return description, person, problem, config


def _table(description, person, problem, levels, *, names=LEVERS):
    """A one-row prescription table in the format of :func:`sleeprx.prescribe`."""
    after = dict(person)
    for f, i in zip(problem.factors, levels, strict=True):
        after[f.name] = float(f.levels[i])
    row = {"person_id": problem.person_id, "status": "changed"}
    for name in names:
        row[f"{name}_before"] = person[name]
        row[f"{name}_after"] = after[name]
    return pd.DataFrame([row])


def _frame(person):
    return pd.DataFrame([person], index=pd.Index([1], name="pid"))


@PROPERTY
@given(cases())
def test_the_program_equals_brute_force_and_passes_the_verifier(case):
    description, person, problem, config = case
    plan = plan_person(problem, config)
    best = brute_force(problem, config)
    if best.levels is None:
        assert plan.status == "infeasible"
        return
    assert plan.levels is not None
    assert plan.objective == pytest.approx(best.objective, abs=1e-6)
    table = _table(description, person, problem, plan.levels)
    assert constraint_violations(table, description, config.max_changes, frame=_frame(person)) == []


@PROPERTY
@given(cases())
def test_the_problem_allows_exactly_what_the_verifier_accepts(case):
    """Completeness and soundness of the levels, rules and rows, profile by profile."""
    description, person, problem, config = case
    allowed = {tuple(c) for c in enumerate_choices(problem, config)}
    options = []
    for name in LEVERS:
        f = description.factor(name)
        value = person[name]
        candidates = [value] + [v for v in f.grid if not np.isclose(v, value)]
        options.append(candidates if not np.isnan(value) else [value])
    profiles = list(itertools.product(*options))
    # one table row per profile, each under its own id, checked in one call
    table = pd.DataFrame(
        {"person_id": range(len(profiles)), "status": "changed"}
        | {f"{n}_before": person[n] for n in LEVERS}
        | {f"{n}_after": [v[j] for v in profiles] for j, n in enumerate(LEVERS)}
    )
    frame = pd.DataFrame([person] * len(profiles), index=pd.Index(range(len(profiles))))
    broken = constraint_violations(table, description, config.max_changes, frame=frame)
    rejected = {int(v.split()[1].rstrip(":")) for v in broken}
    accepted = set()
    index = {f.name: k for k, f in enumerate(problem.factors)}
    for k, values in enumerate(profiles):
        if k in rejected:
            continue
        levels = [0] * len(problem.factors)
        for name, v in zip(LEVERS, values, strict=True):
            if name not in index:
                assert np.isnan(v) or v == person[name]  # a held lever cannot move
                continue
            f = problem.factors[index[name]]
            found = np.flatnonzero(np.isclose(f.levels, v, rtol=0, atol=1e-9))
            assert len(found), f"{name} = {v} accepted by the verifier but not offered"
            levels[index[name]] = int(found[0])
        accepted.add(tuple(levels))
    assert allowed == accepted


@PROPERTY
@given(cases())
def test_blank_and_unavailable_levers_are_held_with_a_reason(case):
    description, person, problem, _ = case
    offered = {f.name for f in problem.factors}
    held = dict(problem.held)
    for f in description.modifiable:
        if np.isnan(person[f.column]):
            assert held[f.column] == "the answer is missing"
        elif not f.limits_for(person).available:
            assert held[f.column] == "not offered to this person"
        else:
            assert f.column in offered


def test_a_person_who_breaks_a_constraint_is_held_to_no_worse_and_not_forced():
    description = _description(False, (-2.0, 2.0))
    person = {"age": 40.0, "sex": "Male", "sleep_weekday": 5.0, "sleep_weekend": 9.0}
    person["drinking"] = 0.0
    problem = build_problem(
        1,
        person,
        description,
        features=np.asarray([5.0, 9.0, 0.0]),
        feature_names=list(LEVERS),
        logit_before=0.0,
        curves={
            f.column: EffectCurve(f.column, f.grid, np.zeros(len(f.grid)), np.ones(len(f.grid)))
            for f in description.modifiable
        },
    )
    (row,) = problem.rows
    assert (row.lower, row.upper) == (-2.0, 4.0)  # 9 - 5 = 4 already: no worse than 4
    config = PrescribeSettings(max_changes=3, lam=0.0, min_gain=0.0, min_gain_prob=0.0)
    plan = plan_person(problem, config)
    assert plan.levels == (0, 0, 0)  # nothing to gain: not forced to change
    allowed = enumerate_choices(problem, config)
    gaps = row.values(problem.factors, allowed)
    assert gaps.max() <= 4.0 + 1e-9


# -- exact mode on the messy example: blank covariates follow the booster's defaults -----

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy_sleep_survey.csv"


@pytest.fixture(scope="module")
def messy():
    """A small model on the second example survey (blank cells in a third of its rows)."""
    description = load_description(shipped_description_path().with_name("messy_sleep.yaml"))
    survey = read_survey(MESSY, description)
    model = train(survey, settings=ModelSettings(n_estimators=40, max_depth=3))
    return survey, model


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_exact_mode_equals_brute_force_on_people_with_blank_answers(messy, data):
    survey, model = messy
    blanks = survey.frame.index[survey.frame.isna().any(axis=1)]
    pid = data.draw(st.sampled_from(list(blanks)))
    config = PrescribeSettings(
        mode="exact",
        max_changes=data.draw(st.integers(1, 3)),
        lam=data.draw(st.sampled_from([0.0, 0.1, 0.5])),
        goal=data.draw(st.none() | st.sampled_from([0.6, 0.9])),
        min_gain=0.0,
        min_gain_prob=0.0,
    )
    problems = prepare_problems(model, survey.frame.loc[[pid]], config)
    problem = problems[pid]
    plan = plan_person(problem, config)
    best = brute_force(problem, config, gain_of=booster_gain(model, problem))
    if best.levels is None:
        assert plan.status == "infeasible"
        return
    assert plan.objective == pytest.approx(best.objective, abs=1e-6)
    row = survey.frame.loc[pid].to_dict()
    table = _table(
        survey.description, row, problem, plan.levels, names=survey.description.modifiable_names
    )
    assert (
        constraint_violations(
            table, survey.description, config.max_changes, frame=survey.frame.loc[[pid]]
        )
        == []
    )


def test_tables_compiled_together_equal_each_person_compiled_alone(messy, monkeypatch):
    """People are compiled in batches; a person's tables must not depend on who shares
    the batch (held levers and rules give the people different factors)."""
    from sleeprx.optimize import factor_tables

    survey, model = messy
    frame = survey.frame.iloc[:90]
    plain = prepare_problems(model, frame, PrescribeSettings(mode="surrogate"))
    assert len({p.factor_features for p in plain.values()}) > 1  # not all alike
    ensemble = tree_scorer(model.booster).ensemble
    # batches of 7 people: several batches, mixed people
    monkeypatch.setattr(factor_tables, "ENTRIES", 7 * len(ensemble.trees))
    together = factor_tables.compile_tables(list(plain.values()), ensemble, max_cells=24)
    for problem, batched in zip(plain.values(), together, strict=True):
        alone = factor_tables.compile_tables([problem], ensemble, max_cells=24)[0]
        assert [(t.factors, t.trees) for t in batched.tables] == [
            (t.factors, t.trees) for t in alone.tables
        ]
        for a, b in zip(batched.tables, alone.tables, strict=True):
            np.testing.assert_array_equal(a.values, b.values)
        assert _pruned(batched.trees) == _pruned(alone.trees)  # groups over max_cells


def _pruned(trees) -> list:
    return [
        (
            t.leaf_values,
            t.leaf_nodes,
            [(s.factor, s.goes_left.tolist(), s.left_leaves, s.right_leaves) for s in t.splits],
        )
        for t in trees
    ]


def test_every_table_cell_is_the_boosters_own_leaf_sum(messy):
    """Levels that a group's trees cannot tell apart are walked once; every cell of
    every table must still be the sum of the leaves the booster picks there."""
    survey, model = messy
    scorer = tree_scorer(model.booster)
    problems = prepare_problems(model, survey.frame.iloc[:25], PrescribeSettings(mode="exact"))
    compressed = 0
    for problem in problems.values():
        for table in problem.tables:
            cells = np.array(list(itertools.product(*map(range, table.values.shape))))
            choices = np.zeros((len(cells), len(problem.factors)), dtype=int)
            choices[:, list(table.factors)] = cells
            leaves = scorer.leaves(profile_features(problem, choices))
            own = scorer.ensemble.leaf_values(leaves)[:, list(table.trees)]
            expected = np.zeros(len(cells))
            for t in range(own.shape[1]):  # tree by tree, as the tables add
                expected += own[:, t]
            np.testing.assert_array_equal(table.values.ravel(), expected)
            for axis in range(len(table.factors)):
                slices = np.moveaxis(table.values, axis, 0).reshape(table.values.shape[axis], -1)
                compressed += len(np.unique(slices, axis=0)) < len(slices)
    assert compressed > 0  # the test reached levels that share a class


def test_merged_tables_score_profiles_as_the_tables_do(messy):
    """Enumeration adds tables over covered factor sets into the covering one; every
    profile must score as the sum of the person's own tables."""
    from sleeprx.optimize.enumeration import table_gain
    from sleeprx.optimize.factor_tables import merge_tables

    survey, model = messy
    config = PrescribeSettings(mode="exact", max_changes=3)
    problems = prepare_problems(model, survey.frame.iloc[:25], config)
    fewer = 0
    for problem in problems.values():
        choices = enumerate_choices(problem, config)
        expected = np.full(len(choices), problem.base_margin - problem.logit_before)
        for table in problem.tables:
            expected += table.values[tuple(choices[:, k] for k in table.factors)]
        np.testing.assert_allclose(table_gain(problem)(choices), expected, rtol=0, atol=1e-12)
        fewer += len(merge_tables(problem.tables)[1]) < len(problem.tables)
    assert fewer > 0


@PROPERTY
@given(cases())
def test_the_mip_and_enumeration_routes_agree(case):
    _, _, problem, config = case
    by_mip = plan_person(problem, config.model_copy(update={"solver": "mip"}))
    by_enumeration = plan_person(problem, config.model_copy(update={"solver": "enumeration"}))
    assert by_enumeration.solver_status in ("enumerated", "infeasible")
    assert by_mip.solver_status in ("optimal", "infeasible")
    assert by_mip.status == by_enumeration.status
    if by_mip.levels is not None:
        assert by_mip.objective == pytest.approx(by_enumeration.objective, abs=1e-6)


def test_a_goal_under_a_calibration_map_is_a_threshold_on_the_margin(messy):
    """With calibrated probabilities, exact mode still reaches p >= goal exactly: the
    goal becomes the least margin the map sends to the goal. (On the messy survey a
    map lowers the out-of-fold Brier score and ECE, so it is kept.)"""
    survey = messy[0]
    model = train(survey, settings=ModelSettings(n_estimators=40, max_depth=3, calibrate=True))
    assert model.calibration is not None
    goal = 0.7
    config = PrescribeSettings(mode="exact", goal=goal)
    table = prescribe(survey, model, settings=config, ids=list(survey.frame.index[:40]))
    changed = table[table["status"] == "changed"]
    assert len(changed) > 0
    assert (changed["p_after"] >= goal - 1e-9).all()  # calibrated, from predict_proba
    problems = prepare_problems(model, survey.frame.loc[changed["person_id"]], config)
    for pid, problem in problems.items():
        assert problem.goal_margin == model.goal_margin(goal)
        best = brute_force(problem, config, gain_of=booster_gain(model, problem))
        row = changed.set_index("person_id").loc[pid]
        assert row["cost"] == pytest.approx(best.objective, abs=1e-6)


@PROPERTY
@given(cases(), st.sampled_from(["mip", "enumeration", "frontier"]), st.data())
def test_a_sweep_built_once_gives_each_points_fresh_optimum(case, solver, data):
    """Re-solving one built program at every point equals solving each point afresh, by
    each route (a limit of 0 profiles sends 'auto' to the dynamic-programming frontier)."""
    _, _, problem, config = case
    route = (
        {"solver": "auto", "enumeration_limit": 0} if solver == "frontier" else {"solver": solver}
    )
    config = config.model_copy(update={"goal": None, **route})
    points = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, 3), st.none() | st.integers(0, 12).map(float), st.integers(0, 32)
            ),
            min_size=1,
            max_size=6,
        )
    )
    widest = config.model_copy(update={"max_changes": 3, "budget": 12.0})
    sweep = Sweep(problem, widest)
    for k, budget, lam64 in points:
        point = config.model_copy(update={"max_changes": k, "budget": budget, "lam": lam64 / 64})
        found = sweep.best(point)
        fresh = plan_person(problem, point.model_copy(update={"solver": "enumeration"}))
        assert found.levels is not None
        again = decide(problem, point, found, 0.0)
        assert again.objective == pytest.approx(fresh.objective, abs=1e-6)


@PROPERTY
@given(cases(), st.data())
def test_dynamic_programming_equals_enumeration(case, data):
    """The separable frontier gives the enumerated optimum at every K, budget and lam."""
    from sleeprx.optimize.separable import frontier

    _, _, problem, config = case
    k = data.draw(st.integers(0, 3))
    budget = data.draw(st.none() | st.integers(0, 12).map(float))
    lam = data.draw(st.integers(0, 32)) / 64
    point = config.model_copy(update={"goal": None, "max_changes": k, "budget": budget, "lam": lam})
    best = brute_force(problem, point)
    front = frontier(problem, lam, 3, None, by_intensity=True)  # one frontier, any limit
    state = front.best(k, budget)
    assert state is not None
    levels = front.levels[state]
    gain = sum(f.surrogate_gain[i] for f, i in zip(problem.factors, levels, strict=True))
    cost = sum(f.cost[i] for f, i in zip(problem.factors, levels, strict=True))
    assert gain - lam * cost == pytest.approx(best.objective, abs=1e-6)
    assert front.value[state] == pytest.approx(best.objective, abs=1e-6)


@PROPERTY
@given(cases(), st.integers(0, 3), st.integers(0, 32))
def test_the_changes_only_frontier_equals_enumeration(case, k, lam64):
    from sleeprx.optimize.separable import frontier

    _, _, problem, config = case
    point = config.model_copy(update={"goal": None, "max_changes": k, "budget": None})
    point = point.model_copy(update={"lam": lam64 / 64})
    best = brute_force(problem, point)
    front = frontier(problem, point.lam, 3, None)  # counts changes only
    state = front.best(k, None)
    assert front.value[state] == pytest.approx(best.objective, abs=1e-6)


def _by_changes_loop(problem, groups, lam, max_changes):
    """The changes-only frontier as it was first written (a sort and Python loops for
    each lam), kept as the reference the segment-wise version must equal state for
    state, ties included."""
    value = [0.0]
    back = []
    for group in groups:
        option_value = group.gain - lam * group.cost
        order = np.lexsort((np.arange(len(option_value)), -option_value, group.changes))
        best_at: dict[int, int] = {}
        for o in order.tolist():
            best_at.setdefault(int(group.changes[o]), o)
        size = min(len(value) + max(best_at), max_changes + 1)
        new_value = [-np.inf] * size
        prev, chosen = [-1] * size, [-1] * size
        for h, v in enumerate(value):
            if v == -np.inf:
                continue
            for g, o in sorted(best_at.items()):
                t = h + g
                if t < size and v + option_value[o] > new_value[t] + 1e-9:
                    new_value[t], prev[t], chosen[t] = v + float(option_value[o]), h, o
        value = new_value
        back.append((prev, chosen))
    ok = [h for h, v in enumerate(value) if v != -np.inf]
    levels = np.zeros((len(ok), len(problem.factors)), dtype=int)
    for row, h in enumerate(ok):
        for group, (prev, chosen) in zip(reversed(groups), reversed(back), strict=True):
            levels[row, list(group.factors)] = group.levels[chosen[h]]
            h = prev[h]
    return ok, np.asarray(value)[ok], levels


@PROPERTY
@given(cases(), st.integers(0, 4), st.integers(0, 32), st.booleans())
def test_the_changes_only_frontier_equals_the_first_loop(case, k, lam64, tie):
    """Same states, values and levels as the loop it replaced, ties broken alike (with
    ``tie``, every gain and cost is rounded to 1/4 so that options tie exactly)."""
    from dataclasses import replace

    from sleeprx.optimize.separable import _by_changes, groups_of

    _, _, problem, _ = case
    groups = groups_of(problem)
    if tie:
        groups = [
            replace(g, gain=np.round(g.gain * 4) / 4, cost=np.round(g.cost * 4) / 4) for g in groups
        ]
    lam = lam64 / 64
    ok, value, levels = _by_changes_loop(problem, groups, lam, k)
    front = _by_changes(problem, groups, lam, k)
    assert front.changes.tolist() == ok
    assert front.value.tolist() == value.tolist()
    assert front.levels.tolist() == levels.tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(-4, 4)), max_size=40),
    st.integers(-1, 6),
)
def test_a_frontier_is_searched_as_numpy_searches_it(states, k):
    """Small frontiers are searched in plain Python: the same first state of greatest
    value within K as numpy's argmax (values on a 1/4 grid, so that they tie)."""
    from sleeprx.optimize.separable import Frontier

    changes = np.array([c for c, _ in states], dtype=int)
    value = np.array([v / 4 for _, v in states], dtype=float)
    front = Frontier(changes, np.zeros(len(states)), value, np.zeros((len(states), 1), dtype=int))
    within = np.flatnonzero(changes <= k)
    expected = int(within[np.argmax(value[within])]) if len(within) else None
    assert front.best(k, None) == expected
