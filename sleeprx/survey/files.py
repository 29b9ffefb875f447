"""Survey files as national surveys publish them: SAS transport (``.xpt``), SPSS
(``.sav``, ``.zsav``), Stata (``.dta``) and Parquet, read into the text cells that
:func:`~sleeprx.survey.read.read_survey` validates, as it does a CSV's.

A value label replaces its code (``2`` -> ``Former smoker``), so a labelled answer
reads as a category or as the text of an ordinal code, and the labels stay at hand
(:attr:`SurveyTable.value_labels`) for a draft description. A blank cell, a system
missing value and an SPSS user-missing value all become an empty cell.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sleeprx.survey.description import is_number
from sleeprx.utils.errors import SurveyError

__all__ = ["SURVEY_SUFFIXES", "SurveyTable", "is_survey_table", "read_table"]

#: What each suffix is, for messages.
SURVEY_SUFFIXES = {
    ".xpt": "SAS transport",
    ".sav": "SPSS",
    ".zsav": "SPSS",
    ".dta": "Stata",
    ".parquet": "Parquet",
}


@dataclass(frozen=True)
class SurveyTable:
    """A survey file's cells as text, with its value and variable labels.

    ``value_labels`` maps a column to its codes and their labels, in code order;
    ``column_labels`` a column to the question it asks (when the file says).
    """

    text: pd.DataFrame
    value_labels: dict[str, dict[float, str]] = field(default_factory=dict)
    column_labels: dict[str, str] = field(default_factory=dict)


def is_survey_table(path: Path) -> bool:
    """Whether ``path`` is one of the :data:`SURVEY_SUFFIXES` (not a CSV)."""
    return path.suffix.lower() in SURVEY_SUFFIXES


def read_table(path: str | Path) -> SurveyTable:
    """Read a ``.xpt``, ``.sav``, ``.zsav``, ``.dta`` or ``.parquet`` survey file.

    Returns
    -------
    SurveyTable
        ``text`` has one column per variable, every cell a stripped string (``""``
        for a missing value), whole numbers without a decimal point and times of day
        as ``HH:MM``; labelled codes are replaced by their labels.
    """
    path = Path(path)
    kind = SURVEY_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SurveyError(f"{path.name}: not a survey file sleeprx reads ({_known()})")
    if not path.is_file():
        raise SurveyError(f"{path}: survey file not found")
    try:
        frame, values, questions = _read(path)
    except Exception as exc:  # pyreadstat and pyarrow raise their own errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SurveyError(f"{path.name}: cannot be read as a {kind} file ({first})") from None
    if frame.empty:
        raise SurveyError(f"{path.name}: the file has no data rows")
    text = pd.DataFrame(
        {str(c).strip(): _cells(frame[c], values.get(c, {})) for c in frame.columns},
        index=pd.RangeIndex(len(frame)),
    )
    values = {str(c).strip(): dict(sorted(v.items())) for c, v in values.items()}
    return SurveyTable(text, values, {str(c).strip(): q for c, q in questions.items() if q})


def _read(path: Path) -> tuple[pd.DataFrame, dict, dict]:
    """The frame, the value labels and the variable labels of one file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
        return frame, {}, {}
    import pyreadstat  # only these formats need it

    reader = {
        ".xpt": pyreadstat.read_xport,
        ".sav": pyreadstat.read_sav,
        ".zsav": pyreadstat.read_sav,
        ".dta": pyreadstat.read_dta,
    }[suffix]
    frame, meta = reader(str(path))
    values = {
        c: {float(k): str(v) for k, v in labels.items()}
        for c, labels in (meta.variable_value_labels or {}).items()
    }
    return frame, values, dict(meta.column_names_to_labels or {})


def _cells(column: pd.Series, labels: dict[float, str]) -> list[str]:
    return [_cell(v, labels) for v in column.tolist()]


def _cell(value: object, labels: dict[float, str]) -> str:
    """One value as the text a CSV would hold."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        number = float(value)
        if number in labels:
            return labels[number]
        return str(int(number)) if number.is_integer() else format(number, ".12g")
    text = str(value).strip()
    return labels.get(float(text), text) if labels and is_number(text) else text


def _known() -> str:
    return "CSV, " + ", ".join(sorted(SURVEY_SUFFIXES))
