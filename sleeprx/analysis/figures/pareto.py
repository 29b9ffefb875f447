"""Individual Pareto fronts: a few people's best chance within each intensity budget.

The population curves are in :mod:`.curves`, the sensitivity grid in :mod:`.sensitivity`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sleeprx.analysis.figures.style import (
    COLOURS,
    GREY,
    captioned,
    chance_label,
    new_figure,
    styled,
)
from sleeprx.analysis.fronts import non_dominated
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import positive_label, wrap_label
from sleeprx.utils.errors import ArtifactError

__all__ = ["person_fronts_figure"]

#: Least gap between two people's end labels, as a share of the axis height.
_LABEL_GAP = 0.07


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


def _planned_percent(rows: pd.DataFrame) -> np.ndarray:
    """The program's own estimate of the chance after the change, in percent."""
    p0 = rows["p_before"].to_numpy(float).clip(1e-12, 1 - 1e-12)
    margin = np.log(p0 / (1 - p0)) + rows["gain_planned"].to_numpy(float)
    return 100 / (1 + np.exp(-margin))


def _spread(ends: list[float], gap: float) -> list[float]:
    """Label heights at least ``gap`` apart, in the order of ``ends`` (kept ascending)."""
    order = np.argsort(ends, kind="stable")
    placed = np.asarray(ends, float)[order]
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    out = np.empty_like(placed)
    out[order] = placed
    return out.tolist()


@styled
def person_fronts_figure(
    fronts: pd.DataFrame,
    person_ids: Sequence[int] | None = None,
    *,
    max_people: int = 4,
    description: SurveyDescription | None = None,
) -> Figure:
    """Individual Pareto fronts: the best chance reachable within each intensity.

    Lines are the program's own (planned) chance of the positive outcome on each
    person's non-dominated points of the budget sweep, drawn as steps since the optimum
    only changes at those points; open circles are the real model's chance after the
    same prescriptions. Each line is labelled at its end with the person's id. Without
    ``person_ids``, up to ``max_people`` people spread over the range of gains.
    """
    budget_rows = fronts[fronts["sweep"].eq("budget")]
    chosen = person_ids is not None
    ids = list(person_ids) if chosen else _show_people(fronts, max_people)
    missing = [i for i in ids if i not in set(budget_rows["person_id"])]
    if missing:
        raise ArtifactError(f"person {missing[0]} has no budget sweep in the Pareto table")
    front = non_dominated(budget_rows)
    top = float(budget_rows["budget"].max())
    fig, ax = new_figure((3.5, 3.2))
    ends: list[tuple[str, float, str]] = []
    for colour, pid in zip(itertools.cycle(COLOURS), ids):
        rows = front[front["person_id"].eq(pid)].sort_values("intensity")
        if rows.empty:  # every solve failed for this person: nothing to draw
            continue
        planned = _planned_percent(rows)
        x = np.append(rows["intensity"].to_numpy(float), max(top, rows["intensity"].max()))
        ax.plot(x, np.append(planned, planned[-1]), drawstyle="steps-post", color=colour)
        ax.plot(rows["intensity"], planned, "o", color=colour, markersize=3, clip_on=False)
        verified = 100 * rows["p_after"].to_numpy(float)
        ax.plot(rows["intensity"], verified, "o", mfc="none", color=colour, clip_on=False)
        ends.append((f"person {pid}", float(planned[-1]), colour))
    heights = _spread([e[1] for e in ends], _LABEL_GAP * 104)
    for (label, _, colour), y in zip(ends, heights, strict=True):
        # at the line's end, right of the axes: a legend of ids would take a quarter
        ax.annotate(
            label,
            (top, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            color=colour,
            annotation_clip=False,
        )
    ax.set_xlim(0, top)
    ax.set_ylim(-2, 104)
    ax.set_yticks(range(0, 101, 20))
    ax.set_xlabel("intensity, Σ|change|/step (grid steps)")
    ax.set_ylabel(wrap_label(chance_label(description, "after the change"), 30))
    handles = [
        Line2D([], [], color=GREY, marker="o", markersize=3, label="planned by the program"),
        Line2D([], [], color=GREY, marker="o", mfc="none", linestyle="", label="real model"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, handlelength=1.6)
    who = (
        "the people the pipeline file names (pareto.show_people)"
        if chosen
        else "chosen by the figure to span the range of best gains: among people with at "
        "least three points on their front, the lowest, the highest and evenly between"
    )
    positive = positive_label(description)
    return captioned(
        fig,
        f"{len(ends)} people's best chance of {positive} within each budget",
        f"Each line is one person's Pareto front: the program's planned probability of "
        f"{positive} after the best change of at most the intensity on the x-axis (at 0: "
        "today's answers), drawn as steps since the optimum only changes at the dots; "
        f"open circles are the real model's probability after the same change. The "
        f"people shown are {who}. Without penalty and minimum gain.",
    )
