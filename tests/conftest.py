"""Shared fixtures and helpers: the shipped survey, small models trained inside the
session, and a program with its decision variables fixed."""

from __future__ import annotations

import copy

import pytest

from sleeprx.learn.model import ModelSettings, train
from sleeprx.survey.description import load_description
from sleeprx.survey.read import read_survey


@pytest.fixture(scope="session")
def description():
    return load_description()


@pytest.fixture(scope="session")
def survey(description):
    return read_survey(None, description)


@pytest.fixture(scope="session")
def model(survey):
    """The default XGBoost model (200 trees, depth 4) on the shipped survey."""
    return train(survey, settings=ModelSettings())


@pytest.fixture(scope="session")
def small_model(survey):
    """A quicker model for tests that loop over many people."""
    return train(survey, settings=ModelSettings(n_estimators=30, max_depth=3))


@pytest.fixture(scope="session")
def small_model_dir(small_model, tmp_path_factory):
    """``small_model`` saved as a model folder, for CLI tests."""
    from sleeprx.learn.model import save_model

    return save_model(small_model, tmp_path_factory.mktemp("model"))


def fixed(program, levels):
    """A copy of the program's model with every z fixed at the given level indices."""
    model = copy.deepcopy(program.model)
    for z, chosen in zip(program.choice, levels, strict=True):
        for i, j in enumerate(z):
            model.lb[j] = model.ub[j] = float(i == chosen)
    return model
