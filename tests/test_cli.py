"""The command line: contracts, exit codes and whole-or-nothing outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest


def sleeprx(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sleeprx.app.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_prescribe_writes_the_table(small_model_dir, tmp_path):
    out = tmp_path / "p.csv"
    result = sleeprx("prescribe", "--model", small_model_dir, "--out", out, "--ids", "1,5,9")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert table["person_id"].tolist() == [1, 5, 9]
    assert "not medical advice" in result.stdout


def test_prescribe_json_exact_goal(small_model_dir, tmp_path):
    out = tmp_path / "p.json"
    result = sleeprx(
        "prescribe",
        "--model",
        small_model_dir,
        "--out",
        out,
        "--ids",
        "1,2",
        "--format",
        "json",
        "--mode",
        "exact",
        "--goal",
        "p>=0.7",
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    assert [r["person_id"] for r in rows] == [1, 2]
    assert {r["mode"] for r in rows} == {"exact"}


def test_prescribe_options_writes_up_to_n_plans_per_person(small_model_dir, tmp_path):
    out = tmp_path / "p.json"
    args = ("prescribe", "--model", small_model_dir, "--out", out, "--ids", "1,2,3")
    result = sleeprx(*args, "--options", "3")
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    assert list(rows[0])[:2] == ["person_id", "option"]
    pairs = [(r["person_id"], r["option"]) for r in rows]
    assert pairs == sorted(pairs) and {p for p, _ in pairs} == {1, 2, 3}
    assert all(r["status"] == "changed" for r in rows if r["option"] > 1)
    assert "3 people, up to 3 plans each" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--survey", "missing.csv"], "missing.csv: survey file not found"),
        (["--goal", "p>=1.5"], "--goal 'p>=1.5'"),
        (["--ids", "1,x"], "person id 'x': not an id of this survey"),
        (["--ids", "9999"], "no person with id 9999"),
        (["--mode", "magic"], "mode"),
        (["--max-changes", "-1"], "max_changes"),
        (["--ids", ","], "names no one"),
        (["--format", "xml"], "--format 'xml'"),
        (["--lam", "-1"], "lam"),
        (["--options", "0"], "options"),
        (["--options", "2", "--mode", "exact", "--robust", "0.8"], "options 2 with robust"),
    ],
)
def test_bad_input_exits_2_without_traceback(small_model_dir, tmp_path, args, message):
    out = tmp_path / "p.csv"
    out.write_text("previous results\n")
    result = sleeprx("prescribe", "--model", small_model_dir, "--out", out, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "previous results\n"  # nothing half-written


def test_bad_survey_file_names_row_column_value(small_model_dir, tmp_path):
    from sleeprx.survey.read import shipped_survey_path

    lines = shipped_survey_path().read_text().splitlines()
    lines[3] = lines[3].replace("Normal", "Gigantic", 1) if "Normal" in lines[3] else lines[3]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = sleeprx("train", "--survey", bad, "--out", tmp_path / "m")
    assert result.returncode == 2
    assert "bad.csv row 3 (line 4), column 'BMI Category': 'Gigantic'" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_folder(tmp_path):
    result = sleeprx("prescribe", "--model", tmp_path / "nope", "--out", tmp_path / "p.csv")
    assert result.returncode == 2
    assert "model.json: not found" in result.stderr


@pytest.mark.slow
def test_pareto_then_plot_redraws_without_solving(small_model_dir, tmp_path):
    out = tmp_path / "pareto"
    result = sleeprx("pareto", "--model", small_model_dir, "--out", out)
    assert result.returncode == 0, result.stderr
    fronts = pd.read_csv(out / "pareto.csv")
    assert fronts["person_id"].nunique() == 374
    assert (out / "population_k.csv").is_file()
    result = sleeprx("plot", "--run", out)
    assert result.returncode == 0, result.stderr
    assert (out / "figures" / "pareto_population.png").is_file()
    assert (out / "figures" / "pareto_k.svg").is_file()


def test_plot_on_a_folder_without_tables(tmp_path):
    result = sleeprx("plot", "--run", tmp_path)
    assert result.returncode == 2
    assert "is this a run folder?" in result.stderr


@pytest.mark.slow
def test_train_writes_three_files_and_a_table(tmp_path):
    out = tmp_path / "model"
    result = sleeprx("train", "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "metrics.json", "model.json"]
    assert "grouped_cv" in result.stdout and "xgboost" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["holdout"]) == {
        "xgboost",
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
    }


@pytest.mark.slow
def test_train_tunes_calibrates_and_constrains(tmp_path):
    out = tmp_path / "model"
    args = ("--tune", "--trials", "2", "--calibrate", "--monotone", "--cv-repeats", "1")
    result = sleeprx("train", "--out", out, *args)
    assert result.returncode == 0, result.stderr
    assert "xgboost_tuned" in result.stdout and "ECE cal." in result.stdout
    assert "tuned in" in result.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["settings"]["tuning"]["trials"] == 2
    assert meta["settings"]["calibrate"] and meta["settings"]["monotone"]
    assert meta["calibration"]["check"]["kept"] in ("map", "identity")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tuning"] == meta["settings"]["tuning"]
    assert metrics["calibration"]["kept"] == meta["calibration"]["check"]["kept"]
    assert metrics["calibration"]["verdict"] in result.stderr
    nested = metrics["nested_tuning"]["roc_auc"]
    assert nested == metrics["grouped_cv"]["xgboost_tuned"]["roc_auc"]
    assert f"nested grouped-CV AUC {nested:.4f}" in result.stderr
    assert "ece_calibrated" in metrics["grouped_cv"]["xgboost_tuned"]


def test_unwritable_outputs_are_one_line_errors(small_model_dir, tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    result = sleeprx("prescribe", "--model", small_model_dir, "--out", folder, "--ids", "1")
    assert result.returncode == 2
    assert "is a folder" in result.stderr and "Traceback" not in result.stderr
    a_file = tmp_path / "a_file"
    a_file.write_text("x\n")
    result = sleeprx("train", "--out", a_file)
    assert result.returncode == 2
    assert "exists and is not a folder" in result.stderr and "Traceback" not in result.stderr


def test_json_suffix_picks_the_json_format(small_model_dir, tmp_path):
    out = tmp_path / "p.json"
    result = sleeprx("prescribe", "--model", small_model_dir, "--out", out, "--ids", "3,3,1")
    assert result.returncode == 0, result.stderr
    assert [r["person_id"] for r in json.loads(out.read_text())] == [3, 1]


def test_rows_without_a_valid_id_are_reported(small_model_dir, tmp_path):
    from sleeprx.survey.read import shipped_survey_path

    lines = shipped_survey_path().read_text().splitlines()
    lines[1] = "abc" + lines[1][lines[1].index(",") :]
    bad = tmp_path / "bad_id.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = sleeprx(
        "prescribe",
        "--model",
        small_model_dir,
        "--survey",
        bad,
        "--out",
        tmp_path / "p.csv",
        "--ids",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "skipped (no valid id)" in result.stderr and "'abc'" in result.stderr


def test_plot_refuses_an_empty_table(tmp_path):
    (tmp_path / "pareto.csv").write_text("")
    result = sleeprx("plot", "--run", tmp_path)
    assert result.returncode == 2
    assert "not a readable table" in result.stderr


# --- what the command line says, and what the library leaves to it ---------------------


def test_version_prints_the_package_version():
    import sleeprx as package

    result = sleeprx("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sleeprx {package.__version__}\n"


def test_errors_name_the_shipped_survey_when_no_survey_was_given(small_model_dir, tmp_path):
    from sleeprx.survey.read import shipped_survey_path

    out = tmp_path / "p.csv"
    result = sleeprx("prescribe", "--model", small_model_dir, "--out", out, "--ids", "9999")
    assert result.returncode == 2
    assert "no person with id 9999 in the shipped survey" in result.stderr
    assert shipped_survey_path().name not in result.stderr  # the user never named it
    given = sleeprx(
        "prescribe", "--model", small_model_dir, "--survey", shipped_survey_path(), "--out", out,
        "--ids", "9999",
    )  # fmt: skip
    assert shipped_survey_path().name in given.stderr  # a file the user named is named


def test_an_unknown_output_extension_is_refused_in_one_line(small_model_dir, tmp_path):
    out = tmp_path / "p.xlsx"
    result = sleeprx("prescribe", "--model", small_model_dir, "--out", out, "--ids", "1")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'.xlsx'" in result.stderr and "'.csv', '.json'" in result.stderr
    assert not out.exists()
    with_format = sleeprx(
        "prescribe", "--model", small_model_dir, "--out", out, "--ids", "1", "--format", "csv"
    )
    assert with_format.returncode == 0, with_format.stderr  # --format says what to write
    assert pd.read_csv(out)["person_id"].tolist() == [1]


def test_library_errors_name_values_not_flags(tmp_path):
    from sleeprx.settings import parse_goal
    from sleeprx.utils.errors import ConfigError
    from sleeprx.utils.files import table_format

    for call in (
        lambda: parse_goal("p>=1.5"),
        lambda: table_format(tmp_path / "p.csv", "xml"),
        lambda: table_format(tmp_path / "p.xlsx"),
    ):
        with pytest.raises(ConfigError) as caught:
            call()
        assert "--" not in str(caught.value)


@pytest.fixture(scope="module")
def small_survey(tmp_path_factory):
    """Every third row of the shipped survey: both classes in every fold, quick to train."""
    from sleeprx.survey.read import shipped_survey_path

    lines = shipped_survey_path().read_text().splitlines()
    lines = [lines[0], *lines[1::3]]
    path = tmp_path_factory.mktemp("survey") / "small.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_metrics_table_has_a_calibrated_column_only_when_a_map_was_fitted():
    from rich.console import Console

    from sleeprx.app.cli import metrics_table

    # the hold-out scores carry ece_calibrated even when no map is kept for the model
    row = {"f1": 0.9, "accuracy": 0.9, "roc_auc": 0.9, "brier": 0.1, "ece": 0.05}
    metrics = {"holdout": {"xgboost": {**row, "ece_calibrated": 0.04}}, "grouped_cv": {}}
    for calibrated in (False, True):
        console = Console(width=200, record=True)
        console.print(metrics_table(metrics, calibrated=calibrated))
        text = console.export_text()
        assert ("ECE cal." in text) == calibrated and ("0.0400" in text) == calibrated


@pytest.mark.slow
def test_train_shows_calibrated_ece_only_for_a_calibrated_model(small_survey, tmp_path):
    result = sleeprx(
        "train", "--survey", small_survey, "--out", tmp_path / "m", "--cv-repeats", "1"
    )
    assert result.returncode == 0, result.stderr
    assert "ECE" in result.stdout
    assert "ECE cal." not in result.stdout  # no map was fitted


@pytest.fixture(scope="module")
def messy_model_dir(tmp_path_factory):
    """A small model of the messy survey (another survey than the shipped one)."""
    from pathlib import Path

    from sleeprx.learn.model import ModelSettings, save_model, train
    from sleeprx.survey.description import load_description
    from sleeprx.survey.read import read_survey

    root = Path(__file__).resolve().parents[1]
    description = load_description(root / "sleeprx" / "survey" / "shipped" / "messy_sleep.yaml")
    survey = read_survey(root / "data" / "messy_sleep_survey.csv", description)
    model = train(survey, settings=ModelSettings(n_estimators=5, max_depth=2))
    return save_model(model, tmp_path_factory.mktemp("messy"))


@pytest.mark.parametrize("command", ["prescribe", "pareto", "batch"])
def test_a_model_of_another_survey_is_refused_in_one_line(messy_model_dir, tmp_path, command):
    args = [command, "--model", messy_model_dir, "--out", tmp_path / "p.csv"]
    if command == "batch":
        args = ["prescribe", *args[1:], "--chunk-size", "100"]
    result = sleeprx(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 250, result.stderr
    assert "this model was trained on survey 'messy_sleep'" in lines[0]
    assert "the shipped survey" in lines[0] and "--survey" in lines[0]
