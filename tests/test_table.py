"""The prescription table's numbers, and the library's check of its exact-mode margins."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sleeprx.learn.model import ModelSettings, train
from sleeprx.prescribing.policy import plan_person
from sleeprx.prescribing.run import prepare_problems, prescribe
from sleeprx.prescribing.status import Status
from sleeprx.prescribing.table import TableInput, build_table
from sleeprx.prescribing.verify import MARGIN_TOLERANCE, check_margins, margin_errors
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import SolverError


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


def _shifted(problems: dict) -> dict:
    """Every person's first factor table shifted by 0.05 log-odds: a program whose
    trees no longer say what the booster says."""
    out = {}
    for pid, problem in problems.items():
        first, *rest = problem.tables
        out[pid] = replace(problem, tables=(replace(first, values=first.values + 0.05), *rest))
    return out


def _exact_table(model, frame, settings, problems):
    plans = {pid: plan_person(p, settings) for pid, p in problems.items()}
    return build_table(TableInput(model, frame, settings, list(problems), problems, plans))


def test_the_library_checks_exact_margins_against_the_booster(survey, small_model):
    settings = PrescribeSettings(mode="exact")
    frame = survey.frame.iloc[:20]
    problems = prepare_problems(small_model, frame, settings)
    table = _exact_table(small_model, frame, settings, problems)
    assert 0 <= check_margins(table) <= MARGIN_TOLERANCE
    assert margin_errors(table).notna().all()  # every exact row is checked
    broken = _exact_table(small_model, frame, settings, _shifted(problems))
    assert margin_errors(broken).min() == pytest.approx(0.05)
    with pytest.raises(SolverError, match=r"person \d+: the exact program planned margin"):
        check_margins(broken)


def test_prescribe_refuses_exact_tables_that_disagree_with_the_booster(
    survey, small_model, monkeypatch
):
    """prescribe() makes the check itself: break the factor tables it compiles."""
    from sleeprx.prescribing import run

    compile_tables = run.attach_ensembles

    def broken(problems, *args, **kwargs):
        compiled = compile_tables(problems, *args, **kwargs)
        return list(_shifted(dict(enumerate(compiled))).values())

    ids = list(survey.frame.index[:10])
    prescribe(survey, small_model, settings=PrescribeSettings(mode="exact"), ids=ids)
    monkeypatch.setattr(run, "attach_ensembles", broken)
    with pytest.raises(SolverError, match="the booster gives"):
        prescribe(survey, small_model, settings=PrescribeSettings(mode="exact"), ids=ids)
