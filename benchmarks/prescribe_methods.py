"""The methods of the recourse benchmark that are sleeprx's own: exact and surrogate
mode, and brute force that scores every allowed profile with the booster.

Each ``*_method`` returns a function of one person's id that gives an :class:`Answer`,
timed from the person's row to the answer (population-level set-up, such as the SHAP
effect curves, is done once, before, untimed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from common import booster_gain, plan_person, prepare_problems

from sleeprx.optimize import brute_force

#: brute force skips a person with more allowed profiles than this (at K = all levers a
#: 10-lever person can have millions)
MAX_PROFILES = 200_000


@dataclass
class Answer:
    """One method's answer for one person. ``values`` is None when it gave none."""

    values: np.ndarray | None
    seconds: float
    proven: bool | None = None  # None: the method proves nothing
    error: str = ""
    parts: tuple[float, float] = (math.nan, math.nan)  # sleeprx: prepare, plan seconds
    cost_reported: float = math.nan


def sleeprx_method(model, frame, settings, explanation) -> Callable[[int], Answer]:
    """sleeprx in ``settings.mode``: prepare_problems on one person + plan_person."""

    def run(pid: int) -> Answer:
        start = time.perf_counter()
        problems = prepare_problems(model, frame.loc[[pid]], settings, explanation=explanation)
        middle = time.perf_counter()
        problem = problems[pid]
        plan = plan_person(problem, settings)
        end = time.perf_counter()
        values = None
        if plan.levels is not None:
            values = problem.values(plan.levels)
        return Answer(
            values,
            end - start,
            plan.solver_status in ("optimal", "enumerated", "infeasible"),
            "" if values is not None else plan.reason,
            (middle - start, end - middle),
            plan.cost,
        )

    return run


def batched_method(model, frame, ids, settings, explanation) -> Callable[[int], Answer]:
    """sleeprx in ``settings.mode`` as the batch engine runs it: ``prepare_problems`` once
    for every person of ``ids`` (on the first call, the untimed warm-up), each person's
    time its equal share of that plus its own ``plan_person``."""
    shared: dict = {}

    def run(pid: int) -> Answer:
        if not shared:
            start = time.perf_counter()
            shared["problems"] = prepare_problems(
                model, frame.loc[list(ids)], settings, explanation=explanation
            )
            shared["share"] = (time.perf_counter() - start) / len(ids)
        problem = shared["problems"][pid]
        start = time.perf_counter()
        plan = plan_person(problem, settings)
        plan_seconds = time.perf_counter() - start
        values = None if plan.levels is None else problem.values(plan.levels)
        return Answer(
            values,
            shared["share"] + plan_seconds,
            plan.solver_status in ("optimal", "enumerated", "infeasible"),
            "" if values is not None else plan.reason,
            (shared["share"], plan_seconds),
            plan.cost,
        )

    return run


def brute_force_method(model, frame, settings, explanation) -> Callable[[int], Answer]:
    """Enumerate every allowed profile and score it with the booster itself."""

    def run(pid: int) -> Answer:
        start = time.perf_counter()
        problems = prepare_problems(model, frame.loc[[pid]], settings, explanation=explanation)
        problem = problems[pid]
        if problem.n_profiles > MAX_PROFILES:
            seconds = time.perf_counter() - start
            return Answer(None, seconds, None, f"skipped: {problem.n_profiles:,} profiles")
        result = brute_force(problem, settings, gain_of=booster_gain(model, problem))
        seconds = time.perf_counter() - start
        if result.levels is None:
            return Answer(None, seconds, True, "no allowed profile reaches the goal")
        values = problem.values(result.levels)
        return Answer(values, seconds, True, "", cost_reported=result.objective)

    return run
