"""Re-score prescribed profiles with the real classifier."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.problem import PersonProblem, profile_features, steps_between
from sleeprx.prescribing.columns import after, before
from sleeprx.prescribing.status import DONE
from sleeprx.survey.description import SurveyDescription

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
    table: pd.DataFrame,
    description: SurveyDescription,
    max_changes: int,
    *,
    frame: pd.DataFrame,
) -> list[str]:
    """Every way a prescription table breaks its constraints; empty when it breaks none.

    Checked per person, from the table's before and after values and the person's own
    answers in ``frame`` (the survey frame, indexed by id), independently of how the
    program was built: a moved lever had an answer and is offered to the person (the
    description's rules); its new value is one of the safe values (grid or ladder),
    inside the person's bounds, in the allowed direction and within the largest
    change; at most ``max_changes`` levers move; and every linear constraint holds
    after the change, or is no worse than before it.
    """
    after_columns = [after(f.column) for f in description.modifiable]
    prescribed = table[after_columns].notna().any(axis=1)  # a time limit may leave none
    done = table[table["status"].isin(DONE) & prescribed]
    found: list[str] = []
    ids = done["person_id"].tolist()
    answers = frame.loc[ids]
    n_changed = np.zeros(len(done), dtype=int)
    for f in description.modifiable:
        was = done[before(f.column)].to_numpy(float)
        now = done[after(f.column)].to_numpy(float)
        now = np.where(np.isnan(now) & np.isnan(was), was, now)
        blank = np.isnan(was)
        moved = ~np.isclose(was, now, rtol=0, atol=1e-9) & ~(blank & np.isnan(now))
        n_changed += moved
        for k in np.flatnonzero(moved):
            pid, b, a = ids[k], was[k], now[k]
            for rule in _lever_rules(f, answers.loc[pid].to_dict(), b, a):
                found.append(f"person {pid}: {f.column} moved from {b:g} to {a:g}: {rule}")
    for pid, n in zip(ids, n_changed, strict=True):
        if n > max_changes:
            found.append(f"person {pid}: {n} factors changed, more than K = {max_changes}")
    for c in description.constraints:
        was = c.value({t.column: done[before(t.column)].to_numpy(float) for t in c.terms})
        now = c.value({t.column: done[after(t.column)].to_numpy(float) for t in c.terms})
        for k in np.flatnonzero(~np.isnan(now)):
            low = -np.inf if c.lower is None else min(c.lower, was[k])
            high = np.inf if c.upper is None else max(c.upper, was[k])
            if not low - 1e-9 <= now[k] <= high + 1e-9:
                found.append(
                    f"person {ids[k]}: constraint '{c.name}' is {now[k]:g} after the change, "
                    f"outside {low:g}..{high:g}"
                )
    return found


def _lever_rules(factor, answers: dict, before: float, after: float) -> list[str]:
    """The rules a move of ``factor`` from ``before`` to ``after`` breaks."""
    if np.isnan(before):
        return ["the answer was blank"]
    limits = factor.limits_for(answers)
    steps = float(steps_between(factor, np.asarray([after]), before)[0])
    largest = limits.max_change if factor.is_ladder else limits.max_change / factor.step
    broken = {
        "not offered to this person": not limits.available,
        "not a safe value": not np.isclose(after, factor.grid, rtol=0, atol=1e-9).any(),
        f"outside this person's {limits.lower:g}..{limits.upper:g}": not (
            limits.lower - 1e-9 <= after <= limits.upper + 1e-9
        ),
        "further than the largest change": steps > largest + 1e-9,
        "up, which is not allowed": after > before and factor.direction == "down",
        "down, which is not allowed": after < before and factor.direction == "up",
    }
    return [rule for rule, bad in broken.items() if bad]
