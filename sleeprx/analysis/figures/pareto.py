"""Pareto figures: population curves of the budget and K sweeps (log-odds and
probability scales), individual fronts, and the sensitivity heatmap."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sleeprx.analysis.figures.style import (
    COLOURS,
    GREY,
    INTENSITY_LABEL,
    K_LABEL,
    gain_label,
    new_figure,
    pretty,
    styled,
)
from sleeprx.analysis.fronts import knee, non_dominated, population_curve
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import positive_label, wrap_label
from sleeprx.utils.errors import ArtifactError


def _band_and_means(ax: Axes, x: np.ndarray, curve: pd.DataFrame, colour: str, *, median: bool):
    """A population curve: interquartile band, mean (and median) of the verified gain,
    and the surrogate's mean for comparison."""
    ax.fill_between(
        x,
        curve["q25_gain_verified"],
        curve["q75_gain_verified"],
        color=colour,
        alpha=0.18,
        linewidth=0,
        label="interquartile range",
    )
    if median:
        ax.plot(x, curve["median_gain_verified"], color=colour, linestyle=":", label="median")
    ax.plot(x, curve["mean_gain_verified"], color=colour, marker="o", label="mean")
    ax.plot(
        x,
        curve["mean_gain_surrogate"],
        color=GREY,
        linestyle="--",
        marker=".",
        label="mean, SHAP surrogate",
    )


@styled
def population_pareto_figure(
    fronts: pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """The population's verified gain against the intensity budget, with its knee.

    Mean and median over people of the real model's gain at each budget, the
    interquartile band, and the surrogate's mean for comparison. ``fronts`` is
    :func:`sleeprx.analysis.fronts.person_fronts`'s table.
    """
    curve = population_curve(fronts, by="budget")
    fig, ax = new_figure()
    x = curve["budget"].to_numpy(float)
    _band_and_means(ax, x, curve, COLOURS[0], median=True)
    if len(curve) >= 3:
        k = knee(x, curve["mean_gain_verified"].to_numpy(float))
        ax.plot(k.x, k.y, marker="o", markersize=8, mfc="none", color=COLOURS[5])
        ax.annotate(
            f"knee, B = {k.x:g}",
            (k.x, k.y),
            xytext=(6, -14),
            textcoords="offset points",
            color=COLOURS[5],
        )
    ax.set_xlabel(INTENSITY_LABEL)
    ax.set_ylabel(gain_label(description, stacked=True))
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(curve["q25_gain_verified"]))))
    ax.legend(loc="upper left", handlelength=1.6)
    return fig


@styled
def k_curve_figure(fronts: pd.DataFrame, *, description: SurveyDescription | None = None) -> Figure:
    """Mean verified gain against the most factors changed, K, with marginal gains.

    Each step is annotated with the rise of the mean from the previous K. The same
    curve on the probability scale is :func:`probability_curve_figure`.
    """
    curve = population_curve(fronts, by="k")
    fig, ax = new_figure()
    x = curve["k"].to_numpy(int)
    _band_and_means(ax, x, curve, COLOURS[2], median=False)
    steps = zip(x[1:], curve["mean_gain_verified"][1:], curve["marginal_gain"][1:], strict=True)
    for xi, yi, step in steps:
        ax.annotate(
            f"{step:+.2f}",
            (xi, yi),
            xytext=(0, -12),
            textcoords="offset points",
            ha="center",
            color=COLOURS[2],
        )
    ax.set_xticks(x)
    ax.set_xlabel(K_LABEL)
    ax.set_ylabel(gain_label(description, stacked=True))
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(curve["q25_gain_verified"]))))
    ax.legend(loc="upper left", handlelength=1.6)
    ax.text(
        0.98,
        0.04,
        "labels: rise of the mean from K − 1",
        transform=ax.transAxes,
        ha="right",
        color=GREY,
    )
    return fig


@styled
def probability_curve_figure(
    fronts: pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """The population curves on the probability scale: one panel per sweep (K, budget).

    Solid: the share of people the real model predicts to have the positive outcome
    (probability at least 0.5) after the best change within each limit; dashed: the
    mean probability. Thin grey lines are the same quantities before any change, so
    the gap is the rise the prescriptions buy. ``fronts`` is
    :func:`sleeprx.analysis.fronts.person_fronts`'s table.
    """
    sweeps = [by for by in ("k", "budget") if by in set(fronts["sweep"])]
    if not sweeps:
        raise ArtifactError("the Pareto table has neither a K nor a budget sweep")
    positive = positive_label(description)
    fig = Figure(figsize=(7.0, 3.0) if len(sweeps) == 2 else (3.5, 3.0), layout="constrained")
    axes = fig.subplots(1, len(sweeps), sharey=True, squeeze=False)[0]
    for ax, by in zip(axes, sweeps, strict=True):
        curve = population_curve(fronts, by=by)
        x = curve[by].to_numpy(float)
        for column, before, style in (
            ("share_predicted_positive", "share_positive_before", "-"),
            ("mean_p_after", "mean_p_before", "--"),
        ):
            ax.plot(x, 100 * curve[column], linestyle=style, marker="o", color=COLOURS[0])
            ax.plot(x, 100 * curve[before], linestyle=style, color=GREY, linewidth=0.8)
        last = curve.iloc[-1]
        ax.annotate(
            f"{100 * last['rise_share_positive']:+.0f} points",
            (x[-1], 100 * last["share_predicted_positive"]),
            xytext=(0, 6),
            textcoords="offset points",
            ha="right",
            color=COLOURS[0],
        )
        if by == "k":
            ax.set_xticks(x)
        ax.set_xlabel(K_LABEL if by == "k" else wrap_label(INTENSITY_LABEL, 32))
    who = f"predicted to have {wrap_label(positive, 24)}"
    axes[0].set_ylabel(f"{who}:\nshare of people, mean p (%)")
    axes[0].set_ylim(0, 100)
    handles = [
        mpl.lines.Line2D([], [], color=COLOURS[0], marker="o", label="after: share, p ≥ 0.5"),
        mpl.lines.Line2D(
            [], [], color=COLOURS[0], marker="o", linestyle="--", label="after: mean p"
        ),
        mpl.lines.Line2D([], [], color=GREY, linewidth=0.8, label="before (solid, dashed)"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=3, handlelength=1.8)
    return fig


def _show_people(fronts: pd.DataFrame, n: int) -> list:
    """People whose fronts differ: spread over the range of their largest gain."""
    rows = non_dominated(fronts[fronts["sweep"].eq("budget")])
    steps = rows.groupby("person_id").size()
    best = rows.groupby("person_id")["gain_planned"].max()[steps >= 3]
    if best.empty:
        best = rows.groupby("person_id")["gain_planned"].max()
    ordered = best.sort_values(kind="stable")
    picks = np.unique(np.linspace(0, len(ordered) - 1, min(n, len(ordered))).round().astype(int))
    return ordered.index[picks].tolist()  # ids as they are: whole numbers or text


@styled
def person_fronts_figure(
    fronts: pd.DataFrame,
    person_ids: Sequence[int] | None = None,
    *,
    max_people: int = 4,
    description: SurveyDescription | None = None,
) -> Figure:
    """Individual Pareto fronts: the best gain reachable within each intensity.

    Lines are the program's own (planned) gain on each person's non-dominated points of
    the budget sweep, drawn as steps since the optimum only changes at those points;
    open circles are the real model's gain of the same prescriptions. Without
    ``person_ids``, up to ``max_people`` people spread over the range of gains.
    """
    budget_rows = fronts[fronts["sweep"].eq("budget")]
    ids = list(person_ids) if person_ids is not None else _show_people(fronts, max_people)
    missing = [i for i in ids if i not in set(budget_rows["person_id"])]
    if missing:
        raise ArtifactError(f"person {missing[0]} has no budget sweep in the Pareto table")
    front = non_dominated(budget_rows)
    top = float(budget_rows["budget"].max())
    fig, ax = new_figure((3.5, 3.0))
    ax.plot([], [], "-", color=GREY, label="planned (program)")
    ax.plot([], [], "o", mfc="none", color=GREY, label="verified (real model)")
    for colour, pid in zip(itertools.cycle(COLOURS), ids):
        rows = front[front["person_id"].eq(pid)].sort_values("intensity")
        if rows.empty:  # every solve failed for this person: nothing to draw
            continue
        x = np.append(rows["intensity"].to_numpy(float), max(top, rows["intensity"].max()))
        y = np.append(rows["gain_planned"].to_numpy(float), rows["gain_planned"].iloc[-1])
        ax.plot(x, y, drawstyle="steps-post", color=colour, label=f"person {pid}")
        ax.plot(rows["intensity"], rows["gain_planned"], "o", color=colour, markersize=3)
        ax.plot(rows["intensity"], rows["gain_verified"], "o", mfc="none", color=colour)
    ax.set_xlabel("intensity, Σ|change|/step (grid steps)")
    ax.set_ylabel(gain_label(description, "gain", stacked=True))
    ax.set_xlim(left=0)
    fig.legend(loc="outside upper center", ncols=2, handlelength=1.4, columnspacing=1.0)
    return fig


@styled
def sensitivity_heatmap(
    sensitivity: pd.DataFrame,
    *,
    k: int | None = None,
    value: str = "mean_gain_logit",
    description: SurveyDescription | None = None,
) -> Figure:
    """Mean verified gain over penalty weight λ and resistance scale, for one K.

    Each cell shows ``value`` (by default the real model's mean delta-logit) and, below
    it, the share of people who are prescribed a change. ``k`` defaults to 2 if the
    table has it, else to its middle K.
    """
    ks = sorted(sensitivity["k"].unique())
    if k is None:
        k = 2 if 2 in ks else int(ks[len(ks) // 2])
    rows = sensitivity[sensitivity["k"].eq(k)]
    if rows.empty:
        raise ArtifactError(f"the sensitivity table has no rows with k = {k}; it has {ks}")
    grid = rows.pivot(index="lam", columns="resistance_scale", values=value).sort_index()
    share = rows.pivot(index="lam", columns="resistance_scale", values="share_changed")
    share = share.loc[grid.index, grid.columns]
    fig, ax = new_figure((3.5, 2.8))
    image = ax.imshow(grid.to_numpy(float), cmap="viridis", aspect="auto", origin="lower")
    low, high = image.get_clim()
    for (i, j), v in np.ndenumerate(grid.to_numpy(float)):
        bright = (v - low) / (high - low) > 0.6 if high > low else False
        ax.text(
            j,
            i,
            f"{v:.2f}\n({share.iat[i, j]:.0%})",
            ha="center",
            va="center",
            color="black" if bright else "white",
        )
    ax.set_xticks(range(grid.shape[1]), [f"{s:g}" for s in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{lam:g}" for lam in grid.index])
    ax.set_xlabel("resistance scale (× every resistance)")
    ax.set_ylabel("penalty weight λ (log-odds per cost unit)")
    ax.set_title(f"K = {k}; in brackets: share of people changed", loc="left")
    ax.spines[:].set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    label = gain_label(description, "mean verified gain", stacked=True)
    bar.set_label(label if value == "mean_gain_logit" else pretty(value))
    return fig
