"""A classifier worth prescribing from: blank cells, tuning, calibration, monotone constraints.

The survey with blanks is the shipped one with about 30% of its rows given a blank
cell, in covariates and levers, numeric and categorical, read with a description that
allows them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from sleeprx.analysis.plots import reliability_figure
from sleeprx.learn.calibration import (
    CalibrationMap,
    expected_calibration_error,
    reliability_table,
)
from sleeprx.learn.evaluate import METRICS, evaluate_models
from sleeprx.learn.features import SurveyEncoder, target_vector
from sleeprx.learn.model import (
    CLASSIFIERS,
    ModelSettings,
    TuningRecord,
    load_model,
    make_pipeline,
    monotone_constraints,
    pipeline_margin,
    save_model,
    train,
)
from sleeprx.learn.splits import duplicate_groups
from sleeprx.learn.tuning import tune, tune_rows
from sleeprx.survey.description import description_from_dict
from sleeprx.survey.read import read_survey, shipped_survey_path

FAST = ModelSettings(n_estimators=20, max_depth=3, cv_repeats=1, cv_splits=3)
#: The start of a tiny search: few trials (below) and a short patience.
SEARCH = FAST.model_copy(update={"early_stopping_rounds": 5})
MESSY = Path(__file__).resolve().parents[1] / "data" / "messy_sleep_survey.csv"
#: Blanked source columns: covariates (gender, age, BMI category, blood pressure) and levers.
BLANKED = (
    "Gender",
    "Age",
    "BMI Category",
    "Blood Pressure",
    "Sleep Duration",
    "Physical Activity Level",
    "Stress Level",
    "Daily Steps",
)


def _edited(description, edit):
    raw = description.model_dump(mode="json")
    edit(raw)
    return description_from_dict(raw)


@pytest.fixture(scope="module")
def blank_description(description):
    def allow(raw):
        for column in raw["columns"]:
            if column["source"] in BLANKED:
                column["allow_missing"] = True
            if column["name"] == "stress_level":
                column["monotone"] = "decreasing"
            if column["name"] == "physical_activity":
                column["monotone"] = "increasing"
            if column["name"] == "sleep_duration":  # against the data: a hard test
                column["monotone"] = "decreasing"

    return _edited(description, allow)


@pytest.fixture(scope="module")
def blank_survey(blank_description, tmp_path_factory):
    raw = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    rng = np.random.default_rng(7)
    rows = rng.choice(len(raw), size=len(raw) * 3 // 10, replace=False)
    for row in rows:
        for column in rng.choice(BLANKED, size=rng.integers(1, 3), replace=False):
            raw.loc[row, column] = ""
    path = tmp_path_factory.mktemp("blank") / "blank_survey.csv"
    raw.to_csv(path, index=False)
    survey = read_survey(path, blank_description)
    assert survey.frame.isna().any(axis=1).mean() == pytest.approx(0.3, abs=0.01)
    return survey


@pytest.fixture(scope="module")
def tuned(blank_survey):
    return tune(blank_survey, settings=SEARCH, trials=3)


@pytest.fixture(scope="module")
def blank_evaluation(blank_survey, tuned):
    calibrated = {"calibrate": True}  # also score the cross-validated calibration map
    return evaluate_models(
        blank_survey,
        settings=SEARCH.model_copy(update=calibrated),
        tuned=tuned.model_copy(update=calibrated),
    )


@pytest.fixture(scope="module")
def messy_survey():
    from sleeprx.survey.description import load_description, shipped_description_path

    path = shipped_description_path().with_name("messy_sleep.yaml")
    return read_survey(MESSY, load_description(path))


# --- blank cells ----------------------------------------------------------------------


def test_the_blank_survey_has_blanks_in_covariates_levers_and_categories(blank_survey):
    frame = blank_survey.frame
    for name in ("gender", "age", "bmi_category", "bp_systolic", "sleep_duration", "stress_level"):
        assert frame[name].isna().any(), name


def test_a_blank_category_is_all_zeros_in_its_block(blank_survey):
    frame = blank_survey.frame
    X = SurveyEncoder(blank_survey.description).fit(None).transform(frame)
    for column in ("gender", "bmi_category"):
        block = X.filter(like=f"{column}=")
        blank = frame[column].isna().to_numpy()
        assert (block[blank].to_numpy() == 0).all()
        assert (block[~blank].sum(axis=1) == 1).all()  # answered: exactly one category
        assert not block.isna().any().any()
    assert X["sleep_duration"].isna().sum() == frame["sleep_duration"].isna().sum()


def test_every_registered_model_trains_and_evaluates_with_blank_cells(blank_evaluation):
    names = {*CLASSIFIERS, "xgboost_tuned"}
    assert {"hist_gradient_boosting", "logistic_regression", "random_forest"} <= set(CLASSIFIERS)
    for protocol in ("holdout", "grouped_cv"):
        assert set(blank_evaluation[protocol]) == names
        for name, scores in blank_evaluation[protocol].items():
            for metric in METRICS:
                assert 0.0 <= scores[metric] <= 1.0, (protocol, name, metric)
            assert scores["roc_auc"] > 0.6, (protocol, name)
    for name in ("xgboost", "xgboost_tuned"):
        assert 0.0 <= blank_evaluation["grouped_cv"][name]["ece_calibrated"] <= 1.0


def test_comparators_impute_inside_their_own_pipelines_with_an_indicator(blank_survey):
    frame, description = blank_survey.frame, blank_survey.description
    y = target_vector(frame, description)
    for name in ("logistic_regression", "random_forest"):
        pipe = make_pipeline(name, description, FAST).fit(frame, y)
        imputer = pipe.named_steps["classify"].named_steps["impute"]
        assert imputer.add_indicator
        n_blank_columns = int(
            SurveyEncoder(description).fit(None).transform(frame).isna().any().sum()
        )
        assert len(imputer.indicator_.features_) == n_blank_columns > 0
        assert np.isfinite(pipe.predict_proba(frame)).all()


def test_the_trained_xgboost_predicts_people_with_blanks(blank_survey):
    model = train(blank_survey, settings=FAST)
    p = model.predict_proba(blank_survey.frame)
    assert p.notna().all() and ((p > 0) & (p < 1)).all()


# --- tuning -----------------------------------------------------------------------------


def test_tuning_records_its_search_and_uses_the_early_stopping_trees(tuned):
    record = tuned.tuning
    assert record is not None and record.trials == 3
    assert len(record.best_iterations) == FAST.cv_splits
    assert tuned.n_estimators == round(float(np.median(record.best_iterations)))
    assert 0.5 < record.search_best_roc_auc <= 1.0
    assert record.seconds >= 0
    assert 1 <= tuned.max_depth <= 8 and 0.01 <= tuned.learning_rate <= 0.3


def test_tuning_is_reproducible(blank_survey, tuned):
    again = tune(blank_survey, settings=SEARCH, trials=3)
    ignore = {"tuning": {"seconds"}}
    assert again.model_dump(exclude=ignore) == tuned.model_dump(exclude=ignore)


def test_tuned_settings_round_trip_through_save_and_load(blank_survey, tuned, tmp_path):
    model = train(blank_survey, settings=tuned)
    out = save_model(model, tmp_path / "tuned")
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["settings"]["tuning"]["trials"] == 3
    loaded = load_model(out)
    assert loaded.settings == tuned
    assert loaded.booster.num_boosted_rounds() == tuned.n_estimators
    frame = blank_survey.frame
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_the_evaluation_shows_tuned_next_to_untuned(blank_evaluation):
    assert list(blank_evaluation["grouped_cv"])[:2] == ["xgboost", "xgboost_tuned"]
    assert blank_evaluation["calibration"]["model"] == "xgboost_tuned"


def test_the_tuned_score_is_nested(blank_survey, blank_evaluation, tuned):
    """Each outer fold's search sees its training rows only; the score is of the
    procedure, computed here by hand, not of the settings tuned on every row."""
    frame, description = blank_survey.frame, blank_survey.description
    y, groups = target_vector(frame, description), duplicate_groups(frame)
    start = SEARCH.model_copy(update={"calibrate": True})
    outer = StratifiedGroupKFold(n_splits=FAST.cv_splits, shuffle=True, random_state=FAST.seed)
    aucs, briers = [], []
    for tr, te in outer.split(frame, y, groups):
        found = tune_rows(frame.iloc[tr], y[tr], groups[tr], description, settings=start, trials=3)
        pipe = make_pipeline("xgboost", description, found).fit(frame.iloc[tr], y[tr])
        margin = pipeline_margin(pipe, frame.iloc[te])
        aucs.append(roc_auc_score(y[te], margin))
        briers.append(brier_score_loss(y[te], 1 / (1 + np.exp(-margin))))
    nested = blank_evaluation["grouped_cv"]["xgboost_tuned"]
    assert nested["n_folds"] == FAST.cv_splits
    assert nested["roc_auc"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert nested["brier"] == pytest.approx(np.mean(briers), abs=1e-12)  # not rank-based
    summary = blank_evaluation["nested_tuning"]
    assert summary["roc_auc"] == nested["roc_auc"] and summary["trials"] == 3
    assert summary["search_best_roc_auc"] == tuned.tuning.search_best_roc_auc


def test_the_best_of_search_is_named_so(tuned):
    dumped = tuned.model_dump()["tuning"]
    assert "cv_roc_auc" not in dumped and "search_best_roc_auc" in dumped
    best = dumped.pop("search_best_roc_auc")
    old = {**dumped, "cv_roc_auc": best}  # as saved before the rename
    assert TuningRecord.model_validate(old) == tuned.tuning


# --- calibration ----------------------------------------------------------------------


def test_ece_by_hand():
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 1.0])  # bin 0: mean 0.05, rate 0.5; bin 9: 0.975 vs 1
    assert expected_calibration_error(y, p) == pytest.approx((2 * 0.45 + 2 * 0.025) / 4)
    rows = reliability_table(y, p)
    assert [r["n"] for r in rows] == [2, 2]
    assert rows[1]["bin_low"] == pytest.approx(0.9)


@st.composite
def maps(draw):
    a, b = draw(st.floats(0.05, 3)), draw(st.floats(0.05, 3))
    return CalibrationMap(a, b, draw(st.floats(-3, 3)), 100)


@settings(max_examples=300, deadline=None)
@given(maps(), st.floats(1e-6, 1 - 1e-6))
def test_margin_for_is_the_least_margin_that_reaches_p(calibration, p):
    m = calibration.margin_for(p)
    assert math.isfinite(m)
    assert calibration.probability(m) >= p
    assert calibration.probability(np.nextafter(m, -math.inf)) < p  # the smallest


@settings(max_examples=300, deadline=None)
@given(maps(), st.floats(-8, 8))
def test_margin_for_inverts_probability(calibration, x):
    p = float(calibration.probability(x))
    assume(1e-6 < p < 1 - 1e-6)  # where a float probability still resolves the margin
    assert calibration.margin_for(p) == pytest.approx(x, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(maps(), st.lists(st.floats(-5, 5), min_size=2, max_size=50, unique=True))
def test_the_map_strictly_increases(calibration, margins):
    margins = np.sort(margins)
    assume(np.all(np.diff(margins) >= 1e-5))
    p = calibration.probability(margins)
    assert np.all(np.diff(p) > 0)
    assert np.all((p > 0) & (p < 1))


def test_the_identity_map_is_the_sigmoid():
    margin = np.linspace(-8, 8, 101)
    identity = CalibrationMap.identity()
    np.testing.assert_allclose(identity.probability(margin), 1 / (1 + np.exp(-margin)))
    assert identity.margin_for(0.7) == pytest.approx(math.log(0.7 / 0.3), abs=1e-12)


def test_a_fitted_map_gives_distinct_margins_distinct_probabilities_unclipped():
    """No staircase and no clip: every margin keeps its own probability, and people
    beyond the last all-positive block are not pinned at one value."""
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 2, 500)
    y = (rng.random(500) < 1 / (1 + np.exp(-0.5 * margin))).astype(int)
    fitted = CalibrationMap.fit(margin, y)
    p = fitted.probability(margin)
    assert len(np.unique(p)) == len(np.unique(margin))
    assert p.min() > 0 and p.max() < 1
    eps = 0.5 / len(margin)
    assert not np.isin(p, [eps, 1 - eps]).any()
    again = CalibrationMap.from_json(json.loads(json.dumps(fitted.to_json())))
    assert again == fitted and again.n == 500
    # overconfident margins (twice the true log-odds) are pulled back towards it
    assert min(fitted.a, fitted.b) > 0.3 and max(fitted.a, fitted.b) < 0.8


@pytest.fixture(scope="module")
def calibrated(messy_survey):
    """A calibrated model whose map passed its check (the messy survey is overconfident)."""
    model = train(messy_survey, settings=FAST.model_copy(update={"calibrate": True}))
    assert model.calibration_check.improves  # else the tests below test nothing
    return model


@pytest.fixture(scope="module")
def uncalibrated_on_shipped(survey):
    """On the shipped survey a map raises the out-of-fold Brier score: it is refused."""
    settings = FAST.model_copy(update={"calibrate": True})
    return train(survey, settings=settings), train(survey, settings=FAST)


def test_a_map_is_kept_only_if_it_lowers_oof_brier_and_ece(calibrated, uncalibrated_on_shipped):
    for model in (calibrated, uncalibrated_on_shipped[0]):
        check = model.calibration_check
        lowers = check.brier_map < check.brier_identity and check.ece_map < check.ece_identity
        assert (model.calibration is not None) == lowers == check.improves
        assert check.kept == ("map" if lowers else "identity") and check.kept in check.verdict


def test_a_refused_map_leaves_the_identity(uncalibrated_on_shipped, survey, tmp_path):
    refused, plain = uncalibrated_on_shipped
    assert refused.calibration is None and not refused.calibration_check.improves
    assert "identity" in refused.calibration_check.verdict
    frame = survey.frame
    assert np.array_equal(refused.predict_proba(frame), plain.predict_proba(frame))
    assert refused.goal_margin(0.7) == plain.goal_margin(0.7)
    out = save_model(refused, tmp_path / "refused")
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["calibration"]["map"] is None and meta["calibration"]["check"]["kept"] == "identity"
    loaded = load_model(out)
    assert loaded.calibration is None and loaded.calibration_check == refused.calibration_check


def test_a_calibrated_model_predicts_the_same_after_load(calibrated, messy_survey, tmp_path):
    out = save_model(calibrated, tmp_path / "calibrated")
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["calibration"]["map"]["a"] > 0 and meta["settings"]["calibrate"] is True
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "metrics.json", "model.json"]
    loaded = load_model(out)
    frame = messy_survey.frame
    assert np.array_equal(loaded.predict_proba(frame), calibrated.predict_proba(frame))
    expected = calibrated.calibration.probability(calibrated.margin(frame))
    np.testing.assert_allclose(calibrated.predict_proba(frame), expected, rtol=0, atol=1e-6)
    p, margin = calibrated.predict_proba(frame), calibrated.margin(frame)
    assert p.nunique() == margin.nunique()  # distinct margins, distinct probabilities


def test_the_goal_margin_is_exact_for_a_calibrated_model(calibrated, messy_survey):
    frame = messy_survey.frame
    threshold = calibrated.goal_margin(0.7)
    reached = calibrated.predict_proba(frame).to_numpy() >= 0.7
    margin = calibrated.calibration.probability  # p is a function of the margin alone
    assert np.array_equal(reached, margin(calibrated.margin(frame)) >= 0.7)
    assert np.array_equal(reached, calibrated.margin(frame).to_numpy() >= threshold)


def test_a_map_without_calibrate_in_the_settings_is_refused(calibrated, tmp_path):
    from sleeprx.utils.errors import ArtifactError

    out = save_model(calibrated, tmp_path / "m")
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    meta["settings"]["calibrate"] = False
    (out / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ArtifactError, match="calibrat"):
        load_model(out)


def test_the_evaluation_reports_ece_before_and_after(blank_evaluation):
    summary = blank_evaluation["calibration"]
    assert 0 <= summary["ece_before"] <= 1 and 0 <= summary["ece_after"] <= 1
    assert sum(r["n"] for r in summary["reliability_before"]) == blank_evaluation["data"]["n_rows"]
    assert summary["kept"] in ("map", "identity") and summary["kept"] in summary["verdict"]
    fig = reliability_figure(blank_evaluation)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.has_data()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3  # diagonal, before, after
    assert "ECE" in labels[1] and "Brier" in labels[2]
    assert f"{summary['kept']} kept" in labels[2]


def test_the_evaluation_says_what_train_keeps(blank_survey, blank_evaluation, tuned):
    summary = blank_evaluation["calibration"]
    model = train(blank_survey, settings=tuned.model_copy(update={"calibrate": True}))
    check = model.calibration_check
    assert summary["verdict"] == check.verdict and summary["kept"] == check.kept
    assert summary["brier_after"] == check.brier_map and summary["ece_after"] == check.ece_map
    assert summary["distinct_after"] == summary["distinct_before"]


# --- monotone constraints -------------------------------------------------------------


def test_monotone_constraints_come_from_the_description(blank_description):
    assert monotone_constraints(blank_description) == {
        "physical_activity": 1,
        "stress_level": -1,
        "sleep_duration": -1,
    }
    params = (
        make_pipeline("xgboost", blank_description, FAST.model_copy(update={"monotone": True}))
        .named_steps["classify"]
        .get_params()
    )
    signs = params["monotone_constraints"].strip("()").split(",")
    names = list(SurveyEncoder(blank_description).fit(None).get_feature_names_out())
    assert signs[names.index("stress_level")] == "-1"
    assert signs[names.index("physical_activity")] == "1"
    assert signs[names.index("sleep_duration")] == "-1"
    assert signs.count("0") == len(names) - 3


def _sweep(model, frame, column, values):
    """Each person's probability as ``column`` runs through ``values`` (people x values)."""
    return np.column_stack(
        [model.predict_proba(frame.assign(**{column: v})).to_numpy() for v in values]
    )


def test_monotone_constraints_are_honoured(blank_survey):
    frame = blank_survey.frame
    settings = ModelSettings(n_estimators=60, max_depth=4, monotone=True)
    model = train(blank_survey, settings=settings)
    stress = _sweep(model, frame, "stress_level", np.arange(1, 11))
    assert np.all(np.diff(stress, axis=1) <= 0)  # never rises as stress rises
    sleep = _sweep(model, frame, "sleep_duration", np.arange(5.0, 9.01, 0.25))
    assert np.all(np.diff(sleep, axis=1) <= 0)
    activity = _sweep(model, frame, "physical_activity", np.arange(0, 121, 5))
    assert np.all(np.diff(activity, axis=1) >= 0)
    # the check would catch a model without them
    free = train(blank_survey, settings=settings.model_copy(update={"monotone": False}))
    free_sleep = _sweep(free, frame, "sleep_duration", np.arange(5.0, 9.01, 0.25))
    assert np.any(np.diff(free_sleep, axis=1) > 0)


def test_scores_after_calibration_only_when_a_map_is_asked_for(blank_survey):
    plain = evaluate_models(blank_survey, settings=FAST, models=("xgboost",))
    assert "ece_calibrated" not in plain["grouped_cv"]["xgboost"]
    assert "ece_after" not in plain["calibration"] and "ece_before" in plain["calibration"]
