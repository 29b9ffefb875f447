"""Bootstrap boosters: grouped resamples, their seeds, and their save and load."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from sleeprx.learn.model import (
    ModelSettings,
    bootstrap_seeds,
    fit_bootstraps,
    load_model,
    save_model,
    train,
)
from sleeprx.learn.splits import duplicate_groups
from sleeprx.utils.errors import ArtifactError

SMALL = ModelSettings(n_estimators=10, max_depth=2, bootstrap=3)


@pytest.fixture(scope="module")
def boot_model(survey):
    return train(survey, settings=SMALL)


@pytest.fixture(scope="module")
def boot_dir(boot_model, tmp_path_factory):
    return save_model(boot_model, tmp_path_factory.mktemp("boot") / "model")


@pytest.fixture
def boot_copy(boot_dir, tmp_path):
    return Path(shutil.copytree(boot_dir, tmp_path / "copy"))


def _margins(booster, X) -> np.ndarray:
    return booster.predict(xgb.DMatrix(X), output_margin=True)


def test_default_settings_fit_no_bootstrap(small_model):
    assert small_model.settings.bootstrap == 0
    assert small_model.bootstraps == ()


def test_each_bootstrap_has_its_own_seed_and_the_main_hyper_parameters(boot_model, survey):
    seeds = [b.seed for b in boot_model.bootstraps]
    assert seeds == bootstrap_seeds(SMALL.seed, 3)
    assert len(set(seeds)) == 3
    X = boot_model.encode(survey.frame)
    margins = [_margins(b.booster, X) for b in boot_model.bootstraps]
    assert not np.allclose(margins[0], margins[1])  # different resamples
    for b in boot_model.bootstraps:
        config = json.loads(b.booster.save_config())
        params = config["learner"]["gradient_booster"]["tree_train_param"]
        assert int(params["max_depth"]) == SMALL.max_depth
        assert b.booster.num_boosted_rounds() == SMALL.n_estimators


def test_fresh_seeds_follow_the_trained_ones():
    assert bootstrap_seeds(7, 5)[3:] == bootstrap_seeds(7, 2, first=3)
    assert bootstrap_seeds(7, 2) != bootstrap_seeds(8, 2)


def test_a_resample_draws_copies_of_a_row_together(survey, monkeypatch):
    """Every group is drawn whole: its rows appear equally often in the resample."""
    import sleeprx.learn.model as model_module

    seen = []

    class Recording(model_module.XGBClassifier):
        def fit(self, X, y, **kwargs):
            seen.append(X.index.to_numpy())
            return super().fit(X, y, **kwargs)

    monkeypatch.setattr(model_module, "XGBClassifier", Recording)
    fit_bootstraps(survey, SMALL, [11])
    groups = duplicate_groups(survey.frame)
    position = np.searchsorted(survey.frame.index.to_numpy(), seen[0])  # sorted ids
    counts = np.bincount(position, minlength=len(groups))
    for g in np.unique(groups):
        assert len(set(counts[groups == g])) == 1, g
    assert len(seen[0]) != len(np.unique(seen[0]))  # drawn with replacement


def test_round_trip_keeps_every_booster_and_seed(boot_model, boot_dir, survey):
    loaded = load_model(boot_dir)
    X = boot_model.encode(survey.frame)
    assert [b.seed for b in loaded.bootstraps] == [b.seed for b in boot_model.bootstraps]
    for a, b in zip(boot_model.bootstraps, loaded.bootstraps, strict=True):
        np.testing.assert_array_equal(_margins(a.booster, X), _margins(b.booster, X))
        assert b.booster.attr("sleeprx_seed") == str(b.seed)


def test_boosters_are_xgboost_json_listed_with_their_hash(boot_dir):
    names = sorted(p.name for p in (boot_dir / "bootstrap").iterdir())
    assert names == ["booster_00.json", "booster_01.json", "booster_02.json"]
    meta = json.loads((boot_dir / "meta.json").read_text(encoding="utf-8"))
    assert [e["file"] for e in meta["bootstrap"]] == [f"bootstrap/{n}" for n in names]
    for entry in meta["bootstrap"]:
        raw = json.loads((boot_dir / entry["file"]).read_text(encoding="utf-8"))
        assert raw["learner"]["attributes"]["sleeprx_seed"] == str(entry["seed"])


def test_load_needs_no_pickle(boot_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert len(load_model(boot_dir).bootstraps) == 3


def test_an_edited_booster_is_refused(boot_copy):
    path = boot_copy / "bootstrap" / "booster_01.json"
    path.write_text(path.read_text(encoding="utf-8").replace("0", "1", 1), encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"booster_01\.json: its SHA-256 differs"):
        load_model(boot_copy)


def test_a_missing_booster_is_refused(boot_copy):
    (boot_copy / "bootstrap" / "booster_02.json").unlink()
    with pytest.raises(ArtifactError, match=r"booster_02\.json: not found"):
        load_model(boot_copy)


def test_a_count_that_disagrees_with_the_settings_is_refused(boot_copy):
    meta_path = boot_copy / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["bootstrap"] = meta["bootstrap"][:2]
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"settings\.bootstrap is 3 but 'bootstrap' lists 2"):
        load_model(boot_copy)
