"""Prescription settings: one validated object, passed whole through every layer."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

__all__ = ["PrescribeSettings", "parse_goal"]


class PrescribeSettings(BaseModel):
    """How prescriptions are chosen.

    ``lam`` prices the penalty in log-odds: with the default 0.1, one grid step of
    change (at resistance 1) must buy at least 0.1 log-odds of predicted good sleep.
    ``min_gain`` (log-odds) is the smallest objective worth acting on, and
    ``min_gain_prob`` the smallest rise in the probability of good sleep (the program's
    own estimate): below either the person gets "no change". The second matters for
    people the model already rates near p = 1, where a large log-odds gain is worth
    almost nothing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["surrogate", "exact"] = "surrogate"
    max_changes: int = Field(2, ge=0, description="K, the most factors changed at once")
    lam: float = Field(0.1, ge=0, description="weight of the resistance penalty")
    min_gain: float = Field(0.1, ge=0, description="smallest objective (log-odds) worth a change")
    min_gain_prob: float = Field(
        0.01, ge=0, lt=1, description="smallest rise in p(good sleep) worth a change"
    )
    resistance_scale: float = Field(1.0, ge=0, description="multiplies every resistance")
    budget: float | None = Field(None, ge=0, description="cap on intensity sum |change|/step")
    goal: float | None = Field(
        None, gt=0, lt=1, description="recourse: least-cost change reaching p(good) >= goal"
    )
    tree_encoding: Literal["tables", "leaves"] = Field(
        "tables", description="exact mode: compile trees into factor tables, or leaf variables"
    )
    max_table_cells: int = Field(4096, ge=1, description="largest factor table compiled")
    time_limit: float = Field(10.0, gt=0, description="seconds per person for the MIP")
    mip_rel_gap: float = Field(0.0, ge=0)
    mip_abs_gap: float = Field(1e-9, ge=0)
    backend: Literal["highs", "pyomo"] = "highs"
    disagree_ratio: float = Field(
        0.5, ge=0, le=1, description="flag a real gain below this share of the surrogate's"
    )


def parse_goal(text: str | None) -> float | None:
    """Read ``p>=0.7`` (or plain ``0.7``) as a target probability."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(?:p\s*>=\s*)?([0-9]*\.?[0-9]+)\s*", text)
    if not match or not 0 < float(match.group(1)) < 1:
        raise ConfigError(f"--goal {text!r}: expected the form p>=0.7 with 0 < p < 1")
    return float(match.group(1))


def make_settings(**values: object) -> PrescribeSettings:
    """Build settings, turning validation errors into a :class:`ConfigError`."""
    try:
        return PrescribeSettings(**values)
    except ValidationError as exc:
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("; ".join(parts)) from None
