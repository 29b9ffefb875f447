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
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from ..config import Strict, validate
from ..errors import DescriptionError
from ..files import read_yaml

__all__ = [
    "Column",
    "Direction",
    "ModifiableFactor",
    "SurveyDescription",
    "Target",
    "load_description",
    "shipped_description_path",
]

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
SnakeName = Annotated[str, Field(pattern=_SNAKE.pattern)]


class Derived(Strict):
    """A numeric column split out of a text column, e.g. ``"120/80"`` -> two numbers."""

    name: SnakeName
    min: float
    max: float


class Column(Strict):
    """One column of the survey file."""

    source: str = Field(description="header of the column in the survey file")
    name: SnakeName = Field(description="canonical snake_case name used everywhere else")
    type: Literal["numeric", "integer", "categorical", "split", "text"] = Field(
        description="text suits an id column only, such as 'R-00017'"
    )
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    aliases: dict[str, str] = Field(default_factory=dict)
    separator: str | None = None
    into: tuple[Derived, ...] = ()
    allow_missing: bool = False
    feature: bool = True
    unit: str = ""

    @model_validator(mode="after")
    def _check_type_fields(self) -> Column:
        if self.type == "categorical":
            if not self.categories:
                raise ValueError(f"categorical column '{self.source}' needs 'categories'")
            unknown = {v for v in self.aliases.values() if v not in self.categories}
            if unknown:
                raise ValueError(
                    f"column '{self.source}': aliases map to {sorted(unknown)}, "
                    f"which are not among the categories {list(self.categories)}"
                )
        if self.type == "split" and (not self.separator or len(self.into) < 2):
            raise ValueError(f"split column '{self.source}' needs 'separator' and two 'into'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"column '{self.source}': min {self.min} > max {self.max}")
        return self

    @property
    def output_names(self) -> tuple[str, ...]:
        """Canonical columns this source column becomes."""
        return tuple(d.name for d in self.into) if self.type == "split" else (self.name,)


class Target(Strict):
    """Binary target: ``column >= threshold`` is the positive class."""

    column: SnakeName
    threshold: float
    positive_label: str = "good sleep"


class Reference(Strict):
    """Published figures to print beside this survey's evaluation, e.g. a paper's."""

    source: str = Field(description="where the figures come from, e.g. 'paper, hold-out'")
    metrics: dict[str, float] = Field(description="metric name (f1, accuracy, ...) -> value")


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    BOTH = "both"


class ModifiableFactor(Strict):
    """A factor a person can change, with its safe grid and the price of changing it."""

    column: SnakeName
    label: str = Field(description="words used in advice, e.g. 'daily steps'")
    unit: str = ""
    lower: float = Field(description="lowest value that may be prescribed")
    upper: float = Field(description="highest value that may be prescribed")
    step: float = Field(gt=0, description="grid spacing; also the unit of intensity")
    direction: Direction = Direction.BOTH
    max_change: float = Field(gt=0, description="largest |change| in one prescription")
    fixed_cost: float = Field(ge=0, description="cost of changing the factor at all")
    resistance: float = Field(ge=0, default=1.0, description="default resistance rho")
    resistance_column: str | None = Field(
        default=None, description="optional survey column with a per-person resistance"
    )

    @model_validator(mode="after")
    def _check_grid(self) -> ModifiableFactor:
        if self.lower > self.upper:
            raise ValueError(f"factor '{self.column}': lower {self.lower} > upper {self.upper}")
        n = (self.upper - self.lower) / self.step
        if abs(n - round(n)) > 1e-9:
            raise ValueError(
                f"factor '{self.column}': step {self.step} does not divide "
                f"{self.lower}..{self.upper} evenly"
            )
        return self

    @cached_property
    def grid(self) -> np.ndarray:
        """Every value on the safe grid, rounded so that decimal steps stay exact."""
        n = round((self.upper - self.lower) / self.step)
        return np.round(self.lower + self.step * np.arange(n + 1), 10)


class SurveyDescription(Strict):
    """A whole survey: columns, id, target and modifiable factors."""

    name: str
    id_column: SnakeName
    columns: tuple[Column, ...]
    target: Target
    modifiable: tuple[ModifiableFactor, ...]
    reference: Reference | None = None
    notes: str = ""

    @model_validator(mode="after")
    def _check_references(self) -> SurveyDescription:
        names = [n for c in self.columns for n in c.output_names]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"canonical names used twice: {dupes}")
        known = set(names)
        for ref, what in [(self.id_column, "id_column"), (self.target.column, "target.column")]:
            if ref not in known:
                raise ValueError(f"{what} '{ref}' is not a column; known: {sorted(known)}")
        for c in self.columns:
            if c.type == "text" and c.name != self.id_column:
                raise ValueError(f"column '{c.source}': type text is for the id column only")
        for f in self.modifiable:
            if f.column not in known:
                raise ValueError(f"modifiable '{f.column}' is not a column; known: {sorted(known)}")
            col = self.column(f.column)
            if col.type not in ("numeric", "integer"):
                raise ValueError(f"modifiable '{f.column}' must be numeric, not {col.type}")
            if not col.feature:
                raise ValueError(f"modifiable '{f.column}' must be a model feature")
        return self

    def column(self, name: str) -> Column:
        """The column whose canonical name is ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Canonical names of the model's input columns, in file order."""
        skip = {self.id_column, self.target.column}
        return tuple(n for c in self.columns if c.feature for n in c.output_names if n not in skip)

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
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def data_fingerprint(self) -> str:
        """A sha256 of what defines the model's input (columns, id, target), leaving out
        the prescription policy (modifiable factors, costs, resistances)."""
        part = self.model_dump(mode="json", include={"id_column", "columns", "target"})
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()


def shipped_description_path() -> Path:
    """The description of the survey shipped with sleeprx."""
    return Path(__file__).parents[1] / "surveys" / "sleep_health.yaml"


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
