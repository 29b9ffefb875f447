"""The house style of every figure: sizes for a journal page, fonts of at least
8 pt, colours safe for colour-vision deficiencies, shared labels and helpers, and
:func:`save_figure` (PNG and SVG, each written whole or not at all).
"""

from __future__ import annotations

import functools
import io
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


def identity_scatter(
    ax: Axes, x: np.ndarray, y: np.ndarray, marked: np.ndarray, labels: tuple[str, str]
) -> None:
    """y against x on equal axes with the line y = x; ``marked`` points drawn apart."""
    for mask, label, style in (
        (~marked, labels[0], {"s": 10, "alpha": 0.6, "color": COLOURS[0]}),
        (marked, labels[1], {"s": 12, "alpha": 0.8, "color": COLOURS[1], "marker": "^"}),
    ):
        ax.scatter(
            x[mask], y[mask], linewidths=0, label=f"{label} (n = {int(mask.sum())})", **style
        )
    lo = float(min(np.min(x, initial=0.0), np.min(y, initial=0.0)))
    hi = float(max(np.max(x, initial=1.0), np.max(y, initial=1.0)))
    pad = 0.05 * (hi - lo)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=GREY, linewidth=0.8, label="y = x")
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
