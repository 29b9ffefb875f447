"""Pareto fronts, population curves, knees and the sensitivity grid."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sleeprx.analysis.fronts import (
    knee,
    non_dominated,
    non_dominated_mask,
    person_fronts,
    population_curve,
)
from sleeprx.analysis.sensitivity import sensitivity
from sleeprx.learn.explain import explain
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ConfigError

BUDGETS = (0, 1, 2, 4, 8, 20)
KS = (0, 1, 2, 4)


@pytest.fixture(scope="module")
def explanation(small_model, survey):
    return explain(small_model, survey.frame)


@pytest.fixture(scope="module")
def frame(survey):
    """Twenty people spread over the survey."""
    return survey.frame.iloc[::19].head(20)


@pytest.fixture(scope="module")
def fronts(small_model, frame, explanation):
    return person_fronts(
        small_model,
        frame,
        settings=PrescribeSettings(),
        budgets=BUDGETS,
        ks=KS,
        explanation=explanation,
    )


def test_fronts_have_one_row_per_person_sweep_and_limit(fronts, frame, small_model):
    assert len(fronts) == len(frame) * (len(BUDGETS) + len(KS))
    for column in ("person_id", "budget", "k", "intensity", "gain_surrogate", "gain_verified"):
        assert column in fronts.columns
    assert fronts["non_dominated"].dtype == bool
    assert set(fronts["status"]) <= {"changed", "no_change"}
    budget_rows = fronts[fronts["sweep"].eq("budget")]
    assert (budget_rows["k"] == len(small_model.description.modifiable)).all()
    assert np.isinf(fronts.loc[fronts["sweep"].eq("k"), "budget"]).all()


def test_more_budget_never_means_less_optimal_gain(fronts):
    for sweep, limit in (("budget", "budget"), ("k", "k")):
        rows = fronts[fronts["sweep"].eq(sweep)].sort_values(["person_id", limit])
        steps = rows.groupby("person_id")["gain_planned"].diff().dropna()
        assert (steps >= -1e-9).all(), sweep


def test_limits_hold_at_the_optimum(fronts):
    budget_rows = fronts[fronts["sweep"].eq("budget")]
    assert (budget_rows["intensity"] <= budget_rows["budget"] + 1e-9).all()
    assert (fronts["n_changes"] <= fronts["k"]).all()


def test_no_change_allowed_gives_zero_gain(fronts):
    nothing = fronts[(fronts["k"].eq(0)) | (fronts["budget"].eq(0))]
    assert len(nothing) == 2 * fronts["person_id"].nunique()
    for column in ("n_changes", "intensity", "gain_planned", "gain_surrogate", "gain_verified"):
        assert (nothing[column] == 0).all(), column


def test_gains_are_the_surrogate_and_the_real_model(fronts, small_model, survey):
    # surrogate mode: the program's gain is the surrogate's
    assert np.allclose(fronts["gain_planned"], fronts["gain_surrogate"])
    # the verified gain is the real model's margin difference for the chosen profile
    row = fronts[fronts["sweep"].eq("k") & fronts["k"].eq(2)].iloc[0]
    person = survey.frame.loc[[row["person_id"]]].copy()
    before = small_model.margin(person).iloc[0]
    for name in small_model.description.modifiable_names:
        person[name] = row[f"{name}_after"]
    after = small_model.margin(person).iloc[0]
    assert row["gain_verified"] == pytest.approx(after - before, abs=1e-5)


def test_exact_mode_verifies_its_own_gain(small_model, frame, explanation):
    fronts = person_fronts(
        small_model,
        frame.head(5),
        settings=PrescribeSettings(mode="exact"),
        budgets=(0, 2, 6),
        ks=(1, 2),
        explanation=explanation,
    )
    assert np.allclose(fronts["gain_planned"], fronts["gain_verified"], atol=1e-9)


def test_population_curve_reports_marginal_gains(fronts):
    curve = population_curve(fronts, by="k")
    assert list(curve["k"]) == list(KS)
    assert (curve["n_people"] == fronts["person_id"].nunique()).all()
    assert math.isnan(curve["marginal_gain"].iloc[0])
    expected = np.diff(curve["mean_gain_verified"])
    assert np.allclose(curve["marginal_gain"].iloc[1:], expected)
    assert curve.loc[curve["k"].eq(0), "mean_gain_verified"].item() == 0
    by_budget = population_curve(fronts, by="budget")
    assert list(by_budget["budget"]) == list(map(float, BUDGETS))
    ordered = by_budget[["q25_gain_verified", "median_gain_verified", "q75_gain_verified"]]
    assert (ordered.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    with pytest.raises(ConfigError, match="by='cost'"):
        population_curve(fronts, by="cost")


def test_non_dominated_on_a_hand_made_front():
    points = pd.DataFrame(
        {
            "person_id": [1, 1, 1, 1, 1, 1, 2, 2],
            "sweep": ["budget"] * 8,
            "intensity": [0.0, 1.0, 2.0, 2.0, 3.0, 5.0, 0.0, 1.0],
            "n_changes": [0, 1, 1, 2, 2, 2, 0, 1],
            "gain_planned": [0.0, 1.0, 0.5, 2.0, 2.0, 2.5, 0.0, 0.0],
        }
    )
    # person 1: (2, 0.5) is beaten by (1, 1.0); (3, 2.0) by (2, 2.0).
    # person 2: (1, 0.0) is no better than (0, 0.0).
    expected = [True, True, False, True, False, True, True, False]
    assert non_dominated_mask(points).tolist() == expected
    assert non_dominated(points).index.tolist() == [0, 1, 3, 5, 6]
    # on the number of changes, (1, 1.0) beats (1, 0.5) and (2, 2.5) beats (2, 2.0) twice
    by_changes = non_dominated_mask(points, cost="n_changes")
    assert by_changes.tolist() == [True, True, False, False, False, True, True, False]


def test_non_dominated_keeps_the_first_of_equal_points_and_skips_missing():
    points = pd.DataFrame(
        {"person_id": 1, "intensity": [2.0, 2.0, np.nan], "gain_planned": [1.0, 1.0, 5.0]}
    )
    assert non_dominated_mask(points).tolist() == [True, False, False]


def test_fronts_flag_agrees_with_the_filter(fronts):
    assert fronts["non_dominated"].equals(non_dominated_mask(fronts))
    k_rows = fronts[fronts["sweep"].eq("k") & fronts["non_dominated"]]
    # along K the resource is the number of changes, each used at most once per person
    assert not k_rows.duplicated(["person_id", "n_changes"]).any()


def test_knee_of_known_curves():
    # a sharp corner: rising steeply to x = 2, then flat
    assert knee([0, 1, 2, 3, 4, 5], [0, 2, 4, 4.2, 4.3, 4.4]).index == 2
    # the textbook saturating curve y = 1 - exp(-x) on [0, 5]: the point farthest from
    # the chord y = x (after scaling) is where the slope equals the chord's, x = ln 5
    x = np.linspace(0, 5, 501)
    y = 1 - np.exp(-x)
    slope = (y[-1] - y[0]) / (x[-1] - x[0])
    assert knee(x, y).x == pytest.approx(-math.log(slope), abs=0.01)
    # unsorted input: the index refers to the input order
    found = knee([4, 0, 2, 1, 3], [4.3, 0, 4, 2, 4.2])
    assert (found.index, found.x, found.y) == (2, 2.0, 4.0)
    # a flat curve has its knee at the first point
    assert knee([0, 1, 2], [1, 1, 1]).index == 0


def test_sensitivity_grid(small_model, frame, explanation):
    table = sensitivity(
        small_model,
        frame,
        settings=PrescribeSettings(),
        lams=(0.0, 0.1, 0.5),
        scales=(0.5, 2.0),
        ks=(1, 2),
        explanation=explanation,
    )
    assert len(table) == 3 * 2 * 2
    names = small_model.description.modifiable_names
    for column in ("lam", "resistance_scale", "k", "mean_gain_logit", "mean_n_changes"):
        assert column in table.columns
    shares = table[["share_no_change", *(f"share_{n}" for n in names)]]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert (table["n_people"] == len(frame)).all()
    assert (table["mean_n_changes"] <= table["k"]).all()
    # a dearer penalty can only lower the surrogate gain the program buys
    for _, group in table.groupby(["resistance_scale", "k"]):
        gains = group.sort_values("lam")["mean_gain_surrogate"].to_numpy()
        assert (np.diff(gains) <= 1e-9).all()
    # with no penalty the costs do not matter, so the scale changes nothing
    free = table[table["lam"].eq(0)].groupby("k")["mean_gain_logit"].nunique()
    assert (free == 1).all()


def test_grids_are_checked(small_model, frame, explanation):
    with pytest.raises(ConfigError, match=r"budgets: -1\.0 is negative"):
        person_fronts(small_model, frame, budgets=(-1, 2), ks=(1,), explanation=explanation)
    with pytest.raises(ConfigError, match="ks: give at least one value"):
        person_fronts(small_model, frame, budgets=(1,), ks=(), explanation=explanation)
