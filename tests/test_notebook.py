"""The analysis notebook runs top to bottom against the installed package, through the
public API alone, explains every output and prints no warning."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import sleeprx

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01-sleep-prescriptions.ipynb"


def _code_cells() -> list[str]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def sleeprx_uses(source: str) -> list[str]:
    """Every sleeprx name a cell imports or reaches, as written: ``sleeprx.train``,
    ``sleeprx.analysis`` (from ``import sleeprx.analysis``), ``from sleeprx.x import y``."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "sleeprx"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sleeprx":
            found += [f"{node.module}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "sleeprx"
        ):
            found.append(f"sleeprx.{node.attr}")
    return found


def test_the_use_reader_finds_private_imports_and_attributes():
    cell = "%matplotlib inline\nimport sleeprx\nfrom sleeprx.analysis.plots import k\nsleeprx.x()"
    assert sleeprx_uses(cell) == ["sleeprx", "sleeprx.analysis.plots.k", "sleeprx.x"]


def test_the_notebook_uses_only_the_public_api():
    public = {"sleeprx", "sleeprx.__all__", *(f"sleeprx.{name}" for name in sleeprx.__all__)}
    used = {name for source in _code_cells() for name in sleeprx_uses(source)}
    assert used, "the notebook should use sleeprx"
    assert used <= public, f"not in sleeprx.__all__: {sorted(used - public)}"


def test_every_output_is_explained_by_the_markdown_after_it():
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    unexplained = [
        i
        for i, (cell, following) in enumerate(zip(cells, [*cells[1:], None], strict=True))
        if cell.cell_type == "code" and (following is None or following.cell_type != "markdown")
    ]
    assert unexplained == []


def test_notebook_outputs_are_stripped():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    return output.get("data", {}).get("text/plain", "")


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # a warning goes to stderr: none may show, the library's or its dependencies'
    warnings = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert warnings == []
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # the levers' SHAP, one person's front, the K curve, the budgets
    text = "\n".join(_text(o) for o in outputs)
    assert "1001 (" in text  # the new person typed in as a dict was prescribed for
    assert "column 'Stress Level': 12 is outside 1..10" in text  # and the typo named
    # advice is shown whole: pandas marks a cut-off cell with "..."
    assert not [line for line in text.splitlines() if line.rstrip().endswith("...")]
