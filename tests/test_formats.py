"""Surveys as published: clock strings, ordered text answers, any category text as a
feature, aliases on every column type, and SAS, SPSS, Stata and Parquet files."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_cli import sleeprx as sleeprx_cli

import sleeprx
from sleeprx.learn.features import display_name, feature_names
from sleeprx.prescribing.verify import constraint_violations
from sleeprx.survey.clock import hours_after
from sleeprx.survey.description import description_from_dict, shipped_description_path
from sleeprx.survey.display import change_phrase, format_range, format_value
from sleeprx.utils.errors import DescriptionError, SurveyError

DATA = Path(__file__).resolve().parents[1] / "data"
FORMATS_YAML = shipped_description_path().with_name("formats_sleep.yaml")


def _raw() -> dict:
    return yaml.safe_load(FORMATS_YAML.read_text(encoding="utf-8"))


def _edited(edit) -> dict:
    raw = copy.deepcopy(_raw())
    edit(raw)
    return raw


def _column(raw: dict, name: str) -> dict:
    return next(c for c in raw["columns"] if c["name"] == name)


def _lever(raw: dict, name: str) -> dict:
    return next(f for f in raw["modifiable"] if f["column"] == name)


@pytest.fixture(scope="module")
def formats():
    """The third example, read from its CSV, and a small model trained on it."""
    description = sleeprx.load_description(FORMATS_YAML)
    survey = sleeprx.read_survey(DATA / "formats_sleep_survey.csv", description)
    model = sleeprx.train(survey, settings=sleeprx.ModelSettings(n_estimators=40, max_depth=3))
    return survey, model


# ------------------------------------------------------------------------- clocks


@pytest.mark.parametrize(
    ("text", "hours"),
    [("01:45", 7.75), ("1:45 am", 7.75), ("10:30 PM", 4.5), ("12 am", 6.0), ("18:00", 0.0)],
)
def test_clock_strings_are_hours_after_the_origin(text, hours):
    assert hours_after("18:00", text) == hours


@pytest.mark.parametrize("text", ["25:00", "7", "13 pm", "noon", "12:61"])
def test_what_is_not_a_clock_time(text):
    assert hours_after("18:00", text) is None


def test_a_clock_column_reads_times_and_names_a_bad_cell(tmp_path, formats):
    survey, _ = formats
    text = (DATA / "formats_sleep_survey.csv").read_text(encoding="utf-8")
    raw = pd.read_csv(DATA / "formats_sleep_survey.csv", dtype=str, keep_default_na=False)
    first = raw["BEDTIME"].iloc[0]
    assert survey.frame["bedtime"].iloc[0] == hours_after("18:00", first)
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace(f",{first},", ",25:99,", 1), encoding="utf-8")
    with pytest.raises(SurveyError, match=r"row 1 \(line 2\), column 'BEDTIME': '25:99' is not"):
        sleeprx.read_survey(bad, survey.description)


def test_clock_ranges_may_be_written_as_clock_times():
    d = description_from_dict(_raw())
    bedtime = d.factor("bedtime")
    assert bedtime.clock_origin == "18:00"  # from its column
    assert (bedtime.safe_lower, bedtime.safe_upper) == (3.5, 6.5)
    assert (d.column("bedtime").min, d.column("bedtime").max) == (1.0, 12.0)
    assert format_range(bedtime, 3.5, 6.5) == "21:30–00:30"
    assert change_phrase(bedtime, 6.25, 5.5) == "move bedtime earlier from 00:15 to 23:30"


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda r: _lever(r, "bedtime").update(lower="25:00"), "'lower' '25:00' is not a clock"),
        (lambda r: _column(r, "bedtime").pop("clock_origin"), "'min' '19:00' needs 'clock_origin'"),
        (lambda r: _column(r, "age").update(clock_origin="18:00"), "'clock_origin' is for type"),
        (lambda r: _lever(r, "drink_days").update(lower="06:00"), "'lower' '06:00' needs"),
        (lambda r: _lever(r, "bedtime").update(clock_origin="20:00"), "clock_origin '20:00'"),
    ],
)
def test_clock_keys_used_wrongly_are_refused(edit, key):
    with pytest.raises(DescriptionError, match=key):
        description_from_dict(_edited(edit))


# ---------------------------------------------------------------- ordinal answers


def test_text_levels_are_codes_with_their_words():
    d = description_from_dict(_raw())
    screen = d.factor("screen_time")
    assert screen.grid.tolist() == [0, 1, 2, 3, 4]
    assert screen.level_labels[-1] == "more than 4 h of screens a day"
    phrase = change_phrase(screen, 4, 2)
    assert phrase == (
        "change evening screen time from more than 4 h of screens a day to 1–2 h of screens a day"
    )
    smoking = d.factor("smoking")  # a one-way switch: two rungs, down only
    assert smoking.grid.tolist() == [1, 2] and smoking.direction == "down"
    assert change_phrase(smoking, 2, 1) == "change smoking from current smoker to former smoker"
    assert format_value(d.column("smoking"), 0) == "never smoked"


def test_ordered_answers_are_one_feature_in_their_order(formats):
    survey, _ = formats
    names = feature_names(survey.description)
    assert "screen_time" in names and not any(n.startswith("screen_time=") for n in names)
    raw = pd.read_csv(DATA / "formats_sleep_survey.csv", dtype=str, keep_default_na=False)
    codes = dict(zip(raw["SEQN"].astype(int), raw["SCREEN"], strict=True))
    order = ["None", "<1 h", "1-2 h", "2-4 h", ">4 h"]
    assert all(order.index(codes[pid]) == v for pid, v in survey.frame["screen_time"].items())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: _lever(r, "smoking").update(levels=["Abstain", "Current"]), "'Abstain' is not"),
        (lambda r: _column(r, "age").update(codes=[{"text": "a", "code": 1}]), "'codes' is for"),
        (lambda r: _column(r, "smoking").pop("codes"), "ordinal column 'SMOKING' needs 'codes'"),
        (lambda r: _lever(r, "smoking").update(level_labels=["x"]), "'level_labels' needs one"),
        (
            lambda r: _column(r, "smoking")["codes"].append({"text": "Never", "code": 3}),
            "the text 'Never' twice",
        ),
    ],
)
def test_ordinal_keys_used_wrongly_are_refused(edit, message):
    with pytest.raises(DescriptionError, match=message):
        description_from_dict(_edited(edit))


def test_a_rule_on_an_ordinal_column_names_its_answers():
    def edit(raw):
        _lever(raw, "drink_days")["rules"] = [
            {"when": [{"column": "smoking", "op": "==", "value": "Current"}], "upper": 3}
        ]

    d = description_from_dict(_edited(edit))
    assert d.factor("drink_days").limits_for({"smoking": 2.0}).upper == 3
    assert d.factor("drink_days").limits_for({"smoking": 1.0}).upper == 7


# ------------------------------------------------------------------------ aliases


def test_aliases_work_on_every_column_type(tmp_path):
    def edit(raw):
        _column(raw, "age")["aliases"] = {"ninety": "90"}
        _column(raw, "bedtime")["aliases"] = {"midnight": "00:00"}
        _column(raw, "smoking")["aliases"] = {"Ex-smoker": "Former"}
        _column(raw, "work_pattern")["aliases"] = {"days": "Days, regular"}

    d = description_from_dict(_edited(edit))
    csv = tmp_path / "a.csv"
    csv.write_text(
        "SEQN,AGE,SEX,WORK,BEDTIME,SCREEN,SMOKING,WAKETIME,DRINKDAYS,DRINKS,QUALITY,WORKSTART\n"
        "1,ninety,Male,days,midnight,None,Ex-smoker,07:00,0,0,8,08:30\n",
        encoding="utf-8",
    )
    row = sleeprx.read_survey(csv, d).frame.iloc[0]
    assert (row["age"], row["bedtime"], row["smoking"]) == (90, 6.0, 1.0)
    assert row["work_pattern"] == "Days, regular"


@pytest.mark.parametrize(
    ("column", "aliases", "message"),
    [
        ("age", {"ninety": "old"}, "which are not whole numbers"),
        ("bedtime", {"midnight": "late"}, "which are not clock times"),
        ("smoking", {"Ex": "Ex-smoker"}, "which are not the texts of its codes"),
        ("seqn", {"x": "1"}, None),
    ],
)
def test_an_alias_that_cannot_apply_is_refused(column, aliases, message):
    raw = _edited(lambda r: _column(r, column).update(aliases=aliases))
    if column == "seqn":  # an integer id: aliases apply; a text id refuses them
        raw = _edited(lambda r: _column(r, "seqn").update(type="text", aliases=aliases))
        message = "'aliases' do not apply to a text"
        raw["columns"][0].pop("min")
    with pytest.raises(DescriptionError, match=message):
        description_from_dict(raw)


# ------------------------------------------------------------------ feature names


def test_any_category_text_trains_and_reads_back(formats):
    survey, model = formats
    names = model.feature_names
    assert not any(c in n for n in names for c in "[]<,")
    shown = [display_name(n) for n in names]
    assert "work_pattern=<20 h a week" in shown and "work_pattern=Nights [rotating]" in shown
    assert "work_pattern=Days, regular" in shown
    margins = model.margin(survey.frame)
    assert np.isfinite(margins).all() and np.ptp(margins) > 0


@pytest.mark.parametrize("name", ["sleep_health.yaml", "messy_sleep.yaml"])
def test_plain_feature_names_do_not_move(name):
    d = sleeprx.load_description(shipped_description_path().with_name(name))
    plain = [
        f"{n}={c}" if c is not None else n
        for n in d.feature_columns
        for column in [next(c for c in d.columns if n in c.output_names)]
        for c in (column.categories if column.type == "categorical" else (None,))
    ]
    assert feature_names(d) == plain


# ------------------------------------------------------------- the third example


def test_the_example_prescribes_within_its_limits(formats):
    survey, model = formats
    settings = sleeprx.PrescribeSettings()
    table = sleeprx.prescribe(survey, model, settings=settings)
    assert set(table["status"]) <= {"changed", "no_change", "infeasible"}
    assert (table["status"] == "changed").any()
    broken = constraint_violations(
        table, survey.description, settings.max_changes, frame=survey.frame
    )
    assert broken == []
    never = survey.frame.index[survey.frame["smoking"] == 0]
    after = table.set_index("person_id").loc[never, "smoking_after"]
    assert (after.isna() | (after == 0)).all(), "a never smoker is not on the ladder"
    advice = " ".join(table["advice"])
    assert "from current smoker to former smoker" in advice
    assert "of screens a day" in advice


# ------------------------------------------------------------------------- files


def test_the_spss_copy_reads_like_the_csv(formats):
    survey, _ = formats
    sav = sleeprx.read_survey(DATA / "formats_sleep_survey.sav", survey.description)
    pd.testing.assert_frame_equal(sav.frame, survey.frame)


@pytest.mark.parametrize("suffix", [".xpt", ".dta", ".parquet", ".sav"])
def test_survey_files_read_like_the_csv(tmp_path, formats, suffix):
    import pyreadstat

    survey, _ = formats
    raw = pd.read_csv(DATA / "formats_sleep_survey.csv", dtype=str, keep_default_na=False)
    raw = raw.head(40)
    typed = raw.assign(
        SEQN=raw["SEQN"].astype(int),
        AGE=raw["AGE"].astype(float),
        DRINKDAYS=raw["DRINKDAYS"].astype(int),
        DRINKS=raw["DRINKS"].astype(float),
        QUALITY=raw["QUALITY"].astype(int),
    )
    path = tmp_path / f"survey{suffix}"
    writers = {
        ".xpt": pyreadstat.write_xport,
        ".dta": pyreadstat.write_dta,
        ".sav": pyreadstat.write_sav,
    }
    if suffix == ".parquet":
        typed.to_parquet(path)
    else:
        writers[suffix](typed, str(path))
    csv = tmp_path / "survey.csv"
    raw.to_csv(csv, index=False)
    expected = sleeprx.read_survey(csv, survey.description).frame
    pd.testing.assert_frame_equal(sleeprx.read_survey(path, survey.description).frame, expected)


def test_an_unreadable_survey_file_is_one_message(tmp_path, formats):
    survey, _ = formats
    path = tmp_path / "broken.sav"
    path.write_bytes(b"not an SPSS file")
    with pytest.raises(SurveyError, match=r"broken\.sav: cannot be read as a SPSS file"):
        sleeprx.read_survey(path, survey.description)


# ------------------------------------------------------------------------ describe


def _uncommented(draft: str) -> str:
    """The draft with its levers uncommented, as a person would."""
    return "\n".join(line[2:] if line.startswith("# ") else line for line in draft.splitlines())


def test_a_draft_of_the_messy_survey_reads_it_once_levers_are_uncommented(tmp_path):
    messy = DATA / "messy_sleep_survey.csv"
    result = sleeprx_cli("describe", messy, "--out", tmp_path / "draft.yaml")
    assert result.returncode == 0, result.stderr
    draft = (tmp_path / "draft.yaml").read_text(encoding="utf-8")
    with pytest.raises(DescriptionError, match="modifiable"):
        description_from_dict(yaml.safe_load(draft))
    raw = yaml.safe_load(_uncommented(draft))
    description = description_from_dict(raw)
    assert len(description.modifiable) >= 10
    survey = sleeprx.read_survey(messy, description)
    assert len(survey.frame) == len(pd.read_csv(messy))
    assert description.column("respondent_id").type == "text"
    assert description.column("income_band").allow_missing
    model = sleeprx.train(survey, settings=sleeprx.ModelSettings(n_estimators=5, max_depth=2))
    assert len(model.feature_names) > len(description.modifiable)


def test_describe_then_train_on_an_xpt_copy(tmp_path):
    import pyreadstat

    frame = pd.read_csv(DATA / "formats_sleep_survey.csv", keep_default_na=False).head(200)
    frame["SMOKING"] = frame["SMOKING"].map({"Never": 0, "Former": 1, "Current": 2})
    xpt = tmp_path / "survey.xpt"
    labels = [""] * len(frame.columns)
    labels[list(frame.columns).index("SMOKING")] = "smoking"
    pyreadstat.write_xport(frame, str(xpt), column_labels=labels)
    draft = sleeprx_cli("describe", xpt)
    assert draft.returncode == 0, draft.stderr
    raw = yaml.safe_load(_uncommented(draft.stdout))
    kinds = {c["source"]: c["type"] for c in raw["columns"]}
    assert kinds["BEDTIME"] == "clock" and kinds["SCREEN"] == "categorical"
    assert kinds["WORK"] == "categorical" and kinds["SEQN"] == "integer"
    (tmp_path / "draft.yaml").write_text(_uncommented(draft.stdout), encoding="utf-8")
    result = sleeprx_cli(
        "train", "--survey", xpt, "--description", tmp_path / "draft.yaml",
        "--out", tmp_path / "model", "--cv-repeats", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model" / "model.json").is_file()


def test_describe_writes_value_labels_as_ordinal_codes(tmp_path):
    draft = sleeprx_cli("describe", DATA / "formats_sleep_survey.sav")
    assert draft.returncode == 0, draft.stderr
    raw = yaml.safe_load(_uncommented(draft.stdout))
    smoking = next(c for c in raw["columns"] if c["source"] == "SMOKING")
    assert smoking["type"] == "ordinal"
    assert [c["text"] for c in smoking["codes"]] == ["Never", "Former", "Current"]
    lever = next(f for f in raw["modifiable"] if f["column"] == "smoking")
    assert lever["levels"] == ["Never", "Former", "Current"]
    d = description_from_dict(raw)
    assert d.factor("smoking").level_labels == ("Never", "Former", "Current")
    assert d.factor("bedtime").clock_origin is not None


def test_a_new_key_used_wrongly_exits_2_naming_it(tmp_path):
    raw = _edited(lambda r: _column(r, "age").update(codes=[{"text": "a", "code": 1}]))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = sleeprx_cli(
        "train", "--survey", DATA / "formats_sleep_survey.csv", "--description", bad,
        "--out", tmp_path / "m",
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'codes' is for type ordinal only" in lines[0], result.stderr


@pytest.mark.slow
def test_sleeprx_train_accepts_the_uncommented_draft_of_the_messy_survey(tmp_path):
    messy = DATA / "messy_sleep_survey.csv"
    draft = sleeprx_cli("describe", messy)
    assert draft.returncode == 0, draft.stderr
    (tmp_path / "draft.yaml").write_text(_uncommented(draft.stdout), encoding="utf-8")
    result = sleeprx_cli(
        "train", "--survey", messy, "--description", tmp_path / "draft.yaml",
        "--out", tmp_path / "model", "--cv-repeats", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model" / "model.json").is_file()
