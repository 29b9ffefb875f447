"""The Dask client of a batch run, and starting it while the driver reads its inputs.

A local cluster takes seconds to start, and each worker seconds more to import
sleeprx: time in which the driver, alone, scans the survey and loads the model. An
:class:`EarlyClient` starts the cluster (and the workers' imports) in a thread at
once, so that the two overlap; the run asks for the client when its tasks are ready.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from sleeprx.utils.errors import ConfigError

__all__ = ["EarlyClient", "dask_client"]


def _connect(scheduler: str):
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"scheduler {scheduler}: cannot connect ({exc})") from None


def _local_cluster(workers: int):
    from dask.distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


@contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A Dask client: of a new local cluster (quiet, no dashboard), or of ``scheduler``."""
    from dask.distributed import Client

    if scheduler:
        with _connect(scheduler) as client:
            yield client
        return
    cluster = _local_cluster(workers)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _warm() -> None:
    """Import what a task needs, on a worker, before the first task arrives."""
    import sleeprx.batch.worker  # noqa: F401


class EarlyClient:
    """A Dask client started in a thread when entered (as :func:`dask_client` makes
    it); :meth:`client` waits for it and raises its error, such as a scheduler that
    cannot be reached. :meth:`release` closes it in that thread, after its start has
    finished, while the run goes on (the driver merges the parts meanwhile); leaving
    releases it if need be and waits until it is closed. With neither ``workers`` nor
    ``scheduler`` nothing starts.

    The client is never entered as a context manager: that binds it to the thread's
    context, and the run uses it from another.
    """

    def __init__(self, workers: int | None, scheduler: str | None) -> None:
        self._workers, self._scheduler = workers, scheduler
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sleeprx-cluster")
        self._future: Future | None = None
        self._closing: Future | None = None
        self._opened: list = []  # what to close, last first
        #: ``time.perf_counter()`` when the client was ready (its workers warm), if started
        self.ready: float | None = None

    def _start(self):
        from dask.distributed import Client

        if self._scheduler:
            client = _connect(self._scheduler)
        else:
            self._opened.append(_local_cluster(self._workers))
            client = Client(self._opened[0])
        self._opened.append(client)
        client.run(_warm)
        self.ready = time.perf_counter()
        return client

    def _close(self) -> None:
        while self._opened:
            self._opened.pop().close()

    def __enter__(self) -> EarlyClient:
        if self._workers or self._scheduler:
            self._future = self._pool.submit(self._start)
        return self

    def client(self):
        """The client, once started; None when the run solves in this process."""
        return None if self._future is None else self._future.result()

    def release(self) -> None:
        """Start closing the client (and its local cluster): nothing more is asked of it."""
        if self._closing is None:
            self._closing = self._pool.submit(self._close)  # after a start under way

    def __exit__(self, *exc) -> None:
        self.release()
        self._pool.shutdown(wait=True)
        self._closing.result()  # an error while closing is raised here
