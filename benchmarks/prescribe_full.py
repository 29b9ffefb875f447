"""The full program beside the matched one: what OCEAN cannot express.

``bench_prescribe.py --match-ocean --full`` adds, in the same run, sleeprx exact on
the survey's own program (its linear constraints, blanks, fixed costs, resistances
and rules) at the same K and goal, and robust exact with B bootstrap boosters. The
people are a sample of the poor sleepers (model p < goal), blank answers included.
Each row is timed per person as ``bench_prescribe`` times sleeprx (one call:
``prepare_problems`` on the person alone plus ``plan_person``; batched:
``prepare_problems`` once for all, each person's equal share plus its own
``plan_person``), and every answer is re-scored, outside the timing, by each
booster's own ``predict`` on the after-profile.
"""

from __future__ import annotations

import time

import numpy as np
import xgboost as xgb
from common import markdown, plan_person, prepare_problems

import sleeprx
from sleeprx.optimize.problem import profile_features
from sleeprx.optimize.robust import least_count
from sleeprx.utils.odds import logit

__all__ = ["full_program"]

HEADER = [
    "program",
    "median ms",
    "p90 ms",
    "changed",
    "no change",
    "infeasible",
    "valid",
    "held",
    "proven",
    "mean cost",
    "routes",
]


def _margins(booster: xgb.Booster, problem, levels) -> float:
    rows = profile_features(problem, np.asarray([levels]))
    matrix = xgb.DMatrix(rows, feature_names=booster.feature_names)
    return float(booster.predict(matrix, output_margin=True)[0])


def _run(model, frame, ids, settings, batched: bool) -> list[tuple[float, object, object]]:
    """(seconds, plan, main problem) per person."""
    out = []
    if batched:
        start = time.perf_counter()
        problems = prepare_problems(model, frame.loc[list(ids)], settings)
        share = (time.perf_counter() - start) / len(ids)
    for pid in ids:
        start = time.perf_counter()
        if not batched:
            problems = prepare_problems(model, frame.loc[[pid]], settings)
        prepared = time.perf_counter() - start
        problem = problems[pid]
        start = time.perf_counter()
        plan = plan_person(problem, settings)
        seconds = (share if batched else prepared) + time.perf_counter() - start
        out.append((seconds, plan, getattr(problem, "main", problem)))
    return out


def _row(label: str, model, runs, settings) -> list[str]:
    """One table row: times, verdicts and the re-scored answers."""
    ms = np.array([s for s, _, _ in runs]) * 1e3
    status = [str(plan.status) for _, plan, _ in runs]
    boosters = [b.booster for b in model.bootstraps]
    need = least_count(settings.robust, len(boosters)) if settings.robust else 0
    t = logit(settings.goal)
    valid = held = 0
    for _, plan, problem in runs:
        if plan.status != "changed":
            continue
        valid += _margins(model.booster, problem, plan.levels) >= model.goal_margin(settings.goal)
        if settings.robust:
            held += sum(_margins(b, problem, plan.levels) >= t for b in boosters) >= need
    changed = status.count("changed")
    routes: dict[str, int] = {}
    for _, plan, _ in runs:
        routes[str(plan.solver_status)] = routes.get(str(plan.solver_status), 0) + 1
    proven = sum(r for k, r in routes.items() if k in ("optimal", "enumerated", "infeasible"))
    costs = [plan.cost for _, plan, _ in runs if plan.status == "changed"]
    return [
        label,
        f"{np.median(ms):.2f}",
        f"{np.percentile(ms, 90):.2f}",
        str(changed),
        str(status.count("no_change")),
        str(status.count("infeasible")),
        f"{valid}/{changed}",
        f"{held}/{changed}" if settings.robust else "n/a",
        f"{proven / len(runs):.1%}",
        f"{np.mean(costs):.2f}" if costs else "n/a",
        ", ".join(f"{k} {n}" for k, n in sorted(routes.items())),
    ]


def full_program(spec, goal: float, k: int, people: int, seed: int, bootstrap: int, share: float):
    """The table (markdown) and its title line, for the survey's full program."""
    description = spec.load()
    survey = sleeprx.read_survey(spec.csv, description)
    frame = survey.frame
    start = time.perf_counter()
    model = sleeprx.train(survey, settings=sleeprx.ModelSettings(bootstrap=bootstrap))
    trained = time.perf_counter() - start
    p = model.predict_proba(frame)
    poor = [pid for pid, v in zip(frame.index, p, strict=True) if v < goal]
    rng = np.random.default_rng(seed)
    ids = list(
        rng.choice(np.asarray(poor, dtype=object), size=min(people, len(poor)), replace=False)
    )
    blanks = int(frame.loc[ids, list(description.feature_columns)].isna().any(axis=1).sum())
    exact = sleeprx.PrescribeSettings(mode="exact", goal=goal, max_changes=k)
    robust = exact.model_copy(update={"robust": share})
    rows = [
        _row("exact, one call", model, _run(model, frame, ids, exact, False), exact),
        _row("exact, batched", model, _run(model, frame, ids, exact, True), exact),
        _row(
            f"robust Q={share:g}, B={bootstrap}, batched",
            model,
            _run(model, frame, ids, robust, True),
            robust,
        ),
    ]
    title = (
        f"The full program of the {spec.title}: goal p >= {goal:g}, K = {k}, its linear "
        f"constraints, fixed costs, resistances and rules; {len(ids)} of {len(poor)} poor "
        f"sleepers, {blanks} of them with a blank answer; default model plus {bootstrap} "
        f"bootstrap boosters (trained once, untimed: {trained:.0f} s); seed {seed}."
    )
    notes = (
        "Columns: valid = changed answers whose after-profile reaches the goal by the main "
        "booster's own predict (calibrated threshold if any); held = changed answers that "
        f"at least ceil(Q B) bootstrap boosters' own predict hold at p >= {goal:g}; proven "
        "= optimal, enumerated or proven infeasible; routes = each person's solver status "
        "(optimal: a bound search or HiGHS; enumerated: every profile scored)."
    )
    return "\n".join([title, "", markdown(HEADER, rows), "", notes])
