"""A person's page: what it says, where its numbers come from, and that it is self-contained.

The browser's view of the pages is tests/test_pages_browser.py's.
"""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from sleeprx.analysis.chart import front_chart, options_chart
from sleeprx.analysis.html import page_file, render_index, render_page, write_pages
from sleeprx.analysis.pages import (
    ALTERNATIVE_KS,
    Alternative,
    PersonPage,
    Reason,
    person_pages,
)
from sleeprx.learn.model import ModelSettings, train
from sleeprx.prescribing.run import prescribe
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import load_description, shipped_description_path
from sleeprx.survey.read import read_survey

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "data" / "messy_sleep_survey.csv"


def _changed(table: pd.DataFrame, n: int | None = None) -> list:
    rows = table[table["status"] == "changed"]
    if n is not None:
        rows = rows[rows["n_changes"] == n]
    return list(rows["person_id"])


@pytest.fixture(scope="module")
def surrogate_table(survey, small_model):
    return prescribe(survey, small_model, ids=list(range(1, 61)))


@pytest.fixture(scope="module")
def exact_table(survey, small_model):
    return prescribe(
        survey, small_model, settings=PrescribeSettings(mode="exact"), ids=list(range(1, 61))
    )


def test_a_page_says_the_plan_its_chances_and_the_caveat(survey, small_model, surrogate_table):
    pid = _changed(surrogate_table, 2)[0]
    (page,) = person_pages(survey, small_model, [pid])
    row = surrogate_table.set_index("person_id").loc[pid]
    assert page.p_before == pytest.approx(row["p_before"])
    assert page.p_after == pytest.approx(row["p_after"])
    html = render_page(page)
    for change in page.changes:
        assert change.phrase in html
    assert len(page.changes) == 2
    assert f"{100 * row['p_before']:.0f}%" in html and f"{100 * row['p_after']:.0f}%" in html
    assert "Decision support, not medical advice." in html
    assert "associations" in html and "not the effects" in html
    assert [a.k for a in page.alternatives] == list(ALTERNATIVE_KS)


def test_surrogate_shares_follow_the_effect_curves_and_add_up(survey, small_model, surrogate_table):
    pids = _changed(surrogate_table, 2)[:3]
    for page in person_pages(survey, small_model, pids):
        row = survey.frame.loc[page.person_id]
        table_row = surrogate_table.set_index("person_id").loc[page.person_id]
        assert sum(c.share for c in page.changes) == pytest.approx(1.0)
        # the gains are the curves' differences: their sum is the plan's surrogate gain
        assert sum(c.gain for c in page.changes) == pytest.approx(table_row["gain_surrogate"])
        moved = [
            f
            for f in survey.description.modifiable
            if table_row[f"{f.column}_after"] != row[f.column]
        ]
        curves = small_model.curves
        expected = [
            float(
                curves[f.column](table_row[f"{f.column}_after"]) - curves[f.column](row[f.column])
            )
            for f in moved
        ]
        assert [c.gain for c in page.changes] == pytest.approx(expected)


def test_exact_shares_are_each_change_alone_against_the_plan(survey, small_model, exact_table):
    settings = PrescribeSettings(mode="exact")
    table = exact_table.set_index("person_id")
    pids = _changed(exact_table, 2)[:2] + _changed(exact_table, 1)[:1]
    assert len(pids) == 3
    pages = person_pages(survey, small_model, pids, settings=settings, table=exact_table)
    for page in pages:
        row = table.loc[page.person_id]
        answers = survey.frame.loc[[page.person_id]]
        base = float(small_model.margin(answers).iloc[0])
        for change, f in zip(page.changes, _moved(survey, row), strict=True):
            alone = answers.copy()
            alone[f.column] = row[f"{f.column}_after"]
            gain = float(small_model.margin(alone).iloc[0]) - base
            assert change.gain == pytest.approx(gain, abs=1e-6)
            assert change.share == pytest.approx(gain / row["gain_logit"], abs=1e-6)
    single = pages[-1]
    assert single.changes[0].share == pytest.approx(1.0, abs=1e-5)


def _moved(survey, row):
    return [
        f
        for f in survey.description.modifiable
        if row[f"{f.column}_after"] != row[f"{f.column}_before"]
    ]


def test_alternatives_are_the_best_plans_with_one_two_and_three_changes(
    survey, small_model, surrogate_table
):
    pids = _changed(surrogate_table, 2)[:2]
    pages = person_pages(survey, small_model, pids)
    for k in ALTERNATIVE_KS:
        again = prescribe(
            survey, small_model, settings=PrescribeSettings(max_changes=k), ids=pids
        ).set_index("person_id")
        for page in pages:
            alternative = page.alternatives[k - 1]
            row = again.loc[page.person_id]
            assert alternative.k == k and alternative.n_changes <= k
            # the table's sentence, without its notes on the levers left alone
            assert row["advice"].startswith(alternative.advice)
            assert "No advice on" not in alternative.advice
            assert alternative.cost == pytest.approx(row["cost"])
            assert alternative.p_after == pytest.approx(row["p_after"])


def test_levers_not_advised_on_say_why_safe_range_and_held(survey, small_model):
    frame = survey.frame
    pid = frame.index[frame["stress_level"] == 3][0]  # stress may only go down, to 3 at least
    (page,) = person_pages(survey, small_model, [pid])
    reasons = {n.label: n.reason for n in page.not_advised}
    assert reasons["stress level"] == Reason.SAFE_RANGE
    detail = next(n.detail for n in page.not_advised if n.label == "stress level")
    assert "3–8" in detail and "downwards" in detail
    moved = {c.label for c in page.changes}
    held = {f.label for f in survey.description.modifiable} - moved - {"stress level"}
    assert {reasons[label] for label in held} <= {Reason.HELD}
    assert moved.isdisjoint(reasons)


@pytest.fixture(scope="module")
def messy():
    description = load_description(shipped_description_path().with_name("messy_sleep.yaml"))
    survey = read_survey(MESSY, description, errors="collect")
    model = train(survey, settings=ModelSettings(n_estimators=10, max_depth=3))
    return survey, model


def test_levers_not_advised_on_say_why_blank_answer_and_rule(messy):
    survey, model = messy
    frame = survey.frame
    blank = frame.index[frame["physical_activity"].isna()][0]
    shift = frame.index[(frame["shift_work"] == "Yes") & frame["bedtime_weekday"].notna()][0]
    pages = person_pages(survey, model, [blank, shift])
    reasons = [{n.label: n.reason for n in p.not_advised} for p in pages]
    assert reasons[0]["physical activity"] == Reason.BLANK
    assert reasons[1]["weekday bedtime"] == Reason.RULE
    answers = {a.label: a.value for a in pages[0].answers}
    assert answers["physical activity"] == "not given"
    html = render_page(pages[1])
    assert "not offered to this person" in html  # said once, in the table of levers left alone
    assert "No advice on" not in html


def test_a_person_with_invalid_data_gets_a_page_that_says_so(description, small_model, tmp_path):
    from sleeprx.survey.read import shipped_survey_path

    lines = shipped_survey_path().read_text().splitlines()
    fields = lines[2].split(",")
    fields[lines[0].split(",").index("Stress Level")] = "99"  # out of range
    path = tmp_path / "survey.csv"
    path.write_text("\n".join([lines[0], lines[1], ",".join(fields), *lines[3:20]]) + "\n")
    survey = read_survey(path, description, errors="collect")
    (page,) = person_pages(survey, small_model, [int(fields[0])])
    assert page.status == "error" and not page.answers and math.isnan(page.p_before)
    assert "99" in page.advice
    html = render_page(page)
    assert "Stress Level" in html and front_chart(page) is None and "<svg" not in html


def test_robust_columns_are_shown_when_the_table_has_them(survey, small_model, surrogate_table):
    pid = _changed(surrogate_table)[0]
    plain = person_pages(survey, small_model, [pid], table=surrogate_table)[0]
    assert "Validity" not in render_page(plain) and "Interval" not in render_page(plain)
    table = surrogate_table.assign(validity=0.75, p_after_low=0.41, p_after_high=0.88)
    (page,) = person_pages(survey, small_model, [pid], table=table)
    assert (page.validity, page.p_after_low, page.p_after_high) == (0.75, 0.41, 0.88)
    html = render_page(page)
    assert "41% to 88%" in html and "75%" in html


def _page(**changes) -> PersonPage:
    values = dict(
        person_id="R-1",
        outcome="good sleep",
        mode="surrogate",
        max_changes=2,
        status="no_change",
        advice="No change: nothing worth it.",
        p_before=0.2,
        p_after=0.2,
        alternatives=[
            Alternative(1, "changed", 1, 2.0, 1.0, 0.5, "Do a."),
            Alternative(2, "changed", 2, 4.0, 2.0, 0.8, "Do a and b."),
            Alternative(3, "changed", 2, 4.0, 2.0, 0.8, "Do a and b."),
        ],
    )
    return PersonPage(**(values | changes))


def test_a_simpler_plan_as_good_by_the_model_is_pointed_out():
    from sleeprx.analysis.pages import Change

    two = [Change("a", "1", "2", "Do a.", 1.0, 0.5), Change("b", "1", "2", "Do b.", 1.0, 0.5)]
    page = _page(status="changed", changes=two, p_after=0.8, cost=4.0)
    alternatives = page.alternatives
    assert page.simpler is None  # the one-change plan reaches 50%, not 80%
    as_good = [replace(alternatives[0], p_after=0.798), *alternatives[1:]]
    page = replace(page, alternatives=as_good)
    assert page.simpler == as_good[0]
    assert "reaches\n80% too, at a cost of 2 instead of 4" in render_page(page)


def test_values_are_escaped():
    page = _page(person_id="<b>x</b>", advice="<script>alert(1)</script> & more")
    html = render_page(page) + render_index([page])
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "<b>x</b>" not in html


def test_the_front_chart_places_plans_by_cost_and_chance():
    chart = front_chart(_page())
    now, one, rest = chart.points
    assert (now.label, one.label, rest.label) == ("now", "≤1", "≤2, ≤3")  # same plan, one point
    assert now.x == chart.left and rest.x == chart.right  # cost 0 and the largest cost
    bottom, top = chart.bottom, chart.top
    assert now.y == pytest.approx(bottom - 0.2 * (bottom - top), abs=0.1)
    assert rest.y == pytest.approx(bottom - 0.8 * (bottom - top), abs=0.1)
    assert one.y > rest.y  # a higher chance is higher up
    assert "20% chance" in chart.description and "80% chance" in chart.description


class _Tags(HTMLParser):
    """The tags of a page, with their attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_pages_load_nothing_from_elsewhere_and_are_accessible(survey, small_model, tmp_path):
    pages = person_pages(survey, small_model, [1, 5])
    written = write_pages(pages, tmp_path)
    assert [p.name for p in written] == ["person-1.html", "person-5.html", "index.html"]
    for path in written:
        html = path.read_text(encoding="utf-8")
        tags = _tags(html)
        # no external resource of any kind: only the SVG namespace names a URL
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg\")", html)
        assert not {t for t, _ in tags} & {"script", "img", "iframe", "object"}
        # the one link is the empty icon, which spares the browser asking a server for one
        assert [a for t, a in tags if t == "link"] == [{"rel": "icon", "href": "data:,"}]
        assert "@import" not in html and "url(" not in html
        assert ("html", {"lang": "en"}) in tags
        assert any(t == "h1" for t, _ in tags) and any(t == "th" for t, _ in tags)
        assert "@media print" in html
        for tag, attrs in tags:
            if tag == "svg":
                assert attrs["role"] == "img" and len(attrs["aria-label"]) > 20
    index = written[-1].read_text(encoding="utf-8")
    assert 'href="person-1.html"' in index and 'href="person-5.html"' in index


def test_page_file_names_are_safe():
    assert page_file(17) == "person-17.html"
    assert page_file("R-00017") == "person-R-00017.html"
    assert page_file("../x y") == "person-___x_y.html"


def sleeprx(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sleeprx.app.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_report_command_writes_pages_and_an_index(small_model_dir, tmp_path):
    out = tmp_path / "pages"
    result = sleeprx("report", "--model", small_model_dir, "--ids", "3,1", "--out", out)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.glob("*.html")} == {"index.html", "person-3.html", "person-1.html"}
    assert "wrote 2 pages" in result.stdout and "not medical advice" in result.stdout
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index("person-3.html") < index.index("person-1.html")  # the order asked for
    bad = sleeprx("report", "--model", small_model_dir, "--ids", "99999", "--out", tmp_path / "b")
    assert bad.returncode == 2 and "no person with id 99999" in bad.stderr
    assert not (tmp_path / "b").exists()


def test_people_outside_a_sampled_table_are_prescribed_for_their_page(
    survey, small_model, surrogate_table
):
    # a pipeline prescribes a sample; its report may name people outside it
    sample = surrogate_table[surrogate_table["person_id"] != 1]
    (page,) = person_pages(survey, small_model, [1], table=sample)
    (alone,) = person_pages(survey, small_model, [1])
    assert page == alone


def test_the_n_best_plans_are_a_table_and_a_front(survey, small_model):
    settings = PrescribeSettings(options=3)
    table = prescribe(survey, small_model, settings=settings, ids=list(range(1, 31)))
    counts = table.groupby("person_id")["option"].max()
    pid = int(counts.idxmax())
    assert counts[pid] == 3
    (page,) = person_pages(survey, small_model, [pid], settings=settings, table=table)
    rows = table[table["person_id"] == pid]
    assert [o.rank for o in page.options] == [1, 2, 3]
    assert [o.cost for o in page.options] == pytest.approx(rows["cost"].tolist())
    assert [o.p_after for o in page.options] == pytest.approx(rows["p_after"].tolist())
    assert page.options[0].p_after == pytest.approx(page.p_after)  # option 1 is the plan
    assert all(math.isnan(o.validity) for o in page.options)  # no refits, no validity
    html = render_page(page)
    assert "The 3 best distinct plans" in html and html.count("not estimated") == 3
    chart = options_chart(page)
    assert chart.points[0].label == "now"
    assert {"#1", "#2", "#3"} <= {part for pt in chart.points for part in pt.label.split(", ")}
    # the line is a front: cheaper points first, each higher than every cheaper one
    path = [tuple(map(float, xy.split(","))) for xy in chart.path.split()]
    assert all(b[0] > a[0] and b[1] < a[1] for a, b in itertools.pairwise(path))
    # without options the page has no such section, and the alternatives keep one plan
    (plain,) = person_pages(survey, small_model, [pid])
    assert "best distinct plans" not in render_page(plain) and plain.options == ()
    assert [a.p_after for a in plain.alternatives] == [a.p_after for a in page.alternatives]


def test_fewer_distinct_plans_than_asked_are_said(survey, small_model):
    settings = PrescribeSettings(options=20, max_changes=1)
    (page,) = person_pages(survey, small_model, [1], settings=settings)
    assert 0 < len(page.options) < 20
    assert f"Only {len(page.options)} distinct plan" in render_page(page)


def test_the_reasons_are_a_str_enum():
    assert Reason.BLANK == "blank answer" and str(Reason.SAFE_RANGE) == "safe range"


def test_labels_of_close_plans_do_not_overlap():
    from sleeprx.analysis.chart import _clash
    from sleeprx.analysis.pages import Option

    near = [
        Option(k, 2, cost, 8.9, 0.98, math.nan, "Do a.")
        for k, cost in [(1, 8.1), (2, 9.1), (3, 7.1)]
    ]
    chart = options_chart(_page(status="changed", p_before=0.01, options=near, options_asked=3))
    points = chart.points
    assert not any(_clash(p, q) for p in points for q in points if p is not q)
    assert any(pt.dy > 0 for pt in points)  # one label moved below its point
