"""The Markdown summary of a run, from hand-made inputs a person can check."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from sleeprx.analysis.fronts import population_curve
from sleeprx.analysis.report import RunSummary, summary_markdown
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import description_from_dict


def _summary(description, *, reference: bool = False, n_distinct: int = 9) -> RunSummary:
    """A hand-made run: ten people, four changed, one of them doubted by the model."""
    raw = description.model_dump(mode="json")
    raw["target"]["positive_label"] = "restful nights"
    relabelled = description_from_dict(raw)
    status = ["changed"] * 4 + ["no_change"] * 5 + ["error"]
    table = pd.DataFrame(
        {
            "person_id": range(1, 11),
            "status": status,
            "n_changes": [2, 1, 2, 1, 0, 0, 0, 0, 0, None],
            "p_before": [0.2, 0.4, 0.45, 0.3, 0.8, 0.9, 0.6, 0.1, 0.2, None],
            "p_after": [0.6, 0.55, 0.4, 0.5, None, None, None, None, None, None],
            "gain_surrogate": [1.0, 0.8, 0.5, 0.9] + [0.0] * 5 + [None],
            "gain_logit": [1.2, 0.6, -0.1, 0.8] + [0.0] * 5 + [None],
            "solve_seconds": [0.01] * 9 + [None],
            "model_disagrees": [False, False, True, False] + [False] * 6,
        }
    )
    fronts = pd.DataFrame(
        {
            "person_id": [1, 2, 1, 2],
            "sweep": ["k"] * 4,
            "k": [0, 0, 1, 1],
            "n_changes": [0, 0, 1, 1],
            "intensity": [0.0, 0.0, 1.0, 2.0],
            "gain_planned": [0.0, 0.0, 1.0, 0.5],
            "gain_surrogate": [0.0, 0.0, 1.0, 0.5],
            "gain_verified": [0.0, 0.0, 1.0, 0.4],
            "p_before": [0.3, 0.6, 0.3, 0.6],
            "p_after": [0.3, 0.6, 0.55, 0.7],
        }
    )
    row = {"f1": 0.9, "accuracy": 0.9, "roc_auc": 0.95, "brier": 0.08, "ece": 0.0425}
    metrics = {
        "holdout": {"xgboost": row},
        "grouped_cv": {"xgboost": row},
        "data": {"n_distinct_rows": n_distinct, "n_rows": len(table)},
    }
    if reference:
        metrics["reference"] = {"source": "paper", "metrics": {"f1": 0.9544, "accuracy": 0.9366}}
    return RunSummary(
        name="hand-made",
        settings=PrescribeSettings(),
        metrics=metrics,
        prescriptions=table,
        curve_k=population_curve(fronts, by="k"),
        description=relabelled,
        timings={"total": 1.0},
    )


@pytest.mark.parametrize("reference", [True, False])
def test_summary_counts_disagreement_among_the_changed(description, reference):
    text = summary_markdown(_summary(description, reference=reference))
    line = next(x for x in text.splitlines() if "disagrees" in x)
    assert "1 of 4 people changed (25.0%)" in line  # not 10% of everyone
    assert "chance of restful nights" in text and "predicted to have restful nights" in text
    assert "good sleep" not in text
    # the K table on the probability scale: K = 1 lifts one of two people over 0.5
    k1 = next(x for x in text.splitlines() if x.startswith("| 1 |"))
    assert k1 == "| 1 | 62.5 | +17.5 | 100.0 |"  # (0.55 + 0.7) / 2; (0.3 + 0.6) / 2 before
    assert ("Reference (paper): f1 0.9544, accuracy 0.9366." in text) == reference
    assert text.startswith("# sleeprx run: hand-made\n")


def test_summary_counts_the_given_violations(description):
    summary = _summary(description)
    for violations in ([], ["person 3: two changes above K"]):
        text = summary_markdown(replace(summary, violations=violations))
        assert f"linear constraints): {len(violations)}\n" in text


@pytest.mark.parametrize("n_distinct", [9, 10])
def test_the_sentence_on_copies_only_for_a_survey_with_copies(description, n_distinct):
    text = summary_markdown(_summary(description, n_distinct=n_distinct))
    has_copies = n_distinct < 10
    assert ("9 of 10 rows are distinct; grouped CV keeps copies together." in text) == has_copies
    assert ("keeps copies together" in text) == has_copies


def test_people_without_a_change_are_counted_once_as_no_change(description):
    text = summary_markdown(_summary(description))
    lines = text.splitlines()
    assert "0 change(s)" not in text
    assert lines.count("- no change: 55.6%") == 1  # 5 of the 9 valid answers
    assert "- 1 change(s): 22.2%" in lines and "- 2 change(s): 22.2%" in lines


def _answered_means(table: pd.DataFrame) -> tuple[float, float]:
    ok = table[table["status"].isin(["changed", "no_change", "infeasible"])]
    after = ok["p_after"].where(ok["status"].eq("changed"), ok["p_before"])
    return 100 * ok["p_before"].mean(), 100 * after.mean()


def test_the_chances_are_computed_from_the_table_in_percent(description):
    summary = _summary(description)
    text = summary_markdown(summary)
    before, after = _answered_means(summary.prescriptions)
    assert f"{before:.1f}% before, {after:.1f}% after;" in text
    prescriptions = text.split("## Prescriptions")[1].split("## Population curve")[0]
    assert "log-odds" not in prescriptions
    assert "| grouped_cv | xgboost |" in text and "| 0.0425 |" in text  # ECE


def test_each_section_names_its_settings_and_the_curve_meets_the_grid(description):
    summary = _summary(description)
    settings = summary.settings
    grid = pd.DataFrame(
        [
            {"lam": lam, "resistance_scale": 1.0, "k": k, "mean_p_before": 0.45,
             "mean_p_after": 0.45 + 0.01 * k - lam / 10, "share_changed": 0.4}
            for lam in (0.0, settings.lam)
            for k in (1, 2)
        ]
    )  # fmt: skip
    text = summary_markdown(replace(summary, sensitivity=grid))
    for section in ("| prescriptions |", "| population curves |", "| sensitivity grid |"):
        assert section in text
    cell = grid[grid["lam"].eq(settings.lam) & grid["k"].eq(settings.max_changes)].iloc[0]
    assert f"gives {100 * cell['mean_p_after']:.1f}%." in text
    _, after = _answered_means(summary.prescriptions)
    assert f"the prescriptions give {after:.1f}% over their people" in text
    share = 100 * grid["share_changed"].iloc[0]  # the same in every cell of this grid
    assert f"the share of people told to change is {share:.1f}% in every cell." in text


def test_validity_stands_beside_every_share_of_changes(description):
    summary = _summary(description)
    table = summary.prescriptions.assign(
        validity=[1.0, 0.5, 0.0, 1.0] + [1.0, 1.0, 0.5] + [None] * 3,
        p_after_low=[0.55, 0.4, 0.3, 0.5] + [None] * 6,
    )
    text = summary_markdown(replace(summary, prescriptions=table, refits=4))
    for k in (1, 2):
        rows = table[table["status"].eq("changed") & table["n_changes"].eq(k)]
        line = next(x for x in text.splitlines() if x.startswith(f"- {k} change(s)"))
        assert line.endswith(f"(mean validity {rows['validity'].mean():.3f})")
    kept = table.loc[table["status"].eq("no_change"), "validity"].dropna()
    line = next(x for x in text.splitlines() if x.startswith("- no change"))
    assert line.endswith(f"(mean validity {kept.mean():.3f})")  # under a goal: still met
    changed = table[table["status"].eq("changed")]
    share = changed["p_after_low"].ge(0.5).mean()
    assert f"refitted models (their 10th percentile): {share:.1%}" in text


def test_the_fidelity_share_is_reconciled_with_the_prescriptions(description):
    people = pd.DataFrame(
        {
            "person_id": [1, 7, 8],
            "changes_surrogate": [1, 1, 2],
            "gain_real_surrogate": [-0.1, 0.0, 0.3],  # 1 and 7 gain nothing for real
        }
    )
    fidelity = {
        "people": 9,
        "share_differ": 0.5,
        "mean_loss": 0.1,
        "worst_loss": 0.3,
        "surrogate_changed": 3,
        "share_surrogate_nonpositive_real_gain": 2 / 3,
    }
    summary = replace(_summary(description), fidelity=fidelity, fidelity_people=people)
    text = summary_markdown(summary)
    # person 1 is changed in the prescriptions, person 7 is not
    assert "of those 2, 1 are also prescribed a change above" in text
    assert "turns down the other 1" in text
    assert "Among all the prescriptions' changes the model disagrees with 1." in text


def test_figures_are_embedded_with_their_captions(description):
    figures = {"pareto_k": {"title": "Chance with K", "caption": "Dots are people."}}
    text = summary_markdown(replace(_summary(description), figures=figures))
    assert "### Chance with K\n\n![Chance with K](figures/pareto_k.png)\n" in text
    assert "*Dots are people.* ([SVG](figures/pareto_k.svg))" in text
