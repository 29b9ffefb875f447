"""A person's page and the index of pages, as self-contained HTML.

The pages are rendered with Jinja2 from the package's ``templates/`` folder: CSS and
SVG are inline and nothing is loaded from elsewhere, so a page opens the same from a
disk, a mail attachment or a server with no network. Values are escaped by Jinja's
autoescaping; nothing here computes a number (:mod:`sleeprx.analysis.pages` does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jinja2

from sleeprx.analysis.chart import front_chart, options_chart
from sleeprx.analysis.pages import PersonPage
from sleeprx.survey.display import format_number
from sleeprx.utils.files import atomic_write_text

__all__ = ["page_file", "render_index", "render_page", "write_pages"]

TEMPLATES = Path(__file__).parent / "templates"


def _percent(p: float, decimals: int = 0) -> str:
    return "–" if p is None or math.isnan(p) else f"{100 * p:.{decimals}f}%"


def _number(value: float, decimals: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else format_number(value, decimals=decimals)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails, not renders blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {"pct": _percent, "num": _number}
    env.globals |= {"page_file": page_file, "version": _version()}
    return env


def _version() -> str:
    try:
        return version("sleeprx")
    except PackageNotFoundError:
        return "unknown"


def page_file(person_id: object) -> str:
    """The file name of a person's page: ``person-17.html``, ``person-R-00017.html``
    (characters other than letters, digits, ``-`` and ``_`` become ``_``)."""
    return f"person-{re.sub(r'[^A-Za-z0-9_-]', '_', str(person_id))}.html"


def render_page(page: PersonPage) -> str:
    """One person's page."""
    template = _environment().get_template("page.html.j2")
    return template.render(p=page, chart=front_chart(page), options_chart=options_chart(page))


def render_index(pages: Sequence[PersonPage]) -> str:
    """The index: one line per page, with its link, verdict and chances."""
    return _environment().get_template("index.html.j2").render(pages=pages)


def write_pages(pages: Sequence[PersonPage], out_dir: str | Path) -> list[Path]:
    """Write every page and ``index.html`` into ``out_dir``; return the files written,
    the index last."""
    out = Path(out_dir)
    written = [atomic_write_text(out / page_file(p.person_id), render_page(p)) for p in pages]
    written.append(atomic_write_text(out / "index.html", render_index(pages)))
    return written
