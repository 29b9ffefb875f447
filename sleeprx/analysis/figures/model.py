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
    captioned,
    counted_scatter,
    factor_names,
    new_figure,
    pretty,
    rows_height,
    styled,
)
from sleeprx.learn.explain import Explanation
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.display import (
    clock_time,
    factor_label,
    format_range,
    positive_label,
    wrap_label,
)
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
    fig, ax = new_figure((5.0, rows_height(labels, 0.5) + 1.5))
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
    positive = positive_label(description)
    clocks = _clock_levers(description, list(order))
    clock_note = (
        f" {clocks} are clock times; a range ending '(next day)' runs past midnight."
        if clocks
        else ""
    )
    return captioned(
        fig,
        "What the model makes of each lever (SHAP, diagnostic)",
        f"One dot per person: the lever's SHAP value, its push on the model's log-odds "
        f"of {positive} (right: towards it), coloured by the person's answer from the "
        f"lowest (blue) to the highest (red) in the survey, whose range is under each "
        f"label. Rows are ordered by mean |SHAP|.{clock_note}",
    )


def _clock_levers(description: SurveyDescription | None, names: list[str]) -> str:
    """The clock-time levers among ``names``, in words (empty without any)."""
    if description is None:
        return ""
    found = [f.label for f in description.modifiable if f.column in names and f.clock_origin]
    return ", ".join(found).capitalize()


def _clock_range(origin: str, low: float, high: float) -> str:
    """``21:00–02:00 (next day)``: a clock-time range whose end is past midnight says
    so, since ``19:45–11:00`` alone reads as a range running backwards."""
    start_hour = int(origin.split(":")[0]) + int(origin.split(":")[1]) / 60
    text = f"{clock_time(origin, low)}–{clock_time(origin, high)}"
    return f"{text} (next day)" if start_hour + high >= 24 > start_hour + low else text


def _shap_row_label(
    description: SurveyDescription | None, name: str, value: pd.Series, importance: float
) -> str:
    """``physical activity`` / ``30–90 min/day`` / ``mean |SHAP| 0.21``, wrapped."""
    factor = None
    if description is not None:
        factor = next((f for f in description.modifiable if f.column == name), None)
    lines = [wrap_label(factor_label(description, name), 30)]
    if len(value) and factor is not None and factor.clock_origin:
        lines.append(_clock_range(factor.clock_origin, value.min(), value.max()))
    elif len(value):
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
    maximises it, so the loss (exact's objective less the surrogate's, on the y-axis)
    is never negative: it is the loss of trusting the SHAP surrogate
    (:func:`sleeprx.analysis.fidelity.fidelity_report`).
    """
    x = fidelity["objective_surrogate"].to_numpy(float)
    loss = fidelity["objective_exact"].to_numpy(float) - x
    differ = fidelity["differ"].astype(str).str.lower().eq("true").to_numpy()
    fig, ax = new_figure((3.5, 3.4))
    handles = counted_scatter(ax, x, loss, differ, ("same prescription", "different"))
    ax.axhline(0, color=GREY, linewidth=0.8, zorder=1)
    ax.set_ylim(bottom=min(-0.02, float(np.min(loss, initial=0.0))) * 1.1)
    odds = f"Δ log-odds of {positive_label(description)}"
    ax.set_xlabel(wrap_label(f"surrogate prescription's true objective (real {odds} − λ·cost)", 45))
    ax.set_ylabel(wrap_label("loss: exact mode's true objective − the surrogate's", 30))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, handlelength=1.0)
    return captioned(
        fig,
        "What trusting the SHAP surrogate loses (diagnostic)",
        f"Each person's true objective (the real model's {odds} minus λ·cost) under the "
        "surrogate's prescription (x), and how much exact mode, which maximises it, "
        "gains over it (y, never below 0). Both without the minimum gain. Orange: the "
        f"two modes prescribe differently ({int(differ.sum())} of {len(x)}); circles merge "
        "people at the same place, their area growing with their number.",
    )


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
    return captioned(
        fig,
        "Calibration of the model (diagnostic)",
        "The observed share with the outcome against the mean predicted probability in "
        "each of 10 equal-width bins, out of fold, before and after the calibration map; "
        "marker area grows with the people in the bin; on the dashed diagonal the "
        "probabilities are exact. The legend gives each stage's ECE and Brier score.",
    )


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
