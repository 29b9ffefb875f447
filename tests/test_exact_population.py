"""Exact mode on the whole shipped survey with the default model: proven optimal, and
equal to brute-force enumeration scored by the booster's own traversal."""

from __future__ import annotations

import numpy as np
import pytest

from sleeprx.optimize.bruteforce import brute_force
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.prescribing.verify import booster_gain
from sleeprx.settings import PrescribeSettings


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings",
    [
        PrescribeSettings(mode="exact", min_gain=0.0, min_gain_prob=0.0, solver="mip"),
        PrescribeSettings(mode="exact", goal=0.7, solver="mip"),
        PrescribeSettings(mode="exact", goal=0.7, tree_encoding="leaves"),
        PrescribeSettings(mode="exact", min_gain=0.0, min_gain_prob=0.0, solver="enumeration"),
    ],
    ids=["benefit-mip", "goal-mip", "goal-leaf-variables", "benefit-table-enumeration"],
)
def test_exact_mode_is_optimal_for_all_374_people(survey, model, settings):
    problems = prepare_problems(model, survey.frame, settings)
    assert len(problems) == 374
    for pid, problem in problems.items():
        plan = plan_person(problem, settings)
        oracle = brute_force(problem, settings, gain_of=booster_gain(model, problem))
        if oracle.levels is None:
            assert plan.status == "infeasible", pid
            continue
        assert plan.solver_status in ("optimal", "enumerated"), pid
        if settings.goal is None:
            # plan.objective is the MIP's; the oracle scores every profile with the booster.
            assert np.isclose(max(plan.objective, 0.0), oracle.objective, atol=1e-7), pid
        else:
            assert np.isclose(plan.objective, oracle.objective, atol=1e-7), pid
