"""Prescriptions for a population: build, solve, verify, and describe each one.

For every person: build the problem, formulate the program for the chosen mode, solve
it, read the chosen levels back, then re-score the prescribed profile with the real
classifier. One row per person; a person with invalid data gets an ``error`` row and
the run goes on for everybody else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.explain import Explanation, effect_curves
from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.factor_tables import attach_ensembles
from sleeprx.optimize.problem import PersonProblem, build_problem
from sleeprx.optimize.routes import Found, find_best
from sleeprx.prescribing import columns
from sleeprx.prescribing.columns import after, before
from sleeprx.prescribing.status import Status
from sleeprx.prescribing.verify import rescore
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.curves import EffectCurve
from sleeprx.survey.read import Survey, typed_id
from sleeprx.utils.errors import ConfigError, SolverError, SurveyError
from sleeprx.utils.odds import sigmoid
from sleeprx.utils.progress import track

__all__ = ["Plan", "decide", "plan_person", "prepare_problems", "prescribe"]


@dataclass(frozen=True)
class Plan:
    """The program's answer for one person, before verification."""

    person_id: object
    status: Status
    levels: tuple[int, ...] | None  # chosen level index per factor
    gain_planned: float  # delta-logit under the mode's own gain model
    gain_surrogate: float  # delta-logit under the SHAP surrogate
    cost: float
    intensity: float
    objective: float
    solver_status: str
    gap: float
    seconds: float
    reason: str = ""
    margin_mip: float = float("nan")


#: Whose estimate an "infeasible" verdict rests on, by mode.
VERDICT_BY = {
    "surrogate": "by the SHAP surrogate's estimate",
    "exact": "by the model itself",
}


def plan_person(
    problem: PersonProblem, settings: PrescribeSettings, *, outcome: str = "the positive outcome"
) -> Plan:
    """Solve one person's program and decide changed / no change / infeasible.

    ``outcome`` names the positive class in the reasons (the description's label).
    """
    start = time.perf_counter()
    solution = find_best(problem, settings)
    return decide(problem, settings, solution, time.perf_counter() - start, outcome=outcome)


def decide(
    problem: PersonProblem,
    settings: PrescribeSettings,
    solution: Found,
    seconds: float,
    *,
    outcome: str = "the positive outcome",
) -> Plan:
    """Turn an optimum into a plan: changed, no change (with the reason), infeasible or
    time limit, applying the minimum-gain rules of ``settings``."""
    pid = problem.person_id
    if solution.levels is None:  # solution.status is the solver's termination
        if solution.status == "time_limit":
            status, reason = (
                Status.TIME_LIMIT,
                (f"time limit {settings.time_limit:g} s reached before any solution was found"),
            )
        elif settings.goal is not None:
            judge = VERDICT_BY[settings.mode]
            status, reason = (
                Status.INFEASIBLE,
                (
                    f"no allowed change (at most {settings.max_changes}, inside the safe ranges) "
                    f"reaches p >= {settings.goal:g} {judge}"
                ),
            )
        else:
            status, reason = Status.INFEASIBLE, "the program has no feasible point"
        nan = math.nan
        return Plan(
            pid,
            status,
            None,
            nan,
            nan,
            nan,
            nan,
            nan,
            solution.status,
            solution.gap,
            seconds,
            reason,
        )
    levels = solution.levels
    pick = list(zip(problem.factors, levels, strict=True))
    gain = solution.gain
    surrogate = float(sum(f.surrogate_gain[i] for f, i in pick))
    cost = float(sum(f.cost[i] for f, i in pick))
    intensity = float(sum(f.intensity[i] for f, i in pick))
    objective = gain - settings.lam * cost if settings.goal is None else cost
    n_changes = sum(i > 0 for i in levels)
    margin = problem.logit_before + gain
    status = Status.CHANGED if n_changes else Status.NO_CHANGE
    reason = ""
    rise = sigmoid(margin) - sigmoid(problem.logit_before)
    too_small = ""
    if settings.goal is None and n_changes and objective <= settings.min_gain:
        too_small = (
            f"the best change scores {objective:.3f} log-odds after its penalty, "
            f"not above the minimum gain {settings.min_gain:g}"
        )
    elif settings.goal is None and n_changes and rise <= settings.min_gain_prob:
        too_small = (
            f"the best change would raise the chance of {outcome} from "
            f"{sigmoid(problem.logit_before):.3f} by only {rise:.4f}, not above "
            f"the minimum {settings.min_gain_prob:g}"
        )
    if too_small:
        status, reason = Status.NO_CHANGE, too_small
        levels = (0,) * len(levels)
        gain = surrogate = cost = intensity = objective = 0.0
        margin = problem.logit_before
    elif not n_changes:
        reason = (
            f"already at p >= {settings.goal:g}"
            if settings.goal is not None
            else f"no allowed change raises the predicted chance of {outcome} by more than it costs"
        )
    if solution.status == "time_limit":
        status = Status.TIME_LIMIT
        reason = (
            f"time limit {settings.time_limit:g} s reached; best solution found, "
            f"gap {solution.gap:.2g}"
        )
    return Plan(
        pid,
        status,
        levels,
        gain,
        surrogate,
        cost,
        intensity,
        objective,
        solution.status,
        solution.gap,
        seconds,
        reason,
        margin,
    )


def prepare_problems(
    model: TrainedModel,
    frame: pd.DataFrame,
    settings: PrescribeSettings,
    *,
    explanation: Explanation | None = None,
    curves: dict[str, EffectCurve] | None = None,
) -> tuple[dict[int, PersonProblem], dict[int, str]]:
    """Build every person's problem; people who cannot have one get an error message."""
    if frame.empty:
        return {}, {}
    description = model.description
    curves = curves or effect_curves(model, frame, explanation)
    model.check_frame(frame)
    X = model.pipeline.named_steps["encode"].transform_array(frame)
    scorer = tree_scorer(model.booster)
    logits = scorer.margin(X)
    names = model.feature_names
    problems, errors = {}, {}
    # plain dicts: a pandas row lookup per person costs more than the person's solve
    rows = frame.to_dict(orient="records")
    for pid, row, x, logit in zip(frame.index, rows, X, logits, strict=True):
        problem = build_problem(
            pid,
            row,
            description,
            features=x,
            feature_names=names,
            logit_before=logit,
            curves=curves,
            resistance_scale=settings.resistance_scale,
        )
        if settings.goal is not None:  # a calibrated model moves the goal's threshold
            problem = replace(problem, goal_margin=model.goal_margin(settings.goal))
        problems[pid] = problem
    if settings.mode == "exact":  # all at once: the trees are walked for many people
        compiled = attach_ensembles(
            list(problems.values()),
            scorer,
            encoding=settings.tree_encoding,
            max_cells=settings.max_table_cells,
        )
        problems = dict(zip(problems, compiled, strict=True))
    return problems, errors


def prescribe(
    survey: Survey,
    model: TrainedModel,
    *,
    settings: PrescribeSettings | None = None,
    ids: Iterable[int | str] | None = None,
    explanation: Explanation | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """One verified prescription per person, as a DataFrame (see the README for columns).

    The effect curves are the model's own (estimated on its training survey) unless
    ``explanation`` is given.
    """
    settings = settings or PrescribeSettings()
    model.check_survey(survey)
    model = model.with_description(survey.description)  # the survey's policy applies
    frame = survey.frame
    if frame.empty:
        first = f"; the first problem: {survey.problems[0].message}" if survey.problems else ""
        raise SurveyError(f"{Path(survey.source).name}: no valid rows to prescribe for{first}")
    curves = effect_curves(model, frame, explanation)  # whole survey, if estimated here
    wanted = list(frame.index) if ids is None else list(ids)
    invalid = {
        pid: p.message for p in survey.problems if (pid := survey.id_of(p.person_id)) is not None
    }
    if ids is not None:  # ids typed like the survey's (text from a command line, say)
        wanted = [typed_id(survey.description, i) for i in wanted]
    unknown = [i for i in wanted if i not in frame.index and i not in invalid]
    if unknown:
        raise ConfigError(f"--ids: no person with id {unknown[0]} in {survey.source}")
    if ids is None:
        wanted = sorted(wanted + list(invalid))
    valid = [i for i in wanted if i in frame.index]
    problems, errors = prepare_problems(model, frame.loc[valid], settings, curves=curves)
    errors |= {i: invalid[i] for i in wanted if i in invalid}

    outcome = model.description.target.positive_label
    # People whose answers are identical have the same problem: solve it once.
    answers = frame.loc[list(problems)].drop(
        columns=[model.description.target.column], errors="ignore"
    )
    same_as = _first_alike(answers)
    plans: dict[object, Plan] = {}
    for pid in track(list(problems), "prescribing", enabled=progress):
        twin = same_as[pid]
        if twin in plans:
            plans[pid] = replace(plans[twin], person_id=pid)
            continue
        try:
            plans[pid] = plan_person(problems[pid], settings, outcome=outcome)
        except SolverError as exc:
            errors[pid] = str(exc)
    table = _table(model, frame, problems, plans, errors, wanted, settings)
    table.attrs["distinct_problems"] = len(set(same_as.values()))
    return table


def _first_alike(frame: pd.DataFrame) -> dict[object, object]:
    """Each person's id -> the id of the first person with exactly the same answers."""
    if frame.empty:
        return {}
    first: dict[str, object] = {}
    out = {}
    for pid, answers in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        out[pid] = first.setdefault(repr(answers), pid)  # repr: blanks compare equal
    return out


def _table(model, frame, problems, plans, errors, wanted, settings) -> pd.DataFrame:
    names = model.description.modifiable_names
    current = dict(zip(frame.index, frame[list(names)].to_dict(orient="records"), strict=True))
    chosen = {  # every lever's value after the plan; held levers keep their answers
        pid: current[pid]
        | {f.name: f.levels[i] for f, i in zip(problems[pid].factors, plan.levels, strict=True)}
        for pid, plan in plans.items()
        if plan.levels is not None
    }
    profiles = pd.DataFrame.from_dict(chosen, orient="index", columns=list(names))
    scored = rescore(model, frame, profiles) if len(profiles) else pd.DataFrame()
    scores = scored.to_dict(orient="index")
    rows = []
    for pid in wanted:
        if pid in errors:
            rows.append({"person_id": pid, "status": Status.ERROR, "advice": errors[pid]})
            continue
        plan, problem = plans[pid], problems[pid]
        row = {"person_id": pid, "status": plan.status}
        was = [float(current[pid][n]) for n in names]
        now = [chosen[pid][n] for n in names] if pid in chosen else was
        if pid in scores:
            s = scores[pid]
            row |= {
                "p_before": s["p_before"],
                "p_after": s["p_after"],
                "gain_logit": s["logit_after"] - s["logit_before"],
            }
        else:
            row |= {
                "p_before": sigmoid(problem.logit_before),
                "p_after": math.nan,
                "gain_logit": math.nan,
            }
        row |= {
            "n_changes": sum(i > 0 for i in plan.levels) if plan.levels else 0,
            "p_after_surrogate": sigmoid(problem.logit_before + plan.gain_surrogate),
            "gain_surrogate": plan.gain_surrogate,
            "gain_planned": plan.gain_planned,
            "cost": plan.cost,
            "intensity": plan.intensity,
            "objective": plan.objective,
            "margin_mip": plan.margin_mip,
        }
        for name, b, a in zip(names, was, now, strict=True):
            row[before(name)], row[after(name)] = b, (a if plan.levels else math.nan)
        row["advice"] = _advice(model, plan, was, now) + _held_note(model, problem)
        row |= {
            "solver_status": plan.solver_status,
            "gap": plan.gap,
            "solve_seconds": plan.seconds,
            "mode": settings.mode,
        }
        rows.append(row)
    table = pd.DataFrame(rows)
    return _order_columns(table, names).assign(model_disagrees=lambda t: _disagrees(t, settings))


def _disagrees(table: pd.DataFrame, settings: PrescribeSettings) -> pd.Series:
    """The real model does not bear the plan out: its gain is not positive or far below
    the planned one, or (with a goal) its probability falls short of the goal."""
    changed = table["status"].eq(Status.CHANGED)
    real, planned = table["gain_logit"], table["gain_planned"]
    short = (real <= 0) | (real < settings.disagree_ratio * planned)
    if settings.goal is not None:
        short |= table["p_after"] < settings.goal
    return changed & short


def _order_columns(table: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    """The columns of :mod:`~sleeprx.prescribing.columns` but ``model_disagrees``, in
    order; a column no row filled (an all-error table) is blank."""
    order = columns.names(names)[:-1]
    for column in order:
        if column not in table.columns:
            table[column] = math.nan
    return table[order]


def _advice(model: TrainedModel, plan: Plan, before: list[float], after: list[float]) -> str:
    """One plain sentence in the description's words (labels, units, clock times)."""
    from sleeprx.survey.display import (  # formatting lives there
        change_phrase,
        join_phrases,
        sentence,
    )

    if plan.levels is None:
        return f"No prescription: {plan.reason}."
    parts = [
        phrase
        for factor, b, a in zip(model.description.modifiable, before, after, strict=True)
        if (phrase := change_phrase(factor, b, a)) is not None
    ]
    if not parts:
        return f"No change: {plan.reason}."
    suffix = f" ({plan.reason})" if plan.status == Status.TIME_LIMIT else ""
    return sentence(join_phrases(parts) + suffix)


def _held_note(model: TrainedModel, problem: PersonProblem) -> str:
    """Which levers were not considered for this person, and why."""
    labels = {f.column: f.label for f in model.description.modifiable}
    return "".join(f" No advice on {labels[name]}: {why}." for name, why in problem.held)


def _number(v: float) -> str:
    from sleeprx.survey.display import format_number

    return format_number(v)
