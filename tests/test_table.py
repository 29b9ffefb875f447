"""The prescription table's numbers: what it reports for people without a profile."""

from __future__ import annotations

import numpy as np
import pytest

from sleeprx.learn.model import ModelSettings, train
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings


@pytest.fixture(scope="module")
def calibrated(survey):
    settings = ModelSettings(n_estimators=30, max_depth=3, calibrate=True, cv_repeats=1)
    return train(survey, settings=settings)


def test_p_before_of_infeasible_rows_is_the_calibrated_probability(survey, calibrated):
    """An infeasible row has no profile to re-score; its p_before is still the model's
    calibrated probability, as on every other row (it was the raw sigmoid)."""
    ids = list(survey.frame.index[:60])
    settings = PrescribeSettings(goal=0.9, max_changes=1)
    table = prescribe(survey, calibrated, settings=settings, ids=ids)
    infeasible = table[table["status"].eq(Status.INFEASIBLE)]
    assert len(infeasible) and len(infeasible) < len(table)
    expected = calibrated.predict_proba(survey.frame.loc[table["person_id"]]).to_numpy()
    np.testing.assert_allclose(table["p_before"].to_numpy(float), expected, rtol=0, atol=1e-12)
