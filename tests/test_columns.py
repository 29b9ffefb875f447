"""The prescription table's columns have one owner, and the README says the same."""

from __future__ import annotations

import re
from pathlib import Path

from sleeprx.prescribing import columns

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_rows() -> list[tuple[str, str]]:
    """(column, meaning) of every row of the README's prescription-table section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### The prescription table", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.*) \|$", section, flags=re.MULTILINE)
    return [(name, meaning.replace("\\|", "|")) for name, meaning in rows]


def test_the_readme_lists_exactly_the_modules_columns_in_order():
    assert [name for name, _ in _readme_rows()] == [c.name for c in columns.COLUMNS]


def test_the_readme_says_what_the_module_says():
    assert _readme_rows() == [(c.name, c.meaning) for c in columns.COLUMNS]


def test_a_levers_columns_come_from_its_name():
    assert columns.before("stress_level") == "stress_level_before"
    assert columns.after("stress_level") == "stress_level_after"
    names = columns.names(["a", "b"])
    assert names[names.index("objective") + 1 : names.index("advice")] == [
        "a_before",
        "a_after",
        "b_before",
        "b_after",
    ]
    documented = len(columns.COLUMNS) - len(columns.OPTIONAL) + 2  # <factor>: a's and b's
    assert len(names) == len(set(names)) == documented - len(columns.CONFIDENCE)
    with_refits = columns.names(["a", "b"], confidence=True)
    assert with_refits == names + [c.name for c in columns.CONFIDENCE]
    assert len(with_refits) == len(set(with_refits)) == documented


def test_levers_are_found_by_their_pair_of_columns():
    table = [*columns.names(["sleep_duration", "x_y"]), "only_before"]
    assert columns.levers_in(table) == ["sleep_duration", "x_y"]  # not p, not only
