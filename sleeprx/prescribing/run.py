"""Prescriptions for a population: set up each person's problem, solve it, verify it.

:func:`prescribe` is the orchestration: it builds every person's problem
(:func:`prepare_problems`), solves each distinct one under the decision policy
(:mod:`sleeprx.prescribing.policy`), and builds the table
(:mod:`sleeprx.prescribing.table`), which the real classifier re-scores. One row per
person; a person with invalid data gets an ``error`` row and the run goes on for
everybody else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.explain import Explanation, effect_curves
from sleeprx.learn.model import TrainedModel
from sleeprx.learn.splits import duplicate_groups
from sleeprx.optimize.factor_tables import attach_ensembles
from sleeprx.optimize.problem import build_problem
from sleeprx.optimize.robust_screen import attach_robust
from sleeprx.prescribing.adherence import attach_filters
from sleeprx.prescribing.options import with_options
from sleeprx.prescribing.policy import (
    Plan,
    Problem,
    decide,
    main_problem,
    plan_options,
    plan_person,
)
from sleeprx.prescribing.table import TableInput, build_table
from sleeprx.prescribing.verify import check_margins
from sleeprx.settings import BOOTSTRAP, PrescribeSettings
from sleeprx.survey.curves import EffectCurve
from sleeprx.survey.read import Survey, check_known_ids, read_survey, typed_id
from sleeprx.utils.errors import ConfigError, SolverError, SurveyError
from sleeprx.utils.progress import track

# Plan, Problem, decide and plan_person live in .policy; they stay importable from here.
__all__ = ["Plan", "Problem", "decide", "plan_person", "prepare_problems", "prescribe"]


def prepare_problems(
    model: TrainedModel,
    frame: pd.DataFrame,
    settings: PrescribeSettings,
    *,
    explanation: Explanation | None = None,
    curves: dict[str, EffectCurve] | None = None,
) -> dict[object, Problem]:
    """Every person's problem, by id; exact mode attaches the trees' factor tables, and
    with ``settings.robust`` those of every bootstrap booster too (a
    :class:`~sleeprx.optimize.robust.RobustProblem` per person)."""
    if frame.empty:
        return {}
    description = model.description
    curves = curves or effect_curves(model, frame, explanation)
    model.check_frame(frame)
    # one conversion of the frame into plain rows and the encoded features: a pandas
    # access (a row lookup, a column subset) costs more than a person's solve
    rows, X = model.pipeline.named_steps["encode"].rows_and_features(frame)
    scorer = tree_scorer(model.booster)
    logits = scorer.margin(X)
    names = model.feature_names
    problems = {}
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
    # robust problems are exact ones: a copy of robust settings in surrogate mode (the
    # pages' structure, say) asks for plain problems
    if settings.robust is not None and settings.mode == "exact":
        problems = attach_filters(problems, model, settings)  # the main model's program
        boosters = [model.booster, *(b.booster for b in model.bootstraps)]
        robust = attach_robust(
            list(problems.values()), boosters, settings, max_cells=settings.max_table_cells
        )
        return dict(zip(problems, robust, strict=True))
    if settings.mode == "exact":  # all at once: the trees are walked for many people
        compiled = attach_ensembles(
            list(problems.values()),
            scorer,
            encoding=settings.tree_encoding,
            max_cells=settings.max_table_cells,
        )
        problems = dict(zip(problems, compiled, strict=True))
    return attach_filters(problems, model, settings)  # half adherence, the trust region


def prescribe(
    people: Survey | pd.DataFrame,
    model: TrainedModel,
    *,
    settings: PrescribeSettings | None = None,
    ids: Iterable[int | str] | None = None,
    explanation: Explanation | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """One verified prescription per person, as a DataFrame.

    ``people`` is a read survey, or a DataFrame in the survey file's own columns (as
    ``pd.read_csv`` of the file gives them), read with the model's description by
    :func:`~sleeprx.survey.read.read_survey`: a person with an invalid cell gets an
    ``error`` row naming the row, column and value; a row without a valid id is
    refused (no row can carry its error).

    The effect curves are the model's own (estimated on its training survey) unless
    ``explanation`` is given. In exact mode every planned margin is checked against the
    booster's own (:func:`~sleeprx.prescribing.verify.check_margins`): a
    :class:`~sleeprx.utils.errors.SolverError` if one is off by more than rounding.

    Returns
    -------
    pandas.DataFrame
        One row per person (of ``ids``, or of the survey in id order), with the columns
        of :mod:`sleeprx.prescribing.columns`; with ``settings.options`` N above 1, up
        to N rows per person numbered by ``option`` (:mod:`sleeprx.prescribing.options`).
        ``attrs["distinct_problems"]`` counts the problems solved (people with identical
        answers share one).
    """
    settings = settings or PrescribeSettings()
    if settings.robust is not None and not model.bootstraps:
        raise ConfigError(
            f"settings.robust {settings.robust:g}: the model has no bootstrap boosters; "
            f"train it with ModelSettings.bootstrap >= 1 ({BOOTSTRAP} measured best)"
        )
    survey = _as_survey(people, model)
    model.check_survey(survey)
    model = model.with_description(survey.description)  # the survey's policy applies
    frame = survey.frame
    if frame.empty:
        first = f"; the first problem: {survey.problems[0].message}" if survey.problems else ""
        raise SurveyError(f"{Path(survey.source).name}: no valid rows to prescribe for{first}")
    curves = effect_curves(model, frame, explanation)  # whole survey, if estimated here
    wanted, invalid = _wanted(survey, ids)
    valid = [i for i in wanted if i in frame.index]
    chosen = frame if list(frame.index) == valid else frame.loc[valid]
    problems = prepare_problems(model, chosen, settings, curves=curves)
    errors = {i: invalid[i] for i in wanted if i in invalid}
    outcome = model.description.target.positive_label
    # People whose answers are identical have the same problem: solve it once.
    same_as = _first_alike(chosen, model.description.target.column)
    plans: dict[object, Plan] = {}
    further: dict[object, list[Plan]] = {}  # options 2..N
    for pid in track(list(problems), "prescribing", enabled=progress):
        twin = same_as[pid]
        if twin in plans:
            plans[pid] = replace(plans[twin], person_id=pid)
            further[pid] = [replace(p, person_id=pid) for p in further[twin]]
            continue
        try:
            plans[pid] = plan_person(problems[pid], settings, outcome=outcome)
            further[pid] = plan_options(problems[pid], settings, plans[pid], outcome=outcome)
        except SolverError as exc:
            plans.pop(pid, None)
            errors[pid] = str(exc)
    mains = {pid: main_problem(p) for pid, p in problems.items()}
    data = TableInput(model, frame, settings, wanted, mains, plans, errors)
    table = with_options(build_table(data), data, further)
    if settings.mode == "exact":  # the trees' program must say what the booster says
        check_margins(table)
    table.attrs["distinct_problems"] = len(set(same_as.values()))
    return table


def _as_survey(people: Survey | pd.DataFrame, model: TrainedModel) -> Survey:
    """``people`` as a survey read with the model's description."""
    if isinstance(people, Survey):
        return people
    survey = read_survey(people, model.description, errors="collect")
    for problem in survey.problems:
        if survey.id_of(problem.person_id) is None:
            raise SurveyError(problem.message)
    return survey


def _wanted(survey: Survey, ids: Iterable[int | str] | None) -> tuple[list, dict[object, str]]:
    """The table's people in order, and the message of each whose row is invalid."""
    invalid = {
        pid: p.message for p in survey.problems if (pid := survey.id_of(p.person_id)) is not None
    }
    if ids is None:
        return sorted(list(survey.frame.index) + list(invalid)), invalid
    # ids typed like the survey's (text from a command line, say)
    wanted = [typed_id(survey.description, i) for i in ids]
    check_known_ids(wanted, set(survey.frame.index) | set(invalid), survey.source)
    return wanted, invalid


def _first_alike(frame: pd.DataFrame, target: str) -> dict[object, object]:
    """Each person's id -> the id of the first person with exactly the same answers
    (all but the ``target`` column)."""
    if len(frame) <= 1:  # nobody to share with; grouping costs more than a solve
        return {pid: pid for pid in frame.index}
    answers = frame.drop(columns=[target], errors="ignore")
    first: dict[int, object] = {}
    groups = duplicate_groups(answers)
    return {
        pid: first.setdefault(int(g), pid) for pid, g in zip(answers.index, groups, strict=True)
    }
