"""The prescription table: one verified row per person, with its advice in words.

The columns, their order and their meaning are :mod:`sleeprx.prescribing.columns`'. A
model with bootstrap boosters adds each prescription's confidence
(:func:`~sleeprx.prescribing.confidence.confidence`) and says it in the advice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.problem import PersonProblem
from sleeprx.prescribing import columns
from sleeprx.prescribing.adherence import trust_columns
from sleeprx.prescribing.columns import CONFIDENCE, after, before
from sleeprx.prescribing.confidence import confidence
from sleeprx.prescribing.policy import Plan
from sleeprx.prescribing.status import Status
from sleeprx.prescribing.verify import apply_profiles, rescore_planned
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.derived import derived_value
from sleeprx.survey.display import change_phrase, follows_phrase, join_phrases, sentence
from sleeprx.utils.frames import frame_of_columns
from sleeprx.utils.odds import sigmoid

__all__ = ["TableInput", "build_table"]


@dataclass(frozen=True)
class TableInput:
    """What a prescription table is built from.

    Every id of ``wanted`` has an entry in ``errors`` or in both ``problems`` and
    ``plans``; an id in ``errors`` gets an ``error`` row with the message as advice.
    """

    model: TrainedModel  # with the survey's description
    frame: pd.DataFrame  # the survey's valid rows, indexed by id
    settings: PrescribeSettings
    wanted: Sequence[object]  # the table's people, in its order
    problems: Mapping[object, PersonProblem] = field(default_factory=dict)
    plans: Mapping[object, Plan] = field(default_factory=dict)
    errors: Mapping[object, str] = field(default_factory=dict)


def build_table(data: TableInput) -> pd.DataFrame:
    """One row per person of ``data.wanted``, re-scored by the real classifier.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`sleeprx.prescribing.columns.names` for the description's
        levers, in that order; with :data:`~sleeprx.prescribing.columns.CONFIDENCE`
        last when the model has bootstrap boosters.
    """
    model, frame, plans = data.model, data.frame, data.plans
    names = model.description.modifiable_names
    planned = [pid for pid in data.wanted if pid not in data.errors]
    # plain dicts and lists, one pandas access in and one frame out: on one person each
    # further pandas step would cost more than the person's solve
    rows_of = frame if list(frame.index) == planned else frame.loc[planned]
    values = rows_of.to_numpy(dtype=object)
    header = list(rows_of.columns)  # once: each pass over a text Index costs
    at = [header.index(n) for n in names]
    answers = dict(zip(planned, values.tolist(), strict=True))
    current = {
        pid: {n: float(row[k]) for n, k in zip(names, at, strict=True)}
        for pid, row in answers.items()
    }
    chosen = {  # every lever's value after the plan; held levers keep their answers
        pid: current[pid]
        | {
            f.name: f.levels[i]
            for f, i in zip(data.problems[pid].factors, plan.levels, strict=True)
        }
        for pid, plan in plans.items()
        if plan.levels is not None
    }
    scored = rescore_planned(model, rows_of, chosen, values=values, columns=header)
    derived_of = _derived_of(model, header, answers)
    rows = []
    for pid in data.wanted:
        if pid in data.errors:
            rows.append({"person_id": pid, "status": Status.ERROR, "advice": data.errors[pid]})
            continue
        was = [current[pid][n] for n in names]
        now = [chosen[pid][n] for n in names] if pid in chosen else was
        follows = derived_of(pid, dict(zip(names, now, strict=True)))
        row = _row(data, pid, scored.after.get(pid), scored.p_before[pid], (was, now), follows)
        rows.append(row)
    derived = tuple(d.name for d in model.description.derived_levers)
    table = _frame_of(rows, names + derived, data.settings)
    if model.bootstraps:  # no refits, no confidence: the table stays as it was
        profiles = pd.DataFrame.from_dict(chosen, orient="index", columns=list(names))
        table = _with_confidence(table, data, frame, profiles)
    return trust_columns(table, model, frame, data.settings)  # opt-in, at the end


def _with_confidence(
    table: pd.DataFrame, data: TableInput, frame: pd.DataFrame, profiles: pd.DataFrame
) -> pd.DataFrame:
    """The table with each profile's confidence under the model's bootstrap boosters,
    and the advice of every change saying in how many refitted models it holds."""
    goal = data.settings.goal
    names = [c.name for c in CONFIDENCE]
    if len(profiles):
        before_rows = frame.loc[profiles.index]
        scores = confidence(data.model, before_rows, apply_profiles(frame, profiles), goal=goal)
    else:
        scores = pd.DataFrame(columns=names, dtype=float)
    scores = scores.reindex(pd.Index(table["person_id"])).reset_index(drop=True)
    if goal is None:  # no change, no goal: nothing that could hold
        scores.loc[table["status"].eq(Status.NO_CHANGE).to_numpy(), "validity"] = math.nan
    refits = len(data.model.bootstraps)
    said = table["status"].isin([Status.CHANGED, Status.TIME_LIMIT]) & table["n_changes"].gt(0)
    notes = [
        _holds_note(row, refits, goal) if say else ""
        for say, row in zip(said, scores.itertuples(index=False), strict=True)
    ]
    table = table.assign(advice=table["advice"] + notes)
    return pd.concat([table, scores[names]], axis=1)


def _holds_note(score: tuple, refits: int, goal: float | None) -> str:
    """`` Holds in 19 of 20 refitted models (...).`` for one changed person."""
    held = round(score.validity * refits)
    if goal is not None:
        what = f"p >= {goal:g}; their p after {score.p_after_low:.2f} to {score.p_after_high:.2f}"
    else:
        what = f"a gain; theirs {score.gain_low:.2f} to {score.gain_high:.2f} log-odds"
    return f" Holds in {held} of {refits} refitted models ({what}, 10th to 90th percentile)."


def _row(
    data: TableInput,
    pid: object,
    score: dict | None,
    p_before: float,
    levers: tuple[list[float], list[float]],
    follows: Mapping[str, tuple[float, float]],
) -> dict:
    """The row of one person who has a plan; ``score`` is the re-score of its profile,
    ``levers`` every lever's value before and after it, ``follows`` each derived
    lever's (:func:`_derived_of`)."""
    plan, problem = data.plans[pid], data.problems[pid]
    was, now = levers
    row = {"person_id": pid, "status": plan.status, "p_before": p_before}
    if score is not None:
        row |= {
            "p_after": score["p_after"],
            "gain_logit": score["logit_after"] - score["logit_before"],
        }
    else:
        row |= {"p_after": math.nan, "gain_logit": math.nan}
    row |= {
        "n_changes": int(problem.changes(np.asarray(plan.levels))[0]) if plan.levels else 0,
        "p_after_surrogate": sigmoid(problem.logit_before + plan.gain_surrogate),
        "gain_surrogate": plan.gain_surrogate,
        "gain_planned": plan.gain_planned,
        "cost": plan.cost,
        "intensity": plan.intensity,
        "objective": plan.objective,
        "margin_mip": plan.margin_mip,
    }
    names = data.model.description.modifiable_names
    for name, b, a in zip(names, was, now, strict=True):
        row[before(name)], row[after(name)] = b, (a if plan.levels else math.nan)
    for name, (b, a) in follows.items():
        row[before(name)], row[after(name)] = b, (a if plan.levels else math.nan)
    row["advice"] = advice(data.model, plan, was, now, follows) + _held_note(data.model, problem)
    return row | {
        "solver_status": plan.solver_status,
        "gap": plan.gap,
        "solve_seconds": plan.seconds,
        "mode": data.settings.mode,
    }


def _disagrees(row: dict, settings: PrescribeSettings) -> bool:
    """The real model does not bear the plan out: its gain is not positive or far below
    the planned one, or (with a goal) its probability falls short of the goal. NaN
    compares false, as in pandas."""
    if row["status"] != Status.CHANGED:
        return False
    real, planned = row.get("gain_logit", math.nan), row.get("gain_planned", math.nan)
    short = real <= 0 or real < settings.disagree_ratio * planned
    if settings.goal is not None:
        short = short or row.get("p_after", math.nan) < settings.goal
    return bool(short)


def _frame_of(
    rows: list[dict], names: tuple[str, ...], settings: PrescribeSettings
) -> pd.DataFrame:
    """The rows as the table, its columns in order; a column no row filled (an
    all-error table) is blank."""
    data = {c: [row.get(c, math.nan) for row in rows] for c in columns.names(names)}
    del data["model_disagrees"]  # last, as it always was
    data["model_disagrees"] = [_disagrees(row, settings) for row in rows]
    return frame_of_columns(data)  # pd.DataFrame(data), in a fraction of its time


def _derived_of(
    model: TrainedModel, header: Sequence[str], answers: Mapping[object, list]
) -> Callable[[object, Mapping[str, float]], dict[str, tuple[float, float]]]:
    """``follows(pid, levers)``: each derived lever's value before (the survey's) and
    after the plan (its formula at the levers' new values ``levers``; other terms at
    the person's answers, ``answers[pid]``: a row in the order of ``header``)."""
    derived = model.description.derived_levers
    where = {c: k for k, c in enumerate(header)}

    def follows(pid: object, levers: Mapping[str, float]) -> dict[str, tuple[float, float]]:
        row, out = answers[pid], {}
        for lever in derived:
            values = {t.column: levers.get(t.column, row[where[t.column]]) for t in lever.terms}
            out[lever.name] = (float(row[where[lever.name]]), float(derived_value(lever, values)))
        return out

    return follows


def advice(
    model: TrainedModel,
    plan: Plan,
    before: list[float],
    after: list[float],
    follows: Mapping[str, tuple[float, float]] | None = None,
) -> str:
    """One plain sentence in the description's words (labels, units, clock times); a
    derived lever that moves is said after the changes (``follows``: its values)."""
    if plan.levels is None:
        return f"No prescription: {plan.reason}."
    parts = [
        phrase
        for factor, b, a in zip(model.description.modifiable, before, after, strict=True)
        if (phrase := change_phrase(factor, b, a)) is not None
    ]
    if not parts:
        return f"No change: {plan.reason}."
    text = join_phrases(parts)
    derived = [
        phrase
        for name, (b, a) in (follows or {}).items()
        if (phrase := follows_phrase(model.description.derived(name), b, a)) is not None
    ]
    if derived:
        text += ", " + join_phrases(derived)
    suffix = f" ({plan.reason})" if plan.status == Status.TIME_LIMIT else ""
    return sentence(text + suffix)


def _held_note(model: TrainedModel, problem: PersonProblem) -> str:
    """Which levers were not considered for this person, and why."""
    labels = {f.column: f.label for f in model.description.modifiable}
    return "".join(f" No advice on {labels[name]}: {why}." for name, why in problem.held)
