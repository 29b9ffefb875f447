"""Convert one column's cells, as text, into its canonical values and the messages of
its invalid cells.

Cells come as plain lists of stripped strings (``""`` for a blank), not pandas
Series: every check looks at each cell in Python anyway, and on the few rows of one
person the Series operations cost far more than the checks. Numbers are parsed by
``pd.to_numeric`` in one call for the whole survey (:func:`parse_numbers`), so a file
and a DataFrame of people read the same values to the bit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from sleeprx.survey.answers import clock_hours, ordinal_codes
from sleeprx.survey.description import Column

__all__ = ["MISSING", "NUMBER_TYPES", "Bad", "convert", "numbers", "parse_numbers"]

#: A blank cell where the description allows none; names the key that would allow it.
MISSING = (
    "value is missing; to keep blank cells as missing values, set 'allow_missing: true' "
    "on this column in the survey description"
)

#: Column types whose cells :func:`convert` reads with :func:`parse_numbers`' values.
NUMBER_TYPES = ("numeric", "integer")

Bad = list[tuple[int, str]]
#: canonical name, values (floats, or text with None for a blank), invalid cells
Converted = tuple[str, np.ndarray | list, Bad]


def parse_numbers(columns: Sequence[list[str]]) -> list[np.ndarray]:
    """Each list of cells as floats (NaN for a blank or a non-number), by one
    ``pd.to_numeric`` call over all of them."""
    cells = [t for column in columns for t in column]
    if not cells:
        return [np.zeros(0) for _ in columns]
    values = _plain_numbers(cells) if len(cells) <= _FEW else None
    if values is None:
        # object, not text: to_numeric then coerces cell by cell, as it did per column
        values = pd.to_numeric(
            np.array([t if t != "" else np.nan for t in cells], dtype=object), errors="coerce"
        )
        values = np.asarray(values, dtype=float)
    ends = np.cumsum([len(c) for c in columns]).tolist()
    return [values[a:b] for a, b in zip([0, *ends], ends, strict=False)]  # np.split's views


#: Up to this many cells, :func:`_plain_numbers` is tried first: ``pd.to_numeric``
#: costs about 0.1 ms a call whatever the size, Python's ``float`` ~0.5 us a cell.
_FEW = 256

#: A cell of at most 15 digits, with a sign and a decimal point at most: its digits and
#: its power of ten are exact in a float, so one rounding gives it, which is what both
#: ``float`` and pandas' parser do (the same bits).
_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _plain_numbers(cells: list[str]) -> np.ndarray | None:
    """The cells as floats by ``float``, when every one is blank or plain (:data:`_PLAIN`)
    and so reads as ``pd.to_numeric`` reads it; None otherwise. A negative zero is left
    to pandas: it reads ``-0`` as 0 among whole numbers, as -0.0 among others."""
    values = []
    for t in cells:
        if t == "":
            values.append(math.nan)
            continue
        if len(t) > 17 or not _PLAIN.fullmatch(t) or len(t) - t.count("-") - t.count(".") > 15:
            return None
        v = float(t)
        if v == 0 and t[0] == "-":
            return None
        values.append(v)
    return np.array(values, dtype=float)


def convert(column: Column, text: list[str], parsed: np.ndarray | None) -> Iterator[Converted]:
    """Yield (canonical name, values, [(position, message)]) for one source column;
    ``text`` has its aliases applied, ``parsed`` is its :func:`parse_numbers` values
    for a column of :data:`NUMBER_TYPES`."""
    if column.type == "clock":
        values, bad = clock_hours(column, text, MISSING)
        yield column.name, values, bad
    elif column.type == "ordinal":
        values, bad = ordinal_codes(column, text, MISSING)
        yield column.name, values, bad
    elif column.type in NUMBER_TYPES:
        assert parsed is not None  # the caller parses every number column
        integer = column.type == "integer"
        bad = numbers(text, parsed, column.min, column.max, integer, column.allow_missing)
        yield column.name, parsed, bad
    elif column.type == "categorical":
        yield column.name, *_categories(column, text)
    elif column.type == "text":
        bad = [(i, "value is missing") for i, t in enumerate(text) if t == ""]
        yield column.name, [t if t != "" else None for t in text], bad
    else:
        yield from _split(column, text)


def _split(column: Column, text: list[str]) -> Iterator[Converted]:
    """The parts of a column such as ``126/83``, each a number column of its own."""
    n = len(column.into)
    parts = [t.split(column.separator) for t in text]
    shape_bad = [
        (i, f"'{v}' is not {n} numbers separated by '{column.separator}'")
        for i, (v, p) in enumerate(zip(text, parts, strict=True))
        if not (column.allow_missing and v == "") and len(p) != n
    ]
    shaped = [p if len(p) == n else [""] * n for p in parts]
    pieces = [[p[k] for p in shaped] for k in range(n)]
    shape_rows = {j for j, _ in shape_bad}
    for k, (derived, piece, values) in enumerate(
        zip(column.into, pieces, parse_numbers(pieces), strict=True)
    ):
        bad = numbers(piece, values, derived.min, derived.max, False, column.allow_missing)
        bad = [(i, f"'{text[i]}': part {k + 1} {m}") for i, m in bad if i not in shape_rows]
        yield derived.name, values, (shape_bad if k == 0 else []) + bad


def numbers(text: list[str], values: np.ndarray, low, high, integer: bool, missing_ok: bool) -> Bad:
    """The invalid cells of a number column: blank, not a number, not finite, not whole,
    out of range. ``values`` are the cells parsed (:func:`parse_numbers`)."""
    bad: Bad = []
    for i, (v, t) in enumerate(zip(values.tolist(), text, strict=True)):
        if t == "":
            if not missing_ok:
                bad.append((i, MISSING))
        elif v != v:  # NaN: not a number
            bad.append((i, f"'{t}' is not a number"))
        elif v in (np.inf, -np.inf):
            bad.append((i, f"'{t}' is not a finite number"))
        elif integer and v != round(v):
            bad.append((i, f"{t} is not a whole number"))
        elif (low is not None and v < low) or (high is not None and v > high):
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            bad.append((i, f"{t} is outside {lo}..{hi}"))
    return bad


def _categories(column: Column, text: list[str]) -> tuple[list, Bad]:
    """The answers of a categorical column (aliases already applied)."""
    allowed = set(column.categories)
    bad: Bad = []
    for i, t in enumerate(text):
        if t == "" and column.allow_missing:
            continue
        if t == "":
            bad.append((i, MISSING))
        elif t not in allowed:
            bad.append((i, f"'{t}' is not one of {list(column.categories)}"))
    return [t if t != "" else None for t in text], bad
