"""Exact mode's time per person, step by step, and HiGHS option what-ifs that sleeprx
does not use today (measured here only; their answers are compared with sleeprx's).

``python benchmarks/bench_prescribe.py --breakdown`` prints this after its table.
"""

from __future__ import annotations

import time

import numpy as np
from common import prepare_problems

from sleeprx.optimize import attach_ensemble, build_problem, build_program, solve, tree_scorer

STEPS = (
    "encode + booster margin, 1 row",
    "build_problem without trees",
    "compile the trees (tables / pruning)",
    "build_program",
    "HiGHS (sleeprx.optimize.solver.solve)",
)
WHAT_IFS = {
    "sleeprx's options (presolve off)": {},
    "presolve on": {"presolve": "on"},
    "threads=1": {"threads": 1},
    "presolve on and threads=1": {"presolve": "on", "threads": 1},
}


def time_steps(model, frame, ids, settings, explanation):
    """Each step of exact mode timed on its own, per person; the programs and answers."""
    scorer = tree_scorer(model.booster)
    steps = {name: [] for name in STEPS}
    sizes, programs, solutions = [], [], []
    for pid in ids:
        row = frame.loc[[pid]]
        t = [time.perf_counter()]
        x = model.pipeline.named_steps["encode"].transform_array(row)
        logit = float(scorer.margin(x)[0])
        t.append(time.perf_counter())
        problem = build_problem(
            pid,
            row.iloc[0],
            model.description,
            features=x[0],
            feature_names=model.feature_names,
            logit_before=logit,
            curves=explanation.curves,
            resistance_scale=settings.resistance_scale,
        )
        t.append(time.perf_counter())
        problem = attach_ensemble(
            problem, scorer, encoding=settings.tree_encoding, max_cells=settings.max_table_cells
        )
        t.append(time.perf_counter())
        program = build_program(problem, settings)
        t.append(time.perf_counter())
        solution = solve(program.model, settings)
        t.append(time.perf_counter())
        for i, times in enumerate(steps.values()):
            times.append(t[i + 1] - t[i])
        sizes.append((program.model.n_vars, program.model.n_rows))
        programs.append(program)
        solutions.append(solution)
    return steps, sizes, programs, solutions


def what_ifs(programs, solutions, settings) -> tuple[dict[str, list[float]], int]:
    """Each HiGHS option set, a pass over all programs back to back, through the
    highs_options setting; how many solves differ from sleeprx's in status or objective.

    HiGHS fixes its thread count for the whole process at the first solve, so its
    scheduler is reset around every pass (and once more at the end).
    """
    import highspy

    out, differ = {}, 0
    for label, extra in WHAT_IFS.items():
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
        out[label] = times
    return out, differ


def breakdown(model, frame, ids, settings, explanation) -> list[str]:
    """Median/p90 ms per person of each step of exact mode, and the what-ifs, as lines."""
    steps, sizes, programs, solutions = time_steps(model, frame, ids, settings, explanation)
    options, differ = what_ifs(programs, solutions, settings)
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
    lines += [f"  {k:<38} {ms(v)}" for k, v in options.items()]
    lines.append(f"  solves whose status or objective differ from sleeprx's: {differ}")
    return lines
