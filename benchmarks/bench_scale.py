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
   solving every chunk and merging the parts into the output CSV. Memory is sampled
   every 0.2 s with psutil: the resident set (RSS) of this process (the driver), and of
   each of its child processes (the Dask worker processes; the largest one is reported).
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
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from machine import load_average, machine_line

import sleeprx
from sleeprx.batch import prescribe_batch
from sleeprx.optimize import enumerate_choices, profile_features
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.read import shipped_survey_path

try:
    import psutil
except ImportError:  # memory then comes from getrusage: peaks of the driver only
    psutil = None

ROOT = Path(__file__).resolve().parents[1]
JITTER = 2  # grid steps (or ladder rungs) either way
BLOCK = 50_000  # cohort rows generated and written at a time
TOL = 1e-5  # objectives: the booster sums its leaves in float32
MARK = "<!-- bench_scale:{}:{} -->"


@dataclass(frozen=True)
class Spec:
    key: str
    title: str
    csv: Path
    description: Path | None  # None: the shipped description
    text_ids: bool


SURVEYS = {
    "shipped": Spec(
        "shipped",
        "shipped survey (4 levers)",
        shipped_survey_path(),
        None,
        False,
    ),
    "messy": Spec(
        "messy",
        "10-lever example",
        ROOT / "data" / "messy_sleep_survey.csv",
        ROOT / "sleeprx" / "survey" / "shipped" / "messy_sleep.yaml",
        True,
    ),
}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- cohorts


@dataclass
class Base:
    """A survey's rows, as text and as the canonical frame, ready to be resampled."""

    spec: Spec
    description: SurveyDescription
    raw: pd.DataFrame  # the CSV as written (text; blank cells are "")
    levers: dict[str, np.ndarray]  # source header -> observed values (NaN = blank)
    fixed_key: np.ndarray  # per raw row: hash of its model inputs other than the levers
    id_prefix: str | None = None  # text ids: "R-" + digits; None: whole numbers


def load_base(spec: Spec) -> Base:
    description = sleeprx.load_description(spec.description)
    raw = pd.read_csv(spec.csv, dtype=str, keep_default_na=False)
    survey = sleeprx.read_survey(spec.csv, description)
    id_source = description.column(description.id_column).source
    ids = [survey.id_of(t) for t in raw[id_source]]
    frame = survey.frame.loc[ids]  # canonical answers, in the file's row order
    lever_names = set(description.modifiable_names)
    others = [c for c in description.feature_columns if c not in lever_names]
    fixed_key = pd.util.hash_pandas_object(frame[others], index=False).to_numpy()
    levers = {
        description.column(f.column).source: pd.to_numeric(
            raw[description.column(f.column).source].replace("", np.nan)
        ).to_numpy(float)
        for f in description.modifiable
    }
    return Base(spec, description, raw, levers, fixed_key, "R-" if spec.text_ids else None)


def jitter(factor, column, observed: np.ndarray, picked: np.ndarray, rng) -> np.ndarray:
    """``picked`` moved by -JITTER..JITTER steps (rungs), inside the observed range."""
    blank = np.isnan(picked)
    moves = rng.integers(-JITTER, JITTER + 1, size=len(picked))
    seen = observed[~np.isnan(observed)]
    if factor.is_ladder:
        grid = factor.grid
        rung = lambda v: np.abs(v[:, None] - grid[None, :]).argmin(axis=1)  # noqa: E731
        low, high = rung(seen).min(), rung(seen).max()
        now = rung(np.where(blank, grid[0], picked))
        out = grid[np.clip(now + moves, low, high)]
    else:
        out = np.clip(picked + moves * factor.step, seen.min(), seen.max())
        if column.type == "integer":
            out = np.round(out)
    out = np.round(out, 6)
    out[blank] = np.nan
    return out


def write_cohort(base: Base, n: int, path: Path, seed: int) -> float:
    """Write a cohort of ``n`` people to ``path``; return its share of distinct problems."""
    description = base.description
    rng = np.random.default_rng(seed)
    id_source = description.column(description.id_column).source
    keys = []
    for start in range(0, n, BLOCK):
        size = min(BLOCK, n - start)
        pick = rng.integers(0, len(base.raw), size=size)
        block = base.raw.iloc[pick].reset_index(drop=True)
        numbers = np.arange(start + 1, start + size + 1)
        prefix = base.id_prefix
        block[id_source] = numbers if prefix is None else [f"{prefix}{i:07d}" for i in numbers]
        key = {"fixed": base.fixed_key[pick]}
        for factor in description.modifiable:
            column = description.column(factor.column)
            values = jitter(
                factor, column, base.levers[column.source], base.levers[column.source][pick], rng
            )
            key[factor.column] = values
            fmt = "%d" if column.type == "integer" else "%.6g"
            text = np.char.mod(fmt, np.nan_to_num(values))
            block[column.source] = np.where(np.isnan(values), "", text)
        keys.append(pd.util.hash_pandas_object(pd.DataFrame(key), index=False).to_numpy())
        block.to_csv(path, mode="w" if start == 0 else "a", header=start == 0, index=False)
    return len(np.unique(np.concatenate(keys))) / n


# ------------------------------------------------------------------------------ memory


class Memory:
    """RSS of this process and of its child processes, sampled in a thread."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.samples: list[tuple[float, int, list[int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        t = time.perf_counter()
        if psutil is None:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            self.samples.append((t, peak, []))
            return
        me = psutil.Process()
        kids = []
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                kids.append(child.memory_info().rss)
        self.samples.append((t, me.memory_info().rss, kids))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def __enter__(self) -> Memory:
        self._sample()
        self.before = self.samples[0][1]
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def driver_peak(self) -> int:
        return max(s[1] for s in self.samples)

    @property
    def worker_peak(self) -> int:
        return max((max(s[2]) for s in self.samples if s[2]), default=0)

    @property
    def children_peak(self) -> int:
        return max((sum(s[2]) for s in self.samples if s[2]), default=0)

    def worker_peaks_by_quarter(self) -> list[int]:
        """The largest child RSS in each quarter of the run (flat memory: about equal)."""
        t0, t1 = self.samples[0][0], self.samples[-1][0]
        span = max(t1 - t0, 1e-9)
        out = [0, 0, 0, 0]
        for t, _, kids in self.samples:
            if kids:
                q = min(int(4 * (t - t0) / span), 3)
                out[q] = max(out[q], max(kids))
        return out


def mb(n: int) -> str:
    return f"{n / 2**20:,.0f}" if n else "-"


# -------------------------------------------------------------------------- throughput


@dataclass
class Run:
    survey: str
    people: int
    mode: str
    workers: int | None
    chunk_size: int
    seconds: float
    memory: Memory
    distinct: float
    solver_status: dict[str, int]
    violations: int
    load_before: float
    load_after: float
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.people / self.seconds


def chunk_size_for(n: int) -> int:
    """At least 20 chunks, so 2 workers share the load evenly; at most the default 2000."""
    return int(min(2000, max(250, n // 20)))


def solver_statuses(result) -> dict[str, int]:
    parts = sorted(Path(result.parts).glob("part-*.parquet"))
    if parts:
        import pyarrow.parquet as pq

        counts: dict[str, int] = {}
        for part in parts:
            column = pq.read_table(part, columns=["solver_status"]).column(0).to_pandas()
            for k, v in column.fillna("(none)").value_counts().items():
                counts[str(k)] = counts.get(str(k), 0) + int(v)
        return counts
    column = pd.read_csv(result.out, usecols=["solver_status"])["solver_status"]
    return {str(k): int(v) for k, v in column.fillna("(none)").value_counts().items()}


def run_batch(
    survey: str, cohort: Path, n: int, distinct: float, model_dir: Path, mode: str, workers, tmp
) -> Run:
    out = tmp / f"out-{survey}-{n}-{mode}-{workers}.csv"
    chunk = chunk_size_for(n)
    gc.collect()
    load_before = os.getloadavg()[0]
    with Memory() as memory:
        start = time.perf_counter()
        result = prescribe_batch(
            cohort,
            model_dir,
            out,
            settings=sleeprx.PrescribeSettings(mode=mode),
            workers=workers,
            chunk_size=chunk,
        )
        seconds = time.perf_counter() - start
    statuses = solver_statuses(result)
    shutil.rmtree(result.parts, ignore_errors=True)
    out.unlink(missing_ok=True)
    run = Run(
        survey,
        n,
        mode,
        workers,
        chunk,
        seconds,
        memory,
        distinct,
        statuses,
        result.violations,
        load_before,
        os.getloadavg()[0],
    )
    log(
        f"{survey} n={n:,} {mode} workers={workers}: {seconds:.1f} s, {run.rate:,.0f} people/s, "
        f"driver peak {mb(memory.driver_peak)} MB, worker peak {mb(memory.worker_peak)} MB, "
        f"load {load_before:.2f} -> {run.load_after:.2f}"
    )
    return run


def share(counts: dict[str, int], key: str) -> str:
    total = sum(counts.values())
    return f"{100 * counts.get(key, 0) / total:.1f}%" if total else "-"


def throughput_table(runs: list[Run]) -> str:
    header = [
        "survey",
        "people",
        "mode",
        "workers",
        "chunk",
        "wall s",
        "people/s",
        "ms/person",
        "driver RSS MB (before / peak)",
        "largest worker RSS MB",
        "distinct",
        "enumerated",
        "optimal (MIP)",
        "other",
        "load 1-min (before / after)",
    ]
    rows = []
    for r in runs:
        other = {k: v for k, v in r.solver_status.items() if k not in ("enumerated", "optimal")}
        rows.append(
            [
                SURVEYS[r.survey].title,
                f"{r.people:,}",
                r.mode,
                "in-process" if r.workers is None else str(r.workers),
                f"{r.chunk_size:,}",
                f"{r.seconds:.1f}",
                f"{r.rate:,.0f}",
                f"{1e3 / r.rate:.3f}",
                f"{mb(r.memory.before)} / {mb(r.memory.driver_peak)}",
                mb(r.memory.worker_peak) if r.workers else "(driver)",
                f"{100 * r.distinct:.1f}%",
                share(r.solver_status, "enumerated"),
                share(r.solver_status, "optimal"),
                ", ".join(f"{k} {v}" for k, v in other.items()) or "0",
                f"{r.load_before:.2f} / {r.load_after:.2f}",
            ]
        )
    return markdown(header, rows)


def speedup_table(runs: list[Run]) -> str:
    by = {(r.survey, r.people, r.mode, r.workers): r for r in runs}
    rows = []
    for (survey, people, mode, workers), two in by.items():
        if workers != 2 or (survey, people, mode, 1) not in by:
            continue
        one = by[(survey, people, mode, 1)]
        base = by.get((survey, people, mode, None))
        rows.append(
            [
                SURVEYS[survey].title,
                f"{people:,}",
                mode,
                f"{one.seconds:.1f}",
                f"{two.seconds:.1f}",
                f"{one.seconds / two.seconds:.2f}x",
                f"{base.seconds:.1f}" if base else "-",
            ]
        )
    header = ["survey", "people", "mode", "1 worker s", "2 workers s", "speed-up", "in-process s"]
    return markdown(header, rows)


# ------------------------------------------------------------------- exact vs enumerate


@dataclass
class Compared:
    k: int
    how: str  # "alone" or "in a chunk"
    people: int
    exact_ms: np.ndarray
    exact_prepare_ms: np.ndarray
    enum_ms: np.ndarray
    enum_prepare_ms: np.ndarray
    profiles: np.ndarray
    statuses: dict[str, int]
    mismatches: int
    max_diff: float
    changed: int


def exact_vs_enumeration(model, frame: pd.DataFrame, ids: list, k: int) -> list[Compared]:
    """Both methods per person, prepared one person at a time ("alone") and for the
    whole sample at once ("in a chunk", as the batch engine prepares its chunks: the
    set-up's time is shared equally among the people)."""
    common = {"max_changes": k, "min_gain": 0.0, "min_gain_prob": 0.0}
    exact = sleeprx.PrescribeSettings(mode="exact", **common)
    plain = sleeprx.PrescribeSettings(mode="surrogate", **common)
    curves = model.curves
    booster = model.booster
    lam = exact.lam

    def prepare(people, settings):
        t0 = time.perf_counter()
        problems = prepare_problems(model, frame.loc[people], settings, curves=curves)
        return problems, time.perf_counter() - t0

    def solve_exact(problem):
        t0 = time.perf_counter()
        plan = plan_person(problem, exact)
        return plan, time.perf_counter() - t0

    def solve_enum(problem):
        t0 = time.perf_counter()
        choices = enumerate_choices(problem, plain)
        rows = profile_features(problem, choices)
        margin = booster.inplace_predict(rows, predict_type="margin")
        cost = np.zeros(len(choices))
        for j, f in enumerate(problem.factors):
            cost += f.cost[choices[:, j]]
        objective = (np.asarray(margin, dtype=float) - problem.logit_before) - lam * cost
        return float(objective.max()), len(choices), time.perf_counter() - t0

    solve_exact(prepare([ids[0]], exact)[0][ids[0]])  # warm-up, untimed
    solve_enum(prepare([ids[0]], plain)[0][ids[0]])

    def compare(how, exact_problem, enum_problem, exact_share=None, enum_share=None):
        ex, ex_prep, en, en_prep, profiles, statuses = [], [], [], [], [], {}
        mismatches, max_diff, changed = 0, 0.0, 0
        for pid in ids:  # interleaved, so that load from elsewhere falls on both alike
            gc.collect()
            problem, prep = exact_problem(pid)
            plan, seconds = solve_exact(problem)
            gc.collect()
            problem, enum_prep = enum_problem(pid)
            best, n_profiles, enum_seconds = solve_enum(problem)
            ex.append(prep + seconds), ex_prep.append(prep)
            en.append(enum_prep + enum_seconds), en_prep.append(enum_prep)
            profiles.append(n_profiles)
            statuses[plan.solver_status] = statuses.get(plan.solver_status, 0) + 1
            changed += plan.status == "changed"
            # no change scores 0; the status quo's booster margin is 0 up to float32
            diff = abs(max(plan.objective, 0.0) - max(best, 0.0))
            max_diff = max(max_diff, diff)
            mismatches += diff > TOL
        ms = [np.array(v) * 1e3 for v in (ex, ex_prep, en, en_prep)]
        return Compared(
            k, how, len(ids), *ms, np.array(profiles), statuses, mismatches, max_diff, changed
        )

    def alone(settings):
        def one(pid):
            problems, seconds = prepare([pid], settings)
            return problems[pid], seconds

        return one

    def shared(settings):
        # the median of three runs over the whole sample, shared equally
        runs = [prepare(ids, settings) for _ in range(3)]
        problems = runs[-1][0]
        share = float(np.median([seconds for _, seconds in runs])) / len(ids)
        return lambda pid: (problems[pid], share)

    return [
        compare("alone", alone(exact), alone(plain)),
        compare(f"in a chunk of {len(ids)}", shared(exact), shared(plain)),
    ]


def comparison_table(results: list[Compared]) -> str:
    def mp(v):
        return f"{np.median(v):.2f} / {np.percentile(v, 90):.2f}"

    header = [
        "K",
        "prepared",
        "people",
        "exact ms (median / p90)",
        "of which set-up",
        "enumeration ms (median / p90)",
        "of which set-up",
        "profiles (median / max)",
        "exact / enumeration (medians)",
        "proven optimal",
        "solver_status",
        "same objective",
        "max |diff|",
    ]
    rows = []
    for c in results:
        proven = c.statuses.get("optimal", 0) + c.statuses.get("enumerated", 0)
        rows.append(
            [
                str(c.k),
                c.how,
                str(c.people),
                mp(c.exact_ms),
                mp(c.exact_prepare_ms),
                mp(c.enum_ms),
                mp(c.enum_prepare_ms),
                f"{int(np.median(c.profiles)):,} / {int(c.profiles.max()):,}",
                f"{np.median(c.exact_ms) / np.median(c.enum_ms):.2f}x",
                f"{100 * proven / c.people:.1f}%",
                ", ".join(f"{k} {v}" for k, v in sorted(c.statuses.items())),
                f"{c.people - c.mismatches}/{c.people}",
                f"{c.max_diff:.1e}",
            ]
        )
    return markdown(header, rows)


def enumeration_block(
    model_dir: Path, cohort: Path, size: int, sample: int, seed: int, head: str
) -> str:
    """Exact mode against batched enumeration on a sample of a 10-lever cohort, as text."""
    model = sleeprx.load_model(model_dir)
    frame = sleeprx.read_survey(cohort, model.description).frame
    rng = np.random.default_rng(seed)
    ids = sorted(rng.choice(frame.index.to_numpy(), size=min(sample, len(frame)), replace=False))
    load_before = load_average()
    results = []
    for k in (2, 3):
        log(f"exact vs enumeration, K = {k}, {len(ids)} people")
        results += exact_vs_enumeration(model, frame, list(ids), k)
    load_after = load_average()
    out = [
        "### Exact mode against batched enumeration (10-lever example)",
        "",
        head,
        "",
        f"{len(ids)} people drawn at random (seed {seed}) from the {size:,}-person cohort "
        "of the 10-lever example; default model; lambda 0.1, min_gain = min_gain_prob = 0. "
        "Exact = set-up by `prepare_problems` (encode, margin, factor tables) + "
        "`plan_person` (enumeration of the tables, or the MIP when the program allows more "
        "than 20,000 profiles). Enumeration = set-up by `prepare_problems` without trees + "
        "`enumerate_choices` + `profile_features` + one "
        '`booster.inplace_predict(rows, predict_type="margin")` on every profile + gain - '
        "lambda * cost. Each person's solve is timed on its own after a garbage collection, "
        'the two methods interleaved. Set-up "alone": `prepare_problems` on that one '
        f'person. Set-up "in a chunk": `prepare_problems` on all {len(ids)} at once, as '
        "the batch engine prepares a chunk (median of three runs), its time shared "
        "equally among them. Same objective: |exact's objective - the booster's best| <= "
        f"{TOL:g} (no change scores 0).",
        "",
        comparison_table(results),
        "",
        machine_block(load_before, load_after),
    ]
    return "\n".join(out)


# ------------------------------------------------------------------------------ report


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


PACKAGES = [
    ("sleeprx", "sleeprx"),
    ("HiGHS (highspy)", "highspy"),
    ("xgboost", "xgboost"),
    ("dask", "dask"),
    ("distributed", "distributed"),
    ("pyarrow", "pyarrow"),
    ("pandas", "pandas"),
    ("numpy", "numpy"),
    ("psutil", "psutil"),
]


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine_block(load_before: str, load_after: str | None = None) -> str:
    load_after = load_after or load_average()
    return (
        f"Machine: {machine_line(PACKAGES)}.\n"
        f"Load average (1, 5, 15 min): {load_before} before this table, {load_after} after. "
        "Timings are wall clock on a shared machine and are noisy: other processes' load falls "
        "on some runs and not others; compare rows of one run, not across runs."
    )


def write_benchmarks(blocks: dict[str, str], header: str) -> None:
    """Put ``blocks`` into the "## Scale" section of BENCHMARKS.md (made after the title
    if missing), each between its own markers, replacing a block of the same name."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start_all, end_all = MARK.format("section", "start"), MARK.format("section", "end")
    if start_all not in text:
        title, _, rest = text.partition("\n")
        section = f"{start_all}\n## Scale\n\n{header}\n{end_all}\n\n---\n"
        text = f"{title}\n\n{section}\n{rest.lstrip()}"
    for name, body in blocks.items():
        start, end = MARK.format(name, "start"), MARK.format(name, "end")
        new = f"{start}\n{body.rstrip()}\n{end}\n"
        if start in text:
            before, _, after = text.partition(start)
            _, _, after = after.partition(end + "\n")
            text = before + new + after
        else:
            text = text.replace(end_all, new + "\n" + end_all)
    path.write_text(text)


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
RSS is sampled every 0.2 s with psutil, for the driver (the benchmark's own process, which
also holds its cohort generator) and for each child process (the Dask workers; the
largest is shown); distinct is the share of distinct model-input rows among the cohort;
enumerated / optimal are the shares of `solver_status` (enumeration of every allowed
profile, or HiGHS's proven optimum of the MIP).
"""


# -------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
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
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    sample = 40 if args.quick else args.sample
    main_part = not (args.million_only or args.enumeration_only)
    million = args.million or args.million_only

    started = time.perf_counter()
    commit = git("rev-parse", "--short", "HEAD")
    dirty = [line for line in git("status", "--porcelain", "sleeprx").splitlines() if line]
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    command = f"python benchmarks/bench_scale.py {argv_text}".strip()
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    head = (
        f"Command: `{command}`. Date {date}; sleeprx at commit {commit}"
        + (f" ({len(dirty)} file(s) under sleeprx/ uncommitted)" if dirty else "")
        + "."
    )
    blocks: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="sleeprx-scale-") as folder:
        tmp = Path(folder)
        bases, models = {}, {}
        for key, spec in SURVEYS.items():
            if not main_part and key != ("messy" if args.enumeration_only else "shipped"):
                continue
            log(f"training the default model on the {spec.title}")
            bases[key] = load_base(spec)
            survey = sleeprx.read_survey(spec.csv, bases[key].description)
            models[key] = sleeprx.train(survey)
            sleeprx.save_model(models[key], tmp / f"model-{key}")

        if main_part:
            out = [f"### Throughput ({', '.join(f'{n:,}' for n in sizes)} people)", "", head, ""]
            load_before = load_average()
            cohorts, notes = {}, []
            for key in bases:
                # warm-up, untimed (imports, the first Dask cluster); it also finds out
                # whether the batch engine takes this survey's ids
                small = tmp / f"cohort-{key}-warm.csv"
                write_cohort(bases[key], 200, small, args.seed)
                model_dir = tmp / f"model-{key}"
                try:
                    run_batch(key, small, 200, 0, model_dir, "exact", None, tmp)
                except Exception as exc:
                    if bases[key].id_prefix is None:
                        raise
                    first = str(exc).splitlines()[0]
                    notes.append(
                        f"**The batch engine refused the text ids of the {SURVEYS[key].title}** "
                        f"(`R-0000001` ...): `prescribe_batch` raised {type(exc).__name__}: "
                        f"{first} (the Parquet parts store `person_id` as int64). Its cohorts "
                        "were measured with ids of digits only (`0000001` ..., still text "
                        "for the survey description)."
                    )
                    log(f"text ids refused ({type(exc).__name__}: {first}); using digit ids")
                    bases[key].id_prefix = ""
                    write_cohort(bases[key], 200, small, args.seed)
                    run_batch(key, small, 200, 0, model_dir, "exact", None, tmp)
                run_batch(key, small, 200, 0, model_dir, "exact", 2, tmp)
                for n in sizes:
                    path = tmp / f"cohort-{key}-{n}.csv"
                    log(f"writing a cohort of {n:,} people from the {SURVEYS[key].title}")
                    cohorts[key, n] = (path, write_cohort(bases[key], n, path, args.seed + n))
            # exact mode against batched enumeration, 10-lever example (first: quick)
            path, _ = cohorts["messy", sizes[0]]
            enumeration = enumeration_block(
                tmp / "model-messy", path, sizes[0], sample, args.seed, head
            )
            runs = []
            for key in bases:
                for n in sizes:
                    path, distinct = cohorts[key, n]
                    for mode in ("surrogate", "exact"):
                        plan = [1, 2] + ([None] if n == sizes[0] else [])
                        for workers in plan:
                            model_dir = tmp / f"model-{key}"
                            runs.append(
                                run_batch(key, path, n, distinct, model_dir, mode, workers, tmp)
                            )
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
            blocks["throughput"] = "\n".join(out)
            print("\n".join(out) + "\n", flush=True)

            blocks["enumeration"] = enumeration
            print(enumeration + "\n", flush=True)

        if args.enumeration_only:
            path = tmp / "cohort-messy.csv"
            log(f"writing a cohort of {sizes[0]:,} people from the {SURVEYS['messy'].title}")
            write_cohort(bases["messy"], sizes[0], path, args.seed + sizes[0])
            enumeration = enumeration_block(
                tmp / "model-messy", path, sizes[0], sample, args.seed, head
            )
            blocks["enumeration"] = enumeration
            print(enumeration + "\n", flush=True)

        if million:
            key = "shipped"
            load_before = load_average()
            runs = []
            for n in (100_000, 1_000_000):
                path = tmp / f"cohort-{key}-{n}-m.csv"
                log(f"writing a cohort of {n:,} people from the {SURVEYS[key].title}")
                distinct = write_cohort(bases[key], n, path, args.seed + n)
                runs.append(
                    run_batch(key, path, n, distinct, tmp / f"model-{key}", "surrogate", 2, tmp)
                )
                path.unlink()
            rows = []
            for r in runs:
                quarters = r.memory.worker_peaks_by_quarter()
                rows.append(
                    [
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
                )
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
                markdown(header, rows),
                "",
                f"Chunks of {chunk_size_for(1_000_000):,} rows. Memory sampled every 0.2 s "
                "with psutil; the workers' RSS includes the Python interpreter, sleeprx, "
                "xgboost, HiGHS and Dask.",
                "",
                machine_block(load_before),
            ]
            blocks["million"] = "\n".join(out)
            print("\n".join(out) + "\n", flush=True)

    log(f"done in {time.perf_counter() - started:.0f} s")
    if args.write:
        write_benchmarks(blocks, SECTION_HEADER)
        log("BENCHMARKS.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
