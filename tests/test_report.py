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
    row = {"f1": 0.9, "accuracy": 0.9, "roc_auc": 0.95, "brier": 0.08}
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
    assert "log-odds of restful nights" in text and "predicted to have restful nights" in text
    assert "good sleep" not in text
    # the K table on the probability scale: K = 1 lifts one of two people over 0.5
    k1 = next(x for x in text.splitlines() if x.startswith("| 1 |"))
    assert "| 0.625 | 100.0% | +50.0 |" in k1
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
