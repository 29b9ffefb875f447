"""Throughput of the batch engine: ``sleeprx.batch.prescribe_batch`` on a cohort, with
the wall time of the whole call and the memory of the driver and of its workers.

Used by ``bench_scale.py`` (the throughput and one-million tables); one run is
``run_batch``, one table ``throughput_table`` or ``speedup_table``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from common import SURVEYS, load_average, log, machine_line, markdown

import sleeprx
from sleeprx.batch import prescribe_batch

try:
    import psutil
except ImportError:  # memory then comes from getrusage: peaks of the driver only
    psutil = None

#: the packages the scale tables' machine line names
PACKAGES = [
    "sleeprx",
    "HiGHS (highspy)",
    "xgboost",
    "dask",
    "distributed",
    "pyarrow",
    "pandas",
    "numpy",
    "psutil",
]


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
    #: ``BatchResult.phases``: prepare, start, solve, finish (wall seconds)
    phases: dict[str, float] = field(default_factory=dict)

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
        phases=result.phases,
    )
    log(
        f"{survey} n={n:,} {mode} workers={workers}: {seconds:.1f} s, {run.rate:,.0f} people/s, "
        f"driver peak {mb(memory.driver_peak)} MB, worker peak {mb(memory.worker_peak)} MB, "
        f"load {load_before:.2f} -> {run.load_after:.2f}"
    )
    return run


#: The phases of ``BatchResult.phases`` that more workers do not shorten
SERIAL = ("prepare", "start", "finish")


def serial_seconds(phases: dict[str, float]) -> str:
    """The serial seconds of a run, "prepare + start + finish", as "total (a + b + c)"."""
    parts = [phases[name] for name in SERIAL]
    return f"{sum(parts):.1f} ({' + '.join(f'{x:.1f}' for x in parts)})"


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
        "serial s (prepare + start + finish)",
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
                serial_seconds(r.phases),
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


def machine_block(load_before: str, load_after: str | None = None) -> str:
    load_after = load_after or load_average()
    return (
        f"Machine: {machine_line(PACKAGES)}.\n"
        f"Load average (1, 5, 15 min): {load_before} before this table, {load_after} after. "
        "Timings are wall clock on a shared machine and are noisy: other processes' load falls "
        "on some runs and not others; compare rows of one run, not across runs."
    )
