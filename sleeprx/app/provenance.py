"""What a run folder says about how it was made: ``summary.json`` and the pipeline file.

``summary.json`` is for machines (a nightly monitor compares runs): the settings, the
versions of sleeprx and the packages it runs on, the sha256 of every input file, the
counts and shares of the prescriptions, and the wall time of each step. The pipeline
file is copied as it was written (``pipeline.yaml``), so a run can be repeated.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import yaml

from sleeprx.app.config import PipelineConfig
from sleeprx.prescribing.status import Status
from sleeprx.survey.description import shipped_description_path
from sleeprx.survey.read import shipped_survey_path
from sleeprx.utils.files import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["PACKAGES", "Provenance", "copy_pipeline_file", "package_versions", "write_summary"]

#: The packages whose versions a run records, besides Python itself.
PACKAGES = (
    "sleeprx",
    "numpy",
    "pandas",
    "scikit-learn",
    "xgboost",
    "shap",
    "pyomo",
    "highspy",
    "pydantic",
    "jinja2",
    "dask",
)

#: The version of summary.json's layout; a monitor reads it before the rest.
SUMMARY_FORMAT = 1


@dataclass(frozen=True)
class Provenance:
    """What ``summary.json`` is made from (the pipeline fills it in).

    Attributes
    ----------
    config : the run's validated pipeline.
    prescriptions : :func:`~sleeprx.prescribing.run.prescribe`'s table.
    invalid_rows : rows of the survey file left out as invalid.
    violations : the prescriptions' constraint violations.
    timings : wall time of each step, in seconds.
    started : when the run began (UTC).
    source : the pipeline file, if the run was read from one.
    extra : further counts, by name (say, ``pages``).
    weighted_shares : for a weighted survey, the population's shares with their
        design-based intervals (:func:`~sleeprx.analysis.weighted.prescription_shares`);
        None when the survey has no weights.
    """

    config: PipelineConfig
    prescriptions: pd.DataFrame
    invalid_rows: int
    violations: int
    timings: Mapping[str, float]
    started: datetime
    source: Path | None = None
    extra: Mapping[str, int] = field(default_factory=dict)
    weighted_shares: Mapping[str, Mapping[str, float]] | None = None


def package_versions() -> dict[str, str]:
    """Python's version and each of :data:`PACKAGES`' ("not installed" if absent)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inputs(config: PipelineConfig, source: Path | None) -> dict[str, dict[str, str]]:
    """Every input file's path (``shipped`` when it is sleeprx's own) and sha256."""
    files = {
        "survey": (config.data.survey, shipped_survey_path),
        "description": (config.data.description, shipped_description_path),
    }
    out = {}
    for key, (given, shipped) in files.items():
        path = Path(given) if given is not None else shipped()
        out[key] = {"path": str(given) if given else "shipped", "sha256": sha256_of(path)}
    if source is not None:
        out["pipeline"] = {"path": str(source), "sha256": sha256_of(Path(source))}
    return out


def _counts_and_shares(table: pd.DataFrame) -> tuple[dict, dict]:
    """The prescriptions' counts by status and by number of changes, and their shares
    (of everyone for status; of the people with a valid answer for changes)."""
    status = table["status"].astype(str)
    ok = table[status.isin([Status.CHANGED, Status.NO_CHANGE])]
    changes = ok["n_changes"].astype(int).value_counts().sort_index()
    changed = status.eq(Status.CHANGED)
    disagree = table["model_disagrees"].astype(str).str.lower().eq("true") & changed
    counts = {
        "people": len(table),
        "status": {s.value: int(status.eq(s).sum()) for s in Status},
        "n_changes": {str(k): int(v) for k, v in changes.items()},
        "model_disagrees": int(disagree.sum()),
    }
    n = max(len(table), 1)
    shares = {
        "status": {s: c / n for s, c in counts["status"].items()},
        "n_changes": {k: v / max(len(ok), 1) for k, v in counts["n_changes"].items()},
        "model_disagrees_among_changed": int(disagree.sum()) / max(int(changed.sum()), 1),
    }
    return counts, shares


def write_summary(run: Provenance, folder: Path, *, metrics: Mapping | None = None) -> Path:
    """Write ``summary.json`` into ``folder``; ``metrics`` adds the classifier's
    grouped-CV figures of XGBoost."""
    counts, shares = _counts_and_shares(run.prescriptions)
    counts |= {"invalid_rows": run.invalid_rows, "violations": run.violations, **run.extra}
    summary = {
        "format": SUMMARY_FORMAT,
        "name": run.config.name,
        "started": run.started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": run.config.model_dump(mode="json"),
        "versions": package_versions(),
        "inputs": _inputs(run.config, run.source),
        "counts": counts,
        "shares": shares,
        "timings": dict(run.timings),
        "weighted": run.weighted_shares is not None,
    }
    if run.weighted_shares is not None:
        summary["weighted_shares"] = {k: dict(v) for k, v in run.weighted_shares.items()}
    if metrics and "xgboost" in metrics.get("grouped_cv", {}):
        summary["classifier"] = metrics["grouped_cv"]["xgboost"]
    return atomic_write_json(folder / "summary.json", summary)


def copy_pipeline_file(config: PipelineConfig, source: Path | None, folder: Path) -> Path:
    """``pipeline.yaml`` in ``folder``: the file the run was read from, byte for byte,
    or the validated settings written as YAML when there is no file."""
    target = folder / "pipeline.yaml"
    if source is not None:
        return atomic_write_bytes(target, Path(source).read_bytes())
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    return atomic_write_text(target, text)
