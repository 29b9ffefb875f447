"""Progress over long work: a bar on a terminal, else a plain line every few seconds.

:class:`Progress` is the one mechanism; :func:`track` wraps a loop in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

__all__ = ["Progress", "track"]

T = TypeVar("T")


class Progress:
    """Progress over ``total`` items, as a context manager advanced by :meth:`advance`.

    With ``bar``, a transient rich bar on stderr (``label``, the bar, done/total
    ``unit``, the time left). Otherwise ``log`` (if any) gets a line such as
    ``prescribed 500/1,000 people (50%), 80 people/s, about 6 s left`` at most every
    ``every`` seconds, and once at the end. ``done`` items were finished before.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        unit: str = "",
        done: int = 0,
        bar: bool = False,
        log: Callable[[str], None] | None = None,
        every: float = 5.0,
        done_label: str | None = None,
    ) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.label, self.unit, self.every = label, unit, every
        self.done_label = done_label or label
        self.bar = bar
        self.log = None if bar else log
        self.started = self.last = time.monotonic()
        self.logged = -1  # items done at the last line

    def __enter__(self) -> Progress:
        if self.bar:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self.progress = RichProgress(
                self.label,
                BarColumn(),
                MofNCompleteColumn(),
                self.unit,
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
            self.progress.update(self.task, completed=self.done)
        return self

    def advance(self, items: int = 1) -> None:
        """Count ``items`` more as done."""
        self.done += items
        if self.bar:
            self.progress.update(self.task, completed=self.done)
        elif self.log is not None and time.monotonic() - self.last >= self.every:
            self.log(self.line())
            self.last, self.logged = time.monotonic(), self.done

    def line(self) -> str:
        """How far the work is, its rate and the time left, in words."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        share = 100 * self.done / self.total if self.total else 100.0
        eta = "done" if self.done >= self.total else f"about {_duration(left)} left"
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{self.done_label} {self.done:,}/{self.total:,}{unit} ({share:.0f}%), "
            f"{rate:,.0f}{unit or ' items'}/s, {eta}"
        )

    def __exit__(self, kind, value, traceback) -> None:
        if self.bar:
            self.progress.stop()
        elif self.log is not None and kind is None and self.logged != self.done:
            self.log(self.line())


def track(items: Sequence[T], label: str, *, enabled: bool) -> Iterable[T]:
    """``items``, with a transient progress bar on stderr when ``enabled``."""
    return _tracked(items, label) if enabled else items


def _tracked(items: Sequence[T], label: str) -> Iterator[T]:
    with Progress(len(items), label, bar=True) as progress:
        for item in items:
            yield item
            progress.advance()


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "unknown time"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
