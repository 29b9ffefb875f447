"""Re-score prescribed profiles with the real classifier."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xgboost as xgb

from .model import TrainedModel
from .problem import PersonProblem

__all__ = ["apply_profiles", "booster_gain", "margin64", "rescore"]


def margin64(model: TrainedModel, features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The booster's margin summed in float64 from the leaves its own traversal picks.

    ``Booster.predict`` sums in float32 (about 1e-6 off); this is the exact value the
    MIP in exact mode optimises, so the two can be compared to 1e-9.
    """
    # nthread=1: on small batches, starting threads costs far more than the work.
    matrix = xgb.DMatrix(features, feature_names=model.feature_names, nthread=1)
    leaves = model.booster.predict(matrix, pred_leaf=True)
    return model.ensemble.margin_from_leaves(leaves)


def apply_profiles(frame: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the modifiable columns replaced by ``profiles`` (same index)."""
    out = frame.loc[profiles.index].copy()
    for column in profiles.columns:
        out[column] = profiles[column].to_numpy(float)
    return out


def rescore(model: TrainedModel, frame: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    """The real model's probability and log-odds before and after each prescription."""
    after = apply_profiles(frame, profiles)
    before = frame.loc[profiles.index]
    return pd.DataFrame(
        {
            "p_before": model.predict_proba(before).to_numpy(),
            "p_after": model.predict_proba(after).to_numpy(),
            "logit_before": margin64(model, model.encode(before)),
            "logit_after": margin64(model, model.encode(after)),
        },
        index=profiles.index,
    )


def booster_gain(model: TrainedModel, problem: PersonProblem) -> Callable[[np.ndarray], np.ndarray]:
    """A ``gain_of`` for :func:`sleeprx.bruteforce.brute_force` that asks the booster.

    Independent of exact mode's pruning and threshold mapping: the booster's own
    traversal picks the leaves, summed in float64.
    """

    def gain_of(choices: np.ndarray) -> np.ndarray:
        X = np.repeat(problem.features[None, :], len(choices), axis=0)
        for j, (f, col) in enumerate(zip(problem.factors, problem.factor_features, strict=True)):
            X[:, col] = f.levels[choices[:, j]]
        return margin64(model, X) - problem.logit_before

    return gain_of
