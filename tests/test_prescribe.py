"""Population prescriptions: constraints, contract, verification, error rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import sleeprx.optimize.solver as solve_module
from sleeprx.optimize.states import Termination
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.verify import constraint_violations
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.read import read_survey, shipped_survey_path

FACTORS = ("sleep_duration", "physical_activity", "stress_level", "daily_steps")


@pytest.mark.parametrize("mode", ["surrogate", "exact"])
def test_everyone_gets_a_prescription_within_constraints(survey, small_model, mode):
    settings = PrescribeSettings(mode=mode)
    table = prescribe(survey, small_model, settings=settings)
    assert len(table) == len(survey.frame)
    assert set(table["status"]) <= {"changed", "no_change"}
    assert table["solver_status"].isin(["optimal", "enumerated"]).all()
    assert (
        constraint_violations(table, survey.description, settings.max_changes, frame=survey.frame)
        == []
    )
    assert (table["n_changes"] > 0).sum() == (table["status"] == "changed").sum()


def test_output_contract(survey, small_model):
    table = prescribe(survey, small_model, ids=[1, 2, 3])
    expected = [
        "person_id",
        "status",
        "n_changes",
        "p_before",
        "p_after",
        "p_after_surrogate",
        "gain_logit",
        "cost",
        "intensity",
        "objective",
        "advice",
        "solve_seconds",
    ] + [f"{f}_{s}" for f in FACTORS for s in ("before", "after")]
    assert set(expected) <= set(table.columns)
    assert table["person_id"].tolist() == [1, 2, 3]


def test_prescriptions_are_rescored_by_the_real_model(survey, small_model):
    table = prescribe(survey, small_model, ids=list(range(1, 41)))
    changed = table[table["status"] == "changed"]
    assert len(changed) > 0
    after = survey.frame.loc[changed["person_id"]].copy()
    for f in FACTORS:
        after[f] = changed[f"{f}_after"].to_numpy()
    p = small_model.predict_proba(after).to_numpy()
    np.testing.assert_allclose(changed["p_after"].to_numpy(), p, rtol=0, atol=1e-12)
    before = small_model.predict_proba(survey.frame.loc[changed["person_id"]]).to_numpy()
    np.testing.assert_allclose(changed["p_before"].to_numpy(), before, rtol=0, atol=1e-12)


def test_exact_mode_plans_what_the_model_delivers(survey, small_model):
    table = prescribe(
        survey, small_model, settings=PrescribeSettings(mode="exact"), ids=list(range(1, 61))
    )
    changed = table[table["status"] == "changed"]
    np.testing.assert_allclose(changed["gain_planned"], changed["gain_logit"], atol=1e-9)
    assert not table["model_disagrees"].any()


def test_huge_resistance_means_nobody_changes(survey, small_model):
    settings = PrescribeSettings(resistance_scale=1e6)
    table = prescribe(survey, small_model, settings=settings, ids=list(range(1, 51)))
    assert (table["status"] == "no_change").all()
    assert (table["n_changes"] == 0).all()
    assert table["advice"].str.startswith("No change").all()


def test_minimum_gain_gives_no_change_with_a_reason(survey, small_model):
    table = prescribe(survey, small_model, settings=PrescribeSettings(min_gain=1e6), ids=[1, 2])
    assert (table["status"] == "no_change").all()
    assert table["advice"].str.contains("minimum gain|no allowed change").all()


def test_goal_is_reached_or_declared_infeasible(survey, small_model):
    settings = PrescribeSettings(mode="exact", goal=0.7)
    table = prescribe(survey, small_model, settings=settings, ids=list(range(1, 61)))
    reached = table[table["status"] == "changed"]
    assert (reached["p_after"] >= 0.7 - 1e-6).all()
    already = table[table["status"] == "no_change"]
    assert (already["p_before"] >= 0.7 - 1e-6).all()
    infeasible = table[table["status"] == "infeasible"]
    assert infeasible["advice"].str.contains("reaches p >= 0.7").all()


def test_invalid_person_gets_an_error_row_and_the_run_goes_on(tmp_path, small_model):
    text = shipped_survey_path().read_text().splitlines()
    header = text[0].split(",")
    col = header.index("Stress Level")
    cells = text[1].split(",")
    bad_id = int(cells[0])
    cells[col] = "14"
    text[1] = ",".join(cells)
    path = tmp_path / "survey.csv"
    path.write_text("\n".join(text) + "\n")
    survey = read_survey(path, small_model.description, errors="collect")
    table = prescribe(survey, small_model)
    assert len(table) == 374
    row = table.set_index("person_id").loc[bad_id]
    assert row["status"] == "error"
    assert "Stress Level" in row["advice"] and "14" in row["advice"]
    assert (table["status"] != "error").sum() == 373


def test_unknown_id_is_refused(survey, small_model):
    from sleeprx.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="no person with id 9999 in ") as caught:
        prescribe(survey, small_model, ids=[9999])
    assert survey.source in str(caught.value) and "--ids" not in str(caught.value)  # no flag


def test_a_different_policy_applies_without_retraining(survey, small_model, description):
    """Costs and grids are policy: a survey read with other costs is accepted, and used."""
    from sleeprx.survey.description import description_from_dict

    raw = description.model_dump(mode="json")
    for factor in raw["modifiable"]:
        factor["fixed_cost"] = 1e6  # changing anything now costs more than it can gain
    pricey = description_from_dict(raw)
    data = read_survey(None, pricey)
    table = prescribe(data, small_model, ids=list(range(1, 31)))
    assert (table["status"] == "no_change").all()
    cheap = prescribe(survey, small_model, ids=list(range(1, 31)))
    assert (cheap["status"] == "changed").any()


@pytest.mark.parametrize(
    ("factor", "after", "rule"),
    [
        ("sleep_duration", 7.1, "not a safe value"),
        ("sleep_duration", 9.5, "outside this person's 6..9"),
        ("stress_level", 9.0, "up, which is not allowed"),
        ("daily_steps", 3000.0, "down, which is not allowed"),
        ("physical_activity", 90.0, "further than the largest change"),
    ],
)
def test_the_constraint_check_catches_each_kind_of_violation(
    survey, small_model, factor, after, rule
):
    table = prescribe(survey, small_model, ids=[1])
    assert constraint_violations(table, survey.description, 2, frame=survey.frame) == []
    broken = table.assign(**{f"{factor}_after": after})
    assert any(
        rule in v for v in constraint_violations(broken, survey.description, 2, frame=survey.frame)
    )


def test_the_constraint_check_counts_changes_against_k(survey, small_model):
    table = prescribe(survey, small_model, ids=[1], settings=PrescribeSettings(max_changes=2))
    assert any(
        "more than K = 0" in v
        for v in constraint_violations(
            table[table["n_changes"] > 0], survey.description, 0, frame=survey.frame
        )
    )


def _time_limited(monkeypatch, *, keep_point: bool) -> None:
    """Make every solve stop as if its time limit struck: deterministic, unlike a tiny
    wall-clock limit. ``keep_point`` keeps the solver's point as the best one found."""
    real = solve_module.SOLVERS["highs"]

    def stopped(model, settings):
        found = real(model, settings)
        if keep_point and found.x is not None:
            return dataclasses.replace(found, termination=Termination.TIME_LIMIT, gap=0.5)
        nan = float("nan")
        return solve_module.Solution(Termination.TIME_LIMIT, None, nan, nan, nan, found.seconds)

    monkeypatch.setitem(solve_module.SOLVERS, "highs", stopped)


def test_a_time_limit_is_reported_not_mistaken_for_infeasibility(survey, small_model, monkeypatch):
    _time_limited(monkeypatch, keep_point=False)
    settings = PrescribeSettings(mode="exact", tree_encoding="leaves", goal=0.9, solver="mip")
    table = prescribe(survey, small_model, settings=settings, ids=[1, 2, 3])
    assert (table["solver_status"] == "time_limit").all()
    assert (table["status"] == "time_limit").all()
    assert table["advice"].str.contains("time limit").all()
    assert (
        constraint_violations(table, survey.description, settings.max_changes, frame=survey.frame)
        == []
    )


def test_people_without_a_reported_sleep_quality_can_be_prescribed_for(tmp_path, small_model):
    """The target is optional when reading: new people have not reported it yet."""
    from sleeprx.learn.model import train
    from sleeprx.utils.errors import SurveyError

    frame = pd.read_csv(shipped_survey_path(), keep_default_na=False)
    path = tmp_path / "new_people.csv"
    frame.drop(columns=["Quality of Sleep"]).to_csv(path, index=False)
    survey = read_survey(path, small_model.description)
    assert "quality_of_sleep" not in survey.frame.columns
    table = prescribe(survey, small_model, ids=[1, 2, 3])
    assert set(table["status"]) <= {"changed", "no_change"}
    with pytest.raises(
        SurveyError, match=r"new_people\.csv: column 'Quality of Sleep' \(the target\)"
    ):
        train(survey)


def test_surrogate_goal_misses_are_flagged_by_the_model(survey, small_model):
    settings = PrescribeSettings(mode="surrogate", goal=0.7)
    table = prescribe(survey, small_model, settings=settings)
    changed = table[table["status"] == "changed"]
    missed = changed["p_after"] < 0.7
    assert (changed.loc[missed, "model_disagrees"]).all()


@pytest.mark.parametrize(("mode", "judge"), [("surrogate", "SHAP surrogate"), ("exact", "model")])
def test_an_infeasible_goal_says_whose_verdict_it_is(survey, small_model, mode, judge):
    settings = PrescribeSettings(mode=mode, goal=0.9999, max_changes=1)
    table = prescribe(survey, small_model, settings=settings, ids=list(range(1, 41)))
    infeasible = table[table["status"] == "infeasible"]
    assert len(infeasible) > 0
    assert infeasible["advice"].str.contains(f"by the {judge}").all()


def test_a_time_limit_on_a_no_change_answer_does_not_break_the_run(
    survey, small_model, monkeypatch
):
    _time_limited(monkeypatch, keep_point=True)
    settings = PrescribeSettings(mode="exact", tree_encoding="leaves", solver="mip")
    table = prescribe(survey, small_model, settings=settings, ids=list(range(1, 41)))
    assert len(table) == 40
    assert (table["status"] == "time_limit").all()
    stuck = table[table["n_changes"] == 0]
    assert len(stuck) > 0
    assert stuck["advice"].str.startswith("No change").all()


def test_one_new_person_is_judged_by_the_models_own_curves(tmp_path, small_model_dir, survey):
    """Curves come from the training survey and travel with the model, so a survey of
    one person gets the same prescription as that person in the full survey."""
    from sleeprx.learn.model import load_model

    model = load_model(small_model_dir)
    assert set(model.curves) == set(survey.description.modifiable_names)
    frame = pd.read_csv(shipped_survey_path(), keep_default_na=False)
    one = frame[frame["Person ID"] == 1].drop(columns=["Quality of Sleep"])
    path = tmp_path / "one.csv"
    one.to_csv(path, index=False)
    alone = prescribe(read_survey(path, model.description), model)
    among_all = prescribe(survey, model, ids=[1])
    columns = ["status", "p_after", "advice"]
    pd.testing.assert_frame_equal(alone[columns], among_all[columns])


def test_people_with_the_same_answers_are_solved_once_and_get_the_same_plan(survey, small_model):
    table = prescribe(survey, small_model, settings=PrescribeSettings(mode="exact"))
    assert table.attrs["distinct_problems"] < len(table)  # the shipped survey repeats rows
    frame = survey.frame.drop(columns=["quality_of_sleep"])
    twins = frame[frame.duplicated(keep=False)]
    first = twins.groupby(list(twins.columns)).head(1).index
    columns = [c for c in table.columns if c not in ("person_id", "solve_seconds")]
    by_id = table.set_index("person_id")
    for pid in first[:10]:
        same = twins.index[(twins == twins.loc[pid]).all(axis=1)]
        assert len(same) > 1
        rows = by_id.loc[same, columns]
        assert (rows.nunique(dropna=False) <= 1).all()
