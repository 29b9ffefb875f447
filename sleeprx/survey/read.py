"""Load a survey file (or a DataFrame of its rows) and validate it against its
description; nothing else.

Problems that make the whole file unusable (not a CSV, empty, a missing column, a
duplicate id) always raise :class:`SurveyError`. Problems in single cells (an unknown
category, a non-numeric or out-of-range value, a missing value where none is allowed)
raise too by default; with ``errors="collect"`` the row is set aside with its message,
so that a batch run can report it and go on for everybody else.

A DataFrame in the file's own columns (as ``pd.read_csv`` of the file gives them, or
as an app collects one person's answers) is validated exactly as the file would be:
each cell is read as its text, and messages name the row (counted from 1) and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sleeprx.survey.answers import aliased
from sleeprx.survey.cells import MISSING, NUMBER_TYPES, convert, numbers, parse_numbers
from sleeprx.survey.derived import with_derived
from sleeprx.survey.description import Column, SurveyDescription, load_description
from sleeprx.survey.files import is_survey_table, read_table
from sleeprx.utils.errors import ConfigError, SurveyError
from sleeprx.utils.frames import column_lists, column_names, frame_of_arrays

__all__ = [
    "MISSING",
    "RowProblem",
    "RowRange",
    "Survey",
    "check_known_ids",
    "check_unique_ids",
    "parse_id",
    "read_cells",
    "read_survey",
    "shipped_survey_path",
    "typed_id",
]


@dataclass(frozen=True)
class RowProblem:
    """One invalid cell. ``row`` counts data rows from 1 (the header is line 1);
    ``person_id`` is the row's id as written in the file."""

    row: int
    person_id: str
    column: str
    message: str


@dataclass(frozen=True)
class RowRange:
    """Some consecutive data rows of a survey file, by byte offsets (found by
    :mod:`sleeprx.batch`): the header is bytes ``[0, header_end)``, the rows
    ``[start, stop)``, and ``first`` counts the data rows before them."""

    first: int
    header_end: int
    start: int
    stop: int


@dataclass
class Survey:
    """A validated survey: canonical frame indexed by id, plus any rows set aside."""

    frame: pd.DataFrame
    description: SurveyDescription
    source: str
    problems: list[RowProblem] = field(default_factory=list)

    def id_of(self, text: str) -> int | str | None:
        """The id written as ``text``, typed like the frame's index; None if it cannot be."""
        return parse_id(self.description, text)

    def data_hash(self) -> str:
        """sha256 of the canonical frame, to tie a model to the data it saw."""
        blob = self.frame.sort_index().to_csv(float_format="%.10g").encode()
        return hashlib.sha256(blob).hexdigest()


def shipped_survey_path() -> Path:
    """The survey shipped with sleeprx: the repository copy, else the wheel's copy."""
    name = "Sleep_health_and_lifestyle_dataset.csv"
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "data" / name, package / "survey" / "shipped" / name):
        if candidate.is_file():
            return candidate
    raise SurveyError(f"the shipped survey {name} is not installed; pass --survey")


def typed_id(description: SurveyDescription, given: object) -> int | str:
    """An id given by a user, typed like the survey's ids; refuses one that cannot be
    an id of this survey."""
    parsed = parse_id(description, str(given))
    if parsed is None:
        raise ConfigError(
            f"person id {str(given)!r}: not an id of this survey "
            f"(its {description.id_column!r} column holds whole numbers)"
        )
    return parsed


def parse_id(description: SurveyDescription, text: str) -> int | str | None:
    """An id as the survey's id column types it (whole numbers or text); None if
    ``text`` is not a valid id of that type."""
    text = str(text).strip()
    if description.column(description.id_column).type == "text":
        return text or None
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def read_survey(
    path: str | Path | pd.DataFrame | None = None,
    description: SurveyDescription | None = None,
    *,
    errors: Literal["raise", "collect"] = "raise",
    rows: RowRange | None = None,
) -> Survey:
    """Read and validate a survey file, or a DataFrame of its rows.

    Parameters
    ----------
    path : survey CSV, or a ``.xpt``, ``.sav``, ``.dta`` or ``.parquet`` file
        (:mod:`sleeprx.survey.files`); ``None`` reads the shipped survey. A DataFrame
        holds rows in the file's own columns (headers as the file writes them); a cell
        pandas reads as missing is a blank cell, except in a categorical column with a
        category that ``pd.read_csv`` reads as missing by default (the shipped survey's
        ``"None"``), where it is that category. Messages name it ``people``.
    description : how to read it; ``None`` uses the shipped description.
    errors : ``"raise"`` stops at the first invalid cell; ``"collect"`` sets invalid
        rows aside in :attr:`Survey.problems` and keeps the valid ones.
    rows : read only these rows (and the header) of a file; messages keep the file's
        row numbers.

    Returns
    -------
    Survey
        ``frame`` holds one column per canonical name (a split column gives one per
        part) and ``resistance__<lever>`` for each per-person resistance read, indexed
        by id and sorted: numbers as float64, text as numpy objects (``dtype=object``,
        NaN for a blank); ``problems`` holds the rows set aside, in file order.
    """
    description = description if description is not None else load_description()
    if isinstance(path, pd.DataFrame):
        if rows is not None:
            raise ConfigError("rows: applies to a survey file, not to a DataFrame")
        name = source = FRAME_NAME
        raw = _frame_as_text(path, description)
        at: Callable[[int], str] = _at_frame_row
    else:
        path = Path(path) if path is not None else shipped_survey_path()
        raw = _as_lists(_read_raw(path, rows))
        name, source, at = path.name, str(path), _at
    first = rows.first if rows is not None else 0  # data rows before the ones read
    _check_columns(list(raw), description, name)
    columns, problems = _canonical(raw, description, name, first, at)
    check_unique_ids(columns[description.id_column], name, description, first)
    problems.sort(key=lambda p: p.row)
    if problems and errors == "raise":
        raise SurveyError(problems[0].message)
    frame = with_derived(_valid_rows_by_id(columns, problems, description, first), description)
    return Survey(frame=frame, description=description, source=source, problems=problems)


#: A survey's cells as text, by header: one list per column, ``""`` for a blank.
Cells = dict[str, list[str]]


def _as_lists(raw: pd.DataFrame) -> Cells:
    return {column: raw[column].tolist() for column in raw.columns}


def _check_columns(header: list[str], description: SurveyDescription, name: str) -> None:
    """Every column the description names is in the file, headers spelt as it spells them."""
    folded = {h.casefold(): h for h in header}
    cased = [
        f"'{folded[c.source.casefold()]}' in the file, '{c.source}' in the description"
        for c in description.columns
        if c.source not in header and c.source.casefold() in folded
    ]
    if cased:
        raise SurveyError(
            f"{name}: header(s) differ from the description only by case ({'; '.join(cased)}); "
            f"write them as the description does"
        )
    # The target may be absent: people who have not reported their sleep quality can
    # still be prescribed for (training and evaluation refuse such a survey).
    target = _source_of(description, description.target.column)
    needed = [c.source for c in description.columns if c.source != target]
    missing = [c for c in needed if c not in header]
    if missing:
        raise SurveyError(
            f"{name}: missing column(s) {missing}; found {header}. "
            f"The description '{description.name}' needs {needed}."
        )


def _canonical(
    raw: Cells,
    description: SurveyDescription,
    name: str,
    first: int,
    at: Callable[[int], str],
) -> tuple[dict[str, np.ndarray | list], list[RowProblem]]:
    """The canonical columns (and per-person resistances), and every invalid cell."""
    ids = raw[_source_of(description, description.id_column)]

    def problems(source: str, bad: list[tuple[int, str]]) -> list[RowProblem]:
        return [
            RowProblem(
                first + pos + 1,
                ids[pos],
                source,
                f"{name} {at(first + pos)}, column '{source}': {message}",
            )
            for pos, message in bad
        ]

    present = [c for c in description.columns if c.source in raw]  # the target may be absent
    text = {c.source: aliased(c, raw[c.source]) for c in present}
    resist = [f for f in description.modifiable if f.resistance_column is not None]
    resist = [f for f in resist if f.resistance_column in raw]
    number_sources = [c.source for c in present if c.type in NUMBER_TYPES]
    number_sources += [f.resistance_column for f in resist]
    parsed = dict(
        zip(
            number_sources,
            parse_numbers([text.get(s, raw[s]) for s in number_sources]),
            strict=True,
        )
    )
    out: dict[str, np.ndarray | list] = {}
    found: list[RowProblem] = []
    for column in present:
        for out_name, values, bad in convert(
            column, text[column.source], parsed.get(column.source)
        ):
            out[out_name] = values
            found += problems(column.source, bad)
    design = description.design
    if design is not None and design.weight in out:  # a zero weight stands for nobody
        weights = out[design.weight]
        bad = [
            (i, f"{w:g} is not a positive survey weight") for i, w in enumerate(weights) if w <= 0
        ]
        found += problems(description.column(design.weight).source, bad)
    for factor in resist:
        rc = factor.resistance_column
        bad = numbers(raw[rc], parsed[rc], low=0.0, high=None, integer=False, missing_ok=True)
        out[f"resistance__{factor.column}"] = parsed[rc]
        found += problems(rc, bad)
    return out, found


def _valid_rows_by_id(
    columns: dict[str, np.ndarray | list],
    problems: list[RowProblem],
    description: SurveyDescription,
    first: int,
) -> pd.DataFrame:
    """The rows without a problem as a frame indexed by id (whole numbers as int64) and
    sorted; one frame built once, since each pandas step costs about what a person's
    solve does. Text columns hold numpy objects (NaN for a blank): what reading them
    back gives, without converting pandas' text arrays."""
    id_name = description.id_column
    ids = columns[id_name]
    bad_rows = {p.row - 1 - first for p in problems}
    keep = [i for i in range(len(ids)) if i not in bad_rows]
    if description.column(id_name).type != "text":
        kept = np.asarray(ids, dtype=float)[keep].astype(np.int64)
        order = np.argsort(kept, kind="stable")
        index = pd.Index(kept[order], name=id_name)
    else:
        order = sorted(range(len(keep)), key=lambda k: ids[keep[k]])
        index = pd.Index(pd.array([ids[keep[k]] for k in order], dtype="str"), name=id_name)
    rows = [keep[k] for k in order]
    if rows == list(range(len(ids))):  # every row valid, in id order: nothing to take
        rows = None
    data = {name: _taken(values, rows) for name, values in columns.items() if name != id_name}
    return frame_of_arrays(data, index)


def _taken(values: np.ndarray | list, rows: list[int] | None) -> np.ndarray:
    """The cells of ``rows`` (None: all): floats as float64, text as numpy objects (NaN
    a blank)."""
    if isinstance(values, np.ndarray):
        return values if rows is None else values[rows]
    cells = values if rows is None else [values[i] for i in rows]
    taken = np.empty(len(cells), dtype=object)
    taken[:] = [c if c is not None else np.nan for c in cells]
    return taken


def _at(pos: int) -> str:
    return f"row {pos + 1} (line {pos + 2})"


def _at_frame_row(pos: int) -> str:
    return f"row {pos + 1}"


#: What a DataFrame of people is called in messages.
FRAME_NAME = "people"

#: The strings ``pd.read_csv`` reads as missing by default (its ``na_values``).
READ_CSV_NA = frozenset(
    [
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)


def _frame_as_text(frame: pd.DataFrame, description: SurveyDescription) -> Cells:
    """A DataFrame of people as the text a survey file would hold: what
    :func:`_read_csv` gives, so that both are validated by the same code."""
    if frame.empty:
        raise SurveyError(f"{FRAME_NAME}: no rows")
    header = [str(c).strip() for c in column_names(frame)]
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise SurveyError(f"{FRAME_NAME}: column(s) {twice} appear more than once")
    blank_as = {c.source: _na_category(c) for c in description.columns}
    text = {}
    # one conversion of the whole frame: a pandas access per column costs more
    for column, cells in zip(header, column_lists(frame), strict=True):
        fill = blank_as.get(column) or ""
        text[column] = [_cell_text(v, fill) for v in cells]
    return text


def _na_category(column: Column) -> str | None:
    """The category that ``pd.read_csv`` would have read as missing, if one."""
    if column.type != "categorical" or column.allow_missing:
        return None
    spelt = [c for c in (*column.categories, *column.aliases) if c in READ_CSV_NA]
    return spelt[0] if len(spelt) == 1 else None


def _cell_text(value: object, blank_as: str) -> str:
    """A cell as the text of a survey file: missing as blank (or ``blank_as``)."""
    if isinstance(value, str):
        return value.strip()
    if type(value) is int:  # the usual cells first: pd.isna costs more than the rest
        return str(value)
    if type(value) is float:
        return blank_as if value != value else str(int(value)) if value.is_integer() else str(value)
    if value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value))):
        return blank_as
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 7.0 in a column pandas made float is the file's 7
    return str(value).strip()


def _source_of(description: SurveyDescription, name: str) -> str:
    return description.column(name).source


def read_cells(path: str | Path) -> pd.DataFrame:
    """Every cell of a survey file (CSV, ``.xpt``, ``.sav``, ``.dta``, ``.parquet``) as
    stripped text, ``""`` for a blank, unchecked against any description."""
    return _read_raw(Path(path), None)


def _read_raw(path: Path, rows: RowRange | None) -> pd.DataFrame:
    """The file's cells as text: a CSV, or a SAS, SPSS, Stata or Parquet file."""
    if not is_survey_table(path):
        return _read_csv(path, rows)
    if rows is not None:
        raise SurveyError(f"{path.name}: reading some rows only works on a CSV file")
    return read_table(path).text


def _read_csv(path: Path, rows: RowRange | None = None) -> pd.DataFrame:
    name = path.name
    if not path.is_file():
        raise SurveyError(f"{path}: survey file not found")
    if path.stat().st_size == 0:
        raise SurveyError(f"{name}: the file is empty")
    try:
        text = _read_bytes(path, rows).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SurveyError(f"{name}: not a CSV file (not UTF-8 text at byte {exc.start})") from None
    if "\x00" in text:
        raise SurveyError(f"{name}: not a CSV file (it holds binary data)")
    if text.lstrip()[:1] in ("{", "["):
        raise SurveyError(f"{name}: not a CSV file (it looks like JSON)")
    _check_field_counts(text, name, rows.first if rows is not None else 0)
    try:
        # Everything as text: "None" is a category here, and validation decides types.
        raw = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            index_col=False,
        )
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError) as exc:
        raise SurveyError(f"{name}: not a CSV file ({exc})") from None
    except pd.errors.EmptyDataError:
        raise SurveyError(f"{name}: the file is empty") from None
    if raw.empty:
        raise SurveyError(f"{name}: the file has a header but no data rows")
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw.apply(lambda s: s.str.strip())


def _read_bytes(path: Path, rows: RowRange | None) -> bytes:
    if rows is None:
        return path.read_bytes()
    with path.open("rb") as handle:
        header = handle.read(rows.header_end)
        handle.seek(rows.start)
        return header + handle.read(rows.stop - rows.start)


def _check_field_counts(text: str, name: str, first: int = 0) -> None:
    """Every line has as many fields as the header (pandas would shift or drop cells)."""
    try:
        lines = csv.reader(io.StringIO(text))
        header = next(lines, [])
        for line_no, fields in enumerate(lines, start=2 + first):
            if fields and len(fields) != len(header):
                raise SurveyError(
                    f"{name}: row {line_no - 1} (line {line_no}): expected {len(header)} fields "
                    f"like the header, found {len(fields)}"
                )
    except csv.Error as exc:
        raise SurveyError(f"{name}: not a CSV file ({exc})") from None


def check_unique_ids(
    ids: Sequence | pd.Series, name: str, description: SurveyDescription, first_row: int = 0
) -> None:
    """Refuse ids that appear twice, naming the file ``name`` and the rows (counted from
    ``first_row + 1``); blank or invalid ids (``None``, NaN) are not compared."""
    given = [
        v for v in (ids.tolist() if hasattr(ids, "tolist") else ids) if v == v and v is not None
    ]
    if len(set(given)) == len(given):  # the usual case, without pandas
        return
    ids = pd.Series(ids)
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    if not dup.empty:
        first = dup.iloc[0]
        rows = [first_row + int(i) + 1 for i in np.flatnonzero((ids == first).to_numpy())]
        source = _source_of(description, description.id_column)
        raise SurveyError(
            f"{name}: column '{source}': id {_id_text(first)} appears more than once (rows {rows})"
        )


def _id_text(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def check_known_ids(wanted: Iterable[object], known: Container[object], source: str) -> None:
    """Refuse the first id of ``wanted`` that is not among ``known``, the ids of the
    survey read from ``source``."""
    for pid in wanted:
        if pid not in known:
            raise ConfigError(f"no person with id {pid} in {source}")
