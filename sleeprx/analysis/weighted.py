"""Population figures of a weighted survey, with design-based confidence intervals.

A survey whose description names a weight (and perhaps strata and PSUs) describes a
population, not just its sample: each mean or share is the weighted one, Σ w·y / Σ w,
and its interval comes from the design. The estimates are svy's
(``svy.Sample.estimation``), which match R's ``survey`` package: the standard error by
Taylor linearisation of the ratio, PSUs taken as drawn with replacement within strata;
a mean's interval is Student's t on the degrees of freedom of the PSUs that hold someone
of the domain less their strata, and a share's (a column of 0s and 1s) is the logit
interval of ``svyciprop``, which stays inside [0, 1]. A figure over some people only is
a domain estimate: everyone else stays in the design with no value, so the variance
still sees every PSU. A stratum with a single PSU has no variance estimate and is
refused. A share that everybody (or nobody) has gets the interval [1, 1] (or [0, 0]).

svy is imported on first use: it costs about two seconds, which an unweighted run never
pays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sleeprx.prescribing.status import Status
from sleeprx.survey.design import SurveyDesign
from sleeprx.utils.errors import SurveyError

__all__ = [
    "LEVEL",
    "Estimate",
    "check_design",
    "design_means",
    "prescription_shares",
    "weighted_quantile",
]

#: The confidence level of every interval.
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A design-based estimate: the value, its standard error and its interval."""

    value: float
    se: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.1%} (95% CI {self.low:.1%} to {self.high:.1%})"


def design_means(design: SurveyDesign, values: pd.DataFrame) -> dict[str, Estimate]:
    """The weighted mean of each column of ``values`` over the design's population.

    ``values`` is indexed by person id; a person it lacks, or a blank cell, is outside
    that column's domain (the mean is over the others, the variance over the design).
    """
    import polars as pl
    import svy

    check_design(design)
    frame = design.frame
    data = {"weight": frame["weight"].to_numpy(float)}
    for key in ("stratum", "psu"):
        if key in frame:
            data[key] = frame[key].astype(str).to_numpy()
    names = {column: f"y{j}" for j, column in enumerate(values.columns)}
    aligned = values.reindex(frame.index)
    for column, name in names.items():
        data[name] = pl.Series(name, aligned[column].to_numpy(float), nan_to_null=True)
    sample = svy.Sample(
        data=pl.DataFrame(data),
        design=svy.Design(
            wgt="weight",
            stratum="stratum" if design.has_strata else None,
            psu="psu" if design.has_psu else None,
        ),
    )
    return {column: _estimate(sample, name, aligned[column]) for column, name in names.items()}


def _estimate(sample, name: str, values: pd.Series) -> Estimate:
    """svy's mean of one column, or its share of 1s with a logit interval."""
    seen = set(values.dropna().unique())
    options = {"y": name, "drop_nulls": True, "alpha": 1 - LEVEL}
    if not seen <= {0.0, 1.0}:
        row = sample.estimation.mean(**options).to_dicts()[0]
        return Estimate(row["est"], row["se"], row["lci"], row["uci"])
    if len(seen) < 2:  # no variation: the share is exactly 0 or 1 in every resample
        share = float(seen.pop()) if seen else float("nan")
        return Estimate(share, 0.0, share, share)
    rows = sample.estimation.prop(**options).to_dicts()
    row = next(r for r in rows if float(r["y_level"]) == 1.0)
    return Estimate(row["est"], row["se"], row["lci"], row["uci"])


def check_design(design: SurveyDesign) -> None:
    """Refuse a stratum with one PSU (one person, without PSUs): it has no variance."""
    if not design.has_strata:
        return
    frame = design.frame
    units = frame["psu"] if design.has_psu else pd.Series(frame.index, index=frame.index)
    per_stratum = units.groupby(frame["stratum"]).nunique()
    lonely = per_stratum[per_stratum < 2]
    if len(lonely):
        what = "PSU" if design.has_psu else "person"
        raise SurveyError(
            f"design: stratum {lonely.index[0]!r} of column '{design.columns['stratum']}' "
            f"has a single {what}, so its variance cannot be estimated; merge it with another"
        )


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` under ``weights``: the smallest value whose
    weighted cumulative share reaches ``q`` (equal weights give the lower quantile)."""
    v, w = np.asarray(values, float), np.asarray(weights, float)
    keep = ~np.isnan(v)
    v, w = v[keep], w[keep]
    if not len(v):
        return float("nan")
    order = np.argsort(v, kind="stable")
    share = np.cumsum(w[order]) / w.sum()
    return float(v[order][np.searchsorted(share, q - 1e-12)])


def prescription_shares(
    table: pd.DataFrame, design: SurveyDesign, *, positive_at: float = 0.5
) -> dict[str, Estimate]:
    """The population's shares under a prescription table, weighted by the design.

    Over the people with a valid answer (changed or no change): ``helped`` (a change
    that raises the real model's probability), ``positive_before`` and
    ``positive_after`` (probability at least ``positive_at`` before and after), and
    ``mean_p_before`` and ``mean_p_after``.
    """
    status = table["status"].astype(str)
    ok = table[status.isin([Status.CHANGED, Status.NO_CHANGE])].set_index("person_id")
    changed = ok["status"].astype(str).eq(Status.CHANGED)
    p_before = ok["p_before"].astype(float)
    p_after = ok["p_after"].astype(float).where(changed, p_before)
    values = pd.DataFrame(
        {
            "helped": (changed & (p_after > p_before)).astype(float),
            "positive_before": p_before.ge(positive_at).astype(float),
            "positive_after": p_after.ge(positive_at).astype(float),
            "mean_p_before": p_before,
            "mean_p_after": p_after,
        }
    )
    return design_means(design, values)
