"""The table of a person's N best plans: one row per option, numbered by ``option``.

With ``PrescribeSettings.options`` above 1 the table gains an ``option`` column after
``person_id``: option 1 is the row the table has without options (the person's
optimum, or why there is none), and options 2..N are the next-best distinct plans
(:func:`~sleeprx.prescribing.policy.plan_options`), each built, re-scored and worded
exactly as option 1 is. A person's rows are together and in option order. With
``options = 1`` the table is left as it is, without the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from sleeprx.prescribing.columns import OPTION
from sleeprx.prescribing.policy import Plan
from sleeprx.prescribing.table import TableInput, build_table

__all__ = ["first_options", "with_options"]


def with_options(
    table: pd.DataFrame, data: TableInput, further: Mapping[object, Sequence[Plan]]
) -> pd.DataFrame:
    """``table`` (option 1 of every person of ``data``) with each person's ``further``
    plans (options 2, 3, ...) after their first row, under ``data.settings.options``."""
    if data.settings.options == 1:
        return table
    parts = [table.assign(**{OPTION: 1})]
    for k in range(1, data.settings.options):
        plans = {pid: p[k - 1] for pid, p in further.items() if len(p) >= k}
        if not plans:
            break
        wanted = [pid for pid in data.wanted if pid in plans]
        part = build_table(replace(data, wanted=wanted, plans=plans, errors={}))
        parts.append(part.assign(**{OPTION: k + 1}))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    place = {pid: i for i, pid in enumerate(data.wanted)}
    order = out["person_id"].map(place).to_numpy() * (data.settings.options + 1) + out[OPTION]
    out = out.iloc[order.argsort(kind="stable")].reset_index(drop=True)
    columns = list(out.columns)
    columns.remove(OPTION)
    columns.insert(columns.index("person_id") + 1, OPTION)
    return out[columns].astype({OPTION: "int64"})


def first_options(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of option 1 (every row of a table without options): one per person."""
    if OPTION not in table.columns:
        return table
    return table[table[OPTION].eq(1)].reset_index(drop=True)
