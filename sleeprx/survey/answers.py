"""Read the answers of clock and ordinal columns: text in, numbers and messages out.

Each reader takes the column's cells as a list of text (aliases already applied) and
returns the values as an array with ``[(position, message)]`` for the invalid cells,
like the number reader of :mod:`sleeprx.survey.cells`.
"""

from __future__ import annotations

import numpy as np

from sleeprx.survey.clock import hours_after
from sleeprx.survey.description import Column

__all__ = ["aliased", "clock_hours", "ordinal_codes"]

Bad = list[tuple[int, str]]


def aliased(column: Column, text: list[str]) -> list[str]:
    """The cells with every alias replaced by the answer it stands for."""
    if not column.aliases:
        return text
    return [column.aliases.get(v, v) for v in text]


def clock_hours(column: Column, text: list[str], missing: str) -> tuple[np.ndarray, Bad]:
    """Hours after the column's ``clock_origin`` (``01:45`` after 18:00 is 7.75);
    ``missing`` is the message for a blank cell where none is allowed."""
    origin = column.clock_origin or "00:00"
    values = np.full(len(text), np.nan)
    bad: Bad = []
    for i, t in enumerate(text):
        if t == "":
            if not column.allow_missing:
                bad.append((i, missing))
            continue
        hours = hours_after(origin, t)
        if hours is None:
            bad.append((i, f"'{t}' is not a clock time such as 01:45 or 1:45 am"))
        elif (column.min is not None and hours < column.min) or (
            column.max is not None and hours > column.max
        ):
            bad.append((i, f"{t} is {hours:g} h after {origin}, outside {_span(column)}"))
        else:
            values[i] = hours
    return values, bad


def ordinal_codes(column: Column, text: list[str], missing: str) -> tuple[np.ndarray, Bad]:
    """The code of each answer of an ordinal column (its ``codes``)."""
    codes = {c.text: c.code for c in column.codes}
    values = np.full(len(text), np.nan)
    bad: Bad = []
    for i, t in enumerate(text):
        if t == "":
            if not column.allow_missing:
                bad.append((i, missing))
        elif t in codes:
            values[i] = codes[t]
        else:
            bad.append((i, f"'{t}' is not one of {list(codes)}"))
    return values, bad


def _span(column: Column) -> str:
    low = "-inf" if column.min is None else f"{column.min:g}"
    high = "inf" if column.max is None else f"{column.max:g}"
    return f"{low}..{high} h"
