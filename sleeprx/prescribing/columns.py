"""The prescription table's columns: their names, their order and what each means.

The one owner of the table's layout. The table builder, the batch worker, the verifier
and the analysis modules ask it for names (a lever's columns through :func:`before`
and :func:`after`); the README's column table is checked against :data:`COLUMNS`.
Plain data, importing nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "COLUMNS",
    "CONFIDENCE",
    "HEAD",
    "HOLDS_AT_HALF",
    "LEVER",
    "LEVER_COLUMNS",
    "OPTION",
    "OPTIONAL",
    "PLAUSIBILITY",
    "TAIL",
    "Column",
    "after",
    "before",
    "lever_columns",
    "levers_in",
    "names",
]


@dataclass(frozen=True)
class Column:
    """One column of the prescription table and what it holds."""

    name: str
    meaning: str


def before(lever: str) -> str:
    """The column of ``lever``'s value before the prescription (the person's answer)."""
    return f"{lever}_before"


def after(lever: str) -> str:
    """The column of ``lever``'s value after the prescription."""
    return f"{lever}_after"


#: The placeholder for a lever's name in :data:`LEVER_COLUMNS` and the README.
LEVER = "<factor>"

HEAD: tuple[Column, ...] = (
    Column("person_id", "the survey's id"),
    Column(
        "status",
        "`changed`, `no_change`, `infeasible` (no allowed change reaches the goal), "
        "`time_limit` (best found, with its gap), `error` (invalid data or a solver "
        "failure; `advice` says which)",
    ),
    Column("n_changes", "factors changed (a lever group counts once)"),
    Column(
        "p_before",
        "the real classifier's probability of the positive outcome before the change "
        "(calibrated when the model has a map)",
    ),
    Column(
        "p_after",
        "the real classifier's probability of the positive outcome after the change "
        "(calibrated when the model has a map)",
    ),
    Column("p_after_surrogate", "the SHAP surrogate's estimate of `p_after`"),
    Column("gain_logit", "the real classifier's change in log-odds"),
    Column("gain_surrogate", "the SHAP surrogate's estimate of the change in log-odds"),
    Column(
        "gain_planned",
        "the gain the program optimised (the surrogate's, or the trees' in exact mode)",
    ),
    Column("cost", "the penalty without λ: Σ ρ·(c·[changed] + |Δ|/step)"),
    Column("intensity", "Σ |Δ|/step (rungs on a ladder)"),
    Column("objective", "gain − λ·cost (or cost, under a goal)"),
)

#: A lever's two columns, with :data:`LEVER` for its name; one pair per lever of the
#: description, in the description's order, between :data:`HEAD` and :data:`TAIL`.
LEVER_COLUMNS: tuple[Column, ...] = (
    Column(
        before(LEVER),
        "the lever's answer, also for each derived lever after the levers (blank where "
        "the answer was blank)",
    ),
    Column(
        after(LEVER),
        "the lever's value after the prescription; a derived lever's, its formula at the "
        "levers' new values (blank where there is none)",
    ),
)

TAIL: tuple[Column, ...] = (
    Column(
        "advice",
        "plain sentences in the description's labels and units (clock times for "
        "bedtimes); names any lever not advised on and why (a blank answer, a rule)",
    ),
    Column(
        "solver_status",
        "how the answer was found: `enumerated` (every allowed profile scored: proven "
        "optimal), `dynamic_programming`, or HiGHS's `optimal`, `time_limit`, `infeasible`",
    ),
    Column("gap", "the solver's relative optimality gap (0 when proven optimal)"),
    Column(
        "margin_mip",
        "the log-odds the program planned: the person's margin plus `gain_planned`",
    ),
    Column("solve_seconds", "seconds spent solving this person's program"),
    Column("mode", "`surrogate` (the SHAP surrogate) or `exact` (the trees)"),
    Column(
        "model_disagrees",
        "a change the real classifier does not bear out: its gain is not positive or "
        "below `disagree_ratio` times the planned gain, or `p_after` falls short of the goal",
    ),
)

#: Per-person confidence under the model's bootstrap boosters (B refits): only in the
#: table of a model that has them (``ModelSettings.bootstrap``), after :data:`TAIL`.
CONFIDENCE: tuple[Column, ...] = (
    Column(
        "validity",
        "only with bootstrap boosters: the share of the B refitted models in which the "
        "prescription holds (`p_after` ≥ the goal, or a positive gain without one); "
        "blank without a profile, or for `no_change` without a goal",
    ),
    Column(
        "p_after_low",
        "only with bootstrap boosters: the 10th percentile over the refitted models of "
        "their (uncalibrated) probability after the change",
    ),
    Column("p_after_high", "only with bootstrap boosters: the 90th percentile of the same"),
    Column(
        "gain_low",
        "only with bootstrap boosters: the 10th percentile over the refitted models of "
        "their change in log-odds",
    ),
    Column("gain_high", "only with bootstrap boosters: the 90th percentile of the same"),
)

HOLDS_AT_HALF = "holds_at_half"
PLAUSIBILITY = "plausibility"
OPTION = "option"

#: Columns present only when asked for: ``option`` with ``options`` above 1, right
#: after ``person_id`` (:mod:`sleeprx.prescribing.options`); after :data:`TAIL`,
#: ``holds_at_half`` with ``report_half`` or ``require_half``, ``plausibility`` when the
#: model has a trust region (:mod:`sleeprx.prescribing.adherence`).
OPTIONAL: tuple[Column, ...] = (
    Column(
        OPTION,
        "with `options` N above 1, right after `person_id`: the plan's rank among the "
        "person's N best distinct plans (different after-profiles), 1 the best; option 1 "
        "is the row the table has without options, options 2..N only follow a `changed` "
        "option 1 and clear the same minimum gains, so a person may have fewer than N; "
        "options after the first share the solve time of the search that found them",
    ),
    Column(
        HOLDS_AT_HALF,
        "with `report_half` or `require_half`: the real classifier still bears the answer "
        "out when each change is made only half-way (rounded on the grid or ladder toward "
        "the answer): the goal is still met, or (without a goal) the gain is positive; "
        "blank without a change",
    ),
    Column(
        PLAUSIBILITY,
        "when the model has a trust region: its score of the after-profile less its "
        "threshold (at least 0, up to rounding, inside the region, where the training "
        "survey's levers are)",
    ),
)

#: Every column as documented, with :data:`LEVER` standing for each lever's name.
COLUMNS: tuple[Column, ...] = HEAD + LEVER_COLUMNS + TAIL + CONFIDENCE + OPTIONAL


def lever_columns(levers: Iterable[str]) -> list[str]:
    """The before and after columns of every lever, in order."""
    return [c for lever in levers for c in (before(lever), after(lever))]


def names(levers: Iterable[str], *, confidence: bool = False) -> list[str]:
    """The table's column names, in order, for a description whose levers are ``levers``;
    ``confidence``: the model has bootstrap boosters, so :data:`CONFIDENCE` follows."""
    extra = [c.name for c in CONFIDENCE] if confidence else []
    return [c.name for c in HEAD] + lever_columns(levers) + [c.name for c in TAIL] + extra


def levers_in(columns: Iterable[str]) -> list[str]:
    """The levers that have both a before and an after column among ``columns``, in
    column order (``p_before`` / ``p_after`` are not a lever's)."""
    present = list(columns)
    fixed = {c.name for c in HEAD + TAIL + CONFIDENCE}
    suffix = before("")
    return [
        c[: -len(suffix)]
        for c in present
        if c.endswith(suffix)
        and len(c) > len(suffix)
        and c not in fixed
        and after(c[: -len(suffix)]) in present
    ]
