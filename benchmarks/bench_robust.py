"""Benchmark robust exact prescriptions against plain exact ones, judged by fresh refits.

On the 10-lever messy example: the default model trained with ``bootstrap=B``; exact
mode, K changes; N people drawn at random. Every answer is judged by B *fresh* refits
(bootstrap seeds the optimiser never saw, :func:`bootstrap_seeds` with ``first=B``):

    python benchmarks/bench_robust.py [--people 400] [--bootstrap 20] [--q 0.9]
                                      [--goal 0.7] [--max-changes 3] [--seed 0]
                                      [--penalised-people 150]
    python benchmarks/bench_robust.py --timing [--people 400] ... [--write]
    python benchmarks/bench_robust.py --sweep-b 5,10,20,40 [--fresh 20] ... [--write]

``--timing`` times only: ms a person for plain and robust exact, each in a batch (the
batch's set-up shared equally, plus the person's own solve), median and p90.
``--sweep-b`` trains one model with the largest B, prescribes robustly with its first B
bootstrap boosters for each B, and judges every run by the same fresh refits (seeds
after the largest B's): how validity and time grow with B, to choose the default.
``--write`` puts the table into BENCHMARKS.md (section ``bench_robust``).

Rows: plain exact (the routes' optimum, ``plan_person``) and robust exact at Q
(:func:`sleeprx.optimize.robust.robust_best`). Columns: validity in the fresh refits
(mean, and the share of people whose answer holds in at least 90% of them), the mean
cost paid (over people both methods answer), the infeasible share and ms per person
(preparing the problems, batched, plus solving; the robust row compiles B + 1
boosters' tables). A second table, without a goal (the penalised program at the
default lambda), compares the two robust statistics.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from common import command_head, load_average, machine_line, markdown, write_blocks

from sleeprx.learn.model import ModelSettings, bootstrap_seeds, fit_bootstraps, train
from sleeprx.optimize.robust import robust_best
from sleeprx.prescribing.confidence import confidence
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import load_description
from sleeprx.survey.read import read_survey
from sleeprx.utils.errors import SolverError

ROOT = Path(__file__).resolve().parents[1]
SURVEY = ROOT / "data" / "messy_sleep_survey.csv"
DESCRIPTION = ROOT / "sleeprx" / "survey" / "shipped" / "messy_sleep.yaml"
#: Robust mode enumerates; at K = 3 some people of this example have more profiles than
#: the routes' default limit of 20,000, so it is raised for the robust rows (the plain
#: row keeps today's routes: enumeration up to 20,000 profiles, the MIP beyond).
ENUMERATION_LIMIT = 400_000


@dataclass
class Run:
    """One method's answers: chosen levels (None: infeasible) and costs per person."""

    name: str
    levels: dict
    cost: dict
    seconds: float
    problems: dict
    refused: int = 0  # too many profiles to enumerate


def plain(model, frame: pd.DataFrame, settings: PrescribeSettings) -> Run:
    start = time.perf_counter()
    problems = prepare_problems(model, frame, settings)
    levels, cost = {}, {}
    for pid, problem in problems.items():
        plan = plan_person(problem, settings)
        levels[pid] = plan.levels
        cost[pid] = plan.cost
    return Run("exact", levels, cost, time.perf_counter() - start, problems)


def robust(model, frame: pd.DataFrame, settings: PrescribeSettings, name: str) -> Run:
    start = time.perf_counter()
    settings = settings.model_copy(update={"enumeration_limit": ENUMERATION_LIMIT})
    problems = prepare_problems(model, frame, settings)  # the batch: screen, or tables
    levels, cost, refused = {}, {}, 0
    for pid, problem in problems.items():
        try:
            found = robust_best(problem, settings)
        except SolverError:
            found, refused = None, refused + 1
        levels[pid] = None if found is None else found.levels
        cost[pid] = (
            math.nan
            if levels[pid] is None
            else sum(f.cost[i] for f, i in zip(problem.main.factors, levels[pid], strict=True))
        )
    mains = {pid: p.main for pid, p in problems.items()}
    return Run(name, levels, cost, time.perf_counter() - start, mains, refused)


def timed(model, frame: pd.DataFrame, settings: PrescribeSettings, *, robust_q=None):
    """ms a person: the batch's set-up (``prepare_problems``; for robust mode under a goal
    the main model's tables and the refits' screen of the least-cost profiles, see
    :mod:`sleeprx.optimize.robust_screen`) shared equally, plus each person's own solve,
    timed alone. Returns (per person, set-up share)."""
    if robust_q is not None:
        settings = settings.model_copy(
            update={"robust": robust_q, "enumeration_limit": ENUMERATION_LIMIT}
        )
    start = time.perf_counter()
    ready = list(prepare_problems(model, frame, settings).values())
    share = (time.perf_counter() - start) / len(frame)
    solve = plan_person if robust_q is None else robust_best
    own = []
    for problem in ready:
        at = time.perf_counter()
        with contextlib.suppress(SolverError):
            solve(problem, settings)
        own.append(time.perf_counter() - at)
    return 1000 * (share + np.asarray(own)), 1000 * share


def timing_table(model, frame: pd.DataFrame, settings: PrescribeSettings, q: float) -> str:
    """Plain and robust exact timed in one run, plain first, then robust, then plain."""
    timed(model, frame.iloc[:8], settings, robust_q=q)  # warm the parsers and caches
    rows = [
        ("exact", *timed(model, frame, settings)),
        (f"robust Q={q:g}", *timed(model, frame, settings, robust_q=q)),
        ("exact (again)", *timed(model, frame, settings)),
    ]
    head = "| method | ms/person median | p90 | mean | of which batch set-up |"
    lines = [head, "| --- | --- | --- | --- | --- |"]
    for name, ms, share in rows:
        lines.append(
            f"| {name} | {np.median(ms):.1f} | {np.percentile(ms, 90):.1f} | "
            f"{ms.mean():.1f} | {share:.1f} |"
        )
    return "\n".join(lines)


def sweep_b(survey, ids: list, args) -> str:
    """Robust exact with the first B bootstrap boosters of one model, for each B, and
    plain exact, all judged by the same fresh refits; a markdown table."""
    counts = sorted(args.sweep_b)
    settings = ModelSettings(bootstrap=max(counts))
    model = train(survey, settings=settings)
    seeds = bootstrap_seeds(settings.seed, args.fresh, first=max(counts))
    fresh = [b.booster for b in fit_bootstraps(survey, settings, seeds)]
    frame = survey.frame
    goal = PrescribeSettings(mode="exact", max_changes=args.max_changes, goal=args.goal)
    rows = []
    for b in [0, *counts]:
        if b == 0:
            run = plain(replace(model, bootstraps=()), frame.loc[ids], goal)
        else:
            sub = replace(model, bootstraps=model.bootstraps[:b])
            run = robust(sub, frame.loc[ids], goal.model_copy(update={"robust": args.q}), "")
        j = judge(run, model, frame, fresh, args.goal)
        answered = [c for c in run.cost.values() if not math.isnan(c)]
        rows.append(
            [
                "plain exact" if b == 0 else f"robust, B = {b}",
                f"{j['validity']:.3f}",
                f"{j['valid90']:.1%}",
                f"{np.mean(answered):.2f}",
                f"{j['infeasible']:.1%}",
                f"{j['ms']:.1f}",
            ]
        )
        print(" | ".join(rows[-1]), file=sys.stderr)
    header = ["method", "fresh validity", ">= 90% of fresh", "mean cost", "infeasible", "ms/person"]
    return markdown(header, rows, numeric=True)


def after_rows(run: Run, frame: pd.DataFrame) -> pd.DataFrame:
    """The answered people's survey rows with their prescriptions applied."""
    answered = [pid for pid, lv in run.levels.items() if lv is not None]
    after = frame.loc[answered].copy()
    for pid in answered:
        problem = run.problems[pid]
        for f, i in zip(problem.factors, run.levels[pid], strict=True):
            after.loc[pid, f.name] = float(f.levels[i])
    return after


def judge(run: Run, model, frame, fresh, goal) -> dict[str, float]:
    """Validity in the fresh refits and in the model's own bootstraps; without a goal,
    of the people told to change (a status quo gains in no refit)."""
    after = after_rows(run, frame)
    n_answered = len(after)
    if goal is None:
        after = after[[any(run.levels[pid]) for pid in after.index]]
    fresh_conf = confidence(model, frame.loc[after.index], after, goal=goal, boosters=fresh)
    own_conf = confidence(model, frame.loc[after.index], after, goal=goal)
    n = len(run.levels)
    return {
        "validity": float(fresh_conf["validity"].mean()),
        "valid90": float((fresh_conf["validity"] >= 0.9 - 1e-12).mean()),
        "own": float(own_conf["validity"].mean()),
        "gain_low": float(fresh_conf["gain_low"].mean()),
        "infeasible": 1 - n_answered / n,
        "changed": len(after) / n,
        "ms": 1000 * run.seconds / n,
    }


def table(runs: list[Run], judged: list[dict], *, with_gain: bool) -> str:
    both = [pid for pid in runs[0].levels if all(r.levels.get(pid) is not None for r in runs)]
    head = f"{'method':<22}{'validity':>9}{'>=90%':>8}{'own':>7}{'cost':>8}"
    head += f"{'gain p10':>10}{'changed':>9}" if with_gain else ""
    head += f"{'infeas.':>9}{'ms/pers.':>10}"
    lines = [head, "-" * len(head)]
    for run, j in zip(runs, judged, strict=True):
        cost = np.mean([run.cost[p] for p in both]) if both else math.nan
        line = f"{run.name:<22}{j['validity']:>9.3f}{j['valid90']:>8.1%}{j['own']:>7.3f}"
        line += f"{cost:>8.3f}"
        line += f"{j['gain_low']:>10.3f}{j['changed']:>9.1%}" if with_gain else ""
        line += f"{j['infeasible']:>9.1%}{j['ms']:>10.1f}"
        lines.append(line)
    lines.append(f"cost: mean over the {len(both)} people every method answers")
    refused = ", ".join(f"{r.name} {r.refused}" for r in runs if r.refused)
    if refused:
        lines.append(
            f"infeasible includes people with over {ENUMERATION_LIMIT:,} profiles: {refused}"
        )
    return "\n".join(lines)


def report(args, argv, block: str, about: str, body: str, load_before: str) -> None:
    """Print a table with its command, settings and machine; ``--write``: also into
    BENCHMARKS.md as block ``block`` of section ``bench_robust``."""
    text = "\n".join(
        [
            command_head("bench_robust.py", argv),
            "",
            f"Goal p >= {args.goal:g}, K = {args.max_changes}, robust Q = {args.q:g}, "
            f"{args.people} random people (seed {args.seed}) of the 10-lever example; {about}",
            "",
            body,
            "",
            f"{machine_line(['xgboost', 'numpy'])}; load average (1, 5, 15 min) "
            f"{load_before} before, {load_average()} after.",
        ]
    )
    print(text)
    if args.write:
        write_blocks("bench_robust", "Robust exact (bench_robust.py)", "", {block: text})


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--penalised-people", type=int, default=150)
    parser.add_argument("--bootstrap", type=int, default=20)
    parser.add_argument("--q", type=float, default=0.9)
    parser.add_argument("--goal", type=float, default=0.7)
    parser.add_argument("--max-changes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing", action="store_true", help="time only; no judging")
    parser.add_argument(
        "--sweep-b", type=lambda t: [int(v) for v in t.split(",")], help="e.g. 5,10,20,40"
    )
    parser.add_argument("--fresh", type=int, default=20, help="fresh refits of --sweep-b")
    parser.add_argument("--write", action="store_true", help="into BENCHMARKS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    load_before = load_average()
    survey = read_survey(SURVEY, load_description(DESCRIPTION))
    if args.sweep_b:
        rng = np.random.default_rng(args.seed)
        ids = sorted(rng.choice(survey.frame.index.to_numpy(), args.people, replace=False))
        about = (
            f"each B uses the first B bootstrap boosters of one model trained with "
            f"B = {max(args.sweep_b)}; every row judged by the same {args.fresh} fresh "
            f"refits (seeds the optimiser never saw)."
        )
        report(args, argv, "sweep_b", about, sweep_b(survey, ids, args), load_before)
        return 0
    settings = ModelSettings(bootstrap=args.bootstrap)
    start = time.perf_counter()
    model = train(survey, settings=settings)
    fresh_seeds = bootstrap_seeds(settings.seed, args.bootstrap, first=args.bootstrap)
    fresh = [] if args.timing else fit_bootstraps(survey, settings, fresh_seeds)
    fresh = [b.booster for b in fresh]
    print(
        f"trained 1 + {args.bootstrap} boosters and {len(fresh)} fresh refits in "
        f"{time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    rng = np.random.default_rng(args.seed)
    frame = survey.frame
    ids = sorted(rng.choice(frame.index.to_numpy(), args.people, replace=False).tolist())
    base = {"mode": "exact", "max_changes": args.max_changes}
    goal = PrescribeSettings(**base, goal=args.goal)
    if args.timing:
        about = f"{args.bootstrap} bootstrap boosters; plain exact before and after robust."
        body = timing_table(model, frame.loc[ids], goal, args.q)
        report(args, argv, "timing", about, body, load_before)
        return 0
    runs = [plain(model, frame.loc[ids], goal)]
    runs.append(
        robust(
            model,
            frame.loc[ids],
            goal.model_copy(update={"robust": args.q}),
            f"robust Q={args.q:g}",
        )
    )
    judged = [judge(r, model, frame, fresh, args.goal) for r in runs]
    print(
        f"Goal p >= {args.goal:g}, K = {args.max_changes}, {args.people} random people "
        f"(seed {args.seed}), {args.bootstrap} bootstrap boosters, judged by "
        f"{args.bootstrap} fresh refits"
    )
    print(table(runs, judged, with_gain=False))
    few = ids[: args.penalised_people]
    pen = PrescribeSettings(**base)
    runs = [plain(model, frame.loc[few], pen)]
    for stat in ("mean", "quantile"):
        robust_pen = pen.model_copy(update={"robust": args.q, "robust_statistic": stat})
        runs.append(robust(model, frame.loc[few], robust_pen, f"robust Q={args.q:g} {stat}"))
    judged = [judge(r, model, frame, fresh, None) for r in runs]
    print(
        f"\nNo goal (lambda {pen.lam:g}), the first {len(few)} of those people; validity: "
        f"a positive gain; gain p10: the fresh refits' 10th-percentile gain, mean"
    )
    print(table(runs, judged, with_gain=True))
    print(
        f"\n{machine_line(['xgboost', 'numpy'])}; load {load_before} before, {load_average()} after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
