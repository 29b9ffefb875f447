"""What a run folder says about how it was made: summary.json, pipeline.yaml, train --seed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pandas as pd
import pytest

from sleeprx.app.config import PipelineConfig, load_pipeline
from sleeprx.app.pipeline import run_pipeline
from sleeprx.app.provenance import PACKAGES, Provenance, copy_pipeline_file, write_summary
from sleeprx.survey.description import shipped_description_path
from sleeprx.survey.read import shipped_survey_path
from sleeprx.utils.errors import ConfigError


def _table() -> pd.DataFrame:
    """Five people: two changed (one doubted by the model), two unchanged, one error."""
    return pd.DataFrame(
        {
            "person_id": [1, 2, 3, 4, 5],
            "status": ["changed", "changed", "no_change", "no_change", "error"],
            "n_changes": [2, 1, 0, 0, None],
            "model_disagrees": [False, True, False, False, False],
        }
    )


def test_summary_json_holds_settings_versions_inputs_counts_shares_timings(tmp_path):
    config = PipelineConfig(name="hand-made", output=tmp_path / "run")
    source = tmp_path / "pipe.yaml"
    source.write_text("name: hand-made\n")
    run = Provenance(
        config,
        _table(),
        invalid_rows=1,
        violations=0,
        timings={"train": 1.5, "total": 2.0},
        started=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        source=source,
        extra={"pages": 3},
    )
    summary = json.loads(write_summary(run, tmp_path).read_text())
    assert summary["name"] == "hand-made" and summary["started"] == "2026-01-02T03:04:05+00:00"
    assert summary["settings"] == json.loads(config.model_dump_json())
    assert set(summary["versions"]) == {"python", *PACKAGES}
    digest = hashlib.sha256(shipped_survey_path().read_bytes()).hexdigest()
    assert summary["inputs"]["survey"] == {"path": "shipped", "sha256": digest}
    described = hashlib.sha256(shipped_description_path().read_bytes()).hexdigest()
    assert summary["inputs"]["description"]["sha256"] == described
    assert (
        summary["inputs"]["pipeline"]["sha256"] == hashlib.sha256(b"name: hand-made\n").hexdigest()
    )
    counts, shares = summary["counts"], summary["shares"]
    assert counts["people"] == 5 and counts["pages"] == 3 and counts["invalid_rows"] == 1
    assert counts["status"] == {
        "changed": 2,
        "no_change": 2,
        "infeasible": 0,
        "time_limit": 0,
        "error": 1,
    }
    assert counts["n_changes"] == {"0": 2, "1": 1, "2": 1}
    assert counts["model_disagrees"] == 1
    assert shares["status"]["changed"] == pytest.approx(0.4)
    assert shares["n_changes"]["0"] == pytest.approx(0.5)
    assert shares["model_disagrees_among_changed"] == pytest.approx(0.5)
    assert summary["timings"] == {"train": 1.5, "total": 2.0}


def test_the_pipeline_file_is_copied_as_written_or_its_settings_are(tmp_path):
    source = tmp_path / "pipe.yaml"
    source.write_bytes(b"# my comment\nname: mine\noutput: out\n")
    config = load_pipeline(source)
    copy = copy_pipeline_file(config, source, tmp_path / "a")
    assert copy.read_bytes() == source.read_bytes()
    written = copy_pipeline_file(config, None, tmp_path / "b")
    assert load_pipeline(written) == config  # the settings, read back, are the run's


def test_unknown_people_to_report_on_are_refused_before_any_work(tmp_path):
    path = tmp_path / "pipe.yaml"
    path.write_text("report: {people: [1, 99999]}\noutput: run\n")
    with pytest.raises(ConfigError, match=r"report\.people: no person with id 99999"):
        run_pipeline(load_pipeline(path))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_run_folder_has_its_summary_its_pipeline_file_and_its_pages(tmp_path):
    path = tmp_path / "pipe.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: small
            model: {n_estimators: 20, max_depth: 3, cv_splits: 3, cv_repeats: 1}
            pareto: {budgets: [0, 2], ks: [0, 1], people: [1, 2, 3]}
            sensitivity: {lams: [0.1], resistance_scales: [1.0], ks: [1]}
            fidelity: {enabled: false}
            report: {people: [5, 1]}
            output: run
            """
        )
    )
    result = run_pipeline(load_pipeline(path), source=path)
    out = result.out_dir
    assert (out / "pipeline.yaml").read_bytes() == path.read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    table = pd.read_csv(out / "prescriptions.csv")
    assert summary["counts"]["people"] == len(table)
    assert summary["counts"]["status"]["changed"] == int((table["status"] == "changed").sum())
    assert summary["counts"]["pages"] == 2
    assert summary["settings"]["report"]["people"] == [5, 1]
    assert set(summary["timings"]) >= {"train", "prescribe", "report", "total"}
    assert summary["inputs"]["pipeline"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.name for p in (out / "report").glob("*.html")) == [
        "index.html",
        "person-1.html",
        "person-5.html",
    ]
    page = (out / "report" / "person-5.html").read_text()
    row = table.set_index("person_id").loc[5]
    p_after = row["p_after"] if row["status"] == "changed" else row["p_before"]
    assert f"{100 * p_after:.0f}%" in page


def test_train_seed_is_the_model_seed(tmp_path):
    lines = shipped_survey_path().read_text().splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join([lines[0], *lines[1::3]]) + "\n")
    out = tmp_path / "model"
    result = subprocess.run(
        [sys.executable, "-m", "sleeprx.app.cli", "train", "--survey", str(small), "--out",
         str(out), "--seed", "7", "--cv-repeats", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "meta.json").read_text())["settings"]["seed"] == 7
