"""The output file of a batch run: its parts rendered as CSV or JSON, in output order.

Merging is the driver's alone, after the last task: the serial part of a run. When a
part's rows overlap no other part's in output order (a survey in id order: every part
is a group of its own), its rows come out as they are in the part, so the task that
wrote the part also renders its text, a *fragment* (``part-NNNNN.csv`` or ``.json``
beside it), exactly as the driver would; the driver then copies fragments. The Parquet
part stays the record of the chunk: a fragment missing, damaged (its size and sha256
are in the manifest), or rendered for another format or another type of n_changes is
rendered again from its part, so the output is the same byte for byte either way.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow.parquet as pq

from sleeprx.batch.manifest import FragmentRecord
from sleeprx.batch.parts import BATCH_ROWS, groups, merged
from sleeprx.utils.files import atomic_open

__all__ = ["assemble", "fragment_path", "write_fragment"]

Order = Callable[[pd.Series], pd.Series]


def fragment_path(part: Path, fmt: str) -> Path:
    """Where the fragment of ``part`` in format ``fmt`` lives: beside it."""
    return part.with_suffix(f".{fmt}")


def _render(block: pd.DataFrame, fmt: str, integer_changes: bool) -> str:
    """A block's rows as the output holds them: CSV without header, or the JSON records
    without the list's brackets."""
    if integer_changes and "n_changes" in block:
        block["n_changes"] = block["n_changes"].astype("int64")
    if fmt == "csv":
        return block.to_csv(index=False, header=False)
    return block.to_json(orient="records", indent=2)[2:-2]  # without "[\n", "\n]"


def _csv_header(part: Path) -> str:
    """The CSV header line of every part (they share one schema)."""
    return pd.DataFrame(columns=pq.read_schema(part).names).to_csv(index=False)


class _Writer:
    """Pieces of rendered rows into one file: the CSV header or the JSON framing once,
    pieces joined as one rendering of the whole table would join them."""

    def __init__(self, handle: IO[bytes], fmt: str, header: Callable[[], str]) -> None:
        self.handle, self.fmt, self.header = handle, fmt, header
        self.first = True

    def write(self, piece: bytes) -> None:
        if self.fmt == "csv":
            self.handle.write(self.header().encode() if self.first else b"")
        else:
            self.handle.write(b"[\n" if self.first else b",\n")
        self.handle.write(piece)
        self.first = False

    def close(self) -> None:
        if self.fmt == "json":
            self.handle.write(b"[\n]\n" if self.first else b"\n]\n")


def _pieces(group: list[Path], order: Order, fmt: str, integer_changes: bool) -> Iterable[bytes]:
    """A group's rows, rendered a block at a time."""
    for block in merged(group, order, max(64, BATCH_ROWS // len(group))):
        yield _render(block, fmt, integer_changes).encode()


def _joined(pieces: Iterable[bytes], fmt: str) -> bytes:
    """Pieces as the writer joins them, without what it writes before the first."""
    return (b"" if fmt == "csv" else b",\n").join(pieces)


def write_fragment(
    part: Path, fmt: str, order: Order, *, integer_changes: bool
) -> FragmentRecord | None:
    """Render ``part`` (its rows sorted by ``order``) as :func:`assemble` would, into its
    fragment, whole or not at all; a part without rows has none (None)."""
    text = _joined(_pieces([part], order, fmt, integer_changes), fmt)
    if not text:
        return None
    final = fragment_path(part, fmt)
    tmp = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"  # a task may run twice at once
    try:
        tmp.write_bytes(text)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return FragmentRecord(
        format=fmt,
        integer_changes=integer_changes,
        size=len(text),
        sha256=hashlib.sha256(text).hexdigest(),
    )


def _fragment(
    part: Path, record: FragmentRecord | None, fmt: str, integer_changes: bool
) -> bytes | None:
    """The fragment's bytes if it is the one its task wrote for this output; else None."""
    if record is None or record.format != fmt or record.integer_changes != integer_changes:
        return None
    try:
        text = fragment_path(part, fmt).read_bytes()
    except OSError:
        return None
    if len(text) != record.size or hashlib.sha256(text).hexdigest() != record.sha256:
        return None
    return text


def assemble(
    parts: list[Path],
    out: Path,
    fmt: str,
    *,
    order: Order,
    integer_changes: bool,
    fragments: Mapping[Path, FragmentRecord | None] | None = None,
) -> int:
    """Merge ``parts`` (each sorted by ``order`` of person_id) into one CSV or JSON file;
    return how many parts were copied from their fragments.

    ``integer_changes``: n_changes is written as whole numbers, as an in-process run
    does when no row is an error row. ``fragments``: part -> the record of its fragment,
    copied where the part is a group of its own (see the module's docstring).
    """
    fragments = fragments or {}
    copied = 0
    found = groups(parts, order)
    with atomic_open(out, "wb") as handle:
        writer = _Writer(handle, fmt, lambda: _csv_header(found[0][0]))
        for group in found:
            record = fragments.get(group[0]) if len(group) == 1 else None
            text = _fragment(group[0], record, fmt, integer_changes)
            if text is not None:
                writer.write(text)
                copied += 1
                continue
            for piece in _pieces(group, order, fmt, integer_changes):
                writer.write(piece)
        writer.close()
    return copied
