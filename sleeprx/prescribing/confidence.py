"""How far a prescription holds when the model is refitted: per-person confidence.

A prescription is computed for one fitted model. The model's bootstrap boosters
(``ModelSettings.bootstrap``), or any other refits, say how much it depends on that
fit: the share of refits in which it still holds, and the spread of the refits'
probability after the change and of their gain. Each refit is read on its own raw
scale (``sigmoid`` of its margin): bootstrap boosters are never calibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.robust import REAL_GAIN
from sleeprx.prescribing.columns import CONFIDENCE
from sleeprx.utils.errors import ConfigError
from sleeprx.utils.odds import logit

__all__ = ["CONFIDENCE_COLUMNS", "HIGH", "LOW", "confidence", "confidence_from_margins"]

#: The columns of :func:`confidence`, in order (the table's, whose meaning
#: :data:`sleeprx.prescribing.columns.CONFIDENCE` gives).
CONFIDENCE_COLUMNS = tuple(c.name for c in CONFIDENCE)
#: Percentiles of the spread over the refits.
LOW, HIGH = 10.0, 90.0


def confidence_from_margins(
    before: np.ndarray, after: np.ndarray, *, goal: float | None = None
) -> pd.DataFrame:
    """Confidence from the refits' margins, people x refits, before and after.

    Parameters
    ----------
    before, after : ndarray of shape (n_people, n_refits)
        Each refit's log-odds at the person's answers and at the prescribed ones.
    goal : float, optional
        The recourse goal p; without one, an answer holds where it gains.

    Returns
    -------
    DataFrame with one row per person and the columns :data:`CONFIDENCE_COLUMNS`:
    ``validity``, the share of refits in which the answer holds (``sigmoid(after) >=
    goal``, or ``after > before`` without a goal); ``p_after_low``/``p_after_high``,
    the 10th and 90th percentiles over the refits of ``sigmoid(after)``;
    ``gain_low``/``gain_high``, those of the gain ``after - before`` in log-odds.
    Percentiles interpolate linearly (numpy's default).
    """
    before, after = np.atleast_2d(before), np.atleast_2d(after)
    if before.shape != after.shape or before.shape[1] == 0:
        raise ConfigError(
            f"confidence needs margins of the same shape with at least one refit, got "
            f"{before.shape} and {after.shape}"
        )
    gain = after - before
    holds = gain > REAL_GAIN if goal is None else after >= logit(goal)
    p_after = 1.0 / (1.0 + np.exp(-after))
    return pd.DataFrame(
        {
            "validity": holds.mean(axis=1),
            "p_after_low": np.percentile(p_after, LOW, axis=1),
            "p_after_high": np.percentile(p_after, HIGH, axis=1),
            "gain_low": np.percentile(gain, LOW, axis=1),
            "gain_high": np.percentile(gain, HIGH, axis=1),
        },
        columns=list(CONFIDENCE_COLUMNS),
    )


def confidence(
    model: TrainedModel,
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    goal: float | None = None,
    boosters: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Per-person confidence of prescriptions under the model's bootstrap boosters.

    ``before`` and ``after`` are survey rows (same index), the answers now and with the
    prescription applied. ``boosters`` (:class:`xgboost.Booster`) replaces the
    model's own bootstraps: fresh refits the optimiser never saw give an honest
    figure for a robust prescription. Returns :func:`confidence_from_margins`'s
    columns, indexed like ``after``.
    """
    refits = list(boosters) if boosters is not None else [b.booster for b in model.bootstraps]
    if not refits:
        raise ConfigError(
            "confidence needs refits: train the model with ModelSettings.bootstrap >= 1 "
            "or pass boosters"
        )
    if not before.index.equals(after.index):
        raise ConfigError("confidence: before and after must have the same index")
    X0 = model.encode(before).to_numpy(float)
    X1 = model.encode(after).to_numpy(float)
    scorers = [tree_scorer(b) for b in refits]
    m0 = np.column_stack([s.margin(X0) for s in scorers])
    m1 = np.column_stack([s.margin(X1) for s in scorers])
    out = confidence_from_margins(m0, m1, goal=goal)
    out.index = after.index
    return out
