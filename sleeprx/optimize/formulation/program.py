"""The prescription program: level choice, limits and cost, with a pluggable gain model.

Only the gain model differs between modes (see :data:`GAIN_MODELS`), so the surrogate
and exact programs share every constraint and every cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.formulation.linear import LinearModel
from sleeprx.optimize.problem import PersonProblem
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ConfigError

__all__ = ["GAIN_MODELS", "GainExpr", "Program", "build_program"]


@dataclass(frozen=True)
class GainExpr:
    """Delta-logit as a linear expression: ``value . x[index] + constant``."""

    index: np.ndarray
    value: np.ndarray
    constant: float = 0.0

    def evaluate(self, x: np.ndarray) -> float:
        return float(np.dot(self.value, np.round(x[self.index])) + self.constant)


@dataclass(frozen=True)
class Program:
    """A built program and the maps needed to read a solution back."""

    model: LinearModel
    choice: tuple[np.ndarray, ...]  # variable index of each level, per factor
    gain: GainExpr
    cost_index: np.ndarray
    cost_value: np.ndarray

    def chosen_levels(self, x: np.ndarray) -> tuple[int, ...]:
        """Index of the level chosen on each factor (0 = keep the current value)."""
        return tuple(int(np.argmax(x[z])) for z in self.choice)


def surrogate_gain(problem: PersonProblem, lp: LinearModel, choice) -> GainExpr:
    r"""SHAP surrogate: :math:`\Delta\mathrm{logit} = \sum_{fl} [g_f(v_{fl}) - g_f(x_f)] z_{fl}`."""
    index = _cat(choice, np.int32)
    value = _cat([f.surrogate_gain for f in problem.factors])
    return GainExpr(index, value)


def exact_gain(problem: PersonProblem, lp: LinearModel, choice) -> GainExpr:
    r"""The tree ensemble itself: exact, with no approximation.

    Trees compiled into factor tables (:mod:`sleeprx.optimize.factor_tables`, the default) enter
    through their tables; pruned trees through leaf variables (:func:`_leaf_terms`).
    A table :math:`T_G` over one factor is linear in that factor's :math:`z`. Over
    several factors it gets a weight :math:`u_c \ge 0` per cell :math:`c` and

    .. math::

        \sum_{c:\ c_f = l} u_c = z_{fl} \quad \forall f \in G,\ \forall l,

    so once the :math:`z` are binary the only cell with weight is the chosen one,
    and :math:`u` need not be declared integer. Then

    .. math::

        \Delta\mathrm{logit} = b + \sum_{t\ \mathrm{constant}} w_t
        + \sum_G \sum_c T_G(c)\, u_c + (\text{leaf terms}) - \mathrm{logit}_0 .
    """
    if problem.trees is None and problem.tables is None:
        raise ConfigError(
            "exact mode needs the person's trees or tables (optimize.attach_ensemble)"
        )
    trees = problem.trees or ()
    constant = problem.base_margin - problem.logit_before
    constant += sum(t.leaf_values[0] for t in trees if len(t.leaf_values) == 1)
    index: list[np.ndarray] = []
    value: list[np.ndarray] = []
    for k, table in enumerate(problem.tables or ()):
        if not table.factors:
            constant += float(table.values)
        elif len(table.factors) == 1:
            index.append(choice[table.factors[0]])
            value.append(table.values)
        else:
            u = np.array([lp.add_var(f"u[{k},{c}]") for c in range(table.values.size)])
            cells = u.reshape(table.values.shape)
            for axis, f in enumerate(table.factors):
                for level, z in enumerate(choice[f]):
                    members = np.take(cells, level, axis=axis).ravel()
                    lp.add_row(
                        f"marginal[{k},{f},{level}]",
                        np.append(members, z),
                        np.append(np.ones(len(members)), -1.0),
                        0.0,
                        0.0,
                    )
            index.append(u)
            value.append(table.values.ravel())
    leaf_index, leaf_value = _leaf_terms(lp, choice, trees)
    index.append(leaf_index)
    value.append(leaf_value)
    return _combined(np.concatenate(index), np.concatenate(value), constant)


def _leaf_terms(lp: LinearModel, choice, trees) -> tuple[np.ndarray, np.ndarray]:
    r"""Leaf variables for the pruned ``trees``, after Mišić (2020) and OMLT's GBT formulation.

    For every pruned tree :math:`t` with reachable leaves :math:`\mathcal L_t` and
    leaf values :math:`w_{t\ell}`, a weight :math:`y_{t\ell} \in [0, 1]` per leaf and

    .. math::

        \sum_{\ell \in \mathcal L_t} y_{t\ell} = 1, \qquad
        \sum_{\ell \in \mathrm{left}(s)} y_{t\ell} \le \sum_{l:\ v_{fl} < \theta_s} z_{fl},
        \qquad
        \sum_{\ell \in \mathrm{right}(s)} y_{t\ell} \le \sum_{l:\ v_{fl} \ge \theta_s} z_{fl}

    for every split :math:`s` of :math:`t` on factor :math:`f` with threshold
    :math:`\theta_s`. Thresholds are resolved on the grid in float32 when the tree
    is pruned, so each level is on exactly one side. Once the :math:`z` are binary,
    every split closes one side, so the :math:`y` of one tree select exactly its one
    reachable leaf and need not be declared integer.
    """
    index: list[int] = []
    value: list[float] = []
    for t, tree in enumerate(trees):
        if len(tree.leaf_values) == 1:
            continue
        y = np.array([lp.add_var(f"y[{t},{n}]") for n in tree.leaf_nodes])
        lp.add_row(f"one_leaf[{t}]", y, np.ones(len(y)), 1.0, 1.0)
        for k, split in enumerate(tree.splits):
            z = choice[split.factor]
            for side, leaves, levels in (
                ("left", split.left_leaves, z[split.goes_left]),
                ("right", split.right_leaves, z[~split.goes_left]),
            ):
                lp.add_row(
                    f"{side}[{t},{k}]",
                    np.concatenate([y[list(leaves)], levels]),
                    np.concatenate([np.ones(len(leaves)), -np.ones(len(levels))]),
                    ub=0.0,
                )
        index += y.tolist()
        value += tree.leaf_values
    return np.asarray(index, dtype=np.int32), np.asarray(value, dtype=float)


def _cat(arrays: list[np.ndarray] | tuple[np.ndarray, ...], dtype: type = float) -> np.ndarray:
    """Concatenate, allowing none (a person with no lever to move)."""
    return np.concatenate([np.zeros(0, dtype), *arrays]).astype(dtype)


def _combined(index: np.ndarray, value: np.ndarray, constant: float) -> GainExpr:
    """One coefficient per variable (a row may not name a column twice)."""
    unique, where = np.unique(index, return_inverse=True)
    return GainExpr(unique.astype(np.int32), np.bincount(where, weights=value), constant)


#: Registry of gain models: the only part that differs between modes.
GAIN_MODELS: dict[str, Callable[[PersonProblem, LinearModel, tuple], GainExpr]] = {
    "surrogate": surrogate_gain,
    "exact": exact_gain,
}


def build_program(problem: PersonProblem, settings: PrescribeSettings) -> Program:
    r"""Build (never solve) one person's prescription program.

    Decision variables: :math:`z_{fl} \in \{0, 1\}`, person :math:`i` takes level
    :math:`v_{fl}` of factor :math:`f`; level 0 is the current value :math:`x_{if}`.
    Levels are pre-filtered (see :mod:`sleeprx.optimize.problem`) to lie on the grid, inside
    the safe bounds, in the allowed direction and within the largest change, so these
    constraints hold by construction. With
    :math:`C_i(z) = \sum_{f} \sum_{l \ge 1} \rho_{if}\,(c_f + |v_{fl} - x_{if}| / s_f)\, z_{fl}`
    the penalty and :math:`\Delta\mathrm{logit}(z)` from the gain model:

    .. math::

        \max_z \ \Delta\mathrm{logit}(z) - \lambda\, C_i(z)
        \quad \text{s.t.} \quad
        \sum_l z_{fl} = 1 \ \forall f, \qquad
        \sum_f \sum_{l \ge 1} z_{fl} \le K, \qquad
        \sum_{f,l} \frac{|v_{fl} - x_{if}|}{s_f} z_{fl} \le B \ \text{(if a budget is set)},

    and for every linear constraint :math:`r` of the description,
    :math:`L_{ir} \le \sum_f a_{rf} \sum_l v_{fl} z_{fl} \le U_{ir}`, its bounds
    widened to the person's current value where that already breaks them ("no worse
    than now"). On a ladder, :math:`|v_{fl} - x_{if}| / s_f` counts rungs instead.

    With a recourse goal :math:`p^\star` the program instead reads
    :math:`\min_z C_i(z)` s.t. :math:`\mathrm{logit}_0 + \Delta\mathrm{logit}(z) \ge
    \mathrm{logit}(p^\star)` and the same constraints. This follows the paper
    ("Integrating Explainable Machine Learning and Mixed-Integer Optimization for
    Personalized Sleep Quality Intervention", 2026) for the surrogate gain model.
    """
    lp = LinearModel()
    choice = []
    for f in problem.factors:
        z = np.array(
            [lp.add_var(f"z[{f.name},{v:g}]", integer=True) for v in f.levels], dtype=np.int32
        )
        lp.add_row(f"one_level[{f.name}]", z, np.ones(len(z)), 1.0, 1.0)
        choice.append(z)
    changed = _cat([z[1:] for z in choice], np.int32)
    lp.add_row("max_changes", changed, np.ones(len(changed)), ub=float(settings.max_changes))
    all_z = _cat(choice, np.int32)
    if settings.budget is not None:
        intensity = _cat([f.intensity for f in problem.factors])
        lp.add_row("budget", all_z, intensity, ub=settings.budget)
    for row in problem.rows:
        if not row.terms:
            continue  # only levers the person cannot move: holds by construction
        index = np.concatenate([choice[k] for k, _ in row.terms])
        value = np.concatenate([c * problem.factors[k].levels for k, c in row.terms])
        lp.add_row(
            f"constraint[{row.name}]",
            index,
            value,
            row.lower - row.constant,
            row.upper - row.constant,
        )
    cost = _cat([f.cost for f in problem.factors])

    gain = GAIN_MODELS[settings.mode](problem, lp, tuple(choice))
    if settings.goal is None:
        lp.sense = "max"
        lp.add_objective(gain.index, gain.value)
        lp.add_objective(all_z, -settings.lam * cost)
        lp.offset = gain.constant
    else:
        lp.sense = "min"
        lp.add_objective(all_z, cost)
        need = problem.need(settings.goal_logit)
        lp.add_row("goal", gain.index, gain.value, lb=need - gain.constant)
    return Program(lp, tuple(choice), gain, all_z, cost)
