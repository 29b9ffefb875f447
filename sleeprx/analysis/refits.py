"""The population curves under the model's bootstrap refits: their intervals and validity.

A Pareto sweep's optima are chosen for the fitted model. Each bootstrap booster
(``ModelSettings.bootstrap``) re-scores the same before- and after-profiles on its own
raw scale (``sigmoid`` of its margin, as :mod:`sleeprx.prescribing.confidence` does), so
every limit of a sweep gets, per refit, the population's mean probability and share
predicted positive. Their 10th and 90th percentiles over the refits are the curve's
interval; ``mean_validity`` is the share of (changed person, refit) pairs in which the
change still raises the probability.

:func:`population_table` joins these to :func:`~sleeprx.analysis.fronts.population_curve`:
the ``population_<sweep>.csv`` tables of a run folder, which the figures read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sleeprx.analysis.fronts import population_curve
from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.robust import REAL_GAIN
from sleeprx.prescribing.columns import after
from sleeprx.prescribing.confidence import HIGH, LOW
from sleeprx.survey.design import SurveyDesign

__all__ = ["after_frame", "population_table", "refit_intervals"]


def after_frame(frame: pd.DataFrame, rows: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The survey rows of ``rows``' people with each lever set to its ``<lever>_after``
    value (a blank after-value is a held lever: the answer stays as it was)."""
    out = frame.loc[rows["person_id"].to_numpy()].copy()
    for name in names:
        new = rows[after(name)].to_numpy(float)
        out[name] = np.where(np.isnan(new), out[name].to_numpy(float), new)
    return out


def refit_intervals(
    model: TrainedModel, frame: pd.DataFrame, fronts: pd.DataFrame, by: str
) -> pd.DataFrame:
    """Per limit of the ``by`` sweep, the spread over the model's refits.

    Columns: ``by``, ``n_refits``, ``mean_p_after_low``/``_high`` and
    ``share_predicted_positive_low``/``_high`` (10th and 90th percentiles over the
    refits of the population's mean probability after the change and of its share
    with probability at least 0.5), the same of ``mean_p_before`` and
    ``share_positive_before``, and ``mean_validity``. Empty without refits.
    """
    refits = [b.booster for b in model.bootstraps]
    rows = fronts[fronts["sweep"].eq(by) & fronts["gain_verified"].notna()]
    if not refits or rows.empty:
        return pd.DataFrame(columns=[by])
    names = model.description.modifiable_names
    # each person's answers are scored once, then spread over their rows of the sweep
    people, where = np.unique(rows["person_id"].to_numpy(), return_inverse=True)
    x0 = model.encode(frame.loc[people]).to_numpy(np.float32)
    x1 = model.encode(after_frame(frame, rows, names)).to_numpy(np.float32)
    m0 = _margins(refits, x0)[where]  # rows x refits
    m1 = _margins(refits, x1)
    limit = rows[by].to_numpy()
    changed = rows["n_changes"].fillna(0).to_numpy(float) > 0
    out = []
    for value in np.unique(limit):
        here = limit == value
        record = {by: value, "n_refits": len(refits)}
        for name, margins in (("after", m1[here]), ("before", m0[here])):
            p = 1.0 / (1.0 + np.exp(-margins))
            share = "share_predicted_positive" if name == "after" else "share_positive_before"
            for column, per_refit in (
                (f"mean_p_{name}", p.mean(axis=0)),
                (share, (p >= 0.5).mean(axis=0)),
            ):
                record[f"{column}_low"] = float(np.percentile(per_refit, LOW))
                record[f"{column}_high"] = float(np.percentile(per_refit, HIGH))
        gains = (m1 - m0)[here & changed]
        record["mean_validity"] = float((gains > REAL_GAIN).mean()) if len(gains) else np.nan
        out.append(record)
    return pd.DataFrame(out)


def _margins(boosters: list, x: np.ndarray) -> np.ndarray:
    """Each booster's margin of every row, rows x boosters: XGBoost's own prediction,
    several times faster here than a traversal in numpy, on tens of thousands of rows."""
    if not len(x):
        return np.zeros((0, len(boosters)))
    return np.column_stack(
        [b.inplace_predict(x, predict_type="margin", validate_features=False) for b in boosters]
    ).astype(float)


def population_table(
    fronts: pd.DataFrame,
    by: str,
    *,
    model: TrainedModel | None = None,
    frame: pd.DataFrame | None = None,
    design: SurveyDesign | None = None,
) -> pd.DataFrame:
    """:func:`~sleeprx.analysis.fronts.population_curve` (weighted by ``design``, if
    given), with :func:`refit_intervals`' columns when ``model`` has bootstrap refits
    (and ``frame`` is the survey swept). The refit intervals are over the sample's people,
    unweighted."""
    curve = population_curve(fronts, by=by, design=design)
    if model is None or frame is None or not model.bootstraps:
        return curve
    intervals = refit_intervals(model, frame, fronts, by)
    return curve.merge(intervals, on=by, how="left")
