"""Figures for the paper: every function returns a matplotlib Figure and shows nothing.

Figures are built on :class:`matplotlib.figure.Figure` directly, without pyplot, so
they need no display, hold no global state and are freed with their last reference.
They are sized for a journal page (:data:`SINGLE` column, :data:`DOUBLE` column) with
fonts of at least 8 pt; :func:`save_figure` writes each one as PNG (200 dpi) and SVG.

Inputs are the tables a run writes (see :func:`plot_all`):

``prescriptions.csv``  :func:`sleeprx.prescriptions.prescribe`'s table
``pareto.csv``         :func:`sleeprx.analysis.fronts.person_fronts`'s table
``sensitivity.csv``    :func:`sleeprx.analysis.sensitivity.sensitivity`'s table
``shap_modifiable.csv`` :func:`shap_table`: one row per person with ``person_id``,
                       ``shap_<factor>`` (the factor's SHAP value, log-odds) and
                       ``value_<factor>`` (the factor's value) for every modifiable factor
``model/meta.json``    the model's survey description (key ``description``): labels,
                       units, clock times and the positive class of every figure

Every figure takes ``description`` (a :class:`~sleeprx.learn.survey.SurveyDescription`,
or None): axis titles, tick labels and legends use its labels, units and positive
class (:mod:`sleeprx.display`); without one they fall back to the column names.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..display import factor_label, format_range, positive_label, wrap_label
from ..errors import ArtifactError, DescriptionError
from ..files import atomic_write_bytes
from ..learn.explain import Explanation
from ..learn.survey import SurveyDescription, description_from_dict
from .fronts import knee, non_dominated, population_curve

__all__ = [
    "DOUBLE",
    "SINGLE",
    "changes_histogram",
    "factor_share_figure",
    "fidelity_figure",
    "k_curve_figure",
    "person_fronts_figure",
    "plot_all",
    "population_pareto_figure",
    "probability_curve_figure",
    "read_run_description",
    "reliability_figure",
    "save_figure",
    "sensitivity_heatmap",
    "shap_summary_figure",
    "shap_table",
    "surrogate_vs_verified_figure",
]

#: Figure sizes in inches: one journal column, and the full page width.
SINGLE: tuple[float, float] = (3.5, 2.6)
DOUBLE: tuple[float, float] = (7.0, 3.0)

_STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "svg.fonttype": "none",  # keep text as text in the SVG, editable for the journal
}
# Okabe-Ito: distinguishable with the common colour-vision deficiencies
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
_GREY = "#7f7f7f"

INTENSITY_LABEL = "intensity budget B, Σ|change|/step (grid steps)"
K_LABEL = "most factors changed, K"

P = ParamSpec("P")


def _styled(make: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure inside the house style, without touching global rcParams."""

    @functools.wraps(make)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with mpl.rc_context(_STYLE):
            return make(*args, **kwargs)

    return wrapper


def _new(size: tuple[float, float] = SINGLE) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _pretty(name: str) -> str:
    return name.replace("_", " ")


def _gain_label(
    description: SurveyDescription | None, what: str = "verified gain", *, stacked: bool = False
) -> str:
    """``verified gain (Δ log-odds of good sleep)``, in the description's positive class;
    ``stacked`` puts the bracket on lines of its own (a narrow axis)."""
    odds = f"(Δ log-odds of {positive_label(description)})"
    return f"{what}\n{wrap_label(odds, 30)}" if stacked else f"{what} {odds}"


def _factors(table: pd.DataFrame, prefix: str = "", suffix: str = "") -> list[str]:
    """Factor names found as ``<prefix><name><suffix>`` columns, in column order."""
    end = len(suffix) or None
    return [
        c[len(prefix) : -end if end else None]
        for c in table.columns
        if c.startswith(prefix) and c.endswith(suffix) and len(c) > len(prefix) + len(suffix)
    ]


# ------------------------------------------------------------------------- Pareto


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
        color=_GREY,
        linestyle="--",
        marker=".",
        label="mean, SHAP surrogate",
    )


@_styled
def population_pareto_figure(
    fronts: pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """The population's verified gain against the intensity budget, with its knee.

    Mean and median over people of the real model's gain at each budget, the
    interquartile band, and the surrogate's mean for comparison. ``fronts`` is
    :func:`sleeprx.analysis.fronts.person_fronts`'s table.
    """
    curve = population_curve(fronts, by="budget")
    fig, ax = _new()
    x = curve["budget"].to_numpy(float)
    _band_and_means(ax, x, curve, _COLOURS[0], median=True)
    if len(curve) >= 3:
        k = knee(x, curve["mean_gain_verified"].to_numpy(float))
        ax.plot(k.x, k.y, marker="o", markersize=8, mfc="none", color=_COLOURS[5])
        ax.annotate(
            f"knee, B = {k.x:g}",
            (k.x, k.y),
            xytext=(6, -14),
            textcoords="offset points",
            color=_COLOURS[5],
        )
    ax.set_xlabel(INTENSITY_LABEL)
    ax.set_ylabel(_gain_label(description, stacked=True))
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(curve["q25_gain_verified"]))))
    ax.legend(loc="upper left", handlelength=1.6)
    return fig


@_styled
def k_curve_figure(fronts: pd.DataFrame, *, description: SurveyDescription | None = None) -> Figure:
    """Mean verified gain against the most factors changed, K, with marginal gains.

    Each step is annotated with the rise of the mean from the previous K. The same
    curve on the probability scale is :func:`probability_curve_figure`.
    """
    curve = population_curve(fronts, by="k")
    fig, ax = _new()
    x = curve["k"].to_numpy(int)
    _band_and_means(ax, x, curve, _COLOURS[2], median=False)
    steps = zip(x[1:], curve["mean_gain_verified"][1:], curve["marginal_gain"][1:], strict=True)
    for xi, yi, step in steps:
        ax.annotate(
            f"{step:+.2f}",
            (xi, yi),
            xytext=(0, -12),
            textcoords="offset points",
            ha="center",
            color=_COLOURS[2],
        )
    ax.set_xticks(x)
    ax.set_xlabel(K_LABEL)
    ax.set_ylabel(_gain_label(description, stacked=True))
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(curve["q25_gain_verified"]))))
    ax.legend(loc="upper left", handlelength=1.6)
    ax.text(
        0.98,
        0.04,
        "labels: rise of the mean from K − 1",
        transform=ax.transAxes,
        ha="right",
        color=_GREY,
    )
    return fig


@_styled
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
            ax.plot(x, 100 * curve[column], linestyle=style, marker="o", color=_COLOURS[0])
            ax.plot(x, 100 * curve[before], linestyle=style, color=_GREY, linewidth=0.8)
        last = curve.iloc[-1]
        ax.annotate(
            f"{100 * last['rise_share_positive']:+.0f} points",
            (x[-1], 100 * last["share_predicted_positive"]),
            xytext=(0, 6),
            textcoords="offset points",
            ha="right",
            color=_COLOURS[0],
        )
        if by == "k":
            ax.set_xticks(x)
        ax.set_xlabel(K_LABEL if by == "k" else wrap_label(INTENSITY_LABEL, 32))
    who = f"predicted to have {wrap_label(positive, 24)}"
    axes[0].set_ylabel(f"{who}:\nshare of people, mean p (%)")
    axes[0].set_ylim(0, 100)
    handles = [
        mpl.lines.Line2D([], [], color=_COLOURS[0], marker="o", label="after: share, p ≥ 0.5"),
        mpl.lines.Line2D(
            [], [], color=_COLOURS[0], marker="o", linestyle="--", label="after: mean p"
        ),
        mpl.lines.Line2D([], [], color=_GREY, linewidth=0.8, label="before (solid, dashed)"),
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


@_styled
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
    fig, ax = _new((3.5, 3.0))
    ax.plot([], [], "-", color=_GREY, label="planned (program)")
    ax.plot([], [], "o", mfc="none", color=_GREY, label="verified (real model)")
    for colour, pid in zip(itertools.cycle(_COLOURS), ids):
        rows = front[front["person_id"].eq(pid)].sort_values("intensity")
        if rows.empty:  # every solve failed for this person: nothing to draw
            continue
        x = np.append(rows["intensity"].to_numpy(float), max(top, rows["intensity"].max()))
        y = np.append(rows["gain_planned"].to_numpy(float), rows["gain_planned"].iloc[-1])
        ax.plot(x, y, drawstyle="steps-post", color=colour, label=f"person {pid}")
        ax.plot(rows["intensity"], rows["gain_planned"], "o", color=colour, markersize=3)
        ax.plot(rows["intensity"], rows["gain_verified"], "o", mfc="none", color=colour)
    ax.set_xlabel("intensity, Σ|change|/step (grid steps)")
    ax.set_ylabel(_gain_label(description, "gain", stacked=True))
    ax.set_xlim(left=0)
    fig.legend(loc="outside upper center", ncols=2, handlelength=1.4, columnspacing=1.0)
    return fig


@_styled
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
    fig, ax = _new((3.5, 2.8))
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
    label = _gain_label(description, "mean verified gain", stacked=True)
    bar.set_label(label if value == "mean_gain_logit" else _pretty(value))
    return fig


# ------------------------------------------------------------------ prescriptions


def _rows_height(labels: Sequence[str], least: float) -> float:
    """Inches for rows of tick labels: ``least`` per row, more for labels of many lines
    (8 pt text is about 0.14 in a line), so wrapped labels never run into each other."""
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    return len(labels) * max(least, 0.14 * lines + 0.1)


def _factor_pairs(table: pd.DataFrame) -> list[str]:
    """Names with ``_before`` and ``_after`` columns: the factors of a prescriptions table."""
    pairs = [n for n in _factors(table, suffix="_before") if f"{n}_after" in table.columns]
    return [n for n in pairs if n != "p"]


def _valid(prescriptions: pd.DataFrame) -> pd.DataFrame:
    return prescriptions[prescriptions["status"].ne("error")]


@_styled
def changes_histogram(prescriptions: pd.DataFrame) -> Figure:
    """How many factors each person is asked to change (people with an error excluded)."""
    valid = _valid(prescriptions)
    counts = valid["n_changes"].fillna(0).astype(int).value_counts().sort_index()
    full = range(0, max(int(counts.index.max()) if len(counts) else 0, 2) + 1)
    counts = counts.reindex(full, fill_value=0)
    fig, ax = _new()
    bars = ax.bar(counts.index, counts.to_numpy(), color=_COLOURS[0], width=0.7)
    ax.bar_label(bars, labels=[f"{c}" for c in counts], padding=2)
    ax.set_xticks(list(counts.index))
    ax.set_xlabel("factors changed in the prescription")
    ax.set_ylabel("people")
    ax.set_ylim(top=max(counts.max(), 1) * 1.15)
    return fig


@_styled
def factor_share_figure(
    prescriptions: pd.DataFrame,
    *,
    factors: Sequence[str] | None = None,
    description: SurveyDescription | None = None,
) -> Figure:
    """Share of people whose prescription raises or lowers each modifiable factor.

    ``factors`` defaults to every ``<name>_before`` / ``<name>_after`` column pair of
    the table other than the probabilities ``p_before`` / ``p_after``. Rows are
    labelled with the description's labels (wrapped when long); the figure grows with
    the number of factors. A clock-time lever's decrease is an earlier time.
    """
    valid = _valid(prescriptions)
    names = list(factors) if factors is not None else _factor_pairs(valid)
    n = max(len(valid), 1)
    delta = {m: valid[f"{m}_after"] - valid[f"{m}_before"] for m in names}
    up = pd.Series({m: float((d > 1e-9).sum()) / n for m, d in delta.items()})
    down = pd.Series({m: float((d < -1e-9).sum()) / n for m, d in delta.items()})
    order = (up + down).sort_values(kind="stable").index
    clock = description is not None and any(
        f.clock_origin for f in description.modifiable if f.column in names
    )
    rise, fall = ("increase / later", "decrease / earlier") if clock else ("increase", "decrease")
    labels = [wrap_label(factor_label(description, m), 24) for m in order]
    fig, ax = _new((3.5, _rows_height(labels, 0.3) + 1.3))
    y = np.arange(len(order))
    ax.barh(y, 100 * up[order], color=_COLOURS[2], label=rise, height=0.6)
    ax.barh(
        y,
        100 * down[order],
        left=100 * up[order],
        color=_COLOURS[5],
        label=fall,
        height=0.6,
    )
    for yi, total in zip(y, up[order] + down[order], strict=True):
        ax.annotate(
            f"{total:.0%}",
            (100 * total, yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            annotation_clip=False,
        )
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlim(0, 112)  # room for a label of 100%
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel(f"people prescribed a change (%)\nof n = {len(valid)}")
    ax.set_ylabel("modifiable factor")
    fig.legend(loc="outside upper center", ncols=2, handlelength=1.2)
    return fig


def _identity_scatter(
    ax: Axes, x: np.ndarray, y: np.ndarray, marked: np.ndarray, labels: tuple[str, str]
) -> None:
    """y against x on equal axes with the line y = x; ``marked`` points drawn apart."""
    for mask, label, style in (
        (~marked, labels[0], {"s": 10, "alpha": 0.6, "color": _COLOURS[0]}),
        (marked, labels[1], {"s": 12, "alpha": 0.8, "color": _COLOURS[1], "marker": "^"}),
    ):
        ax.scatter(
            x[mask], y[mask], linewidths=0, label=f"{label} (n = {int(mask.sum())})", **style
        )
    lo = float(min(np.min(x, initial=0.0), np.min(y, initial=0.0)))
    hi = float(max(np.max(x, initial=1.0), np.max(y, initial=1.0)))
    pad = 0.05 * (hi - lo)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=_GREY, linewidth=0.8, label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")


@_styled
def surrogate_vs_verified_figure(
    prescriptions: pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """The surrogate's planned gain against the real model's, for every change made.

    Points on the line y = x are prescriptions the real model agrees with exactly;
    points flagged ``model_disagrees`` are drawn in orange.
    """
    rows = prescriptions[prescriptions["status"].isin(["changed", "time_limit"])]
    rows = rows.dropna(subset=["gain_surrogate", "gain_logit"])
    flagged = rows.get("model_disagrees", pd.Series(False, index=rows.index))
    flagged = flagged.astype(str).str.lower().eq("true")
    fig, ax = _new((3.5, 3.0))
    _identity_scatter(
        ax,
        rows["gain_surrogate"].to_numpy(float),
        rows["gain_logit"].to_numpy(float),
        flagged.to_numpy(),
        ("agrees", "model disagrees"),
    )
    ax.set_xlabel(_gain_label(description, "surrogate gain"))
    ax.set_ylabel(_gain_label(description))
    ax.legend(loc="upper left", handlelength=1.2)
    return fig


# ------------------------------------------------------------------------- SHAP


def shap_table(explanation: Explanation) -> pd.DataFrame:
    """The modifiable factors' SHAP values and values, the ``shap_modifiable.csv`` format.

    One row per person: ``person_id``, then ``shap_<factor>`` (SHAP value in log-odds)
    and ``value_<factor>`` (the value the model saw) for each modifiable factor.
    """
    names = list(explanation.curves)
    table = pd.DataFrame({"person_id": explanation.shap_values.index.to_numpy()})
    for name in names:
        table[f"shap_{name}"] = explanation.shap_values[name].to_numpy(float)
        table[f"value_{name}"] = explanation.features[name].to_numpy(float)
    return table


def _swarm_offsets(x: np.ndarray, *, bins: int = 60, width: float = 0.38) -> np.ndarray:
    """Vertical offsets that stack points of similar x, like a beeswarm (deterministic)."""
    offsets = np.zeros(len(x))
    if len(x) == 0:
        return offsets
    span = np.ptp(x) or 1.0
    cell = np.floor((x - x.min()) / span * bins).astype(int)
    crowd = np.bincount(cell).max()
    for c in np.unique(cell):
        members = np.flatnonzero(cell == c)
        rank = np.arange(len(members))
        # 0, +1, -1, +2, -2, ... scaled so the fullest bin fills the row
        side = np.where(rank % 2 == 1, 1, -1) * ((rank + 1) // 2)
        offsets[members] = side * (2 * width / max(crowd, 2))
    return offsets


@_styled
def shap_summary_figure(
    shap: Explanation | pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """SHAP summary of the modifiable factors: one beeswarm row per factor.

    Each dot is a person; its position is the factor's SHAP value (log-odds of the
    description's positive class) and its colour the factor's value, scaled from the
    lowest to the highest in the survey; each row's label gives that range in the
    factor's units (clock times for a clock-time lever). Rows are ordered by mean
    |SHAP|, the most important on top; the figure grows with the number of rows.
    Takes an :class:`~sleeprx.learn.explain.Explanation` or a :func:`shap_table`.
    """
    table = shap_table(shap) if isinstance(shap, Explanation) else shap
    names = [n for n in _factors(table, prefix="shap_") if f"value_{n}" in table.columns]
    importance = pd.Series({n: table[f"shap_{n}"].abs().mean() for n in names})
    order = importance.sort_values(kind="stable").index  # least important at the bottom
    labels = [
        _shap_row_label(description, name, table[f"value_{name}"].dropna(), importance[name])
        for name in order
    ]
    fig, ax = _new((4.2, _rows_height(labels, 0.55) + 1.0))
    cmap = mpl.colormaps["coolwarm"]
    image = None
    for row, name in enumerate(order):
        phi = table[f"shap_{name}"].to_numpy(float)
        value = table[f"value_{name}"].to_numpy(float)
        ok = ~np.isnan(phi) & ~np.isnan(value)
        phi, value = phi[ok], value[ok]
        span = np.ptp(value) if len(value) else 0.0
        scaled = (value - value.min()) / span if span > 0 else np.full(len(value), 0.5)
        image = ax.scatter(
            phi,
            row + _swarm_offsets(phi),
            c=scaled,
            cmap=cmap,
            vmin=0,
            vmax=1,
            s=5,
            linewidths=0,
            alpha=0.85,
            rasterized=True,  # hundreds of dots: keep the SVG light
        )
    ax.axvline(0, color=_GREY, linewidth=0.6, zorder=0)
    ax.set_yticks(range(len(order)), labels)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlabel(wrap_label(f"SHAP value (log-odds of {positive_label(description)})", 50))
    ax.set_ylabel("modifiable factor")
    if image is not None:
        # beside the axes, not over them: constrained layout makes room for the bar
        bar = fig.colorbar(image, ax=ax, ticks=[0, 1], aspect=30, pad=0.04, fraction=0.05)
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("factor value (range under each label)")
    return fig


def _shap_row_label(
    description: SurveyDescription | None, name: str, value: pd.Series, importance: float
) -> str:
    """``physical activity`` / ``30–90 min/day`` / ``mean |SHAP| 0.21``, wrapped."""
    factor = None
    if description is not None:
        factor = next((f for f in description.modifiable if f.column == name), None)
    lines = [wrap_label(factor_label(description, name), 22)]
    if len(value):
        lines.append(format_range(factor, value.min(), value.max()))
    lines.append(f"mean |SHAP| {importance:.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- fidelity


@_styled
def fidelity_figure(
    fidelity: pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """Each person's true objective under the surrogate's and exact mode's prescription.

    The true objective is the real model's Δ log-odds minus λ·cost. Exact mode
    maximises it, so no point lies below y = x; the height above the line is the
    loss of trusting the SHAP surrogate (:func:`sleeprx.analysis.fidelity.fidelity_report`).
    """
    x = fidelity["objective_surrogate"].to_numpy(float)
    y = fidelity["objective_exact"].to_numpy(float)
    differ = fidelity["differ"].astype(str).str.lower().eq("true").to_numpy()
    fig, ax = _new((3.5, 3.0))
    _identity_scatter(ax, x, y, differ, ("same prescription", "different"))
    odds = f"Δ log-odds of {positive_label(description)}"
    ax.set_xlabel(f"surrogate prescription: true objective\n(real {odds} − λ·cost)")
    ax.set_ylabel("exact prescription: true objective")
    ax.legend(loc="upper left", handlelength=1.2)
    return fig


# ------------------------------------------------------------------------ output


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 200) -> list[Path]:
    """Write ``fig`` to ``<path>.png`` (``dpi``) and ``<path>.svg``; return both paths.

    ``path`` has no suffix; each file is written whole or not at all.
    """
    base = Path(path)
    written = []
    with mpl.rc_context(_STYLE):
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=suffix, dpi=dpi)
            target = base.parent / f"{base.name}.{suffix}"
            written.append(atomic_write_bytes(target, buffer.getvalue()))
    return written


_RUN_FILES = (
    "prescriptions.csv",
    "pareto.csv",
    "sensitivity.csv",
    "shap_modifiable.csv",
    "fidelity.csv",
)


def read_run_description(run_dir: str | Path) -> SurveyDescription | None:
    """The survey description of a run folder's model (``model/meta.json``, key
    ``description``), or None when the folder has no model."""
    meta = Path(run_dir) / "model" / "meta.json"
    if not meta.is_file():
        return None
    try:
        raw = json.loads(meta.read_text(encoding="utf-8"))["description"]
        return description_from_dict(raw, source=f"{meta} (description)")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{meta}: no readable survey description ({exc!r})") from None
    except DescriptionError as exc:
        raise ArtifactError(str(exc)) from None


def plot_all(
    run_dir: str | Path,
    *,
    show_people: Sequence[int] | None = None,
    description: SurveyDescription | None = None,
) -> list[Path]:
    """Draw every figure the run folder's tables allow into ``run_dir/figures/``.

    Reads whichever of ``prescriptions.csv``, ``pareto.csv``, ``sensitivity.csv``,
    ``shap_modifiable.csv`` and ``fidelity.csv`` exist (see the module docstring) and
    returns the files written. Labels, units and the positive class come from
    ``description``, by default the one in the folder's ``model/meta.json`` (column
    names when there is none). ``show_people`` picks the people of the
    individual-fronts figure.

    Figures: ``n_changes``, ``factor_share``, ``surrogate_vs_verified`` (prescriptions);
    ``pareto_population``, ``pareto_people`` (budget sweep), ``pareto_k`` (K sweep),
    ``pareto_probability`` (either sweep, probability scale); ``sensitivity_k<K>``;
    ``shap_summary``; ``fidelity``.
    """
    run = Path(run_dir)
    present = {name: run / name for name in _RUN_FILES if (run / name).is_file()}
    if not present:
        raise ArtifactError(f"{run}: none of {list(_RUN_FILES)} found; is this a run folder?")
    if description is None:
        description = read_run_description(run)
    labelled = {"description": description}
    out = run / "figures"
    figures: list[tuple[str, Callable[[], Figure]]] = []
    if "prescriptions.csv" in present:
        table = _read(present["prescriptions.csv"])
        figures += [
            ("n_changes", lambda: changes_histogram(table)),
            ("factor_share", lambda: factor_share_figure(table, **labelled)),
            ("surrogate_vs_verified", lambda: surrogate_vs_verified_figure(table, **labelled)),
        ]
    if "pareto.csv" in present:
        fronts = _read(present["pareto.csv"])
        sweeps = set(fronts["sweep"])
        if "budget" in sweeps:
            figures += [
                ("pareto_population", lambda: population_pareto_figure(fronts, **labelled)),
                (
                    "pareto_people",
                    lambda: person_fronts_figure(fronts, show_people, **labelled),
                ),
            ]
        if "k" in sweeps:
            figures.append(("pareto_k", lambda: k_curve_figure(fronts, **labelled)))
        if sweeps & {"budget", "k"}:
            figures.append(
                ("pareto_probability", lambda: probability_curve_figure(fronts, **labelled))
            )
    if "sensitivity.csv" in present:
        sens = _read(present["sensitivity.csv"])
        for k in sorted(sens["k"].unique()):
            make = functools.partial(sensitivity_heatmap, sens, k=int(k), **labelled)
            figures.append((f"sensitivity_k{k}", make))
    if "shap_modifiable.csv" in present:
        shap = _read(present["shap_modifiable.csv"])
        figures.append(("shap_summary", lambda: shap_summary_figure(shap, **labelled)))
    if "fidelity.csv" in present:
        fidelity = _read(present["fidelity.csv"])
        figures.append(("fidelity", lambda: fidelity_figure(fidelity, **labelled)))
    written: list[Path] = []
    for name, make in figures:
        try:
            figure = make()
        except KeyError as exc:  # a table from elsewhere, or from an older sleeprx
            raise ArtifactError(f"{run}: cannot draw {name}: a table lacks column {exc}") from None
        written += save_figure(figure, out / name)
    return written


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not a readable table ({exc})") from None


# ------------------------------------------------------------------- calibration


@_styled
def reliability_figure(metrics_or_table: dict | pd.DataFrame) -> Figure:
    """Reliability diagram: observed rate of the positive outcome against the mean
    predicted probability in each of 10 equal-width bins, before and after the
    cross-validated calibration map, with the diagonal of perfect calibration.

    Takes the metrics of :func:`sleeprx.learn.evaluate.evaluate_models` (or their
    ``calibration`` entry), or a table with columns ``stage`` (before/after),
    ``p_mean``, ``observed`` and ``n``. Marker area grows with the people in the bin.
    """
    eces: dict[str, float] = {}
    names = {"before": "uncalibrated", "after": "calibrated"}
    if isinstance(metrics_or_table, pd.DataFrame):
        table = metrics_or_table
    else:
        summary = metrics_or_table.get("calibration", metrics_or_table)
        rows = [
            {**row, "stage": stage}
            for stage in ("before", "after")
            for row in summary.get(f"reliability_{stage}", [])
        ]
        if not rows:
            raise ArtifactError("no reliability table: the metrics lack 'calibration'")
        table = pd.DataFrame(rows)
        eces = {s: summary[f"ece_{s}"] for s in ("before", "after") if f"ece_{s}" in summary}
        if "model" in summary:
            names = {"before": _pretty(summary["model"]), "after": "calibrated"}
    fig, ax = _new((3.5, 3.2))
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=0.8, label="perfect")
    for colour, stage in zip(_COLOURS, ("before", "after"), strict=False):
        rows = table[table["stage"] == stage].sort_values("p_mean")
        if rows.empty:
            continue
        label = names[stage] + (f" (ECE {eces[stage]:.3f})" if stage in eces else "")
        size = 8 + 60 * rows["n"].to_numpy(float) / max(float(table["n"].max()), 1.0)
        ax.plot(rows["p_mean"], rows["observed"], color=colour, label=label)
        ax.scatter(rows["p_mean"], rows["observed"], s=size, color=colour, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed share with the outcome")
    ax.legend(loc="upper left", handlelength=1.2)
    return fig
