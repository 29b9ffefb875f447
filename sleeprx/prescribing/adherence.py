"""Prescriptions that stay true: half adherence and the trust region, in the table and
in the program.

:func:`attach_filters` gives each person's problem the profile filters the settings
ask for (:mod:`sleeprx.optimize.filters`); :func:`trust_columns` adds the table's
``holds_at_half`` (with ``report_half`` or ``require_half``) and ``plausibility`` (when
the model has a trust region) columns, re-scored with the real classifier from the
table's own before and after values, independently of the program.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import TrainedModel
from sleeprx.optimize.filters import HalfHolds, InRegion, half_way
from sleeprx.optimize.problem import PersonProblem, ProfileFilter
from sleeprx.prescribing.columns import HOLDS_AT_HALF, PLAUSIBILITY, after, before
from sleeprx.prescribing.status import Status
from sleeprx.prescribing.verify import apply_profiles, rescore
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ConfigError

__all__ = ["attach_filters", "half_way_profiles", "trust_columns"]


def attach_filters(
    problems: dict[object, PersonProblem], model: TrainedModel, settings: PrescribeSettings
) -> dict[object, PersonProblem]:
    """Each problem with the filters of ``require_half`` and ``require_plausible``."""
    if not (settings.require_half or settings.require_plausible):
        return problems
    region = model.trust_region
    if settings.require_plausible and region is None:
        raise ConfigError(
            "settings.require_plausible needs a model trained with ModelSettings.trust_region"
        )
    margin = tree_scorer(model.booster).margin
    factors = {f.column: f for f in model.description.modifiable}
    out = {}
    for pid, problem in problems.items():
        filters: list[ProfileFilter] = []
        if settings.require_half:
            half = tuple(half_way(factors[f.name], f.current, f.levels) for f in problem.factors)
            need = None if settings.goal is None else problem.need(settings.goal_logit)
            need = None if need is None else problem.logit_before + need
            filters.append(HalfHolds(half, margin, need))
        if settings.require_plausible:
            filters.append(InRegion(region.inside))
        out[pid] = replace(problem, filters=tuple(filters))
    return out


def half_way_profiles(model: TrainedModel, table: pd.DataFrame) -> pd.DataFrame:
    """Every lever of the table's rows moved half-way from its before to its after value
    (:func:`~sleeprx.optimize.filters.half_way`), indexed by person id."""
    out = {}
    for factor in model.description.modifiable:
        was = table[before(factor.column)].to_numpy(float)
        now = table[after(factor.column)].to_numpy(float)
        out[factor.column] = [
            float(half_way(factor, b, a)[0]) if b == b and a == a else b
            for b, a in zip(was, now, strict=True)
        ]
    return pd.DataFrame(out, index=table["person_id"].to_numpy())


def trust_columns(
    table: pd.DataFrame, model: TrainedModel, frame: pd.DataFrame, settings: PrescribeSettings
) -> pd.DataFrame:
    """``table`` with ``holds_at_half`` (if the settings report it) and ``plausibility``
    (if the model has a trust region) at the end; unchanged otherwise.

    ``holds_at_half`` is blank for a row without a change; ``plausibility`` for a row
    without an answer (an error).
    """
    if not settings.half_column and model.trust_region is None:
        return table
    table = table.copy()
    levers = model.description.modifiable_names
    has_after = table[[after(n) for n in levers]].notna().any(axis=1)
    answered = table[
        table["person_id"].isin(frame.index)
        & (has_after | table["status"].eq(Status.NO_CHANGE))
        & table["status"].ne(Status.ERROR)
    ]
    if settings.half_column:
        changed = answered[answered["n_changes"] > 0]
        holds = pd.Series(pd.NA, index=table.index, dtype="boolean")
        if len(changed):
            score = rescore(model, frame, half_way_profiles(model, changed))
            if settings.goal is None:
                ok = score["logit_after"] > score["logit_before"] + 1e-9  # as the filter
            else:
                ok = score["logit_after"] >= model.goal_margin(settings.goal)
            holds[changed.index] = ok.to_numpy()
        table[HOLDS_AT_HALF] = holds
    if model.trust_region is not None:
        plausible = np.full(len(table), np.nan)
        if len(answered):
            profiles = pd.DataFrame(  # a blank after-value: the lever keeps its answer
                {n: answered[after(n)].fillna(answered[before(n)]).to_numpy(float) for n in levers},
                index=answered["person_id"].to_numpy(),
            )
            rows = model.encode(apply_profiles(frame, profiles)).to_numpy(float)
            plausible[table.index.get_indexer(answered.index)] = model.trust_region.plausibility(
                rows
            )
        table[PLAUSIBILITY] = plausible
    return table
