"""Words and numbers for people: labels, units and clock times from the survey description.

Every report (advice sentences, ``summary.md``, figures) formats through these plain
functions, so a new survey's labels, units, clock-time levers and positive class show
up everywhere without new code. Each function that takes a description also accepts
``None`` and falls back to the column name with spaces (a run folder without a model).

>>> format_number(12000.0), format_number(7.25), format_number(-0.5)
('12,000', '7.25', '-0.5')
>>> clock_time("18:00", 8.0), clock_time("18:00", 7.5), clock_time("22:00", 26.25)
('02:00', '01:30', '00:15')
>>> counted(1, "days/week"), counted(2, "days/week"), counted(1, "points"), counted(1, "h")
('1 day/week', '2 days/week', '1 point', '1 h')
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence

from sleeprx.survey.derived import DerivedLever
from sleeprx.survey.description import Column, ModifiableFactor, SurveyDescription

__all__ = [
    "FALLBACK_POSITIVE",
    "axis_label",
    "change_phrase",
    "clock_time",
    "counted",
    "factor_label",
    "follows_phrase",
    "format_number",
    "format_range",
    "format_value",
    "is_missing",
    "join_phrases",
    "positive_label",
    "sentence",
    "singular",
    "unit_of",
    "wrap_label",
]

#: The positive class's name when no description is at hand.
FALLBACK_POSITIVE = "the positive outcome"
MISSING = "not given"


def is_missing(value: object) -> bool:
    """None, NaN, or not a number at all."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def format_number(value: float | None, *, decimals: int = 2) -> str:
    """At most ``decimals`` decimals without trailing zeros; thousands with separators
    (``12,000``); a missing value as ``"not given"``."""
    if is_missing(value):
        return MISSING
    v = float(value)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    text = f"{v:.{decimals}f}".rstrip("0").rstrip(".") if decimals > 0 else f"{v:.0f}"
    return "0" if text in ("-0", "") else text


def clock_time(origin: str, hours: float) -> str:
    """The clock time ``hours`` after ``origin`` (``"HH:MM"``), wrapped past midnight,
    to the nearest minute: ``clock_time("18:00", 8) == "02:00"``."""
    start_h, start_m = (int(part) for part in origin.split(":"))
    minutes = round(start_h * 60 + start_m + float(hours) * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def singular(unit: str) -> str:
    """The unit of one: its first word without the plural ending (``days/week`` ->
    ``day/week``, ``points`` -> ``point``, ``glasses`` -> ``glass``); a symbol such as
    ``h``, ``min`` or ``kg/m2`` is left as it is."""
    match = re.match(r"^([A-Za-z]{3,})(.*)$", unit)
    if match is None:
        return unit
    word, rest = match.groups()
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2] + rest
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1] + rest
    return unit


def counted(value: float | None, unit: str) -> str:
    """A number with its unit, singular for exactly one: ``1 day/week``, ``2 days/week``."""
    number = format_number(value)
    if not unit:
        return number
    return f"{number} {singular(unit) if number in ('1', '-1') else unit}"


def unit_of(factor: ModifiableFactor | Column | None, label: str = "") -> str:
    """The unit to print after a value: none for a clock-time lever, nor when the label
    already names it (``daily steps`` in ``steps``)."""
    if factor is None or getattr(factor, "clock_origin", None):
        return ""
    unit = factor.unit.strip()
    if not unit or unit.lower() in label.lower().split():
        return ""
    return unit


def format_value(factor: ModifiableFactor | Column | None, value: float | None) -> str:
    """A value as a person reads it: a rung's words on a labelled ladder (``former
    smoker``), a clock time for a lever with ``clock_origin`` (``02:00``), else the
    number with its unit (``40 min/day``, ``7,500``); a missing value as ``"not
    given"``. ``factor`` may be None (a bare number)."""
    if is_missing(value):
        return MISSING
    label_of = getattr(factor, "label_of", None)
    words = label_of(float(value)) if label_of is not None else None
    if words is not None:
        return words
    origin = getattr(factor, "clock_origin", None)
    if origin:
        return clock_time(origin, float(value))
    label = factor.display_label if isinstance(factor, Column) else getattr(factor, "label", "")
    return counted(value, unit_of(factor, label))


def format_range(
    factor: ModifiableFactor | Column | None, low: float | None, high: float | None
) -> str:
    """Two values with the unit once: ``5.8–8.5 h``, ``21:00–02:00``, ``3,000–10,000``."""
    labelled = factor is not None and (
        getattr(factor, "level_labels", None) or getattr(factor, "codes", None)
    )
    if is_missing(low) or is_missing(high) or labelled or getattr(factor, "clock_origin", None):
        return f"{format_value(factor, low)}–{format_value(factor, high)}"
    label = factor.display_label if isinstance(factor, Column) else getattr(factor, "label", "")
    unit = unit_of(factor, label)
    text = f"{format_number(low)}–{format_number(high)}"
    return f"{text} {unit}" if unit else text


def _lookup(
    description: SurveyDescription | None, name: str
) -> tuple[ModifiableFactor | None, Column | None]:
    if description is None:
        return None, None
    factor = next((f for f in description.modifiable if f.column == name), None)
    column = next((c for c in description.columns if c.name == name), None)
    return factor, column


def factor_label(description: SurveyDescription | None, name: str) -> str:
    """The words for a column: the lever's label, else the column's display label, else
    the name with spaces (also when ``description`` is None)."""
    factor, column = _lookup(description, name)
    if factor is not None and factor.label:
        return factor.label
    if column is not None:
        return column.display_label
    return name.replace("_", " ")


def axis_label(description: SurveyDescription | None, name: str) -> str:
    """The label with its unit, for an axis or a tick: ``physical activity (min/day)``,
    ``weekday bedtime (clock time)``, ``daily steps``."""
    label = factor_label(description, name)
    factor, column = _lookup(description, name)
    if (factor is not None and factor.clock_origin) or (column is not None and column.clock_origin):
        return f"{label} (clock time)"
    unit = unit_of(factor if factor is not None and factor.unit else column, label)
    return f"{label} ({unit})" if unit else label


def positive_label(description: SurveyDescription | None) -> str:
    """The positive class in words (``good sleep``), from the description's target."""
    if description is None:
        return FALLBACK_POSITIVE
    return description.target.positive_label


def change_phrase(
    factor: ModifiableFactor, before: float | None, after: float | None
) -> str | None:
    """One change in words, or None when nothing changes.

    A clock-time lever moves ``earlier`` or ``later`` (``move weekday bedtime earlier
    from 02:00 to 01:30``); a labelled ladder changes between its rungs' words (``change
    TV from more than 4 h a day to 1–2 h a day``); any other lever is increased or
    reduced, with its unit (``increase physical activity from 40 min/day to 60
    min/day``). Without a current value the phrase is ``set <label> to <value>``.
    """
    if is_missing(after):
        return None
    if is_missing(before):
        return f"set {factor.label} to {format_value(factor, after)}"
    if float(after) == float(before):
        return None
    rise = float(after) > float(before)
    if factor.level_labels is not None:
        verb = f"change {factor.label}"
    elif factor.clock_origin:
        verb = f"move {factor.label} {'later' if rise else 'earlier'}"
    else:
        verb = f"{'increase' if rise else 'reduce'} {factor.label}"
    return f"{verb} from {format_value(factor, before)} to {format_value(factor, after)}"


def follows_phrase(derived: DerivedLever, before: float, after: float) -> str | None:
    """What a derived lever does when its levers move (``so that time in bed goes from
    7.5 h to 8.5 h``), or None when it stays."""
    if is_missing(before) or is_missing(after) or abs(float(after) - float(before)) < 1e-9:
        return None
    return (
        f"so that {derived.display_label} goes from {format_value(derived, before)} "
        f"to {format_value(derived, after)}"
    )


def join_phrases(parts: Sequence[str]) -> str:
    """``a``; ``a and b``; ``a, b and c``."""
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def sentence(text: str) -> str:
    """Capitalise the first letter and end with one full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def wrap_label(text: str, width: int = 22) -> str:
    """Long labels broken into lines of at most ``width`` characters (words kept whole)."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=False)) or text
