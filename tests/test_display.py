"""Words and numbers for people: labels, units, clock times and the advice sentence."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from sleeprx.prescribing.table import advice
from sleeprx.survey import display
from sleeprx.survey.description import description_from_dict

TINY = {
    "name": "tiny",
    "id_column": "pid",
    "columns": [
        {"source": "ID", "name": "pid", "type": "integer"},
        {"source": "Bed", "name": "bedtime", "type": "numeric", "unit": "h after 18:00"},
        {"source": "Act", "name": "activity", "type": "integer", "unit": "min/day"},
        {"source": "Steps", "name": "steps", "type": "integer", "unit": "steps"},
        {"source": "Stress", "name": "stress", "type": "integer", "label": "stress score"},
        {"source": "Age", "name": "age", "type": "integer", "unit": "years"},
        {"source": "Rested", "name": "rested", "type": "integer"},
    ],
    "target": {"column": "rested", "threshold": 3, "positive_label": "feeling rested"},
    "modifiable": [
        {
            "column": "bedtime",
            "label": "weekday bedtime",
            "unit": "h after 18:00",
            "clock_origin": "18:00",
            "lower": 3,
            "upper": 9,
            "step": 0.5,
            "max_change": 2,
            "fixed_cost": 1,
        },
        {
            "column": "activity",
            "label": "physical activity",
            "unit": "min/day",
            "lower": 0,
            "upper": 120,
            "step": 10,
            "max_change": 30,
            "fixed_cost": 1,
        },
        {
            "column": "steps",
            "label": "daily steps",
            "unit": "steps",
            "lower": 0,
            "upper": 20000,
            "step": 500,
            "max_change": 4000,
            "fixed_cost": 1,
        },
        {
            "column": "stress",
            "label": "stress score",
            "lower": 1,
            "upper": 10,
            "step": 1,
            "max_change": 3,
            "fixed_cost": 1,
        },
    ],
}


@pytest.fixture(scope="module")
def tiny():
    return description_from_dict(TINY)


def test_clock_times_wrap_past_midnight():
    assert display.clock_time("18:00", 0) == "18:00"
    assert display.clock_time("18:00", 6) == "00:00"
    assert display.clock_time("18:00", 7.5) == "01:30"
    assert display.clock_time("18:00", 30.25) == "00:15"  # past 24 h wraps again
    assert display.clock_time("23:30", 1.0) == "00:30"
    assert display.clock_time("18:00", -1) == "17:00"
    assert display.clock_time("18:00", 1 / 60 * 0.4) == "18:00"  # nearest minute


def test_numbers_units_and_thousands(tiny):
    assert display.format_number(12000) == "12,000"
    assert display.format_number(1234.6) == "1,235"
    assert display.format_number(7.25) == "7.25"
    assert display.format_number(7.0) == "7"
    assert display.format_number(-0.001) == "0"
    assert display.format_value(tiny.factor("activity"), 40) == "40 min/day"
    assert display.format_value(tiny.factor("steps"), 7500) == "7,500"  # the label says steps
    assert display.format_value(tiny.factor("stress"), 4) == "4"
    assert display.format_value(tiny.factor("bedtime"), 8) == "02:00"
    assert display.format_value(tiny.column("age"), 40) == "40 years"
    assert display.format_value(None, 3.5) == "3.5"


@pytest.mark.parametrize("missing", [math.nan, None, float("nan"), "n/a"])
def test_a_missing_value_does_not_crash(tiny, missing):
    assert display.format_number(missing) == "not given"
    for name in ("bedtime", "activity", "steps"):
        assert display.format_value(tiny.factor(name), missing) == "not given"
    factor = tiny.factor("activity")
    assert display.change_phrase(factor, missing, 60) == "set physical activity to 60 min/day"
    assert display.change_phrase(factor, 40, missing) is None


def test_labels_come_from_the_description(tiny):
    assert display.factor_label(tiny, "bedtime") == "weekday bedtime"
    assert display.factor_label(tiny, "age") == "age"  # no label: the name with spaces
    assert display.factor_label(tiny, "stress") == "stress score"
    assert display.factor_label(None, "daily_steps") == "daily steps"
    assert display.factor_label(tiny, "no_such_column") == "no such column"
    assert display.axis_label(tiny, "activity") == "physical activity (min/day)"
    assert display.axis_label(tiny, "bedtime") == "weekday bedtime (clock time)"
    assert display.axis_label(tiny, "steps") == "daily steps"
    assert display.axis_label(tiny, "stress") == "stress score"
    assert display.axis_label(tiny, "age") == "age (years)"
    assert display.positive_label(tiny) == "feeling rested"
    assert display.positive_label(None) == display.FALLBACK_POSITIVE


def test_change_phrases(tiny):
    bed, act = tiny.factor("bedtime"), tiny.factor("activity")
    assert display.change_phrase(bed, 8, 7.5) == "move weekday bedtime earlier from 02:00 to 01:30"
    assert display.change_phrase(bed, 5.5, 6.5) == "move weekday bedtime later from 23:30 to 00:30"
    assert (
        display.change_phrase(act, 40, 60)
        == "increase physical activity from 40 min/day to 60 min/day"
    )
    assert display.change_phrase(tiny.factor("steps"), 5000, 7500) == (
        "increase daily steps from 5,000 to 7,500"
    )
    assert display.change_phrase(act, 40, 40) is None
    assert display.join_phrases(["a", "b", "c"]) == "a, b and c"
    assert display.sentence("move it") == "Move it."
    assert "\n" in display.wrap_label("a very long label for a factor that needs wrapping", 20)


def test_advice_uses_labels_units_and_clock_times(tiny):
    model = SimpleNamespace(description=tiny)
    plan = SimpleNamespace(levels=[1, 1, 0, 1], status="changed", reason="")
    text = advice(model, plan, [8.0, 40.0, 5000.0, 6.0], [7.5, 60.0, 5000.0, 5.0])
    assert text == (
        "Move weekday bedtime earlier from 02:00 to 01:30, increase physical activity "
        "from 40 min/day to 60 min/day and reduce stress score from 6 to 5."
    )
    assert "after 18:00" not in text and " h " not in text
    still = SimpleNamespace(levels=[0, 0, 0, 0], status="no_change", reason="gain too small")
    assert advice(model, still, [8.0, 40.0, 5000.0, 6.0], [8.0, 40.0, 5000.0, 6.0]) == (
        "No change: gain too small."
    )
    none = SimpleNamespace(levels=None, status="infeasible", reason="no allowed change")
    assert advice(model, none, [math.nan] * 4, [math.nan] * 4) == (
        "No prescription: no allowed change."
    )
