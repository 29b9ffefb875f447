"""build_problem keeps each factor's options for the next person like it: the same
arrays as computed afresh, never another curve's or another answer's."""

from __future__ import annotations

import numpy as np
import pytest

from sleeprx.optimize import problem as problem_module
from sleeprx.optimize.problem import build_problem
from sleeprx.survey.curves import EffectCurve
from sleeprx.survey.description import load_description


def _curves(description, slope: float) -> dict[str, EffectCurve]:
    return {
        f.column: EffectCurve(f.column, f.grid, slope * np.arange(len(f.grid)), 1 + 0 * f.grid)
        for f in description.modifiable
    }


def _problem(description, person: dict, curves: dict):
    names = list(description.modifiable_names)
    return build_problem(
        1,
        person,
        description,
        features=np.asarray([person[n] for n in names], dtype=float),
        feature_names=names,
        logit_before=0.0,
        curves=curves,
    )


def _arrays(problem) -> list[bytes]:
    return [
        a.tobytes()
        for f in problem.factors
        for a in (f.levels, f.cost, f.intensity, f.surrogate_gain)
    ]


@pytest.fixture
def description():
    return load_description()


@pytest.fixture
def person(description):
    return {f.column: float(f.grid[len(f.grid) // 2]) for f in description.modifiable}


def test_kept_options_are_those_computed_afresh(description, person):
    curves = _curves(description, 0.25)
    first = _problem(description, person, curves)
    again = _problem(description, dict(person), curves)
    problem_module._CHOICES.clear()
    fresh = _problem(description, dict(person), curves)
    assert _arrays(first) == _arrays(again) == _arrays(fresh)
    assert all(not f.levels.flags.writeable for f in first.factors)  # shared: read-only


def test_another_curve_or_resistance_gives_its_own_options(description, person):
    base = _problem(description, person, _curves(description, 0.25))
    steeper = _problem(description, person, _curves(description, 0.5))
    assert [f.surrogate_gain.tolist() for f in steeper.factors] == [
        (2 * f.surrogate_gain).tolist() for f in base.factors
    ]
    lever = description.modifiable[0].column
    resisted = _problem(
        description, person | {f"resistance__{lever}": 3.0}, _curves(description, 0.25)
    )
    assert resisted.factors[0].cost.tolist() != base.factors[0].cost.tolist()


def test_a_negative_zero_answer_is_kept_apart_from_zero(description, person):
    curves = _curves(description, 0.25)
    lever = description.modifiable[0].column
    zero = _problem(description, person | {lever: 0.0}, curves)
    negative = _problem(description, person | {lever: -0.0}, curves)
    assert not np.signbit(zero.factors[0].levels[0])
    assert np.signbit(negative.factors[0].levels[0])
