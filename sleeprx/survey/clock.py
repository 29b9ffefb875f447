"""Clock times as surveys write them, read as hours after an origin.

A bedtime of ``01:45`` is 7.75 hours after an ``18:00`` origin: counting from an origin
before the earliest answer keeps a bedtime scale unbroken at midnight, so a grid of
safe values and the model's splits never wrap.

>>> hours_after("18:00", "01:45"), hours_after("18:00", "10:30 pm"), hours_after("00:00", "7am")
(7.75, 4.5, 7.0)
>>> parse_clock("24:10") is None, parse_clock("noon") is None
(True, True)
"""

from __future__ import annotations

import re

__all__ = ["hours_after", "parse_clock"]

# "01:45", "1:45", "01.45", "0145" is left out (a number); "1:45:30"; "1:45 pm", "1 pm",
# "1.45am", "1:45 p.m."; "23h45".
_CLOCK = re.compile(
    r"^(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2})(?::(?P<s>\d{2}))?)?\s*(?P<ampm>[ap]\.?\s?m\.?)?$",
    flags=re.IGNORECASE,
)
DAY = 24 * 60


def parse_clock(text: str) -> float | None:
    """Minutes after midnight of a clock time, or None if ``text`` is not one.

    A bare hour needs ``am``/``pm`` (``7`` alone is a number, not a time); with
    ``am``/``pm`` the hour runs 1..12 (``12 am`` is midnight).
    """
    match = _CLOCK.match(str(text).strip())
    if match is None:
        return None
    hour, ampm = int(match["h"]), match["ampm"]
    minute = int(match["m"]) if match["m"] is not None else None
    if minute is None and ampm is None:
        return None
    minute = minute or 0
    second = int(match["s"]) if match["s"] is not None else 0
    if ampm is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.lower().startswith("p") else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour * 60 + minute + second / 60


def hours_after(origin: str, text: str) -> float | None:
    """Hours from ``origin`` (``"HH:MM"``) forward to the clock time ``text``, in
    ``[0, 24)``; None if ``text`` is not a clock time."""
    minutes = parse_clock(text)
    start = parse_clock(origin)
    if minutes is None or start is None:
        return None
    return round(((minutes - start) % DAY) / 60, 10)
