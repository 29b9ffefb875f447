"""Plain data for one person's prescription problem: no Pyomo, no solver, no model.

For factor ``f`` the person may keep the current value or move to a safe value (on the
grid or the ladder) that is inside the person's bounds, in the allowed direction and
within the largest change; the person's own answers may narrow the bounds or take the
lever away (the description's rules). A lever whose answer is blank is held: nobody
can be moved from an unknown value. Index 0 of every factor's levels is the current
value (the status quo), so "no change" is always feasible; linear constraints that
the person already breaks are relaxed to "no worse than now" for the same reason.

Derived levers (:mod:`sleeprx.survey.derived`) follow the factors of their formula in
every profile (:func:`profile_features`), their safe range a linear row; a lever group's
members count once toward K and pay the group's fixed cost once
(:meth:`PersonProblem.changes`, :meth:`PersonProblem.cost_of`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sleeprx.learn.ensemble import PrunedTree
from sleeprx.survey.curves import EffectCurve
from sleeprx.survey.derived import DerivedLever, derived_value
from sleeprx.survey.description import Direction, Limits, ModifiableFactor, SurveyDescription
from sleeprx.survey.rules import row_bounds

__all__ = [
    "DerivedRow",
    "FactorChoice",
    "FactorTable",
    "GroupRow",
    "LinearRow",
    "PersonProblem",
    "ProfileFilter",
    "allowed_levels",
    "build_problem",
    "nearest_allowed",
    "person_range",
    "profile_features",
    "resistance_of",
]

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
class FactorTable:
    """The summed leaf values of ``trees`` for every combination of ``factors``' levels.

    ``values`` has one axis per factor, in the order of ``factors``; index 0 on an axis
    is that factor's current value. With no factors it is a 0-d array: a constant.
    """

    factors: tuple[int, ...]
    trees: tuple[int, ...]
    values: np.ndarray


@dataclass(frozen=True)
class LinearRow:
    """``lower <= constant + sum(coef * value of factor k) <= upper`` for one person.

    ``terms`` index ``PersonProblem.factors``; levers the person cannot move enter
    ``constant`` at their current values.
    """

    name: str
    terms: tuple[tuple[int, float], ...]
    constant: float
    lower: float
    upper: float

    def values(self, factors: Sequence[FactorChoice], choices: np.ndarray) -> np.ndarray:
        """The row's value at each profile of level indices (profiles x factors)."""
        choices = np.atleast_2d(choices)
        total = np.full(len(choices), self.constant)
        for k, coef in self.terms:
            total += coef * factors[k].levels[choices[:, k]]
        return total


@dataclass(frozen=True)
class DerivedRow:
    """A derived lever for one person: its formula over ``PersonProblem.factors`` (levers
    the person cannot move stay at their answers), its column in ``features`` (-1 when
    the model does not read it) and its effect curve for the surrogate (None: no curve)."""

    lever: DerivedLever
    movable: tuple[tuple[str, int], ...]  # (term column, index in factors)
    fixed: tuple[tuple[str, float], ...]  # (term column, the person's answer)
    feature: int
    curve: EffectCurve | None
    current: float

    def values(self, factors: Sequence[FactorChoice], choices: np.ndarray) -> np.ndarray:
        """The derived value at each profile of level indices (profiles x factors)."""
        choices = np.atleast_2d(choices)
        values: dict[str, object] = dict(self.fixed)
        values |= {column: factors[k].levels[choices[:, k]] for column, k in self.movable}
        return np.broadcast_to(derived_value(self.lever, values), (len(choices),))


@dataclass(frozen=True)
class GroupRow:
    """A lever group for one person: its members (indices in ``PersonProblem.factors``)
    count as one change, and ``cost`` (rho times the group's fixed cost) is paid once."""

    name: str
    members: tuple[int, ...]
    cost: float


class ProfileFilter(Protocol):
    """A condition on whole profiles (:mod:`sleeprx.optimize.filters`); ``name`` is the
    settings key that asks for it."""

    name: str

    def __call__(self, problem: PersonProblem, choices: np.ndarray) -> np.ndarray:
        """A mask of the level-index profiles (profiles x factors) accepted."""
        ...


@dataclass(frozen=True)
class PersonProblem:
    """Everything the formulations need about one person.

    ``factors`` are the levers this person may move; ``held`` names the others with
    the reason (a blank answer, a rule), for the advice.
    """

    person_id: object
    factors: tuple[FactorChoice, ...]
    logit_before: float  # the real model's log-odds now
    features: np.ndarray  # encoded feature row (float64), in the model's order
    factor_features: tuple[int, ...]  # index of each factor in ``features``
    trees: tuple[PrunedTree, ...] | None = None  # exact mode: the ensemble, pruned
    base_margin: float = 0.0  # exact mode: the booster's base margin
    tables: tuple[FactorTable, ...] | None = None  # exact mode: trees compiled to tables
    rows: tuple[LinearRow, ...] = ()  # the description's linear constraints
    held: tuple[tuple[str, str], ...] = ()  # (lever, why it is not offered)
    #: The margin a recourse goal requires: logit(goal), or the calibration map's inverse
    #: at the goal (+inf: no margin reaches it); None without a goal.
    goal_margin: float | None = None
    #: Conditions every profile must meet, enforced by enumeration alone.
    filters: tuple[ProfileFilter, ...] = ()
    #: Derived levers and lever groups (:mod:`sleeprx.survey.derived`): they couple
    #: levers, so only enumeration solves such a program.
    derived: tuple[DerivedRow, ...] = ()
    groups: tuple[GroupRow, ...] = ()
    #: Exact mode with a derived lever the model reads: the booster's own scorer, since
    #: factor tables hold one lever per feature (a ``TreeScorer``).
    scorer: object | None = None

    @property
    def coupled(self) -> bool:
        """Derived levers or lever groups: the program is not separable by lever."""
        return bool(self.derived or self.groups)

    def changes(self, choices: np.ndarray) -> np.ndarray:
        """Changes toward K at each profile: a lever group's members count once."""
        moved = np.atleast_2d(choices) > 0
        count = moved.sum(axis=1)
        for group in self.groups:
            count -= np.maximum(moved[:, list(group.members)].sum(axis=1) - 1, 0)
        return count

    def cost_of(self, choices: np.ndarray) -> np.ndarray:
        """The cost of each profile: the levers' own, and each group's once."""
        choices = np.atleast_2d(choices)
        total = np.zeros(len(choices))
        for j, f in enumerate(self.factors):
            total += f.cost[choices[:, j]]
        for group in self.groups:
            total += group.cost * (choices[:, list(group.members)] > 0).any(axis=1)
        return total

    def surrogate_of(self, choices: np.ndarray) -> np.ndarray:
        """The surrogate's gain: each lever's curve, and each derived lever's at its
        value after the change."""
        choices = np.atleast_2d(choices)
        total = np.zeros(len(choices))
        for j, f in enumerate(self.factors):
            total += f.surrogate_gain[choices[:, j]]
        for d in self.derived:
            if d.curve is not None:
                total += d.curve(d.values(self.factors, choices)) - d.curve(np.array([d.current]))
        return total

    def need(self, goal_logit: float | None) -> float:
        """The rise in margin a goal requires (the calibrated threshold when known)."""
        target = self.goal_margin if self.goal_margin is not None else goal_logit
        return float(target) - self.logit_before

    @property
    def n_profiles(self) -> int:
        """How many profiles exist with no limit on changes (the enumeration size)."""
        return int(np.prod([len(f.levels) for f in self.factors]))

    def values(self, levels: Sequence[int]) -> np.ndarray:
        """The value of every factor at the chosen level indices."""
        return np.array([f.levels[i] for f, i in zip(self.factors, levels, strict=True)])


def steps_between(factor: ModifiableFactor, levels: np.ndarray, current: float) -> np.ndarray:
    """|change| in steps of the grid (|delta| / step) or rungs of the ladder."""
    levels = np.asarray(levels, dtype=float)
    if factor.is_ladder:
        return np.abs(factor.position(levels) - factor.position(current))
    return np.abs(levels - current) / factor.step


def allowed_levels(
    factor: ModifiableFactor, current: float, limits: Limits | None = None
) -> np.ndarray:
    """The current value followed by every safe value a prescription may move to: on
    the grid or ladder, inside the person's bounds, in their direction, and at least
    ``min_change`` but at most ``max_change`` away.

    ``limits`` are the person's (see ``ModifiableFactor.limits_for``); by default the
    description's own. An unavailable lever offers no level but the current one.
    """
    limits = limits or factor.limits_for({})
    grid = factor.grid
    if not limits.available:
        return np.asarray([current], dtype=float)
    delta = grid - current
    steps = steps_between(factor, grid, current)
    largest = factor.steps_of(limits.max_change)
    keep = (np.abs(delta) > _TOL) & (steps <= largest + _TOL)
    keep &= steps >= factor.steps_of(limits.min_change) - _TOL  # no trivial moves
    keep &= (grid >= limits.lower - _TOL) & (grid <= limits.upper + _TOL)
    if limits.direction == Direction.UP:
        keep &= delta > 0
    elif limits.direction == Direction.DOWN:
        keep &= delta < 0
    return np.concatenate([[current], grid[keep]])


def person_range(factor: ModifiableFactor, current: float) -> tuple[float, float] | None:
    """The interval a prescription may move ``factor`` within: the safe range intersected
    with the direction and the largest change; None when it is empty. On a ladder, the
    span of the rungs the person may move to (its largest change counts rungs)."""
    if factor.is_ladder:
        rungs = allowed_levels(factor, current)[1:]
        return (float(rungs.min()), float(rungs.max())) if len(rungs) else None
    low = max(factor.safe_lower, current - factor.max_change)
    high = min(factor.safe_upper, current + factor.max_change)
    if factor.direction == Direction.UP:
        low = max(low, current)
    elif factor.direction == Direction.DOWN:
        high = min(high, current)
    return (low, high) if low <= high + _TOL else None


def nearest_allowed(factor: ModifiableFactor, current: float, value: float) -> float:
    """``value`` moved onto the nearest level the person may move to; the current value
    if ``value`` is the current value or no level is allowed."""
    if abs(value - current) <= _TOL:
        return current
    options = allowed_levels(factor, current)[1:]
    return current if len(options) == 0 else float(options[np.abs(options - value).argmin()])


def resistance_of(factor: ModifiableFactor, row: Mapping, scale: float = 1.0) -> float:
    """The person's resistance: their own (``resistance__<factor>``) or the default."""
    rho = factor.resistance
    personal = row.get(f"resistance__{factor.column}")
    if personal is not None and personal == personal:  # not NaN
        rho = float(personal)
    return rho * scale


def profile_features(problem: PersonProblem, levels: np.ndarray) -> np.ndarray:
    """Encoded feature rows with the chosen levels written in.

    ``levels`` is one profile (factors,) or many (profiles x factors) of level indices.
    """
    choices = np.atleast_2d(np.asarray(levels, dtype=int))
    rows = np.repeat(problem.features[None, :], len(choices), axis=0)
    for j, (f, col) in enumerate(zip(problem.factors, problem.factor_features, strict=True)):
        rows[:, col] = f.levels[choices[:, j]]
    for d in problem.derived:
        if d.feature >= 0:
            rows[:, d.feature] = d.values(problem.factors, choices)
    return rows


def build_problem(
    person_id: object,
    row: Mapping,
    description: SurveyDescription,
    *,
    features: np.ndarray,
    feature_names: Sequence[str],
    logit_before: float,
    curves: Mapping[str, EffectCurve],
    resistance_scale: float = 1.0,
) -> PersonProblem:
    """Assemble one person's problem from their survey row and the model's view of them.

    ``row`` maps canonical columns to the person's answers (blank = NaN or None). Exact
    mode adds the person's trees or tables with
    :func:`sleeprx.optimize.factor_tables.attach_ensemble`.
    """
    choices, held = [], []
    grouped = {lever for g in description.lever_groups for lever in g.levers}
    for factor in description.modifiable:
        current = _number(row.get(factor.column))
        limits = factor.limits_for(row)
        if np.isnan(current):
            held.append((factor.column, "the answer is missing"))
            continue
        if not limits.available:
            held.append((factor.column, "not offered to this person"))
            continue
        rho = resistance_of(factor, row, resistance_scale)
        fixed = 0.0 if factor.column in grouped else factor.fixed_cost  # the group's, once
        choices.append(_choice(factor, current, limits, rho, fixed, curves[factor.column]))
    names = list(feature_names)
    idx = tuple(names.index(c.name) for c in choices)
    movable = [c.name for c in choices]
    rows = _linear_rows(description, row, movable)
    derived = _derived_rows(description, row, movable, names, curves)
    groups = tuple(
        GroupRow(g.name, members, g.fixed_cost * g.resistance * resistance_scale)
        for g in description.lever_groups
        if (members := tuple(movable.index(m) for m in g.levers if m in movable))
    )
    return PersonProblem(
        person_id,
        tuple(choices),
        float(logit_before),
        features,
        idx,
        rows=rows + tuple(r for r, _ in derived if r is not None),
        held=tuple(held),
        derived=tuple(d for _, d in derived),
        groups=groups,
    )


def _choice(
    factor: ModifiableFactor,
    current: float,
    limits: Limits,
    rho: float,
    fixed: float,
    curve: EffectCurve,
) -> FactorChoice:
    """One factor's options, kept for the next person with the same answer, limits and
    costs (:data:`_CHOICES`): on one person their arrays cost about what the solve does,
    and in a population the same few answers recur. The arrays are read-only, since
    problems share them."""
    # floats by their hex, which tells -0.0 from 0.0 (levels[0] is the answer itself)
    key = (id(factor), id(curve), current.hex(), limits, float(rho).hex(), float(fixed).hex())
    kept = _CHOICES.get(key)
    if kept is not None and kept[0] is factor and kept[1] is curve:
        return kept[2]
    levels = allowed_levels(factor, current, limits)
    intensity = steps_between(factor, levels, current)
    changed = np.arange(len(levels)) > 0
    cost = rho * (fixed * changed + intensity)
    gain = curve(levels) - curve(current)
    for array in (levels, cost, intensity, gain):
        array.flags.writeable = False
    choice = FactorChoice(factor.column, levels, cost, intensity, gain)
    if len(_CHOICES) >= _KEEP:
        _CHOICES.clear()
    _CHOICES[key] = (factor, curve, choice)  # the objects too: their ids stay theirs
    return choice


#: Factor options by (factor, curve, current value, limits, resistance, fixed cost):
#: the factor and curve by identity, held with the entry so that no other object can
#: take their ids while it is kept; cleared when it holds :data:`_KEEP`.
_CHOICES: dict[tuple, tuple[ModifiableFactor, EffectCurve, FactorChoice]] = {}
_KEEP = 4096


def _derived_rows(
    description: SurveyDescription,
    row: Mapping,
    movable: list[str],
    names: list[str],
    curves: Mapping[str, EffectCurve],
) -> list[tuple[LinearRow | None, DerivedRow]]:
    """Each derived lever the person can move, with the row holding its safe range
    (None without one), relaxed to "no worse than now" like a linear constraint."""
    out = []
    for lever in description.derived_levers:
        now = {t.column: _number(row.get(t.column)) for t in lever.terms}
        moving = tuple((c, movable.index(c)) for c in now if c in movable)
        if any(np.isnan(v) for v in now.values()) or not moving:
            continue  # a blank term is a held lever: the value cannot move
        fixed = tuple((c, v) for c, v in now.items() if c not in movable)
        current = float(derived_value(lever, now))
        feature = names.index(lever.name) if lever.name in names else -1
        derived = DerivedRow(lever, moving, fixed, feature, curves.get(lever.name), current)
        bounded, coef = None, {t.column: t.coef for t in lever.terms}
        if lever.lower is not None or lever.upper is not None:
            bounded = LinearRow(
                f"derived:{lever.name}",
                tuple((k, coef[c]) for c, k in moving),
                float(lever.constant + sum(coef[c] * v for c, v in fixed)),
                -np.inf if lever.lower is None else min(lever.lower, current),
                np.inf if lever.upper is None else max(lever.upper, current),
            )
        out.append((bounded, derived))
    return out


def _number(value: object) -> float:
    return float("nan") if value is None else float(value)


def _linear_rows(
    description: SurveyDescription, row: Mapping, movable: list[str]
) -> tuple[LinearRow, ...]:
    """The description's constraints for this person, relaxed to "no worse than now"
    where they are already broken; one over a blank answer cannot be evaluated and is
    left out (the blank lever is held, so it cannot be made worse by a change). Levers
    the person cannot move, and covariates, enter the constant at their answers."""
    out = []
    for c in description.constraints:
        now = [_number(row.get(t.column)) for t in c.terms]
        if any(np.isnan(v) for v in now):
            continue
        terms = tuple((movable.index(t.column), t.coef) for t in c.terms if t.column in movable)
        constant = sum(
            t.coef * v for t, v in zip(c.terms, now, strict=True) if t.column not in movable
        )
        value = sum(t.coef * v for t, v in zip(c.terms, now, strict=True))
        lower, upper = row_bounds(c.lower, c.upper, value)
        out.append(LinearRow(c.name, terms, float(constant), float(lower), float(upper)))
    return tuple(out)
