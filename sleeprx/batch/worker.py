"""One task of a batch run: read a chunk of rows, prescribe, write its part.

A task returns a small summary, never the table: the table goes to the parts folder,
and the summary carries the part's sha256 for the manifest. The task also renders the
part as the output file will hold it (:func:`~sleeprx.batch.output.write_fragment`), so
that the driver, alone at the end of a run, mostly copies text.
The model is loaded once per worker process and kept, keyed by its folder and the
hash of its files.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from sleeprx.batch.manifest import FragmentRecord, file_sha256
from sleeprx.batch.output import write_fragment
from sleeprx.batch.parts import write_part
from sleeprx.learn.model import TrainedModel, load_model
from sleeprx.prescribing.options import with_options
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.table import TableInput, build_table
from sleeprx.prescribing.verify import check_margins, constraint_violations
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.read import RowRange, check_known_ids, read_survey

__all__ = ["ChunkTask", "solve_chunk"]

#: How many violation and skipped-row messages a summary carries (the counts are whole).
SHOWN = 10


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs for one chunk; small, so cheap to send."""

    index: int
    survey: str
    rows: RowRange
    model_dir: str
    model_sha256: str
    settings: PrescribeSettings
    ids: tuple[int, ...] | None  # the wanted people of this chunk, in output order
    parts_dir: str
    fmt: str | None = None  # the output's format, that the part's fragment is rendered in


_MODELS: dict[tuple[str, str], TrainedModel] = {}
_LOCK = threading.Lock()


def cached_model(model_dir: str, sha256: str) -> TrainedModel:
    """The model of ``model_dir``, loaded once per process (per version of its files)."""
    key = (str(Path(model_dir).resolve()), sha256)
    with _LOCK:
        if key not in _MODELS:
            _MODELS.clear()  # a worker serves one run's model at a time
            _MODELS[key] = load_model(model_dir)
        return _MODELS[key]


def solve_chunk(task: ChunkTask) -> dict:
    """Prescribe for one chunk, write ``part-NNNNN.parquet``, return a summary."""
    model = cached_model(task.model_dir, task.model_sha256)
    survey = read_survey(task.survey, model.description, errors="collect", rows=task.rows)
    if survey.frame.empty:  # prescribe() refuses a survey with no valid row
        table = _error_rows(survey, model, task)
    else:
        table = prescribe(survey, model, settings=task.settings, ids=task.ids)
        check_margins(table)  # every exact-mode row: planned margin = the booster's
    text_ids = survey.description.column(survey.description.id_column).type == "text"
    part = write_part(table, Path(task.parts_dir), task.index, text_ids=text_ids)
    status = {str(k): int(v) for k, v in table["status"].value_counts().items()}
    fragment = _fragment(part, task, integer_changes="error" not in status)
    broken = constraint_violations(
        table, survey.description, task.settings.max_changes, frame=survey.frame
    )
    skipped = [p.message for p in survey.problems if survey.id_of(p.person_id) is None]
    return {
        "chunk": task.index,
        "rows": len(table),
        "valid": len(survey.frame),
        "status": status,
        "violations": len(broken),
        "violation_lines": broken[:SHOWN],
        "skipped": len(skipped),
        "skipped_lines": skipped[:SHOWN],
        "first_problem": survey.problems[0].message if survey.problems else None,
        # hashed here, where the part was just written and is still in the page cache:
        # the driver, the serial part of a run, then never reads the parts back
        "sha256": file_sha256(part),
        "fragment": None if fragment is None else fragment.model_dump(),
    }


def _fragment(part: Path, task: ChunkTask, *, integer_changes: bool) -> FragmentRecord | None:
    """The part's text in the output's format; its order is the chunk's output order."""
    if task.fmt is None:
        return None
    if task.ids is None:
        return write_fragment(part, task.fmt, lambda s: s, integer_changes=integer_changes)
    position = {pid: i for i, pid in enumerate(task.ids)}
    return write_fragment(
        part, task.fmt, lambda s: s.map(position), integer_changes=integer_changes
    )


def _error_rows(survey, model: TrainedModel, task: ChunkTask):
    """The table of a chunk whose every row is invalid: one error row per person."""
    invalid = {
        pid: p.message for p in survey.problems if (pid := survey.id_of(p.person_id)) is not None
    }
    wanted = sorted(invalid) if task.ids is None else list(task.ids)
    check_known_ids(wanted, invalid, survey.source)
    model = model.with_description(survey.description)
    errors = {i: invalid[i] for i in wanted}
    data = TableInput(model, survey.frame, task.settings, wanted, errors=errors)
    return with_options(build_table(data), data, {})  # the option column, as every part
