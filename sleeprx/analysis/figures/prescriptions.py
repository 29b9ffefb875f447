"""Figures of a population's prescriptions: how many changes, which factors, and
the surrogate's promise against the verified gain."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sleeprx.analysis.figures.style import (
    COLOURS,
    captioned,
    counted_scatter,
    gain_label,
    identity_line,
    new_figure,
    rows_height,
    styled,
)
from sleeprx.prescribing.columns import after, before, levers_in
from sleeprx.prescribing.status import Status
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import factor_label, join_phrases, positive_label, wrap_label


def _factor_pairs(table: pd.DataFrame) -> list[str]:
    """Names with ``_before`` and ``_after`` columns: the factors of a prescriptions table."""
    return levers_in(table.columns)


def _valid(prescriptions: pd.DataFrame) -> pd.DataFrame:
    return prescriptions[prescriptions["status"].ne(Status.ERROR)]


@styled
def changes_histogram(prescriptions: pd.DataFrame) -> Figure:
    """How many factors each person is asked to change (people with an error excluded)."""
    valid = _valid(prescriptions)
    counts = valid["n_changes"].fillna(0).astype(int).value_counts().sort_index()
    full = range(0, max(int(counts.index.max()) if len(counts) else 0, 2) + 1)
    counts = counts.reindex(full, fill_value=0)
    fig, ax = new_figure()
    bars = ax.bar(counts.index, counts.to_numpy(), color=COLOURS[0], width=0.7)
    ax.bar_label(bars, labels=[f"{c}" for c in counts], padding=2)
    ax.set_xticks(list(counts.index))
    ax.set_xlabel("factors changed in the prescription")
    ax.set_ylabel("people")
    ax.set_ylim(top=max(counts.max(), 1) * 1.15)
    return captioned(
        fig,
        "How many levers each prescription changes",
        f"People by the number of levers their prescription changes (0: no change), of "
        f"the {len(valid)} with a valid answer.",
    )


@styled
def factor_share_figure(
    prescriptions: pd.DataFrame,
    *,
    factors: Sequence[str] | None = None,
    description: SurveyDescription | None = None,
    unused: Sequence[str] = (),
) -> Figure:
    """Share of people whose prescription raises or lowers each modifiable factor.

    ``factors`` defaults to every ``<name>_before`` / ``<name>_after`` column pair of
    the table other than the probabilities ``p_before`` / ``p_after``. Rows are
    labelled with the description's labels (wrapped when long); the figure grows with
    the number of factors. A clock-time lever's decrease is an earlier time.
    ``unused`` names the levers the model never uses (every SHAP value 0): their 0% is
    marked as such, not left to look like a finding.
    """
    valid = _valid(prescriptions)
    names = list(factors) if factors is not None else _factor_pairs(valid)
    n = max(len(valid), 1)
    delta = {m: valid[after(m)] - valid[before(m)] for m in names}
    up = pd.Series({m: float((d > 1e-9).sum()) / n for m, d in delta.items()})
    down = pd.Series({m: float((d < -1e-9).sum()) / n for m, d in delta.items()})
    order = (up + down).sort_values(kind="stable").index
    clock = description is not None and any(
        f.clock_origin for f in description.modifiable if f.column in names
    )
    rise, fall = ("increase / later", "decrease / earlier") if clock else ("increase", "decrease")
    labels = [wrap_label(factor_label(description, m), 24) for m in order]
    fig, ax = new_figure((3.5, rows_height(labels, 0.3) + 1.3))
    y = np.arange(len(order))
    ax.barh(y, 100 * up[order], color=COLOURS[2], label=rise, height=0.6)
    ax.barh(y, 100 * down[order], left=100 * up[order], color=COLOURS[5], label=fall, height=0.6)
    unused = set(unused)
    for yi, name, total in zip(y, order, up[order] + down[order], strict=True):
        unused_note = " (not used by the model)" if name in unused else " (never prescribed)"
        note = "" if total > 0 else unused_note
        ax.annotate(
            f"{total:.0%}{note}",
            (100 * total, yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            annotation_clip=False,
        )
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(order) - 0.4)
    # room for the largest bar's label, not a fixed 100%: a 35% bar fills the axis
    widest = 100 * float((up + down).max()) if len(names) else 0.0
    ax.set_xlim(0, max(10.0, 1.3 * widest))
    ax.set_xlabel(f"people prescribed a change (%)\nof n = {len(valid)}")
    ax.set_ylabel("modifiable factor")
    fig.legend(loc="outside lower center", ncols=2, handlelength=1.2)
    never = [factor_label(description, m) for m in order if up[m] + down[m] == 0]
    unused_words = [factor_label(description, m) for m in order if m in unused]
    notes = ""
    if never:
        notes += f" Never prescribed: {join_phrases(never)}."
    if unused_words:
        notes += (
            f" The model never splits on {join_phrases(unused_words)} (every SHAP value is"
            " 0), so no change of them can move its prediction."
        )
    return captioned(
        fig,
        "Which levers the prescriptions change",
        f"The share of the {len(valid)} people with a valid answer whose prescription "
        f"raises (green) or lowers (orange) each lever.{notes}",
    )


@styled
def surrogate_vs_verified_figure(
    prescriptions: pd.DataFrame, *, description: SurveyDescription | None = None
) -> Figure:
    """The surrogate's planned gain against the real model's, for every change made.

    Points on the line y = x are prescriptions the real model agrees with exactly;
    points flagged ``model_disagrees`` are drawn in orange.
    """
    rows = prescriptions[prescriptions["status"].isin([Status.CHANGED, Status.TIME_LIMIT])]
    rows = rows.dropna(subset=["gain_surrogate", "gain_logit"])
    flagged = rows.get("model_disagrees", pd.Series(False, index=rows.index))
    flagged = flagged.astype(str).str.lower().eq("true")
    fig, ax = new_figure((3.5, 3.6))
    x, y = rows["gain_surrogate"].to_numpy(float), rows["gain_logit"].to_numpy(float)
    marked = flagged.to_numpy()
    handles = counted_scatter(ax, x, y, marked, ("agrees", "model disagrees"))
    identity_line(ax, x, y)
    ax.set_xlabel(gain_label(description, "surrogate gain", stacked=True))
    ax.set_ylabel(gain_label(description, stacked=True))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, handlelength=1.0)
    return captioned(
        fig,
        "The surrogate's promise against the real model (diagnostic)",
        f"Every change prescribed ({len(rows)}): the gain in log-odds of "
        f"{positive_label(description)} the SHAP surrogate planned (x) against the real "
        "model's (y); on the line they agree. Orange: changes the model does not bear "
        "out (model_disagrees). Circles merge people at the same place, their area "
        "growing with their number.",
    )
