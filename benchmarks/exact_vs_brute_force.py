"""Exact mode against brute force for every person of a survey (default: the messy example).

For each person, exact mode's optimum (the route sleeprx picks: enumeration over the
person's factor tables, or the MIP) is compared with brute force that scores every
allowed profile with the booster's own traversal (``verify.booster_gain``), under the
penalised objective and under a recourse goal:

    python benchmarks/exact_vs_brute_force.py [--survey CSV --description YAML]
                                              [--max-changes 2] [--people N]

It prints the number of people checked, the mismatches (objective off by more than
1e-6, or a feasibility verdict that differs), the routes taken, and the time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import ROOT, booster_gain, plan_person, prepare_problems

import sleeprx
from sleeprx.optimize import brute_force


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--survey", type=Path, default=ROOT / "data" / "messy_sleep_survey.csv")
    parser.add_argument(
        "--description",
        type=Path,
        default=ROOT / "sleeprx" / "survey" / "shipped" / "messy_sleep.yaml",
    )
    parser.add_argument("--max-changes", type=int, default=2)
    parser.add_argument("--people", type=int, default=None, help="the first N (default all)")
    args = parser.parse_args()

    survey = sleeprx.read_survey(args.survey, sleeprx.load_description(args.description))
    model = sleeprx.train(survey)
    frame = survey.frame if args.people is None else survey.frame.iloc[: args.people]
    cases = {
        "penalised (lam 0.1)": sleeprx.PrescribeSettings(
            mode="exact", max_changes=args.max_changes, min_gain=0.0, min_gain_prob=0.0
        ),
        "goal p >= 0.7": sleeprx.PrescribeSettings(
            mode="exact", max_changes=args.max_changes, goal=0.7
        ),
    }
    print(f"{args.survey.name}: {len(frame)} people, K = {args.max_changes}, default model")
    for label, settings in cases.items():
        start = time.perf_counter()
        problems = prepare_problems(model, frame, settings)
        mismatches, routes, exact_seconds, brute_seconds = [], {}, [], []
        for pid, problem in problems.items():
            plan = plan_person(problem, settings)
            t1 = time.perf_counter()
            best = brute_force(problem, settings, gain_of=booster_gain(model, problem))
            t2 = time.perf_counter()
            exact_seconds.append(plan.seconds)
            brute_seconds.append(t2 - t1)
            routes[plan.solver_status] = routes.get(plan.solver_status, 0) + 1
            if best.levels is None:
                ok = plan.status == "infeasible"
            elif settings.goal is None:
                ok = plan.levels is not None and abs(plan.objective - best.objective) <= 1e-6
            else:
                ok = plan.levels is not None and abs(plan.cost - best.objective) <= 1e-6
            if not ok:
                mismatches.append(pid)
        total = time.perf_counter() - start
        print(
            f"  {label}: {len(problems)} checked, "
            f"{len(mismatches)} mismatches {mismatches[:5]}; routes {routes}; "
            f"solve median {1e3 * np.median(exact_seconds):.2f} ms (brute force by the "
            f"booster {1e3 * np.median(brute_seconds):.2f} ms); {total:.0f} s in all"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
