"""Sensitivity of the prescriptions to the penalty weight, resistance and K."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sleeprx.analysis.fronts import check_grid, describe_plans, sweep_of
from sleeprx.learn.explain import Explanation, effect_curves
from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.problem import PersonProblem
from sleeprx.prescribing.columns import after
from sleeprx.prescribing.policy import Plan
from sleeprx.prescribing.run import prepare_problems
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings, SensitivitySettings
from sleeprx.utils.progress import track

__all__ = ["sensitivity", "sensitivity_points", "summarise"]

_DEFAULT = SensitivitySettings()
_TOL = 1e-9


def sensitivity(
    model: TrainedModel,
    frame: pd.DataFrame,
    **options,
) -> pd.DataFrame:
    """Population summaries of the prescriptions over a grid of (lam, scale, K).

    One row per (``lam``, ``resistance_scale``, ``k``) with ``n_people``,
    ``mean_gain_logit`` (the real model's mean delta-logit; people told "no change"
    count as 0), ``mean_gain_surrogate``, ``mean_n_changes``, ``mean_intensity``,
    ``mean_cost``, ``mean_p_before`` and ``mean_p_after`` (the real model's mean
    probability of the positive class before and after), ``share_predicted_positive``
    (the share with probability at least 0.5 after), ``share_no_change``,
    ``share_changed``, ``n_errors`` and
    ``share_<factor>`` for every modifiable factor: the share of people whose
    prescription changes it. ``options`` are those of :func:`sensitivity_points`.

    For a fixed scale and K the optimal cost and the optimal surrogate gain cannot rise
    with :math:`\\lambda` (compare the two optimality conditions), so neither can
    ``mean_gain_surrogate`` in surrogate mode; the real model's gain need not follow.
    """
    points = sensitivity_points(model, frame, **options)
    return summarise(points, frame, model.description.modifiable_names)


def sensitivity_points(
    model: TrainedModel,
    frame: pd.DataFrame,
    *,
    settings: PrescribeSettings | None = None,
    lams: Sequence[float] = _DEFAULT.lams,
    scales: Sequence[float] = _DEFAULT.resistance_scales,
    ks: Sequence[int] = _DEFAULT.ks,
    explanation: Explanation | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Every person's plan at every point of the grid of (lam, scale, K), one row each
    (the columns of :func:`~sleeprx.analysis.fronts.describe_plans`, with ``lam``,
    ``resistance_scale`` and ``k``).

    For every combination the program of :func:`sleeprx.optimize.formulation.build_program` is
    solved for every person with ``lam`` = :math:`\\lambda`, ``resistance_scale`` and
    ``max_changes`` = :math:`K` replaced (``goal`` is dropped, so the penalised
    program is solved; ``min_gain``, ``budget`` and ``mode`` come from ``settings``).
    Problems are built once per scale, since the costs scale with it. The prescribed
    profiles are re-scored by the real model in one batch.

    """
    settings = settings or PrescribeSettings()
    lams = check_grid("lams", lams, float)
    scales = check_grid("scales", scales, float)
    ks = check_grid("ks", ks, int)
    base = settings.model_copy(update={"goal": None})
    curves = effect_curves(model, frame, explanation)  # once, for every setting

    combos = [(lam, k) for lam in lams for k in ks]
    keys: list[tuple[float, float, int]] = []
    plans: list[tuple[PersonProblem, Plan | None]] = []
    points: list[dict] = []
    for scale in track(scales, "sensitivity", enabled=progress):
        scaled = base.model_copy(update={"resistance_scale": scale})
        problems = prepare_problems(model, frame, scaled, curves=curves)
        widest = scaled.model_copy(update={"max_changes": max(ks)})
        limits = [scaled.model_copy(update={"lam": lam, "max_changes": k}) for lam, k in combos]
        for pid, problem in problems.items():  # each program built once per scale
            resolve = sweep_of(problem, widest)
            for (lam, k), limit in zip(combos, limits, strict=True):
                keys.append((lam, scale, k))
                plans.append((problem, resolve(limit)))
                points.append({"person_id": pid})
    table = describe_plans(model, plans, points, mode=settings.mode)
    table[["lam", "resistance_scale", "k"]] = pd.DataFrame(keys, index=table.index)
    return table


def summarise(table: pd.DataFrame, frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The grid's rows from the per-person points of :func:`sensitivity_points` (which
    may come from several chunks of people, concatenated)."""
    # a no-change plan keeps the current profile, so its verified gain is exactly 0
    rows = []
    for (lam, scale, k), group in table.groupby(["lam", "resistance_scale", "k"], sort=True):
        ok = group[group["status"].ne(Status.ERROR)]
        p_before = ok["p_before"].astype(float)
        p_after = ok["p_after"].astype(float).fillna(p_before)  # no profile: as now
        row = {
            "lam": lam,
            "resistance_scale": scale,
            "k": int(k),
            "n_people": len(ok),
            "mean_gain_logit": ok["gain_verified"].mean(),
            "mean_gain_surrogate": ok["gain_surrogate"].mean(),
            "mean_n_changes": ok["n_changes"].mean(),
            "mean_intensity": ok["intensity"].mean(),
            "mean_cost": ok["cost"].mean(),
            "mean_p_before": p_before.mean(),
            "mean_p_after": p_after.mean(),
            "share_predicted_positive": float(p_after.ge(0.5).mean()) if len(ok) else math.nan,
            "share_no_change": ok["status"].eq(Status.NO_CHANGE).mean(),
            "share_changed": ok["status"].isin([Status.CHANGED, Status.TIME_LIMIT]).mean(),
            "n_errors": int(len(group) - len(ok)),
        }
        for name in names:
            before = frame.loc[ok["person_id"], name].to_numpy(float)
            changed = np.abs(ok[after(name)].to_numpy(float) - before) > _TOL
            row[f"share_{name}"] = float(changed.mean()) if len(ok) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
