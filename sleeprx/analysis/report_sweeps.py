"""The sections of a run's summary that come from its sweeps: the population curves,
the sensitivity grid and the fidelity comparison.

Each section names the settings it was computed with, and where its numbers answer a
different question from the prescriptions' (the curves ignore the penalty; the
fidelity comparison turns the minimum gain off) it says so and gives the figure that
matches the prescriptions, so no two sections seem to disagree. Probabilities are in
percent; the fidelity comparison is a diagnostic and stays in log-odds.
"""

from __future__ import annotations

import pandas as pd

from sleeprx.analysis.figures.sensitivity import sensitivity_panels
from sleeprx.analysis.fronts import knee
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.display import is_missing

__all__ = ["curve_lines", "fidelity_lines", "grid_cell", "sensitivity_lines"]


def _pct(value: object, spec: str = ".1f") -> str:
    return "-" if is_missing(value) else format(100 * float(value), spec)


def _interval(row: pd.Series, column: str) -> str:
    """`` (62.0–65.1)``: the refits' interval of a curve's column, if the table has it."""
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    if is_missing(low) or is_missing(high):
        return ""
    return f" ({_pct(low)}–{_pct(high)})"


def grid_cell(sensitivity: pd.DataFrame | None, settings: PrescribeSettings) -> pd.Series | None:
    """The sensitivity grid's row at the prescriptions' λ, resistance scale and K, or None."""
    if sensitivity is None or sensitivity.empty:
        return None
    at = (
        sensitivity["lam"].sub(settings.lam).abs().lt(1e-12)
        & sensitivity["resistance_scale"].sub(settings.resistance_scale).abs().lt(1e-12)
        & sensitivity["k"].eq(settings.max_changes)
    )
    return sensitivity[at].iloc[0] if at.any() else None


def curve_lines(
    curve_k: pd.DataFrame,
    positive: str,
    *,
    mode: str,
    settings: PrescribeSettings,
    prescribed_mean: float,
    cell: pd.Series | None,
) -> list[str]:
    """The K curve as a table in percent, its knee, and how it relates to the
    prescriptions (``prescribed_mean``: their mean chance after, over everybody)."""
    refits = int(curve_k["n_refits"].max()) if "n_refits" in curve_k else 0
    band = (
        f"; in brackets the 10th–90th percentile over the {refits} refitted models of "
        "the same changes, which were chosen for the fitted model, so the refits often see "
        "less and the interval can lie below the model's own value"
        if refits
        else ""
    )
    lines = [
        f"## Population curve by number of changes ({mode} mode, no goal, λ = 0, minimum gain 0)",
        "",
        f"The real model's chance of {positive} after each person's best change of at most "
        f"K levers, over the {int(curve_k['n_people'].max())} people swept{band}. The program "
        "here has no penalty and no minimum gain: it shows the most a change can buy.",
        "",
        "| K | mean chance after (%) | rise (points) | predicted to have it, p >= 0.5 (%) |"
        + (" validity among changed |" if refits else ""),
        "| --- | --- | --- | --- |" + (" --- |" if refits else ""),
    ]
    rise = curve_k["mean_p_after"].diff()
    for (_, r), step in zip(curve_k.iterrows(), rise, strict=True):
        row = (
            f"| {int(r['k'])} | {_pct(r['mean_p_after'])}{_interval(r, 'mean_p_after')} | "
            f"{'-' if is_missing(step) else format(100 * step, '+.1f')} | "
            f"{_pct(r['share_predicted_positive'])}{_interval(r, 'share_predicted_positive')} |"
        )
        if refits:
            validity = r.get("mean_validity")
            row += f" {'-' if is_missing(validity) else format(validity, '.3f')} |"
        lines.append(row)
    k_knee = knee(curve_k["k"].to_numpy(float), curve_k["mean_p_after"].to_numpy(float))
    lines += ["", f"Knee of the curve (mean chance after): K = {k_knee.x:g}.", ""]
    return lines + _curve_against_prescriptions(curve_k, settings, prescribed_mean, cell)


def _curve_against_prescriptions(
    curve_k: pd.DataFrame,
    settings: PrescribeSettings,
    prescribed_mean: float,
    cell: pd.Series | None,
) -> list[str]:
    """Why the curve's value at the prescriptions' K is not the prescriptions' own."""
    k = settings.max_changes
    at = curve_k[curve_k["k"].eq(k)]
    text = (
        f"At the prescriptions' K = {k} the curve gives {_pct(at['mean_p_after'].iloc[0])}%; "
        if len(at)
        else f"The curve does not reach the prescriptions' K = {k}; "
    )
    same = len(at) and _pct(at["mean_p_after"].iloc[0]) == _pct(prescribed_mean)
    text += (
        f"the prescriptions give {_pct(prescribed_mean)}% over their people"
        + (", the same to the rounding, although" if same else ", because")
        + f" they pay λ = {settings.lam:g} per unit of cost and make no change worth less "
        f"than {settings.min_gain:g} log-odds"
    )
    goal = _goal_words(settings)
    if goal:
        text += f", and they {goal}"
    if cell is not None:
        text += (
            f". The sensitivity grid's cell λ = {settings.lam:g}, resistance × "
            f"{settings.resistance_scale:g}, K = {k} (penalised, no goal, over everybody) "
            f"gives {_pct(cell['mean_p_after'])}%"
        )
    return [text + ".", ""]


def _goal_words(settings: PrescribeSettings) -> str:
    if settings.goal is None and settings.robust is None:
        return ""
    parts = []
    if settings.goal is not None:
        parts.append(f"stop at the least-cost change reaching p >= {settings.goal:g}")
    if settings.robust is not None:
        parts.append(f"that holds in {settings.robust:.0%} of the refitted models")
    return " ".join(parts)


def sensitivity_lines(
    sensitivity: pd.DataFrame | None, swept: PrescribeSettings, positive: str
) -> list[str]:
    """The grid's settings and the range of its results."""
    if sensitivity is None or sensitivity.empty or "mean_p_after" not in sensitivity:
        return []
    lams = ", ".join(f"{v:g}" for v in sorted(sensitivity["lam"].unique()))
    scales = ", ".join(f"{v:g}" for v in sorted(sensitivity["resistance_scale"].unique()))
    same = [ks for ks in sensitivity_panels(sensitivity) if len(ks) > 1]
    note = (
        " K = "
        + "; K = ".join(" and ".join(map(str, ks)) for ks in same)
        + " give identical grids."
        if same
        else ""
    )
    p, changed = sensitivity["mean_p_after"], sensitivity["share_changed"]
    return [
        f"## Sensitivity grid ({swept.mode} mode, no goal, minimum gain {swept.min_gain:g})",
        "",
        f"The penalised program for everybody at λ in {{{lams}}}, resistance × {{{scales}}} "
        f"and K in {{{', '.join(map(str, sorted(sensitivity['k'].unique())))}}}: the mean "
        f"chance of {positive} after the prescriptions runs from {_pct(p.min())}% to "
        f"{_pct(p.max())}% (before: {_pct(sensitivity['mean_p_before'].iloc[0])}%), and "
        f"the share of people told to change is {_range(changed)}."
        f"{note}",
        "",
    ]


def _range(values: pd.Series) -> str:
    """``35.3% in every cell`` or ``from 12.0% to 40.1%``."""
    low, high = _pct(values.min()), _pct(values.max())
    return f"{low}% in every cell" if low == high else f"from {low}% to {high}%"


def fidelity_lines(
    fidelity: dict | None,
    people: pd.DataFrame | None,
    prescriptions: pd.DataFrame,
    settings: PrescribeSettings,
    swept: PrescribeSettings,
    positive: str,
) -> list[str]:
    """The surrogate against exact mode, with the settings it ran at and how its share
    of surrogate answers without a real gain relates to the prescriptions'."""
    if fidelity is None:
        return []
    lines = [
        f"## Fidelity: surrogate against exact mode (diagnostic; K = {swept.max_changes}, "
        f"λ = {swept.lam:g}, no goal, minimum gain off)",
        "",
        f"- prescriptions that differ: {fidelity['share_differ']:.1%} of {fidelity['people']}",
        f"- loss of using the surrogate (true objective, log-odds of {positive}): "
        f"mean {fidelity['mean_loss']:.3f}, worst {fidelity['worst_loss']:.3f}",
        f"- surrogate answers whose real gain is not positive: "
        f"{fidelity['share_surrogate_nonpositive_real_gain']:.1%} of "
        f"{fidelity['surrogate_changed']} changed",
    ]
    return [*lines, *_fidelity_against_prescriptions(people, prescriptions, settings), ""]


def _fidelity_against_prescriptions(
    people: pd.DataFrame | None, prescriptions: pd.DataFrame, settings: PrescribeSettings
) -> list[str]:
    """The surrogate answers without a real gain, as the prescriptions see them."""
    if people is None or "gain_real_surrogate" not in people:
        return []
    no_gain = people[(people["changes_surrogate"] > 0) & (people["gain_real_surrogate"] <= 0)]
    comparable = settings.mode == "surrogate" and settings.goal is None and not settings.robust
    if not comparable:
        return [
            f"- the prescriptions above are in {settings.mode} mode"
            + (" under a goal" if settings.goal is not None else "")
            + ", so this comparison describes the surrogate, not them"
        ]
    changed = prescriptions[prescriptions["status"].eq(Status.CHANGED)]["person_id"]
    kept = no_gain["person_id"].isin(set(changed)).sum()
    return [
        f"- of those {len(no_gain)}, {kept} are also prescribed a change above, where the "
        f"minimum gain of {settings.min_gain:g} log-odds is on; it turns down the other "
        f"{len(no_gain) - kept}. Among all the prescriptions' changes the model disagrees "
        f"with {_disagreements(prescriptions)}."
    ]


def _disagreements(prescriptions: pd.DataFrame) -> int:
    flagged = prescriptions["model_disagrees"].astype(str).str.lower().eq("true")
    return int((flagged & prescriptions["status"].eq(Status.CHANGED)).sum())
