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
from distributed import Future

from sleeprx.learn.model import TrainedModel

__all__ = ["map_people", "share_model"]


def share_model(client, model: TrainedModel) -> Future:
    """The model, sent to every worker once. A fresh key each time (``hash=False``): a
    content-hashed key, released by one sweep and scattered again by the next, raced
    with its own release under load and was lost."""
    return client.scatter(model, broadcast=True, hash=False)


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
    cluster of ``client``, joined in the order of ``frame``.

    ``model`` may be a future of :func:`share_model`, to send it once for several sweeps.
    """
    shared = model if isinstance(model, Future) else share_model(client, model)
    chunks = [frame.iloc[a : a + chunk_size] for a in range(0, len(frame), chunk_size)]
    futures = [client.submit(fn, shared, chunk, pure=False, **options) for chunk in chunks]
    tables = client.gather(futures)
    return pd.concat(tables, ignore_index=True)
