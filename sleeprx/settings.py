"""Settings: one validated object per concern, each default written once.

:class:`PrescribeSettings` says how prescriptions are chosen; :class:`ParetoSettings`
and :class:`SensitivitySettings` hold the sweep grids. The library's functions, the
CLI and the pipeline files all read their defaults from here.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from sleeprx.utils.errors import ConfigError
from sleeprx.utils.odds import logit
from sleeprx.utils.validation import Strict, validate

__all__ = [
    "BOOTSTRAP",
    "ParetoSettings",
    "PrescribeSettings",
    "SensitivitySettings",
    "make_settings",
    "parse_goal",
]

HighsValue = bool | int | float | str

#: Bootstrap boosters to train for robust prescriptions and the confidence columns
#: (``sleeprx train --bootstrap 20``, ``ModelSettings(bootstrap=20)``, pipelines'
#: ``model: {bootstrap: 20}``), chosen by measurement (``benchmarks/bench_robust.py
#: --sweep-b``, BENCHMARKS.md): on the 10-lever example (goal p >= 0.7, K = 3, Q = 0.9,
#: judged by 20 fresh refits) B = 5 and 10 reach a mean validity of 0.85 but only 55% and
#: 52% of people hold in 90% of fresh refits; B = 20 is the smallest count with both
#: 0.85 and 60% (0.887, 62.5%); B = 40 adds 0.02 validity for twice the training time,
#: model folder and robust time. ``ModelSettings.bootstrap`` itself stays 0 (off): the
#: refits cost training time (about 0.25 s a booster on the 10-lever example) that
#: plain prescriptions do not need.
BOOTSTRAP = 20


class PrescribeSettings(Strict):
    """How prescriptions are chosen.

    ``lam`` prices the penalty in log-odds: with the default 0.1, one grid step of
    change (at resistance 1) must buy at least 0.1 log-odds of the positive outcome.
    ``min_gain`` (log-odds) is the smallest objective worth acting on, and
    ``min_gain_prob`` the smallest rise in its probability (the program's own
    estimate): below either the person gets "no change". The second matters for
    people the model already rates near p = 1, where a large log-odds gain is worth
    almost nothing.
    """

    mode: Literal["surrogate", "exact"] = Field(
        "surrogate", description="surrogate (SHAP) or exact (the trees)"
    )
    max_changes: int = Field(2, ge=0, description="K, the most factors changed at once")
    lam: float = Field(0.1, ge=0, description="weight of the resistance penalty")
    min_gain: float = Field(0.1, ge=0, description="smallest objective (log-odds) worth a change")
    min_gain_prob: float = Field(
        0.01, ge=0, lt=1, description="smallest rise in the probability worth a change"
    )
    resistance_scale: float = Field(1.0, ge=0, description="multiplies every resistance")
    budget: float | None = Field(None, ge=0, description="cap on intensity sum |change|/step")
    goal: float | None = Field(
        None, gt=0, lt=1, description="recourse: least-cost change reaching p >= goal"
    )
    tree_encoding: Literal["tables", "leaves"] = Field(
        "tables", description="exact mode: compile trees into factor tables, or leaf variables"
    )
    max_table_cells: int = Field(4096, ge=1, description="largest factor table compiled")
    time_limit: float = Field(10.0, gt=0, description="seconds per person for the MIP")
    mip_rel_gap: float = Field(0.0, ge=0)
    mip_abs_gap: float = Field(1e-9, ge=0)
    highs_options: dict[str, HighsValue] = Field(
        default_factory=dict, description="extra HiGHS options, applied after sleeprx's own"
    )
    backend: Literal["highs", "pyomo"] = Field("highs", description="the MIP's route to HiGHS")
    solver: Literal["auto", "mip", "enumeration"] = Field(
        "auto",
        description="auto: enumerate programs of at most enumeration_limit profiles, "
        "else the MIP; both are proven optimal",
    )
    enumeration_limit: int = Field(
        20_000, ge=0, description="most allowed profiles scored by enumeration under auto"
    )
    disagree_ratio: float = Field(
        0.5, ge=0, le=1, description="flag a real gain below this share of the surrogate's"
    )
    robust: float | None = Field(
        None,
        gt=0,
        le=1,
        description="exact mode: the answer must hold in at least this share of the "
        "model's bootstrap boosters; None = off",
    )
    robust_statistic: Literal["mean", "quantile"] = Field(
        "mean",
        description="robust, no goal: the gain maximised, its mean over the boosters or "
        "its lower robust-quantile",
    )

    options: int = Field(
        1,
        ge=1,
        le=20,
        description="up to this many distinct plans per person, best first (the option "
        "column); 1 = the single best plan",
    )

    report_half: bool = Field(
        False,
        description="add the holds_at_half column: does the answer hold if only half of "
        "each change is made",
    )
    require_half: bool = Field(
        False,
        description="accept only profiles whose half-way profile still holds (the real "
        "model's goal, or a positive gain); enumeration only; implies report_half",
    )
    require_plausible: bool = Field(
        False,
        description="accept only after-profiles inside the model's trust region "
        "(ModelSettings.trust_region); enumeration only",
    )

    @property
    def half_column(self) -> bool:
        """Whether the table reports ``holds_at_half``."""
        return self.report_half or self.require_half

    @model_validator(mode="after")
    def _robust_needs_exact_mode(self) -> PrescribeSettings:
        # the surrogate's optimum is not the trees': no refit count can be promised for it
        if self.robust is not None and self.mode != "exact":
            raise ValueError(
                f"robust {self.robust:g} needs mode 'exact' (the trees' own program), "
                f"not {self.mode!r}: a surrogate optimum cannot be held to a share of refits"
            )
        return self

    @model_validator(mode="after")
    def _options_not_robust(self) -> PrescribeSettings:
        # robust_best answers one optimum; its N best are not written yet
        if self.options > 1 and self.robust is not None:
            raise ValueError(
                f"options {self.options} with robust {self.robust:g}: the robust program "
                "gives its single best plan only; use options 1, or robust null"
            )
        return self

    @property
    def goal_logit(self) -> float | None:
        """The goal as log-odds, or None without a goal."""
        return None if self.goal is None else logit(self.goal)


NonNegative = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class ParetoSettings(Strict):
    """The two sweeps of the Pareto fronts, and whose fronts a figure shows."""

    mode: Literal["surrogate", "exact"] = "surrogate"
    budgets: tuple[NonNegative, ...] = Field(
        (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20),
        min_length=1,
        description="intensity budgets (sum of |change| / step)",
    )
    ks: tuple[Count, ...] = Field((0, 1, 2, 3, 4), min_length=1, description="limits on K")
    people: tuple[int | str, ...] | None = Field(
        None, min_length=1, description="ids to sweep; null = everybody"
    )
    show_people: tuple[int | str, ...] | None = Field(
        None, description="people whose fronts are drawn; null = chosen by the figure"
    )


class SensitivitySettings(Strict):
    """The grid of the sensitivity analysis."""

    lams: tuple[NonNegative, ...] = Field((0.0, 0.05, 0.1, 0.2, 0.5), min_length=1)
    resistance_scales: tuple[NonNegative, ...] = Field((0.5, 1.0, 2.0), min_length=1)
    ks: tuple[Count, ...] = Field((1, 2, 3), min_length=1)


def parse_goal(text: str | None) -> float | None:
    """Read ``p>=0.7`` (or plain ``0.7``) as a target probability."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(?:p\s*>=\s*)?([0-9]*\.?[0-9]+)\s*", text)
    if not match or not 0 < float(match.group(1)) < 1:
        raise ConfigError(f"{text!r}: expected a goal of the form p>=0.7 with 0 < p < 1")
    return float(match.group(1))


def make_settings(**values: object) -> PrescribeSettings:
    """Build settings, turning validation errors into a :class:`ConfigError`."""
    return validate(PrescribeSettings, values, ConfigError, "settings")
