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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--survey", "missing.csv"], "missing.csv: survey file not found"),
        (["--goal", "p>=1.5"], "--goal 'p>=1.5'"),
        (["--ids", "1,x"], "--ids 'x': not an id of this survey"),
        (["--ids", "9999"], "no person with id 9999"),
        (["--mode", "magic"], "mode"),
        (["--max-changes", "-1"], "max_changes"),
        (["--ids", ","], "names no one"),
        (["--format", "xml"], "--format 'xml'"),
        (["--lam", "-1"], "lam"),
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
    assert "xgboost_tuned" in result.stdout and "ECE" in result.stdout
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
