"""Declarative pipelines: validation of the YAML, and a small run end to end."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from sleeprx.app.pipeline import load_pipeline, run_pipeline
from sleeprx.utils.errors import ArtifactError, ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "pipe.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prescribe: {mode: magic}", r"key 'prescribe.mode'.*'surrogate' or 'exact'.*'magic'"),
        (
            "prescribe: {max_changes: -1}",
            r"key 'prescribe.max_changes'.*greater than or equal to 0",
        ),
        (
            "prescibe: {}",
            r"unknown key 'prescibe'; allowed keys here: \['cluster', 'data', 'fidelity'",
        ),
        ("model: {depth: 3}", r"unknown key 'model.depth'; allowed keys here: \[.*'max_depth'"),
        ("pareto: {budgets: [a]}", r"key 'pareto.budgets.0'.*valid number"),
        ("- 1\n- 2\n", r"expected a mapping"),
        ("data: {survey: [unclosed", r"not valid YAML"),
    ],
)
def test_bad_pipeline_files_fail_at_once_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline(write(tmp_path, text))


def test_missing_pipeline_file(tmp_path):
    with pytest.raises(ConfigError, match="pipeline file not found"):
        load_pipeline(tmp_path / "nope.yaml")


def test_relative_paths_are_relative_to_the_file(tmp_path):
    config = load_pipeline(write(tmp_path, "output: out/here\ndata: {survey: s.csv}\n"))
    assert config.output == tmp_path / "out" / "here"
    assert config.data.survey == tmp_path / "s.csv"


@pytest.mark.slow
def test_small_pipeline_runs_end_to_end(tmp_path):
    path = write(
        tmp_path,
        """
        name: small
        model: {n_estimators: 20, max_depth: 3, cv_splits: 3, cv_repeats: 1, bootstrap: 3}
        pareto: {budgets: [0, 2, 4], ks: [0, 1, 2], people: [1, 2, 3, 4, 5, 6], show_people: [5]}
        sensitivity: {lams: [0.0, 0.1], resistance_scales: [1.0], ks: [1, 2]}
        output: run
        """,
    )
    result = run_pipeline(load_pipeline(path))
    out = tmp_path / "run"
    assert result.out_dir == out
    for name in (
        "metrics.json",
        "prescriptions.csv",
        "pareto.csv",
        "sensitivity.csv",
        "summary.md",
        "fidelity.csv",
        "model/model.json",
        "model/meta.json",
    ):
        assert (out / name).is_file(), name
    pareto = pd.read_csv(out / "pareto.csv")
    assert {"person_id", "budget", "k", "intensity", "gain_surrogate", "gain_verified"} <= set(
        pareto.columns
    )
    assert sorted(pareto["person_id"].unique()) == [1, 2, 3, 4, 5, 6]
    assert len(pd.read_csv(out / "prescriptions.csv")) == 374
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"holdout", "grouped_cv"} <= set(metrics)
    summary = (out / "summary.md").read_text()
    assert "not medical advice" in summary and "Knee" in summary
    pngs = {p.stem for p in (out / "figures").glob("*.png")}
    assert {"pareto_population", "pareto_k", "pareto_people", "fidelity", "shap_summary"} <= pngs
    assert not list(tmp_path.glob(".run.*"))  # no staging folder left behind
    captions = json.loads((out / "figures" / "captions.json").read_text())
    assert set(captions) == pngs
    for name, text in captions.items():  # every figure embedded, with its caption
        assert f"![{text['title']}](figures/{name}.png)" in summary
        assert f"*{text['caption']}*" in summary
    # the curves' K table and their refit interval come from population_k.csv
    curve = pd.read_csv(out / "population_k.csv").set_index("k")
    low, high = curve.loc[2, "mean_p_after_low"], curve.loc[2, "mean_p_after_high"]
    assert (
        f"| 2 | {100 * curve.loc[2, 'mean_p_after']:.1f} ({100 * low:.1f}–{100 * high:.1f}) |"
        in (summary)
    )
    assert "10th–90th percentile over the 3 refitted models" in captions["pareto_k"]["caption"]


@pytest.mark.slow
def test_a_pipeline_with_the_n_best_plans_counts_people_and_shows_the_options(tmp_path):
    path = write(
        tmp_path,
        """
        name: options
        model: {n_estimators: 20, max_depth: 3, cv_splits: 3, cv_repeats: 1}
        prescribe: {options: 3}
        fidelity: {enabled: false}
        pareto: {budgets: [0, 2], ks: [0, 1], people: [1, 2, 3]}
        sensitivity: {lams: [0.1], resistance_scales: [1.0], ks: [1]}
        report: {people: [1, 2, 3]}
        output: run
        """,
    )
    run_pipeline(load_pipeline(path))
    out = tmp_path / "run"
    table = pd.read_csv(out / "prescriptions.csv")
    assert list(table.columns[:2]) == ["person_id", "option"]
    people = table["person_id"].nunique()
    assert people == 374 and table["option"].max() == 3 and len(table) > people
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["people"] == people  # people, not rows
    assert sum(summary["counts"]["status"].values()) == people
    for pid in (1, 2, 3):
        assert "best distinct plans" in (out / "report" / f"person-{pid}.html").read_text()


def test_a_failed_run_leaves_the_previous_output_alone(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.md").write_text("previous\n")
    path = write(tmp_path, "data: {survey: missing.csv}\noutput: run\n")
    from sleeprx.utils.errors import SurveyError

    with pytest.raises(SurveyError, match=r"missing\.csv"):
        run_pipeline(load_pipeline(path))
    assert (out / "summary.md").read_text() == "previous\n"
    assert not list(tmp_path.glob(".run.*"))


def test_an_output_folder_not_written_by_sleeprx_is_never_replaced(tmp_path):
    own = tmp_path / "mine"
    own.mkdir()
    (own / "notes.txt").write_text("precious\n")
    path = write(tmp_path, "output: mine\n")
    with pytest.raises(ArtifactError, match=r"mine: exists, is not empty and was not written"):
        run_pipeline(load_pipeline(path))
    assert (own / "notes.txt").read_text() == "precious\n"


def test_an_output_folder_holding_the_inputs_is_refused(tmp_path):
    from sleeprx.survey.read import shipped_survey_path

    data = tmp_path / "data"
    data.mkdir()
    (data / "survey.csv").write_bytes(shipped_survey_path().read_bytes())
    path = write(tmp_path, "data: {survey: data/survey.csv}\noutput: .\n")
    with pytest.raises(ConfigError, match="holds the input"):
        run_pipeline(load_pipeline(path))
    assert (data / "survey.csv").is_file() and path.is_file()


def test_unknown_people_to_sweep_are_refused_before_any_work(tmp_path):
    path = write(tmp_path, "pareto: {people: [99999]}\noutput: run\n")
    with pytest.raises(ConfigError, match=r"pareto\.people: no person with id 99999"):
        run_pipeline(load_pipeline(path))
    assert not (tmp_path / "run").exists()


def test_the_prescribed_sample_holds_the_reports_people(tmp_path):
    """A report page reads its person's row from the run's prescriptions."""
    from sleeprx.app.pipeline import _sample
    from sleeprx.survey.description import load_description
    from sleeprx.survey.read import read_survey

    path = write(tmp_path, "prescribe_sample: 5\nreport: {people: [1, 2, 374]}\n")
    config = load_pipeline(path)
    survey = read_survey(config.data.survey, load_description(config.data.description))
    ids = _sample(config, survey)
    assert {1, 2, 374} <= set(ids) and len(ids) <= 8 and ids == sorted(ids)
    drawn = load_pipeline(write(tmp_path, "prescribe_sample: 5\n"))
    assert set(_sample(drawn, survey)) <= set(ids) and len(_sample(drawn, survey)) == 5


@pytest.mark.slow
def test_the_formats_pipeline_keeps_every_row_and_breaks_nothing(tmp_path):
    """pipelines/formats.yaml (derived sleep, the drinking group) with a smaller model and
    sweeps: every person has a row, none an error, and the verifier finds nothing."""
    import yaml

    from sleeprx.prescribing.verify import constraint_violations
    from sleeprx.survey.description import load_description
    from sleeprx.survey.read import read_survey

    root = Path(__file__).resolve().parents[1]
    raw = yaml.safe_load((root / "pipelines" / "formats.yaml").read_text(encoding="utf-8"))
    raw["data"] = {k: str((root / "pipelines" / v).resolve()) for k, v in raw["data"].items()}
    raw["model"] |= {"n_estimators": 30, "cv_splits": 3, "cv_repeats": 1}
    raw["pareto"] |= {"budgets": [0, 2, 4], "ks": [0, 1, 2], "people": [1001, 1002, 1003]}
    raw["sensitivity"] = {"lams": [0.1], "resistance_scales": [1.0], "ks": [1, 2]}
    raw["output"] = str(tmp_path / "run")
    path = tmp_path / "formats.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    run_pipeline(load_pipeline(path))
    table = pd.read_csv(tmp_path / "run" / "prescriptions.csv")
    description = load_description(raw["data"]["description"])
    survey = read_survey(raw["data"]["survey"], description)
    assert sorted(table["person_id"]) == sorted(survey.frame.index)
    assert not table["status"].eq("error").any()
    assert constraint_violations(table, description, 2, frame=survey.frame) == []
    assert (
        "constraint violations (safe values, rules, direction, largest change, K, linear "
        "constraints): 0" in (tmp_path / "run" / "summary.md").read_text()
    )
