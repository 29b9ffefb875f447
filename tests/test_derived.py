"""Derived levers and lever groups against an oracle that reads only the description.

The oracle enumerates every combination of the levers' allowed levels and scores it the
way the description says: a derived lever is its formula at the new values and the
booster reads it; a lever group counts once toward K and pays its fixed cost once; the
derived value stays inside its safe range (or no worse than now). It shares no code
with the program's counting, costing or scoring.
"""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import sleeprx as sleeprx_cli

import sleeprx
from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import ModelSettings, train
from sleeprx.optimize.costbound import COST_BOUND
from sleeprx.optimize.enumeration import ENUMERATION
from sleeprx.optimize.mip import MIP
from sleeprx.optimize.routes import Sweep, choose_route
from sleeprx.optimize.separable import FRONTIER
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.prescribing.verify import constraint_violations
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import description_from_dict, shipped_description_path
from sleeprx.survey.read import read_survey
from sleeprx.survey.rules import Relative
from sleeprx.utils.errors import ConfigError, DescriptionError, SolverError

DATA = Path(__file__).resolve().parents[1] / "data"
YAML = shipped_description_path().with_name("formats_sleep.yaml")


@pytest.fixture(scope="module")
def formats():
    raw = yaml.safe_load(YAML.read_text(encoding="utf-8"))
    description = description_from_dict(raw)
    survey = read_survey(DATA / "formats_sleep_survey.csv", description)
    model = train(survey, settings=ModelSettings(n_estimators=40, max_depth=3))
    return survey, model


def _oracle(model, row: dict, problem, config: PrescribeSettings) -> float | None:
    """The best objective by exhaustion, from the description alone (None: infeasible)."""
    d = model.description
    names = model.feature_names
    group_of = {lever: g for g in d.lever_groups for lever in g.levers}
    options = [f.levels for f in problem.factors]
    movers = [f.name for f in problem.factors]
    x = problem.features
    best = None
    scorer = tree_scorer(model.booster)
    for values in itertools.product(*options):
        new = dict(zip(movers, values, strict=True))
        changed = {n for n in movers if abs(new[n] - row[n]) > 1e-9}
        units = {group_of[n].name if n in group_of else n for n in changed}
        if len(units) > config.max_changes:
            continue
        cost = 0.0
        for n in changed:
            f = d.factor(n)
            rho = f.resistance
            steps = abs(f.position(new[n]) - f.position(row[n])) if f.is_ladder else None
            steps = steps if steps is not None else abs(new[n] - row[n]) / f.step
            cost += rho * (steps + (0.0 if n in group_of else f.fixed_cost))
        cost += sum(g.fixed_cost * g.resistance for g in d.lever_groups if g.name in units)
        after = {**row, **new}
        ok = True
        for c in d.constraints:
            now = sum(t.coef * after[t.column] for t in c.terms)
            was = sum(t.coef * row[t.column] for t in c.terms)
            if math.isnan(now) or math.isnan(was):
                continue  # a blank answer or covariate leaves the constraint out
            low, high = (_bound(b, was) for b in (c.lower, c.upper))
            ok &= (low is None or now >= min(low, was) - 1e-9) and (
                high is None or now <= max(high, was) + 1e-9
            )
        features = x.copy()
        for n in movers:
            features[names.index(n)] = new[n]
        surrogate = sum(
            model.curves[n](np.array([new[n]]))[0] - model.curves[n](np.array([row[n]]))[0]
            for n in movers
        )
        for lever in d.derived_levers:
            value = lever.constant + sum(t.coef * after[t.column] for t in lever.terms)
            was = lever.constant + sum(t.coef * row[t.column] for t in lever.terms)
            if math.isnan(value):
                continue
            ok &= lever.lower is None or value >= min(lever.lower, was) - 1e-9
            ok &= lever.upper is None or value <= max(lever.upper, was) + 1e-9
            features[names.index(lever.name)] = value
            curve = model.curves[lever.name]
            surrogate += curve(np.array([value]))[0] - curve(np.array([was]))[0]
        if not ok:
            continue
        if config.mode == "exact":
            gain = float(scorer.margin(features[None, :])[0]) - problem.logit_before
        else:
            gain = surrogate
        if config.goal is not None:
            if gain < problem.need(config.goal_logit):
                continue
            score = -cost
        else:
            score = gain - config.lam * cost
        best = score if best is None else max(best, score)
    return best


def _bound(bound: float | Relative | None, was: float) -> float | None:
    """A constraint's bound for a person whose sum was ``was`` (``current - 1``: was - 1)."""
    return was + bound.offset if isinstance(bound, Relative) else bound


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_exact_route_equals_the_oracle_with_derived_levers_and_groups(formats, data):
    survey, model = formats
    pid = data.draw(st.sampled_from(list(survey.frame.index)))
    config = PrescribeSettings(
        mode=data.draw(st.sampled_from(["surrogate", "exact"])),
        max_changes=data.draw(st.integers(0, 2)),
        lam=data.draw(st.sampled_from([0.0, 0.1, 0.5])),
        goal=data.draw(st.none() | st.sampled_from([0.6, 0.9])),
        min_gain=0.0,
        min_gain_prob=0.0,
    )
    if config.goal is not None and config.mode == "surrogate":
        config = config.model_copy(update={"mode": "exact"})
    problem = prepare_problems(model, survey.frame.loc[[pid]], config)[pid]
    assert choose_route(problem, config) is ENUMERATION
    plan = plan_person(problem, config)
    row = survey.frame.loc[pid].to_dict()
    best = _oracle(model, row, problem, config)
    if best is None:
        assert plan.status == "infeasible"
        return
    planned = -plan.objective if config.goal is not None else plan.objective
    assert planned == pytest.approx(best, abs=1e-6)
    if config.mode == "exact":  # the planned margin is the booster's
        assert plan.gain_planned == pytest.approx(
            float(tree_scorer(model.booster).margin(_profile(model, problem, plan)[None])[0])
            - problem.logit_before,
            abs=1e-9,
        )


def _profile(model, problem, plan) -> np.ndarray:
    from sleeprx.optimize.problem import profile_features

    return profile_features(problem, plan.levels)[0]


@pytest.mark.parametrize("mode", ["surrogate", "exact"])
def test_a_sweep_over_enumerated_profiles_equals_fresh_solves(formats, mode):
    survey, model = formats
    widest = PrescribeSettings(mode=mode, max_changes=3, min_gain=0.0, min_gain_prob=0.0)
    for pid in survey.frame.index[:25]:
        problem = prepare_problems(model, survey.frame.loc[[pid]], widest)[pid]
        sweep = Sweep(problem, widest)
        assert sweep.route is ENUMERATION
        for k, lam in itertools.product(range(4), (0.0, 0.1, 0.3)):
            point = widest.model_copy(update={"max_changes": k, "lam": lam})
            fresh = ENUMERATION.best(problem, point)
            assert sweep.best(point).levels == fresh.levels


def test_routes_that_cannot_hold_them_step_aside_or_refuse(formats):
    survey, model = formats
    config = PrescribeSettings(mode="exact", goal=0.7, max_changes=2)
    pid = survey.frame.index[0]
    problem = prepare_problems(model, survey.frame.loc[[pid]], config)[pid]
    assert problem.coupled
    small = config.model_copy(update={"enumeration_limit": 1})
    assert not COST_BOUND.applies(problem, small)
    assert not FRONTIER.applies(
        problem, small.model_copy(update={"mode": "surrogate", "goal": None})
    )
    assert choose_route(problem, small) is MIP
    with pytest.raises(SolverError, match="derived levers and lever groups are solved by"):
        sleeprx.optimize.routes.find_best(problem, small)
    with pytest.raises(SolverError, match="enumeration only"):
        MIP.best(problem, config.model_copy(update={"solver": "mip"}))


def test_robust_mode_refuses_them_in_one_line(formats):
    from sleeprx.optimize.robust import attach_bootstraps

    survey, model = formats
    config = PrescribeSettings()
    problem = prepare_problems(model, survey.frame.iloc[:1], config)
    with pytest.raises(ConfigError, match="derived_levers or lever_groups"):
        attach_bootstraps(list(problem.values()), [model.booster, model.booster])


def test_the_table_is_verified_and_the_verifier_catches_a_wrong_derived_value(formats):
    survey, model = formats
    frame = survey.frame.iloc[:120]
    config = PrescribeSettings(mode="exact", max_changes=2)
    table = sleeprx.prescribe(survey, model, settings=config, ids=list(frame.index))
    d = model.description
    assert constraint_violations(table, d, 2, frame=survey.frame) == []
    sleep = table["wake_time_after"] - table["bedtime_after"]
    done = table["sleep_hours_after"].notna()
    assert np.allclose(table.loc[done, "sleep_hours_after"], sleep[done], atol=1e-9)
    both = table["drink_days_after"].ne(table["drink_days_before"]) & table["drinks_after"].ne(
        table["drinks_before"]
    )
    assert (table.loc[both, "n_changes"] <= 2).all()
    moved = table.index[table["sleep_hours_after"].ne(table["sleep_hours_before"]) & done]
    assert len(moved), "no prescription moved sleep"
    assert table.loc[moved, "advice"].str.contains("so that sleep goes from").all()
    broken = table.copy()
    broken.loc[moved[0], "sleep_hours_after"] += 0.5
    found = constraint_violations(broken, d, 2, frame=survey.frame)
    assert len(found) == 1 and "but its formula gives" in found[0]


def test_a_lever_group_counts_once_in_the_verifier(formats):
    survey, model = formats
    d = model.description
    pid = next(p for p in survey.frame.index if survey.frame.loc[p, "drinks"] >= 3)
    row = survey.frame.loc[pid]
    table = sleeprx.prescribe(survey, model, ids=[pid])
    table.loc[:, "status"] = "changed"
    for name in d.modifiable_names:
        table[f"{name}_after"] = table[f"{name}_before"]
    table["drink_days_after"] = max(row["drink_days"] - 1, 0)
    table["drinks_after"] = row["drinks"] - 1
    table["sleep_hours_after"] = table["sleep_hours_before"]
    assert constraint_violations(table, d, 1, frame=survey.frame) == []
    table["screen_time_after"] = float(row["screen_time"] - 1 if row["screen_time"] else 1)
    assert any(
        "more than K = 1" in v for v in constraint_violations(table, d, 1, frame=survey.frame)
    )


# -------------------------------------------------------------- the schema's refusals


def _raw():
    return yaml.safe_load(YAML.read_text(encoding="utf-8"))


def _edited(edit):
    raw = copy.deepcopy(_raw())
    edit(raw)
    return raw


BAD = [
    (
        lambda r: r["derived_levers"][0]["terms"].append({"column": "nap", "coef": 1}),
        "derived_levers 'sleep_hours': term 'nap' is not a numeric feature column",
    ),
    (
        lambda r: r["derived_levers"][0].update(name="bedtime"),
        "derived_levers 'bedtime': the name is a column already",
    ),
    (
        lambda r: r["derived_levers"][0].update(terms=[{"column": "age", "coef": 1}]),
        "no term is a modifiable lever",
    ),
    (lambda r: r["derived_levers"][0].update(lower=9, upper=6), "lower 9 > upper 6"),
    (lambda r: r["derived_levers"][0].update(factor=2), "derived_levers.0.factor"),
    (
        lambda r: r["lever_groups"][0]["levers"].append("age"),
        "lever_groups 'drinking': 'age' is not a modifiable lever",
    ),
    (
        lambda r: r["lever_groups"].append(
            {"name": "evening", "levers": ["drinks", "screen_time"], "fixed_cost": 1}
        ),
        "lever_groups 'evening': 'drinks' is in group 'drinking' already",
    ),
    (lambda r: r["lever_groups"][0].update(levers=["drinks"]), "lever_groups.0.levers"),
    (lambda r: r["lever_groups"][0].update(fixed_cost=-1), "lever_groups.0.fixed_cost"),
]


@pytest.mark.parametrize(("edit", "message"), BAD)
def test_a_new_key_used_wrongly_is_refused_naming_it(edit, message):
    with pytest.raises(DescriptionError, match=message.replace("(", r"\(")):
        description_from_dict(_edited(edit))


def test_a_new_key_used_wrongly_exits_2_in_one_line(tmp_path):
    edit, message = BAD[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_edited(edit)), encoding="utf-8")
    result = sleeprx_cli(
        "train", "--survey", DATA / "formats_sleep_survey.csv", "--description", bad,
        "--out", tmp_path / "m",
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "derived_levers" in lines[0]


def test_descriptions_without_the_new_keys_keep_their_fingerprints():
    from sleeprx.survey.description import load_description

    d = load_description()
    dump = d.model_dump(mode="json")
    assert dump["derived_levers"] == [] and dump["lever_groups"] == []
    plain = {k: v for k, v in dump.items() if k not in ("derived_levers", "lever_groups")}
    import hashlib
    import json

    expected = hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()
    assert d.fingerprint() == expected
