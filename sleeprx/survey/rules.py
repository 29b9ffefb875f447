"""Rules relative to the person: a lever's limits for one person, from their answers.

A rule's bound may be written from the person's own answer (``upper: current``,
``lower: current - 1``), a linear constraint's from the person's sum before any change
(``lower: current - 0.5``), a rule may set the direction, a condition may test for a
blank answer (``op: blank``, ``op: answered``), and a linear constraint may read a
covariate, which enters the person's row as a constant at their answer.

The schema (:mod:`sleeprx.survey.description`) calls these functions; this module
imports nothing of it, so it reads the description's objects by their attributes.

>>> parse_bound("current - 1"), parse_bound("current"), parse_bound(8)
(Relative(offset=-1.0), Relative(offset=0.0), 8)
>>> str(Relative(0.5)), Relative(-1.0).at(7.5)
('current + 0.5', 6.5)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BeforeValidator, PlainSerializer

__all__ = [
    "BLANK_OPS",
    "Bound",
    "Limits",
    "Relative",
    "check_blank_condition",
    "check_bounds_order",
    "check_relative_bounds",
    "check_terms",
    "is_blank",
    "is_relative",
    "parse_bound",
    "person_limits",
    "row_bounds",
]

_RELATIVE = re.compile(r"^current\s*(?:(?P<sign>[+-])\s*(?P<offset>\d+(?:\.\d*)?|\.\d+))?$")

#: Condition operators on whether an answer is blank; they take no ``value``.
BLANK_OPS = ("blank", "answered")


@dataclass(frozen=True)
class Relative:
    """A bound relative to the person's own answer: ``current + offset``."""

    offset: float = 0.0

    def at(self, current: float) -> float:
        return current + self.offset

    def __str__(self) -> str:
        if self.offset == 0:
            return "current"
        return f"current {'+' if self.offset > 0 else '-'} {abs(self.offset):g}"


def is_relative(value: object) -> bool:
    """Whether ``value`` is written relative to the answer (``current ...``)."""
    return isinstance(value, Relative) or (
        isinstance(value, str) and value.strip().startswith("current")
    )


def parse_bound(value: object) -> object:
    """``current``, ``current + N`` and ``current - N`` as :class:`Relative`; anything
    else is left to the field's own type (a number)."""
    if not isinstance(value, str) or not is_relative(value):
        return value
    match = _RELATIVE.match(value.strip())
    if match is None:
        raise ValueError(
            f"{value!r} is not a bound relative to the answer: write current, "
            "current + N or current - N, with N a number in the lever's units"
        )
    offset = float(match["offset"] or 0)
    return Relative(-offset if match["sign"] == "-" else offset)


def _dump(value: object) -> object:
    return str(value) if isinstance(value, Relative) else value


#: A rule's ``lower`` or ``upper``: a number, or relative to the person's answer. It is
#: written back as text (``"current - 1"``), so a saved description reads again.
Bound = Annotated[float | Relative, BeforeValidator(parse_bound), PlainSerializer(_dump)]


def is_blank(value: object) -> bool:
    """None or NaN: a blank answer."""
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Limits:
    """A lever's limits for one person, after the rules."""

    lower: float
    upper: float
    max_change: float
    available: bool
    direction: str = "both"
    min_change: float = 0.0


class _Rule(Protocol):
    when: Sequence[Any]
    lower: float | Relative | None
    upper: float | Relative | None
    max_change: float | None
    available: bool | None
    direction: str | None


class _Lever(Protocol):
    column: str
    max_change: float
    min_change: float
    direction: str
    rules: Sequence[_Rule]

    @property
    def safe_lower(self) -> float: ...

    @property
    def safe_upper(self) -> float: ...


def _resolve(bound: float | Relative | None, current: object) -> float | None:
    """A rule's bound for a person whose answer is ``current``; None when it does not
    apply (no bound, or a relative one on a blank answer, which is held anyway)."""
    if isinstance(bound, Relative):
        return None if is_blank(current) else bound.at(float(current))
    return None if bound is None else float(bound)


def person_limits(lever: _Lever, row: Mapping) -> Limits:
    """``lever``'s limits for the person whose answers are ``row``: its rules whose
    conditions all hold, in order, each key set by the last that sets it. A bound
    relative to the answer never reaches past the lever's safe range."""
    lower, upper = lever.safe_lower, lever.safe_upper
    max_change, available, direction = lever.max_change, True, str(lever.direction)
    current = row.get(lever.column)
    for rule in lever.rules:
        if not all(c.holds(row) for c in rule.when):
            continue
        lower = _first(_resolve(rule.lower, current), lower)
        upper = _first(_resolve(rule.upper, current), upper)
        max_change = _first(rule.max_change, max_change)
        available = _first(rule.available, available)
        direction = str(_first(rule.direction, direction))
    lower, upper = max(lower, lever.safe_lower), min(upper, lever.safe_upper)
    return Limits(lower, upper, max_change, available, direction, lever.min_change)


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


def row_bounds(
    lower: float | Relative | None, upper: float | Relative | None, now: float
) -> tuple[float, float]:
    """A linear constraint's bounds for a person whose sum is ``now`` before any change:
    a relative bound counts from ``now``, and a bound the person already breaks is
    relaxed to ``now`` (no worse than now, never forced to change)."""
    low = -math.inf if lower is None else _resolve(lower, now)
    high = math.inf if upper is None else _resolve(upper, now)
    return min(low, now), max(high, now)


def check_relative_bounds(where: str, rule: _Rule) -> None:
    """Two bounds relative to the answer leave room between them."""
    check_bounds_order(where, rule.lower, rule.upper)


def check_bounds_order(
    where: str, low: float | Relative | None, high: float | Relative | None
) -> None:
    """``low <= high`` where both are numbers, or both relative to the answer."""
    if isinstance(low, Relative) and isinstance(high, Relative):
        if low.offset > high.offset:
            raise ValueError(f"{where}: lower {low} is above upper {high}")
    elif isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        raise ValueError(f"{where}: lower {low:g} > upper {high:g}")


def check_blank_condition(where: str, condition: Any, column: Any) -> None:
    """``blank`` and ``answered`` test a column that may be blank, and take no value."""
    if condition.op not in BLANK_OPS:
        return
    if condition.value is not None:
        raise ValueError(f"{where}: op '{condition.op}' takes no 'value'")
    if not column.allow_missing:
        raise ValueError(
            f"{where}: op '{condition.op}' on '{condition.column}', which is never blank "
            "(the column does not set allow_missing: true)"
        )


def check_terms(
    constraint: Any, columns: Mapping[str, Any], levers: set[str], numbers: Sequence[str]
) -> None:
    """Every term reads a lever or a numeric covariate, and at least one a lever."""
    where = f"constraint '{constraint.name}'"
    for term in constraint.terms:
        if term.column in levers:
            continue
        column = columns.get(term.column)
        if column is None:
            raise ValueError(
                f"{where}: '{term.column}' is not a column; levers: {sorted(levers)}, "
                f"columns: {sorted(columns)}"
            )
        if column.type not in numbers:
            raise ValueError(
                f"{where}: '{term.column}' is a {column.type} column; a term needs a "
                f"number (a lever, or a covariate of type {', '.join(numbers)})"
            )
    if not any(t.column in levers for t in constraint.terms):
        raise ValueError(f"{where}: no term is a modifiable factor; factors: {sorted(levers)}")
