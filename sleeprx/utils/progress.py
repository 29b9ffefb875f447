"""Progress over long loops: a bar on a terminal, nothing otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = ["track"]

T = TypeVar("T")


def track(items: Sequence[T], label: str, *, enabled: bool) -> Iterable[T]:
    """``items``, with a transient rich progress bar when ``enabled``."""
    if not enabled:
        return items
    from rich.progress import track as rich_track

    return rich_track(items, description=label, total=len(items), transient=True)
