"""The N best plans: what ``options = 3`` costs beside the single best plan.

For each mode (surrogate, exact), program (penalised; a goal p >= 0.8) and route
(``auto``: enumeration on these programs; ``mip``: no-good cuts), the same people are
prescribed with ``options`` 1 and 3 in one process, and the wall time per person of
each is printed beside the rows written and the people given three plans. ``--before
TREE`` also times ``options``-free ``prescribe`` in another checkout (the commit before
the change), in its own process, as the baseline of option 1.

    python benchmarks/bench_options.py --model MODEL [--people 100] [--before TREE] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from common import ROOT, command_head, load_average, machine_line, markdown, write_blocks

PROGRAMS = {"penalised": None, "goal p>=0.8": 0.8}


def measure(model_dir: str, people: int, options: tuple[int, ...], solvers: tuple[str, ...]):
    """In the tree on ``sys.path``: one row per setting, ms per person (best of 2)."""
    import sleeprx

    model = sleeprx.load_model(model_dir)
    survey = sleeprx.read_survey(None, model.description)
    ids = list(survey.frame.index[:people])
    rows = []
    for mode in ("surrogate", "exact"):
        for program, goal in PROGRAMS.items():
            for solver in solvers:
                for n in options:
                    extra = {"options": n} if n > 1 else {}
                    settings = sleeprx.PrescribeSettings(
                        mode=mode, goal=goal, solver=solver, **extra
                    )
                    seconds = []
                    for _ in range(2):
                        start = time.perf_counter()
                        table = sleeprx.prescribe(survey, model, settings=settings, ids=ids)
                        seconds.append(time.perf_counter() - start)
                    full = table.groupby("person_id").size().eq(3).sum() if n > 1 else 0
                    rows.append(
                        {
                            "mode": mode,
                            "program": program,
                            "solver": solver,
                            "N": n,
                            "rows": len(table),
                            "with 3": int(full),
                            "ms": 1000 * min(seconds) / len(ids),
                        }
                    )
    return rows


def _in_tree(tree: str, model_dir: str, people: int, solvers: tuple[str, ...]) -> list[dict]:
    """:func:`measure` with ``options`` 1 only, in a process importing ``tree``."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        "from bench_options import measure; "
        f"print(json.dumps(measure({model_dir!r}, {people}, (1,), {solvers!r})))"
    )
    env = os.environ | {"PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--before", help="another checkout: its prescribe as the baseline")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    solvers = ("auto", "mip")
    load = load_average()
    rows = [{"tree": "this tree"} | r for r in measure(args.model, args.people, (1, 3), solvers)]
    if args.before:
        before = _in_tree(args.before, args.model, args.people, solvers)
        rows = [{"tree": "before"} | r for r in before] + rows
    header = ["tree", "mode", "program", "solver", "N", "rows", "with 3", "ms per person"]
    cells = [
        [
            *(r["tree"], r["mode"], r["program"], r["solver"], str(r["N"]), str(r["rows"])),
            str(r["with 3"]) if r["N"] > 1 else "-",
            f"{r['ms']:.2f}",
        ]
        for r in rows
    ]
    table = markdown(header, cells)
    after = load_average()
    head = (
        f"{command_head('bench_options.py', argv)} Load average before the run: {load}, "
        f"after: {after}, on {machine_line(['xgboost', 'HiGHS (highspy)', 'pandas'])}. "
        f"The first {args.people} people of the shipped survey; each figure is the best of "
        "two calls. The machine is shared and busy: compare rows of one run only."
    )
    print(head)
    print()
    print(table)
    if args.write:
        write_blocks(
            "bench_options",
            "The N best plans (bench_options.py)",
            "`prescribe` with `options` 1 and 3 on the same people, per mode, program and route.",
            {"run": f"{head}\n\n{table}"},
        )


if __name__ == "__main__":
    main()
