"""Reading a survey file: the shipped data's quirks, and every kind of bad input.

Bad files are built in ``tmp_path`` by editing a copy of the shipped survey, so each
test changes one thing a person can see. Messages are matched piece by piece: the
file, the row, the column, the value found and what was allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sleeprx.survey.description import (
    description_from_dict,
    load_description,
    shipped_description_path,
)
from sleeprx.survey.read import RowProblem, read_survey, shipped_survey_path
from sleeprx.utils.errors import DescriptionError, SleeprxError, SurveyError

FILE = "survey.csv"


def _pieces(*parts: str) -> str:
    """A regex that finds every literal piece, in order."""
    return ".*".join(re.escape(p) for p in parts)


def _shipped_text() -> pd.DataFrame:
    """The shipped survey as text, exactly as the loader sees it before validation."""
    return pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = FILE) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _edited(tmp_path: Path, edit: Callable[[pd.DataFrame], object]) -> Path:
    frame = _shipped_text()
    edit(frame)
    return _write(tmp_path, frame)


def _with_cell(tmp_path: Path, row: int, column: str, value: str) -> Path:
    """A copy of the shipped survey with data row ``row`` (from 1) of ``column`` set."""

    def edit(frame: pd.DataFrame) -> None:
        frame.loc[row - 1, column] = value

    return _edited(tmp_path, edit)


# --- the shipped survey ----------------------------------------------------------


def test_shipped_survey_has_374_rows_sorted_by_id(survey):
    assert len(survey.frame) == 374
    assert survey.frame.index.name == "person_id"
    assert survey.frame.index.dtype == np.int64
    assert survey.frame.index.tolist() == list(range(1, 375))
    assert survey.problems == []


def test_none_sleep_disorder_is_a_category_not_missing(survey):
    disorder = survey.frame["sleep_disorder"]
    assert disorder.notna().all()
    assert disorder.value_counts().to_dict() == {"None": 219, "Sleep Apnea": 78, "Insomnia": 77}


def test_normal_weight_is_read_as_normal(survey):
    raw = _shipped_text()
    alias_ids = raw.loc[raw["BMI Category"] == "Normal Weight", "Person ID"].astype(int)
    assert len(alias_ids) == 21
    bmi = survey.frame["bmi_category"]
    assert (bmi.loc[alias_ids] == "Normal").all()
    assert set(bmi) == {"Normal", "Overweight", "Obese"}
    assert (bmi == "Normal").sum() == 195 + 21


def test_blood_pressure_is_split_into_two_numbers(survey):
    raw = _shipped_text()
    assert (raw.loc[0, "Person ID"], raw.loc[0, "Blood Pressure"]) == ("51", "120/80")
    person = survey.frame.loc[51]
    assert (person["bp_systolic"], person["bp_diastolic"]) == (120.0, 80.0)
    assert "blood_pressure" not in survey.frame.columns


def test_read_survey_returns_the_validated_frame(survey):
    pd.testing.assert_frame_equal(read_survey().frame, survey.frame)


def test_unedited_copy_reads_like_the_shipped_file(tmp_path, survey):
    copy = read_survey(_edited(tmp_path, lambda frame: None))
    pd.testing.assert_frame_equal(copy.frame, survey.frame)
    assert copy.data_hash() == survey.data_hash()


# --- cell problems: each names file, row, column, value found, and what is allowed --


def test_unknown_category(tmp_path):
    path = _with_cell(tmp_path, 4, "Occupation", "Pilot")
    with pytest.raises(SurveyError, match=_pieces(FILE, "row 4", "'Occupation'", "'Pilot'")) as e:
        read_survey(path)
    assert "Software Engineer" in str(e.value)  # the allowed categories are listed


def test_non_numeric_value(tmp_path):
    path = _with_cell(tmp_path, 5, "Age", "thirty")
    with pytest.raises(SurveyError, match=_pieces(FILE, "row 5", "'Age'", "'thirty'", "number")):
        read_survey(path)


def test_fractional_value_in_integer_column(tmp_path):
    path = _with_cell(tmp_path, 6, "Stress Level", "3.5")
    with pytest.raises(
        SurveyError, match=_pieces(FILE, "row 6", "'Stress Level'", "3.5", "whole number")
    ):
        read_survey(path)


def test_out_of_range_value(tmp_path):
    path = _with_cell(tmp_path, 17, "Stress Level", "14")
    with pytest.raises(
        SurveyError, match=_pieces(FILE, "row 17", "'Stress Level'", "14 is outside 1..10")
    ):
        read_survey(path)


@pytest.mark.parametrize(
    ("column", "value"),
    [("Age", "inf"), ("Daily Steps", "1e400"), ("Person ID", "inf"), ("Sleep Duration", "-inf")],
)
def test_infinite_value_is_refused_with_a_survey_error(tmp_path, column, value):
    path = _with_cell(tmp_path, 3, column, value)
    with pytest.raises(SurveyError, match=_pieces(FILE, "row 3", f"'{column}'", value)):
        read_survey(path)


@pytest.mark.parametrize("column", ["Age", "Sleep Disorder", "Occupation", "Heart Rate"])
def test_missing_value_where_none_is_allowed(tmp_path, column):
    path = _with_cell(tmp_path, 8, column, "")
    with pytest.raises(
        SurveyError, match=_pieces(FILE, "row 8", f"'{column}'", "missing", "allow_missing: true")
    ):
        read_survey(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120-80", ("'120-80'", "2 numbers separated by '/'")),
        ("120/80/70", ("'120/80/70'", "2 numbers separated by '/'")),
        ("120", ("'120'", "2 numbers separated by '/'")),
        ("120/abc", ("'120/abc'", "'abc' is not a number")),
        ("300/80", ("'300/80'", "300 is outside 60..250")),
        ("120/10", ("'120/10'", "10 is outside 30..160")),
    ],
)
def test_malformed_blood_pressure(tmp_path, value, expected):
    path = _with_cell(tmp_path, 9, "Blood Pressure", value)
    with pytest.raises(SurveyError, match=_pieces(FILE, "row 9", "'Blood Pressure'", *expected)):
        read_survey(path)


def test_first_invalid_row_is_reported_first(tmp_path):
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[19, "Age"] = "200"
        frame.loc[9, "Gender"] = "Other"

    with pytest.raises(SurveyError, match=_pieces(FILE, "row 10", "'Gender'", "'Other'")):
        read_survey(_edited(tmp_path, edit))


# --- whole-file problems -----------------------------------------------------------


def test_missing_column(tmp_path):
    path = _edited(tmp_path, lambda frame: frame.pop("Daily Steps"))
    with pytest.raises(SurveyError, match=_pieces(FILE, "missing column", "'Daily Steps'")):
        read_survey(path)


def test_missing_column_is_fatal_even_when_collecting(tmp_path):
    path = _edited(tmp_path, lambda frame: frame.pop("Gender"))
    with pytest.raises(SurveyError, match=_pieces(FILE, "missing column", "'Gender'")):
        read_survey(path, errors="collect")


def test_duplicate_id(tmp_path):
    path = _with_cell(tmp_path, 3, "Person ID", "51")  # row 1 is person 51
    with pytest.raises(
        SurveyError, match=_pieces(FILE, "'Person ID'", "id 51 appears more than once", "[1, 3]")
    ):
        read_survey(path)


def test_duplicate_large_id_is_written_in_full(tmp_path):
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[[0, 2], "Person ID"] = "1234567"

    with pytest.raises(SurveyError, match=_pieces(FILE, "id 1234567 appears more than once")):
        read_survey(_edited(tmp_path, edit))


def test_empty_file(tmp_path):
    path = tmp_path / FILE
    path.write_bytes(b"")
    with pytest.raises(SurveyError, match=_pieces(FILE, "empty")):
        read_survey(path)


def test_header_only_file(tmp_path):
    path = tmp_path / FILE
    path.write_text(shipped_survey_path().read_text().splitlines()[0] + "\n")
    with pytest.raises(SurveyError, match=_pieces(FILE, "header but no data rows")):
        read_survey(path)


def test_missing_file(tmp_path):
    with pytest.raises(SurveyError, match=_pieces("nowhere.csv", "not found")):
        read_survey(tmp_path / "nowhere.csv")


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 8,  # binary with NUL bytes
        bytes(range(128, 256)) * 8,  # binary, not UTF-8
        "Person ID,Gender\n51,Male\n".encode("utf-16"),
    ],
    ids=["binary", "not-utf8", "utf16"],
)
def test_binary_file_is_not_a_csv(tmp_path, content):
    path = tmp_path / FILE
    path.write_bytes(content)
    with pytest.raises(SurveyError, match=_pieces(FILE, "not a CSV file")):
        read_survey(path)


@pytest.mark.parametrize("indent", [2, None], ids=["indented", "compact"])
def test_json_document_is_not_a_csv(tmp_path, indent):
    records = _shipped_text().head(5).to_dict(orient="records")
    path = tmp_path / FILE
    path.write_text(json.dumps(records, indent=indent))
    with pytest.raises(SurveyError, match=_pieces(FILE, "not a CSV file")):
        read_survey(path)


def test_row_with_a_field_too_many(tmp_path):
    lines = shipped_survey_path().read_text().splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",extra\n"
    path = tmp_path / FILE
    path.write_text("".join(lines))
    with pytest.raises(
        SurveyError, match=_pieces(FILE, "row 4 (line 5)", "expected 13 fields", "found 14")
    ):
        read_survey(path)


def test_first_row_with_a_field_too_many_names_the_field_count(tmp_path):
    # pandas takes an extra field in the first data row as an index column, shifting
    # every value one column to the left; the message must blame the field count.
    lines = shipped_survey_path().read_text().splitlines(keepends=True)
    lines[1] = lines[1].rstrip("\n") + ",extra\n"
    path = tmp_path / FILE
    path.write_text("".join(lines))
    with pytest.raises(SurveyError, match=r"(?i)survey\.csv.*line 2\b.*field"):
        read_survey(path)


def test_utf8_character_across_the_sniffed_prefix_is_fine(tmp_path, survey):
    """A valid UTF-8 file whose 2-byte character straddles byte 4096 is still text."""
    for pad in range(120):
        frame = _shipped_text()
        frame["Notes"] = "é" * 20
        frame.loc[0, "Notes"] = "a" * pad + "é" * 20
        path = _write(tmp_path, frame)
        if path.read_bytes()[4095] == "é".encode()[0]:
            break
    else:  # pragma: no cover - the construction above always finds an alignment
        pytest.fail("could not place a multibyte character across byte 4096")
    read = read_survey(path)
    pd.testing.assert_frame_equal(read.frame, survey.frame)


def test_byte_order_mark_and_crlf_are_accepted(tmp_path, survey):
    path = tmp_path / FILE
    text = shipped_survey_path().read_text()
    path.write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode())
    pd.testing.assert_frame_equal(read_survey(path).frame, survey.frame)


# --- errors="collect" ----------------------------------------------------------------


def test_collect_sets_bad_rows_aside_and_keeps_the_rest(tmp_path, survey):
    raw = _shipped_text()
    bad_ids = [int(raw.loc[4, "Person ID"]), int(raw.loc[9, "Person ID"])]

    def edit(frame: pd.DataFrame) -> None:
        frame.loc[4, "Age"] = "abc"
        frame.loc[9, "Stress Level"] = "14"
        frame.loc[9, "Gender"] = "Other"

    path = _edited(tmp_path, edit)
    result = read_survey(path, errors="collect")

    assert len(result.frame) == 372
    assert not set(bad_ids) & set(result.frame.index)
    kept = survey.frame.drop(index=bad_ids)
    pd.testing.assert_frame_equal(result.frame, kept)

    assert all(isinstance(p, RowProblem) for p in result.problems)
    assert [p.row for p in result.problems] == [5, 10, 10]
    assert {(p.row, p.column) for p in result.problems} == {
        (5, "Age"),
        (10, "Gender"),
        (10, "Stress Level"),
    }
    assert [p.person_id for p in result.problems] == [str(bad_ids[0]), *[str(bad_ids[1])] * 2]
    assert re.search(_pieces(FILE, "row 5", "'Age'", "'abc'"), result.problems[0].message)

    with pytest.raises(SurveyError, match=_pieces(FILE, "row 5", "'Age'", "'abc'")):
        read_survey(path)  # the default still raises at the first bad cell


def test_collect_on_a_clean_file_has_no_problems(survey):
    result = read_survey(None, errors="collect")
    assert result.problems == []
    pd.testing.assert_frame_equal(result.frame, survey.frame)


# --- per-person resistance --------------------------------------------------------


@pytest.fixture
def resistance_description(description):
    raw = description.model_dump(mode="json")
    raw["modifiable"][0]["resistance_column"] = "Sleep Resistance"
    return description_from_dict(raw)


def _with_resistance(tmp_path: Path, values: list[str]) -> Path:
    frame = _shipped_text()
    frame["Sleep Resistance"] = values
    return _write(tmp_path, frame)


def test_per_person_resistance_column_is_read(tmp_path, resistance_description, survey):
    raw = _shipped_text()
    values = [f"{0.5 + (i % 4) * 0.25:g}" for i in range(len(raw))]
    result = read_survey(_with_resistance(tmp_path, values), resistance_description)

    assert resistance_description.factor("sleep_duration").resistance_column == "Sleep Resistance"
    expected = pd.Series(
        [float(v) for v in values], index=raw["Person ID"].astype(np.int64).to_numpy()
    ).sort_index()
    column = result.frame["resistance__sleep_duration"]
    np.testing.assert_array_equal(column.to_numpy(), expected.to_numpy())
    pd.testing.assert_frame_equal(result.frame.drop(columns=column.name), survey.frame)


def test_negative_resistance_is_refused(tmp_path, resistance_description):
    values = ["1"] * 374
    values[6] = "-2"
    path = _with_resistance(tmp_path, values)
    with pytest.raises(
        SurveyError, match=_pieces(FILE, "row 7", "'Sleep Resistance'", "-2 is outside 0..")
    ):
        read_survey(path, resistance_description)


# --- description errors -----------------------------------------------------------


def _shipped_yaml() -> dict:
    return yaml.safe_load(shipped_description_path().read_text(encoding="utf-8"))


def _write_yaml(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "desc.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_shipped_description_loads():
    description = load_description()
    assert description.name == "sleep_health_and_lifestyle"
    assert load_description(shipped_description_path()) == description


def test_description_bad_yaml(tmp_path):
    path = tmp_path / "desc.yaml"
    path.write_text("name: [a, b\ncolumns: {\n", encoding="utf-8")
    with pytest.raises(DescriptionError, match=_pieces("desc.yaml", "not valid YAML")) as e:
        load_description(path)
    assert isinstance(e.value, SleeprxError) and isinstance(e.value, ValueError)


def test_description_binary_file(tmp_path):
    path = tmp_path / "desc.yaml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(DescriptionError, match=_pieces("desc.yaml")):
        load_description(path)


def test_description_missing_file(tmp_path):
    with pytest.raises(DescriptionError, match=_pieces("nowhere.yaml", "not found")):
        load_description(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda raw: raw.__setitem__("colour", "red"), "colour"),
        (lambda raw: raw["modifiable"][1].__setitem__("stepp", 5), "modifiable.1.stepp"),
        (lambda raw: raw["columns"][2].__setitem__("maximum", 5), "columns.2.maximum"),
        (lambda raw: raw["target"].__setitem__("cutoff", 7), "target.cutoff"),
    ],
    ids=["top", "factor", "column", "target"],
)
def test_description_unknown_key(tmp_path, edit, key):
    raw = _shipped_yaml()
    edit(raw)
    with pytest.raises(
        DescriptionError, match=_pieces("desc.yaml", f"unknown key '{key}'", "allowed keys here")
    ):
        load_description(_write_yaml(tmp_path, raw))


def test_description_modifiable_column_that_does_not_exist(tmp_path):
    raw = _shipped_yaml()
    raw["modifiable"][0]["column"] = "nap_minutes"
    with pytest.raises(
        DescriptionError, match=_pieces("desc.yaml", "modifiable 'nap_minutes' is not a column")
    ):
        load_description(_write_yaml(tmp_path, raw))


def test_description_step_that_does_not_divide_the_range(tmp_path):
    raw = _shipped_yaml()
    raw["modifiable"][0]["step"] = 0.7
    with pytest.raises(
        DescriptionError,
        match=_pieces("desc.yaml", "modifiable.0", "'sleep_duration'", "step 0.7 does not divide"),
    ):
        load_description(_write_yaml(tmp_path, raw))


def test_description_alias_to_unknown_category(tmp_path):
    raw = _shipped_yaml()
    bmi = next(c for c in raw["columns"] if c["source"] == "BMI Category")
    bmi["aliases"]["Normal Weight"] = "Slim"
    with pytest.raises(DescriptionError, match=_pieces("desc.yaml", "BMI Category", "'Slim'")):
        load_description(_write_yaml(tmp_path, raw))


def test_description_from_dict_needs_a_mapping():
    with pytest.raises(DescriptionError, match="expected a mapping"):
        description_from_dict(["not", "a", "mapping"])


# --- rules that could never match, and misspelt keys --------------------------------


def _messy_yaml() -> dict:
    path = shipped_description_path().with_name("messy_sleep.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules(raw: dict, lever: str) -> list[dict]:
    return next(f for f in raw["modifiable"] if f["column"] == lever)["rules"]


@pytest.mark.parametrize(
    ("edit", "pieces"),
    [
        (
            lambda raw: _rules(raw, "drinks_per_day")[1]["when"][0].update(value="female"),
            [
                "modifiable 'drinks_per_day', rule 2",
                "'female' is not one of the categories",
                "['Male', 'Female']",
                "did you mean 'Female'?",
            ],
        ),
        (
            lambda raw: _rules(raw, "sleep_weekday")[0]["when"][0].update(value="65"),
            ["modifiable 'sleep_weekday', rule 1", "'age' holds numbers", "'65' is text"],
        ),
        (
            lambda raw: _rules(raw, "sleep_weekday")[0].update(upper=10),
            ["modifiable 'sleep_weekday', rule 1", "upper 10 is outside", "safe range 6..9"],
        ),
    ],
    ids=["not-a-category", "quoted-number", "bound-outside-safe-range"],
)
def test_a_rule_that_could_not_work_is_refused_in_one_line_naming_it(tmp_path, edit, pieces):
    raw = _messy_yaml()
    assert description_from_dict(raw)  # the shipped rules are fine
    edit(raw)
    with pytest.raises(DescriptionError, match=_pieces("desc.yaml", *pieces)) as caught:
        load_description(_write_yaml(tmp_path, raw))
    assert "\n" not in str(caught.value)


def test_a_misspelt_key_gets_did_you_mean(tmp_path):
    raw = _shipped_yaml()
    raw["modifable"] = raw.pop("modifiable")
    with pytest.raises(
        DescriptionError, match=_pieces("unknown key 'modifable'", "did you mean 'modifiable'?")
    ) as caught:
        load_description(_write_yaml(tmp_path, raw))
    assert "required" not in str(caught.value)  # the misspelling is the one problem


def test_a_header_that_differs_only_by_case_names_both_spellings(tmp_path):
    def lower_stress_header(frame: pd.DataFrame) -> None:
        frame.columns = ["stress level" if c == "Stress Level" else c for c in frame.columns]

    path = _edited(tmp_path, lower_stress_header)
    with pytest.raises(
        SurveyError,
        match=_pieces(FILE, "'stress level' in the file", "'Stress Level' in the description"),
    ):
        read_survey(path)
