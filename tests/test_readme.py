"""The README's layout table describes the package as it is."""

from __future__ import annotations

import re
from pathlib import Path

import sleeprx

PACKAGE = Path(sleeprx.__file__).parent
README = PACKAGE.parent / "README.md"


def layout_rows(text: str) -> set[str]:
    """The ``sleeprx/...`` paths of the table in the README's "Layout" section."""
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(sleeprx/[^`]*)` \|", section, flags=re.MULTILINE))


def package_parts() -> set[str]:
    """Every folder of the package (a package: it has an ``__init__``) and every
    top-level module but the dunder ones."""
    folders = {f"sleeprx/{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    modules = {f"sleeprx/{p.name}" for p in PACKAGE.glob("*.py") if not p.name.startswith("__")}
    return folders | modules


def test_every_folder_of_the_package_has_a_row_in_the_readme_layout_and_back():
    rows, parts = layout_rows(README.read_text(encoding="utf-8")), package_parts()
    assert not parts - rows, f"no row in the README's layout table: {sorted(parts - rows)}"
    assert not rows - parts, f"rows for what the package lacks: {sorted(rows - parts)}"


def test_the_layout_reader_finds_the_rows_of_its_section_only():
    text = (
        "## Use\n\n| `sleeprx/elsewhere/` | not this table |\n\n"
        "## Layout\n\n| path | its one job |\n| --- | --- |\n"
        "| `sleeprx/learn/` | the learning side |\n| `sleeprx/settings.py` | settings |\n"
        "| `data/` | the data |\n\n## Development\n\n| `sleeprx/later/` | nor this |\n"
    )
    assert layout_rows(text) == {"sleeprx/learn/", "sleeprx/settings.py"}
