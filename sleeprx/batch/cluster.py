"""The Dask client of a batch run, and starting it while the driver reads its inputs.

A local cluster takes seconds to start, and each worker seconds more to import
sleeprx: time in which the driver, alone, scans the survey and loads the model. An
:class:`EarlyClient` starts the cluster (and the workers' imports) in a thread at
once, so that the two overlap; the run asks for the client when its tasks are ready.

Where the platform has one, a local cluster's workers are forked from a fork server
that imported sleeprx once, instead of each spawned interpreter importing it (about
2 s of CPU a worker, mostly XGBoost's import of scikit-learn): two workers on two
cores no longer import side by side while the driver scans, and a forked worker
exits without tearing an interpreter down (a cluster closed in 0.04 s, against
0.6 s). The fork server is a fresh single-threaded process (never this one, whose
threads make a fork unsafe); it lives as long as this process, so a later run in
the same process (a notebook, say) starts its workers at once.
"""

from __future__ import annotations

import logging
import multiprocessing
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


#: What a worker imports before its first task (all that a task needs).
WORKER_MODULE = "sleeprx.batch.worker"


def _start_method() -> str:
    """How a local cluster starts its worker processes: forked from a fork server
    that has imported :data:`WORKER_MODULE`, where the platform has one."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    from distributed.utils import get_mp_context

    # distributed sets its own preload list on first use (it imports only its own
    # dependencies); ours replaces it, before the server starts. A server already
    # running (a run before this one) keeps the modules it has.
    with _method("forkserver"):
        get_mp_context().set_forkserver_preload(["distributed", WORKER_MODULE])
    return "forkserver"


def _method(name: str):
    import dask

    return dask.config.set({"distributed.worker.multiprocessing-method": name})


def _local_cluster(workers: int):
    from dask.distributed import LocalCluster

    # the method is read when each worker process starts: during this call, and when
    # a nanny restarts a worker that died (then the default, spawn)
    with _method(_start_method()):
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
