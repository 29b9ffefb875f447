"""The pipeline file's schema: what a ``pipelines/*.yaml`` may say, validated on load.

Every key is checked when the file is read (:func:`load_pipeline`), so a bad file
stops the run at once, naming the key, before any work is done.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from sleeprx.learn.model import ModelSettings
from sleeprx.settings import ParetoSettings, PrescribeSettings, SensitivitySettings
from sleeprx.utils.errors import ConfigError
from sleeprx.utils.files import read_yaml
from sleeprx.utils.validation import Strict, validate

__all__ = [
    "ClusterConfig",
    "DataConfig",
    "FidelityConfig",
    "PipelineConfig",
    "ReportConfig",
    "load_pipeline",
]


class DataConfig(Strict):
    survey: Path | None = Field(None, description="survey CSV; null = the shipped survey")
    description: Path | None = Field(None, description="description YAML; null = shipped")


class FidelityConfig(Strict):
    enabled: bool = True


class ClusterConfig(Strict):
    """Where the sweeps run: in this process (default), or in chunks of people on a
    Dask cluster, the batch engine's (a local one of ``workers`` processes, or the
    running one at ``scheduler``)."""

    workers: int | None = Field(None, ge=1, description="a local Dask cluster of N processes")
    scheduler: str | None = Field(None, description="a running Dask cluster, tcp://host:port")
    chunk_size: int = Field(250, ge=1, description="people per task")


class ReportConfig(Strict):
    """The ``report`` step: one HTML page per person of ``people`` under ``report/``."""

    people: tuple[int | str, ...] = Field(
        (), description="ids to write a page for; empty = no pages"
    )


class PipelineConfig(Strict):
    """A whole run. Relative paths are relative to the YAML file's folder."""

    name: str = "run"
    data: DataConfig = DataConfig()
    model: ModelSettings = ModelSettings()
    prescribe: PrescribeSettings = PrescribeSettings()
    prescribe_sample: int | None = Field(
        None,
        ge=1,
        description="prescribe for this many people drawn at random (seed: model.seed); "
        "null = everybody",
    )
    pareto: ParetoSettings = ParetoSettings()
    sensitivity: SensitivitySettings = SensitivitySettings()
    fidelity: FidelityConfig = FidelityConfig()
    cluster: ClusterConfig = ClusterConfig()
    report: ReportConfig = ReportConfig()
    output: Path = Path("runs/run")


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline file; a bad one fails at once, naming the key."""
    path = Path(path)
    raw = read_yaml(path, ConfigError, "pipeline")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    config = validate(PipelineConfig, raw, ConfigError, str(path))
    base = path.resolve().parent

    def resolve(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p)

    data = DataConfig(
        survey=resolve(config.data.survey), description=resolve(config.data.description)
    )
    return config.model_copy(update={"data": data, "output": resolve(config.output)})
