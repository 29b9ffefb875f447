"""The classifier: save and load without pickle, refuse mismatched data, evaluate honestly."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

import sleeprx.learn.evaluate as evaluate_module
from sleeprx.learn.evaluate import METRICS, duplicate_groups, evaluate_models
from sleeprx.learn.features import feature_names, target_vector
from sleeprx.learn.model import ModelSettings, load_model, save_model
from sleeprx.survey.description import SurveyDescription, description_from_dict
from sleeprx.survey.read import Survey, read_survey
from sleeprx.utils.errors import ArtifactError, ModelMismatchError, SleeprxError

MODELS = ("xgboost", "logistic_regression", "random_forest", "hist_gradient_boosting")
FAST = ModelSettings(n_estimators=20, max_depth=3, cv_repeats=1, cv_splits=3)


@pytest.fixture(scope="module")
def saved(small_model, tmp_path_factory):
    """The small model saved once; tests that damage it work on a copy."""
    return save_model(small_model, tmp_path_factory.mktemp("model") / "sleep-model")


@pytest.fixture
def model_copy(saved, tmp_path):
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def _modified(description: SurveyDescription, edit) -> SurveyDescription:
    raw = description.model_dump(mode="json")
    edit(raw)
    return description_from_dict(raw)


# --- save and load --------------------------------------------------------------------


def test_round_trip_gives_identical_probabilities_and_margins(small_model, saved, survey):
    loaded = load_model(saved)
    frame = survey.frame
    shifted = frame.assign(sleep_duration=frame["sleep_duration"] + 0.5)
    for data in (frame, shifted):
        before, after = small_model.predict_proba(data), loaded.predict_proba(data)
        assert np.array_equal(before.to_numpy(), after.to_numpy())
        assert before.index.equals(after.index)
        assert np.array_equal(small_model.margin(data).to_numpy(), loaded.margin(data).to_numpy())
    assert loaded.description == small_model.description
    assert loaded.settings == small_model.settings
    assert loaded.data_hash == small_model.data_hash
    pd.testing.assert_frame_equal(loaded.encode(frame), small_model.encode(frame))


def test_saved_folder_holds_json_only(saved):
    assert sorted(p.name for p in saved.iterdir()) == ["meta.json", "metrics.json", "model.json"]
    booster = json.loads((saved / "model.json").read_text(encoding="utf-8"))
    assert "learner" in booster  # XGBoost's own JSON model format


def test_meta_records_description_features_data_hash_and_versions(small_model, saved, survey):
    meta = json.loads((saved / "meta.json").read_text(encoding="utf-8"))
    assert meta["description"] == small_model.description.model_dump(mode="json")
    assert description_from_dict(meta["description"]) == survey.description
    assert meta["description_fingerprint"] == survey.description.fingerprint()
    assert meta["feature_names"] == feature_names(survey.description)
    assert meta["feature_names"] == list(small_model.encode(survey.frame).columns)
    assert re.fullmatch(r"[0-9a-f]{64}", meta["training_data_sha256"])
    assert meta["training_data_sha256"] == survey.data_hash()
    versions = meta["versions"]
    assert {"sleeprx", "xgboost", "scikit-learn", "numpy", "pandas"} <= set(versions)
    assert versions["xgboost"] == xgboost.__version__
    assert meta["settings"] == small_model.settings.model_dump(mode="json")


def test_save_never_pickles(small_model, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("save_model used pickle")

    for target, name in [
        (pickle, "dump"),
        (pickle, "dumps"),
        (pickle, "load"),
        (pickle, "loads"),
        (joblib, "dump"),
        (joblib, "load"),
    ]:
        monkeypatch.setattr(target, name, refuse)
    out = save_model(small_model, tmp_path / "m")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 3
    for path in files:
        assert path.suffix == ".json", path.name
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
        json.loads(path.read_text(encoding="utf-8"))
    load_model(out)  # and loading needs no pickle either


def test_missing_model_json_is_an_artifact_error(model_copy):
    (model_copy / "model.json").unlink()
    with pytest.raises(ArtifactError, match=r"model\.json.*not found") as e:
        load_model(model_copy)
    assert isinstance(e.value, OSError) and isinstance(e.value, SleeprxError)


def test_missing_meta_json_is_an_artifact_error(model_copy):
    (model_copy / "meta.json").unlink()
    with pytest.raises(ArtifactError, match=r"meta\.json.*not found"):
        load_model(model_copy)


def test_missing_folder_is_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        load_model(tmp_path / "no-such-model")


def test_unreadable_model_json_is_an_artifact_error(model_copy):
    (model_copy / "model.json").write_text("not a model", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"model\.json.*cannot be read"):
        load_model(model_copy)


def _edit_meta(folder: Path, edit) -> None:
    path = folder / "meta.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta = edit(meta)
    path.write_text(json.dumps(meta), encoding="utf-8")


def test_wrong_format_version_is_an_artifact_error(model_copy):
    _edit_meta(model_copy, lambda meta: {**meta, "format_version": 99})
    with pytest.raises(ArtifactError, match=r"meta\.json.*format_version 99"):
        load_model(model_copy)


def test_feature_names_out_of_order_is_an_artifact_error(model_copy):
    _edit_meta(model_copy, lambda meta: {**meta, "feature_names": meta["feature_names"][::-1]})
    with pytest.raises(ArtifactError, match=r"meta\.json.*feature_names"):
        load_model(model_copy)


@pytest.mark.parametrize("key", ["description", "settings", "training_data_sha256"])
def test_meta_without_a_key_is_an_artifact_error(model_copy, key):
    _edit_meta(model_copy, lambda meta: {k: v for k, v in meta.items() if k != key})
    with pytest.raises(ArtifactError, match=rf"meta\.json.*{key}"):
        load_model(model_copy)


def test_meta_that_is_not_an_object_is_an_artifact_error(model_copy):
    (model_copy / "meta.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"meta\.json"):
        load_model(model_copy)


def test_unreadable_metrics_json_is_an_artifact_error(model_copy):
    (model_copy / "metrics.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"metrics\.json"):
        load_model(model_copy)


# --- refusing data the model was not trained for -------------------------------------


def test_survey_read_with_the_models_description_is_accepted(small_model, survey):
    small_model.check_survey(survey)


@pytest.mark.parametrize(
    "edit",
    [
        lambda raw: raw["target"].__setitem__("threshold", 8),
        lambda raw: raw["columns"][3]["categories"].append("Pilot"),
    ],
    ids=["other-threshold", "extra-category"],
)
def test_survey_read_with_another_description_is_refused(small_model, description, edit):
    other = _modified(description, edit)
    assert other.fingerprint() != description.fingerprint()
    survey = read_survey(None, other)
    with pytest.raises(
        ModelMismatchError,
        match=r"Sleep_health_and_lifestyle_dataset\.csv.*columns or target differ",
    ):
        small_model.check_survey(survey)


def test_frame_missing_a_feature_column_is_refused(small_model, survey):
    frame = survey.frame.drop(columns="daily_steps")
    expected = re.escape("missing column(s) ['daily_steps']")
    for call in (small_model.predict_proba, small_model.margin, small_model.encode):
        with pytest.raises(ModelMismatchError, match=expected):
            call(frame)
    partial = Survey(frame=frame, description=survey.description, source=survey.source)
    with pytest.raises(ModelMismatchError, match=expected):
        small_model.check_survey(partial)


# --- evaluation --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation(survey):
    """Evaluate once with a splitter that records every grouped split it makes."""
    splits: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    class RecordingSplitter(StratifiedGroupKFold):
        def split(self, X, y=None, groups=None):
            for train_idx, test_idx in super().split(X, y, groups):
                splits.append((np.asarray(groups), train_idx, test_idx))
                yield train_idx, test_idx

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluate_module, "StratifiedGroupKFold", RecordingSplitter)
        result = evaluate_models(survey, settings=FAST)
    return result, splits


def test_evaluate_models_reports_both_protocols(evaluation):
    result, _ = evaluation
    assert set(result["holdout"]) == set(MODELS)
    assert set(result["grouped_cv"]) == set(MODELS)
    for name in MODELS:
        holdout = result["holdout"][name]
        assert set(METRICS) == {"f1", "accuracy", "roc_auc", "brier", "ece"}
        assert set(METRICS) | {"n_test"} <= set(holdout)
        assert holdout["n_test"] == 75  # 20 % of 374, rounded up
        grouped = result["grouped_cv"][name]
        assert set(METRICS) | {f"{m}_std" for m in METRICS} <= set(grouped)
        assert grouped["n_folds"] == 3
        for m in METRICS:
            assert 0.0 <= holdout[m] <= 1.0
            assert 0.0 <= grouped[m] <= 1.0
            assert grouped[f"{m}_std"] >= 0.0
    assert result["data"]["n_rows"] == 374
    assert result["data"]["n_distinct_rows"] == 132


def test_grouped_cv_never_splits_a_group(evaluation, survey):
    _, splits = evaluation
    assert len(splits) == FAST.cv_splits * FAST.cv_repeats
    groups = duplicate_groups(survey.frame)
    seen_test: list[int] = []
    for used_groups, train_idx, test_idx in splits:
        np.testing.assert_array_equal(used_groups, groups)
        assert not set(groups[train_idx]) & set(groups[test_idx])
        assert sorted([*train_idx, *test_idx]) == list(range(len(groups)))
        seen_test += list(test_idx)
    assert sorted(seen_test) == list(range(len(groups)))  # each row tested exactly once


def test_the_group_check_would_catch_leakage(survey):
    """An ungrouped split puts copies of test rows into training; the check above sees it."""
    groups = duplicate_groups(survey.frame)
    y = target_vector(survey.frame, survey.description)
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    assert any(set(groups[tr]) & set(groups[te]) for tr, te in splitter.split(survey.frame, y))


def test_duplicate_groups_on_the_shipped_data(survey):
    groups = duplicate_groups(survey.frame)
    assert len(groups) == 374
    assert sorted(set(groups)) == list(range(132))
    assert len(survey.frame.drop_duplicates()) == 132
    for _, members in survey.frame.groupby(groups):
        assert len(members.drop_duplicates()) == 1  # same group: identical apart from the id


def test_duplicate_groups_by_hand():
    frame = pd.DataFrame(
        {"a": [1.0, 1.0, 2.0, np.nan, np.nan, 1.0], "b": ["x", "x", "x", "y", "y", "y"]},
        index=pd.Index([10, 11, 12, 13, 14, 15], name="person_id"),
    )
    groups = duplicate_groups(frame)
    assert groups[0] == groups[1]
    assert groups[3] == groups[4]  # missing values compare equal
    assert len({groups[0], groups[2], groups[3], groups[5]}) == 4
