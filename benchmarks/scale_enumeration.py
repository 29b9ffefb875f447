"""Exact mode against batched enumeration with the booster, person by person.

Exact mode per person (set-up by ``prepare_problems`` + ``plan_person``) against
enumeration (``prepare_problems`` without trees, ``enumerate_choices``,
``profile_features`` and one ``inplace_predict`` call of the booster on every profile
with at most K changes, objective gain - lambda * cost from the problem's factor costs),
with min_gain = min_gain_prob = 0 so both answer the same question. The set-up is timed
two ways: one person at a time, and for the whole sample at once, shared equally (as
the batch engine prepares a chunk). Used by ``bench_scale.py``.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from common import load_average, log, markdown, plan_person, prepare_problems
from scale_throughput import machine_block

import sleeprx
from sleeprx.optimize import enumerate_choices, profile_features

TOL = 1e-5  # objectives: the booster sums its leaves in float32


@dataclass
class Compared:
    k: int
    how: str  # "alone" or "in a chunk"
    people: int
    exact_ms: np.ndarray
    exact_prepare_ms: np.ndarray
    enum_ms: np.ndarray
    enum_prepare_ms: np.ndarray
    profiles: np.ndarray
    statuses: dict[str, int]
    mismatches: int
    max_diff: float
    changed: int


class Methods:
    """The two methods on one model and frame, each step timed on its own."""

    def __init__(self, model, frame: pd.DataFrame, k: int) -> None:
        common = {"max_changes": k, "min_gain": 0.0, "min_gain_prob": 0.0}
        self.model, self.frame = model, frame
        self.exact = sleeprx.PrescribeSettings(mode="exact", **common)
        self.plain = sleeprx.PrescribeSettings(mode="surrogate", **common)

    def prepare(self, people, settings):
        t0 = time.perf_counter()
        problems = prepare_problems(
            self.model, self.frame.loc[people], settings, curves=self.model.curves
        )
        return problems, time.perf_counter() - t0

    def solve_exact(self, problem):
        t0 = time.perf_counter()
        plan = plan_person(problem, self.exact)
        return plan, time.perf_counter() - t0

    def solve_enum(self, problem):
        t0 = time.perf_counter()
        choices = enumerate_choices(problem, self.plain)
        rows = profile_features(problem, choices)
        margin = self.model.booster.inplace_predict(rows, predict_type="margin")
        cost = np.zeros(len(choices))
        for j, f in enumerate(problem.factors):
            cost += f.cost[choices[:, j]]
        gain = np.asarray(margin, dtype=float) - problem.logit_before
        objective = gain - self.exact.lam * cost
        return float(objective.max()), len(choices), time.perf_counter() - t0

    def alone(self, settings):
        def one(pid):
            problems, seconds = self.prepare([pid], settings)
            return problems[pid], seconds

        return one

    def shared(self, ids, settings):
        # the median of three runs over the whole sample, shared equally
        runs = [self.prepare(ids, settings) for _ in range(3)]
        problems = runs[-1][0]
        share = float(np.median([seconds for _, seconds in runs])) / len(ids)
        return lambda pid: (problems[pid], share)


def compare(methods: Methods, ids: list, how: str, exact_problem, enum_problem) -> Compared:
    """Both methods on every person, interleaved, so that load from elsewhere falls on
    both alike."""
    ex, ex_prep, en, en_prep, profiles, statuses = [], [], [], [], [], {}
    mismatches, max_diff, changed = 0, 0.0, 0
    for pid in ids:
        gc.collect()
        problem, prep = exact_problem(pid)
        plan, seconds = methods.solve_exact(problem)
        gc.collect()
        problem, enum_prep = enum_problem(pid)
        best, n_profiles, enum_seconds = methods.solve_enum(problem)
        ex.append(prep + seconds), ex_prep.append(prep)
        en.append(enum_prep + enum_seconds), en_prep.append(enum_prep)
        profiles.append(n_profiles)
        statuses[plan.solver_status] = statuses.get(plan.solver_status, 0) + 1
        changed += plan.status == "changed"
        # no change scores 0; the status quo's booster margin is 0 up to float32
        diff = abs(max(plan.objective, 0.0) - max(best, 0.0))
        max_diff = max(max_diff, diff)
        mismatches += diff > TOL
    ms = [np.array(v) * 1e3 for v in (ex, ex_prep, en, en_prep)]
    k = methods.exact.max_changes
    return Compared(
        k, how, len(ids), *ms, np.array(profiles), statuses, mismatches, max_diff, changed
    )


def exact_vs_enumeration(model, frame: pd.DataFrame, ids: list, k: int) -> list[Compared]:
    """Both methods per person, prepared one person at a time ("alone") and for the
    whole sample at once ("in a chunk", as the batch engine prepares its chunks: the
    set-up's time is shared equally among the people)."""
    m = Methods(model, frame, k)
    m.solve_exact(m.prepare([ids[0]], m.exact)[0][ids[0]])  # warm-up, untimed
    m.solve_enum(m.prepare([ids[0]], m.plain)[0][ids[0]])
    return [
        compare(m, ids, "alone", m.alone(m.exact), m.alone(m.plain)),
        compare(
            m, ids, f"in a chunk of {len(ids)}", m.shared(ids, m.exact), m.shared(ids, m.plain)
        ),
    ]


def comparison_table(results: list[Compared]) -> str:
    def mp(v):
        return f"{np.median(v):.2f} / {np.percentile(v, 90):.2f}"

    header = [
        "K",
        "prepared",
        "people",
        "exact ms (median / p90)",
        "of which set-up",
        "enumeration ms (median / p90)",
        "of which set-up",
        "profiles (median / max)",
        "exact / enumeration (medians)",
        "proven optimal",
        "solver_status",
        "same objective",
        "max |diff|",
    ]
    rows = []
    for c in results:
        proven = c.statuses.get("optimal", 0) + c.statuses.get("enumerated", 0)
        rows.append(
            [
                str(c.k),
                c.how,
                str(c.people),
                mp(c.exact_ms),
                mp(c.exact_prepare_ms),
                mp(c.enum_ms),
                mp(c.enum_prepare_ms),
                f"{int(np.median(c.profiles)):,} / {int(c.profiles.max()):,}",
                f"{np.median(c.exact_ms) / np.median(c.enum_ms):.2f}x",
                f"{100 * proven / c.people:.1f}%",
                ", ".join(f"{k} {v}" for k, v in sorted(c.statuses.items())),
                f"{c.people - c.mismatches}/{c.people}",
                f"{c.max_diff:.1e}",
            ]
        )
    return markdown(header, rows)


def enumeration_block(
    model_dir: Path, cohort: Path, size: int, sample: int, seed: int, head: str
) -> str:
    """Exact mode against batched enumeration on a sample of a 10-lever cohort, as text."""
    model = sleeprx.load_model(model_dir)
    frame = sleeprx.read_survey(cohort, model.description).frame
    rng = np.random.default_rng(seed)
    ids = sorted(rng.choice(frame.index.to_numpy(), size=min(sample, len(frame)), replace=False))
    load_before = load_average()
    results = []
    for k in (2, 3):
        log(f"exact vs enumeration, K = {k}, {len(ids)} people")
        results += exact_vs_enumeration(model, frame, list(ids), k)
    load_after = load_average()
    out = [
        "### Exact mode against batched enumeration (10-lever example)",
        "",
        head,
        "",
        f"{len(ids)} people drawn at random (seed {seed}) from the {size:,}-person cohort "
        "of the 10-lever example; default model; lambda 0.1, min_gain = min_gain_prob = 0. "
        "Exact = set-up by `prepare_problems` (encode, margin, factor tables) + "
        "`plan_person` (enumeration of the tables, or the MIP when the program allows more "
        "than 20,000 profiles). Enumeration = set-up by `prepare_problems` without trees + "
        "`enumerate_choices` + `profile_features` + one "
        '`booster.inplace_predict(rows, predict_type="margin")` on every profile + gain - '
        "lambda * cost. Each person's solve is timed on its own after a garbage collection, "
        'the two methods interleaved. Set-up "alone": `prepare_problems` on that one '
        f'person. Set-up "in a chunk": `prepare_problems` on all {len(ids)} at once, as '
        "the batch engine prepares a chunk (median of three runs), its time shared "
        "equally among them. Same objective: |exact's objective - the booster's best| <= "
        f"{TOL:g} (no change scores 0).",
        "",
        comparison_table(results),
        "",
        machine_block(load_before, load_after),
    ]
    return "\n".join(out)
