"""A first description of a survey file, drafted from its cells, for a person to edit.

The draft names every column (snake_case), guesses its type from the answers (whole
numbers, numbers, clock times, ``120/80`` pairs, value-labelled codes as ordinal
answers, a few distinct texts as categories), its range from the values seen, an id
(the first column unique in every row) and a target (a column called ``quality``,
``outcome`` or ``target``, else the last numeric one, positive from its median). Every
lever is written commented out: advice is policy, and a person decides which factors
may change and how far. Uncomment the levers you want and the draft trains.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sleeprx.survey.clock import DAY, parse_clock
from sleeprx.survey.description import is_number
from sleeprx.survey.files import SurveyTable, is_survey_table, read_table
from sleeprx.survey.read import read_cells
from sleeprx.utils.errors import SurveyError

__all__ = ["draft_description"]

MAX_CATEGORIES = 20
_PAIR = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)\s*$")
_TARGET_WORDS = ("quality", "outcome", "target")


def draft_description(path: str | Path) -> str:
    """The YAML text of a draft description of the survey file ``path`` (CSV, ``.xpt``,
    ``.sav``, ``.dta`` or ``.parquet``): columns, id and target filled in, every lever
    commented out (lines starting ``# ``)."""
    path = Path(path)
    table = read_table(path) if is_survey_table(path) else SurveyTable(read_cells(path))
    names = _snake_names(list(table.text.columns))
    columns = [
        _column(header, names[header], table.text[header], table) for header in table.text.columns
    ]
    columns = [c for c in columns if c is not None]
    id_column = _id_column(columns, table.text)
    for column in columns:
        if column["name"] == id_column and column["type"] != "text":
            column.update(type="integer" if column["type"] == "integer" else "text")
            for key in ("min", "max", "categories", "allow_missing", "codes"):
                column.pop(key, None)
    target = _target(columns, id_column, table.text)
    head = {"name": path.stem, "id_column": id_column, "columns": columns, "target": target}
    text = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=100)
    levers = [_lever(c) for c in columns if c["name"] not in (id_column, target["column"])]
    lines = [
        f"## A draft description of {path.name}, written by 'sleeprx describe'.",
        "## Check every column's type and range, the target and its threshold; then",
        "## uncomment the levers that may change (each '# ' line) and set their safe",
        "## ranges and costs.",
        text.rstrip(),
        "modifiable:",
    ]
    for lever in (lever for lever in levers if lever is not None):
        block = yaml.safe_dump([lever], sort_keys=False, allow_unicode=True, width=100)
        lines += ["# " + line for line in block.rstrip().splitlines()]
    return "\n".join(lines) + "\n"


def _snake_names(headers: list[str]) -> dict[str, str]:
    """Each header as a distinct snake_case name."""
    out: dict[str, str] = {}
    for header in headers:
        base = re.sub(r"[^a-z0-9]+", "_", header.casefold()).strip("_") or "column"
        base = base if base[0].isalpha() else f"c_{base}"
        name, k = base, 2
        while name in out.values():
            name, k = f"{base}_{k}", k + 1
        out[header] = name
    return out


def _column(header: str, name: str, text: pd.Series, table: SurveyTable) -> dict | None:
    """A column entry for ``header``, or None for free text (left out)."""
    given = text[text != ""]
    entry: dict = {"source": header, "name": name}
    labels = table.value_labels.get(header)
    numbers = pd.to_numeric(given, errors="coerce")
    if labels:
        seen = [t for t in dict.fromkeys(given) if t not in labels.values()]
        codes = [{"text": t, "code": _number(c)} for c, t in labels.items()]
        codes += [{"text": t, "code": _number(float(t))} for t in seen if is_number(t)]
        entry |= {"type": "ordinal", "codes": sorted(codes, key=lambda c: c["code"])}
    elif len(given) and numbers.notna().all():
        whole = bool((numbers == numbers.round()).all())
        entry |= {"type": "integer" if whole else "numeric"}
        entry |= {"min": _number(numbers.min()), "max": _number(numbers.max())}
    elif len(given) and given.map(lambda t: parse_clock(t) is not None).all():
        entry |= _clock(given)
    elif len(given) and given.str.match(_PAIR).all():
        entry |= _split(name, given)
    elif given.nunique() <= MAX_CATEGORIES and len(given):
        entry |= {"type": "categorical", "categories": sorted(set(given))}
    elif given.is_unique and len(given) == len(text):
        entry |= {"type": "text"}  # an id, if it is the id column
    else:
        return None
    if (text == "").any():
        entry["allow_missing"] = True
    if table.column_labels.get(header):
        entry["label"] = table.column_labels[header]
    return entry


def _clock(given: pd.Series) -> dict:
    """A clock column from an origin in the middle of the longest gap between answers,
    so that the answers run unbroken from it."""
    minutes = np.unique(given.map(parse_clock).to_numpy(float))
    gaps = np.diff(np.append(minutes, minutes[0] + DAY))
    k = int(np.argmax(gaps))
    middle = (minutes[k] + gaps[k] / 2) % DAY
    origin = f"{int(middle // 60):02d}:00"
    start = int(middle // 60) * 60
    hours = ((minutes - start) % DAY) / 60
    return {
        "type": "clock",
        "clock_origin": origin,
        "min": _clock_text(start, float(hours.min())),
        "max": _clock_text(start, float(hours.max())),
    }


def _clock_text(start: float, hours: float) -> str:
    minutes = round(start + hours * 60) % DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _split(name: str, given: pd.Series) -> dict:
    parts = given.str.extract(_PAIR).astype(float)
    into = [
        {"name": f"{name}_{k + 1}", "min": _number(parts[k].min()), "max": _number(parts[k].max())}
        for k in range(2)
    ]
    return {"type": "split", "separator": "/", "into": into}


def _id_column(columns: list[dict], text: pd.DataFrame) -> str:
    """The first column unique and given in every row, preferring one called ``id``."""
    unique = [
        c
        for c in columns
        if c["type"] in ("text", "integer")
        and (text[c["source"]] != "").all()
        and text[c["source"]].is_unique
    ]
    if not unique:
        raise SurveyError("no column is unique in every row, so none can be the id")
    named = [c for c in unique if re.search(r"(^|_)id($|_)", c["name"])]
    return (named or unique)[0]["name"]


def _target(columns: list[dict], id_column: str, text: pd.DataFrame) -> dict:
    """The outcome column, positive from its median: a guess for a person to check."""
    numeric = [c for c in columns if c["type"] in ("integer", "numeric") and c["name"] != id_column]
    if not numeric:
        raise SurveyError("no numeric column to serve as the target")
    named = [c for c in numeric if any(w in c["name"] for w in _TARGET_WORDS)]
    target = (named or numeric)[-1] if not named else named[0]
    values = pd.to_numeric(text[target["source"]], errors="coerce").dropna()
    threshold = float(values.median())
    if threshold <= float(values.min()) and (values > threshold).any():
        threshold = float(values[values > threshold].min())  # keep both classes
    return {"column": target["name"], "threshold": _number(threshold)}


def _lever(column: dict) -> dict | None:
    """A lever entry over ``column``, its safe values from the answers seen."""
    base = {
        "column": column["name"],
        "label": column.get("label") or column["name"].replace("_", " "),
    }
    kind = column["type"]
    if kind == "ordinal":
        return base | {
            "levels": [c["text"] for c in column["codes"]],
            "direction": "both",
            "max_change": 1,
            "fixed_cost": 1.0,
        }
    if kind == "clock":
        return base | {
            "lower": column["min"],
            "upper": column["max"],
            "step": 0.25,
            "direction": "both",
            "max_change": 1.0,
            "fixed_cost": 1.0,
        }
    if kind not in ("integer", "numeric"):
        return None
    low, high = float(column["min"]), float(column["max"])
    step = _nice_step(high - low, whole=kind == "integer")
    lower, upper = math.floor(low / step) * step, math.ceil(high / step) * step
    if upper <= lower:
        return None  # one value only: nothing to change
    return base | {
        "lower": _number(lower),
        "upper": _number(upper),
        "step": _number(step),
        "direction": "both",
        "max_change": _number(2 * step),
        "fixed_cost": 1.0,
    }


def _nice_step(span: float, *, whole: bool) -> float:
    """About a tenth of ``span``, as 1, 2 or 5 times a power of ten (1 at least for
    whole numbers)."""
    if span <= 0:
        return 1.0
    rough = span / 10
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return max(step, 1.0) if whole else step


def _number(value: float) -> int | float:
    value = round(float(value), 10)
    return int(value) if value.is_integer() else value
