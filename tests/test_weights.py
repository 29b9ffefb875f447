"""Survey weights, strata and PSUs: the description's ``design``, weighted training and
evaluation, and population figures with design-based intervals, each checked against a
hand computation on a weighted copy of the shipped survey."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from scipy.special import expit
from test_cli import sleeprx as sleeprx_cli
from xgboost import XGBClassifier

from sleeprx.analysis.fronts import person_fronts, population_curve
from sleeprx.analysis.report import weights_lines
from sleeprx.analysis.weighted import design_means, prescription_shares, weighted_quantile
from sleeprx.app.config import load_pipeline
from sleeprx.app.pipeline import run_pipeline
from sleeprx.learn.calibration import CalibrationMap
from sleeprx.learn.evaluate import score
from sleeprx.learn.features import SurveyEncoder, target_vector
from sleeprx.learn.model import ModelSettings, save_model, train, xgboost_params
from sleeprx.learn.tuning import _tuning_folds
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.status import Status
from sleeprx.survey.description import description_from_dict, shipped_description_path
from sleeprx.survey.design import design_of
from sleeprx.survey.read import read_survey, shipped_survey_path
from sleeprx.utils.errors import DescriptionError, SurveyError

DESIGN_COLUMNS = [
    {"source": "Weight", "name": "weight", "type": "numeric", "feature": False},
    {"source": "Stratum", "name": "stratum", "type": "categorical", "feature": False,
     "categories": ["north", "south"]},
    {"source": "PSU", "name": "psu", "type": "integer", "feature": False},
]  # fmt: skip


def weighted_description(design: dict | None = None, columns: list | None = None):
    raw = yaml.safe_load(shipped_description_path().read_text(encoding="utf-8"))
    raw["columns"] += DESIGN_COLUMNS if columns is None else columns
    raw["design"] = design or {"weight": "weight", "strata": "stratum", "psu": "psu"}
    return description_from_dict(raw)


def weighted_csv(path, weight=None):
    """The shipped survey with a weight (4 for the stressed, so that the weighted shares
    move), two strata and five PSUs in each."""
    frame = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    ids = frame["Person ID"].astype(int)
    stressed = frame["Stress Level"].astype(int) >= 7
    frame["Weight"] = np.where(stressed, 4.0, 1.0) if weight is None else weight
    frame["Stratum"] = np.where(ids % 2 == 0, "north", "south")
    frame["PSU"] = (ids % 2) * 10 + (ids // 2) % 5
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def weighted(tmp_path_factory):
    path = weighted_csv(tmp_path_factory.mktemp("weighted") / "weighted.csv")
    return read_survey(path, weighted_description())


@pytest.fixture(scope="module")
def weighted_model(weighted):
    return train(weighted, settings=ModelSettings(n_estimators=30, max_depth=3))


@pytest.fixture(scope="module")
def weighted_table(weighted, weighted_model):
    return prescribe(weighted, weighted_model)


def hand_mean(y, w, stratum, psu, inside):
    """The weighted domain mean, its Taylor-linearised standard error (PSUs with
    replacement within strata over the whole design) and its 95% interval on the
    degrees of freedom of the PSUs holding someone of the domain less their strata: t
    for a mean, the logit interval for a share of 0s and 1s."""
    y, w, inside = np.nan_to_num(np.asarray(y, float)), np.asarray(w, float), np.asarray(inside)
    total = (w * inside).sum()
    mean = (w * inside * y).sum() / total
    z = w * inside * (y - mean) / total
    variance = 0.0
    for h in np.unique(stratum):
        units = pd.Series(z[stratum == h]).groupby(psu[stratum == h]).sum().to_numpy()
        variance += len(units) / (len(units) - 1) * ((units - units.mean()) ** 2).sum()
    se = np.sqrt(variance)
    df = len(set(zip(stratum[inside], psu[inside], strict=True))) - len(set(stratum[inside]))
    t = stats.t.ppf(0.975, df)
    if not set(np.unique(y[inside])) <= {0.0, 1.0}:
        return mean, se, mean - t * se, mean + t * se
    if mean in (0.0, 1.0):  # everybody or nobody: no variation to put an interval on
        return mean, se, mean, mean
    logit, spread = np.log(mean / (1 - mean)), t * se / (mean * (1 - mean))
    return mean, se, expit(logit - spread), expit(logit + spread)


def test_weighted_shares_equal_a_hand_computation_and_differ_from_unweighted(
    weighted, weighted_table
):
    design = design_of(weighted.frame, weighted.description)
    shares = prescription_shares(weighted_table, design)
    table = weighted_table.set_index("person_id").loc[weighted.frame.index]
    ok = table["status"].isin([Status.CHANGED, Status.NO_CHANGE]).to_numpy()
    changed = table["status"].eq(Status.CHANGED).to_numpy()
    p_before = table["p_before"].to_numpy(float)
    p_after = np.where(changed, table["p_after"].to_numpy(float), p_before)
    w = weighted.frame["weight"].to_numpy(float)
    stratum, psu = weighted.frame["stratum"].to_numpy(), weighted.frame["psu"].to_numpy()
    people = {
        "helped": changed & (p_after > p_before),
        "positive_before": p_before >= 0.5,
        "positive_after": p_after >= 0.5,
        "mean_p_before": p_before,
    }
    for name, y in people.items():
        mean, se, low, high = hand_mean(y, w, stratum, psu, ok)
        got = shares[name]
        assert got.value == pytest.approx(mean, abs=1e-12), name
        assert got.se == pytest.approx(se, rel=1e-9), name
        assert (got.low, got.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
        assert got.low <= got.value <= got.high
        unweighted = np.asarray(y, float)[ok].mean()
        if 0 < unweighted < 1:  # a share everybody (or nobody) has is the same weighted
            assert got.low < got.value < got.high
            assert abs(got.value - unweighted) > 0.01, f"{name}: weights should move it"


def test_weighted_population_curve_equals_hand_means(weighted, weighted_model):
    design = design_of(weighted.frame, weighted.description)
    people = weighted.frame.index[::3]  # a third of the people: the rest lie outside
    fronts = person_fronts(weighted_model, weighted.frame.loc[people], ks=(0, 1, 2), budgets=(2,))
    curve = population_curve(fronts, by="k", design=design).set_index("k")
    plain = population_curve(fronts, by="k").set_index("k")
    w = weighted.frame["weight"]
    stratum, psu = weighted.frame["stratum"].to_numpy(), weighted.frame["psu"].to_numpy()
    for k in (1, 2):
        at = fronts[fronts["k"].eq(k) & fronts["sweep"].eq("k")].set_index("person_id")
        inside = weighted.frame.index.isin(at.index)
        for column, y in (
            ("mean_gain_verified", at["gain_verified"]),
            ("share_changed", (at["n_changes"] > 0).astype(float)),
            ("share_predicted_positive", (at["p_after"] >= 0.5).astype(float)),
        ):
            y = y.reindex(weighted.frame.index).to_numpy(float)
            mean, _, low, high = hand_mean(y, w.to_numpy(), stratum, psu, inside)
            assert curve.loc[k, column] == pytest.approx(mean, abs=1e-12)
            assert curve.loc[k, f"{column}_low"] == pytest.approx(low, rel=1e-9)
            assert curve.loc[k, f"{column}_high"] == pytest.approx(high, rel=1e-9)
        assert curve.loc[k, "mean_gain_verified"] != pytest.approx(
            plain.loc[k, "mean_gain_verified"]
        )
        assert "mean_gain_verified_low" not in plain


def test_training_weights_every_row_as_xgboost_sample_weight(weighted, weighted_model):
    frame, description = weighted.frame, weighted.description
    settings = weighted_model.settings
    X = SurveyEncoder(description).fit(None).transform(frame)
    y = target_vector(frame, description)
    direct = XGBClassifier(**xgboost_params(settings, description))
    direct.fit(X, y, sample_weight=frame["weight"].to_numpy(float))
    plain = XGBClassifier(**xgboost_params(settings, description)).fit(X, y)
    margin = weighted_model.margin(frame).to_numpy()
    np.testing.assert_allclose(margin, direct.predict(X, output_margin=True), atol=1e-6)
    assert np.abs(margin - plain.predict(X, output_margin=True)).max() > 1e-3


def test_weighted_scores_equal_those_of_the_sample_with_each_row_repeated():
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 200), rng.random(200)
    w = rng.integers(1, 5, 200)
    weighted = score(y, p, w.astype(float))
    repeated = score(np.repeat(y, w), np.repeat(p, w))
    assert weighted == pytest.approx(repeated, rel=1e-12)
    assert weighted != pytest.approx(score(y, p), rel=1e-6)


def test_weighted_quantile_is_the_repeated_samples_lower_quantile():
    values, weights = np.array([3.0, 1.0, 2.0, 5.0]), np.array([1, 2, 1, 3])
    repeated = np.repeat(values, weights)
    for q in (0.25, 0.5, 0.75):
        assert weighted_quantile(values, weights, q) == np.quantile(repeated, q, method="lower")


def test_summary_says_whether_weights_were_used(weighted, weighted_table):
    design = design_of(weighted.frame, weighted.description)
    shares = prescription_shares(weighted_table, design)
    used = "\n".join(weights_lines(design, shares))
    assert "weight 'weight', strata 'stratum', PSUs 'psu'" in used
    assert f"{shares['helped'].value:.1%} (95% CI {shares['helped'].low:.1%}" in used
    assert "not weighted" in "\n".join(weights_lines(None, None))


def test_a_stratum_with_one_psu_is_refused(weighted):
    frame = weighted.frame.copy()
    frame.loc[frame["stratum"].eq("north"), "psu"] = 0
    design = design_of(frame, weighted.description)
    with pytest.raises(SurveyError, match="stratum 'north' of column 'stratum' has a single PSU"):
        design_means(design, frame[["weight"]])


def test_a_weight_without_strata_or_psus_treats_people_as_drawn_independently(weighted):
    description = weighted_description({"weight": "weight"})
    design = design_of(weighted.frame, description)
    y = (weighted.frame["stress_level"] >= 5).astype(float)
    got = design_means(design, y.to_frame("y"))["y"]
    w = weighted.frame["weight"].to_numpy()
    one = np.zeros(len(w), dtype=int)
    mean, se, _, _ = hand_mean(y.to_numpy(), w, one, np.arange(len(w)), np.ones(len(w), bool))
    assert (got.value, got.se) == (pytest.approx(mean), pytest.approx(se))


@pytest.mark.parametrize(
    ("design", "columns", "message"),
    [
        ({"weight": "wait"}, None, "design.weight 'wait' is not a column"),
        ({"weight": "stratum"}, None, "must be a numeric or integer column, not categorical"),
        ({"weight": "weight", "psu": "weight"}, None, "must be different columns"),
        ({"weight": "age"}, None, "set 'feature: false' on the column"),
        (
            {"weight": "weight"},
            [{"source": "Weight", "name": "weight", "type": "numeric", "feature": False,
              "allow_missing": True}],
            "every person needs one",
        ),
        ({"weight": "weight", "cluster": "psu"}, None, "cluster"),
    ],
)  # fmt: skip
def test_bad_designs_are_refused_naming_the_key(design, columns, message):
    with pytest.raises(DescriptionError, match=message):
        weighted_description(design, columns)


def test_a_weight_that_is_not_positive_is_a_row_error_naming_the_cell(tmp_path):
    path = weighted_csv(tmp_path / "w.csv", weight=[1.0] * 373 + [0.0])
    with pytest.raises(SurveyError, match=r"row 374 \(line 375\), column 'Weight': 0 is not a"):
        read_survey(path, weighted_description())


@pytest.mark.slow
def test_a_weighted_run_says_so_and_records_the_population_shares(tmp_path):
    survey = weighted_csv(tmp_path / "weighted.csv")
    description = tmp_path / "weighted.yaml"
    description.write_text(yaml.safe_dump(weighted_description().model_dump(mode="json")))
    path = tmp_path / "pipe.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: weighted
            data: {{survey: {survey}, description: {description}}}
            model: {{n_estimators: 20, max_depth: 3, cv_splits: 3, cv_repeats: 1}}
            pareto: {{budgets: [0, 2], ks: [0, 1], people: [1, 2, 3, 4, 5, 6]}}
            sensitivity: {{lams: [0.1], resistance_scales: [1.0], ks: [1]}}
            fidelity: {{enabled: false}}
            output: {tmp_path / "run"}
            """
        )
    )
    out = run_pipeline(load_pipeline(path), source=path).out_dir
    markdown = (out / "summary.md").read_text()
    assert "Survey weights: used (weight 'weight', strata 'stratum', PSUs 'psu')" in markdown
    summary = json.loads((out / "summary.json").read_text())
    table = pd.read_csv(out / "prescriptions.csv")
    read = read_survey(survey, weighted_description())
    shares = prescription_shares(table, design_of(read.frame, read.description))
    assert summary["weighted"] is True
    assert summary["weighted_shares"]["helped"]["value"] == pytest.approx(shares["helped"].value)
    assert (
        f"- helped (a change that raises the model's probability): {shares['helped']}" in markdown
    )


def test_the_readme_design_example_is_a_valid_description_part():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Weighted surveys\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```yaml\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    part = yaml.safe_load(block)
    raw = yaml.safe_load(shipped_description_path().read_text(encoding="utf-8"))
    raw["columns"] += part["columns"]
    description = description_from_dict({**raw, "design": part["design"]})
    assert description.design.columns == ("sample_weight", "stratum", "psu")
    assert not set(description.design.columns) & set(description.feature_columns)


def test_a_weighted_calibration_map_is_the_map_of_the_sample_with_each_row_repeated():
    rng = np.random.default_rng(5)
    margins = rng.normal(0, 2, 300)
    y = (rng.random(300) < expit(0.6 * margins + 0.4)).astype(int)
    w = rng.integers(1, 4, 300)
    weighted = CalibrationMap.fit(margins, y, w.astype(float))
    repeated = CalibrationMap.fit(np.repeat(margins, w), np.repeat(y, w))
    grid = np.linspace(-4, 4, 9)
    np.testing.assert_allclose(weighted.probability(grid), repeated.probability(grid), atol=1e-5)
    assert (
        np.abs(weighted.probability(grid) - CalibrationMap.fit(margins, y).probability(grid)).max()
        > 1e-3
    )


def test_the_tuning_search_fits_stops_and_scores_with_the_weights(weighted):
    frame, description = weighted.frame, weighted.description
    X = SurveyEncoder(description).fit(None).transform_array(frame)
    y = target_vector(frame, description)
    w = frame["weight"].to_numpy(float)
    folds = _tuning_folds(X, y, np.arange(len(y)), ModelSettings(), w)
    fitted = np.concatenate([f[0].get_weight() for f in folds] + [f[1].get_weight() for f in folds])
    assert set(fitted) == {1.0, 4.0}
    assert np.concatenate([f[4] for f in folds]).sum() == pytest.approx(w.sum())  # each test once
    assert all(f[4] is None for f in _tuning_folds(X, y, np.arange(len(y)), ModelSettings()))


@pytest.mark.slow
def test_sleeprx_pareto_writes_weighted_curves_and_refuses_a_lonely_psu(weighted_model, tmp_path):
    model_dir = save_model(weighted_model, tmp_path / "model")
    good = weighted_csv(tmp_path / "weighted.csv")
    done = sleeprx_cli(
        "pareto", "--model", model_dir, "--survey", good, "--out", "out", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    curve = pd.read_csv(tmp_path / "out" / "population_k.csv")
    inside = curve["mean_p_after_low"].le(curve["mean_p_after"]) & curve["mean_p_after"].le(
        curve["mean_p_after_high"]
    )
    assert inside.all() and curve["mean_p_after_high"].gt(curve["mean_p_after_low"]).any()
    lonely = pd.read_csv(good, dtype=str, keep_default_na=False)
    lonely.loc[lonely["Stratum"].eq("north"), "PSU"] = "0"
    lonely.to_csv(tmp_path / "lonely.csv", index=False)

    lonely_csv = tmp_path / "lonely.csv"
    done = sleeprx_cli(
        "pareto", "--model", model_dir, "--survey", lonely_csv, "--out", "o2", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: design: stratum 'north' of column 'stratum' has a single PSU, so its variance "
        "cannot be estimated; merge it with another"
    ]
    assert not (tmp_path / "o2").exists()
