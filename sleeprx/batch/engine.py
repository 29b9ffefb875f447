"""Prescriptions for large cohorts: chunks solved on Dask, streamed to Parquet, resumable.

The driver streams the survey once (to hash it, cut it into chunks of rows and check
its ids), then hands one task per chunk to Dask (a local cluster of ``workers``
processes, or the cluster at ``scheduler``), or solves the chunks itself one after
the other. Each task writes its part into ``<out>.parts/``; the driver records each
finished chunk in ``manifest.json`` and, at the end, merges the parts into the
output file. A run that was killed is finished by running it again with
``resume=True``: a finished chunk is kept if its part is still the file it wrote (the
manifest records each part's sha256), every other chunk is solved again, and a
manifest that is damaged is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

from pydantic import Field, SkipValidation

from sleeprx.batch.chunks import SurveyScan, scan_survey
from sleeprx.batch.cluster import EarlyClient, dask_client
from sleeprx.batch.manifest import (
    NAME,
    ChunkRecord,
    Manifest,
    file_sha256,
    inputs_of,
    model_sha256,
)
from sleeprx.batch.output import assemble
from sleeprx.batch.parts import part_path
from sleeprx.batch.worker import ChunkTask, solve_chunk
from sleeprx.learn.model import load_model
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.read import check_known_ids, read_survey, shipped_survey_path, typed_id
from sleeprx.utils.errors import ArtifactError, ConfigError, SurveyError
from sleeprx.utils.files import fresh_dir, table_format, written_by_sleeprx
from sleeprx.utils.progress import Progress
from sleeprx.utils.validation import checked_call

__all__ = ["BatchResult", "dask_client", "parts_dir", "prescribe_batch"]

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
    #: Wall seconds of the run's phases, in turn: ``prepare`` (the driver reads the
    #: model and scans the survey; the cluster starts meanwhile), ``start`` (the rest of
    #: the cluster's start: until its workers have imported what a task needs; 0 in
    #: this process), ``solve`` (until the last summary), and ``finish`` (the driver
    #: merges the parts while the cluster closes, until both are done). All but
    #: ``solve`` are the serial part of a run, which more workers do not shorten.
    phases: dict[str, float] = field(default_factory=dict)
    #: Parts whose text the driver copied from the fragment their task rendered; the
    #: others it rendered itself (see :mod:`sleeprx.batch.output`).
    copied: int = 0


def parts_dir(out: Path) -> Path:
    """The parts folder of an output file: ``<out>.parts`` beside it."""
    return out.parent / f"{out.name}.parts"


@checked_call(ConfigError)
def prescribe_batch(
    survey_path: str | Path | None,
    model_dir: str | Path,
    out_path: str | Path,
    *,
    settings: PrescribeSettings | None = None,
    fmt: str | None = None,
    ids: Annotated[Iterable[int | str] | None, SkipValidation] = None,  # typed by the survey
    workers: Annotated[int, Field(ge=0)] | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    chunk_size: Annotated[int, Field(ge=1)] = 2000,
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
    ``resume`` keeps the chunks a run of the same inputs finished, if their parts are
    intact, and solves the others. Arguments of the wrong type or out of range raise
    :class:`ConfigError`.
    """
    started = time.perf_counter()
    if workers and scheduler:
        raise ConfigError("workers and scheduler: give one (a local cluster, or a running one)")
    settings = settings or PrescribeSettings()
    out = Path(out_path)
    fmt = table_format(out, fmt)
    if out.is_dir():
        raise ArtifactError(f"{out}: is a folder; give a file name")
    with EarlyClient(workers, scheduler) as early:  # starts while the inputs are read
        job = _prepare(survey_path, Path(model_dir), settings, ids, chunk_size, parts_dir(out))
        manifest = _open_manifest(job, resume, log)
        reused = len(manifest.done)
        tasks = _tasks(job, settings, fmt, finished=manifest.done)
        if log is not None:
            again = f"; {reused} already finished" if reused else ""
            log(
                f"{job.people:,} people in {len(job.plan)} chunk(s) of up to {chunk_size:,} "
                f"rows{again}; solving {len(tasks)} on {_where(workers, scheduler)}"
            )
        prepared = time.perf_counter()
        with _progress(job, manifest, progress, log) as bar:
            _solve(tasks, manifest, early, bar, job.people_of)
        solved = time.perf_counter()
        early.release()  # the cluster closes while the parts are merged
        result = _finish(job, manifest, out, fmt, solved=len(tasks), reused=reused, started=started)
    seconds = time.perf_counter() - started  # the cluster closed too
    ready = max(prepared, early.ready) if tasks and early.ready is not None else prepared
    phases = {"prepare": prepared - started, "start": ready - prepared, "solve": solved - ready}
    phases["finish"] = seconds - sum(phases.values())
    return replace(result, phases=phases, seconds=seconds)


@dataclass(frozen=True)
class _Job:
    """What a run was asked to do, once its inputs are read and checked."""

    survey: Path
    model_dir: Path
    ids: list | None  # typed like the survey's ids, in output order
    scan: SurveyScan
    plan: dict[int, tuple | None]  # chunk -> the ids wanted from it (None: everyone)
    people_of: dict[int, int]  # chunk -> people it prescribes for
    folder: Path  # the parts folder
    inputs: dict  # what the manifest records the run was made on

    @property
    def people(self) -> int:
        return sum(self.people_of.values())


def _prepare(
    survey_path: str | Path | None,
    model_dir: Path,
    settings: PrescribeSettings,
    ids: Iterable[int | str] | None,
    chunk_size: int,
    folder: Path,
) -> _Job:
    """Load the model, scan the survey once and plan the chunks; refuse bad inputs."""
    survey = Path(survey_path) if survey_path is not None else shipped_survey_path()
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
    inputs = inputs_of(scan.sha256, model_sha256(model_dir), settings, ids, chunk_size)
    return _Job(survey, model_dir, ids, scan, plan, people_of, folder, inputs)


def _tasks(
    job: _Job, settings: PrescribeSettings, fmt: str, finished: Collection[int]
) -> list[ChunkTask]:
    """One task per chunk of the plan not ``finished``; each renders its part in ``fmt``."""
    return [
        ChunkTask(
            index=k,
            survey=str(job.survey),
            rows=job.scan.chunks[k],
            model_dir=str(job.model_dir),
            model_sha256=job.inputs["model_sha256"],
            settings=settings,
            ids=job.plan[k],
            parts_dir=str(job.folder),
            fmt=fmt,
        )
        for k in job.plan
        if k not in finished
    ]


def _where(workers: int | None, scheduler: str | None) -> str:
    if scheduler:
        return f"the Dask cluster at {scheduler}"
    return f"{workers} local Dask worker(s)" if workers else "this process"


def _progress(
    job: _Job, manifest: Manifest, bar: bool, log: Callable[[str], None] | None
) -> Progress:
    done = sum(job.people_of[k] for k in manifest.done)
    return Progress(
        job.people,
        "prescribing",
        unit="people",
        done=done,
        bar=bar,
        log=log,
        every=LOG_EVERY,
        done_label="prescribed",
    )


def _solve(
    tasks: list[ChunkTask],
    manifest: Manifest,
    early: EarlyClient,
    bar: Progress,
    people_of: dict[int, int],
) -> None:
    """Solve ``tasks``, recording each finished chunk with its part's hash."""
    last_save = time.monotonic()
    for summary in _run(tasks, early):
        k = summary["chunk"]
        manifest.done[k] = ChunkRecord.model_validate(summary)  # with its part's sha256
        bar.advance(people_of[k])
        if time.monotonic() - last_save >= SAVE_EVERY:
            manifest.save()
            last_save = time.monotonic()
    manifest.save()


def _finish(
    job: _Job, manifest: Manifest, out: Path, fmt: str, *, solved: int, reused: int, started: float
) -> BatchResult:
    """Merge the parts into ``out`` and say how the run went."""
    records = [manifest.done[k] for k in sorted(manifest.done)]
    if job.ids is None and not any(r.valid for r in records):
        first = records[0].first_problem
        raise SurveyError(
            f"{job.survey.name}: no valid rows to prescribe for"
            + (f"; the first problem: {first}" if first else "")
        )
    status: dict[str, int] = {}
    for r in records:
        for key, n in r.status.items():
            status[key] = status.get(key, 0) + n
    position = {pid: i for i, pid in enumerate(job.ids)} if job.ids is not None else None
    parts = {part_path(job.folder, k): manifest.done[k].fragment for k in sorted(manifest.done)}
    copied = assemble(
        list(parts),
        out,
        fmt,
        order=(lambda s: s) if position is None else (lambda s: s.map(position)),
        integer_changes=not status.get("error"),
        fragments=parts,
    )
    manifest.complete = True
    manifest.save()
    return BatchResult(
        out=out,
        parts=job.folder,
        rows=sum(r.rows for r in records),
        status=dict(sorted(status.items(), key=lambda kv: -kv[1])),
        chunks=len(job.plan),
        solved=solved,
        reused=reused,
        violations=sum(r.violations for r in records),
        violation_lines=[line for r in records for line in r.violation_lines][:10],
        skipped=sum(r.skipped for r in records),
        skipped_lines=[line for r in records for line in r.skipped_lines][:10],
        seconds=time.perf_counter() - started,
        copied=copied,
    )


def _plan(scan: SurveyScan, ids: list | None, chunk_size: int) -> dict[int, tuple | None]:
    """Chunk index -> the ids wanted from it (``None``: everyone); chunks in file order."""
    if ids is None:
        return dict.fromkeys(range(len(scan.chunks)))
    ids_in_file = scan.ids.dropna()
    row_of = dict(zip(ids_in_file, ids_in_file.index, strict=True))
    check_known_ids(ids, row_of, str(scan.path))
    plan: dict[int, list[int]] = {}
    for pid in ids:
        plan.setdefault(row_of[pid] // chunk_size, []).append(pid)
    return {k: tuple(plan[k]) for k in sorted(plan)}


def _open_manifest(job: _Job, resume: bool, log: Callable[[str], None] | None) -> Manifest:
    """The manifest to continue (``resume``), or a new one in an emptied parts folder.

    A resumed run keeps a finished chunk only if its part is the very file the chunk
    wrote (same sha256); a part missing, damaged or replaced is solved again.
    """
    folder = job.folder
    path = folder / NAME
    if resume and folder.is_dir():
        if not written_by_sleeprx(folder):
            raise ArtifactError(
                f"{folder}: exists and was not written by sleeprx; there is nothing to resume"
            )
        old = Manifest.resume(path, job.inputs, job.plan)
        if old is not None:
            for stale in folder.glob(".part-*.tmp"):  # a part being written when it stopped
                stale.unlink(missing_ok=True)
            for k in [k for k, r in old.done.items() if not _intact(part_path(folder, k), r)]:
                del old.done[k]
            old.complete = False
            return old
        if log is not None:
            log(f"{path}: not found; starting from the beginning")
    fresh_dir(folder)
    manifest = Manifest(path, job.inputs, len(job.plan), job.people)
    manifest.save()
    return manifest


def _intact(part: Path, record: ChunkRecord) -> bool:
    """Whether ``part`` is still the file its chunk wrote."""
    try:
        return file_sha256(part) == record.sha256
    except OSError:
        return False


def _run(tasks: list[ChunkTask], early: EarlyClient) -> Iterator[dict]:
    """Each task's summary as it finishes: on Dask, or here one after the other."""
    if not tasks:
        return
    client = early.client()
    if client is None:
        for task in tasks:
            yield solve_chunk(task)
        return
    from dask.distributed import as_completed

    futures = [client.submit(solve_chunk, task, pure=False) for task in tasks]
    for future in as_completed(futures):
        summary = future.result()  # a task's error is raised here, with its own type
        future.release()
        yield summary
