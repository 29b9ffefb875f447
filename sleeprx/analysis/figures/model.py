"""The model's view: the SHAP summary of the modifiable factors, the fidelity of
the surrogate to exact mode, and the reliability diagram of the calibration."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sleeprx.analysis.figures.style import (
    COLOURS,
    GREY,
    factor_names,
    identity_scatter,
    new_figure,
    pretty,
    rows_height,
    styled,
)
from sleeprx.learn.explain import Explanation
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import factor_label, format_range, positive_label, wrap_label
from sleeprx.utils.errors import ArtifactError


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


@styled
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
    names = [n for n in factor_names(table, prefix="shap_") if f"value_{n}" in table.columns]
    importance = pd.Series({n: table[f"shap_{n}"].abs().mean() for n in names})
    order = importance.sort_values(kind="stable").index  # least important at the bottom
    labels = [
        _shap_row_label(description, name, table[f"value_{name}"].dropna(), importance[name])
        for name in order
    ]
    fig, ax = new_figure((4.2, rows_height(labels, 0.55) + 1.0))
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
    ax.axvline(0, color=GREY, linewidth=0.6, zorder=0)
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


@styled
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
    fig, ax = new_figure((3.5, 3.0))
    identity_scatter(ax, x, y, differ, ("same prescription", "different"))
    odds = f"Δ log-odds of {positive_label(description)}"
    ax.set_xlabel(f"surrogate prescription: true objective\n(real {odds} − λ·cost)")
    ax.set_ylabel("exact prescription: true objective")
    ax.legend(loc="upper left", handlelength=1.2)
    return fig


# ------------------------------------------------------------------- calibration


@styled
def reliability_figure(metrics_or_table: dict | pd.DataFrame) -> Figure:
    """Reliability diagram: observed rate of the positive outcome against the mean
    predicted probability in each of 10 equal-width bins, before and after the
    cross-validated calibration map, with the diagonal of perfect calibration.

    Takes the metrics of :func:`sleeprx.learn.evaluate.evaluate_models` (or their
    ``calibration`` entry), or a table with columns ``stage`` (before/after),
    ``p_mean``, ``observed`` and ``n``. Marker area grows with the people in the bin.
    The legend gives each stage's out-of-fold ECE and Brier score, and whether the
    map was kept or the identity (the map did not lower both).
    """
    if isinstance(metrics_or_table, pd.DataFrame):
        table, labels = metrics_or_table, {"before": "uncalibrated", "after": "calibrated"}
    else:
        table, labels = _reliability_rows(metrics_or_table.get("calibration", metrics_or_table))
    fig, ax = new_figure((3.5, 3.2))
    ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=0.8, label="perfect")
    for colour, stage in zip(COLOURS, ("before", "after"), strict=False):
        rows = table[table["stage"] == stage].sort_values("p_mean")
        if rows.empty:
            continue
        size = 8 + 60 * rows["n"].to_numpy(float) / max(float(table["n"].max()), 1.0)
        ax.plot(rows["p_mean"], rows["observed"], color=colour, label=labels[stage])
        ax.scatter(rows["p_mean"], rows["observed"], s=size, color=colour, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed share with the outcome")
    ax.legend(loc="upper left", handlelength=1.2, fontsize="small")
    return fig


def _reliability_rows(summary: dict) -> tuple[pd.DataFrame, dict[str, str]]:
    """The evaluation's reliability tables as one table, and a legend label per stage."""
    rows = [
        {**row, "stage": stage}
        for stage in ("before", "after")
        for row in summary.get(f"reliability_{stage}", [])
    ]
    if not rows:
        raise ArtifactError("no reliability table: the metrics lack 'calibration'")
    names = {"before": pretty(summary.get("model", "uncalibrated")), "after": "calibrated"}
    labels = {}
    for stage, name in names.items():
        scores = [
            f"{label} {summary[key]:.3f}"
            for label, key in (("ECE", f"ece_{stage}"), ("Brier", f"brier_{stage}"))
            if key in summary
        ]
        if stage == "after" and "kept" in summary:
            scores.append(f"{summary['kept']} kept")
        labels[stage] = name + (f" ({', '.join(scores)})" if scores else "")
    return pd.DataFrame(rows), labels
