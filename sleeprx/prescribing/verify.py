"""Re-score prescribed profiles with the real classifier, and check the table.

Independent of the optimisation layer: steps, ladders and limits are re-derived from
the survey description, and margins from the booster's own traversal, so that a
mistake in building or solving a program cannot hide from these checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import TrainedModel
from sleeprx.prescribing.columns import after, before
from sleeprx.prescribing.status import DONE
from sleeprx.survey.derived import derived_value, group_of
from sleeprx.survey.description import LinearConstraint, ModifiableFactor, SurveyDescription
from sleeprx.survey.rules import row_bounds
from sleeprx.utils.errors import SolverError

__all__ = [
    "MARGIN_TOLERANCE",
    "apply_profiles",
    "booster_gain",
    "check_margins",
    "constraint_violations",
    "margin_errors",
    "rescore",
    "rescore_planned",
]

#: The largest gap between the margin an exact-mode program planned and the booster's
#: own margin of the same profile (log-odds) that is rounding, not a wrong program.
MARGIN_TOLERANCE = 1e-6


class OnePerson(Protocol):
    """What :func:`booster_gain` reads of a person's problem
    (:class:`sleeprx.optimize.problem.PersonProblem` has it)."""

    features: np.ndarray  # the encoded feature row of the person's answers
    factors: Sequence  # each with ``levels``, index 0 the current value
    factor_features: Sequence[int]  # each factor's column in ``features``
    logit_before: float


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


@dataclass(frozen=True)
class Rescored:
    """The real model's view of planned people: ``p_before`` of each, and for each
    person with a profile ``p_after``, ``logit_before`` and ``logit_after``."""

    p_before: dict[object, float]
    after: dict[object, dict[str, float]]


def rescore_planned(
    model: TrainedModel,
    rows: pd.DataFrame,
    profiles: Mapping[object, Mapping[str, float]],
    *,
    values: np.ndarray | None = None,
    columns: Sequence[str] | None = None,
) -> Rescored:
    """:meth:`TrainedModel.predict_proba` of ``rows`` (survey rows indexed by id), and
    :func:`rescore` of each profile (a person's every lever after the plan), to the
    bit: the answers before and after are encoded and scored in one call each, not one
    DataFrame per step, which on one person costs many times the trees. ``values`` is
    ``rows.to_numpy(dtype=object)`` and ``columns`` ``list(rows.columns)`` if the caller
    has them. A calibrated model takes :func:`rescore`."""
    ids = list(rows.index)
    if model.calibration is not None or not ids:
        return _rescore_frames(model, rows, profiles)
    encoder = model.pipeline.named_steps["encode"]
    columns = list(rows.columns) if columns is None else columns
    values = rows.to_numpy(dtype=object) if values is None else values
    values = values[:, [columns.index(c) for c in encoder.input_columns]]
    where = {pid: k for k, pid in enumerate(ids)}
    changed = list(profiles)
    moved = values[[where[pid] for pid in changed]]  # a copy: fancy indexing
    for j, column in enumerate(encoder.input_columns):
        if changed and column in profiles[changed[0]]:
            moved[:, j] = [float(profiles[pid][column]) for pid in changed]
    _follow_derived(moved, encoder.input_columns, model.description)
    X = encoder.transform_values(np.concatenate([values, moved]))
    m, p = (v.tolist() for v in tree_scorer(model.booster).scores(X))
    n = len(ids)
    after = {
        pid: {"p_after": p[n + k], "logit_before": m[where[pid]], "logit_after": m[n + k]}
        for k, pid in enumerate(changed)
    }
    return Rescored(dict(zip(ids, p[:n], strict=True)), after)


def _follow_derived(
    values: np.ndarray, columns: Sequence[str], description: SurveyDescription
) -> None:
    """Each derived column of ``values`` (one column per name in ``columns``) set to its
    formula at the row's moved levers, in place: derived values follow in every profile."""
    for lever in description.derived_levers:
        if lever.name in columns:
            terms = {t.column: values[:, columns.index(t.column)] for t in lever.terms}
            values[:, columns.index(lever.name)] = derived_value(lever, terms)


def _rescore_frames(
    model: TrainedModel, rows: pd.DataFrame, profiles: Mapping[object, Mapping[str, float]]
) -> Rescored:
    p_before = model.predict_proba(rows).to_dict() if len(rows) else {}
    if not profiles:
        return Rescored(p_before, {})
    table = pd.DataFrame.from_dict(dict(profiles), orient="index")
    return Rescored(p_before, rescore(model, rows, table).to_dict(orient="index"))


def booster_gain(model: TrainedModel, problem: OnePerson) -> Callable[[np.ndarray], np.ndarray]:
    """A ``gain_of`` for :func:`sleeprx.optimize.bruteforce.brute_force` that asks the
    booster. Independent of exact mode's pruning and threshold mapping: the booster's
    own traversal picks the leaves, summed in float64.
    """

    names = model.feature_names

    def gain_of(choices: np.ndarray) -> np.ndarray:
        choices = np.atleast_2d(np.asarray(choices, dtype=int))
        rows = np.repeat(problem.features[None, :], len(choices), axis=0)
        for j, (f, col) in enumerate(zip(problem.factors, problem.factor_features, strict=True)):
            rows[:, col] = f.levels[choices[:, j]]
        for lever in model.description.derived_levers:  # from the description's formula
            if lever.feature:
                values = {t.column: rows[:, names.index(t.column)] for t in lever.terms}
                rows[:, names.index(lever.name)] = derived_value(lever, values)
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
    change and at least the smallest worth advising; at most ``max_changes`` levers
    move (a lever group's count once); every linear constraint holds after the change,
    or is no worse than before it (a covariate in a constraint counts at the person's
    answer); and every derived lever's after value is its formula, inside its safe
    range or no worse.
    """
    after_columns = [after(f.column) for f in description.modifiable]
    prescribed = table[after_columns].notna().any(axis=1)  # a time limit may leave none
    done = table[table["status"].isin(DONE) & prescribed]
    found: list[str] = []
    ids = done["person_id"].tolist()
    n_changed = np.zeros(len(done), dtype=int)
    groups_moved = {g.name: np.zeros(len(done), dtype=bool) for g in description.lever_groups}
    moves = []  # each lever's moved rows, their values before and after, and if safe
    for f in description.modifiable:
        was = done[before(f.column)].to_numpy(float)
        now = done[after(f.column)].to_numpy(float)
        now = np.where(np.isnan(now) & np.isnan(was), was, now)
        blank = np.isnan(was)
        moved = ~np.isclose(was, now, rtol=0, atol=1e-9) & ~(blank & np.isnan(now))
        group = group_of(description, f.column)
        if group is None:
            n_changed += moved
        else:  # a lever group is one change, however many of its levers move
            groups_moved[group.name] |= moved
        k = np.flatnonzero(moved)
        # np.isclose(a, grid, rtol=0, atol=1e-9) for every moved row at once
        safe = (np.abs(now[k, None] - np.asarray(f.grid, dtype=float)[None, :]) <= 1e-9).any(1)
        moves.append((f, k.tolist(), was[k].tolist(), now[k].tolist(), safe.tolist()))
    rows = _answers(frame, [ids[k] for _, at, *_ in moves for k in at])
    for f, at, was_k, now_k, safe_k in moves:
        for k, b, a, safe in zip(at, was_k, now_k, safe_k, strict=True):
            pid = ids[k]
            for rule in _lever_rules(f, rows[pid], b, a, safe=safe):
                found.append(f"person {pid}: {f.column} moved from {b:g} to {a:g}: {rule}")
    n_changed += sum(groups_moved.values(), np.zeros(len(done), dtype=int))
    for pid, n in zip(ids, n_changed, strict=True):
        if n > max_changes:
            found.append(f"person {pid}: {n} factors changed, more than K = {max_changes}")
    levers = set(description.modifiable_names)
    # covariates' values, row for row with ``done`` (constraints' and formulas' terms)
    answers = frame.loc[ids] if description.constraints or description.derived_levers else frame
    for c in description.constraints:
        was = c.value(_terms(c, done, answers, levers, before))
        now = c.value(_terms(c, done, answers, levers, after))
        for k in np.flatnonzero(~np.isnan(now)):
            low, high = row_bounds(c.lower, c.upper, float(was[k]))
            if not low - 1e-9 <= now[k] <= high + 1e-9:
                found.append(
                    f"person {ids[k]}: constraint '{c.name}' is {now[k]:g} after the change, "
                    f"outside {low:g}..{high:g}"
                )
    return found + _derived_violations(done, description, answers)


def _derived_violations(
    done: pd.DataFrame, description: SurveyDescription, answers: pd.DataFrame
) -> list[str]:
    """A derived lever's after value is its formula at the levers' after values (other
    terms at the person's answers), and inside its safe range or no worse than before."""
    found = []
    levers = set(description.modifiable_names)
    for lever in description.derived_levers:
        values = {
            t.column: done[after(t.column)].to_numpy(float)
            if t.column in levers
            else answers[t.column].to_numpy(float)
            for t in lever.terms
        }
        want = derived_value(lever, values)
        was = done[before(lever.name)].to_numpy(float)
        now = done[after(lever.name)].to_numpy(float)
        low = np.fmin(-np.inf if lever.lower is None else lever.lower, was)
        high = np.fmax(np.inf if lever.upper is None else lever.upper, was)
        for k in np.flatnonzero(~np.isnan(want) | ~np.isnan(now)):
            pid = done["person_id"].iloc[k]
            if not np.isclose(now[k], want[k], rtol=0, atol=1e-9):
                found.append(
                    f"person {pid}: {lever.name} is {now[k]:g} after the change, but its "
                    f"formula gives {want[k]:g}"
                )
            elif not low[k] - 1e-9 <= now[k] <= high[k] + 1e-9:
                found.append(
                    f"person {pid}: {lever.name} is {now[k]:g} after the change, outside its "
                    f"safe range {low[k]:g}..{high[k]:g}"
                )
    return found


def _terms(
    constraint: LinearConstraint,
    done: pd.DataFrame,
    answers: pd.DataFrame,
    levers: set[str],
    side: Callable[[str], str],
) -> dict[str, np.ndarray]:
    """Each term's values: a lever's from the table (``side`` names the before or the
    after column), a covariate's from the person's answers, the same on both sides."""
    return {
        t.column: (done[side(t.column)] if t.column in levers else answers[t.column]).to_numpy(
            float
        )
        for t in constraint.terms
    }


def _answers(frame: pd.DataFrame, ids: Sequence[object]) -> dict[object, dict]:
    """Each person's answers of ``frame`` (indexed by id) as a plain dict, as
    ``frame.loc[pid].to_dict()`` gives them, from one conversion of their rows: a row
    lookup costs more than checking the person's moves."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    header = list(frame.columns)
    values = frame.loc[wanted].to_numpy(dtype=object).tolist()
    return {
        pid: dict(zip(header, row, strict=True)) for pid, row in zip(wanted, values, strict=True)
    }


def _lever_rules(
    factor: ModifiableFactor, answers: dict, before: float, after: float, *, safe: bool
) -> list[str]:
    """The rules a move of ``factor`` from ``before`` to ``after`` breaks; ``safe``:
    ``after`` is one of the factor's safe values (its grid, to 1e-9)."""
    if np.isnan(before):
        return ["the answer was blank"]
    limits = factor.limits_for(answers)
    steps = abs(float(factor.position(after)) - float(factor.position(before)))
    largest = factor.steps_of(limits.max_change)
    broken = {
        "not offered to this person": not limits.available,
        "not a safe value": not safe,
        f"outside this person's {limits.lower:g}..{limits.upper:g}": not (
            limits.lower - 1e-9 <= after <= limits.upper + 1e-9
        ),
        "further than the largest change": steps > largest + 1e-9,
        "less than the smallest change worth advising": (
            steps < factor.steps_of(limits.min_change) - 1e-9
        ),
        "up, which is not allowed": after > before and limits.direction == "down",
        "down, which is not allowed": after < before and limits.direction == "up",
    }
    return [rule for rule, bad in broken.items() if bad]


def margin_errors(table: pd.DataFrame) -> pd.Series:
    """Per row of a prescription table, how far the margin an exact-mode program
    planned is from the booster's own margin of the prescribed profile (log-odds).

    Both margins start from the person's current margin, so the error is
    ``|gain_planned - gain_logit|``. NaN on rows that are not exact mode or have no
    profile (errors, infeasible).
    """
    return pd.Series(_margin_error_array(table), index=table.index)


def _margin_error_array(table: pd.DataFrame) -> np.ndarray:
    """:func:`margin_errors` as a numpy array: each pandas operation costs more than a
    person's solve."""
    done = set(DONE)
    modes, statuses = table["mode"].tolist(), table["status"].tolist()
    exact = np.array(
        [m == "exact" and s in done for m, s in zip(modes, statuses, strict=True)], dtype=bool
    )
    planned = table["gain_planned"].to_numpy(dtype=float)
    error = np.abs(planned - table["gain_logit"].to_numpy(dtype=float))
    return np.where(exact, error, np.nan)


def check_margins(table: pd.DataFrame, *, tolerance: float = MARGIN_TOLERANCE) -> float:
    """The largest of :func:`margin_errors` (0 when no row has one); raises
    :class:`~sleeprx.utils.errors.SolverError` naming the first person beyond
    ``tolerance``: the program's trees do not say what the booster says."""
    errors = _margin_error_array(table)
    beyond = errors > tolerance  # NaN compares false
    if beyond.any():
        first = int(np.flatnonzero(beyond)[0])
        row = table.iloc[first]
        planned = row["margin_mip"]
        real = planned - row["gain_planned"] + row["gain_logit"]
        raise SolverError(
            f"person {row['person_id']}: the exact program planned margin {planned:.9g}, "
            f"the booster gives {real:.9g} for the same profile (error "
            f"{errors[first]:.3g} > tolerance {tolerance:g}); the factor tables "
            "or the program do not match the model"
        )
    known = errors[~np.isnan(errors)]
    return float(known.max()) if len(known) else 0.0
