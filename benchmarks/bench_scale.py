"""Population-scale figures for sleeprx, measured in one run.

    python benchmarks/bench_scale.py [--sizes 10000,100000] [--million | --million-only]
                                     [--enumeration-only]
                                     [--quick] [--sample 300] [--seed 0] [--write]

Cohorts. Each survey's rows are resampled with new ids (whole numbers on the shipped
survey, ``R-...`` text on the 10-lever example), and every behaviour a prescription may
change (the description's modifiable levers) is jittered inside the range the survey
observed: a grid lever moves by a whole number of grid steps in -2..2 and is clipped to
the observed minimum and maximum; a ladder lever moves -2..2 rungs on its ladder and
stays between the lowest and highest rung observed; a blank answer stays blank. Every
other answer is the resampled row's own. Each cohort is a CSV in a temporary folder.
One default model per survey (``sleeprx.train``, ``sleeprx.save_model`` into the same
temporary folder) is trained once, untimed.

1. Throughput. ``sleeprx.batch.prescribe_batch(cohort, model, out, settings=
   PrescribeSettings(mode=...), workers=N, chunk_size=...)`` with default settings
   (K = 2) for each survey, size, mode (surrogate, exact) and N (1 and 2 local Dask
   worker processes), plus the in-process engine (``workers=None``) at the smallest
   size. Wall time is the whole call: starting the Dask cluster, scanning the survey,
   solving every chunk and merging the parts into the output CSV; "serial s" is what a
   second worker cannot share (``BatchResult.phases``: "prepare", reading the model and
   scanning the survey; "start", the rest of the cluster's start; "finish", merging the
   parts while the cluster closes). Memory is sampled every 0.2 s with psutil: the
   resident set (RSS) of this process (the driver), and of each of its child processes
   (the Dask worker processes; the largest one is reported).
   "distinct" is the share of distinct problems: distinct rows of the model's inputs
   (which include every answer the description's rules read) among the cohort.
2. Exact mode against batched enumeration with the booster, on the 10-lever example at
   K = 2 and K = 3 for a sample of people (``--enumeration-only``: this alone): exact
   mode per person (set-up by ``prepare_problems`` + ``plan_person``) against
   enumeration (``prepare_problems`` without trees, ``enumerate_choices``,
   ``profile_features`` and one ``inplace_predict`` call of the booster on every profile
   with at most K changes, objective gain - lambda * cost from the problem's factor
   costs), with min_gain = min_gain_prob = 0 so both answer the same question; the
   optimal objectives are compared person by person. The set-up is timed two ways:
   one person at a time, and for the whole sample at once, shared equally (as the
   batch engine prepares a chunk).
3. ``--million``: a 1,000,000-person surrogate run on the shipped survey with 2 workers,
   beside a 100,000-person one, with the memory sampled over the run.

Timings are wall clock on a machine that may be shared: the load average is printed
before and after every table and every run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import (
    SURVEYS,
    command_head,
    load_average,
    load_base,
    log,
    markdown,
    write_blocks,
    write_cohort,
)
from scale_enumeration import enumeration_block
from scale_throughput import (
    Run,
    chunk_size_for,
    machine_block,
    mb,
    run_batch,
    share,
    speedup_table,
    throughput_table,
)

import sleeprx

SECTION_HEADER = """\
`benchmarks/bench_scale.py` prescribes for synthetic cohorts of 10,000 to 1,000,000 people
with the batch engine (`sleeprx.batch.prescribe_batch`), and compares exact mode with
batched brute-force enumeration on the 10-lever example. Cohorts resample a survey's rows
with new ids and move every lever by -2..2 grid steps (ladder rungs) inside the range the
survey observed, blanks kept blank; each survey gets one default model, trained untimed.
How to run:

```bash
python benchmarks/bench_scale.py                 # 10,000 and 100,000 people: ~50 min
python benchmarks/bench_scale.py --million-only  # 100,000 and 1,000,000, surrogate, 2 workers
python benchmarks/bench_scale.py --quick         # 2,000 people, a sample of 40: ~3 min
```

`--write` puts the output below. Columns: wall s is the whole `prescribe_batch` call
(starting the Dask cluster, scanning the survey, solving, merging the parts into one CSV);
serial s is the part of it a second worker cannot share (prepare: reading the model and
scanning the survey; start: the rest of the cluster's start; finish: merging the parts
while the cluster closes);
RSS is sampled every 0.2 s with psutil, for the driver (the benchmark's own process, which
also holds its cohort generator) and for each child process (the Dask workers; the
largest is shown); distinct is the share of distinct model-input rows among the cohort;
enumerated / optimal are the shares of `solver_status` (enumeration of every allowed
profile, or HiGHS's proven optimum of the MIP).
"""


def train_models(tmp: Path, keys: list[str]) -> dict:
    """One default model per survey, saved into ``tmp``, untimed; the cohorts' bases."""
    bases = {}
    for key in keys:
        spec = SURVEYS[key]
        log(f"training the default model on the {spec.title}")
        bases[key] = load_base(spec)
        survey = sleeprx.read_survey(spec.csv, bases[key].description)
        sleeprx.save_model(sleeprx.train(survey), tmp / f"model-{key}")
    return bases


def warm_up(key: str, base, tmp: Path, seed: int) -> str | None:
    """An untimed warm-up (imports, the first Dask cluster) that also finds out whether
    the batch engine takes this survey's ids; a note for the table when it does not."""
    small = tmp / f"cohort-{key}-warm.csv"
    write_cohort(base, 200, small, seed)
    model_dir = tmp / f"model-{key}"
    note = None
    try:
        run_batch(key, small, 200, 0, model_dir, "exact", None, tmp)
    except Exception as exc:
        if base.id_prefix is None:
            raise
        first = str(exc).splitlines()[0]
        note = (
            f"**The batch engine refused the text ids of the {SURVEYS[key].title}** "
            f"(`R-0000001` ...): `prescribe_batch` raised {type(exc).__name__}: "
            f"{first} (the Parquet parts store `person_id` as int64). Its cohorts "
            "were measured with ids of digits only (`0000001` ..., still text "
            "for the survey description)."
        )
        log(f"text ids refused ({type(exc).__name__}: {first}); using digit ids")
        base.id_prefix = ""
        write_cohort(base, 200, small, seed)
        run_batch(key, small, 200, 0, model_dir, "exact", None, tmp)
    run_batch(key, small, 200, 0, model_dir, "exact", 2, tmp)
    return note


def throughput_block(bases: dict, cohorts: dict, sizes: list[int], tmp: Path, head: str) -> str:
    """Every survey, size, mode and worker count (and in-process at the smallest size)."""
    out = [f"### Throughput ({', '.join(f'{n:,}' for n in sizes)} people)", "", head, ""]
    load_before = load_average()
    runs = []
    for key in bases:
        for n in sizes:
            path, distinct = cohorts[key, n]
            for mode in ("surrogate", "exact"):
                for workers in [1, 2] + ([None] if n == sizes[0] else []):
                    model_dir = tmp / f"model-{key}"
                    runs.append(run_batch(key, path, n, distinct, model_dir, mode, workers, tmp))
    notes = cohorts.get("notes", [])
    out += [*(f"{note}\n" for note in notes), throughput_table(runs), ""]
    out += ["Speed-up of 2 workers over 1, same run:", "", speedup_table(runs), ""]
    out += [
        "Defaults: K = 2, lambda = 0.1, min_gain 0.1, min_gain_prob 0.01, enumeration "
        "of programs of at most 20,000 profiles, else the MIP. The Dask runs start a "
        "local cluster of N single-threaded worker processes inside the call; the "
        "in-process run solves the chunks in the driver. Constraint violations found "
        f"by the engine's own check: {sum(r.violations for r in runs)} in all runs.",
        "",
        machine_block(load_before),
    ]
    return "\n".join(out)


def main_blocks(bases: dict, sizes: list[int], args, tmp: Path, head: str) -> dict[str, str]:
    """The throughput and exact-against-enumeration tables, on fresh cohorts."""
    cohorts: dict = {"notes": []}
    for key in bases:
        note = warm_up(key, bases[key], tmp, args.seed)
        if note:
            cohorts["notes"].append(note)
        for n in sizes:
            path = tmp / f"cohort-{key}-{n}.csv"
            log(f"writing a cohort of {n:,} people from the {SURVEYS[key].title}")
            cohorts[key, n] = (path, write_cohort(bases[key], n, path, args.seed + n))
    # exact mode against batched enumeration, 10-lever example (first: quick)
    path, _ = cohorts["messy", sizes[0]]
    enumeration = enumeration_block(
        tmp / "model-messy", path, sizes[0], args.sample, args.seed, head
    )
    blocks = {"throughput": throughput_block(bases, cohorts, sizes, tmp, head)}
    print(blocks["throughput"] + "\n", flush=True)
    blocks["enumeration"] = enumeration
    print(enumeration + "\n", flush=True)
    return blocks


def enumeration_only(bases: dict, size: int, args, tmp: Path, head: str) -> str:
    path = tmp / "cohort-messy.csv"
    log(f"writing a cohort of {size:,} people from the {SURVEYS['messy'].title}")
    write_cohort(bases["messy"], size, path, args.seed + size)
    block = enumeration_block(tmp / "model-messy", path, size, args.sample, args.seed, head)
    print(block + "\n", flush=True)
    return block


def million_row(r: Run) -> list[str]:
    quarters = r.memory.worker_peaks_by_quarter()
    return [
        f"{r.people:,}",
        f"{r.seconds:.0f}",
        f"{r.rate:,.0f}",
        f"{mb(r.memory.before)} / {mb(r.memory.driver_peak)}",
        f"{mb(r.memory.worker_peak)}",
        " / ".join(mb(q) for q in quarters),
        f"{mb(r.memory.children_peak)}",
        f"{100 * r.distinct:.1f}%",
        share(r.solver_status, "enumerated"),
        f"{r.load_before:.2f} / {r.load_after:.2f}",
    ]


def million_block(bases: dict, args, tmp: Path, head: str) -> str:
    """A 1,000,000-person surrogate run on the shipped survey beside a 100,000 one."""
    key = "shipped"
    load_before = load_average()
    runs = []
    for n in (100_000, 1_000_000):
        path = tmp / f"cohort-{key}-{n}-m.csv"
        log(f"writing a cohort of {n:,} people from the {SURVEYS[key].title}")
        distinct = write_cohort(bases[key], n, path, args.seed + n)
        runs.append(run_batch(key, path, n, distinct, tmp / f"model-{key}", "surrogate", 2, tmp))
        path.unlink()
    header = [
        "people",
        "wall s",
        "people/s",
        "driver RSS MB (before / peak)",
        "largest worker RSS MB",
        "largest worker RSS MB by quarter of the run",
        "all child processes MB (peak)",
        "distinct",
        "enumerated",
        "load 1-min (before / after)",
    ]
    out = [
        "### One million people (shipped survey, surrogate, 2 workers)",
        "",
        head,
        "",
        markdown(header, [million_row(r) for r in runs]),
        "",
        f"Chunks of {chunk_size_for(1_000_000):,} rows. Memory sampled every 0.2 s "
        "with psutil; the workers' RSS includes the Python interpreter, sleeprx, "
        "xgboost, HiGHS and Dask.",
        "",
        machine_block(load_before),
    ]
    block = "\n".join(out)
    print(block + "\n", flush=True)
    return block


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="cohort sizes, comma-separated")
    parser.add_argument(
        "--quick", action="store_true", help="2,000 people, a sample of 40 (a few minutes)"
    )
    parser.add_argument("--million", action="store_true", help="also the 1,000,000-person run")
    parser.add_argument("--million-only", action="store_true", help="only the 1,000,000 run")
    parser.add_argument(
        "--enumeration-only",
        action="store_true",
        help="only exact mode against batched enumeration (a cohort of the first size)",
    )
    parser.add_argument("--sample", type=int, default=300, help="people for exact vs enumeration")
    parser.add_argument("--seed", type=int, default=0, help="cohorts and the sample")
    parser.add_argument("--write", action="store_true", help="write the tables to BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.sample = 40
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    main_part = not (args.million_only or args.enumeration_only)
    started = time.perf_counter()
    head = command_head("bench_scale.py", argv)
    keys = list(SURVEYS) if main_part else ["messy" if args.enumeration_only else "shipped"]
    blocks: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="sleeprx-scale-") as folder:
        tmp = Path(folder)
        bases = train_models(tmp, keys)
        if main_part:
            blocks.update(main_blocks(bases, sizes, args, tmp, head))
        if args.enumeration_only:
            blocks["enumeration"] = enumeration_only(bases, sizes[0], args, tmp, head)
        if args.million or args.million_only:
            blocks["million"] = million_block(bases, args, tmp, head)
    log(f"done in {time.perf_counter() - started:.0f} s")
    if args.write:
        write_blocks("bench_scale", "Scale", SECTION_HEADER, blocks)
        log("BENCHMARKS.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
