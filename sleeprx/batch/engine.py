"""Prescriptions for large cohorts: chunks solved on Dask, streamed to Parquet, resumable.

The driver streams the survey once (to hash it, cut it into chunks of rows and check
its ids), then hands one task per chunk to Dask (a local cluster of ``workers``
processes, or the cluster at ``scheduler``), or solves the chunks itself one after
the other. Each task writes its part into ``<out>.parts/``; the driver records each
finished chunk in ``manifest.json`` and, at the end, merges the parts into the
output file. A run that was killed is finished by running it again with
``resume=True``: finished chunks are kept, the others are solved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sleeprx.batch.chunks import SurveyScan, scan_survey
from sleeprx.batch.manifest import NAME, Manifest, inputs_of, model_sha256
from sleeprx.batch.parts import assemble, part_path, read_rows
from sleeprx.batch.worker import ChunkTask, solve_chunk
from sleeprx.learn.model import load_model
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.read import read_survey, shipped_survey_path, typed_id
from sleeprx.utils.errors import ArtifactError, ConfigError, SurveyError
from sleeprx.utils.files import fresh_dir, table_format, written_by_sleeprx

__all__ = ["BatchResult", "parts_dir", "prescribe_batch"]

#: Seconds between plain progress lines (when stderr is not a terminal).
LOG_EVERY = 5.0
#: Seconds between manifest writes while chunks finish (and once at the end): a chunk
#: finished but not yet recorded is solved again on resume, never lost.
SAVE_EVERY = 1.0


@dataclass(frozen=True)
class BatchResult:
    """What a batch run wrote, and how it went."""

    out: Path
    parts: Path
    rows: int
    status: dict[str, int]
    chunks: int
    solved: int  # chunks solved by this call
    reused: int  # chunks a resumed run found finished
    violations: int
    violation_lines: list[str]
    skipped: int  # rows without a valid id (no row in the table)
    skipped_lines: list[str]
    seconds: float


def parts_dir(out: Path) -> Path:
    """The parts folder of an output file: ``<out>.parts`` beside it."""
    return out.parent / f"{out.name}.parts"


def prescribe_batch(
    survey_path: str | Path | None,
    model_dir: str | Path,
    out_path: str | Path,
    *,
    settings: PrescribeSettings | None = None,
    fmt: str | None = None,
    ids: Iterable[int] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    chunk_size: int = 2000,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> BatchResult:
    """Prescribe for every person of ``survey_path`` (or ``ids``) in chunks of rows.

    The output (``fmt`` "csv" or "json"; default from the suffix of ``out_path``)
    equals :func:`sleeprx.prescribing.run.prescribe`'s table for the same people, row for
    row. ``workers=N`` starts a local Dask cluster of N single-threaded processes;
    ``scheduler="tcp://host:port"`` uses a running cluster (its workers must import
    sleeprx and read the same paths); neither solves in this process. ``progress``
    shows a progress bar; otherwise ``log`` gets a line at most every few seconds.
    """
    started = time.perf_counter()
    settings = settings or PrescribeSettings()
    out = Path(out_path)
    fmt = table_format(out, fmt)
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size {chunk_size}: expected a whole number >= 1")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers {workers}: expected a whole number >= 0")
    if workers and scheduler:
        raise ConfigError("--workers and --scheduler: give one (a local cluster, or a running one)")
    if out.is_dir():
        raise ArtifactError(f"{out}: is a folder; give a file name")
    survey = Path(survey_path) if survey_path is not None else shipped_survey_path()
    model_dir = Path(model_dir)
    model = load_model(model_dir)  # refuse a bad model folder before anything else
    ids = None if ids is None else list(dict.fromkeys(typed_id(model.description, i) for i in ids))
    if not model.curves or any(n not in model.curves for n in model.description.modifiable_names):
        raise ConfigError(
            f"{model_dir}: the model has no saved effect curves; a batch run needs them so "
            f"that every chunk is judged by the same curves (retrain with 'sleeprx train')"
        )

    scan = scan_survey(survey, model.description, chunk_size)
    # The columns, the CSV dialect: the first chunk is read as every task will read it.
    read_survey(survey, model.description, errors="collect", rows=scan.chunks[0])
    plan = _plan(scan, ids, chunk_size)
    people_of = {k: len(p) if p is not None else scan.sizes[k] for k, p in plan.items()}
    people = sum(people_of.values())

    folder = parts_dir(out)
    inputs = inputs_of(scan.sha256, model_sha256(model_dir), settings, ids, chunk_size)
    manifest = _open_manifest(folder, inputs, len(plan), people, resume, log)
    reused = len(manifest.done)
    tasks = [
        ChunkTask(
            index=k,
            survey=str(survey),
            rows=scan.chunks[k],
            model_dir=str(model_dir),
            model_sha256=inputs["model_sha256"],
            settings=settings,
            ids=plan[k],
            parts_dir=str(folder),
        )
        for k in plan
        if k not in manifest.done
    ]
    where = (
        f"the Dask cluster at {scheduler}"
        if scheduler
        else f"{workers} local Dask worker(s)"
        if workers
        else "this process"
    )
    if log is not None:
        again = f"; {reused} already finished" if reused else ""
        log(
            f"{people:,} people in {len(plan)} chunk(s) of up to {chunk_size:,} rows{again}; "
            f"solving {len(tasks)} on {where}"
        )
    done_people = sum(people_of[k] for k in manifest.done)
    with _Progress(people, done_people, progress, log) as bar:
        last_save = time.monotonic()
        for summary in _run(tasks, workers, scheduler):
            manifest.done[summary["chunk"]] = summary
            bar.advance(people_of[summary["chunk"]])
            if time.monotonic() - last_save >= SAVE_EVERY:
                manifest.save()
                last_save = time.monotonic()
        manifest.save()

    summaries = [manifest.done[k] for k in sorted(manifest.done)]
    if ids is None and not any(s["valid"] for s in summaries):
        first = summaries[0]["first_problem"]
        raise SurveyError(
            f"{survey.name}: no valid rows to prescribe for"
            + (f"; the first problem: {first}" if first else "")
        )
    status: dict[str, int] = {}
    for s in summaries:
        for key, n in s["status"].items():
            status[key] = status.get(key, 0) + n
    position = {pid: i for i, pid in enumerate(ids)} if ids is not None else None
    assemble(
        [part_path(folder, k) for k in sorted(manifest.done)],
        out,
        fmt,
        order=(lambda s: s) if position is None else (lambda s: s.map(position)),
        integer_changes=not status.get("error"),
    )
    manifest.complete = True
    manifest.save()
    return BatchResult(
        out=out,
        parts=folder,
        rows=sum(s["rows"] for s in summaries),
        status=dict(sorted(status.items(), key=lambda kv: -kv[1])),
        chunks=len(plan),
        solved=len(tasks),
        reused=reused,
        violations=sum(s["violations"] for s in summaries),
        violation_lines=[line for s in summaries for line in s["violation_lines"]][:10],
        skipped=sum(s["skipped"] for s in summaries),
        skipped_lines=[line for s in summaries for line in s["skipped_lines"]][:10],
        seconds=time.perf_counter() - started,
    )


def _plan(scan: SurveyScan, ids: list | None, chunk_size: int) -> dict[int, tuple | None]:
    """Chunk index -> the ids wanted from it (``None``: everyone); chunks in file order."""
    if ids is None:
        return dict.fromkeys(range(len(scan.chunks)))
    ids_in_file = scan.ids.dropna()
    row_of = dict(zip(ids_in_file, ids_in_file.index, strict=True))
    unknown = [i for i in ids if i not in row_of]
    if unknown:
        raise ConfigError(f"--ids: no person with id {unknown[0]} in {scan.path}")
    plan: dict[int, list[int]] = {}
    for pid in ids:
        plan.setdefault(row_of[pid] // chunk_size, []).append(pid)
    return {k: tuple(plan[k]) for k in sorted(plan)}


def _open_manifest(
    folder: Path,
    inputs: dict,
    chunks: int,
    people: int,
    resume: bool,
    log: Callable[[str], None] | None,
) -> Manifest:
    """The manifest to continue (``resume``), or a new one in an emptied parts folder."""
    path = folder / NAME
    if resume and folder.is_dir():
        if not written_by_sleeprx(folder):
            raise ArtifactError(
                f"{folder}: exists and was not written by sleeprx; there is nothing to resume"
            )
        old = Manifest.read(path)
        if old is not None:
            old.check_inputs(inputs)
            for stale in folder.glob(".part-*.tmp"):  # a part being written when it stopped
                stale.unlink(missing_ok=True)
            lost = [k for k, s in old.done.items() if read_rows(part_path(folder, k)) != s["rows"]]
            for k in lost:  # recorded, but the file is gone or damaged: solve it again
                del old.done[k]
            old.complete = False
            return old
        if log is not None:
            log(f"{path}: not found; starting from the beginning")
    fresh_dir(folder)
    manifest = Manifest(path, inputs, chunks, people)
    manifest.save()
    return manifest


def _run(tasks: list[ChunkTask], workers: int | None, scheduler: str | None) -> Iterator[dict]:
    """Each task's summary as it finishes: on Dask, or here one after the other."""
    if not tasks:
        return
    if not workers and not scheduler:
        for task in tasks:
            yield solve_chunk(task)
        return
    from dask.distributed import as_completed

    with dask_client(workers, scheduler) as client:
        futures = [client.submit(solve_chunk, task, pure=False) for task in tasks]
        for future in as_completed(futures):
            summary = future.result()  # a task's error is raised here, with its own type
            future.release()
            yield summary


@contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A Dask client: of a new local cluster (quiet, no dashboard), or of ``scheduler``."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


class _Progress:
    """A progress bar over people on a terminal; else a plain line every few seconds."""

    def __init__(self, total: int, done: int, bar: bool, log: Callable[[str], None] | None) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.log = None if bar else log
        self.bar = bar
        self.started = self.last = time.monotonic()
        self.logged = -1  # people done at the last line

    def __enter__(self) -> _Progress:
        if self.bar:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                "prescribing",
                BarColumn(),
                MofNCompleteColumn(),
                "people",
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("prescribing", total=self.total)
            self.progress.update(self.task, completed=self.done)
        return self

    def advance(self, people: int) -> None:
        self.done += people
        if self.bar:
            self.progress.update(self.task, completed=self.done)
        elif self.log is not None and time.monotonic() - self.last >= LOG_EVERY:
            self.log(self.line())
            self.last, self.logged = time.monotonic(), self.done

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        share = 100 * self.done / self.total if self.total else 100.0
        eta = "done" if self.done >= self.total else f"about {_duration(left)} left"
        return (
            f"prescribed {self.done:,}/{self.total:,} people ({share:.0f}%), "
            f"{rate:,.0f} people/s, {eta}"
        )

    def __exit__(self, kind, value, traceback) -> None:
        if self.bar:
            self.progress.stop()
        elif self.log is not None and kind is None and self.logged != self.done:
            self.log(self.line())


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "unknown time"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
