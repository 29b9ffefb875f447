"""Shared fixtures: the shipped survey and small models trained inside the session."""

from __future__ import annotations

import pytest

from sleeprx.data import read_survey
from sleeprx.model import ModelSettings, train
from sleeprx.survey import load_description


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
    from sleeprx.model import save_model

    return save_model(small_model, tmp_path_factory.mktemp("model"))
