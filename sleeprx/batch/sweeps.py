"""The pipeline's sweeps on the batch engine: chunks of people on a Dask cluster.

Pareto fronts and the sensitivity grid are computed person by person, so they split
into chunks of people without changing a number: each task runs the library's own
sweep (:func:`~sleeprx.analysis.fronts.person_fronts`,
:func:`~sleeprx.analysis.sensitivity.sensitivity_points`) on its chunk, with the
model sent to every worker once, and the chunks' rows are joined in order.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..learn.model import TrainedModel

__all__ = ["map_people"]


def map_people(
    client,
    fn: Callable[..., pd.DataFrame],
    model: TrainedModel,
    frame: pd.DataFrame,
    *,
    chunk_size: int = 250,
    **options,
) -> pd.DataFrame:
    """``fn(model, chunk, **options)`` for every chunk of ``frame``'s people on the
    cluster of ``client``, joined in the order of ``frame``."""
    shared = client.scatter(model, broadcast=True)
    chunks = [frame.iloc[a : a + chunk_size] for a in range(0, len(frame), chunk_size)]
    futures = [client.submit(fn, shared, chunk, pure=False, **options) for chunk in chunks]
    tables = client.gather(futures)
    joined = pd.concat(tables, ignore_index=True)
    errors: dict = {}
    for table in tables:
        errors |= table.attrs.get("errors", {})
    joined.attrs["errors"] = errors
    return joined
