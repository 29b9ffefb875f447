"""One person, warm: how long ``prescribe`` takes on a one-row DataFrame, and where.

Each tree given (``--tree``, default this one; ``--before`` adds another checkout of
sleeprx, say the commit before a change) is timed in its own process with the same
model folder: the median of ``--calls`` warm calls per mode, the solve time (the
table's ``solve_seconds``, the solver alone) beside it, the median CPU time of a call
(steadier than wall time on a busy machine), and where one call's time goes: the
median ms of each stage (reading and validation, problem preparation, planning with
the solve, the table with its re-score and advice; "other" is the rest of the call,
the median call less the stages' medians). A tree whose ``prescribe`` takes no
DataFrame gets the person as a one-row survey file, read with ``read_survey``.

    python benchmarks/bench_one_person.py --model MODEL [--before OLD_TREE] [--each] [--write]

``--each`` times one call on each person of the survey after the first 20 (which warm
it up), rather than ``--calls`` calls on one: no call repeats a person seen before, so
nothing kept from an earlier call with the same answers helps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    ROOT,
    command_head,
    load_average,
    machine_line,
    markdown,
    tree_label,
    write_blocks,
)

#: The stages of one call, by the name each has in sleeprx.prescribing.run (so that an
#: older tree is timed at the same places); a stage called several times is summed.
STAGES = {
    "read": "read_survey",
    "problems": "prepare_problems",
    "plan": "plan_person",
    "table": "build_table",
}


#: People called before the timed calls (``--each``: the first rows of the survey).
WARM = 20


def measure(model_dir: str, calls: int, row: int, each: bool = False) -> dict:
    """In the tree on ``sys.path``: per mode, the median ms of a call and of each stage.
    ``each``: instead of ``calls`` calls on one person, one call on each person after
    the first :data:`WARM` rows (warmed on those), so no call repeats an earlier one."""
    import inspect
    import statistics
    import time

    import pandas as pd

    import sleeprx
    import sleeprx.prescribing.run as run
    from sleeprx.survey.read import read_survey, shipped_survey_path

    model = sleeprx.load_model(model_dir)
    full = pd.read_csv(shipped_survey_path())
    one = full.iloc[[row]]
    takes_frame = "DataFrame" in str(inspect.signature(read_survey).parameters["path"])
    path = Path(tempfile.mkdtemp()) / "one.csv"
    pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False).iloc[[row]].to_csv(
        path, index=False
    )
    spent: dict[str, float] = {}

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    for stage, attribute in STAGES.items():
        setattr(run, attribute, timed(stage, getattr(run, attribute)))
    outer_read = timed("read", read_survey)  # a tree without DataFrame input reads a file
    out = {"frame": takes_frame}
    for mode in ("surrogate", "exact"):
        settings = sleeprx.PrescribeSettings(mode=mode)

        def call(person=one, settings=settings):
            people = person if takes_frame else outer_read(path, model.description)
            return sleeprx.prescribe(people, model, settings=settings)

        for i in range(WARM):
            call(full.iloc[[i]] if each and takes_frame else one)
        timed_people = (
            [full.iloc[[i]] for i in range(WARM, len(full))] if each and takes_frame else [one]
        )
        total, cpu, solve, stages = [], [], [], {name: [] for name in STAGES}
        for k in range(len(timed_people) if each else calls):
            spent.clear()
            person = timed_people[k % len(timed_people)]
            start, start_cpu = time.perf_counter(), time.thread_time()
            table = call(person)
            total.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
            solve.append(float(table["solve_seconds"].iloc[0]))
            for name in STAGES:
                stages[name].append(spent.get(name, 0.0))
        out[mode] = {
            "median_ms": statistics.median(total) * 1e3,
            "cpu_ms": statistics.median(cpu) * 1e3,
            "solve_ms": statistics.median(solve) * 1e3,
            "stages_ms": {name: statistics.median(v) * 1e3 for name, v in stages.items()},
        }
    return out


def run_tree(tree: Path, args: argparse.Namespace) -> dict:
    """:func:`measure` in a process that imports sleeprx from ``tree``."""
    env = os.environ | {"PYTHONPATH": f"{tree}{os.pathsep}{Path(__file__).parent}"}
    code = (
        "import json, bench_one_person as b; "
        f"print(json.dumps(b.measure({args.model!r}, {args.calls}, {args.row}, {args.each})))"
    )
    # in the tree's folder: ``python -c`` puts the working folder first on sys.path,
    # which would import another tree's sleeprx from wherever the benchmark was started
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict]) -> str:
    rows = []
    for label, result in results.items():
        for mode in ("surrogate", "exact"):
            r = result[mode]
            stages = r["stages_ms"]
            other = r["median_ms"] - sum(stages.values())
            source = "one-row DataFrame" if result["frame"] else "one-row CSV file"
            rows.append(
                [label, mode, source, f"{r['median_ms']:.2f}", f"{r['cpu_ms']:.2f}"]
                + [f"{r['solve_ms']:.3f}"]
                + [f"{stages[s]:.2f}" for s in STAGES]
                + [f"{other:.2f}"]
            )
    header = ["tree", "mode", "input", "median ms", "CPU ms", "solver ms"]
    header += [f"{s} ms" for s in STAGES] + ["other ms"]
    return markdown(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder written by 'sleeprx train'")
    parser.add_argument("--before", type=Path, help="another sleeprx checkout to time first")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--row", type=int, default=5, help="the survey row (0-based)")
    parser.add_argument(
        "--each",
        action="store_true",
        help="one call on each person (after 20 warm-up rows) instead of --calls on one",
    )
    parser.add_argument("--write", action="store_true", help="write the table to BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.model = str(Path(args.model).resolve())  # read from each tree's folder
    load = load_average()
    trees = ({tree_label("before", args.before): args.before} if args.before else {}) | {
        "this tree": ROOT
    }
    results = {label: run_tree(tree, args) for label, tree in trees.items()}
    text = (
        f"{command_head('bench_one_person.py', argv)} Load average before the run: "
        f"{load}, after it: {load_average()}, on "
        f"{machine_line(['xgboost', 'HiGHS (highspy)', 'pandas'])}. "
        f"Targets: median <= 3 ms surrogate, <= 5 ms exact.\n\n"
        f"{table(results)}"
    )
    print(text)
    if args.write:
        write_blocks(
            "one_person",
            "One person, warm (bench_one_person.py)",
            "`prescribe` of one person of the shipped survey, model loaded; the median "
            "call and the median ms of each of its stages.",
            {"each" if args.each else "run": text},
        )


if __name__ == "__main__":
    main()
