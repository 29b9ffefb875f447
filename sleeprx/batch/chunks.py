"""Split a survey file into chunks of rows, streaming it once.

The driver of a batch run never holds the survey: it reads the file once, record by
record, to hash its bytes, find the byte offsets where chunks start, and check what
only the whole file can tell (every line has the header's fields, no id appears
twice). It keeps the ids, nothing else. Each chunk is then read by the task that
solves it (:func:`sleeprx.survey.read.read_survey` with ``rows=``), with the file's own row
numbers in every message.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.read import RowRange, check_unique_ids, parse_id
from sleeprx.utils.errors import SurveyError

__all__ = ["SurveyScan", "scan_survey"]


@dataclass(frozen=True)
class SurveyScan:
    """What one pass over a survey file found."""

    path: Path
    sha256: str
    n_rows: int
    chunks: list[RowRange]  # in file order; chunk k holds rows chunks[k].first ...
    sizes: list[int]  # rows per chunk
    ids: pd.Series  # typed id per data row (None where not a valid id), in file order


def scan_survey(path: Path, description: SurveyDescription, chunk_size: int) -> SurveyScan:
    """Hash ``path``, cut it into chunks of ``chunk_size`` data rows, check its ids."""
    name = path.name
    if not path.is_file():
        raise SurveyError(f"{path}: survey file not found")
    if path.stat().st_size == 0:
        raise SurveyError(f"{name}: the file is empty")
    digest = hashlib.sha256()
    offsets = _Offsets()
    records = csv.reader(_lines(path, digest, offsets))
    id_source = description.column(description.id_column).source
    try:
        header = [field.strip() for field in next(records, [])]
        header_end = offsets.consumed
        id_at = header.index(id_source) if id_source in header else None
        starts: list[int] = []  # byte offset of every chunk's first row
        ids: list[str] = []
        n = 0
        start = header_end
        for line_no, fields in enumerate(records, start=2):
            if not fields:  # a blank line: pandas skips it, so it is no data row
                start = offsets.consumed
                continue
            if len(fields) != len(header):
                raise SurveyError(
                    f"{name}: row {line_no - 1} (line {line_no}): expected {len(header)} "
                    f"fields like the header, found {len(fields)}"
                )
            if n % chunk_size == 0:
                starts.append(start)
            if id_at is not None:
                ids.append(fields[id_at].strip())
            n += 1
            start = offsets.consumed
    except csv.Error as exc:
        raise SurveyError(f"{name}: not a CSV file ({exc})") from None
    if n == 0:
        raise SurveyError(f"{name}: the file has a header but no data rows")
    stops = [*starts[1:], offsets.consumed]
    chunks = [
        RowRange(first=k * chunk_size, header_end=header_end, start=a, stop=b)
        for k, (a, b) in enumerate(zip(starts, stops, strict=True))
    ]
    sizes = [min(chunk_size, n - k * chunk_size) for k in range(len(chunks))]
    typed = pd.Series([parse_id(description, t) for t in ids], dtype=object)
    if id_at is not None:
        check_unique_ids(typed, name, description)
    return SurveyScan(path, digest.hexdigest(), n, chunks, sizes, typed)


class _Offsets:
    consumed = 0  # bytes handed to the CSV reader so far


def _lines(path: Path, digest, offsets: _Offsets) -> Iterator[str]:
    """The file's lines as text, counting bytes; the checks of ``survey.read._read_csv``."""
    name = path.name
    with path.open("rb") as handle:
        for number, raw in enumerate(handle):
            digest.update(raw)
            if b"\x00" in raw:
                raise SurveyError(f"{name}: not a CSV file (it holds binary data)")
            try:
                line = raw.decode("utf-8-sig" if number == 0 else "utf-8")
            except UnicodeDecodeError as exc:
                at = offsets.consumed + exc.start
                raise SurveyError(f"{name}: not a CSV file (not UTF-8 text at byte {at})") from None
            if number == 0 and line.lstrip()[:1] in ("{", "["):
                raise SurveyError(f"{name}: not a CSV file (it looks like JSON)")
            offsets.consumed += len(raw)
            yield line
