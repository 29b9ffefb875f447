"""Re-score prescribed profiles with the real classifier."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .learn.model import TrainedModel
from .learn.survey import SurveyDescription
from .optimize.ensemble import tree_scorer
from .optimize.problem import PersonProblem, profile_features

__all__ = [
    "apply_profiles",
    "booster_gain",
    "constraint_violations",
    "rescore",
]


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
            "logit_before": tree_scorer(model.booster).margin(model.encode(before)),
            "logit_after": tree_scorer(model.booster).margin(model.encode(after)),
        },
        index=profiles.index,
    )


def booster_gain(model: TrainedModel, problem: PersonProblem) -> Callable[[np.ndarray], np.ndarray]:
    """A ``gain_of`` for :func:`sleeprx.optimize.bruteforce.brute_force` that asks the
    booster. Independent of exact mode's pruning and threshold mapping: the booster's
    own traversal picks the leaves, summed in float64.
    """

    def gain_of(choices: np.ndarray) -> np.ndarray:
        rows = profile_features(problem, choices)
        return tree_scorer(model.booster).margin(rows) - problem.logit_before

    return gain_of


def constraint_violations(
    table: pd.DataFrame, description: SurveyDescription, max_changes: int
) -> list[str]:
    """Every way a prescription table breaks its constraints; empty when it breaks none.

    Checked per person: a changed value lies on the factor's grid, inside its safe
    bounds, in the allowed direction and within the largest change, and at most
    ``max_changes`` factors change.
    """
    after_columns = [f"{f.column}_after" for f in description.modifiable]
    prescribed = table[after_columns].notna().all(axis=1)  # rows that hold a prescription
    done = table[table["status"].isin(["changed", "no_change", "time_limit"]) & prescribed]
    found: list[str] = []
    n_changed = np.zeros(len(done), dtype=int)
    for f in description.modifiable:
        before = done[f"{f.column}_before"].to_numpy(float)
        after = done[f"{f.column}_after"].to_numpy(float)
        moved = ~np.isclose(before, after, rtol=0, atol=1e-9)
        n_changed += moved
        delta = after - before
        rules = {
            "off the grid": ~np.isclose(after[:, None], f.grid[None, :], rtol=0, atol=1e-9).any(1),
            f"outside {f.lower:g}..{f.upper:g}": (after < f.lower - 1e-9)
            | (after > f.upper + 1e-9),
            f"more than {f.max_change:g} away": np.abs(delta) > f.max_change + 1e-9,
            "up, which is not allowed": (delta > 1e-9) & (f.direction == "down"),
            "down, which is not allowed": (delta < -1e-9) & (f.direction == "up"),
        }
        for rule, broken in rules.items():
            for pid in done["person_id"].to_numpy()[moved & broken]:
                found.append(f"person {pid}: {f.column} moved {rule}")
    for pid, n in zip(done["person_id"], n_changed, strict=True):
        if n > max_changes:
            found.append(f"person {pid}: {n} factors changed, more than K = {max_changes}")
    return found
