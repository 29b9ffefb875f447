"""Population curves of the Pareto sweeps, on the probability scale people read.

Each figure takes the sweep table (:func:`~sleeprx.analysis.fronts.person_fronts`) and,
optionally, the population table of that sweep
(:func:`~sleeprx.analysis.refits.population_table`, a run's ``population_<sweep>.csv``);
when the model has bootstrap refits that table carries the interval of each curve over
them, and the figure draws it as a band.

The curves average over everyone, also the people at the ceiling, so the per-person
chances are drawn as dots behind the mean: on the shipped survey they are bimodal
(people near 0% and near 100%), and a band of quantiles would hide that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sleeprx.analysis.figures.style import (
    COLOURS,
    GREY,
    INTENSITY_LABEL,
    K_LABEL,
    REFIT_RANGE,
    captioned,
    chance_label,
    new_figure,
    styled,
)
from sleeprx.analysis.fronts import knee, population_curve
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import positive_label, wrap_label
from sleeprx.utils.errors import ArtifactError

__all__ = ["k_curve_figure", "population_pareto_figure", "probability_curve_figure"]

#: The top of a percent axis: a marker at 100% is drawn whole.
_TOP = 104.0


def _curve(fronts: pd.DataFrame, by: str, table: pd.DataFrame | None) -> pd.DataFrame:
    """The population table of sweep ``by``: the one given, else computed without refits."""
    if table is None:
        return population_curve(fronts, by=by)
    return table.sort_values(by).reset_index(drop=True)


def _refits(curve: pd.DataFrame) -> int:
    """How many refits the table's intervals come from (0: none)."""
    if "n_refits" not in curve or curve["n_refits"].isna().all():
        return 0
    return int(curve["n_refits"].max())


def _people_dots(ax: Axes, fronts: pd.DataFrame, by: str, x_step: float) -> None:
    """Every person's chance after the change at each limit, jittered sideways (seeded)."""
    rows = fronts[fronts["sweep"].eq(by) & fronts["p_after"].notna()]
    x = rows[by].to_numpy(float)
    jitter = np.random.default_rng(0).uniform(-0.28, 0.28, len(x)) * x_step
    ax.scatter(
        x + jitter,
        100 * rows["p_after"].to_numpy(float),
        s=3,
        color=GREY,
        alpha=0.18,
        linewidths=0,
        rasterized=True,  # thousands of dots: keep the SVG light
        zorder=1,
    )


def _mean_with_band(ax: Axes, x: np.ndarray, curve: pd.DataFrame, colour: str, column: str):
    """The mean line over people, and its band over the refits when the table has one."""
    if f"{column}_low" in curve and curve[f"{column}_low"].notna().any():
        low, high = 100 * curve[f"{column}_low"], 100 * curve[f"{column}_high"]
        ax.fill_between(x, low, high, color=colour, alpha=0.25, linewidth=0, zorder=2)
    ax.plot(x, 100 * curve[column], color=colour, marker="o", zorder=3, clip_on=False)


def _legend(fig: Figure, colour: str, *, mean: str, before: str, refits: int) -> None:
    """Below the axes, one entry per thing drawn."""
    handles = [
        Line2D([], [], color=colour, marker="o", label=mean),
        Line2D([], [], color=GREY, linestyle="--", linewidth=0.9, label=before),
        Line2D([], [], color=GREY, marker="o", linestyle="", alpha=0.4, label="one person"),
    ]
    if refits:
        handles.append(Patch(color=colour, alpha=0.25, label=_short_range(refits)))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, handlelength=1.6)


def _short_range(refits: int) -> str:
    """The band's legend entry, short enough for half a narrow figure's width."""
    return f"10–90% of {refits} refits"


def _chance_axes(ax: Axes, description: SurveyDescription | None) -> None:
    ax.set_ylim(-2, _TOP)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel(wrap_label(chance_label(description, "after the change"), 30))


def _refit_sentence(refits: int) -> str:
    if not refits:
        return "The model has no bootstrap refits, so no interval is drawn."
    return (
        f"The band is the {REFIT_RANGE.format(n=refits)} of that curve: the "
        "same changes re-scored by models refitted on bootstrap resamples of the survey. "
        "The changes were chosen for the fitted model, so the refits often see less of a "
        "rise, and the band can lie below the line."
    )


@styled
def k_curve_figure(
    fronts: pd.DataFrame,
    *,
    description: SurveyDescription | None = None,
    curve: pd.DataFrame | None = None,
) -> Figure:
    """The mean chance of the positive outcome after the best change of at most K levers.

    Dots are people, the line their mean, labelled with its rise in percentage points
    from K − 1; the dashed line is the mean before any change. ``curve`` is the sweep's
    population table (with its refit interval, if any).
    """
    table = _curve(fronts, "k", curve)
    fig, ax = new_figure((3.5, 3.3))
    x = table["k"].to_numpy(float)
    _people_dots(ax, fronts, "k", 1.0)
    _mean_with_band(ax, x, table, COLOURS[2], "mean_p_after")
    ax.axhline(100 * table["mean_p_before"].iloc[0], color=GREY, linestyle="--", linewidth=0.9)
    rise = 100 * table["mean_p_after"].diff()
    for xi, yi, step in zip(x[1:], 100 * table["mean_p_after"][1:], rise[1:], strict=True):
        ax.annotate(
            f"{step:+.1f}",
            (xi, yi),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            color=COLOURS[2],
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            zorder=4,
        )
    ax.set_xticks(x)
    ax.set_xlabel(K_LABEL)
    _chance_axes(ax, description)
    refits = _refits(table)
    _legend(fig, COLOURS[2], mean="mean over people", before="mean before", refits=refits)
    positive = positive_label(description)
    return captioned(
        fig,
        f"Chance of {positive} with at most K changes",
        f"The real model's probability of {positive} after each person's best change of "
        "at most K levers (the program without its penalty and minimum gain: the most a "
        "change can buy, not the prescriptions, which pay for each change). Dots are "
        f"people ({int(table['n_people'].max())}); the line is their mean, labelled with "
        "its rise in percentage points from K − 1; the dashed line is the mean before "
        f"any change. {_refit_sentence(refits)}",
    )


@styled
def population_pareto_figure(
    fronts: pd.DataFrame,
    *,
    description: SurveyDescription | None = None,
    curve: pd.DataFrame | None = None,
) -> Figure:
    """The mean chance of the positive outcome against the intensity budget, its knee.

    Dots are people, the line their mean, the dashed line the mean before any change;
    ``curve`` is the sweep's population table (with its refit interval, if any).
    """
    table = _curve(fronts, "budget", curve)
    fig, ax = new_figure((3.5, 3.3))
    x = table["budget"].to_numpy(float)
    _people_dots(ax, fronts, "budget", float(np.min(np.diff(x))) if len(x) > 1 else 1.0)
    _mean_with_band(ax, x, table, COLOURS[0], "mean_p_after")
    ax.axhline(100 * table["mean_p_before"].iloc[0], color=GREY, linestyle="--", linewidth=0.9)
    knee_text = ""
    if len(table) >= 3:
        k = knee(x, table["mean_p_after"].to_numpy(float))
        ax.plot(k.x, 100 * k.y, marker="o", markersize=9, mfc="none", color=COLOURS[5], zorder=4)
        ax.annotate(
            f"knee, B = {k.x:g}",
            (k.x, 100 * k.y),
            xytext=(8, -14),
            textcoords="offset points",
            color=COLOURS[5],
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )
        knee_text = (
            f" The circle marks the knee (B = {k.x:g}), where more effort starts to buy little."
        )
    ax.set_xlim(left=-0.5)
    ax.set_xlabel(wrap_label(INTENSITY_LABEL, 40))
    _chance_axes(ax, description)
    refits = _refits(table)
    _legend(fig, COLOURS[0], mean="mean over people", before="mean before", refits=refits)
    positive = positive_label(description)
    return captioned(
        fig,
        f"Chance of {positive} within an intensity budget",
        f"The real model's probability of {positive} after each person's best change whose "
        "intensity (the sum over levers of |change| / step, in grid steps or rungs) is at "
        "most B, any number of levers allowed, without the prescriptions' penalty and "
        "minimum gain. Dots are people; the line is their mean; the dashed line is the "
        f"mean before any change.{knee_text} {_refit_sentence(refits)}",
    )


@styled
def probability_curve_figure(
    fronts: pd.DataFrame,
    *,
    description: SurveyDescription | None = None,
    curves: dict[str, pd.DataFrame] | None = None,
) -> Figure:
    """The share of people predicted to have the positive outcome (p ≥ 0.5), one panel
    per sweep (K, budget), before and after the best change within each limit.

    ``curves`` maps a sweep (``"k"``, ``"budget"``) to its population table, with its
    refit interval if any. The mean probability is in :func:`k_curve_figure`.
    """
    sweeps = [by for by in ("k", "budget") if by in set(fronts["sweep"])]
    if not sweeps:
        raise ArtifactError("the Pareto table has neither a K nor a budget sweep")
    positive = positive_label(description)
    fig = Figure(figsize=(7.0, 3.2) if len(sweeps) == 2 else (3.5, 3.2), layout="constrained")
    axes = fig.subplots(1, len(sweeps), sharey=True, squeeze=False)[0]
    refits, rises = 0, []
    for ax, by in zip(axes, sweeps, strict=True):
        table = _curve(fronts, by, (curves or {}).get(by))
        refits = max(refits, _refits(table))
        x = table[by].to_numpy(float)
        _mean_with_band(ax, x, table, COLOURS[0], "share_predicted_positive")
        ax.plot(x, 100 * table["share_positive_before"], linestyle="--", color=GREY, linewidth=0.9)
        last = table.iloc[-1]
        rise = 100 * last["rise_share_positive"]
        rises.append(f"{rise:+.0f} points")
        ax.annotate(
            f"{rise:+.0f} percentage points\nover before",
            (x[-1], 100 * last["share_predicted_positive"]),
            xytext=(0, -10),
            textcoords="offset points",
            ha="right",
            va="top",
            color=COLOURS[0],
        )
        if by == "k":
            ax.set_xticks(x)
        ax.set_xlabel(K_LABEL if by == "k" else wrap_label(INTENSITY_LABEL, 40))
    axes[0].set_ylim(-2, _TOP)
    axes[0].set_yticks(range(0, 101, 20))
    axes[0].set_ylabel(wrap_label(f"people predicted to have {positive} (%)", 30))
    handles = [
        Line2D([], [], color=COLOURS[0], marker="o", label="after the best change"),
        Line2D([], [], color=GREY, linestyle="--", linewidth=0.9, label="before any change"),
    ]
    if refits:
        handles.append(Patch(color=COLOURS[0], alpha=0.25, label=_short_range(refits)))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, handlelength=1.6)
    panels = " and ".join("at most K levers" if by == "k" else "a budget B" for by in sweeps)
    return captioned(
        fig,
        f"People predicted to have {positive}",
        f"The share of people whose probability of {positive} by the real model is at "
        f"least 50%, after the best change within {panels}, without the prescriptions' "
        "penalty and minimum gain; dashed: before any change. The label gives the rise "
        f"at the widest limit, in percentage points ({', '.join(rises)}). "
        f"{_refit_sentence(refits)}",
    )
