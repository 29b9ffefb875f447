"""One person, warm: how long ``prescribe`` takes on a one-row DataFrame, and where.

Each tree given (``--tree``, default this one; ``--before`` adds another checkout of
sleeprx, say the commit before a change) is timed in its own process with the same
model folder: the median of ``--calls`` warm calls per mode, the solve time (the
table's ``solve_seconds``) beside it, and the share of one call in each stage (from
cProfile, which slows every stage alike). A tree whose ``prescribe`` takes no
DataFrame gets the person as a one-row survey file, read with ``read_survey``.

    python benchmarks/bench_one_person.py --model MODEL [--before OLD_TREE] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, command_head, load_average, machine_line, markdown, write_blocks

STAGES = {
    "read": "read.py:.*\\(read_survey\\)",
    "problems": "run.py:.*\\(prepare_problems\\)",
    "solve": "policy.py:.*\\(plan_person\\)",
    "table": "table.py:.*\\(build_table\\)",
}


def measure(model_dir: str, calls: int, row: int) -> dict:
    """In the tree on ``sys.path``: per mode, medians (ms) and stage shares of a call."""
    import cProfile
    import inspect
    import pstats
    import re
    import statistics
    import time

    import pandas as pd

    import sleeprx
    from sleeprx.survey.read import read_survey, shipped_survey_path

    model = sleeprx.load_model(model_dir)
    one = pd.read_csv(shipped_survey_path()).iloc[[row]]
    takes_frame = "DataFrame" in str(inspect.signature(read_survey).parameters["path"])
    path = Path(tempfile.mkdtemp()) / "one.csv"
    pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False).iloc[[row]].to_csv(
        path, index=False
    )
    out = {"frame": takes_frame}
    for mode in ("surrogate", "exact"):
        settings = sleeprx.PrescribeSettings(mode=mode)

        def call(settings=settings):
            people = one if takes_frame else read_survey(path, model.description)
            return sleeprx.prescribe(people, model, settings=settings)

        for _ in range(5):
            call()
        total, solve = [], []
        for _ in range(calls):
            start = time.perf_counter()
            table = call()
            total.append(time.perf_counter() - start)
            solve.append(float(table["solve_seconds"].iloc[0]))
        profile = cProfile.Profile()
        profile.runcall(lambda: [call() for _ in range(max(calls // 4, 5))])
        stats = pstats.Stats(profile).stats
        whole = max(v[3] for v in stats.values())
        shares = {
            name: sum(v[3] for k, v in stats.items() if re.search(rx, f"{k[0]}:{k[1]}({k[2]})"))
            / whole
            for name, rx in STAGES.items()
        }
        out[mode] = {
            "median_ms": statistics.median(total) * 1e3,
            "solve_ms": statistics.median(solve) * 1e3,
            "shares": shares,
        }
    return out


def run_tree(tree: Path, args: argparse.Namespace) -> dict:
    """:func:`measure` in a process that imports sleeprx from ``tree``."""
    env = os.environ | {"PYTHONPATH": f"{tree}{os.pathsep}{Path(__file__).parent}"}
    code = (
        "import json, bench_one_person as b; "
        f"print(json.dumps(b.measure({args.model!r}, {args.calls}, {args.row})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict]) -> str:
    rows = []
    for label, result in results.items():
        for mode in ("surrogate", "exact"):
            r = result[mode]
            rest = 1 - sum(r["shares"].values())
            shares = [f"{100 * r['shares'][s]:.0f}%" for s in STAGES] + [f"{100 * rest:.0f}%"]
            source = "one-row DataFrame" if result["frame"] else "one-row CSV file"
            rows.append(
                [label, mode, source, f"{r['median_ms']:.2f}", f"{r['solve_ms']:.3f}", *shares]
            )
    header = ["tree", "mode", "input", "median ms", "solve ms"]
    header += [f"{s} share" for s in STAGES] + ["other"]
    return markdown(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder written by 'sleeprx train'")
    parser.add_argument("--before", type=Path, help="another sleeprx checkout to time first")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--row", type=int, default=5, help="the survey row (0-based)")
    parser.add_argument("--write", action="store_true", help="write the table to BENCHMARKS.md")
    args = parser.parse_args(argv)
    load = load_average()
    trees = ({"before": args.before} if args.before else {}) | {"this tree": ROOT}
    results = {label: run_tree(tree, args) for label, tree in trees.items()}
    text = (
        f"{command_head('bench_one_person.py', argv)} Load average before the run: "
        f"{load} on {machine_line(['xgboost', 'HiGHS (highspy)', 'pandas'])}. "
        f"The machine is shared and busy: figures are slower than on an idle one.\n\n"
        f"{table(results)}"
    )
    print(text)
    if args.write:
        write_blocks(
            "one_person",
            "One person, warm (bench_one_person.py)",
            "`prescribe` of one person of the shipped survey, model loaded; stage shares "
            "of one call from cProfile.",
            {"run": text},
        )


if __name__ == "__main__":
    main()
