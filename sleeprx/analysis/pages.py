"""The plain data of a person's page: answers, plan, alternatives, reasons and caveats.

:func:`person_pages` prescribes for the people asked for (or reads their rows of a
prescription table already made), prescribes again with at most 1, 2 and 3 changes
for the alternatives, and says for every lever why it was changed, or why not.
:mod:`sleeprx.analysis.html` turns these pages into HTML; nothing here knows HTML.

A change's share of the gain depends on the mode. In surrogate mode the plan's gain is
a sum over levers, ``g_f(after) - g_f(before)`` on each effect curve, so the shares add
up to one. In exact mode each change alone is scored by the model's trees and set
against the whole plan's gain; the trees let changes interact, so the shares need not
add up to one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import pandas as pd

from sleeprx.learn.explain import effect_curves
from sleeprx.learn.model import TrainedModel
from sleeprx.prescribing.columns import OPTION, after, before
from sleeprx.prescribing.options import first_options
from sleeprx.prescribing.run import prepare_problems, prescribe
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import Limits, ModifiableFactor, SurveyDescription
from sleeprx.survey.display import (
    change_phrase,
    counted,
    factor_label,
    format_range,
    format_value,
    is_missing,
    join_phrases,
    positive_label,
    sentence,
)
from sleeprx.survey.read import Survey, typed_id

__all__ = [
    "ALTERNATIVE_KS",
    "Alternative",
    "Answer",
    "Change",
    "NotAdvised",
    "Option",
    "PersonPage",
    "Reason",
    "person_pages",
]

#: The alternatives shown: the best plan with at most this many changes.
ALTERNATIVE_KS = (1, 2, 3)

#: The robust columns a prescription table may carry (read when present).
ROBUST_COLUMNS = ("validity", "p_after_low", "p_after_high")


class Reason(StrEnum):
    """Why a lever was not advised on (the words of the page's table)."""

    BLANK = "blank answer"
    RULE = "a rule"
    SAFE_RANGE = "safe range"
    HELD = "held"


@dataclass(frozen=True)
class Answer:
    """One of the person's answers, in words."""

    label: str
    value: str
    lever: bool  # a modifiable factor


@dataclass(frozen=True)
class Change:
    """One change of the plan and its share of the plan's gain (NaN: unknown)."""

    label: str
    before: str
    after: str
    phrase: str
    gain: float  # log-odds: the change alone (exact) or on its effect curve (surrogate)
    share: float


@dataclass(frozen=True)
class NotAdvised:
    """A lever the plan leaves alone, with the kind of reason and the reason."""

    label: str
    reason: str  # one of :class:`Reason`'s
    detail: str


@dataclass(frozen=True)
class Alternative:
    """The best plan with at most ``k`` changes, scored by the real classifier."""

    k: int
    status: str
    n_changes: int
    cost: float
    gain: float  # log-odds, the real classifier's
    p_after: float
    advice: str


@dataclass(frozen=True)
class Option:
    """One of the person's N best distinct plans (``PrescribeSettings.options``),
    scored by the real classifier; ``validity`` is NaN without bootstrap refits."""

    rank: int
    n_changes: int
    cost: float
    gain: float  # log-odds, the real classifier's
    p_after: float
    validity: float
    advice: str


@dataclass(frozen=True)
class PersonPage:
    """Everything one person's page says. Probabilities are in 0..1; NaN: none."""

    person_id: object
    outcome: str  # the positive class in words ("good sleep")
    mode: str
    max_changes: int
    status: str
    advice: str
    p_before: float
    p_after: float
    p_after_low: float = math.nan
    p_after_high: float = math.nan
    validity: float = math.nan
    gain: float = math.nan
    cost: float = math.nan
    answers: Sequence[Answer] = ()
    changes: Sequence[Change] = ()
    alternatives: Sequence[Alternative] = ()
    not_advised: Sequence[NotAdvised] = ()
    options: Sequence[Option] = ()  # the N best distinct plans, best first
    options_asked: int = 1  # N; above 1, the page has a section for the options

    @property
    def changed(self) -> bool:
        return self.status == Status.CHANGED and bool(self.changes)

    @property
    def simpler(self) -> Alternative | None:
        """The first alternative with fewer changes than the plan whose chance, by the
        real classifier, is as high (to the nearest half point), if any: the surrogate
        may have counted on a change the model does not bear out."""
        if not self.changed:
            return None
        return next(
            (
                a
                for a in self.alternatives
                if 0 < a.n_changes < len(self.changes) and a.p_after >= self.p_after - 0.005
            ),
            None,
        )


def person_pages(
    survey: Survey,
    model: TrainedModel,
    ids: Iterable[int | str] | None = None,
    *,
    settings: PrescribeSettings | None = None,
    table: pd.DataFrame | None = None,
) -> list[PersonPage]:
    """One page per person of ``ids`` (default: everybody), in that order.

    ``table`` is :func:`~sleeprx.prescribing.run.prescribe`'s table for ``settings``
    when it is already made (people of ``ids`` it lacks are prescribed here); it may
    carry the robust columns ``validity``, ``p_after_low`` and ``p_after_high``, and with
    ``settings.options`` above 1 it holds each person's N best plans (its ``option``
    column). The alternatives are prescribed again with ``max_changes`` 1, 2 and 3,
    one plan each, and the other settings kept.
    """
    settings = settings or PrescribeSettings()
    model = model.with_description(survey.description)
    if table is None or (settings.options > 1 and OPTION not in table.columns):
        table = prescribe(survey, model, settings=settings, ids=ids)
    wanted = (
        list(first_options(table)["person_id"])
        if ids is None
        else [typed_id(survey.description, i) for i in ids]
    )
    # a pipeline prescribes a sample of people: those wanted outside it are prescribed here
    missing = [i for i in wanted if i not in set(table["person_id"])]
    if missing:
        extra = prescribe(survey, model, settings=settings, ids=missing)
        table = pd.concat([table, extra], ignore_index=True)
    rows = first_options(table).set_index("person_id")
    one_plan = {"options": 1}
    others = {
        k: prescribe(
            survey,
            model,
            settings=settings.model_copy(update={"max_changes": k} | one_plan),
            ids=wanted,
        ).set_index("person_id")
        for k in ALTERNATIVE_KS
    }
    options = _options(table, settings, survey.description)
    valid = [i for i in wanted if i in survey.frame.index]
    # the problems say which levers may move; surrogate mode skips compiling the trees
    structure = settings.model_copy(update={"mode": "surrogate"})
    problems = prepare_problems(model, survey.frame.loc[valid], structure)
    curves = effect_curves(model, survey.frame)
    pages = []
    for pid in wanted:
        row = rows.loc[pid]
        alternatives = [
            _alternative(k, others[k].loc[pid], survey.description) for k in ALTERNATIVE_KS
        ]
        page = _page(pid, row, settings, survey.description, alternatives)
        page = replace(page, options=options.get(pid, ()), options_asked=settings.options)
        if pid in survey.frame.index:
            answers = survey.frame.loc[[pid]]
            changes = _changes(model, answers, row, settings.mode, curves)
            held = _not_advised(problems[pid], answers.iloc[0], row, survey.description)
            page = _with_person(page, answers.iloc[0], survey.description, changes, held)
        pages.append(page)
    return pages


def _number(value: object) -> float:
    return math.nan if is_missing(value) else float(value)


def _page(
    pid: object,
    row: pd.Series,
    settings: PrescribeSettings,
    description: SurveyDescription,
    alternatives: list[Alternative],
) -> PersonPage:
    """The page's headline numbers, from the person's row of the prescription table."""
    p_before = _number(row.get("p_before"))
    changed = row["status"] == Status.CHANGED
    robust = {c: _number(row.get(c)) if changed else math.nan for c in ROBUST_COLUMNS}
    return PersonPage(
        person_id=pid,
        outcome=positive_label(description),
        mode=settings.mode,
        max_changes=settings.max_changes,
        status=str(row["status"]),
        advice=plan_words(row, description),
        p_before=p_before,
        p_after=_number(row.get("p_after")) if changed else p_before,
        gain=_number(row.get("gain_logit")) if changed else 0.0,
        cost=_number(row.get("cost")) if changed else 0.0,
        alternatives=alternatives,
        **robust,
    )


def _with_person(
    page: PersonPage,
    answers: pd.Series,
    description: SurveyDescription,
    changes: list[Change],
    not_advised: list[NotAdvised],
) -> PersonPage:
    return replace(
        page,
        answers=_answers(answers, description),
        changes=changes,
        not_advised=not_advised,
    )


def plan_words(row: pd.Series, description: SurveyDescription) -> str:
    """A table row's plan in one sentence: its changes, or why there are none. The
    notes on levers not advised on are left to the page's own table of them."""
    if row["status"] == Status.CHANGED:
        phrases = [
            change_phrase(f, float(row[before(f.column)]), float(row[after(f.column)]))
            for f in _moved(description, row)
        ]
        return sentence(join_phrases([p for p in phrases if p]))
    # the table appends " No advice on <lever>: <why>." per held lever (prescribing.table)
    return str(row.get("advice") or "").split(" No advice on ")[0]


def _alternative(k: int, row: pd.Series, description: SurveyDescription) -> Alternative:
    changed = row["status"] == Status.CHANGED
    p_before = _number(row.get("p_before"))
    return Alternative(
        k=k,
        status=str(row["status"]),
        n_changes=int(_number(row.get("n_changes")) or 0) if changed else 0,
        cost=_number(row.get("cost")) if changed else 0.0,
        gain=_number(row.get("gain_logit")) if changed else 0.0,
        p_after=_number(row.get("p_after")) if changed else p_before,
        advice=plan_words(row, description),
    )


def _options(
    table: pd.DataFrame, settings: PrescribeSettings, description: SurveyDescription
) -> dict[object, list[Option]]:
    """Each person's changed plans among their N best, by ``option``; none when the
    settings ask for one plan."""
    if settings.options == 1 or OPTION not in table.columns:
        return {}
    out: dict[object, list[Option]] = {}
    for _, row in table[table["status"] == Status.CHANGED].iterrows():
        out.setdefault(row["person_id"], []).append(
            Option(
                rank=int(row[OPTION]),
                n_changes=int(row["n_changes"]),
                cost=_number(row.get("cost")),
                gain=_number(row.get("gain_logit")),
                p_after=_number(row.get("p_after")),
                validity=_number(row.get("validity")),
                advice=plan_words(row, description),
            )
        )
    return out


def _answers(answers: pd.Series, description: SurveyDescription) -> list[Answer]:
    """Every answer of the survey but the id, in the file's order, in words."""
    levers = set(description.modifiable_names)
    out = []
    for column in description.columns:
        for name in column.output_names:
            if name == description.id_column or name not in answers.index:
                continue
            value = answers[name]
            factor = description.factor(name) if name in levers else column
            shown = str(value) if isinstance(value, str) else format_value(factor, value)
            out.append(Answer(factor_label(description, name), shown, name in levers))
    return out


def _moved(description: SurveyDescription, row: pd.Series) -> list[ModifiableFactor]:
    """The levers the plan changes."""
    return [
        f
        for f in description.modifiable
        if not is_missing(row.get(after(f.column)))
        and not is_missing(row.get(before(f.column)))
        and float(row[after(f.column)]) != float(row[before(f.column)])
    ]


def _changes(
    model: TrainedModel, answers: pd.DataFrame, row: pd.Series, mode: str, curves: dict
) -> list[Change]:
    """The plan's changes, each with its share of the plan's gain (see the module)."""
    if row["status"] != Status.CHANGED:
        return []
    moved = _moved(model.description, row)
    olds = [float(row[before(f.column)]) for f in moved]
    news = [float(row[after(f.column)]) for f in moved]
    if mode == "exact":
        alone = _alone_gains(model, answers, moved, news)
        total = _number(row.get("gain_logit"))
    else:
        alone = [
            float(curves[f.column](new) - curves[f.column](old))
            for f, old, new in zip(moved, olds, news, strict=True)
        ]
        total = sum(alone)
    return [
        Change(
            label=f.label,
            before=format_value(f, old),
            after=format_value(f, new),
            phrase=sentence(change_phrase(f, old, new) or ""),
            gain=gain,
            share=gain / total if total > 0 else math.nan,
        )
        for f, old, new, gain in zip(moved, olds, news, alone, strict=True)
    ]


def _alone_gains(
    model: TrainedModel,
    answers: pd.DataFrame,
    moved: list[ModifiableFactor],
    news: list[float],
) -> list[float]:
    """The real model's gain in log-odds of each change made alone."""
    if not moved:
        return []
    rows = pd.concat([answers] * len(moved), ignore_index=True)
    for i, (f, new) in enumerate(zip(moved, news, strict=True)):
        rows.loc[i, f.column] = new
    base = float(model.margin(answers).iloc[0])
    return [float(m) - base for m in model.margin(rows)]


def _not_advised(
    problem, answers: pd.Series, row: pd.Series, description: SurveyDescription
) -> list[NotAdvised]:
    """Every lever the plan leaves alone, and why: a blank answer, a rule, no safe
    value to move to, or held (no change to it was worth its cost)."""
    changed = row["status"] == Status.CHANGED
    moved = {f.column for f in _moved(description, row)} if changed else set()
    held = dict(problem.held)
    choices = {c.name: c for c in problem.factors}
    out = []
    for f in description.modifiable:
        if f.column in moved:
            continue
        if f.column in held:
            blank = is_missing(answers.get(f.column))
            out.append(NotAdvised(f.label, Reason.BLANK if blank else Reason.RULE, held[f.column]))
        elif len(choices[f.column].levels) == 1:
            why = _no_room(f, answers[f.column], f.limits_for(answers.to_dict()))
            out.append(NotAdvised(f.label, Reason.SAFE_RANGE, why))
        else:
            out.append(
                NotAdvised(
                    f.label,
                    Reason.HELD,
                    "kept as it is: no change to it was worth its cost "
                    "within the number of changes allowed",
                )
            )
    return out


def _no_room(factor: ModifiableFactor, current: float, limits: Limits) -> str:
    """Why a lever with a valid answer has no value to move to: the person's range (the
    safe range, or narrower by a rule), direction and largest and smallest changes."""
    span = format_range(factor, limits.lower, limits.upper)
    narrower = (limits.lower, limits.upper) != (factor.safe_lower, factor.safe_upper)
    unit = "rungs" if factor.is_ladder else "h" if factor.clock_origin else factor.unit
    way = {"up": "only upwards", "down": "only downwards"}.get(str(limits.direction), "")
    least = f", smallest change {counted(limits.min_change, unit)}" if limits.min_change else ""
    return (
        f"no safe value to move to from {format_value(factor, current)}: "
        f"{'range for this person' if narrower else 'safe range'} "
        f"{span}{', ' + way if way else ''}, largest change "
        f"{counted(limits.max_change, unit)}{least}"
    )
