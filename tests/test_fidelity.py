"""The fidelity report on tables small enough to check by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from sleeprx.analysis.fidelity import fidelity_report
from sleeprx.settings import PrescribeSettings


def table(rows):
    columns = [
        "person_id",
        "status",
        "n_changes",
        "gain_logit",
        "gain_surrogate",
        "cost",
        "sleep_after",
        "stress_after",
        "p_after",
    ]
    return pd.DataFrame(rows, columns=columns)


def test_fidelity_on_three_people_by_hand():
    surrogate = table(
        [
            (1, "changed", 1, 2.0, 2.5, 3.0, 7.0, 5.0, 0.9),  # same as exact: J = 1.7
            (2, "changed", 1, -0.5, 1.0, 2.0, 8.0, 5.0, 0.4),  # J = -0.7
            (3, "changed", 2, 3.0, 3.0, 6.0, 7.5, 4.0, 0.95),  # J = 2.4
        ]
    )
    exact = table(
        [
            (1, "changed", 1, 2.0, 2.5, 3.0, 7.0, 5.0, 0.9),  # J = 1.7
            (2, "no_change", 0, 0.0, 0.0, 0.0, 6.5, 5.0, 0.5),  # J = 0
            (3, "changed", 1, 3.5, 2.0, 4.0, 7.5, 5.0, 0.97),  # J = 3.1
        ]
    )
    per_person, summary = fidelity_report(
        surrogate, exact, PrescribeSettings(lam=0.1), factors=("sleep", "stress")
    )
    assert per_person["differ"].tolist() == [False, True, True]
    assert per_person["loss"].tolist() == pytest.approx([0.0, 0.7, 0.7])
    assert summary["share_differ"] == pytest.approx(2 / 3)
    assert summary["mean_loss"] == pytest.approx(1.4 / 3)
    assert summary["worst_loss"] == pytest.approx(0.7)
    assert summary["share_surrogate_nonpositive_real_gain"] == pytest.approx(1 / 3)
