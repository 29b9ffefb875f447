"""The person pages in a real browser: headless Chromium (the system's), driven by Playwright.

Each page must open without a console error, ask for nothing but itself (from a file
or from a loopback server the test starts), show the plan and the caveat, keep its
text legible (WCAG contrast of at least 4.5:1), and print without its navigation.
Without ``/usr/bin/chromium`` or Playwright the tests skip, unless
``SLEEPRX_REQUIRE_BROWSER=1`` (as in CI), where they fail.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from sleeprx.analysis.html import write_pages
from sleeprx.analysis.pages import person_pages
from sleeprx.prescribing.run import prescribe

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing_browser() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing_browser()
    if missing:
        if os.environ.get("SLEEPRX_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def pages_dir(survey, small_model, tmp_path_factory):
    """Pages of a person with a two-change plan, one with no change, and the index."""
    table = prescribe(survey, small_model, ids=list(range(1, 61)))
    changed = table[(table["status"] == "changed") & (table["n_changes"] == 2)]
    unchanged = table[table["status"] == "no_change"]
    ids = [changed["person_id"].iloc[0], unchanged["person_id"].iloc[0]]
    out = tmp_path_factory.mktemp("pages")
    write_pages(person_pages(survey, small_model, ids, table=table), out)
    return out


class Visit:
    """A page opened in a fresh tab, with the console errors and requests it caused."""

    def __init__(self, browser, url: str, *, media: str = "screen"):
        self.tab = browser.new_page(viewport={"width": 900, "height": 1200})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.tab.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.tab.on("pageerror", lambda e: self.errors.append(str(e)))
        self.tab.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.tab.on("request", lambda r: self.requests.append(r.url))
        self.tab.emulate_media(media=media)
        self.tab.goto(url, wait_until="load")

    def close(self) -> None:
        self.tab.close()


def _person_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("person-*.html"))


def test_pages_open_cleanly_and_show_the_plan_and_the_caveat(browser, pages_dir, tmp_path):
    files = [*_person_files(pages_dir), pages_dir / "index.html"]
    assert len(files) == 3
    for path in files:
        url = path.as_uri()
        visit = Visit(browser, url)
        try:
            tab = visit.tab
            assert visit.errors == []
            assert visit.requests == [url]  # the page itself and nothing else
            assert tab.get_by_text("Decision support, not medical advice.").first.is_visible()
            assert tab.locator("html").get_attribute("lang") == "en"
            if path.name == "index.html":
                continue
            plan = tab.locator("#plan")
            assert plan.is_visible() and "Chance of good sleep" in plan.inner_text()
            svg = tab.locator("svg[role=img]")
            assert svg.count() == 1 and svg.is_visible()
            assert "Chance of good sleep" in svg.get_attribute("aria-label")
            box = svg.bounding_box()
            assert box["width"] > 300 and box["height"] > 150
            shot = tmp_path / f"{path.stem}.png"
            tab.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        finally:
            visit.close()


def test_the_plan_lists_its_changes_and_the_chances(browser, pages_dir):
    path = next(p for p in _person_files(pages_dir) if "increase" in p.read_text().lower())
    visit = Visit(browser, path.as_uri())
    try:
        items = visit.tab.locator("#plan ol li")
        assert items.count() == 2
        chance = visit.tab.locator("#plan .chance").inner_text()
        assert chance.count("%") == 2 and "now" in chance and "after the plan" in chance
        rows = visit.tab.locator("#alternatives tbody tr")
        assert rows.count() == 3
    finally:
        visit.close()


#: WCAG 2 contrast of every element's own text against the first opaque background
#: behind it (an element without a background shows its parent's).
CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('svg')) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(el))];
    out.push([el.tagName, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
  }
  for (const el of document.querySelectorAll('svg text')) {
    const [a, b] = [lum(rgb(getComputedStyle(el).fill)), lum(background(el))];
    out.push(['svg text', (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
  }
  return out;
}"""


def test_every_text_has_enough_contrast(browser, pages_dir):
    for path in _person_files(pages_dir):
        visit = Visit(browser, path.as_uri())
        try:
            ratios = visit.tab.evaluate(CONTRAST)
        finally:
            visit.close()
        assert len(ratios) > 50
        low = [(tag, round(r, 2)) for tag, r in ratios if r < 4.5]
        assert not low


def test_the_print_stylesheet_hides_the_navigation(browser, pages_dir):
    path = _person_files(pages_dir)[0]
    screen, printed = Visit(browser, path.as_uri()), Visit(browser, path.as_uri(), media="print")
    try:
        assert screen.tab.locator("nav").is_visible()
        assert not printed.tab.locator("nav").is_visible()
        assert printed.tab.locator("#plan").is_visible()
        assert printed.tab.get_by_text("Decision support, not medical advice.").first.is_visible()
    finally:
        screen.close()
        printed.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines in the test output
        pass


def test_served_pages_ask_the_server_for_nothing_but_themselves(browser, pages_dir):
    handler = functools.partial(_Quiet, directory=str(pages_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        visit = Visit(browser, base + "index.html")
        try:
            assert visit.errors == [] and visit.requests == [base + "index.html"]
            link = visit.tab.locator("tbody a").first
            target = base + link.get_attribute("href")
            link.click()
            visit.tab.wait_for_load_state("load")
            assert visit.tab.url == target
            assert visit.tab.locator("h1").inner_text().startswith("Sleep-behaviour plan")
            assert visit.requests == [base + "index.html", target]
            assert visit.errors == []
        finally:
            visit.close()
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def options_page(survey, small_model, tmp_path_factory):
    """The page of a person with three distinct plans (``options = 3``)."""
    from sleeprx.settings import PrescribeSettings

    settings = PrescribeSettings(options=3)
    table = prescribe(survey, small_model, settings=settings, ids=list(range(1, 31)))
    pid = table.loc[table["option"].eq(3), "person_id"].iloc[0]
    out = tmp_path_factory.mktemp("options")
    write_pages(person_pages(survey, small_model, [pid], settings=settings, table=table), out)
    return _person_files(out)[0]


def test_the_n_best_plans_show_as_a_front_and_a_table(browser, options_page, tmp_path):
    url = options_page.as_uri()
    visit = Visit(browser, url)
    try:
        tab = visit.tab
        assert visit.errors == [] and visit.requests == [url]
        section = tab.locator("#options")
        assert section.is_visible() and "The 3 best distinct plans" in section.inner_text()
        rows = section.locator("tbody tr")
        assert rows.count() == 3
        assert [rows.nth(i).locator("th").inner_text() for i in range(3)] == ["1", "2", "3"]
        assert all("%" in rows.nth(i).inner_text() for i in range(3))  # the chance after
        svg = section.locator("svg[role=img]")
        assert svg.is_visible() and svg.bounding_box()["width"] > 300
        assert "option 3" in svg.get_attribute("aria-label")
        ratios = tab.evaluate(CONTRAST)
        assert not [(t, round(r, 2)) for t, r in ratios if r < 4.5]
        shot = tmp_path / "options.png"
        tab.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
    finally:
        visit.close()
