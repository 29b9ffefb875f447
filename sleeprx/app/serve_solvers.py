"""Where the service's solves run: on one thread beside the event loop, or on a pool of
processes, each with its own copy of the model, that take requests from one queue.

One queue matters with several processes. uvicorn's own workers each accept
connections from a shared socket, and a keep-alive connection stays with the worker
that accepted it: 8 clients connecting at once were all taken by one of two workers,
which then queued 8 requests while the other idled. Here one process speaks HTTP and
hands each request to whichever solver process is free.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sleeprx.learn.model import TrainedModel, load_model
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.status import Status
from sleeprx.settings import make_settings

__all__ = ["Answer", "ProcessSolver", "ThreadSolver", "solve"]

Cell = str | int | float | bool | None
People = list[dict[str, Cell]]

#: How long a starting service waits for its solver processes to load the model.
LOAD_TIMEOUT = 300.0


@dataclass(frozen=True)
class Answer:
    """A solved request: its JSON body, and the counts and time its log line gives."""

    content: bytes
    rows: int
    errors: int
    mode: str
    ms: float


def solve(model: TrainedModel, people: People, chosen: dict[str, Any]) -> Answer:
    """Prescribe for ``people`` with the request's ``chosen`` settings (the service's
    own for the rest).

    The rows are the table's ``to_json`` text as it is (what ``--format json``
    writes), not parsed and encoded again."""
    start = time.perf_counter()
    settings = make_settings(**chosen)
    table = prescribe(people_frame(people), model, settings=settings)
    rows = table.to_json(orient="records")
    errors = sum(status == Status.ERROR for status in table["status"].tolist())
    content = b'{"prescriptions":' + rows.encode() + b"}"
    return Answer(content, len(table), errors, str(settings.mode), _ms_since(start))


def people_frame(people: People) -> pd.DataFrame:
    """The people as a frame of their cells as sent (a key a person lacks: blank), the
    columns in the order they first appear; built by column, which on a few people
    costs a fraction of what a frame of row dicts does."""
    columns = list(dict.fromkeys(key for person in people for key in person))
    cells = {c: [person.get(c) for person in people] for c in columns}
    return pd.DataFrame(cells, dtype=object)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


class ThreadSolver:
    """One solve at a time, in arrival order (the executor's queue is FIFO), on one
    thread: the event loop stays free to read requests and refuse bad ones."""

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sleeprx-solve")

    async def start(self) -> None:
        """Nothing to start: the model is loaded."""

    async def solve(self, people: People, chosen: dict[str, Any]) -> Answer:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, solve, self.model, people, chosen)

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)


# A solver process's own state, set once by its initializer.
_model: TrainedModel | None = None
_loaded: Any = None  # a barrier: every process of the pool has loaded the model


def _load(model_dir: str, loaded: Any) -> None:
    global _model, _loaded
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the service, which stops us
    _model, _loaded = load_model(model_dir), loaded


def _wait_loaded() -> None:
    _loaded.wait(LOAD_TIMEOUT)


def _solve_here(people: People, chosen: dict[str, Any]) -> Answer:
    assert _model is not None  # set by _load
    return solve(_model, people, chosen)


class ProcessSolver:
    """``processes`` solver processes, each loading the model from ``model_dir`` once;
    each takes the oldest waiting request when it is free. A process that dies breaks
    the pool: the requests in flight fail (``BrokenProcessPool``) and a new pool takes
    the next ones."""

    def __init__(self, model_dir: str, processes: int) -> None:
        self.model_dir, self.processes = model_dir, processes
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        loaded = context.Barrier(self.processes)
        return ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_load, initargs=(self.model_dir, loaded)
        )

    async def start(self) -> None:
        """Start every process and wait until each has loaded the model: one barrier
        task per process, which none can pass alone, so each process takes one."""
        self._pool = self._new_pool()
        loop = asyncio.get_running_loop()
        waits = [loop.run_in_executor(self._pool, _wait_loaded) for _ in range(self.processes)]
        await asyncio.gather(*waits)

    async def solve(self, people: People, chosen: dict[str, Any]) -> Answer:
        pool = self._pool
        assert pool is not None, "start() first"
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _solve_here, people, chosen)
        except BrokenProcessPool:
            if pool is self._pool:  # the first request to see it replaces it
                self._pool = self._new_pool()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
