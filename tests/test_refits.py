"""The population curves' intervals over the bootstrap refits, against a hand computation
with each refit's own XGBoost ``predict``."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from sleeprx.analysis.fronts import person_fronts, population_curve
from sleeprx.analysis.refits import after_frame, population_table, refit_intervals
from sleeprx.learn.model import ModelSettings, train
from sleeprx.settings import PrescribeSettings


@pytest.fixture(scope="module")
def refitted(survey):
    return train(survey, settings=ModelSettings(n_estimators=15, max_depth=2, bootstrap=4))


@pytest.fixture(scope="module")
def fronts(refitted, survey):
    frame = survey.frame.iloc[::9]
    return person_fronts(
        refitted, frame, settings=PrescribeSettings(), budgets=(0, 2, 6), ks=(0, 1, 2)
    )


def test_after_profiles_are_the_ones_the_sweep_scored(refitted, survey, fronts):
    rows = fronts[fronts["sweep"].eq("k") & fronts["gain_verified"].notna()]
    names = refitted.description.modifiable_names
    margin = refitted.margin(after_frame(survey.frame, rows, names)).to_numpy()
    assert np.allclose(1 / (1 + np.exp(-margin)), rows["p_after"].to_numpy(float), atol=1e-6)


@pytest.mark.parametrize("by", ["k", "budget"])
def test_intervals_equal_a_hand_computation_by_each_refit(refitted, survey, fronts, by):
    table = refit_intervals(refitted, survey.frame, fronts, by).set_index(by)
    rows = fronts[fronts["sweep"].eq(by) & fronts["gain_verified"].notna()]
    names = refitted.description.modifiable_names
    x1 = refitted.encode(after_frame(survey.frame, rows, names))
    x0 = refitted.encode(survey.frame.loc[rows["person_id"].to_numpy()])
    m0, m1 = (
        np.column_stack(
            [b.booster.predict(xgb.DMatrix(x), output_margin=True) for b in refitted.bootstraps]
        ).astype(float)
        for x in (x0, x1)
    )
    p1 = 1 / (1 + np.exp(-m1))
    for value in table.index:
        here = rows[by].to_numpy() == value
        means = p1[here].mean(axis=0)
        shares = (p1[here] >= 0.5).mean(axis=0)
        got = table.loc[value]
        assert got["mean_p_after_low"] == pytest.approx(np.percentile(means, 10), abs=1e-6)
        assert got["mean_p_after_high"] == pytest.approx(np.percentile(means, 90), abs=1e-6)
        assert got["share_predicted_positive_low"] == pytest.approx(np.percentile(shares, 10))
        assert got["mean_p_after_low"] <= got["mean_p_after_high"]
        changed = here & (rows["n_changes"].to_numpy(float) > 0)
        if changed.any():
            holds = (m1[changed] - m0[changed]) > 1e-6
            assert got["mean_validity"] == pytest.approx(holds.mean(), abs=1e-3)
    assert set(table["n_refits"]) == {len(refitted.bootstraps)}


def test_without_refits_the_table_is_the_plain_curve(small_model, survey, fronts):
    plain = population_table(fronts, "k", model=small_model, frame=survey.frame)
    assert plain.equals(population_curve(fronts, by="k"))
    assert refit_intervals(small_model, survey.frame, fronts, "k").empty
