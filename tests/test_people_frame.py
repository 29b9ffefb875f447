"""People in memory: read_survey and prescribe take a DataFrame in the file's columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sleeprx.learn.model import load_model
from sleeprx.prescribing.run import prescribe
from sleeprx.survey.read import read_survey, shipped_survey_path
from sleeprx.utils.errors import ConfigError, SurveyError


@pytest.fixture(scope="module")
def raw():
    """The shipped survey as pd.read_csv gives it (its "None" category read as NaN)."""
    return pd.read_csv(shipped_survey_path())


def test_a_dataframe_is_read_as_its_file_is(raw, survey):
    assert raw["Sleep Disorder"].isna().any()  # the case the reader must undo
    pd.testing.assert_frame_equal(read_survey(raw).frame, survey.frame)
    as_text = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(read_survey(as_text).frame, survey.frame)


def test_a_bad_cell_names_the_row_and_column(raw):
    people = raw.iloc[[3, 4, 5]].copy()
    people.iloc[1, people.columns.get_loc("Stress Level")] = 14
    with pytest.raises(SurveyError, match=r"^people row 2, column 'Stress Level': 14 is outside"):
        read_survey(people)
    collected = read_survey(people, errors="collect")
    assert [(p.row, p.column) for p in collected.problems] == [(2, "Stress Level")]
    assert len(collected.frame) == 2


def test_a_frame_missing_a_column_or_with_one_twice_is_refused(raw):
    with pytest.raises(SurveyError, match=r"people: missing column\(s\) \['Age'\]"):
        read_survey(raw.drop(columns=["Age"]))
    twice = pd.concat([raw.iloc[:2], raw.iloc[:2, [1]]], axis=1)
    with pytest.raises(SurveyError, match=r"people: column\(s\) \['Gender'\] appear more"):
        read_survey(twice)
    with pytest.raises(SurveyError, match="people: no rows"):
        read_survey(raw.iloc[:0])
    with pytest.raises(ConfigError, match="rows: applies to a survey file"):
        read_survey(raw, rows=object())


def test_prescribe_takes_a_dataframe_and_gives_the_survey_s_rows(raw, survey, small_model):
    people = raw.iloc[:6]
    ids = people["Person ID"].tolist()
    from_frame = prescribe(people, small_model)
    from_survey = prescribe(survey, small_model, ids=ids)
    timing = ["solve_seconds"]
    pd.testing.assert_frame_equal(from_frame.drop(columns=timing), from_survey.drop(columns=timing))


def test_prescribe_gives_an_invalid_person_an_error_row(raw, small_model):
    people = raw.iloc[:3].astype(object)
    people.iloc[2, people.columns.get_loc("Age")] = "old"
    table = prescribe(people, small_model)
    assert table["status"].tolist()[2] == "error"
    assert "people row 3, column 'Age': 'old' is not a number" in table["advice"].iloc[2]


def test_prescribe_refuses_a_person_without_a_valid_id(raw, small_model):
    people = raw.iloc[:2].astype(object)
    people.iloc[1, people.columns.get_loc("Person ID")] = "x"
    with pytest.raises(SurveyError, match="people row 2, column 'Person ID'"):
        prescribe(people, small_model)


def test_a_loaded_booster_predicts_on_one_thread(small_model_dir):
    booster = load_model(small_model_dir).booster
    config = json.loads(booster.save_config())["learner"]["generic_param"]
    assert config["nthread"] == "1"
