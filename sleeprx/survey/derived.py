"""Derived levers and lever groups: two levers that are one behaviour, or one value that
follows from others.

A **derived lever** is a value computed from other columns by a linear formula,
``constant + sum(coef * column)``, e.g. time in bed = rise time - bedtime on clocks with
one origin. It is never read from the survey file and never moved on its own: a
prescription moves the levers of its formula and the derived value follows, exactly, in
the model's input. Its own safe range (``lower``/``upper``) holds after any change
(relaxed to "no worse than now" for a person outside it already, like a linear
constraint). It has no cost of its own and does not count toward K: the levers it is
made of do. Linear combinations cover sums, differences and shifted clocks; a product or
a ratio is not expressible here.

A **lever group** is several levers that describe one behaviour (drinking days and
drinks per drinking day): changing any of them counts as one change toward K, and the
group's ``fixed_cost`` is paid once, in place of its members' own fixed costs (their
per-step costs stay).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Protocol

import numpy as np
from pydantic import Field, model_validator

from sleeprx.survey.clock import hours_after
from sleeprx.utils.validation import Strict

__all__ = [
    "DerivedLever",
    "DerivedTerm",
    "LeverGroup",
    "check_derived",
    "derived_value",
    "group_of",
    "with_derived",
]

_SNAKE = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=_SNAKE)]
_NUMBERS = ("numeric", "integer", "clock", "ordinal")


class SurveyDescription(Protocol):
    """What these functions read of :class:`sleeprx.survey.description.SurveyDescription`
    (which imports this module, so it is named by its shape here)."""

    columns: Sequence
    derived_levers: Sequence[DerivedLever]
    lever_groups: Sequence[LeverGroup]

    @property
    def modifiable_names(self) -> tuple[str, ...]: ...


class DerivedTerm(Strict):
    column: Name = Field(description="a numeric column (usually a lever) of the formula")
    coef: float


class DerivedLever(Strict):
    """``name = constant + sum(coef * column)``, a model feature that follows its levers."""

    name: Name = Field(description="canonical name of the derived value")
    terms: tuple[DerivedTerm, ...] = Field(min_length=1)
    constant: float = 0.0
    label: str = Field("", description="words in advice; default: the name")
    unit: str = ""
    lower: float | None = Field(None, description="lowest value a prescription may leave")
    upper: float | None = Field(None, description="highest value a prescription may leave")
    feature: bool = Field(True, description="the model reads the derived value")
    clock_origin: str | None = Field(
        None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="the value is hours after this clock time, shown as a clock time",
    )

    @model_validator(mode="before")
    @classmethod
    def _clock_bounds(cls, raw: object) -> object:
        """``lower``/``upper`` may be clock times when the value has a ``clock_origin``."""
        if not isinstance(raw, dict):
            return raw
        out = dict(raw)
        for key in ("lower", "upper"):
            if isinstance(out.get(key), str):
                origin = out.get("clock_origin")
                hours = hours_after(origin, out[key]) if isinstance(origin, str) else None
                if hours is None:
                    why = (
                        "is not a clock time" if isinstance(origin, str) else "needs 'clock_origin'"
                    )
                    raise ValueError(f"derived '{raw.get('name')}': '{key}' {out[key]!r} {why}")
                out[key] = hours
        return out

    @model_validator(mode="after")
    def _check(self) -> DerivedLever:
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"derived '{self.name}': lower {self.lower:g} > upper {self.upper:g}")
        seen = [t.column for t in self.terms]
        twice = sorted({c for c in seen if seen.count(c) > 1})
        if twice:
            raise ValueError(f"derived '{self.name}': '{twice[0]}' appears twice in terms")
        return self

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ")


class LeverGroup(Strict):
    """Levers that count as one change toward K, with one fixed cost."""

    name: Name
    label: str = Field("", description="words for the behaviour, e.g. 'drinking'")
    levers: tuple[Name, ...] = Field(min_length=2)
    fixed_cost: float = Field(ge=0, description="paid once when any member changes")
    resistance: float = Field(1.0, ge=0, description="multiplies the group's fixed cost")


def derived_value(lever: DerivedLever, values: Mapping[str, object]) -> np.ndarray:
    """The formula at ``values`` (column -> a number or an array), always summed in the
    order of its terms, so that every caller gets the same floats."""
    total = np.asarray(lever.constant, dtype=float)
    for term in lever.terms:
        total = total + term.coef * np.asarray(values[term.column], dtype=float)
    return total


def with_derived(frame, description: SurveyDescription):
    """``frame`` (a canonical DataFrame) with every derived column computed from its
    formula; unchanged when the description has none. A blank term gives a blank."""
    if not description.derived_levers:
        return frame
    out = frame.copy()
    for lever in description.derived_levers:
        values = {t.column: out[t.column].to_numpy(float) for t in lever.terms}
        out[lever.name] = np.broadcast_to(derived_value(lever, values), (len(out),))
    return out


def group_of(description: SurveyDescription, lever: str) -> LeverGroup | None:
    return next((g for g in description.lever_groups if lever in g.levers), None)


def check_derived(description: SurveyDescription) -> None:
    """Derived names are new, their terms numeric columns; groups name levers, each lever
    in one group at most. Raises ValueError naming the key."""
    columns = {n: c for c in description.columns for n in c.output_names}
    levers = set(description.modifiable_names)
    for lever in description.derived_levers:
        where = f"derived_levers '{lever.name}'"
        if lever.name in columns:
            raise ValueError(f"{where}: the name is a column already; a derived value is computed")
        for term in lever.terms:
            column = columns.get(term.column)
            if column is None or column.type not in _NUMBERS or not column.feature:
                known = sorted(n for n, c in columns.items() if c.type in _NUMBERS and c.feature)
                raise ValueError(
                    f"{where}: term '{term.column}' is not a numeric feature column; known: {known}"
                )
        if not any(t.column in levers for t in lever.terms):
            raise ValueError(f"{where}: no term is a modifiable lever, so nothing moves it")
    names = [d.name for d in description.derived_levers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"derived_levers: '{twice[0]}' is defined twice")
    grouped: dict[str, str] = {}
    for group in description.lever_groups:
        where = f"lever_groups '{group.name}'"
        for lever in group.levers:
            if lever not in levers:
                raise ValueError(f"{where}: '{lever}' is not a modifiable lever: {sorted(levers)}")
            if lever in grouped:
                raise ValueError(f"{where}: '{lever}' is in group '{grouped[lever]}' already")
            grouped[lever] = group.name
