"""One worker against two, in one run: the batch engine's speed-up on this machine.

    python benchmarks/bench_workers.py [--people 100000] [--survey shipped|messy]

Writes one cohort (``common.write_cohort``, as ``bench_scale.py`` does: resampled rows,
behaviours jittered inside their observed ranges), trains the default model untimed,
then times ``prescribe_batch`` with 1 worker and with 2, surrogate and exact,
alternating so that load from other processes falls on both alike, and prints the
speed-up with the load average before and after each run, and the serial seconds of
each run (``BatchResult.phases``: the driver's scan before the first task, the rest of
the cluster's start, and the merge after the last task while the cluster closes; the
rest, "solve", is the workers').
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import SURVEYS, load_average, load_base, machine_line, write_cohort
from scale_throughput import PACKAGES, serial_seconds

import sleeprx
from sleeprx.batch import prescribe_batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--survey", choices=sorted(SURVEYS), default="shipped")
    parser.add_argument("--chunk-size", type=int, default=2_000)
    parser.add_argument("--modes", default="surrogate,exact", help="comma-separated")
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
        seconds = {}
        modes = args.modes.split(",")
        for mode in modes:
            for workers in (1, 2):
                before = load_average()
                start = time.perf_counter()
                result = prescribe_batch(
                    cohort,
                    tmp / "model",
                    tmp / f"{mode}-{workers}.csv",
                    settings=sleeprx.PrescribeSettings(mode=mode),
                    workers=workers,
                    chunk_size=args.chunk_size,
                )
                seconds[mode, workers] = time.perf_counter() - start
                print(
                    f"| {mode} | {workers} | {seconds[mode, workers]:.1f} | "
                    f"{args.people / seconds[mode, workers]:,.0f} | "
                    f"{serial_seconds(result.phases)} | {result.phases['solve']:.1f} | "
                    f"{before} | {load_average()} |"
                )
        for mode in modes:
            print(f"{mode}: 2 workers {seconds[mode, 1] / seconds[mode, 2]:.2f}x faster than 1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
