"""The survey description: everything sleeprx knows about a survey, read from YAML.

A new survey needs a new description, not new code. The description names each
column's canonical snake_case name and type, columns derived from others, the id,
the target, and the modifiable factors with their safe grids, directions, largest
changes, fixed costs and default resistances.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from difflib import get_close_matches
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from sleeprx.survey.clock import hours_after
from sleeprx.survey.derived import DerivedLever, LeverGroup, check_derived
from sleeprx.survey.rules import (
    BLANK_OPS,
    Bound,
    Limits,
    check_blank_condition,
    check_bounds_order,
    check_relative_bounds,
    check_terms,
    is_blank,
    is_relative,
    person_limits,
)
from sleeprx.utils.errors import DescriptionError
from sleeprx.utils.files import read_yaml
from sleeprx.utils.validation import Strict, validate

__all__ = [
    "Code",
    "Column",
    "Condition",
    "Design",
    "Direction",
    "Limits",
    "LinearConstraint",
    "ModifiableFactor",
    "Rule",
    "SurveyDescription",
    "Target",
    "load_description",
    "shipped_description_path",
]

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
SnakeName = Annotated[str, Field(pattern=_SNAKE.pattern)]
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
ClockOrigin = Annotated[str, Field(pattern=_HHMM)]


class Derived(Strict):
    """A numeric column split out of a text column, e.g. ``"120/80"`` -> two numbers."""

    name: SnakeName
    min: float
    max: float


class Code(Strict):
    """One answer of an ordinal column: the text in the file, its code (the order) and
    the words for it in advice."""

    text: str = Field(description="the answer as the survey file writes it")
    code: float = Field(description="its place on the scale; the model reads the code")
    label: str = Field("", description="words in advice; default: the text")

    @property
    def words(self) -> str:
        return self.label or self.text


class Column(Strict):
    """One column of the survey file."""

    source: str = Field(description="header of the column in the survey file")
    name: SnakeName = Field(description="canonical snake_case name used everywhere else")
    type: Literal["numeric", "integer", "categorical", "ordinal", "clock", "split", "text"] = Field(
        description="text suits an id column only, such as 'R-00017'"
    )
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    codes: tuple[Code, ...] = Field((), description="the answers of an ordinal column")
    clock_origin: ClockOrigin | None = Field(
        None, description="a clock column's answers are read as hours after this time"
    )
    aliases: dict[str, str] = Field(default_factory=dict)
    separator: str | None = None
    into: tuple[Derived, ...] = ()
    allow_missing: bool = Field(False, description="keep blank cells as missing values")
    feature: bool = True
    unit: str = ""
    label: str = Field("", description="words for figures and advice; default: the name")
    monotone: Literal["increasing", "decreasing"] | None = Field(
        None,
        description="the positive outcome can only rise (increasing) or fall (decreasing) "
        "with this column; used by ModelSettings(monotone=True)",
    )

    @model_validator(mode="before")
    @classmethod
    def _clock_bounds(cls, raw: object) -> object:
        """``min``/``max`` of a clock column may be written as clock times."""
        if isinstance(raw, dict) and raw.get("type") == "clock":
            return _clock_keys(raw, ("min", "max"), f"column '{raw.get('source')}'")
        return raw

    @model_validator(mode="after")
    def _check_type_fields(self) -> Column:
        if self.type == "categorical" and not self.categories:
            raise ValueError(f"categorical column '{self.source}' needs 'categories'")
        _check_codes(self)
        if (self.type == "clock") != (self.clock_origin is not None):
            raise ValueError(
                f"column '{self.source}': 'clock_origin' is "
                + ("required for type clock" if self.type == "clock" else "for type clock only")
            )
        _check_aliases(self)
        if self.type == "split" and (not self.separator or len(self.into) < 2):
            raise ValueError(f"split column '{self.source}' needs 'separator' and two 'into'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"column '{self.source}': min {self.min} > max {self.max}")
        return self

    @property
    def display_label(self) -> str:
        """The label, or the canonical name with spaces."""
        return self.label or self.name.replace("_", " ")

    @property
    def output_names(self) -> tuple[str, ...]:
        """Canonical columns this source column becomes."""
        return tuple(d.name for d in self.into) if self.type == "split" else (self.name,)

    def label_of(self, value: float) -> str | None:
        """The words of an ordinal code (None for another column or an unknown code)."""
        return next((c.words for c in self.codes if abs(c.code - float(value)) < 1e-9), None)


def _check_codes(column: Column) -> None:
    """An ordinal column has codes, distinct in text and in code; no other column has."""
    where = f"column '{column.source}'"
    if column.type != "ordinal":
        if column.codes:
            raise ValueError(f"{where}: 'codes' is for type ordinal only")
        return
    if not column.codes:
        raise ValueError(f"ordinal {where} needs 'codes'")
    for key in ("text", "code"):
        seen = [getattr(c, key) for c in column.codes]
        twice = sorted({v for v in seen if seen.count(v) > 1}, key=str)
        if twice:
            raise ValueError(f"{where}: codes give the {key} {twice[0]!r} twice")


def _check_aliases(column: Column) -> None:
    """Every alias names a valid answer of its column, so none is silently ignored."""
    where = f"column '{column.source}'"
    if not column.aliases:
        return
    if column.type == "text":
        raise ValueError(f"{where}: 'aliases' do not apply to a text (id) column")
    valid: dict[str, object] = {
        "categorical": lambda v: v in column.categories,
        "ordinal": lambda v: v in {c.text for c in column.codes},
        "clock": lambda v: hours_after("00:00", v) is not None,
        "numeric": is_number,
        "integer": lambda v: is_number(v) and float(v).is_integer(),
    }
    allowed = {
        "categorical": f"the categories {list(column.categories)}",
        "ordinal": f"the texts of its codes {[c.text for c in column.codes]}",
        "clock": "clock times",
        "numeric": "numbers",
        "integer": "whole numbers",
    }
    check = valid.get(column.type)
    unknown = sorted(v for v in column.aliases.values() if check is not None and not check(v))
    if unknown:
        raise ValueError(f"{where}: aliases map to {unknown}, which are not {allowed[column.type]}")


def _clock_keys(raw: dict, keys: tuple[str, ...], where: str) -> dict:
    """``raw`` with the clock times among ``keys`` as hours after its ``clock_origin``."""
    origin = raw.get("clock_origin")
    out = dict(raw)
    for key in keys:
        value = out.get(key)
        if not isinstance(value, str) or is_relative(value):
            continue
        hours = hours_after(origin, value) if isinstance(origin, str) else None
        if hours is None:
            why = "is not a clock time" if isinstance(origin, str) else "needs 'clock_origin'"
            raise ValueError(f"{where}: '{key}' {value!r} {why}")
        out[key] = hours
    return out


class Target(Strict):
    """Binary target: ``column >= threshold`` is the positive class."""

    column: SnakeName
    threshold: float
    positive_label: str = "good sleep"


class Reference(Strict):
    """Published figures to print beside this survey's evaluation, e.g. a paper's."""

    source: str = Field(description="where the figures come from, e.g. 'paper, hold-out'")
    metrics: dict[str, float] = Field(description="metric name (f1, accuracy, ...) -> value")


class Design(Strict):
    """How the survey's people were sampled: a weight per person (how many people of the
    population each stands for) and, optionally, the strata and primary sampling units
    (PSUs) of a complex design, as national surveys such as NHANES publish them.

    The columns are canonical names; none is a model feature. Weighted training,
    evaluation and population figures follow, with design-based intervals.
    """

    weight: SnakeName = Field(description="column of positive sample weights")
    strata: SnakeName | None = Field(None, description="column of the design's strata")
    psu: SnakeName | None = Field(None, description="column of the primary sampling units")

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.weight, self.strata, self.psu) if c is not None)


def _check_design(design: Design, answers: Mapping[str, Column]) -> None:
    """The design's columns exist, are answered by everyone and are not model features."""
    for key, name in (("weight", design.weight), ("strata", design.strata), ("psu", design.psu)):
        if name is None:
            continue
        where = f"design.{key} '{name}'"
        if name not in answers:
            raise ValueError(f"{where} is not a column; known: {sorted(answers)}")
        column = answers[name]
        if key == "weight" and column.type not in ("numeric", "integer"):
            raise ValueError(f"{where} must be a numeric or integer column, not {column.type}")
        if column.type == "split":
            raise ValueError(f"{where}: a split column cannot name a stratum or a PSU")
        if column.feature:
            raise ValueError(
                f"{where}: set 'feature: false' on the column; the model must not read it"
            )
        if column.allow_missing:
            raise ValueError(f"{where}: every person needs one; remove 'allow_missing'")
    if len(set(design.columns)) < len(design.columns):
        raise ValueError("design: weight, strata and psu must be different columns")


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    BOTH = "both"


Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "blank", "answered"]

_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
}


class Condition(Strict):
    """``column op value`` on one of the person's own answers, e.g. ``age >= 65``.

    A blank answer satisfies no condition but ``blank``, which takes no value (nor
    does ``answered``, its opposite).
    """

    column: SnakeName
    op: Operator
    value: float | str | tuple[float | str, ...] | None = None

    @model_validator(mode="after")
    def _check_value(self) -> Condition:
        if self.op in BLANK_OPS:
            return self  # their value is checked with their column (rules.py)
        if self.value is None or (self.op == "in") != isinstance(self.value, tuple):
            raise ValueError(
                f"condition on '{self.column}': 'in' takes a list, other ops one value"
            )
        return self

    def holds(self, row: Mapping) -> bool:
        """Whether ``row`` (canonical column -> value) satisfies the condition. A
        column ``row`` does not hold at all is unknown: neither blank nor answered."""
        value = row.get(self.column)
        if self.op in BLANK_OPS:
            return self.column in row and is_blank(value) == (self.op == "blank")
        if is_blank(value):
            return False
        target = self.value
        if isinstance(value, str) or isinstance(target, str):
            value = str(value)
            target = tuple(map(str, target)) if isinstance(target, tuple) else str(target)
        else:
            value = float(value)
        try:
            return bool(_COMPARE[self.op](value, target))
        except TypeError:
            return False


class Rule(Strict):
    """Per-person limits of a lever: when every condition holds, these values apply.

    Rules apply in order; a later rule that sets the same key wins.
    """

    when: tuple[Condition, ...] = Field(min_length=1)
    lower: Bound | None = Field(None, description="a number, or current, current +/- N")
    upper: Bound | None = Field(None, description="a number, or current, current +/- N")
    max_change: float | None = Field(None, gt=0)
    available: bool | None = None
    direction: Direction | None = Field(None, description="replaces the lever's direction")

    @model_validator(mode="after")
    def _sets_something(self) -> Rule:
        keys = (self.lower, self.upper, self.max_change, self.available, self.direction)
        if keys == (None,) * 5:
            raise ValueError(
                "a rule sets at least one of lower, upper, max_change, available, direction"
            )
        return self


class ModifiableFactor(Strict):
    """A factor a person can change, with its safe values and the price of changing it.

    The safe values are a uniform grid (``lower``, ``upper``, ``step``; the grid is
    anchored at ``lower``) or a ladder of allowed values (``levels``), for answers
    given on a category scale. Intensity and ``max_change`` are counted in steps of
    the grid (``max_change`` in the column's units) or in rungs of the ladder
    (``max_change`` in rungs).
    """

    column: SnakeName
    label: str = Field(description="words used in advice, e.g. 'daily steps'")
    unit: str = ""
    lower: float | None = Field(None, description="lowest value that may be prescribed")
    upper: float | None = Field(None, description="highest value that may be prescribed")
    step: float | None = Field(None, gt=0, description="grid spacing; the unit of intensity")
    levels: tuple[float, ...] | None = Field(
        None, description="a ladder of allowed values, instead of lower/upper/step"
    )
    direction: Direction = Direction.BOTH
    max_change: float = Field(gt=0, description="largest change (units; rungs on a ladder)")
    min_change: float = Field(
        0.0, ge=0, description="smallest change worth advising (units; rungs on a ladder)"
    )
    fixed_cost: float = Field(ge=0, description="cost of changing the factor at all")
    resistance: float = Field(ge=0, default=1.0, description="default resistance rho")
    resistance_column: str | None = Field(
        default=None, description="optional survey column with a per-person resistance"
    )
    level_labels: tuple[str, ...] | None = Field(
        None, description="words for each rung of the ladder in advice, in order of levels"
    )
    clock_origin: ClockOrigin | None = Field(
        None,
        description="values are hours after this clock time (HH:MM), shown as clock times",
    )
    rules: tuple[Rule, ...] = Field((), description="per-person limits, by the person's answers")

    @model_validator(mode="before")
    @classmethod
    def _clock_bounds(cls, raw: object) -> object:
        """``lower``/``upper``, also a rule's, may be written as clock times."""
        if not isinstance(raw, dict):
            return raw
        where = f"factor '{raw.get('column')}'"
        out = _clock_keys(raw, ("lower", "upper"), where)
        rules = out.get("rules")
        if isinstance(rules, list | tuple):
            origin = {"clock_origin": out.get("clock_origin")}
            out["rules"] = [
                {
                    k: v
                    for k, v in _clock_keys({**r, **origin}, ("lower", "upper"), where).items()
                    if k != "clock_origin"
                }
                if isinstance(r, dict)
                else r
                for r in rules
            ]
        return out

    @model_validator(mode="after")
    def _check_grid(self) -> ModifiableFactor:
        name = f"factor '{self.column}'"
        if self.min_change > self.max_change:
            raise ValueError(
                f"{name}: min_change {self.min_change:g} is above max_change {self.max_change:g}"
            )
        if self.level_labels is not None and len(self.level_labels) != len(self.levels or ()):
            raise ValueError(f"{name}: 'level_labels' needs one label per value of 'levels'")
        if self.levels is not None:
            if (self.lower, self.upper, self.step) != (None, None, None):
                raise ValueError(f"{name}: give levels or lower/upper/step, not both")
            if len(self.levels) < 2 or any(
                b <= a for a, b in zip(self.levels, self.levels[1:], strict=False)
            ):
                raise ValueError(f"{name}: levels must be two or more values, ascending")
            return self
        if None in (self.lower, self.upper, self.step):
            raise ValueError(f"{name}: give lower, upper and step (or a ladder of levels)")
        if self.lower > self.upper:
            raise ValueError(f"{name}: lower {self.lower} > upper {self.upper}")
        n = (self.upper - self.lower) / self.step
        if abs(n - round(n)) > 1e-9:
            raise ValueError(
                f"{name}: step {self.step} does not divide {self.lower}..{self.upper} evenly"
            )
        return self

    @property
    def is_ladder(self) -> bool:
        return self.levels is not None

    def label_of(self, value: float) -> str | None:
        """The words of a rung (``level_labels``), or None off the ladder or without them."""
        if self.level_labels is None or self.levels is None:
            return None
        pairs = zip(self.levels, self.level_labels, strict=True)
        return next((w for v, w in pairs if abs(v - float(value)) < 1e-9), None)

    @cached_property
    def grid(self) -> np.ndarray:
        """Every safe value: the ladder, or the grid rounded so decimal steps stay exact."""
        if self.levels is not None:
            return np.asarray(self.levels, dtype=float)
        n = round((self.upper - self.lower) / self.step)
        return np.round(self.lower + self.step * np.arange(n + 1), 10)

    @property
    def safe_lower(self) -> float:
        return float(self.grid[0])

    @property
    def safe_upper(self) -> float:
        return float(self.grid[-1])

    @property
    def max_steps(self) -> float:
        """The largest change in steps of the grid or rungs of the ladder."""
        return self.steps_of(self.max_change)

    def steps_of(self, max_change: float) -> float:
        """A largest change (units; rungs on a ladder), say a person's from
        :meth:`limits_for`, in steps of the grid or rungs of the ladder."""
        return max_change if self.is_ladder else max_change / self.step

    def position(self, values: np.ndarray | float) -> np.ndarray:
        """Where values stand, in steps from the bottom of the grid or rungs of the ladder
        (interpolated between rungs, and linear beyond the ends of the grid)."""
        v = np.asarray(values, dtype=float)
        if self.levels is None:
            return (v - self.lower) / self.step
        return np.interp(v, self.grid, np.arange(len(self.grid)))

    def limits_for(self, row: Mapping) -> Limits:
        """This lever's limits for the person whose answers are ``row``
        (:func:`sleeprx.survey.rules.person_limits`)."""
        return person_limits(self, row)


class Term(Strict):
    column: SnakeName
    coef: float


class LinearConstraint(Strict):
    """``lower <= sum(coef * lever) <= upper`` after any change, e.g. weekend sleep minus
    weekday sleep within 2 h. A person who breaks it already is held to no worse."""

    name: SnakeName
    terms: tuple[Term, ...] = Field(min_length=1)
    lower: Bound | None = Field(None, description="a number, or current, current +/- N")
    upper: Bound | None = Field(None, description="a number, or current, current +/- N")

    @model_validator(mode="after")
    def _has_a_bound(self) -> LinearConstraint:
        if self.lower is None and self.upper is None:
            raise ValueError(f"constraint '{self.name}' needs lower, upper or both")
        check_bounds_order(f"constraint '{self.name}'", self.lower, self.upper)
        return self

    def value(self, values: Mapping) -> np.ndarray:
        """The constrained sum at ``values`` (lever -> a value or an array of values)."""
        return sum(t.coef * np.asarray(values[t.column], dtype=float) for t in self.terms)


class SurveyDescription(Strict):
    """A whole survey: columns, id, target and modifiable factors."""

    name: str
    id_column: SnakeName
    columns: tuple[Column, ...]
    target: Target
    modifiable: tuple[ModifiableFactor, ...]
    constraints: tuple[LinearConstraint, ...] = ()
    reference: Reference | None = None
    design: Design | None = None
    notes: str = ""
    derived_levers: tuple[DerivedLever, ...] = Field(
        (), description="values that follow other levers by a linear formula (derived.py)"
    )
    lever_groups: tuple[LeverGroup, ...] = Field(
        (), description="levers that count as one change, with one fixed cost (derived.py)"
    )

    @model_validator(mode="before")
    @classmethod
    def _levers_read_their_columns(cls, raw: object) -> object:
        """A lever on a clock column takes its origin; one on an ordinal column takes
        text levels (and conditions) as codes, with the codes' words as its labels."""
        return _from_columns(raw)

    @model_validator(mode="after")
    def _check_references(self) -> SurveyDescription:
        names = [n for c in self.columns for n in c.output_names]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"canonical names used twice: {dupes}")
        answers = {n: c for c in self.columns for n in c.output_names}
        known = sorted(answers)
        for ref, what in [(self.id_column, "id_column"), (self.target.column, "target.column")]:
            if ref not in answers:
                raise ValueError(f"{what} '{ref}' is not a column; known: {known}")
        for c in self.columns:
            if c.type == "text" and c.name != self.id_column:
                raise ValueError(f"column '{c.source}': type text is for the id column only")
        for f in self.modifiable:
            _check_lever(f, answers)
        if self.design is not None:
            _check_design(self.design, answers)
        levers = set(self.modifiable_names)
        skip = (self.id_column, self.target.column)
        covariates = {n: c for n, c in answers.items() if n not in skip}
        for c in self.constraints:
            check_terms(c, covariates, levers, _NUMBERS)
        check_derived(self)
        return self

    def column(self, name: str) -> Column:
        """The column whose canonical name is ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @cached_property  # frozen: computed once, read on every prescription
    def feature_columns(self) -> tuple[str, ...]:
        """Canonical names of the model's input columns, in file order."""
        skip = {self.id_column, self.target.column}
        read = tuple(n for c in self.columns if c.feature for n in c.output_names if n not in skip)
        return read + self.derived_features

    @property
    def derived_features(self) -> tuple[str, ...]:
        """The derived levers the model reads, after the file's columns."""
        return tuple(d.name for d in self.derived_levers if d.feature)

    def derived(self, name: str) -> DerivedLever:
        return next(d for d in self.derived_levers if d.name == name)

    @property
    def modifiable_names(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.modifiable)

    def factor(self, name: str) -> ModifiableFactor:
        for f in self.modifiable:
            if f.column == name:
                return f
        raise KeyError(name)

    def fingerprint(self) -> str:
        """A sha256 of the canonical JSON form: equal descriptions, equal prints."""
        blob = json.dumps(_without_empty_new_keys(self.model_dump(mode="json")), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def data_fingerprint(self) -> str:
        """A sha256 of what defines the model's input (columns, id, target), leaving out
        the prescription policy (modifiable factors, costs, resistances)."""
        return self._data_print

    @cached_property  # frozen: dumping the model costs more than one person's solve
    def _data_print(self) -> str:
        keys = {"id_column", "columns", "target", "derived_levers"}
        part = _without_empty_new_keys(self.model_dump(mode="json", include=keys))
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()


def _without_empty_new_keys(dump: dict) -> dict:
    """``dump`` without the derived-lever keys when empty, so that descriptions without
    them keep the fingerprints they had before the keys existed."""
    return {k: v for k, v in dump.items() if k not in ("derived_levers", "lever_groups") or v}


_NUMBERS = ("numeric", "integer", "split", "clock", "ordinal")
_LEVERS = ("numeric", "integer", "clock", "ordinal")


def _from_columns(raw: object) -> object:
    """``raw`` with each lever completed from its column (see the caller)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("modifiable"), list | tuple):
        return raw
    columns = raw.get("columns") if isinstance(raw.get("columns"), list | tuple) else ()
    by_name = {c.get("name"): c for c in columns if isinstance(c, dict)}
    codes = {
        name: {str(k.get("text")): k for k in c.get("codes") or () if isinstance(k, dict)}
        for name, c in by_name.items()
        if c.get("type") == "ordinal"
    }
    levers = []
    for lever in raw["modifiable"]:
        if isinstance(lever, dict):
            column = by_name.get(lever.get("column"), {})
            if column.get("type") == "clock" and "clock_origin" not in lever:
                lever = {**lever, "clock_origin": column.get("clock_origin")}
            if column.get("type") == "ordinal":
                lever = _ordinal_lever(lever, column, codes[column["name"]])
            lever = _coded_conditions(lever, codes, by_name)
        levers.append(lever)
    return {**raw, "modifiable": levers}


def _ordinal_lever(lever: dict, column: dict, codes: dict[str, dict]) -> dict:
    """Text levels as codes (default: every code), labelled with the codes' words."""
    where = f"modifiable '{lever.get('column')}'"
    grid = any(k in lever for k in ("lower", "upper", "step"))
    levels = lever.get("levels")
    if levels is None and not grid:
        levels = sorted(codes.values(), key=lambda k: float(k.get("code", 0)))
        levels = [k.get("text") for k in levels]
    if not isinstance(levels, list | tuple) or not codes:
        return lever  # the column's own check names what is wrong
    aliases = column.get("aliases") or {}
    values, words = [], []
    for level in levels:
        text = aliases.get(level, level) if isinstance(level, str) else None
        if text is not None and text not in codes:
            known = list(codes)
            raise ValueError(f"{where}: level {level!r} is not an answer of the column {known}")
        if text is None:  # a code written as a number
            match = [k for k in codes.values() if _same_code(k.get("code"), level)]
            text = str(match[0].get("text")) if match else str(level)
        values.append(codes[text].get("code") if text in codes else level)
        words.append(str(codes.get(text, {}).get("label") or text))
    lever = {**lever, "levels": values}
    return lever if "level_labels" in lever else {**lever, "level_labels": words}


def _coded_conditions(lever: dict, codes: dict[str, dict[str, dict]], columns: dict) -> dict:
    """Rule conditions on an ordinal column may name the answers' texts."""
    rules = lever.get("rules")
    if not isinstance(rules, list | tuple):
        return lever

    def coded(condition: object) -> object:
        if not isinstance(condition, dict) or condition.get("column") not in codes:
            return condition
        known = codes[condition["column"]]
        aliases = columns[condition["column"]].get("aliases") or {}

        def one(v: object) -> object:
            text = aliases.get(v, v) if isinstance(v, str) else v
            return known[text].get("code") if isinstance(text, str) and text in known else v

        value = condition.get("value")
        value = [one(v) for v in value] if isinstance(value, list | tuple) else one(value)
        return {**condition, "value": value}

    out = []
    for rule in rules:
        if isinstance(rule, dict) and isinstance(rule.get("when"), list | tuple):
            rule = {**rule, "when": [coded(c) for c in rule["when"]]}
        out.append(rule)
    return {**lever, "rules": out}


def _same_code(code: object, value: object) -> bool:
    try:
        return abs(float(code) - float(value)) < 1e-9
    except (TypeError, ValueError):
        return False


def _check_lever(factor: ModifiableFactor, answers: Mapping[str, Column]) -> None:
    """A lever's column is a numeric feature, and each of its rules can match someone."""
    if factor.column not in answers:
        raise ValueError(f"modifiable '{factor.column}' is not a column; known: {sorted(answers)}")
    col = answers[factor.column]
    if col.type not in _LEVERS:
        raise ValueError(
            f"modifiable '{factor.column}' must be {', '.join(_LEVERS)}, not {col.type}"
        )
    if col.type == "clock" and factor.clock_origin != col.clock_origin:
        raise ValueError(
            f"modifiable '{factor.column}': clock_origin {factor.clock_origin!r} differs from "
            f"its column's {col.clock_origin!r}; leave it out to use the column's"
        )
    if not col.feature:
        raise ValueError(f"modifiable '{factor.column}' must be a model feature")
    for number, rule in enumerate(factor.rules, start=1):
        where = f"modifiable '{factor.column}', rule {number} (when {_when(rule)})"
        for condition in rule.when:
            if condition.column not in answers:
                raise ValueError(
                    f"{where}: '{condition.column}' is not a column; known: {sorted(answers)}"
                )
            check_blank_condition(where, condition, answers[condition.column])
            _check_value(where, condition, answers[condition.column])
        check_relative_bounds(where, rule)
        _check_bounds(where, rule, factor)


def _check_value(where: str, condition: Condition, column: Column) -> None:
    """The value is of the answer's kind: a rule comparing unlike kinds never matches."""
    if condition.op in BLANK_OPS:
        return
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    name = condition.column
    for value in values:
        if column.type in _NUMBERS:
            if isinstance(value, str):
                fix = "write it without quotes" if is_number(value) else "give a number"
                raise ValueError(f"{where}: '{name}' holds numbers, but {value!r} is text; {fix}")
        elif not isinstance(value, str):
            raise ValueError(
                f"{where}: '{name}' holds text, but {_show(value)} is a number; quote it"
            )
        elif column.type == "categorical" and value not in column.categories:
            near = column.aliases.get(value) or next(
                (c for c in column.categories if c.casefold() == value.casefold()),
                None,
            )
            near = near or next(iter(get_close_matches(value, column.categories, n=1)), None)
            raise ValueError(
                f"{where}: {value!r} is not one of the categories of '{name}' "
                f"{list(column.categories)}" + (f"; did you mean {near!r}?" if near else "")
            )


def _check_bounds(where: str, rule: Rule, factor: ModifiableFactor) -> None:
    """A rule's bounds lie in the lever's safe range: sleeprx never prescribes outside it."""
    low, high = factor.safe_lower, factor.safe_upper
    lower, upper = (None if is_relative(b) else b for b in (rule.lower, rule.upper))
    for key, bound in (("lower", lower), ("upper", upper)):
        if bound is not None and not low - 1e-9 <= bound <= high + 1e-9:
            raise ValueError(
                f"{where}: {key} {_show(bound)} is outside the lever's safe range "
                f"{_show(low)}..{_show(high)}"
            )
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"{where}: lower {_show(lower)} > upper {_show(upper)}")


def _when(rule: Rule) -> str:
    """A rule's conditions as written, e.g. ``age >= 65 and sex == 'Female'``."""
    return " and ".join(
        f"{c.column} {c.op}" + ("" if c.value is None else f" {_show(c.value)}") for c in rule.when
    )


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_show, value)) + "]"
    return f"{value:g}" if isinstance(value, float) else repr(value)


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (``float`` accepts it)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def shipped_description_path() -> Path:
    """The description of the survey shipped with sleeprx."""
    return Path(__file__).parent / "shipped" / "sleep_health.yaml"


def load_description(path: str | Path | None = None) -> SurveyDescription:
    """Read and validate a survey description; ``None`` gives the shipped one."""
    path = Path(path) if path is not None else shipped_description_path()
    raw = read_yaml(path, DescriptionError, "description")
    return description_from_dict(raw, source=str(path))


def description_from_dict(raw: object, *, source: str = "<dict>") -> SurveyDescription:
    """Validate a parsed description, naming the key of each problem."""
    if not isinstance(raw, dict):
        raise DescriptionError(f"{source}: expected a mapping at the top level")
    return validate(SurveyDescription, raw, DescriptionError, source)
