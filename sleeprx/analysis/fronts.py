"""Improvement against intervention intensity: Pareto fronts, knees and sensitivity.

**Fronts (epsilon-constraint).** For person :math:`i` the prescription program trades
the gain :math:`\\Delta\\mathrm{logit}_i(z)` against how much must change. With the
penalty switched off (:math:`\\lambda = 0`, ``min_gain = 0``) two sweeps trace the front:

.. math::

    G_i(B) = \\max_z \\ \\Delta\\mathrm{logit}_i(z) \\quad \\text{s.t.} \\quad
    \\sum_{f,l} \\frac{|v_{fl} - x_{if}|}{s_f} z_{fl} \\le B
    \\qquad \\text{(budget sweep, every factor may change)}

.. math::

    G_i(K) = \\max_z \\ \\Delta\\mathrm{logit}_i(z) \\quad \\text{s.t.} \\quad
    \\sum_f \\sum_{l \\ge 1} z_{fl} \\le K
    \\qquad \\text{(K sweep, no budget)}

Each :math:`G_i` is non-decreasing in its limit, because a larger limit only enlarges the
feasible set. Every optimum is then re-scored by the real classifier (one batched call
of the booster's own traversal, :meth:`~sleeprx.learn.ensemble.TreeScorer.margin`), since
the surrogate's gain is an estimate.

**Columns of** :func:`person_fronts` (and of ``pareto.csv``, one row per person, sweep and
limit):

``person_id``, ``sweep`` (``"budget"`` or ``"k"``), ``budget`` (the limit :math:`B`;
``inf`` on K-sweep rows), ``k`` (the limit :math:`K`; the number of factors on budget
rows), ``mode``, ``status`` (:class:`~sleeprx.prescribing.status.Status`),
``n_changes``, ``intensity`` (:math:`\\sum |change|/step` of the optimum), ``cost``
(the resistance-weighted cost of the optimum, at the settings' ``resistance_scale``),
``gain_planned`` (delta-logit under the mode's own gain model: what was maximised),
``gain_surrogate`` (delta-logit under the SHAP surrogate), ``gain_verified`` (the real
model's delta-logit), ``p_before``, ``p_after`` (the real model's probability of good
sleep), ``<factor>_after`` for every modifiable factor, and ``non_dominated`` (see
:func:`non_dominated`).

The sensitivity grid is in :mod:`sleeprx.analysis.sensitivity`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sleeprx.analysis.weighted import design_means, weighted_quantile
from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.explain import Explanation
from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.problem import PersonProblem, profile_features
from sleeprx.optimize.routes import Sweep
from sleeprx.prescribing.columns import after
from sleeprx.prescribing.policy import Plan, decide
from sleeprx.prescribing.run import prepare_problems
from sleeprx.prescribing.status import Status
from sleeprx.settings import ParetoSettings, PrescribeSettings
from sleeprx.survey.design import SurveyDesign
from sleeprx.utils.errors import ConfigError, SolverError
from sleeprx.utils.odds import sigmoid
from sleeprx.utils.progress import track

__all__ = [
    "Knee",
    "knee",
    "non_dominated",
    "non_dominated_mask",
    "person_fronts",
    "population_curve",
]

_DEFAULT = ParetoSettings()

SWEEPS = ("budget", "k")
_TOL = 1e-9


# --------------------------------------------------------------------------- fronts


def person_fronts(
    model: TrainedModel,
    frame: pd.DataFrame,
    *,
    settings: PrescribeSettings | None = None,
    budgets: Sequence[float] = _DEFAULT.budgets,
    ks: Sequence[int] = _DEFAULT.ks,
    explanation: Explanation | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Every person's optimal gain at each intensity budget and each limit K.

    ``settings`` supplies the mode, resistance scale and solver options; ``lam``,
    ``min_gain``, ``goal``, ``budget`` and ``max_changes`` are overridden by the sweeps
    (see the module docstring for the programs and the columns). ``frame`` is indexed
    by person id, like :attr:`sleeprx.survey.read.Survey.frame`. The effect curves come from
    ``frame`` unless ``explanation`` is given.
    """
    settings = settings or PrescribeSettings()
    budgets, ks = check_grid("budgets", budgets, float), check_grid("ks", ks, int)
    n_factors = len(model.description.modifiable)
    base = settings.model_copy(
        update={"lam": 0.0, "min_gain": 0.0, "min_gain_prob": 0.0, "goal": None}
    )
    limits = [
        ("budget", b, n_factors, base.model_copy(update={"budget": b, "max_changes": n_factors}))
        for b in budgets
    ] + [("k", math.inf, k, base.model_copy(update={"budget": None, "max_changes": k})) for k in ks]

    problems = prepare_problems(model, frame, base, explanation=explanation)
    widest = base.model_copy(update={"max_changes": max(n_factors, *ks), "budget": max(budgets)})
    points: list[dict] = []
    plans: list[tuple[PersonProblem, Plan | None]] = []
    for pid in track(list(problems), "Pareto fronts", enabled=progress):
        problem = problems[pid]
        resolve = sweep_of(problem, widest)  # built once, re-solved at every limit
        for sweep, budget, k, limit in limits:
            plan = resolve(limit)
            points.append({"person_id": pid, "sweep": sweep, "budget": budget, "k": k})
            plans.append((problem, plan))
    table = describe_plans(model, plans, points, mode=settings.mode)
    table["non_dominated"] = non_dominated_mask(table)
    return table


def check_grid(name: str, values: Iterable, kind: type) -> list:
    """The distinct values of a sweep grid, ascending; refuses an empty or negative one."""
    out = sorted({kind(v) for v in values})
    if not out:
        raise ConfigError(f"{name}: give at least one value")
    if out[0] < 0:
        raise ConfigError(f"{name}: {out[0]} is negative; limits must be >= 0")
    return out


def sweep_of(
    problem: PersonProblem, widest: PrescribeSettings
) -> Callable[[PrescribeSettings], Plan | None]:
    """The person's program built once (:class:`~sleeprx.optimize.routes.Sweep`), as a
    function from a point's settings to its plan; None for a solver failure."""
    try:
        sweep = Sweep(problem, widest)
    except SolverError:
        return lambda settings: None

    def resolve(settings: PrescribeSettings) -> Plan | None:
        start = time.perf_counter()
        try:
            found = sweep.best(settings)
        except SolverError:
            return None
        return decide(problem, settings, found, time.perf_counter() - start)

    return resolve


def describe_plans(
    model: TrainedModel,
    plans: list[tuple[PersonProblem, Plan | None]],
    points: list[dict],
    *,
    mode: str,
) -> pd.DataFrame:
    """One row per plan, with the real model's gain from a single batched re-score.

    A plan without levels (solver error, infeasible) keeps NaN gains.
    """
    names = model.description.modifiable_names
    solved = [j for j, (_, plan) in enumerate(plans) if plan is not None and plan.levels]
    rows = np.empty((len(solved), len(model.feature_names)))
    for r, j in enumerate(solved):
        problem, plan = plans[j]
        rows[r] = profile_features(problem, plan.levels)[0]
    logits = tree_scorer(model.booster).margin(rows) if len(solved) else np.zeros(0)
    verified = dict(zip(solved, logits, strict=True))

    records = []
    for j, ((problem, plan), point) in enumerate(zip(plans, points, strict=True)):
        record = point | {"mode": mode, "p_before": sigmoid(problem.logit_before)}
        if plan is None or not plan.levels:
            record |= {"status": Status.ERROR if plan is None else plan.status}
            records.append(record)
            continue
        margin = verified[j]
        record |= {
            "status": plan.status,
            "n_changes": int(problem.changes(np.asarray(plan.levels))[0]),
            "intensity": plan.intensity,
            "cost": plan.cost,
            "gain_planned": plan.gain_planned,
            "gain_surrogate": plan.gain_surrogate,
            "gain_verified": margin - problem.logit_before,
            "p_after": sigmoid(margin),
        }
        for f, i in zip(problem.factors, plan.levels, strict=True):  # held levers stay blank
            record[after(f.name)] = float(f.levels[i])
        records.append(record)
    columns = [
        "person_id",
        "sweep",
        "budget",
        "k",
        "mode",
        "status",
        "n_changes",
        "intensity",
        "cost",
        "gain_planned",
        "gain_surrogate",
        "gain_verified",
        "p_before",
        "p_after",
        *(after(n) for n in names),
    ]
    return pd.DataFrame.from_records(records, columns=columns)


# ------------------------------------------------------------------ non-domination


def non_dominated_mask(
    fronts: pd.DataFrame,
    *,
    cost: str | None = None,
    gain: str = "gain_planned",
    by: Sequence[str] = ("person_id", "sweep"),
) -> pd.Series:
    """True for the rows no other row of their group (weakly) dominates.

    Row :math:`a` dominates :math:`b` when :math:`\\mathrm{cost}_a \\le
    \\mathrm{cost}_b` and :math:`\\mathrm{gain}_a \\ge \\mathrm{gain}_b` (gains within
    1e-9 count as equal); of several identical points only the first in the frame's
    order is kept. ``cost`` defaults to each sweep's own resource: ``intensity`` on
    budget rows and ``n_changes`` on K rows (``intensity`` if there is no ``sweep``
    column). The gain is ``gain_planned``, the quantity the program maximised, so the
    front is the program's own; the real model's gain may be non-monotone along it.
    Rows with a missing cost or gain are never on the front.
    """
    if cost is not None:
        x = fronts[cost].astype(float)
    elif "sweep" in fronts.columns:
        x = fronts["intensity"].where(fronts["sweep"].eq("budget"), fronts["n_changes"])
        x = x.astype(float)
    else:
        x = fronts["intensity"].astype(float)
    y = fronts[gain].astype(float)
    keep = pd.Series(False, index=fronts.index)
    groups = [c for c in by if c in fronts.columns]
    work = pd.DataFrame({"x": x, "y": y, "order": np.arange(len(fronts))}, index=fronts.index)
    work = work.dropna(subset=["x", "y"])
    grouped = work.groupby([fronts.loc[work.index, c] for c in groups]) if groups else [(0, work)]
    for _, group in grouped:
        # cheapest first; at equal cost the best gain first; then the frame's order
        ordered = group.sort_values(["x", "y", "order"], ascending=[True, False, True])
        best = -math.inf
        for index, y_value in zip(ordered.index, ordered["y"], strict=True):
            if y_value > best + _TOL:
                keep[index] = True
                best = y_value
    return keep


def non_dominated(fronts: pd.DataFrame, **options) -> pd.DataFrame:
    """The rows of ``fronts`` on their group's Pareto front (see :func:`non_dominated_mask`).

    ``options`` (``cost``, ``gain``, ``by``) are passed to :func:`non_dominated_mask`.
    """
    return fronts[non_dominated_mask(fronts, **options)]


# -------------------------------------------------------------------- population


def population_curve(
    fronts: pd.DataFrame,
    by: str = "budget",
    *,
    positive_at: float = 0.5,
    design: SurveyDesign | None = None,
) -> pd.DataFrame:
    """The population's gain at each limit of one sweep (``by`` is ``"budget"`` or ``"k"``).

    Every person's optimum at every limit is used (dominated or not), so each limit
    averages over the same people. Columns: ``budget`` or ``k``, ``n_people``,
    ``mean_gain_verified``, ``q25_gain_verified``, ``median_gain_verified``,
    ``q75_gain_verified``, ``mean_gain_surrogate``, ``mean_gain_planned``,
    ``mean_intensity``, ``mean_n_changes``, ``share_changed`` and ``marginal_gain``:

    .. math::

        \\mathrm{marginal\\_gain}_j = \\bar G_j - \\bar G_{j-1},

    the rise of the mean verified gain from the previous limit (NaN on the first row).

    On the probability scale (the real model's): ``mean_p_before`` and ``mean_p_after``
    (mean probability of the positive class before and after the change),
    ``share_positive_before`` and ``share_predicted_positive`` (share of people with
    probability at least ``positive_at`` before and after), and ``rise_share_positive``
    (``share_predicted_positive - share_positive_before``). A table without ``p_before``
    or ``p_after`` columns gives NaN there.

    With a survey ``design`` (:func:`~sleeprx.survey.design.design_of`) every mean,
    share and quartile is weighted by the survey weights, so the curve describes the
    population, and the means and shares get design-based 95% intervals in
    ``<column>_low`` and ``<column>_high`` (:mod:`sleeprx.analysis.weighted`).
    """
    if by not in SWEEPS:
        raise ConfigError(f"by={by!r}: expected one of {list(SWEEPS)}")
    rows = fronts[fronts["sweep"].eq(by) & fronts["gain_verified"].notna()]
    grouped = rows.groupby(by)
    verified = grouped["gain_verified"]
    curve = pd.DataFrame(
        {
            "n_people": grouped["person_id"].nunique(),
            "mean_gain_verified": verified.mean(),
            "q25_gain_verified": verified.quantile(0.25),
            "median_gain_verified": verified.median(),
            "q75_gain_verified": verified.quantile(0.75),
            "mean_gain_surrogate": grouped["gain_surrogate"].mean(),
            "mean_gain_planned": grouped["gain_planned"].mean(),
            "mean_intensity": grouped["intensity"].mean(),
            "mean_n_changes": grouped["n_changes"].mean(),
            "share_changed": grouped["n_changes"].apply(lambda n: float((n > 0).mean())),
        }
    ).sort_index()
    curve["marginal_gain"] = curve["mean_gain_verified"].diff()
    for when, mean, share in (
        ("before", "mean_p_before", "share_positive_before"),
        ("after", "mean_p_after", "share_predicted_positive"),
    ):
        column = f"p_{when}"
        if column in rows.columns:
            p = rows[column].astype(float)
            curve[mean] = p.groupby(rows[by]).mean()
            positive = p.ge(positive_at).astype(float).where(p.notna())
            curve[share] = positive.groupby(rows[by]).mean()
        else:
            curve[mean] = curve[share] = np.nan
    if design is not None:
        curve = _weighted_curve(curve, rows, by, design, positive_at)
    rise = curve["share_predicted_positive"] - curve["share_positive_before"]
    curve["rise_share_positive"] = rise
    return curve.reset_index()


#: The columns of a weighted curve that get intervals, and the per-person value of each.
_ESTIMATED = {
    "mean_gain_verified": "gain_verified",
    "mean_gain_surrogate": "gain_surrogate",
    "mean_gain_planned": "gain_planned",
    "mean_intensity": "intensity",
    "mean_n_changes": "n_changes",
    "share_changed": "changed",
    "mean_p_before": "p_before",
    "mean_p_after": "p_after",
    "share_positive_before": "positive_before",
    "share_predicted_positive": "positive_after",
}


def _weighted_curve(
    curve: pd.DataFrame, rows: pd.DataFrame, by: str, design: SurveyDesign, positive_at: float
) -> pd.DataFrame:
    """``curve`` with its figures weighted by ``design``, and intervals beside them."""
    curve = curve.copy()
    for limit, at in rows.groupby(by):
        at = at.set_index("person_id")
        values = at.reindex(columns=["gain_verified", "gain_surrogate", "gain_planned"])
        values["intensity"], values["n_changes"] = at["intensity"], at["n_changes"]
        values["changed"] = (at["n_changes"] > 0).astype(float)
        for when, name in (("before", "positive_before"), ("after", "positive_after")):
            p = at[f"p_{when}"].astype(float) if f"p_{when}" in at else np.nan
            values[f"p_{when}"] = p
            values[name] = (values[f"p_{when}"] >= positive_at).astype(float)
            values[name] = values[name].where(values[f"p_{when}"].notna())
        found = design_means(design, values.astype(float).dropna(axis=1, how="all"))
        for column, source in _ESTIMATED.items():
            estimate = found.get(source)
            for suffix, value in (("", "value"), ("_low", "low"), ("_high", "high")):
                curve.loc[limit, column + suffix] = (
                    np.nan if estimate is None else getattr(estimate, value)
                )
        weights = design.weights(at.index)
        for q, column in ((0.25, "q25"), (0.5, "median"), (0.75, "q75")):
            curve.loc[limit, f"{column}_gain_verified"] = weighted_quantile(
                at["gain_verified"].to_numpy(float), weights, q
            )
    curve["marginal_gain"] = curve["mean_gain_verified"].diff()
    return curve


@dataclass(frozen=True)
class Knee:
    """The knee of a curve: its position in the input and its coordinates."""

    index: int
    x: float
    y: float


def knee(x: Sequence[float], y: Sequence[float]) -> Knee:
    """The Kneedle knee: the point farthest from the chord of the normalised curve.

    After Satopää, Albrecht, Irwin and Raghavan (2011), "Finding a 'Kneedle' in a
    haystack". Points are sorted by :math:`x` and both axes scaled to :math:`[0, 1]`:
    :math:`\\tilde x = (x - x_{\\min}) / (x_{\\max} - x_{\\min})`, likewise
    :math:`\\tilde y`. With the chord through the first and the last scaled points,
    the knee maximises the distance to it,

    .. math::

        j^\\star = \\arg\\max_j \\ \\bigl| \\tilde y_j - \\tilde y_0
        - (\\tilde y_n - \\tilde y_0)\\,\\tilde x_j \\bigr| ,

    which for a rising, concave curve is Kneedle's difference curve
    :math:`\\tilde y_j - \\tilde x_j`: where extra effort starts to buy little. Ties go
    to the smallest :math:`x`. A flat curve, or one with fewer than three points, has
    its knee at the first point (more effort buys nothing visible).
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1 or len(xs) == 0:
        raise ConfigError(f"knee: x and y must be equal-length 1-d sequences, got {xs.shape}")
    order = np.argsort(xs, kind="stable")
    xs_sorted, ys_sorted = xs[order], ys[order]
    span_x, span_y = np.ptp(xs_sorted), np.ptp(ys_sorted)
    if len(xs) < 3 or span_x == 0 or span_y == 0:
        j = 0
    else:
        xn = (xs_sorted - xs_sorted[0]) / span_x
        yn = (ys_sorted - ys_sorted.min()) / span_y
        distance = np.abs(yn - yn[0] - (yn[-1] - yn[0]) * xn)
        j = int(np.argmax(distance))
    index = int(order[j])
    return Knee(index, float(xs[index]), float(ys[index]))
