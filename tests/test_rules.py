"""Rules relative to the person, conditions on blanks, covariates in constraints and
``min_change``, against brute force and the verifier.

Descriptions with these rules and people are drawn by hypothesis. Each program is
checked as in ``tests/test_real_surveys.py``: its optimum equals brute-force
enumeration, by every route; its answer passes
:func:`sleeprx.prescribing.verify.constraint_violations`, which reads only the
description and the person's answers; and the profiles the problem allows are exactly
those on the safe values that the verifier accepts. In exact mode the brute force asks
the booster itself.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import sleeprx as sleeprx_cli

import sleeprx
from sleeprx.optimize.bruteforce import brute_force, enumerate_choices
from sleeprx.optimize.problem import build_problem
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.prescribing.verify import booster_gain, constraint_violations
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.curves import EffectCurve
from sleeprx.survey.description import description_from_dict, shipped_description_path
from sleeprx.survey.display import change_phrase, counted, singular
from sleeprx.survey.rules import Relative
from sleeprx.utils.errors import DescriptionError, SolverError

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LADDER = [0.0, 0.5, 1.5, 3.5, 5.5, 7.0]
LEVERS = ("sleep_weekday", "sleep_weekend", "drinking")
ROOT = Path(__file__).resolve().parents[1]
FORMATS_YAML = shipped_description_path().with_name("formats_sleep.yaml")
FORMATS_CSV = ROOT / "data" / "formats_sleep_survey.csv"

# Every kind of new rule, each drawn in or out of a description.
RULES = {
    "sleep_weekday": [
        {"when": [{"column": "sleep_weekday", "op": ">=", "value": 8}], "upper": "current"},
        {"when": [{"column": "age", "op": ">=", "value": 50}], "lower": "current - 1"},
        {"when": [{"column": "age", "op": "blank"}], "max_change": 0.5},
        {"when": [{"column": "age", "op": "answered"}], "upper": "current + 0.5"},
        {"when": [{"column": "sleep_weekday", "op": "<", "value": 6.5}], "direction": "up"},
    ],
    "sleep_weekend": [  # only reduce weekend sleep if above 9 h, and never below 9 h then
        {"when": [{"column": "sleep_weekend", "op": "<=", "value": 9}], "direction": "up"},
        {"when": [{"column": "sleep_weekend", "op": ">", "value": 9}], "lower": 9},
        {"when": [{"column": "work_start", "op": "blank"}], "available": False},
    ],
    "drinking": [
        {"when": [{"column": "age", "op": "<", "value": 30}], "lower": "current - 1.5"},
        {"when": [{"column": "work_start", "op": "answered"}], "direction": "down"},
    ],
}
CONSTRAINTS = [
    {  # up an hour before work: a covariate enters at the person's answer
        "name": "up_before_work",
        "terms": [
            {"column": "sleep_weekday", "coef": 1},
            {"column": "work_start", "coef": -1},
        ],
        "upper": -1,
    },
    {  # weekend minus weekday sleep moves by at most an hour
        "name": "steady_gap",
        "terms": [
            {"column": "sleep_weekend", "coef": 1},
            {"column": "sleep_weekday", "coef": -1},
        ],
        "lower": "current - 1",
        "upper": "current + 1",
    },
]


def _description(rules: dict[str, list[dict]], constraints: list[dict], min_change: dict):
    """Age and a work start (a covariate, not a feature), two sleep grids, a ladder."""
    sleep = {"lower": 6.0, "upper": 9.0, "step": 0.5, "max_change": 1.5, "fixed_cost": 1.0}
    raw = {
        "name": "drawn",
        "id_column": "pid",
        "columns": [
            {"source": "id", "name": "pid", "type": "integer"},
            {"source": "age", "name": "age", "type": "integer", "allow_missing": True},
            {
                "source": "start",
                "name": "work_start",
                "type": "numeric",
                "allow_missing": True,
                "feature": False,
            },
            *({"source": n, "name": n, "type": "numeric", "allow_missing": True} for n in LEVERS),
            {"source": "q", "name": "q", "type": "integer"},
        ],
        "target": {"column": "q", "threshold": 7},
        "modifiable": [
            {"column": "sleep_weekday", "label": "weekday sleep", **sleep},
            {"column": "sleep_weekend", "label": "weekend sleep", **sleep},
            {
                "column": "drinking",
                "label": "drinking frequency",
                "levels": LADDER,
                "max_change": 3,
                "fixed_cost": 0.5,
            },
        ],
        "constraints": constraints,
    }
    for lever in raw["modifiable"]:
        lever["rules"] = rules.get(lever["column"], [])
        lever["min_change"] = min_change.get(lever["column"], 0.0)
    return description_from_dict(raw)


@st.composite
def descriptions(draw):
    rules = {lever: [r for r in pool if draw(st.booleans())] for lever, pool in RULES.items()}
    constraints = [c for c in CONSTRAINTS if draw(st.booleans())]
    min_change = {
        "sleep_weekday": draw(st.sampled_from([0.0, 0.5, 1.0])),
        "sleep_weekend": draw(st.sampled_from([0.0, 0.75])),
        "drinking": draw(st.sampled_from([0, 1, 2])),
    }
    return _description(rules, constraints, min_change)


blank = st.just(math.nan)
quarter_hours = st.integers(16, 44).map(lambda k: k / 4)  # 4 h .. 11 h, some off the grid


@st.composite
def cases(draw):
    description = draw(descriptions())
    person = {
        "age": draw(blank | st.integers(18, 90).map(float)),
        "work_start": draw(blank | st.integers(10, 16).map(float)),
        "sleep_weekday": draw(blank | quarter_hours),
        "sleep_weekend": draw(blank | quarter_hours),
        "drinking": draw(blank | st.sampled_from(LADDER) | st.integers(0, 7).map(float)),
    }
    curves = {}
    for f in description.modifiable:
        effects = np.asarray([draw(st.integers(-128, 128)) / 64 for _ in f.grid])
        curves[f.column] = EffectCurve(f.column, f.grid, effects, np.ones(len(f.grid), int))
    problem = build_problem(
        1,
        person,
        description,
        features=np.asarray([person[n] for n in LEVERS], dtype=float),
        feature_names=list(LEVERS),
        logit_before=draw(st.integers(-192, 192)) / 64,
        curves=curves,
    )
    config = PrescribeSettings(
        max_changes=draw(st.integers(0, 3)),
        lam=draw(st.integers(0, 32)) / 64,
        goal=draw(st.none() | st.sampled_from([0.3, 0.6, 0.9])),
        min_gain=0.0,
        min_gain_prob=0.0,
    )
    return description, person, problem, config


def _table(problem, before: dict, levels, names=LEVERS, derived=()) -> pd.DataFrame:
    """A one-row prescription table in the format of :func:`sleeprx.prescribe`; each
    derived lever's after value is its formula at the levers' after values."""
    after = dict(before)
    for f, i in zip(problem.factors, levels, strict=True):
        after[f.name] = float(f.levels[i])
    for lever in derived:
        after[lever.name] = lever.constant + sum(t.coef * after[t.column] for t in lever.terms)
    row = {"person_id": problem.person_id, "status": "changed"}
    for name in (*names, *(d.name for d in derived)):
        row[f"{name}_before"] = before[name]
        row[f"{name}_after"] = after[name]
    return pd.DataFrame([row])


@PROPERTY
@given(cases(), st.sampled_from(["enumeration", "mip"]))
def test_every_route_equals_brute_force_and_passes_the_verifier(case, solver):
    description, person, problem, config = case
    config = config.model_copy(update={"solver": solver})
    plan = plan_person(problem, config)
    best = brute_force(problem, config)
    if best.levels is None:
        assert plan.status == "infeasible"
        return
    assert plan.objective == pytest.approx(best.objective, abs=1e-6)
    table = _table(problem, person, plan.levels)
    frame = pd.DataFrame([person], index=pd.Index([1], name="pid"))
    assert constraint_violations(table, description, config.max_changes, frame=frame) == []


@PROPERTY
@given(cases())
def test_the_problem_allows_exactly_what_the_verifier_accepts(case):
    """Completeness and soundness of the levels, rules and rows, profile by profile."""
    description, person, problem, config = case
    allowed = {tuple(c) for c in enumerate_choices(problem, config)}
    options = []
    for name in LEVERS:
        value = person[name]
        grid = description.factor(name).grid
        options.append([value] if np.isnan(value) else [value, *grid[~np.isclose(grid, value)]])
    profiles = list(itertools.product(*options))
    table = pd.DataFrame(
        {"person_id": range(len(profiles)), "status": "changed"}
        | {f"{n}_before": person[n] for n in LEVERS}
        | {f"{n}_after": [v[j] for v in profiles] for j, n in enumerate(LEVERS)}
    )
    frame = pd.DataFrame([person] * len(profiles), index=pd.Index(range(len(profiles))))
    broken = constraint_violations(table, description, config.max_changes, frame=frame)
    rejected = {int(v.split()[1].rstrip(":")) for v in broken}
    index = {f.name: k for k, f in enumerate(problem.factors)}
    accepted = set()
    for k, values in enumerate(profiles):
        if k in rejected:
            continue
        levels = [0] * len(problem.factors)
        for name, v in zip(LEVERS, values, strict=True):
            if name not in index:
                assert np.isnan(v) or v == person[name]  # a held lever cannot move
                continue
            found = np.flatnonzero(np.isclose(problem.factors[index[name]].levels, v, atol=1e-9))
            assert len(found), f"{name} = {v} accepted by the verifier but not offered"
            levels[index[name]] = int(found[0])
        accepted.add(tuple(levels))
    assert allowed == accepted


def test_relative_rules_by_hand():
    d = _description(RULES, CONSTRAINTS, {"sleep_weekday": 0.5, "drinking": 2})
    weekday, weekend, drinking = (d.factor(n) for n in LEVERS)
    person = {"age": 60.0, "work_start": 14.0, "sleep_weekday": 8.5}
    limits = weekday.limits_for(person)
    assert (limits.lower, limits.upper, limits.min_change) == (7.5, 9.0, 0.5)  # 8.5 - 1 .. 8.5
    assert weekday.limits_for({**person, "sleep_weekday": 6.0}).direction == "up"
    assert weekday.limits_for({"age": math.nan, "sleep_weekday": 7.0}).max_change == 0.5
    assert weekday.limits_for({"sleep_weekday": 7.0}).max_change == 1.5  # age not known
    assert weekend.limits_for({"sleep_weekend": 8.0, "work_start": 14.0}).direction == "up"
    assert weekend.limits_for({"sleep_weekend": 10.0, "work_start": 14.0}).lower == 9
    assert not weekend.limits_for({"sleep_weekend": 10.0, "work_start": math.nan}).available
    assert drinking.limits_for({"age": 25.0, "drinking": 3.5, "work_start": 9.0}).lower == 2.0
    rule = d.factor("sleep_weekday").rules[1]
    assert rule.lower == Relative(-1.0)
    assert rule.model_dump(mode="json")["lower"] == "current - 1"  # a saved model reads it


def test_a_covariate_and_a_relative_bound_in_the_persons_rows():
    d = _description({}, CONSTRAINTS, {})
    person = {"age": 40.0, "work_start": 8.0, "sleep_weekday": 7.5, "sleep_weekend": 9.0}
    person["drinking"] = 0.0
    flat = {
        f.column: EffectCurve(f.column, f.grid, 0 * f.grid, 1 + 0 * f.grid) for f in d.modifiable
    }
    problem = build_problem(
        1,
        person,
        d,
        features=np.asarray([7.5, 9.0, 0.0]),
        feature_names=list(LEVERS),
        logit_before=0.0,
        curves=flat,
    )
    work, gap = problem.rows
    assert (work.constant, work.upper) == (-8.0, -0.5)  # 7.5 - 8 already breaks -1
    assert (gap.lower, gap.upper) == (0.5, 2.5)  # 9 - 7.5 = 1.5, +/- 1
    blank = build_problem(
        1,
        {**person, "work_start": math.nan},
        d,
        features=np.asarray([7.5, 9.0, 0.0]),
        feature_names=list(LEVERS),
        logit_before=0.0,
        curves=flat,
    )
    assert [r.name for r in blank.rows] == ["steady_gap"]  # a blank covariate: skipped


def test_the_verifier_names_a_broken_relative_rule_and_a_trivial_move():
    rules = {"sleep_weekday": RULES["sleep_weekday"][:1], "sleep_weekend": RULES["sleep_weekend"]}
    d = _description(rules, CONSTRAINTS, {"sleep_weekday": 1.0})
    person = {"age": 40.0, "work_start": 9.0, "sleep_weekday": 8.0, "sleep_weekend": 8.0}
    person["drinking"] = 0.0
    frame = pd.DataFrame([person], index=pd.Index([1], name="pid"))
    table = pd.DataFrame(
        [{"person_id": 1, "status": "changed"}
         | {f"{n}_before": person[n] for n in LEVERS}
         | {f"{n}_after": person[n] for n in LEVERS}
         | {"sleep_weekday_after": 8.5, "sleep_weekend_after": 7.5}]
    )  # fmt: skip
    broken = constraint_violations(table, d, 3, frame=frame)
    assert any("sleep_weekday" in b and "less than the smallest change" in b for b in broken)
    assert any("sleep_weekday" in b and "outside this person's 6..8" in b for b in broken)
    assert any("sleep_weekend" in b and "down, which is not allowed" in b for b in broken)
    assert any("constraint 'up_before_work' is -0.5" in b for b in broken)  # 8.5 - 9 > -1
    assert not any("steady_gap" in b for b in broken)  # 7.5 - 8.5 = -1 = 0 - 1: on the bound


# ------------------------------------------------------------------- the booster


@pytest.fixture(scope="module")
def formats():
    """The third example (relative rules, a blank condition, min_change, a covariate in
    a constraint) and a small model trained on it."""
    description = sleeprx.load_description(FORMATS_YAML)
    survey = sleeprx.read_survey(FORMATS_CSV, description)
    model = sleeprx.train(survey, settings=sleeprx.ModelSettings(n_estimators=40, max_depth=3))
    return survey, model


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_exact_mode_equals_brute_force_by_the_booster(formats, data):
    survey, model = formats
    pid = data.draw(st.sampled_from(list(survey.frame.index)))
    config = PrescribeSettings(
        mode="exact",
        solver=data.draw(st.sampled_from(["enumeration", "mip"])),
        max_changes=data.draw(st.integers(1, 3)),
        lam=data.draw(st.sampled_from([0.0, 0.1, 0.5])),
        goal=data.draw(st.none() | st.sampled_from([0.6, 0.9])),
        min_gain=0.0,
        min_gain_prob=0.0,
    )
    problem = prepare_problems(model, survey.frame.loc[[pid]], config)[pid]
    if config.solver == "mip":  # the example's derived sleep and drinking group join levers
        with pytest.raises(SolverError, match="solved by enumeration only"):
            plan_person(problem, config)
        return
    _check_against_the_booster(survey, model, pid, config)


def _check_against_the_booster(survey, model, pid, config: PrescribeSettings):
    """The plan's objective is the booster's brute force, and the plan passes the
    verifier (which reads the description and the answers, derived values included)."""
    problem = prepare_problems(model, survey.frame.loc[[pid]], config)[pid]
    plan = plan_person(problem, config)
    best = brute_force(problem, config, gain_of=booster_gain(model, problem))
    if best.levels is None:
        assert plan.status == "infeasible"
        return problem, plan
    assert plan.objective == pytest.approx(best.objective, abs=1e-6)
    d = survey.description
    row = survey.frame.loc[pid].to_dict()
    table = _table(problem, row, plan.levels, d.modifiable_names, d.derived_levers)
    frame = survey.frame.loc[[pid]]
    assert constraint_violations(table, d, config.max_changes, frame=frame) == []
    return problem, plan


def _covering_people(frame: pd.DataFrame) -> dict[str, object]:
    """Two people of the example for each rule on the levers of derived sleep and of the
    drinking group (the rules of sleeprx/survey/shipped/formats_sleep.yaml)."""
    day = frame["work_pattern"].ne("Nights [rotating]") & frame["wake_time"].notna()
    picks = {
        "young: bedtime no more than 1 h earlier": day & frame["age"].lt(30),
        "fixed work start: wake no later": day & frame["work_start"].notna(),
        "nights: no bedtime, wake only later": ~day & frame["wake_time"].notna(),
        "no work start: bedtime by 30 min at most": day & frame["work_start"].isna(),
        "blank wake time: sleep blank, wake time held": frame["wake_time"].isna(),
        "young drinker: one drink a day fewer at most": frame["drink_days"].gt(2)
        & frame["age"].lt(30),
        "two drinking days at most: days not advised": frame["drink_days"].between(1, 2),
    }
    return {f"{case} ({k})": pid for case, where in picks.items() for k, pid in
            enumerate(frame.index[where][:2])}  # fmt: skip


def _offered(problem, name: str) -> np.ndarray:
    """The values the program lets lever ``name`` take (its answer first), or none."""
    factor = next((f for f in problem.factors if f.name == name), None)
    return np.asarray(factor.levels if factor is not None else [], dtype=float)


@pytest.mark.parametrize("max_changes", [1, 2])
def test_derived_sleep_and_the_drinking_group_keep_their_levers_rules(formats, max_changes):
    """Both features together: sleep follows bedtime and wake time, which carry relative
    rules, a direction rule, a rule on a blank and min_change; drinking days and drinks
    are one change and carry rules of their own. For people each rule applies to, exact
    mode equals the booster's brute force, the answer passes the verifier, every value
    a lever offers passes the verifier's rules alone, the rules bite, and the group
    counts once toward K."""
    survey, model = formats
    d = survey.description
    config = PrescribeSettings(
        mode="exact", solver="enumeration", max_changes=max_changes, lam=0.0,
        min_gain=0.0, min_gain_prob=0.0,
    )  # fmt: skip
    people = _covering_people(survey.frame)
    assert len(people) == 14  # every case has two people in the example
    bit: dict[str, bool] = {}
    for case, pid in people.items():
        problem, plan = _check_against_the_booster(survey, model, pid, config)
        row = survey.frame.loc[pid].to_dict()
        for j, f in enumerate(problem.factors):  # each offered value, moved alone
            for i in range(1, len(f.levels)):
                levels = [i if k == j else 0 for k in range(len(problem.factors))]
                table = _table(problem, row, levels, d.modifiable_names, d.derived_levers)
                broken = constraint_violations(table, d, 3, frame=survey.frame.loc[[pid]])
                assert not [b for b in broken if f"{f.name} moved" in b], (case, broken)
        bed, wake = _offered(problem, "bedtime"), _offered(problem, "wake_time")
        drinks, days = _offered(problem, "drinks"), _offered(problem, "drink_days")
        was = {n: row[n] for n in ("bedtime", "wake_time", "drinks")}
        kind = case.split(":")[0]
        checks = {  # (the rule holds, the lever had a choice so the rule could bite)
            "young": ((bed >= was["bedtime"] - 1 - 1e-9).all(), len(bed) > 1),
            "fixed work start": ((wake <= was["wake_time"] + 1e-9).all(), len(wake) > 1),
            "nights": (len(bed) == 0 and (wake >= was["wake_time"]).all(), len(wake) > 1),
            "no work start": ((np.abs(bed - was["bedtime"]) <= 0.5 + 1e-9).all(), len(bed) > 1),
            "blank wake time": (
                len(wake) == 0
                and not [r for r in problem.derived if r.lever.name == "sleep_hours"],
                True,
            ),
            "young drinker": ((drinks >= was["drinks"] - 1 - 1e-9).all(), len(drinks) > 1),
            "two drinking days at most": (len(days) == 0, True),
        }
        holds, could = checks[kind]
        assert holds, (case, problem.factors)
        bit[kind] = bit.get(kind, False) or could
        if plan.levels is not None:  # the group once, other levers one each
            names = [f.name for f in problem.factors]
            moved = {names[k] for k, i in enumerate(plan.levels) if i > 0}
            units = {"drinking" if n in ("drink_days", "drinks") else n for n in moved}
            assert int(problem.changes(np.asarray(plan.levels))[0]) == len(units) <= max_changes
    assert all(bit.values()), bit  # every rule had a person with a choice to limit


def test_both_drinking_levers_move_for_one_change(formats):
    """With K = 1 a drinker may cut days and drinks together (one change), never two
    levers outside the group."""
    survey, model = formats
    frame = survey.frame
    pid = frame.index[frame["drink_days"].gt(2) & frame["drinks"].gt(1)][0]
    config = PrescribeSettings(mode="exact", solver="enumeration", max_changes=1)
    problem = prepare_problems(model, frame.loc[[pid]], config)[pid]
    names = [f.name for f in problem.factors]
    moved = [{names[k] for k in np.flatnonzero(c)} for c in enumerate_choices(problem, config)]
    assert {"drink_days", "drinks"} in moved
    assert all(len(m) <= 1 or m == {"drink_days", "drinks"} for m in moved)


def test_the_example_keeps_every_row_and_breaks_no_rule(formats):
    survey, model = formats
    config = PrescribeSettings(mode="exact")
    table = sleeprx.prescribe(survey, model, settings=config)
    assert len(table) == len(survey.frame) and not (table["status"] == "error").any()
    d = survey.description
    assert constraint_violations(table, d, config.max_changes, frame=survey.frame) == []
    moved = (table["bedtime_after"] - table["bedtime_before"]).abs()
    assert ((moved > 0) & (moved < 0.5 - 1e-9)).sum() == 0  # min_change: no 15-minute move
    assert (moved > 0).any()
    start = survey.frame["work_start"].to_numpy()
    wake, now = table["wake_time_after"].to_numpy(), table["wake_time_before"].to_numpy()
    known = ~np.isnan(start) & ~np.isnan(wake)
    assert (wake[known] - start[known] <= np.maximum(-1, now[known] - start[known]) + 1e-9).all()


# ---------------------------------------------------------------- wrong new keys


def _formats_raw() -> dict:
    return yaml.safe_load(FORMATS_YAML.read_text(encoding="utf-8"))


def _lever(raw: dict, name: str) -> dict:
    return next(f for f in raw["modifiable"] if f["column"] == name)


WRONG = [
    (
        lambda r: _lever(r, "wake_time")["rules"][0].update(upper="current * 2"),
        "modifiable.3.rules.0.upper: 'current * 2' is not a bound relative to the answer",
    ),
    (
        lambda r: _lever(r, "bedtime")["rules"][2]["when"][0].update(value=7),
        "op 'blank' takes no 'value'",
    ),
    (
        lambda r: _lever(r, "bedtime")["rules"][2]["when"][0].update(column="age"),
        "op 'blank' on 'age', which is never blank",
    ),
    (
        lambda r: _lever(r, "bedtime").update(min_change=2),
        "factor 'bedtime': min_change 2 is above max_change 1.5",
    ),
    (
        lambda r: _lever(r, "wake_time")["rules"][1].update(direction="sideways"),
        "key 'modifiable.3.rules.1.direction'",
    ),
    (
        lambda r: r["constraints"][0]["terms"][1].update(column="work_pattern"),
        "constraint 'up_before_work': 'work_pattern' is a categorical column",
    ),
    (
        lambda r: r["constraints"][1].update(lower="current + 2"),
        "constraint 'steady_sleep': lower current + 2 is above upper current + 1",
    ),
    (
        lambda r: r["constraints"][1].update(terms=[{"column": "age", "coef": 1}]),
        "constraint 'steady_sleep': no term is a modifiable factor",
    ),
]


@pytest.mark.parametrize(("edit", "message"), WRONG)
def test_a_new_key_used_wrongly_is_refused_naming_it(edit, message):
    raw = copy.deepcopy(_formats_raw())
    edit(raw)
    with pytest.raises(DescriptionError, match=re.escape(message)):
        description_from_dict(raw)


@pytest.mark.parametrize(("edit", "message"), [WRONG[0], WRONG[2], WRONG[5]])
def test_through_the_cli_a_new_key_used_wrongly_exits_2_in_one_line(tmp_path, edit, message):
    raw = copy.deepcopy(_formats_raw())
    edit(raw)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = sleeprx_cli(
        "train", "--survey", FORMATS_CSV, "--description", bad, "--out", tmp_path / "m"
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in lines[0], lines[0]


# ------------------------------------------------------------------------ words


@pytest.mark.parametrize(
    ("unit", "one"),
    [
        ("days/week", "day/week"),
        ("points", "point"),
        ("drinks", "drink"),
        ("cups/day", "cup/day"),
        ("glasses", "glass"),
        ("h", "h"),
        ("min/day", "min/day"),
        ("kg/m2", "kg/m2"),
        ("steps", "step"),
    ],
)
def test_a_unit_of_one_is_singular(unit, one):
    assert singular(unit) == one
    assert counted(1, unit) == f"1 {one}"
    assert counted(2, unit) == f"2 {unit}"


def test_advice_counts_days_and_drinks_in_words():
    d = _description({}, [], {})
    drinking = d.factor("drinking").model_copy(update={"unit": "days/week"})
    assert change_phrase(drinking, 1.5, 1) == (
        "reduce drinking frequency from 1.5 days/week to 1 day/week"
    )


# ------------------------------------------------------------------- the pipeline


@pytest.mark.slow
def test_sleeprx_run_on_the_example_keeps_every_row_and_breaks_nothing(tmp_path):
    """The pipeline file as shipped, written elsewhere."""
    from sleeprx.app.pipeline import load_pipeline, run_pipeline

    out = tmp_path / "formats"
    config = load_pipeline(ROOT / "pipelines" / "formats.yaml")
    run_pipeline(config.model_copy(update={"output": out}))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    people = len(pd.read_csv(FORMATS_CSV))
    assert summary["counts"]["people"] == people == 600
    assert summary["counts"]["invalid_rows"] == 0
    assert summary["counts"]["status"]["error"] == 0
    assert summary["counts"]["violations"] == 0
    assert len(pd.read_csv(out / "prescriptions.csv")) == people
