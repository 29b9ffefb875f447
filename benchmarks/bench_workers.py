"""One worker against two, in one run: the batch engine's speed-up on this machine.

    python benchmarks/bench_workers.py [--people 100000] [--survey shipped|messy]
                                       [--modes surrogate,exact] [--repeat 1]

Writes one cohort (``common.write_cohort``, as ``bench_scale.py`` does: resampled rows,
behaviours jittered inside their observed ranges), trains the default model untimed,
then times ``prescribe_batch`` with 1 worker and with 2, surrogate and exact,
alternating so that load from other processes falls on both alike (``--repeat N``
pairs each), and prints the
speed-up with the load average before and after each run, and the serial seconds of
each run (``BatchResult.phases``: the driver's scan before the first task, the rest of
the cluster's start, and the merge after the last task while the cluster closes; the
rest, "solve", is the workers').

Each run is a fresh Python process, as a command-line run is: nothing it starts
(a Dask cluster, a fork server with sleeprx imported) is left warm for the next.
Its wall time is that of the ``prescribe_batch`` call, after the imports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import SURVEYS, load_average, load_base, machine_line, write_cohort
from scale_throughput import PACKAGES, serial_seconds

import sleeprx

#: One timed run, in a fresh interpreter: argv is cohort, model, out, mode, workers, chunk.
RUN = """
import json, sys, time
import sleeprx
from sleeprx.batch import prescribe_batch
cohort, model, out, mode, workers, chunk = sys.argv[1:]
start = time.perf_counter()
result = prescribe_batch(cohort, model, out, settings=sleeprx.PrescribeSettings(mode=mode),
                         workers=int(workers), chunk_size=int(chunk))
print(json.dumps({"seconds": time.perf_counter() - start, "phases": result.phases}))
"""


def timed_run(cohort: Path, model: Path, out: Path, mode: str, workers: int, chunk: int) -> dict:
    """``prescribe_batch`` in a fresh process: its wall seconds and phases."""
    argv = [str(cohort), str(model), str(out), mode, str(workers), str(chunk)]
    done = subprocess.run(
        [sys.executable, "-c", RUN, *argv],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if done.returncode != 0:
        raise SystemExit(f"the run with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--survey", choices=sorted(SURVEYS), default="shipped")
    parser.add_argument("--chunk-size", type=int, default=2_000)
    parser.add_argument("--modes", default="surrogate,exact", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs per mode")
    args = parser.parse_args()
    spec = SURVEYS[args.survey]
    with tempfile.TemporaryDirectory(prefix="sleeprx-workers-") as folder:
        tmp = Path(folder)
        base = load_base(spec)
        survey = sleeprx.read_survey(spec.csv, base.description)
        sleeprx.save_model(sleeprx.train(survey), tmp / "model")
        cohort = tmp / "cohort.csv"
        distinct = write_cohort(base, args.people, cohort, seed=1)
        print(
            f"{spec.title}, {args.people:,} people ({distinct:.1%} distinct), chunks of "
            f"{args.chunk_size:,}; machine: {machine_line(PACKAGES)}"
        )
        print(
            "| mode | workers | wall s | people/s | serial s (prepare + start + finish) | solve s "
            "| load before | load after |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        ratios: dict[str, list[float]] = {}
        modes = args.modes.split(",")
        for mode in modes:
            for _ in range(args.repeat):
                seconds = {}
                for workers in (1, 2):
                    before = load_average()
                    out = tmp / f"{mode}-{workers}.csv"
                    run = timed_run(cohort, tmp / "model", out, mode, workers, args.chunk_size)
                    seconds[workers] = run["seconds"]
                    print(
                        f"| {mode} | {workers} | {run['seconds']:.1f} | "
                        f"{args.people / run['seconds']:,.0f} | "
                        f"{serial_seconds(run['phases'])} | {run['phases']['solve']:.1f} | "
                        f"{before} | {load_average()} |"
                    )
                ratios.setdefault(mode, []).append(seconds[1] / seconds[2])
        for mode, pairs in ratios.items():
            each = ", ".join(f"{r:.2f}x" for r in pairs)
            print(
                f"{mode}: 2 workers {statistics.median(pairs):.2f}x faster than 1 "
                f"(median of {len(pairs)} pair(s): {each})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
