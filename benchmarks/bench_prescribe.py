"""Benchmark the recourse goal: sleeprx exact and surrogate, brute force, and DiCE random.

Every method gets the same people (the poor sleepers: model p(good sleep) < goal), the
same model (the default XGBoost model trained on the shipped survey) and the same
target (p(good sleep) >= goal). One table, measured in one run:

    python benchmarks/bench_prescribe.py [--goal 0.7] [--max-changes 2] [--people N]
                                         [--seed 0] [--breakdown]

What is timed, per person (wall clock, ``time.perf_counter``; population-level set-up
such as the SHAP effect curves and the DiCE explainer is done once, before, untimed):

* sleeprx exact / surrogate: ``prepare_problems`` on that one person (encode, booster
  margin, ``build_problem``; in exact mode this prunes the 200 trees) plus
  ``plan_person`` (``build_program`` and the HiGHS solve).
* brute force: ``prepare_problems`` (surrogate settings, so no tree pruning) plus
  ``brute_force`` scoring every allowed profile with the booster (``booster_gain``).
* DiCE random: one ``generate_counterfactuals`` call (total_CFs=1, desired_class=1,
  stopping_threshold=goal, the four modifiable factors only, permitted_range = each
  person's allowed range intersected with the safe range).

Every answer is then checked the same way, outside the timing: re-scored with
``model.predict_proba`` (valid: p >= goal), costed with the survey description's cost
model rho * (fixed_cost * [changed] + |change| / step), and checked against the
constraints (grid, safe bounds, direction, largest change, at most K changes) by code
written here, independently of sleeprx.optimize.problem.

Methods run interleaved, person by person, after one untimed warm-up call each, so that
load from other processes affects them alike.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import math
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from machine import load_average, machine_line

from sleeprx.learn.explain import explain
from sleeprx.learn.model import TrainedModel, train
from sleeprx.optimize import (
    attach_ensemble,
    brute_force,
    build_problem,
    build_program,
    nearest_allowed,
    person_range,
    resistance_of,
    solve,
    tree_scorer,
)
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.prescribing.verify import booster_gain
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.read import read_survey

TOL = 1e-9
OUTCOME = "good_sleep"


@dataclass
class Answer:
    """One method's answer for one person. ``values`` is None when it gave none."""

    values: np.ndarray | None
    seconds: float
    proven: bool | None = None  # None: the method proves nothing
    error: str = ""
    parts: tuple[float, float] = (math.nan, math.nan)  # sleeprx: prepare, plan seconds
    cost_reported: float = math.nan


# ---------------------------------------------------------------------------- methods


def sleeprx_method(model, frame, settings, explanation) -> Callable[[int], Answer]:
    """sleeprx in ``settings.mode``: prepare_problems on one person + plan_person."""

    def run(pid: int) -> Answer:
        start = time.perf_counter()
        problems, errors = prepare_problems(
            model, frame.loc[[pid]], settings, explanation=explanation
        )
        middle = time.perf_counter()
        if pid in errors:
            return Answer(None, middle - start, None, errors[pid])
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


def brute_force_method(model, frame, settings, explanation) -> Callable[[int], Answer]:
    """Enumerate every allowed profile and score it with the booster itself."""

    def run(pid: int) -> Answer:
        start = time.perf_counter()
        problems, errors = prepare_problems(
            model, frame.loc[[pid]], settings, explanation=explanation
        )
        if pid in errors:
            return Answer(None, time.perf_counter() - start, None, errors[pid])
        problem = problems[pid]
        result = brute_force(problem, settings, gain_of=booster_gain(model, problem))
        seconds = time.perf_counter() - start
        if result.levels is None:
            return Answer(None, seconds, True, "no allowed profile reaches the goal")
        values = problem.values(result.levels)
        return Answer(values, seconds, True, "", cost_reported=result.objective)

    return run


def dice_frame(model: TrainedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns as DiCE wants them: integer columns as int64 (so DiCE samples
    whole numbers), categorical columns as object, plus the observed outcome."""
    description = model.description
    kinds = {n: c.type for c in description.columns for n in c.output_names}
    out = {}
    for name in description.feature_columns:
        column = frame[name]
        if kinds[name] == "categorical":
            out[name] = column.astype(object)
        elif kinds[name] == "integer":
            out[name] = column.astype(np.int64)
        else:
            out[name] = column.astype(float)
    target = description.target
    out[OUTCOME] = (frame[target.column] >= target.threshold).astype(np.int64)
    return pd.DataFrame(out, index=frame.index)


def dice_method(model, frame, goal, seed) -> tuple[Callable[[int], Answer], float]:
    """DiCE random (dice-ml) with the sklearn backend on the model's pipeline."""
    import dice_ml

    start = time.perf_counter()
    data = dice_frame(model, frame)
    features = list(model.description.feature_columns)
    kinds = {n: c.type for c in model.description.columns for n in c.output_names}
    continuous = [n for n in features if kinds[n] != "categorical"]
    explainer = dice_ml.Dice(
        dice_ml.Data(dataframe=data, continuous_features=continuous, outcome_name=OUTCOME),
        dice_ml.Model(model=model.pipeline, backend="sklearn"),
        method="random",
    )
    setup = time.perf_counter() - start
    factors = model.description.modifiable
    names = [f.column for f in factors]

    def run(pid: int) -> Answer:
        query = data.loc[[pid], features]
        ranges = {}
        for f in factors:
            r = person_range(f, float(query[f.column].iloc[0]))
            if r is not None:
                ranges[f.column] = [r[0], r[1]]
        if not ranges:
            return Answer(None, 0.0, None, "no factor may vary")
        # DiCE random also draws from numpy's global generator (np.random.choice,
        # DataFrame.sample), not only from random_seed.
        np.random.seed(seed + pid)
        random.seed(seed + pid)
        sink = io.StringIO()
        start = time.perf_counter()
        try:
            with (
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                result = explainer.generate_counterfactuals(
                    query,
                    total_CFs=1,
                    desired_class=1,
                    features_to_vary=list(ranges),
                    permitted_range=ranges,
                    stopping_threshold=goal,
                    random_seed=seed + pid,
                )
            error = ""
        except Exception as exc:  # DiCE raises when it finds no counterfactual
            result, error = None, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        if result is None:
            return Answer(None, seconds, None, error)
        example = result.cf_examples_list[0]
        cfs = example.final_cfs_df_sparse
        if cfs is None or len(cfs) == 0:
            cfs = example.final_cfs_df
        if cfs is None or len(cfs) == 0:
            return Answer(None, seconds, None, "no counterfactual returned")
        return Answer(cfs[names].iloc[0].to_numpy(float), seconds)

    return run, setup


def snap_to_grid(model, frame, answers: dict[int, Answer]) -> dict[int, Answer]:
    """DiCE's counterfactuals moved onto our grid: every changed factor goes to the
    nearest level the person may move to (or stays put if there is none)."""
    factors = model.description.modifiable
    out = {}
    for pid, a in answers.items():
        if a.values is None:
            out[pid] = a
            continue
        values = np.array(
            [
                nearest_allowed(f, float(frame.at[pid, f.column]), v)
                for f, v in zip(factors, a.values, strict=True)
            ]
        )
        out[pid] = Answer(values, a.seconds, None, a.error)
    return out


# ------------------------------------------------------------------------- evaluation


@dataclass
class Checked:
    answered: bool
    valid: bool
    feasible: bool
    n_changes: int
    cost: float
    p_after: float
    broken: frozenset[str] = frozenset()  # which constraints the answer breaks


def check(model, frame, answers, goal, max_changes, scale) -> dict[int, Checked]:
    """Re-score, cost and constraint-check every answer (independently of sleeprx)."""
    factors = model.description.modifiable
    names = [f.column for f in factors]
    given = [pid for pid, a in answers.items() if a.values is not None]
    p_after = pd.Series(dtype=float)
    if given:
        after = frame.loc[given].copy()
        after[names] = np.vstack([answers[pid].values for pid in given])
        p_after = model.predict_proba(after)
    out = {}
    for pid, a in answers.items():
        if a.values is None:
            out[pid] = Checked(False, False, False, 0, math.nan, math.nan)
            continue
        n, cost, broken = 0, 0.0, set()
        for f, v in zip(factors, a.values, strict=True):
            current = float(frame.at[pid, f.column])
            delta = v - current
            if abs(delta) <= TOL:
                continue
            n += 1
            rho = resistance_of(f, frame.loc[pid], scale)
            cost += rho * (f.fixed_cost + abs(delta) / f.step)
            if not np.any(np.abs(f.grid - v) <= TOL):
                broken.add("off grid")
            if not f.lower - TOL <= v <= f.upper + TOL:
                broken.add("outside safe bounds")
            if (f.direction == "up" and delta < 0) or (f.direction == "down" and delta > 0):
                broken.add("wrong direction")
            if abs(delta) > f.max_change + TOL:
                broken.add("change too large")
        if n > max_changes:
            broken.add("more than K changes")
        p = float(p_after[pid])
        out[pid] = Checked(True, p >= goal, not broken, n, cost, p, frozenset(broken))
    return out


# ---------------------------------------------------------------------------- report


PACKAGES = [
    ("HiGHS (highspy)", "highspy"),
    ("xgboost", "xgboost"),
    ("dice-ml", "dice-ml"),
    ("scikit-learn", "scikit-learn"),
    ("pandas", "pandas"),
    ("numpy", "numpy"),
]


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def summarise(name, answers, checked, n) -> list[str]:
    ms = np.array([a.seconds for a in answers.values()]) * 1e3
    got = [c for c in checked.values() if c.answered]
    proven = [a.proven for a in answers.values()]
    return [
        name,
        f"{np.median(ms):.2f}",
        f"{np.percentile(ms, 90):.2f}",
        percent(sum(c.valid for c in checked.values()) / n),
        percent(sum(c.feasible for c in checked.values()) / n),
        percent(sum(c.valid and c.feasible for c in checked.values()) / n),
        f"{np.mean([c.n_changes for c in got]):.2f}" if got else "-",
        f"{np.mean([c.cost for c in got]):.2f}" if got else "-",
        "n/a" if all(p is None for p in proven) else percent(sum(bool(p) for p in proven) / n),
        str(sum(a.values is None for a in answers.values())),
    ]


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1)) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def breakdown(model, frame, ids, settings, explanation) -> list[str]:
    """Median/p90 ms per person of each step of exact mode, timed one at a time, and
    what-ifs that sleeprx does not do today (measured here only; answers compared)."""
    import highspy

    names = model.feature_names
    scorer = tree_scorer(model.booster)
    steps = {
        "encode + booster margin, 1 row": [],
        "build_problem without trees": [],
        "compile the trees (tables / pruning)": [],
        "build_program": [],
        "HiGHS (sleeprx.optimize.solver.solve)": [],
    }
    sizes, programs, solutions, differ = [], [], [], 0
    for pid in ids:
        row = frame.loc[[pid]]
        t0 = time.perf_counter()
        x = model.pipeline.named_steps["encode"].transform_array(row)
        logit = float(scorer.margin(x)[0])
        t1 = time.perf_counter()
        features = x[0]
        problem = build_problem(
            pid,
            row.iloc[0],
            model.description,
            features=features,
            feature_names=names,
            logit_before=logit,
            curves=explanation.curves,
            resistance_scale=settings.resistance_scale,
        )
        t2 = time.perf_counter()
        problem = attach_ensemble(
            problem,
            scorer,
            encoding=settings.tree_encoding,
            max_cells=settings.max_table_cells,
        )
        t4 = time.perf_counter()
        program = build_program(problem, settings)
        t5 = time.perf_counter()
        solution = solve(program.model, settings)
        t6 = time.perf_counter()
        spans = [(t0, t1), (t1, t2), (t2, t4), (t4, t5), (t5, t6)]
        for times, (a, b) in zip(steps.values(), spans, strict=True):
            times.append(b - a)
        sizes.append((program.model.n_vars, program.model.n_rows))
        programs.append(program)
        solutions.append(solution)

    # HiGHS option what-ifs, each a pass over all programs back to back, through the
    # highs_options setting. HiGHS fixes its thread count for the whole process at the
    # first solve, so reset its scheduler around every pass (and once more at the end).
    what_if = {}
    for label, extra in [
        ("sleeprx's options (presolve off)", {}),
        ("presolve on", {"presolve": "on"}),
        ("threads=1", {"threads": 1}),
        ("presolve on and threads=1", {"presolve": "on", "threads": 1}),
    ]:
        highspy.Highs.resetGlobalScheduler(True)
        variant = settings.model_copy(update={"highs_options": extra})
        times = []
        try:
            for program, solution in zip(programs, solutions, strict=True):
                start = time.perf_counter()
                other = solve(program.model, variant)
                times.append(time.perf_counter() - start)
                differ += other.termination != solution.termination or (
                    abs(other.objective - solution.objective) > 1e-6
                )
        finally:
            highspy.Highs.resetGlobalScheduler(True)
        what_if[label] = times

    start = time.perf_counter()
    prepare_problems(model, frame.loc[ids], settings, explanation=explanation)
    batch = (time.perf_counter() - start) / len(ids)

    def ms(v):
        v = np.asarray(v) * 1e3
        return f"{np.median(v):7.2f} / {np.percentile(v, 90):7.2f}"

    lines = ["Exact mode, time per person by step (each timed on its own; ms, median / p90):"]
    lines += [f"  {k:<38} {ms(v)}" for k, v in steps.items()]
    lines.append(f"  {'sum of the steps':<38} {ms(np.sum(list(steps.values()), axis=0))}")
    lines.append(
        f"  prepare_problems on all {len(ids)} people at once: {batch * 1e3:.2f} ms per person; "
        f"program size median {int(np.median([s[0] for s in sizes]))} columns x "
        f"{int(np.median([s[1] for s in sizes]))} rows"
    )
    lines.append("HiGHS options, what-ifs (each a pass over the same programs; ms, median / p90):")
    lines += [f"  {k:<38} {ms(v)}" for k, v in what_if.items()]
    lines.append(f"  solves whose status or objective differ from sleeprx's: {differ}")
    return lines


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goal", type=float, default=0.7, help="target p(good sleep)")
    parser.add_argument("--max-changes", type=int, default=2, help="K, most factors changed")
    parser.add_argument("--people", type=int, default=None, help="N poor sleepers (default all)")
    parser.add_argument("--seed", type=int, default=0, help="sampling of people; DiCE seeds")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time exact mode's steps one by one"
    )
    args = parser.parse_args(argv)
    load_before = load_average()
    try:
        import dice_ml  # noqa: F401
    except ImportError:
        print('dice-ml is not installed: pip install -e ".[bench]"', file=sys.stderr)
        return 2

    survey = read_survey()
    frame = survey.frame
    model = train(survey)  # default ModelSettings: 200 trees, depth 4
    setup_start = time.perf_counter()
    explanation = explain(model, frame)  # the population's SHAP effect curves, once
    tree_scorer(model.booster)  # parse the booster's trees once
    setup_sleeprx = time.perf_counter() - setup_start

    p_before = model.predict_proba(frame)
    poor = [int(i) for i in p_before.index[p_before < args.goal]]
    ids = poor
    if args.people is not None and args.people < len(poor):
        rng = np.random.default_rng(args.seed)
        ids = sorted(int(i) for i in rng.choice(poor, size=args.people, replace=False))
    n = len(ids)
    if n == 0:
        print(f"nobody has p < {args.goal:g}; nothing to benchmark", file=sys.stderr)
        return 1

    common = {"goal": args.goal, "max_changes": args.max_changes}
    exact = PrescribeSettings(mode="exact", **common)
    surrogate = PrescribeSettings(mode="surrogate", **common)
    dice, setup_dice = dice_method(model, frame, args.goal, args.seed)
    methods = {
        "sleeprx exact": sleeprx_method(model, frame, exact, explanation),
        "sleeprx surrogate": sleeprx_method(model, frame, surrogate, explanation),
        "brute force (booster)": brute_force_method(model, frame, surrogate, explanation),
        "DiCE random": dice,
    }
    for run in methods.values():  # warm-up, untimed
        run(ids[0])
    answers: dict[str, dict[int, Answer]] = {name: {} for name in methods}
    for pid in ids:
        for name, run in methods.items():
            gc.collect()
            answers[name][pid] = run(pid)
    answers["DiCE random, snapped to grid"] = snap_to_grid(model, frame, answers["DiCE random"])

    checked = {
        name: check(model, frame, a, args.goal, args.max_changes, exact.resistance_scale)
        for name, a in answers.items()
    }
    header = [
        "method",
        "median ms",
        "p90 ms",
        "valid",
        "constraints ok",
        "valid & ok",
        "mean changes",
        "mean cost",
        "proven",
        "no answer",
    ]
    rows = [summarise(name, answers[name], checked[name], n) for name in answers]

    print(
        f"Recourse goal p(good sleep) >= {args.goal:g}, K = {args.max_changes}; "
        f"{n} of {len(poor)} poor sleepers (model p < {args.goal:g}) of {len(frame)} people; "
        f"default model ({model.settings.n_estimators} trees, depth {model.settings.max_depth}) "
        f"on the shipped survey; seed {args.seed}."
    )
    print()
    print(markdown(header, rows))
    print()
    ex, dc = answers["sleeprx exact"], answers["DiCE random"]
    med = {k: np.median([a.seconds for a in v.values()]) for k, v in answers.items()}
    print(
        f"Speed, median per person: exact {med['DiCE random'] / med['sleeprx exact']:.1f}x "
        f"faster than DiCE random; surrogate "
        f"{med['DiCE random'] / med['sleeprx surrogate']:.1f}x; brute force "
        f"{med['DiCE random'] / med['brute force (booster)']:.1f}x (target for exact: >= 10x)."
    )
    for mode in ("sleeprx exact", "sleeprx surrogate"):
        prep = np.median([a.parts[0] for a in answers[mode].values()]) * 1e3
        plan = np.median([a.parts[1] for a in answers[mode].values()]) * 1e3
        print(f"  {mode}: median prepare_problems {prep:.2f} ms + plan_person {plan:.2f} ms")
    print(
        f"  set-up, once, untimed above: SHAP curves + tree parsing {setup_sleeprx * 1e3:.0f} ms; "
        f"DiCE explainer {setup_dice * 1e3:.0f} ms"
    )

    ce, cb, cd = checked["sleeprx exact"], checked["brute force (booster)"], checked["DiCE random"]
    same = [
        pid
        for pid in ids
        if ce[pid].answered == cb[pid].answered
        and (not ce[pid].answered or abs(ce[pid].cost - cb[pid].cost) <= 1e-6)
    ]
    print(f"Exact mode vs brute force: same optimal cost for {len(same)}/{n} people.")
    mismatch = [
        pid
        for name in ("sleeprx exact", "sleeprx surrogate", "brute force (booster)")
        for pid, a in answers[name].items()
        if a.values is not None and abs(a.cost_reported - checked[name][pid].cost) > 1e-6
    ]
    if mismatch:
        print(f"WARNING: reported cost differs from the recomputed cost for ids {mismatch[:10]}")
    both = [pid for pid in ids if ce[pid].valid and cd[pid].valid]
    if both:
        e_cost = np.mean([ce[pid].cost for pid in both])
        d_cost = np.mean([cd[pid].cost for pid in both])
        no_dearer = sum(ce[pid].cost <= cd[pid].cost + 1e-9 for pid in both)
        dice_cheaper = [pid for pid in both if cd[pid].cost < ce[pid].cost - 1e-9]
        cheaper_ok = [pid for pid in dice_cheaper if cd[pid].feasible]
        print(
            f"Where exact and DiCE are both valid ({len(both)} people): mean cost exact "
            f"{e_cost:.2f} vs DiCE {d_cost:.2f}; exact no dearer for {no_dearer}/{len(both)}; "
            f"of the {len(dice_cheaper)} DiCE answers that cost less, {len(cheaper_ok)} meet "
            f"the constraints{' (ids ' + str(cheaper_ok[:10]) + ')' if cheaper_ok else ''}."
        )
    reasons = ("off grid", "outside safe bounds", "wrong direction", "change too large")
    reasons += ("more than K changes",)
    print(
        "DiCE answers breaking each constraint: "
        + ", ".join(f"{r} {sum(r in c.broken for c in cd.values())}" for r in reasons)
        + f" (of {n})."
    )
    failures = [a.error for a in dc.values() if a.values is None]
    print(f"DiCE failures (no counterfactual, counted invalid): {len(failures)}")
    for message in sorted(set(failures))[:3]:
        print(f"  e.g. {message[:150]}")
    invalid_exact = [pid for pid in ids if ex[pid].values is not None and not ce[pid].valid]
    if invalid_exact:
        print(
            "Exact-mode prescriptions below the goal under predict_proba: "
            + ", ".join(f"id {pid} p={ce[pid].p_after:.9f}" for pid in invalid_exact[:10])
        )
    print(
        "Columns: valid = p >= goal under model.predict_proba, share of all people; "
        "constraints ok = grid, safe bounds, direction, largest change and K all met; "
        "mean changes/cost over people with an answer; proven = the answer is proven optimal, "
        "or proven impossible (no answer), by HiGHS for the program's own gain model or "
        "by exhaustive enumeration."
    )
    if args.breakdown:
        print()
        print("\n".join(breakdown(model, frame, ids, exact, explanation)))
    print()
    print(f"Machine: {machine_line(PACKAGES)}")
    print(f"Load average (1, 5, 15 min): {load_before} before the run, {load_average()} after.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
