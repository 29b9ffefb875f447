"""The house style of every figure: sizes for a journal page, fonts of at least
8 pt, colours safe for colour-vision deficiencies, shared labels and helpers, and
:func:`save_figure` (PNG and SVG, each written whole or not at all).
"""

from __future__ import annotations

import functools
import io
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import positive_label, wrap_label
from sleeprx.utils.files import atomic_write_bytes

#: Figure sizes in inches: one journal column, and the full page width.
SINGLE: tuple[float, float] = (3.5, 2.6)
DOUBLE: tuple[float, float] = (7.0, 3.0)

STYLE = {
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
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
GREY = "#7f7f7f"

INTENSITY_LABEL = "intensity budget B, Σ|change|/step (grid steps)"
#: How an interval over the bootstrap refits is named in legends and captions.
REFIT_RANGE = "10th–90th percentile over the {n} refitted models"
K_LABEL = "most factors changed, K"

P = ParamSpec("P")


def styled(make: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure inside the house style, without touching global rcParams."""

    @functools.wraps(make)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with mpl.rc_context(STYLE):
            return make(*args, **kwargs)

    return wrapper


def new_figure(size: tuple[float, float] = SINGLE) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def captioned(fig: Figure, title: str, caption: str) -> Figure:
    """Give ``fig`` its title (drawn above the axes) and its caption (kept with the
    figure as its label, for ``summary.md`` and ``figures/captions.json``: a caption
    belongs under the figure in the text, not inside the image)."""
    # wrapped to the figure's width: constrained layout makes room above, not beside
    width = max(20, int(fig.get_figwidth() * 11))
    text = "\n".join(textwrap.wrap(title, width, break_long_words=False))
    fig.suptitle(text, x=0.01, ha="left", fontsize=STYLE["axes.titlesize"], fontweight="bold")
    fig.set_label(" ".join(caption.split()))
    return fig


def title_of(fig: Figure) -> str:
    """The title :func:`captioned` gave ``fig``, on one line (empty without one)."""
    return " ".join(fig.get_suptitle().split())


def caption_of(fig: Figure) -> str:
    """The caption :func:`captioned` gave ``fig`` (empty without one)."""
    return fig.get_label()


def chance_label(description: SurveyDescription | None, when: str = "") -> str:
    """``chance of good sleep (%)``: the probability of the positive outcome, in percent."""
    words = f"chance of {positive_label(description)}"
    return f"{words} {when} (%)" if when else f"{words} (%)"


def pretty(name: str) -> str:
    return name.replace("_", " ")


def gain_label(
    description: SurveyDescription | None, what: str = "verified gain", *, stacked: bool = False
) -> str:
    """``verified gain (Δ log-odds of good sleep)``, in the description's positive class;
    ``stacked`` puts the bracket on lines of its own (a narrow axis)."""
    odds = f"(Δ log-odds of {positive_label(description)})"
    return f"{what}\n{wrap_label(odds, 30)}" if stacked else f"{what} {odds}"


def factor_names(table: pd.DataFrame, prefix: str = "", suffix: str = "") -> list[str]:
    """Factor names found as ``<prefix><name><suffix>`` columns, in column order."""
    end = len(suffix) or None
    return [
        c[len(prefix) : -end if end else None]
        for c in table.columns
        if c.startswith(prefix) and c.endswith(suffix) and len(c) > len(prefix) + len(suffix)
    ]


def counted_points(x: np.ndarray, y: np.ndarray, *, cells: int = 120) -> pd.DataFrame:
    """Points that fall in the same cell of a ``cells`` x ``cells`` grid over their
    range merged into one, with how many they are (``x``, ``y``, ``n``): drawn with an
    area that grows with ``n``, no point hides under another."""
    if len(x) == 0:
        return pd.DataFrame({"x": [], "y": [], "n": []})
    span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-9)
    key = pd.DataFrame({"i": np.round(x / span * cells), "j": np.round(y / span * cells)})
    frame = pd.DataFrame({"x": x, "y": y}).groupby([key["i"], key["j"]])
    return frame.agg(x=("x", "mean"), y=("y", "mean"), n=("x", "size")).reset_index(drop=True)


def counted_scatter(
    ax: Axes, x: np.ndarray, y: np.ndarray, marked: np.ndarray, labels: tuple[str, str]
) -> list:
    """``marked`` and unmarked points as :func:`counted_points` circles (open, so
    overlapping ones stay visible); returns legend handles, with the counts."""
    handles = []
    largest = 1
    groups = []
    for mask, label, colour in ((~marked, labels[0], COLOURS[0]), (marked, labels[1], COLOURS[5])):
        points = counted_points(x[mask], y[mask])
        largest = max(largest, int(points["n"].max()) if len(points) else 1)
        groups.append((points, label, colour, int(mask.sum())))
    for points, label, colour, n in groups:
        ax.scatter(
            points["x"],
            points["y"],
            s=_area(points["n"].to_numpy(float), largest),
            facecolors="none",
            edgecolors=colour,
            linewidths=0.8,
            zorder=3,
        )
        handles.append(
            mpl.lines.Line2D(
                [],
                [],
                color=colour,
                marker="o",
                mfc="none",
                linestyle="",
                label=f"{label} (n = {n})",
            )
        )
    for n in sorted({1, max(largest // 2, 1), largest}):
        handles.append(
            ax.scatter(
                [],
                [],
                s=_area(np.array([n]), largest),
                facecolors="none",
                edgecolors=GREY,
                label=f"{n} {'person' if n == 1 else 'people'}",
            )
        )
    return handles


def _area(n: np.ndarray, largest: int) -> np.ndarray:
    """Marker area for a count: 8 pt² for one person, up to 160 for the most."""
    return 8 + 152 * np.sqrt((n - 1) / max(largest - 1, 1))


def identity_line(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    """Equal axes over the data with the line y = x."""
    lo = float(min(np.min(x, initial=0.0), np.min(y, initial=0.0)))
    hi = float(max(np.max(x, initial=1.0), np.max(y, initial=1.0)))
    pad = 0.06 * (hi - lo)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=GREY, linewidth=0.8, zorder=1)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 200) -> list[Path]:
    """Write ``fig`` to ``<path>.png`` (``dpi``) and ``<path>.svg``; return both paths.

    ``path`` has no suffix; each file is written whole or not at all.
    """
    base = Path(path)
    written = []
    with mpl.rc_context(STYLE):
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=suffix, dpi=dpi)
            target = base.parent / f"{base.name}.{suffix}"
            written.append(atomic_write_bytes(target, buffer.getvalue()))
    return written


def rows_height(labels: Sequence[str], least: float) -> float:
    """Inches for rows of tick labels: ``least`` per row, more for labels of many lines
    (8 pt text is about 0.14 in a line), so wrapped labels never run into each other."""
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    return len(labels) * max(least, 0.14 * lines + 0.1)
