"""Per-person confidence of a prescription under refits, on cases checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from sleeprx.learn.model import ModelSettings, train
from sleeprx.prescribing.confidence import (
    CONFIDENCE_COLUMNS,
    confidence,
    confidence_from_margins,
)
from sleeprx.utils.errors import ConfigError
from sleeprx.utils.odds import sigmoid

#: Eleven refits whose gains are -5, -4, ..., 5 from a margin of 0.
AFTER = np.arange(-5.0, 6.0)[None, :]
BEFORE = np.zeros_like(AFTER)


def test_without_a_goal_an_answer_holds_where_it_gains():
    out = confidence_from_margins(BEFORE, AFTER)
    assert list(out.columns) == list(CONFIDENCE_COLUMNS)
    row = out.iloc[0]
    assert row["validity"] == pytest.approx(5 / 11)  # gains 1..5; a zero gain does not hold
    # of eleven sorted values the 10th percentile is the second, the 90th the tenth
    assert row["gain_low"] == pytest.approx(-4.0) and row["gain_high"] == pytest.approx(4.0)
    assert row["p_after_low"] == pytest.approx(sigmoid(-4.0))
    assert row["p_after_high"] == pytest.approx(sigmoid(4.0))


def test_under_a_goal_an_answer_holds_where_the_refit_reaches_it():
    assert confidence_from_margins(BEFORE, AFTER, goal=0.5).iloc[0]["validity"] == 6 / 11
    # p = 0.9 at a margin of 2.197: the refits at 3, 4 and 5 reach it
    assert confidence_from_margins(BEFORE, AFTER, goal=0.9).iloc[0]["validity"] == 3 / 11


def test_people_are_rows():
    before = np.array([[0.0, 0.0], [1.0, 1.0]])
    after = np.array([[1.0, -1.0], [2.0, 3.0]])
    out = confidence_from_margins(before, after)
    np.testing.assert_allclose(out["validity"], [0.5, 1.0])
    np.testing.assert_allclose(out["gain_low"], [-1 + 0.1 * 2, 1 + 0.1 * 1])


def test_shapes_that_differ_are_refused():
    with pytest.raises(ConfigError, match=r"same shape.*\(1, 11\) and \(1, 2\)"):
        confidence_from_margins(BEFORE, AFTER[:, :2])


@pytest.fixture(scope="module")
def boot_model(survey):
    return train(survey, settings=ModelSettings(n_estimators=10, max_depth=2, bootstrap=3))


def test_confidence_reads_each_boosters_own_margin(boot_model, survey):
    before = survey.frame.iloc[:25]
    after = before.assign(sleep_duration=before["sleep_duration"] + 1.0)
    out = confidence(boot_model, before, after, goal=0.6)
    assert out.index.equals(after.index)
    margins = []
    for frame in (before, after):
        X = boot_model.encode(frame)
        matrix = xgb.DMatrix(X)
        margins.append(
            np.column_stack(
                [b.booster.predict(matrix, output_margin=True) for b in boot_model.bootstraps]
            )
        )
    expected = confidence_from_margins(*margins, goal=0.6)
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), atol=1e-5)


def test_a_model_without_refits_is_refused(small_model, survey):
    frame = survey.frame.iloc[:3]
    with pytest.raises(ConfigError, match=r"ModelSettings\.bootstrap"):
        confidence(small_model, frame, frame)
