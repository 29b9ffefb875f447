"""The Parquet parts of a batch run: one schema for all, read back in output order.

Every part holds the prescription table of one chunk, with the columns of
:func:`sleeprx.prescribing.run.prescribe` in its order. Parts share one schema whatever
their rows (a chunk of error rows only has all-null numbers and strings), so they
read back as one dataset: :func:`groups` and :func:`merged` give their rows a few
thousand at a time, in the order of an in-process run (rendered to text by
:mod:`sleeprx.batch.output`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sleeprx.utils.errors import ArtifactError

__all__ = ["BATCH_ROWS", "groups", "merged", "part_path", "write_part"]

#: Rows read from a part at a time when merging (shared among the parts of a group).
BATCH_ROWS = 20_000

STRINGS = ("status", "advice", "solver_status", "mode")
BOOLS = ("model_disagrees",)
INTEGERS = ("option",)  # with PrescribeSettings.options above 1


def _type(column: str, text_ids: bool) -> pa.DataType:
    if column in STRINGS or (column == "person_id" and text_ids):
        return pa.string()
    if column in BOOLS:
        return pa.bool_()
    if column == "person_id" or column in INTEGERS:
        return pa.int64()
    return pa.float64()  # every other column is a number, NaN when it does not apply


def part_path(folder: Path, index: int) -> Path:
    return folder / f"part-{index:05d}.parquet"


def write_part(table: pd.DataFrame, folder: Path, index: int, *, text_ids: bool) -> Path:
    """Write one chunk's table, whole or not at all (temporary name, then rename).
    Every part has the same schema; ``text_ids`` stores ids such as 'R-00017'."""
    types = {c: _type(c, text_ids) for c in table.columns}
    arrays = [pa.array(table[c], type=types[c], from_pandas=True) for c in table.columns]
    schema = pa.schema([pa.field(c, types[c]) for c in table.columns])
    final = part_path(folder, index)
    tmp = folder / f".{final.name}.{uuid.uuid4().hex}.tmp"  # a task may run twice at once
    try:
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def groups(parts: list[Path], order: Callable[[pd.Series], pd.Series]) -> list[list[Path]]:
    """The parts in groups whose ranges of keys overlap, groups in order of their keys.

    A survey sorted by id gives one part per group, so only one part is open at a time.
    """
    spans = []
    for path in parts:
        with _readable(path):
            ids = pq.read_table(path, columns=["person_id"]).column(0).to_pandas()
        if len(ids):
            keys = order(ids)
            spans.append((keys.min(), keys.max(), path))
    found: list[list[Path]] = []
    top = None
    for low, high, path in sorted(spans, key=lambda span: span[0]):
        if found and low <= top:
            found[-1].append(path)
            top = max(top, high)
        else:
            found.append([path])
            top = high
    return found


def merged(
    parts: list[Path], order: Callable[[pd.Series], pd.Series], batch_rows: int
) -> Iterator[pd.DataFrame]:
    """The parts' rows in ``order``, a block at a time; at most a batch per part in memory.

    Each round takes every buffered row up to the smallest of the buffers' last keys:
    no row still unread can come before those.
    """
    readers = []
    for path in parts:
        with _readable(path):
            readers.append(pq.ParquetFile(path).iter_batches(batch_size=batch_rows))
    buffers: list[pd.DataFrame | None] = [None] * len(parts)

    def refill(i: int) -> None:
        while buffers[i] is None or buffers[i].empty:
            with _readable(parts[i]):
                batch = next(readers[i], None)
            if batch is None:
                buffers[i] = None
                return
            frame = batch.to_pandas()
            buffers[i] = frame.assign(_key=order(frame["person_id"]).to_numpy())

    for i in range(len(parts)):
        refill(i)
    while any(b is not None for b in buffers):
        live = [i for i, b in enumerate(buffers) if b is not None]
        limit = min(buffers[i]["_key"].iloc[-1] for i in live)
        taken = []
        for i in live:
            buffer = buffers[i]
            head = buffer["_key"].le(limit).to_numpy()
            taken.append(buffer[head])
            buffers[i] = buffer[~head]
            refill(i)
        block = pd.concat([t for t in taken if len(t)], ignore_index=True)
        yield block.sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)


@contextmanager
def _readable(part: Path) -> Iterator[None]:
    """Name the part that cannot be read, in one line."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactError(
            f"{part}: cannot read this part ({exc}); run again with resume to solve its chunk again"
        ) from None
