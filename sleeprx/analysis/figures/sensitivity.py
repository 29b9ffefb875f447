"""The sensitivity grid as lines: the chance of the positive outcome over λ, per K.

λ is drawn on its own scale (the grid's values are not evenly spaced), one line per
resistance scale; K values whose grids are identical share one panel, and every panel
shares one y-axis, so a small difference looks small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sleeprx.analysis.figures.style import (
    COLOURS,
    GREY,
    captioned,
    chance_label,
    styled,
)
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import positive_label, wrap_label
from sleeprx.utils.errors import ArtifactError

__all__ = ["sensitivity_figure", "sensitivity_panels"]

_SHOWN = ("mean_p_after", "share_changed")
#: Colour, marker and dash per resistance scale: equal lines lie on each other, and the
#: markers and dashes keep each one visible.
_STYLES = tuple(
    zip(
        COLOURS,
        (
            {"marker": "o", "linestyle": "-", "markersize": 5},
            {"marker": "s", "linestyle": "--", "markersize": 3.5, "mfc": "none"},
            {"marker": "^", "linestyle": ":", "markersize": 3},
            {"marker": "D", "linestyle": "-.", "markersize": 3, "mfc": "none"},
            {"marker": "v", "linestyle": (0, (1, 1)), "markersize": 3},
        ),
        strict=False,
    )
)


def sensitivity_panels(sensitivity: pd.DataFrame) -> list[list[int]]:
    """The grid's K values, those with identical grids (to 1e-9) in one group, ascending."""
    groups: list[tuple[list[int], np.ndarray]] = []
    for k, rows in sensitivity.groupby("k", sort=True):
        values = rows.sort_values(["lam", "resistance_scale"])[list(_SHOWN)].to_numpy(float)
        for ks, seen in groups:
            if seen.shape == values.shape and np.allclose(seen, values, atol=1e-9, rtol=0):
                ks.append(int(k))
                break
        else:
            groups.append(([int(k)], values))
    return [ks for ks, _ in groups]


def _k_title(ks: list[int]) -> str:
    return f"K = {ks[0]}" if len(ks) == 1 else f"K = {', '.join(map(str, ks))} (identical)"


@styled
def sensitivity_figure(
    sensitivity: pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """Mean chance after the prescriptions (top) and share of people changed (bottom)
    against the penalty weight λ, one line per resistance scale, one column per K."""
    missing = [c for c in (*_SHOWN, "mean_p_before") if c not in sensitivity]
    if missing:
        raise ArtifactError(f"the sensitivity table lacks {missing[0]}; rerun the sweep")
    panels = sensitivity_panels(sensitivity)
    scales = sorted(sensitivity["resistance_scale"].unique())
    width = min(7.0, 1.2 + 1.5 * len(panels))
    fig = Figure(figsize=(width, 3.8), layout="constrained")
    axes = fig.subplots(2, len(panels), sharex=True, sharey="row", squeeze=False)
    before = 100 * float(sensitivity["mean_p_before"].iloc[0])
    lams = sorted(sensitivity["lam"].unique())
    for column, ks in enumerate(panels):
        rows = sensitivity[sensitivity["k"].eq(ks[0])]
        top, bottom = axes[0, column], axes[1, column]
        for (colour, style), scale in zip(_STYLES, scales, strict=False):
            line = rows[rows["resistance_scale"].eq(scale)].sort_values("lam")
            top.plot(line["lam"], 100 * line["mean_p_after"], color=colour, **style)
            bottom.plot(line["lam"], 100 * line["share_changed"], color=colour, **style)
        top.axhline(before, color=GREY, linestyle="--", linewidth=0.9)
        top.set_title(_k_title(ks), loc="left")
        bottom.set_xlabel("penalty weight λ")
        bottom.set_xticks(lams, [f"{v:g}" for v in lams], rotation=90)
    positive = positive_label(description)
    axes[0, 0].set_ylabel(wrap_label(chance_label(description, "after, mean"), 22))
    axes[1, 0].set_ylabel(wrap_label("people prescribed a change (%)", 22))
    # the whole percent range: a difference of a few points looks like one
    axes[0, 0].set_ylim(0, 102)
    axes[1, 0].set_ylim(0, 102)
    handles = [
        Line2D([], [], color=c, label=f"resistance × {s:g}", **style)
        for (c, style), s in zip(_STYLES, scales, strict=False)
    ] + [Line2D([], [], color=GREY, linestyle="--", linewidth=0.9, label="before any change")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    same = [ks for ks in panels if len(ks) > 1]
    note = (
        " K values with the same results share a panel: "
        + "; ".join(", ".join(map(str, ks)) for ks in same)
        + "."
        if same
        else ""
    )
    return captioned(
        fig,
        f"Sensitivity of the prescriptions: chance of {positive} over λ and K",
        f"The prescriptions of the penalised program (no goal) at every point of the "
        f"grid of penalty weight λ (on its own scale), resistance scale (lines) and most "
        f"levers changed K (panels). Top: the real model's mean probability of {positive} "
        "over everybody after their prescription (people told 'no change' keep theirs); "
        "dashed: before any change. Bottom: the share of people told to change something."
        f"{note}",
    )
