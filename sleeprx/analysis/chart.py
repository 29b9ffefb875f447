"""The geometry of a page's front: cost against probability, as plain numbers.

:func:`front_chart` places the person's present state and the best plan with at most
1, 2 and 3 changes on a small chart, in SVG user units; the page's template draws it.
Nothing here writes SVG or HTML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sleeprx.analysis.pages import PersonPage
from sleeprx.survey.display import format_number

__all__ = ["FrontChart", "Point", "front_chart", "options_chart"]

WIDTH, HEIGHT = 480.0, 260.0
#: The plot area's margins: left (for the probability ticks), right, top, bottom.
LEFT, RIGHT, TOP, BOTTOM = 56.0, 20.0, 16.0, 44.0


@dataclass(frozen=True)
class Point:
    """A plan on the chart: its place, its short label and its full description."""

    x: float
    y: float
    label: str
    title: str
    anchor: str = "start"  # the label's text-anchor: "end" puts it left of the point
    dy: float = -7.0  # the label's baseline below the point (negative: above it)


@dataclass(frozen=True)
class FrontChart:
    """A chart in SVG user units; ``description`` is its text alternative."""

    width: float
    height: float
    left: float
    top: float
    right: float  # x of the plot area's right edge
    bottom: float  # y of the plot area's bottom edge
    points: tuple[Point, ...]
    path: str  # the polyline through the points, in order of cost
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    description: str


def _percent(p: float) -> str:
    return f"{100 * p:.0f}%"


def front_chart(page: PersonPage) -> FrontChart | None:
    """The present state and each alternative, or None when there is nothing to draw
    (no probability before: the person's data were invalid)."""
    if math.isnan(page.p_before):
        return None
    plans = [(0.0, page.p_before, "now", f"now: {_percent(page.p_before)} chance")]
    for a in page.alternatives:
        if math.isnan(a.p_after):
            continue
        title = (
            f"at most {a.k} change(s): {a.n_changes} made, cost {format_number(a.cost)}, "
            f"{_percent(a.p_after)} chance"
        )
        plans.append((a.cost, a.p_after, f"≤{a.k}", title))
    return _chart(page, plans)


def options_chart(page: PersonPage) -> FrontChart | None:
    """The present state and each of the person's N best plans (labelled by rank), or
    None when there is no option to draw."""
    if math.isnan(page.p_before) or not page.options:
        return None
    plans = [(0.0, page.p_before, "now", f"now: {_percent(page.p_before)} chance")]
    for o in page.options:
        if math.isnan(o.p_after):
            continue
        title = (
            f"option {o.rank}: {o.n_changes} change(s), cost {format_number(o.cost)}, "
            f"{_percent(o.p_after)} chance"
        )
        plans.append((o.cost, o.p_after, f"#{o.rank}", title))
    return _chart(page, plans, front_only=True)


def _chart(
    page: PersonPage, plans: list[tuple[float, float, str, str]], *, front_only: bool = False
) -> FrontChart:
    """The chart of ``plans`` (cost, chance, label, title), the present state first;
    ``front_only``: the line joins only the plans no cheaper plan matches in chance."""
    top_cost = max(1.0, *(c for c, *_ in plans))
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def x(cost: float) -> float:
        return round(LEFT + (right - LEFT) * cost / top_cost, 1)

    def y(p: float) -> float:
        return round(bottom - (bottom - TOP) * p, 1)

    merged: dict[tuple[float, float], Point] = {}
    for c, p, label, title in plans:  # plans at one place share one point and its label
        key = (x(c), y(p))
        if key in merged:
            old = merged[key]
            label, title = f"{old.label}, {label}", f"{old.title}; {title}"
        merged[key] = Point(*key, label, title, "end" if key[0] > right - 80 else "start")
    points = _apart(tuple(merged.values()))
    ordered = sorted(points, key=lambda pt: (pt.x, -pt.y))
    if front_only:  # y grows downwards: a plan on the front is above every cheaper one
        ordered = [pt for pt in ordered if all(pt.y < q.y for q in ordered if q.x < pt.x)]
        ordered = [pt for pt in ordered if all(pt.y <= q.y for q in ordered if q.x == pt.x)]
    path = " ".join(f"{pt.x},{pt.y}" for pt in ordered)
    x_ticks = tuple((x(v), format_number(v)) for v in _ticks(top_cost))
    y_ticks = tuple((y(p), _percent(p)) for p in (0.0, 0.25, 0.5, 0.75, 1.0))
    words = "; ".join(title for *_, title in plans)
    description = f"Chance of {page.outcome} against the cost of the change: {words}."
    return FrontChart(
        WIDTH, HEIGHT, LEFT, TOP, right, bottom, points, path, x_ticks, y_ticks, description
    )


#: The width of a label's character and the height of its line, in SVG units (the
#: page's 12-13 px sans-serif, rounded up).
CHAR_WIDTH, LINE_HEIGHT = 8.0, 14.0


def _span(pt: Point) -> tuple[float, float]:
    """The horizontal extent of a point's label."""
    width = CHAR_WIDTH * len(pt.label)
    return (pt.x + 7, pt.x + 7 + width) if pt.anchor == "start" else (pt.x - 7 - width, pt.x - 7)


def _clash(p: Point, q: Point) -> bool:
    """Whether the labels of ``p`` and ``q`` would overlap."""
    (a, b), (c, d) = _span(p), _span(q)
    return a < d and c < b and abs((p.y + p.dy) - (q.y + q.dy)) < LINE_HEIGHT


def _apart(points: tuple[Point, ...]) -> tuple[Point, ...]:
    """The points with a label moved below its point where it would overlap the label
    of the point before it (by cost), so that neighbouring labels stay legible."""
    moved: dict[int, Point] = {}
    placed: list[Point] = []
    for i in sorted(range(len(points)), key=lambda i: points[i].x):
        pt = points[i]
        if any(_clash(pt, q) for q in placed):
            pt = replace(pt, dy=18.0)
        moved[i] = pt
        placed.append(pt)
    return tuple(moved[i] for i in range(len(points)))


def _ticks(top: float) -> list[float]:
    """About five round ticks from 0 to ``top``."""
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]
