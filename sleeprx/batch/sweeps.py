"""The pipeline's sweeps on the batch engine: chunks of people on a Dask cluster.

Pareto fronts and the sensitivity grid are computed person by person, so they split
into chunks of people without changing a number: each task runs the library's own
sweep (:func:`~sleeprx.analysis.fronts.person_fronts`,
:func:`~sleeprx.analysis.sensitivity.sensitivity_points`) on its chunk, with the
model sent to every worker once, and the chunks' rows are joined in order.
:func:`sweeper` chooses between that and running the sweep in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from sleeprx.learn.model import TrainedModel

if TYPE_CHECKING:
    from distributed import Future

    from sleeprx.learn.explain import Explanation

__all__ = ["Sweep", "map_people", "share_model", "sweeper"]

#: ``sweep(fn, frame, **options)``: ``fn(model, frame, **options)``'s table, computed here
#: or on a cluster.
Sweep = Callable[..., pd.DataFrame]


def share_model(client, model: TrainedModel) -> Future:
    """The model, sent to every worker once. A fresh key each time (``hash=False``): a
    content-hashed key, released by one sweep and scattered again by the next, raced
    with its own release under load and was lost."""
    return client.scatter(model, broadcast=True, hash=False)


def map_people(
    client,
    fn: Callable[..., pd.DataFrame],
    model: TrainedModel | Future,
    frame: pd.DataFrame,
    *,
    chunk_size: int = 250,
    **options,
) -> pd.DataFrame:
    """``fn(model, chunk, **options)`` for every chunk of ``frame``'s people on the
    cluster of ``client``, joined in the order of ``frame``.

    ``model`` may be a future of :func:`share_model`, to send it once for several sweeps.
    """
    from distributed import Future

    shared = model if isinstance(model, Future) else share_model(client, model)
    chunks = [frame.iloc[a : a + chunk_size] for a in range(0, len(frame), chunk_size)]
    futures = [client.submit(fn, shared, chunk, pure=False, **options) for chunk in chunks]
    tables = client.gather(futures)
    return pd.concat(tables, ignore_index=True)


@contextmanager
def sweeper(
    model: TrainedModel,
    explanation: Explanation,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int = 250,
    progress: bool = False,
) -> Iterator[Sweep]:
    """A :data:`Sweep` over people: in this process when neither ``workers`` nor
    ``scheduler`` is given, else in chunks of ``chunk_size`` people on Dask (a local
    cluster of ``workers`` processes, or the running one at ``scheduler``)."""
    if workers is None and scheduler is None:

        def local(fn, frame, **options):
            return fn(model, frame, explanation=explanation, progress=progress, **options)

        yield local
        return
    from sleeprx.batch.engine import dask_client

    with dask_client(workers, scheduler) as client:
        # sent once for every sweep, with the curves the sweeps use
        shipped = share_model(client, replace(model, curves=explanation.curves))

        def distributed(fn, frame, **options):
            return map_people(client, fn, shipped, frame, chunk_size=chunk_size, **options)

        yield distributed
