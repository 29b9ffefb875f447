"""The package's shape: imports run one way, layers stay apart, the API stays small.

Imports are read from the source with :mod:`ast`, so imports inside functions and
under ``TYPE_CHECKING`` count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sleeprx

PACKAGE = Path(sleeprx.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every sleeprx module that ``name`` imports, wherever the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _cycles() -> list[list[str]]:
    """Cycles among modules (a package's __init__ re-exporting its children is not one)."""
    edges = {
        a: {b for b in bs if not (_is_package(a) and b.startswith(a + "."))}
        for a, bs in GRAPH.items()
    }
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return cycles


def test_the_import_reader_sees_imports_inside_functions_and_type_checking(tmp_path):
    # cli imports every command's modules inside the command functions only
    assert "sleeprx.learn.model" in GRAPH["sleeprx.app.cli"]
    module = tmp_path / "curves.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .model import TrainedModel\n"
        "def f():\n    from ..optimize import problem\n"
    )
    assert _imports("sleeprx.learn.attributions", module) == {
        "sleeprx.learn.model",
        "sleeprx.optimize",
        "sleeprx.optimize.problem",
    }


def test_no_import_cycles():
    cycles = _cycles()
    print("import cycles:", cycles or "none", f"({len(MODULES)} modules)")
    assert not cycles


def test_a_cycle_would_be_found(monkeypatch):
    """The check can fail: add a back edge and it reports the cycle."""
    monkeypatch.setitem(GRAPH, "sleeprx.survey.curves", {"sleeprx.learn.model"})
    assert any("sleeprx.survey.curves" in c for c in _cycles())


#: Each layer's rank: a module may import its own layer and the layers ranked below it.
#: Layers of equal rank (analysis, batch) do not import each other.
RANKS = {
    "utils": 0,
    "settings": 1,
    "survey": 2,
    "learn": 3,
    "optimize": 4,
    "prescribing": 5,
    "analysis": 6,
    "batch": 6,
    "app": 7,
    "__main__": 8,
}


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "sleeprx"


def _upward_imports() -> set[tuple[str, str]]:
    found = set()
    for a, bs in GRAPH.items():
        if _layer(a) == "sleeprx":  # the package __init__ re-exports lazily from every layer
            continue
        for b in bs:
            if _layer(a) != _layer(b) and RANKS[_layer(b)] >= RANKS[_layer(a)]:
                found.add((a, b))
    return found


def test_every_module_belongs_to_a_layer():
    assert {_layer(name) for name in MODULES} - {"sleeprx"} <= set(RANKS)


def test_imports_run_downwards_through_the_layers():
    assert not _upward_imports()


def test_an_upward_import_would_be_found(monkeypatch):
    monkeypatch.setitem(GRAPH, "sleeprx.survey.read", {"sleeprx.learn.model"})
    assert ("sleeprx.survey.read", "sleeprx.learn.model") in _upward_imports()


def test_the_optimisation_layer_reads_only_the_survey_and_the_tree_types():
    allowed_learn = {"sleeprx.learn", "sleeprx.learn.ensemble"}
    crossing = {
        (a, b)
        for a, bs in GRAPH.items()
        if a.startswith("sleeprx.optimize")
        for b in bs
        if _layer(b) not in {"optimize", "survey", "settings", "utils"} and b not in allowed_learn
    }
    assert not crossing


def test_the_verifier_does_not_read_the_optimisation_layer():
    """verify re-derives steps, ladders and limits from the description alone, so a
    mistake in the optimisation layer cannot hide from it."""
    assert not {b for b in GRAPH["sleeprx.prescribing.verify"] if _layer(b) == "optimize"}


def test_no_module_imports_a_private_name_of_another():
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("sleeprx")
            ):
                found += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name[0] == "_"]
    assert not found


def test_public_api_is_small_and_documented():
    assert len(sleeprx.__all__) <= 20
    for name in sleeprx.__all__:
        assert getattr(sleeprx, name).__doc__, name


def test_every_folder_says_its_job():
    for init in PACKAGE.rglob("__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_plain_data_modules_import_nothing_heavy():
    """The problem data and the description load without XGBoost, SHAP, scikit-learn,
    HiGHS, Pyomo or pandas (a fresh interpreter, so nothing is imported already)."""
    import subprocess
    import sys

    heavy = ("xgboost", "shap", "sklearn", "highspy", "pyomo", "pandas")
    code = (
        "import sys, sleeprx.optimize.problem, sleeprx.survey.description, sleeprx.survey.curves, "
        "sleeprx.learn.ensemble; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_is_the_function_or_class_even_after_its_module_loads():
    """A submodule named like a public name would shadow it once imported."""
    import importlib

    for module in {m for m in sleeprx._EXPORTS.values()}:
        importlib.import_module(module)
    for name in sleeprx.__all__:
        assert not isinstance(getattr(sleeprx, name), type(sleeprx)), name
