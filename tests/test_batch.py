"""Batch prescriptions: chunks on Dask, parts in Parquet, resume after a crash.

Real Dask clusters (two worker processes), no mocks. The cohort is the shipped survey
resampled with new ids, in shuffled id order, with an invalid cell far from the
first chunk and a row without a valid id.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sleeprx.batch import engine, output, parts_dir, prescribe_batch
from sleeprx.learn.model import load_model
from sleeprx.prescribing.run import prescribe
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.read import read_survey, shipped_survey_path
from sleeprx.utils.errors import ArtifactError, ConfigError
from sleeprx.utils.files import write_table

N = 1000
BAD_ROW = 650  # data row (from 1) with an out-of-range stress level


def make_cohort(path, n: int, seed: int = 0):
    raw = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    cohort = raw.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    cohort["Person ID"] = [str(i) for i in rng.permutation(n) + 1]  # file order != id order
    cohort.loc[min(BAD_ROW, n) - 1, "Stress Level"] = "99"
    cohort.loc[10, "Person ID"] = "x11"  # no valid id: reported, no row
    cohort.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("cohort") / "cohort.csv", N)


@pytest.fixture(scope="module")
def reference(cohort, small_model_dir, tmp_path_factory):
    """An uninterrupted in-process run, written as CSV and JSON."""
    model = load_model(small_model_dir)
    table = prescribe(read_survey(cohort, model.description, errors="collect"), model)
    folder = tmp_path_factory.mktemp("reference")
    write_table(table, folder / "p.csv", "csv")
    write_table(table, folder / "p.json", "json")
    return folder


def csv_rows(path):
    """The CSV's cells as written, without solve_seconds (a timing)."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("solve_seconds")
    return [row[:drop] + row[drop + 1 :] for row in rows]


def json_rows(path):
    rows = json.loads(path.read_text())
    for row in rows:
        row.pop("solve_seconds")
    return rows


def same_as_reference(out, reference, fmt):
    if fmt == "csv":
        got, want = csv_rows(out), csv_rows(reference / "p.csv")
    else:
        got, want = json_rows(out), json_rows(reference / "p.json")
    assert len(got) == len(want)
    assert got == want


@pytest.mark.parametrize(("workers", "first", "second"), [(0, "csv", "json"), (2, "json", "csv")])
def test_batch_equals_in_process(
    workers, first, second, cohort, reference, small_model_dir, tmp_path, monkeypatch
):
    monkeypatch.setattr(engine, "LOG_EVERY", 0.0)  # a progress line per chunk
    lines = []
    out = tmp_path / "p.out"  # the format is given, the parts folder is p.out.parts
    result = prescribe_batch(
        cohort, small_model_dir, out, fmt=first, workers=workers, chunk_size=150, log=lines.append
    )
    same_as_reference(out, reference, first)
    assert result.rows == N - 1 and result.skipped == 1 and result.solved == 7
    assert list(result.phases) == ["prepare", "start", "solve", "finish"]
    assert (result.phases["start"] > 0) == (workers > 0)  # the workers' imports
    assert all(v >= 0 for v in result.phases.values())
    assert sum(result.phases.values()) <= result.seconds + 1e-3
    assert sorted(p.name for p in parts_dir(out).glob("part-*.parquet")) == [
        f"part-{k:05d}.parquet" for k in range(7)
    ]
    progress = [line for line in lines if line.startswith("prescribed ")]
    assert len(progress) == 7 and progress[-1].startswith(f"prescribed {N:,}/{N:,} people")
    # A finished run resumed in the other format only re-assembles the parts.
    again = prescribe_batch(
        cohort, small_model_dir, out, fmt=second, chunk_size=150, resume=True, workers=workers
    )
    assert again.solved == 0 and again.reused == 7
    same_as_reference(out, reference, second)


def test_ids_keep_their_order_and_settings_apply(cohort, small_model_dir, tmp_path):
    settings = PrescribeSettings(max_changes=1)
    ids = [900, 3, 512, 77]
    out = tmp_path / "p.csv"
    prescribe_batch(cohort, small_model_dir, out, settings=settings, ids=ids, chunk_size=100)
    model = load_model(small_model_dir)
    survey = read_survey(cohort, model.description, errors="collect")
    write_table(prescribe(survey, model, settings=settings, ids=ids), tmp_path / "ref.csv")
    assert csv_rows(out) == csv_rows(tmp_path / "ref.csv")
    with pytest.raises(ConfigError, match="no person with id 5000"):
        prescribe_batch(cohort, small_model_dir, out, ids=[5000])


def sleeprx_cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "sleeprx.app.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def test_a_killed_run_resumes_without_loss_or_duplicates(
    cohort, reference, small_model_dir, tmp_path
):
    out = tmp_path / "p.csv"
    args = ["prescribe", "--model", small_model_dir, "--survey", cohort, "--out", out]
    batch = ["--workers", "2", "--chunk-size", "100"]
    run = subprocess.Popen(
        [sys.executable, "-m", "sleeprx.app.cli", *map(str, args), *batch],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the driver and its workers
    )
    parts = parts_dir(out)
    deadline = time.monotonic() + 120
    while len(list(parts.glob("part-*.parquet"))) < 2:
        assert run.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no part appeared"
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not out.exists()
    assert len(list(parts.glob("part-*.parquet"))) < 10  # killed partway

    # Resumed in this process (the chunk size must match; where chunks run need not).
    resumed = sleeprx_cli(*args, "--resume", "--chunk-size", "100")
    assert resumed.returncode == 0, resumed.stderr
    same_as_reference(out, reference, "csv")
    ids = pd.read_csv(out)["person_id"]
    assert ids.is_unique and len(ids) == N - 1
    # stderr is a pipe, not a terminal: plain progress lines, no bar
    assert f"prescribed {N:,}/{N:,} people (100%)" in resumed.stderr
    assert "\x1b[" not in resumed.stderr


@pytest.fixture
def finished(small_model_dir, tmp_path):
    survey = make_cohort(tmp_path / "small.csv", 200, seed=1)
    out = tmp_path / "p.csv"
    prescribe_batch(survey, small_model_dir, out, chunk_size=100)
    return survey, out


@pytest.mark.parametrize(
    ("change", "message"),
    [("survey", "the survey file changed"), ("settings", "the settings changed")],
)
def test_resume_refuses_other_inputs(change, message, finished, small_model_dir):
    survey, out = finished
    extra = []
    if change == "survey":
        text = survey.read_text()
        survey.write_text(text.replace(",99,", ",8,", 1))
        assert survey.read_text() != text
    else:
        extra = ["--max-changes", "1"]
    args = ["prescribe", "--model", small_model_dir, "--survey", survey, "--out", out]
    result = sleeprx_cli(*args, "--resume", *extra)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and message in line and "manifest.json" in line, line


def test_a_parts_folder_not_written_by_sleeprx_is_refused(cohort, small_model_dir, tmp_path):
    out = tmp_path / "p.csv"
    parts_dir(out).mkdir()
    (parts_dir(out) / "mine.txt").write_text("precious")
    with pytest.raises(ArtifactError, match="not written by sleeprx"):
        prescribe_batch(cohort, small_model_dir, out, ids=[1])
    assert (parts_dir(out) / "mine.txt").read_text() == "precious"


def test_errors_name_the_files_real_rows(small_model_dir, tmp_path):
    survey = make_cohort(tmp_path / "c.csv", 300)
    lines = survey.read_text().splitlines()
    lines[250] = lines[250] + ",extra"  # data row 250, line 251
    survey.write_text("\n".join(lines) + "\n")
    with pytest.raises(Exception, match=r"c\.csv: row 250 \(line 251\): expected"):
        prescribe_batch(survey, small_model_dir, tmp_path / "p.csv", chunk_size=100)


@pytest.mark.slow
def test_the_pipelines_sweeps_on_a_local_dask_cluster_equal_the_in_process_ones(tmp_path):
    """cluster: {workers: 2} runs Pareto fronts and the sensitivity grid in chunks of
    people on a real local cluster; the tables equal the in-process run's."""
    from sleeprx.app.pipeline import load_pipeline, run_pipeline

    outputs = {}
    for name, cluster in [("local", ""), ("dask", "cluster: {workers: 2, chunk_size: 7}")]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            "model: {n_estimators: 20, max_depth: 3, cv_splits: 3, cv_repeats: 1}\n"
            "pareto: {budgets: [0, 2, 4], ks: [0, 1, 2], people: " + str(list(range(1, 31))) + "}\n"
            "sensitivity: {lams: [0.0, 0.1], resistance_scales: [0.5, 1.0], ks: [1, 2]}\n"
            "fidelity: {enabled: false}\n"
            f"{cluster}\noutput: {name}\n"
        )
        outputs[name] = run_pipeline(load_pipeline(path)).out_dir
    for table in ("pareto.csv", "sensitivity.csv"):
        local = pd.read_csv(outputs["local"] / table)
        dask = pd.read_csv(outputs["dask"] / table)
        pd.testing.assert_frame_equal(local, dask)


def test_text_ids_and_blank_answers_in_parts_equal_the_in_process_table(tmp_path):
    """The messy example: ids such as 'R-00017' and blank cells survive the Parquet parts."""
    from sleeprx.learn.model import ModelSettings, save_model, train
    from sleeprx.survey.description import load_description, shipped_description_path

    description = load_description(shipped_description_path().with_name("messy_sleep.yaml"))
    source = shipped_survey_path().parents[0] / "messy_sleep_survey.csv"
    lines = source.read_text().splitlines()
    path = tmp_path / "messy.csv"
    path.write_text("\n".join(lines[:301]) + "\n")  # header and 300 people
    survey = read_survey(path, description)
    model_dir = save_model(
        train(survey, settings=ModelSettings(n_estimators=20, max_depth=3)), tmp_path / "m"
    )
    out = tmp_path / "p.csv"
    result = prescribe_batch(path, model_dir, out, chunk_size=70)
    for fmt, run in [("csv", result), ("json", None)]:  # text ids in copied fragments
        run = run or prescribe_batch(path, model_dir, out.with_suffix(".json"), chunk_size=70)
        assert run.copied == run.chunks
        merged = merged_by_the_driver(run, fmt, tmp_path / f"m.{fmt}")
        assert out.with_suffix(f".{fmt}").read_bytes() == merged
    batch = pd.read_csv(out, keep_default_na=True)
    direct = prescribe(survey, load_model(model_dir))
    assert batch["person_id"].tolist() == direct["person_id"].tolist()
    assert batch["person_id"].str.startswith("R-").all()
    columns = [c for c in direct.columns if c != "solve_seconds"]
    expected = pd.read_csv(io.StringIO(direct.to_csv(index=False)))
    pd.testing.assert_frame_equal(batch[columns], expected[columns])


# --- a resumed run never trusts a damaged part or manifest ---------------------------


@pytest.fixture(scope="module")
def undamaged(small_model_dir, tmp_path_factory):
    """A finished run of 300 people in three chunks of 100 (the first has 99 rows: one
    row has no valid id), and its table."""
    folder = tmp_path_factory.mktemp("undamaged")
    survey = make_cohort(folder / "cohort.csv", 300, seed=2)
    out = folder / "p.csv"
    prescribe_batch(survey, small_model_dir, out, chunk_size=100)
    return survey, out, pd.read_csv(out).drop(columns="solve_seconds")


@pytest.fixture
def damaged_copy(undamaged, tmp_path):
    """A copy of the finished run's output and parts, to damage."""
    survey, out, _ = undamaged
    copy = tmp_path / out.name
    shutil.copytree(parts_dir(out), parts_dir(copy))
    shutil.copy(out, copy)
    return survey, copy


def _corrupt_data_pages(parts):
    path = parts / "part-00001.parquet"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    assert pq.ParquetFile(path).metadata.num_rows == 100  # the footer still reads


def _overwrite_with_another_chunks_part(parts):
    rows = [pq.ParquetFile(parts / f"part-{k:05d}.parquet").metadata.num_rows for k in (1, 2)]
    assert rows == [100, 100]  # same row count: only the content tells them apart
    shutil.copy(parts / "part-00001.parquet", parts / "part-00002.parquet")


@pytest.mark.parametrize(
    "damage",
    [
        _corrupt_data_pages,
        _overwrite_with_another_chunks_part,
        lambda parts: (parts / "part-00000.parquet").unlink(),
    ],
    ids=["corrupt-data-pages", "another-chunks-part", "missing-part"],
)
def test_resume_solves_a_damaged_part_again(damage, damaged_copy, undamaged, small_model_dir):
    survey, out = damaged_copy
    damage(parts_dir(out))
    result = prescribe_batch(survey, small_model_dir, out, chunk_size=100, resume=True)
    assert (result.solved, result.reused) == (1, 2)
    table = pd.read_csv(out).drop(columns="solve_seconds")
    pd.testing.assert_frame_equal(table, undamaged[2])  # nobody lost or duplicated


def _edit_manifest(out, edit):
    path = parts_dir(out) / "manifest.json"
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda out: _edit_manifest(out, lambda raw: raw["done"].update({"1": {}})), "done.1"),
        (
            lambda out: _edit_manifest(
                out, lambda raw: raw["done"].update({"7": raw["done"]["1"]})
            ),
            "done.7",
        ),
        (
            lambda out: (parts_dir(out) / "manifest.json").write_text('{"kind": "sleeprx.batch'),
            "not JSON",
        ),
    ],
    ids=["emptied-entry", "entry-under-another-key", "truncated"],
)
def test_resume_refuses_a_damaged_manifest_in_one_line(
    damage, message, damaged_copy, small_model_dir
):
    survey, out = damaged_copy
    damage(out)
    with pytest.raises(ArtifactError, match=message) as caught:
        prescribe_batch(survey, small_model_dir, out, chunk_size=100, resume=True)
    assert "manifest.json" in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_refuses_a_damaged_manifest_with_exit_2(damaged_copy, small_model_dir):
    survey, out = damaged_copy
    _edit_manifest(out, lambda raw: raw["done"].update({"1": {}}))
    args = ["prescribe", "--model", small_model_dir, "--survey", survey, "--out", out]
    result = sleeprx_cli(*args, "--resume", "--chunk-size", "100")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "manifest.json" in line and "done.1" in line, line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"chunk_size": 0}, "argument chunk_size: Input should be greater than or equal to 1"),
        ({"workers": "two"}, "argument workers: Input should be a valid integer"),
        ({"workers": -1}, "argument workers"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "workers and scheduler: give one"),
    ],
)
def test_bad_cluster_arguments_are_refused_before_anything_runs(
    options, message, cohort, small_model_dir, tmp_path
):
    with pytest.raises(ConfigError, match=message):
        prescribe_batch(cohort, small_model_dir, tmp_path / "p.csv", **options)
    assert not parts_dir(tmp_path / "p.csv").exists()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_n_best_plans_in_batch_equal_the_in_process_table(fmt, small_model_dir, tmp_path):
    """Several rows per person (``options``) stay together and in option order when
    the parts are merged; the chunk of error rows has the option column too."""
    cohort = make_cohort(tmp_path / "cohort.csv", 120)
    raw = pd.read_csv(cohort, dtype=str, keep_default_na=False)
    raw.loc[100:, "Stress Level"] = "99"  # the last chunk: error rows only
    raw.to_csv(cohort, index=False)
    settings = PrescribeSettings(options=3)
    model = load_model(small_model_dir)
    table = prescribe(
        read_survey(cohort, model.description, errors="collect"), model, settings=settings
    )
    assert table["option"].max() == 3  # the cohort has people with three plans
    write_table(table, tmp_path / f"p.{fmt}", fmt)
    out = tmp_path / f"batch.{fmt}"
    prescribe_batch(cohort, small_model_dir, out, settings=settings, chunk_size=20)
    same_as_reference(out, tmp_path, fmt)
    last = pq.read_table(parts_dir(out) / "part-00005.parquet").to_pandas()
    assert last["status"].eq("error").all() and last["option"].eq(1).all()


# --- the driver copies the text the tasks rendered, byte for byte --------------------


def sorted_cohort(path, n: int, *, bad_row: int | None = None):
    """The shipped survey resampled in id order: every part is a group of its own."""
    raw = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    cohort = raw.sample(n, replace=True, random_state=3).reset_index(drop=True)
    cohort["Person ID"] = [str(i + 1) for i in range(n)]
    if bad_row is not None:
        cohort.loc[bad_row - 1, "Stress Level"] = "99"  # an error row in its chunk
    cohort.to_csv(path, index=False)
    return path


def merged_by_the_driver(result, fmt, path, ids=None):
    """The run's parts merged from Parquet alone, without fragments: the bytes of a run
    before fragments."""
    parts = sorted(result.parts.glob("part-*.parquet"))
    position = None if ids is None else {pid: i for i, pid in enumerate(ids)}
    copied = output.assemble(
        parts,
        path,
        fmt,
        order=(lambda s: s) if position is None else (lambda s: s.map(position)),
        integer_changes="error" not in result.status,
    )
    assert copied == 0
    return path.read_bytes()


def in_process(survey, model_dir, fmt, folder, ids=None):
    model = load_model(model_dir)
    table = prescribe(read_survey(survey, model.description, errors="collect"), model, ids=ids)
    write_table(table, folder / f"p.{fmt}", fmt)
    return folder


@pytest.mark.parametrize(
    ("fmt", "bad_row", "ids", "workers", "copied"),
    [
        ("csv", None, None, 0, 6),  # every part copied
        ("json", 250, None, 0, 1),  # n_changes is fractional: only the error row's part
        ("csv", None, [450, 12, 13, 599, 100, 260], 2, 2),  # parts 0 and 5 overlap
    ],
    ids=["csv", "json-error-rows", "csv-ids-in-another-order-2-workers"],
)
def test_the_copied_fragments_give_the_bytes_of_the_merge_from_parts(
    fmt, bad_row, ids, workers, copied, small_model_dir, tmp_path
):
    survey = sorted_cohort(tmp_path / "sorted.csv", 600, bad_row=bad_row)
    out = tmp_path / f"p.{fmt}"
    result = prescribe_batch(survey, small_model_dir, out, ids=ids, workers=workers, chunk_size=100)
    assert result.copied == copied
    assert out.read_bytes() == merged_by_the_driver(result, fmt, tmp_path / f"m.{fmt}", ids)
    reference = in_process(survey, small_model_dir, fmt, tmp_path, ids)
    same_as_reference(out, reference, fmt)


def _damage_fragments(parts):
    (parts / "part-00001.csv").write_bytes((parts / "part-00001.csv").read_bytes()[:-10])
    data = bytearray((parts / "part-00002.csv").read_bytes())
    data[100:110] = b"9" * 10  # same size, other bytes
    (parts / "part-00002.csv").write_bytes(bytes(data))
    (parts / "part-00003.csv").unlink()


def test_a_damaged_or_missing_fragment_is_rendered_from_its_part(small_model_dir, tmp_path):
    survey = sorted_cohort(tmp_path / "sorted.csv", 600)
    out = tmp_path / "p.csv"
    first = prescribe_batch(survey, small_model_dir, out, chunk_size=100)
    assert first.copied == 6
    written = out.read_bytes()
    _damage_fragments(parts_dir(out))
    again = prescribe_batch(survey, small_model_dir, out, chunk_size=100, resume=True)
    assert (again.solved, again.copied) == (0, 3)
    assert out.read_bytes() == written
    # Fragments are rendered in the run's format: a JSON output renders every part.
    other = tmp_path / "p.json"
    shutil.copytree(parts_dir(out), parts_dir(other))
    json_run = prescribe_batch(survey, small_model_dir, other, chunk_size=100, resume=True)
    assert (json_run.solved, json_run.copied) == (0, 0)
    assert other.read_bytes() == merged_by_the_driver(json_run, "json", tmp_path / "m.json")


@pytest.mark.skipif(
    "forkserver" not in __import__("multiprocessing").get_all_start_methods(),
    reason="no fork server on this platform",
)
def test_local_workers_are_forked_with_sleeprx_already_imported():
    """Workers come from the fork server, which imported the worker's module before
    forking them: not spawned by this process, each importing sleeprx again."""
    from sleeprx.batch.cluster import WORKER_MODULE, dask_client

    def origin() -> tuple[int, bool]:
        return os.getppid(), WORKER_MODULE in sys.modules

    with dask_client(2, None) as client:
        seen = list(client.run(origin).values())
    assert len(seen) == 2
    assert all(parent != os.getpid() and imported for parent, imported in seen)
    assert len({parent for parent, _ in seen}) == 1  # one server forked both
