"""Benchmark the recourse goal: sleeprx exact and surrogate, brute force, DiCE random and
OCEAN (constraint programming), on the same people and the same model.

Every method gets the same people (the poor sleepers: model p(good sleep) < goal), the
same model (the default XGBoost model trained on the survey) and the same target
(p(good sleep) >= goal). One table, measured in one run:

    python benchmarks/bench_prescribe.py [--goal 0.7] [--max-changes 2] [--people N]
                                         [--seed 0] [--breakdown]
                                         [--survey shipped|messy] [--match-ocean] [--write]
                                         [--full [--bootstrap 20] [--robust 0.9]]

``--match-ocean`` poses the problem OCEAN solves, to every method: goal p >= 0.5, K =
the number of levers, cost = sum |change| / step (fixed costs 0, resistances 1), no
linear constraints and no per-person rules, and only people with no blank answer and
every lever on its grid. Without it OCEAN is skipped, with the reason printed; it is
skipped too on Python < 3.12 (oceanpy needs 3.12). ``--full`` (with ``--match-ocean``)
adds, in the same run, the survey's own program at the same K and goal, which OCEAN
cannot express, and robust exact with ``--bootstrap`` B boosters
(``prescribe_full``).

What is timed, per person (wall clock, ``time.perf_counter``; population-level set-up
such as the SHAP effect curves, the DiCE explainer and OCEAN's CP model is done once,
before, untimed):

* sleeprx exact / surrogate: ``prepare_problems`` on that one person (encode, booster
  margin, ``build_problem``; in exact mode this compiles the trees) plus
  ``plan_person`` (``build_program`` and the HiGHS solve, or enumeration).
* sleeprx exact, batched: ``prepare_problems`` once for all the people (as the batch
  engine prepares a chunk), each person's equal share of it, plus ``plan_person``.
* brute force: ``prepare_problems`` (surrogate settings, so no trees) plus
  ``brute_force`` scoring every allowed profile with the booster (``booster_gain``);
  people with more than ``prescribe_methods.MAX_PROFILES`` profiles are skipped.
* DiCE random: one ``generate_counterfactuals`` call (``peer_dice``).
* OCEAN: the person's constraints and one ``explain`` call of CP-SAT with one worker
  (``peer_ocean``).

Every answer is then checked the same way, outside the timing (``prescribe_check``).
Methods run interleaved, person by person, after one untimed warm-up call each, so that
load from other processes affects them alike.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import peer_ocean
from common import SURVEYS, command_head, load_average, machine_line, markdown, write_blocks
from peer_dice import dice_method, snap_to_grid
from prescribe_breakdown import breakdown
from prescribe_check import REASONS, check, same_optimum, summarise
from prescribe_full import full_program
from prescribe_methods import Answer, batched_method, brute_force_method, sleeprx_method

import sleeprx
from sleeprx.optimize import tree_scorer

PACKAGES = ["HiGHS (highspy)", "xgboost", "dice-ml", "oceanpy", "OR-Tools", "scikit-learn"]
PACKAGES += ["pandas", "numpy"]
HEADER = [
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
EXACT, SURROGATE, BRUTE = "sleeprx exact", "sleeprx surrogate", "brute force (booster)"
BATCHED = "sleeprx exact, batched"
DICE, SNAPPED, OCEAN = "DiCE random", "DiCE random, snapped to grid", "OCEAN CP (CP-SAT, 1 worker)"


@dataclass
class Case:
    """What one run is about: the survey, the model, the people and the settings."""

    args: argparse.Namespace
    frame: pd.DataFrame
    model: object
    ids: list
    poor: int
    exact: sleeprx.PrescribeSettings
    surrogate: sleeprx.PrescribeSettings
    explanation: object = None
    setup: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def matched(description):
    """The description with the costs and limits OCEAN can express: fixed costs 0,
    resistances 1, no per-person resistance or rules, no linear constraints."""
    update = {"fixed_cost": 0.0, "resistance": 1.0, "resistance_column": None, "rules": ()}
    factors = tuple(f.model_copy(update=update) for f in description.modifiable)
    return description.model_copy(update={"modifiable": factors, "constraints": ()})


def eligible(frame: pd.DataFrame, description) -> pd.Index:
    """People with no blank model input and every lever on its grid."""
    keep = frame[list(description.feature_columns)].notna().all(axis=1)
    for f in description.modifiable:
        values = frame[f.column].to_numpy(float)
        keep &= (np.abs(values[:, None] - f.grid[None, :]) <= 1e-9).any(axis=1)
    return frame.index[keep]


def make_case(args: argparse.Namespace) -> Case:
    """Train the default model, pick the people, and the settings both modes share."""
    spec = SURVEYS[args.survey]
    description = spec.load()
    if args.match_ocean:
        description = matched(description)
        args.goal, args.max_changes = 0.5, "all"
    survey = sleeprx.read_survey(spec.csv, description)
    frame = survey.frame
    model = sleeprx.train(survey)  # default ModelSettings: 200 trees, depth 4
    k = len(description.modifiable) if args.max_changes == "all" else int(args.max_changes)
    p_before = model.predict_proba(frame)
    people = eligible(frame, description) if args.match_ocean else frame.index
    poor = [i for i in people if p_before[i] < args.goal]
    ids = poor
    if args.people is not None and args.people < len(poor):
        rng = np.random.default_rng(args.seed)
        picked = set(rng.choice(np.arange(len(poor)), size=args.people, replace=False))
        ids = [pid for i, pid in enumerate(poor) if i in picked]
    common = {"goal": args.goal, "max_changes": k}
    case = Case(
        args,
        frame,
        model,
        ids,
        len(poor),
        sleeprx.PrescribeSettings(mode="exact", **common),
        sleeprx.PrescribeSettings(mode="surrogate", **common),
    )
    start = time.perf_counter()
    case.explanation = sleeprx.explain(model, frame)  # the population's SHAP curves, once
    tree_scorer(model.booster)  # parse the booster's trees once
    case.setup["SHAP curves + tree parsing"] = time.perf_counter() - start
    return case


def methods_of(case: Case) -> dict:
    """Every method that can answer this case, by its row label."""
    model, frame, explanation = case.model, case.frame, case.explanation
    dice_people = frame.loc[eligible(frame, model.description)] if case.args.match_ocean else frame
    dice, case.setup["DiCE explainer"] = dice_method(
        model, dice_people, case.args.goal, case.args.seed
    )
    out = {
        EXACT: sleeprx_method(model, frame, case.exact, explanation),
        BATCHED: batched_method(model, frame, case.ids, case.exact, explanation),
        SURROGATE: sleeprx_method(model, frame, case.surrogate, explanation),
        BRUTE: brute_force_method(model, frame, case.surrogate, explanation),
        DICE: dice,
    }
    reason = peer_ocean.unavailable()
    if reason is None and not case.args.match_ocean:
        reason = "OCEAN skipped: its problem matches only with --match-ocean"
    if reason is not None:
        case.notes.append(reason)
        print(reason, file=sys.stderr)
        return out
    peer = peer_ocean.OceanPeer(model, frame.loc[case.ids], seed=case.args.seed)
    case.setup["OCEAN CP model"] = peer.setup
    gap = peer.margin_gap(frame.loc[case.ids])
    case.notes.append(
        f"OCEAN's booster, levers in grid steps: largest |margin - the model's| on these "
        f"people {gap:.1e}."
    )
    out[OCEAN] = lambda pid: peer(frame, pid)
    return out


def run_all(case: Case, methods: dict) -> dict[str, dict[object, Answer]]:
    """Every method on every person, interleaved, after one untimed warm-up each."""
    for run in methods.values():
        run(case.ids[0])
    answers: dict[str, dict[object, Answer]] = {name: {} for name in methods}
    for pid in case.ids:
        for name, run in methods.items():
            gc.collect()
            answers[name][pid] = run(pid)
    answers[SNAPPED] = snap_to_grid(case.model, case.frame, answers[DICE])
    if OCEAN in answers:  # OCEAN's row last, beside the other exact method's
        answers[OCEAN] = answers.pop(OCEAN)
    return answers


def title(case: Case) -> str:
    a, m = case.args, case.model
    return (
        f"Recourse goal p(good sleep) >= {a.goal:g}, K = {case.exact.max_changes}; "
        f"{len(case.ids)} of {case.poor} poor sleepers (model p < {a.goal:g}"
        + (", no blank, levers on the grid" if a.match_ocean else "")
        + f") of {len(case.frame)} people; default model ({m.settings.n_estimators} trees, "
        f"depth {m.settings.max_depth}) on the {SURVEYS[a.survey].title}"
        + (" with matched costs" if a.match_ocean else "")
        + f"; seed {a.seed}."
    )


def speed_lines(case: Case, answers: dict) -> list[str]:
    med = {k: np.median([a.seconds for a in v.values()]) for k, v in answers.items()}
    others = [k for k in (EXACT, BATCHED, SURROGATE, BRUTE, OCEAN) if k in med]
    lines = [
        "Speed, DiCE random's median per person over each method's: "
        + "; ".join(f"{k} {med[DICE] / med[k]:.1f}x" for k in others)
        + "."
    ]
    for mode in (EXACT, BATCHED, SURROGATE):
        prep = np.median([a.parts[0] for a in answers[mode].values()]) * 1e3
        plan = np.median([a.parts[1] for a in answers[mode].values()]) * 1e3
        lines.append(f"  {mode}: median prepare_problems {prep:.2f} ms + plan_person {plan:.2f} ms")
    if OCEAN in med:
        lines.append(
            "OCEAN CP's median per person over sleeprx's: "
            + "; ".join(f"{k} {med[OCEAN] / med[k]:.1f}x" for k in (EXACT, BATCHED))
            + "."
        )
    lines.append(
        "  set-up, once, untimed above: "
        + "; ".join(f"{k} {v * 1e3:.0f} ms" for k, v in case.setup.items())
    )
    return lines


def optimum_lines(case: Case, answers: dict, checked: dict) -> list[str]:
    """Where the problems match, do the optimal costs?"""
    n, ids = len(case.ids), case.ids
    skipped = [pid for pid, a in answers[BRUTE].items() if a.error.startswith("skipped")]
    rest = [pid for pid in ids if pid not in skipped]
    same = same_optimum(checked[EXACT], checked[BRUTE], rest)
    lines = [
        f"Exact mode vs brute force: same optimal cost for {len(same)}/{len(rest)} people"
        + (f" (brute force skipped {len(skipped)} with too many profiles)." if skipped else ".")
    ]
    if OCEAN in checked:
        same = same_optimum(checked[EXACT], checked[OCEAN], ids)
        lines.append(f"Exact mode vs OCEAN CP: same optimal cost for {len(same)}/{n} people.")
        same = same_optimum(checked[BATCHED], checked[OCEAN], ids)
        lines.append(f"Exact, batched vs OCEAN CP: same optimal cost for {len(same)}/{n} people.")
        same = same_optimum(checked[OCEAN], checked[BRUTE], rest)
        lines.append(f"OCEAN CP vs brute force: same optimal cost for {len(same)}/{len(rest)}.")
    mismatch = [
        (name, pid)
        for name in (EXACT, BATCHED, SURROGATE, BRUTE, OCEAN)
        for pid, a in answers.get(name, {}).items()
        if a.values is not None and abs(a.cost_reported - checked[name][pid].cost) > 1e-6
    ]
    if mismatch:
        lines.append(f"WARNING: reported cost differs from the recomputed cost: {mismatch[:10]}")
    invalid = [
        f"{name} id {pid} p={checked[name][pid].p_after:.9f}"
        for name in (EXACT, OCEAN)
        for pid, a in answers.get(name, {}).items()
        if a.values is not None and not checked[name][pid].valid
    ]
    if invalid:
        lines.append("Answers below the goal under predict_proba: " + ", ".join(invalid[:10]))
    return lines


def dice_lines(case: Case, answers: dict, checked: dict) -> list[str]:
    n, ce, cd = len(case.ids), checked[EXACT], checked[DICE]
    lines = []
    both = [pid for pid in case.ids if ce[pid].valid and cd[pid].valid]
    if both:
        e_cost = np.mean([ce[pid].cost for pid in both])
        d_cost = np.mean([cd[pid].cost for pid in both])
        no_dearer = sum(ce[pid].cost <= cd[pid].cost + 1e-9 for pid in both)
        dice_cheaper = [pid for pid in both if cd[pid].cost < ce[pid].cost - 1e-9]
        cheaper_ok = [pid for pid in dice_cheaper if cd[pid].feasible]
        lines.append(
            f"Where exact and DiCE are both valid ({len(both)} people): mean cost exact "
            f"{e_cost:.2f} vs DiCE {d_cost:.2f}; exact no dearer for {no_dearer}/{len(both)}; "
            f"of the {len(dice_cheaper)} DiCE answers that cost less, {len(cheaper_ok)} meet "
            f"the constraints{' (ids ' + str(cheaper_ok[:10]) + ')' if cheaper_ok else ''}."
        )
    lines.append(
        "DiCE answers breaking each constraint: "
        + ", ".join(f"{r} {sum(r in c.broken for c in cd.values())}" for r in REASONS)
        + f" (of {n})."
    )
    failures = [a.error for a in answers[DICE].values() if a.values is None]
    lines.append(f"DiCE failures (no counterfactual, counted invalid): {len(failures)}")
    lines += [f"  e.g. {message[:150]}" for message in sorted(set(failures))[:3]]
    return lines


COLUMNS = (
    "Columns: valid = p >= goal under model.predict_proba, share of all people; "
    "constraints ok = grid, safe bounds, direction, largest change and K all met; "
    "mean changes/cost over people with an answer; proven = the answer is proven optimal, "
    "or proven impossible (no answer), by HiGHS or CP-SAT for the program's own gain model "
    "or by exhaustive enumeration."
)


def report(case: Case, answers: dict, load_before: str) -> tuple[str, str]:
    """The table and its reading, and the machine lines."""
    n, args = len(case.ids), case.args
    scale = case.exact.resistance_scale
    checked = {
        name: check(case.model, case.frame, a, args.goal, case.exact.max_changes, scale)
        for name, a in answers.items()
    }
    rows = [summarise(name, answers[name], checked[name], n) for name in answers]
    lines = [title(case), "", markdown(HEADER, rows, numeric=True), ""]
    lines += speed_lines(case, answers)
    lines += optimum_lines(case, answers, checked)
    lines += dice_lines(case, answers, checked)
    lines += case.notes
    lines.append(COLUMNS)
    machine = (
        f"Machine: {machine_line(PACKAGES)}.\n"
        f"Load average (1, 5, 15 min): {load_before} before the run, {load_average()} after."
    )
    return "\n".join(lines), machine


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goal", type=float, default=0.7, help="target p(good sleep)")
    parser.add_argument("--max-changes", default="2", help="K, most factors changed, or 'all'")
    parser.add_argument("--people", type=int, default=None, help="N poor sleepers (default all)")
    parser.add_argument("--seed", type=int, default=0, help="sampling of people; DiCE seeds")
    parser.add_argument("--survey", choices=sorted(SURVEYS), default="shipped")
    parser.add_argument(
        "--match-ocean",
        action="store_true",
        help="OCEAN's problem for every method: goal 0.5, K all, cost sum |change|/step",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time exact mode's steps one by one"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="with --match-ocean: also the survey's full program and robust exact, same K",
    )
    parser.add_argument("--bootstrap", type=int, default=20, help="--full: B of robust exact")
    parser.add_argument("--robust", type=float, default=0.9, help="--full: Q of robust exact")
    parser.add_argument("--write", action="store_true", help="write the table to BENCHMARKS.md")
    return parser.parse_args(argv)


SECTION_HEADER = """\
`python benchmarks/bench_prescribe.py --match-ocean` poses one recourse problem to five
methods on the same people and the same default XGBoost model: p(good sleep) >= 0.5 at
least cost, cost = sum |change| / step (rungs on a ladder; fixed costs 0, resistances 1),
no cap on the number of changes (K = the number of levers), no linear constraints and
no per-person rules, on people with no blank answer and every lever on its grid. OCEAN
(`oceanpy`, Parmentier & Vidal, ICML 2021) runs its constraint-programming backend
(OR-Tools CP-SAT, one worker; Python >= 3.12). Every answer is re-scored by the model
itself (`predict_proba`) and costed and constraint-checked by the benchmark's own code.
"""


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    load_before = load_average()
    try:
        import dice_ml  # noqa: F401
    except ImportError:
        print('dice-ml is not installed: pip install -e ".[bench]"', file=sys.stderr)
        return 2
    case = make_case(args)
    if not case.ids:
        print(f"nobody has p < {args.goal:g}; nothing to benchmark", file=sys.stderr)
        return 1
    answers = run_all(case, methods_of(case))
    body, machine = report(case, answers, load_before)
    if args.full and args.match_ocean:
        people = args.people or len(case.ids)
        k = case.exact.max_changes
        spec = SURVEYS[args.survey]
        full = full_program(spec, args.goal, k, people, args.seed, args.bootstrap, args.robust)
        body += "\n\n" + full
        machine = machine.replace(" after.", f" after the matched table, {load_average()} after.")
    print(body)
    if args.breakdown:
        print(
            "\n"
            + "\n".join(breakdown(case.model, case.frame, case.ids, case.exact, case.explanation))
        )
    print("\n" + machine)
    if args.write:
        head = command_head("bench_prescribe.py", argv)
        busy = "The machine is shared and was busy: timings are noisy; compare rows of one run."
        block = f"### {SURVEYS[args.survey].title}\n\n{head}\n\n{body}\n\n{machine} {busy}\n"
        write_blocks(
            "bench_prescribe",
            "Peers: sleeprx, DiCE and OCEAN",
            SECTION_HEADER,
            {f"{args.survey}{'-matched' if args.match_ocean else ''}": block},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
