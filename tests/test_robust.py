"""Robust exact prescriptions: factor tables per booster, and the robust optimum
against brute force that asks every booster itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from sleeprx.learn.ensemble import tree_scorer
from sleeprx.learn.model import ModelSettings, train
from sleeprx.optimize.bruteforce import enumerate_choices
from sleeprx.optimize.factor_tables import (
    compile_tables,
    compile_tables_for_models,
    profile_margins,
)
from sleeprx.optimize.problem import profile_features
from sleeprx.prescribing.run import prepare_problems
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import load_description, shipped_description_path
from sleeprx.survey.read import read_survey

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy_sleep_survey.csv"


@pytest.fixture(scope="module")
def messy():
    """A small model with four bootstrap boosters on the messy example."""
    description = load_description(shipped_description_path().with_name("messy_sleep.yaml"))
    survey = read_survey(MESSY, description)
    model = train(survey, settings=ModelSettings(n_estimators=30, max_depth=3, bootstrap=4))
    return survey, model


def _boosters(model):
    return [model.booster, *(b.booster for b in model.bootstraps)]


def booster_margins(booster, problem, choices) -> np.ndarray:
    """The booster's own margin (``predict(output_margin=True)``) at each profile."""
    rows = profile_features(problem, choices)
    matrix = xgb.DMatrix(rows, feature_names=booster.feature_names)
    return booster.predict(matrix, output_margin=True).astype(float)


def test_tables_per_booster_are_each_boosters_own(messy):
    survey, model = messy
    frame = survey.frame.iloc[:40]
    plain, _ = prepare_problems(model, frame, PrescribeSettings(mode="surrogate"))
    ensembles = [tree_scorer(b).ensemble for b in _boosters(model)]
    per_person = compile_tables_for_models(list(plain.values()), ensembles, max_cells=24)
    alone = compile_tables(list(plain.values()), ensembles[0], max_cells=24)
    config = PrescribeSettings(mode="exact", max_changes=2)
    for problems, main in zip(per_person, alone, strict=True):
        assert len(problems) == len(ensembles)
        assert [(t.factors, t.trees) for t in problems[0].tables] == [
            (t.factors, t.trees) for t in main.tables
        ]
        for a, b in zip(problems[0].tables, main.tables, strict=True):
            np.testing.assert_array_equal(a.values, b.values)
        choices = enumerate_choices(problems[0], config)
        for problem, booster in zip(problems, _boosters(model), strict=True):
            own = booster_margins(booster, problem, choices)
            np.testing.assert_allclose(profile_margins(problem, choices), own, atol=1e-5)
            now = booster_margins(booster, problem, choices[:1])[0]
            assert problem.logit_before == pytest.approx(now, abs=1e-5)
        assert all(p.goal_margin is None for p in problems[1:])
