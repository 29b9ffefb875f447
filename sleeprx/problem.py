"""Plain data for one person's prescription problem: no Pyomo, no solver.

For factor ``f`` the person may keep the current value or move to a grid level that
is inside the safe bounds, in the allowed direction and within the largest change.
Index 0 of every factor's levels is the current value (the status quo), so
"no change" is always feasible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .ensemble import Ensemble, PrunedTree, prune_for_person
from .explain import EffectCurve
from .survey import Direction, ModifiableFactor, SurveyDescription

if TYPE_CHECKING:
    from .tables import FactorTable

__all__ = ["FactorChoice", "PersonProblem", "allowed_levels", "build_problem"]

_TOL = 1e-9


@dataclass(frozen=True)
class FactorChoice:
    """The options for one factor. Arrays are aligned; index 0 is the current value."""

    name: str
    levels: np.ndarray
    cost: np.ndarray  # rho * (fixed_cost * [changed] + |change| / step)
    intensity: np.ndarray  # |change| / step
    surrogate_gain: np.ndarray  # g_f(level) - g_f(current), log-odds

    @property
    def current(self) -> float:
        return float(self.levels[0])


@dataclass(frozen=True)
class PersonProblem:
    """Everything the formulations need about one person."""

    person_id: int
    factors: tuple[FactorChoice, ...]
    logit_before: float  # the real model's log-odds now
    features: np.ndarray  # encoded feature row (float64), in the model's order
    factor_features: tuple[int, ...]  # index of each factor in ``features``
    trees: tuple[PrunedTree, ...] | None = None  # exact mode: the ensemble, pruned
    base_margin: float = 0.0  # exact mode: the booster's base margin
    tables: tuple[FactorTable, ...] | None = None  # exact mode: trees compiled to tables

    @property
    def n_profiles(self) -> int:
        """How many profiles exist with no limit on changes (the enumeration size)."""
        return int(np.prod([len(f.levels) for f in self.factors]))


def allowed_levels(factor: ModifiableFactor, current: float) -> np.ndarray:
    """The current value followed by every grid level a prescription may move to."""
    grid = factor.grid
    delta = grid - current
    keep = (np.abs(delta) > _TOL) & (np.abs(delta) <= factor.max_change + _TOL)
    if factor.direction == Direction.UP:
        keep &= delta > 0
    elif factor.direction == Direction.DOWN:
        keep &= delta < 0
    return np.concatenate([[current], grid[keep]])


def build_problem(
    person_id: int,
    row: pd.Series,
    description: SurveyDescription,
    *,
    features: np.ndarray,
    feature_names: list[str],
    logit_before: float,
    curves: dict[str, EffectCurve],
    resistance_scale: float = 1.0,
    ensemble: Ensemble | None = None,
) -> PersonProblem:
    """Assemble one person's problem from their survey row and the model's view of them.

    Pass ``ensemble`` to prune the trees for exact mode.
    """
    choices = []
    for factor in description.modifiable:
        current = float(row[factor.column])
        levels = allowed_levels(factor, current)
        rho = factor.resistance
        personal = row.get(f"resistance__{factor.column}")
        if personal is not None and not pd.isna(personal):
            rho = float(personal)
        rho *= resistance_scale
        intensity = np.abs(levels - current) / factor.step
        changed = np.arange(len(levels)) > 0
        cost = rho * (factor.fixed_cost * changed + intensity)
        curve = curves[factor.column]
        gain = curve(levels) - curve(current)
        choices.append(FactorChoice(factor.column, levels, cost, intensity, gain))
    idx = tuple(feature_names.index(f.column) for f in description.modifiable)
    trees, base = None, 0.0
    if ensemble is not None:
        trees = tuple(prune_for_person(ensemble, features, idx, tuple(c.levels for c in choices)))
        base = ensemble.base_margin
    return PersonProblem(
        int(person_id), tuple(choices), float(logit_before), features, idx, trees, base
    )
