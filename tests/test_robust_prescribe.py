"""Robust prescriptions end to end: prescribe under settings.robust, the confidence
columns of a model with bootstrap boosters, the summary's validity and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sleeprx.analysis.fronts import population_curve
from sleeprx.analysis.report import RunSummary, summary_markdown
from sleeprx.learn.model import ModelSettings, train
from sleeprx.optimize.robust import least_count, robust_best
from sleeprx.prescribing import columns
from sleeprx.prescribing.confidence import confidence
from sleeprx.prescribing.run import prepare_problems, prescribe
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings, make_settings
from sleeprx.survey.description import load_description, shipped_description_path
from sleeprx.survey.read import read_survey
from sleeprx.utils.errors import ConfigError
from sleeprx.utils.files import write_table

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "data" / "messy_sleep_survey.csv"
B = 4


@pytest.fixture(scope="module")
def messy():
    """The messy example, a tiny model with four bootstrap boosters and one without."""
    description = load_description(shipped_description_path().with_name("messy_sleep.yaml"))
    survey = read_survey(MESSY, description)
    small = {"n_estimators": 30, "max_depth": 3}
    with_refits = train(survey, settings=ModelSettings(**small, bootstrap=B))
    plain = train(survey, settings=ModelSettings(**small))
    return survey, with_refits, plain


IDS = [f"R-{i:05d}" for i in range(1, 41)]  # the messy survey's text ids
SETTINGS = {
    "goal": {"mode": "exact", "max_changes": 2, "goal": 0.7, "robust": 0.75},
    "penalised": {"mode": "exact", "max_changes": 2, "robust": 0.75},
}


@pytest.fixture(scope="module", params=list(SETTINGS))
def robust_run(request, messy):
    survey, model, _ = messy
    settings = PrescribeSettings(**SETTINGS[request.param])
    return settings, prescribe(survey, model, settings=settings, ids=IDS)


def _levels(table: pd.DataFrame, row: pd.Series, problem) -> tuple[int, ...]:
    """The level index of each factor that the row's ``_after`` values name."""
    return tuple(
        int(np.flatnonzero(np.isclose(f.levels, row[columns.after(f.name)]))[0])
        for f in problem.factors
    )


def test_prescribe_gives_robust_best_for_every_person(messy, robust_run):
    survey, model, _ = messy
    settings, table = robust_run
    problems = prepare_problems(model, survey.frame.loc[IDS], settings)
    answered = 0
    for _, row in table.iterrows():
        found = robust_best(problems[row["person_id"]], settings)
        if found.levels is None:
            assert row["status"] == Status.INFEASIBLE
            continue
        main = problems[row["person_id"]].main
        if row["status"] == Status.CHANGED:
            answered += 1
            assert _levels(table, row, main) == found.levels
            assert row["gain_planned"] == pytest.approx(found.gain)
        else:  # the robust optimum held back by the minimum-gain rule, or the status quo
            assert row["status"] == Status.NO_CHANGE
    assert answered > 0


def test_every_change_holds_in_the_share_of_refits_it_was_asked_to(robust_run):
    settings, table = robust_run
    changed = table[table["status"] == Status.CHANGED]
    if settings.goal is not None:  # the refits alone must reach the goal
        least = least_count(settings.robust, B) / B
    else:  # ceil(Q (B + 1)) of the main model and its refits gain, the main one among them
        least = (least_count(settings.robust, B + 1) - 1) / B
    assert len(changed) and (changed["validity"] >= least - 1e-12).all()
    assert changed["advice"].str.contains(r"Holds in \d of 4 refitted models").all()


def test_a_plain_optimum_can_fall_short_of_what_robust_mode_promises(messy):
    """Without robust mode some changes of the same people hold in fewer refits."""
    survey, model, _ = messy
    plain = PrescribeSettings(**SETTINGS["goal"] | {"robust": None})
    table = prescribe(survey, model, settings=plain, ids=IDS)
    changed = table[table["status"] == Status.CHANGED]
    assert (changed["validity"] < least_count(0.75, B) / B).any()


def test_no_change_robust_enough_is_infeasible_and_says_so(robust_run):
    settings, table = robust_run
    if settings.goal is None:
        pytest.skip("the penalised program keeps the status quo")
    infeasible = table[table["status"] == Status.INFEASIBLE]
    assert len(infeasible)
    assert (
        infeasible["advice"]
        .str.contains(
            "reaches p >= 0.7 by the model itself and in 75% (3 of 4) of its refitted models",
            regex=False,
        )
        .all()
    )
    assert infeasible["validity"].isna().all()


def test_the_robust_penalised_objective_is_the_robust_statistic(messy):
    survey, model, _ = messy
    settings = PrescribeSettings(**SETTINGS["penalised"], min_gain=0.0, min_gain_prob=0.0)
    table = prescribe(survey, model, settings=settings, ids=IDS[:10])
    problems = prepare_problems(model, survey.frame.loc[IDS[:10]], settings)
    for _, row in table[table["status"] == Status.CHANGED].iterrows():
        found = robust_best(problems[row["person_id"]], settings)
        assert row["objective"] == pytest.approx(found.statistic - settings.lam * row["cost"])


def test_the_confidence_columns_are_the_refits_own(messy, robust_run):
    survey, model, _ = messy
    settings, table = robust_run
    changed = table[table["status"] == Status.CHANGED].set_index("person_id")
    after = survey.frame.loc[changed.index].copy()
    for name in model.description.modifiable_names:
        after[name] = changed[columns.after(name)].to_numpy(float)
    own = confidence(model, survey.frame.loc[changed.index], after, goal=settings.goal)
    names = [c.name for c in columns.CONFIDENCE]
    pd.testing.assert_frame_equal(changed[names], own[names], check_names=False)


def test_json_carries_the_confidence_columns(robust_run, tmp_path):
    _, table = robust_run
    path = write_table(table, tmp_path / "p.json", "json")
    records = json.loads(path.read_text())
    names = [c.name for c in columns.CONFIDENCE]
    assert all(set(names) <= set(r) for r in records)
    assert list(records[0])[-len(names) :] == names


def test_a_model_without_bootstraps_gives_todays_table(messy):
    survey, _, plain = messy
    for settings in (PrescribeSettings(), PrescribeSettings(mode="exact", goal=0.7)):
        table = prescribe(survey, plain, settings=settings, ids=IDS[:10])
        assert list(table.columns) == columns.names(plain.description.modifiable_names)
        assert "refitted" not in " ".join(table["advice"])


def test_robust_needs_bootstrap_boosters_and_exact_mode(messy):
    survey, _, plain = messy
    with pytest.raises(ConfigError, match=r"no bootstrap boosters; .*ModelSettings\.bootstrap"):
        prescribe(survey, plain, settings=PrescribeSettings(mode="exact", robust=0.9))
    with pytest.raises(ConfigError, match=r"robust 0\.9 needs mode 'exact'"):
        make_settings(robust=0.9)
    for q in (0.0, 1.5):
        with pytest.raises(ConfigError, match="robust"):
            make_settings(mode="exact", robust=q)


def test_the_summary_states_validity_beside_the_shares(messy, robust_run, description):
    survey = messy[0]
    settings, table = robust_run
    changed = table[table["status"] == Status.CHANGED]
    row = {"f1": 0.9, "accuracy": 0.9, "roc_auc": 0.95, "brier": 0.08}
    metrics = {"holdout": {"x": row}, "grouped_cv": {"x": row}, "data": {}}
    metrics["data"] = {"n_distinct_rows": 1, "n_rows": 1}
    fronts = pd.DataFrame(
        {
            "person_id": [1, 1],
            "sweep": ["k"] * 2,
            "k": [0, 1],
            "n_changes": [0, 1],
            "intensity": [0.0, 1.0],
            "gain_planned": [0.0, 1.0],
            "gain_surrogate": [0.0, 1.0],
            "gain_verified": [0.0, 1.0],
            "p_before": [0.3, 0.3],
            "p_after": [0.3, 0.55],
        }
    )
    curve = population_curve(fronts, by="k")
    summary = RunSummary("r", settings, metrics, table, curve, survey.description, refits=B)
    text = summary_markdown(summary)
    mean = changed["validity"].mean()
    share = (changed["validity"] >= 0.9 - 1e-12).mean()
    assert f"mean {mean:.3f}; valid in >= 90% of the refits: {share:.1%}" in text
    assert f"robust Q={settings.robust:g}" in text
    plain = summary_markdown(RunSummary("r", settings, metrics, table, curve, description))
    assert "validity" not in plain  # a model without refits: no validity to report


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sleeprx.app.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_cli_trains_bootstraps_then_prescribes_robustly(tmp_path):
    from sleeprx.survey.read import shipped_survey_path

    lines = shipped_survey_path().read_text().splitlines()
    small = tmp_path / "small.csv"  # every third row: quick to evaluate and train
    small.write_text("\n".join([lines[0], *lines[1::3]]) + "\n")
    model = tmp_path / "m"
    trained = _cli("train", "--survey", small, "--out", model, "--cv-repeats", 1, "--bootstrap", 3)
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "p.json"
    args = ["prescribe", "--model", model, "--survey", small, "--out", out, "--mode", "exact"]
    result = _cli(*args, "--robust", 0.9, "--goal", "p>=0.7")
    assert result.returncode == 0, result.stderr
    table = pd.DataFrame(json.loads(out.read_text()))
    changed = table[table["status"] == Status.CHANGED]
    assert len(changed) and (changed["validity"] >= least_count(0.9, 3) / 3).all()
    assert table.loc[table["status"] == Status.INFEASIBLE, "advice"].str.contains("90%").all()
    surrogate = _cli(*args[:-2], "--robust", 0.9)
    assert surrogate.returncode == 2 and "needs mode 'exact'" in surrogate.stderr
    assert not math.isnan(changed["p_after_low"].astype(float).iloc[0])


def test_the_cli_refuses_robust_for_a_model_without_bootstraps(messy, tmp_path):
    from sleeprx.learn.model import save_model

    _, _, plain = messy
    folder = save_model(plain, tmp_path / "plain")
    out = tmp_path / "p.csv"
    refused = _cli("prescribe", "--model", folder, "--survey", MESSY, "--out", out,
                   "--mode", "exact", "--robust", 0.9)  # fmt: skip
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "no bootstrap boosters" in refused.stderr and "train --bootstrap" in refused.stderr
    assert not out.exists()


def test_a_pipeline_file_asking_robust_surrogate_prescriptions_is_refused(tmp_path):
    from sleeprx.app.config import load_pipeline

    path = tmp_path / "p.yaml"
    path.write_text("prescribe: {robust: 0.9}\nmodel: {bootstrap: 3}\n")
    with pytest.raises(ConfigError, match=r"prescribe: robust 0\.9 needs mode 'exact'"):
        load_pipeline(path)
    path.write_text("prescribe: {mode: exact, robust: 0.9}\nmodel: {bootstrap: 3}\n")
    config = load_pipeline(path)
    assert config.prescribe.robust == 0.9 and config.model.bootstrap == 3
