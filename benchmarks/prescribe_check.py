"""How the recourse benchmark checks every answer, outside the timing and independently
of ``sleeprx.optimize.problem``: re-scored with ``model.predict_proba`` (valid: p >=
goal), costed with the survey description's cost model rho * (fixed_cost * [changed] +
|change| / step) (rungs on a ladder), and checked against the constraints (grid, safe
bounds, direction, largest change, at most K changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from prescribe_methods import Answer

from sleeprx.optimize import resistance_of

TOL = 1e-9
REASONS = (
    "off grid",
    "outside safe bounds",
    "wrong direction",
    "change too large",
    "more than K changes",
)


@dataclass
class Checked:
    answered: bool
    valid: bool
    feasible: bool
    n_changes: int
    cost: float
    p_after: float
    broken: frozenset[str] = frozenset()  # which constraints the answer breaks


def steps(factor, current: float, value: float) -> float:
    """|value - current| in steps of the grid, or in rungs of a ladder."""
    if not factor.is_ladder:
        return abs(value - current) / factor.step
    rungs = np.arange(len(factor.grid), dtype=float)
    where = np.interp([current, value], factor.grid, rungs)
    return float(abs(where[1] - where[0]))


def broken_by(factor, current: float, value: float) -> set[str]:
    """The constraints on one lever that moving it from ``current`` to ``value`` breaks."""
    broken, delta = set(), value - current
    if not np.any(np.abs(factor.grid - value) <= TOL):
        broken.add("off grid")
    if not factor.grid[0] - TOL <= value <= factor.grid[-1] + TOL:
        broken.add("outside safe bounds")
    if (factor.direction == "up" and delta < 0) or (factor.direction == "down" and delta > 0):
        broken.add("wrong direction")
    if steps(factor, current, value) > factor.max_steps + TOL:
        broken.add("change too large")
    return broken


def check(model, frame, answers, goal, max_changes, scale) -> dict[object, Checked]:
    """Re-score, cost and constraint-check every answer."""
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
            if abs(v - current) <= TOL:
                continue
            n += 1
            rho = resistance_of(f, frame.loc[pid], scale)
            cost += rho * (f.fixed_cost + steps(f, current, v))
            broken |= broken_by(f, current, v)
        if n > max_changes:
            broken.add("more than K changes")
        p = float(p_after[pid])
        out[pid] = Checked(True, p >= goal, not broken, n, cost, p, frozenset(broken))
    return out


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def summarise(name: str, answers: dict[object, Answer], checked: dict, n: int) -> list[str]:
    """One row of the results table (see ``bench_prescribe.HEADER``)."""
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


def same_optimum(a: dict[object, Checked], b: dict[object, Checked], ids) -> list:
    """The people for whom both give an answer of the same cost, or both none."""
    return [
        pid
        for pid in ids
        if a[pid].answered == b[pid].answered
        and (not a[pid].answered or abs(a[pid].cost - b[pid].cost) <= 1e-6)
    ]
