"""The README's "Bring your own survey" guide: its example runs, and it names every key.

The example description and CSV are read from the README itself, so the guide cannot
drift from what sleeprx accepts; the schema is walked from the pydantic models, so a
key added to the description cannot go undocumented.
"""

from __future__ import annotations

import enum
import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

import sleeprx
from sleeprx.prescribing.verify import constraint_violations
from sleeprx.survey import derived as derived_schema
from sleeprx.survey import description as schema
from sleeprx.survey.display import change_phrase, follows_phrase
from sleeprx.survey.rules import Relative

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Bring your own survey"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README.md has no '{HEADING}' section"
    body = text.split(HEADING, 1)[1]
    following = re.search(r"^## ", body, flags=re.MULTILINE)
    return body[: following.start()] if following else body


def _block(section: str, language: str) -> str:
    blocks = re.findall(rf"^```{language}\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"expected one ```{language} block in the guide, found {len(blocks)}"
    return blocks[0]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The guide's survey, read with its description, and a tiny model trained on it."""
    section = _section()
    folder = tmp_path_factory.mktemp("guide")
    yaml_path = folder / "my_survey.yaml"
    csv_path = folder / "my_survey.csv"
    yaml_path.write_text(_block(section, "yaml"), encoding="utf-8")
    csv_path.write_text(_block(section, "csv"), encoding="utf-8")
    description = sleeprx.load_description(yaml_path)
    survey = sleeprx.read_survey(csv_path, description)
    model = sleeprx.train(survey, settings=sleeprx.ModelSettings(n_estimators=5, max_depth=2))
    return survey, model


def test_example_has_what_the_guide_promises(example):
    survey, _ = example
    d = survey.description
    frame = survey.frame
    assert 6 <= len(frame) <= 10
    assert frame.isna().any().any(), "the example CSV should have blank cells"
    assert any(c.allow_missing and c.name not in d.modifiable_names for c in d.columns)
    assert any(c.type == "categorical" and c.feature for c in d.columns)
    levers = d.modifiable
    assert any(not f.is_ladder and f.rules for f in levers), "a grid lever with a rule"
    assert any(f.is_ladder for f in levers), "a ladder lever"
    assert any(f.clock_origin for f in levers), "a clock-time lever"
    assert d.constraints, "a linear constraint"
    assert any(c.type == "clock" for c in d.columns), "a column of clock strings"
    assert any(f.level_labels and d.column(f.column).type == "ordinal" for f in levers)
    assert any("<" in c for col in d.columns for c in col.categories), "'<' in a category"
    assert d.derived_levers and d.lever_groups, "a derived lever and a lever group"
    y = frame[d.target.column] >= d.target.threshold
    assert y.any() and not y.all(), "the example needs both classes of the target"


@pytest.mark.parametrize("mode", ["surrogate", "exact"])
def test_example_prescribes_within_its_constraints(example, mode):
    survey, model = example
    settings = sleeprx.PrescribeSettings(mode=mode)
    table = sleeprx.prescribe(survey, model, settings=settings)
    assert len(table) == len(survey.frame)
    assert not (table["status"] == "error").any(), table.loc[table["status"] == "error", "advice"]
    assert set(table["status"]) <= {"changed", "no_change", "infeasible"}
    broken = constraint_violations(
        table, survey.description, settings.max_changes, frame=survey.frame
    )
    assert broken == []


def test_example_blank_lever_is_explained(example):
    """A blank lever is not prescribed, and the advice says which answer is missing."""
    survey, model = example
    d = survey.description
    table = sleeprx.prescribe(survey, model).set_index("person_id")
    for factor in d.modifiable:
        blank = survey.frame.index[survey.frame[factor.column].isna()]
        for pid in blank:
            row = table.loc[pid]
            assert row[f"{factor.column}_after"] != row[f"{factor.column}_after"]  # NaN
            assert f"No advice on {factor.label}: the answer is missing" in row["advice"]


def test_example_rules_relative_to_the_person(example):
    """The guide's rules relative to the answer, on a blank, on the direction, its
    covariate and relative constraint and min_change do what the guide says."""
    survey, model = example
    d, frame = survey.description, survey.frame
    sleep, bedtime = d.factor("sleep_hours"), d.factor("bedtime")
    assert any(isinstance(r.upper, Relative) for r in sleep.rules), "upper: current"
    assert any(c.op == "blank" for r in sleep.rules for c in r.when), "op: blank"
    assert any(r.direction is not None for r in sleep.rules), "a rule's direction"
    assert bedtime.min_change > 0, "min_change"
    covariates = {t.column for c in d.constraints for t in c.terms} - set(d.modifiable_names)
    assert covariates == {"work_start"}, "a covariate in a constraint"
    assert any(isinstance(c.lower, Relative) for c in d.constraints), "lower: current - 1"

    def limits(pid):
        return sleep.limits_for(frame.loc[pid].to_dict())

    assert limits(2).max_change == 0.5  # no age: the rule on a blank
    assert limits(3).upper == 8.5  # 71 and 8.5 h: the later rule, upper: current, wins
    assert limits(4).direction == "up"  # 5 h: only more sleep
    table = sleeprx.prescribe(survey, model, settings=sleeprx.PrescribeSettings(lam=0.0))
    row = table.set_index("person_id").loc[4]
    assert row["sleep_hours_after"] == 5  # 06:00 wake, 07:00 start: no room for more sleep


def _schema_classes() -> list[type[BaseModel]]:
    return [
        cls
        for module in (schema, derived_schema)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == module.__name__
    ]


def _choices(annotation: object) -> set[str]:
    """Every literal and enum value an annotation allows (e.g. the ops, the directions)."""
    found: set[str] = set()
    if typing.get_origin(annotation) is typing.Literal:
        found |= {str(a) for a in typing.get_args(annotation)}
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        found |= {str(m.value) for m in annotation}
    for arg in typing.get_args(annotation):
        if typing.get_origin(annotation) is not typing.Literal:
            found |= _choices(arg)
    return found


def test_schema_is_walked():
    names = {cls.__name__ for cls in _schema_classes()}
    expected = {"Column", "Derived", "Target", "Reference", "Condition", "Rule"}
    expected |= {"ModifiableFactor", "Term", "LinearConstraint", "SurveyDescription"}
    expected |= {"DerivedLever", "DerivedTerm", "LeverGroup"}
    assert expected <= names


@pytest.mark.parametrize("cls", _schema_classes(), ids=lambda c: c.__name__)
def test_guide_names_every_key(cls):
    section = _section()
    missing = [key for key in cls.model_fields if f"`{key}`" not in section]
    assert missing == [], f"the guide does not document {cls.__name__} keys {missing}"
    values = set().union(*(_choices(f.annotation) for f in cls.model_fields.values()))
    missing = sorted(v for v in values if f"`{v}`" not in section)
    assert missing == [], f"the guide does not document {cls.__name__} values {missing}"


def test_example_advice_reads_as_the_guide_says(example):
    """The advice the guide quotes for a clock-time lever and a text ladder."""
    survey, _ = example
    d = survey.description
    section = _section()
    assert survey.frame.loc[4, "bedtime"] == 7.0  # "01:00" is 7 h after 18:00
    for phrase in (
        change_phrase(d.factor("bedtime"), 7.0, 6.0),
        change_phrase(d.factor("screens"), 3, 1),
        "move bedtime earlier from 00:30 to 00:00, "
        + follows_phrase(d.derived("wake_time"), 12.5, 12.0),
    ):
        assert f"({phrase!r})".replace("'", '"') in " ".join(section.split()), phrase


def test_describe_writes_what_the_guide_shows(tmp_path):
    """`sleeprx describe` on the SPSS example writes the lines the guide shows."""
    section = _section()
    shown = _block(section, "text").splitlines()
    survey = README.parent / "data" / "formats_sleep_survey.sav"
    result = subprocess.run(
        [sys.executable, "-m", "sleeprx.app.cli", "describe", str(survey)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    draft = result.stdout
    written = draft.splitlines()
    chunks: list[list[str]] = []
    for line in shown:  # a column or a lever each, as they appear in the draft
        if line.startswith(("- source: ", "# - column: ")) or not chunks:
            chunks.append([])
        chunks[-1].append(line)
    for chunk in chunks:
        at = written.index(chunk[0])
        assert written[at : at + len(chunk)] == chunk
    uncommented = "\n".join(ln[2:] if ln.startswith("# ") else ln for ln in written)
    path = tmp_path / "draft.yaml"
    path.write_text(uncommented, encoding="utf-8")
    sleeprx.read_survey(survey, sleeprx.load_description(path))
