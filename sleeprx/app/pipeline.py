"""Declarative pipelines: a YAML file describes a whole run (see :mod:`sleeprx.app.config`).

``sleeprx run pipelines/paper.yaml`` trains, explains, prescribes, sweeps, compares
the surrogate with exact mode, plots and summarises into one output folder. The
folder is built under a temporary name and renamed into place at the end, so a run
that fails leaves the previous results untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sleeprx.analysis.fidelity import fidelity_report
from sleeprx.analysis.fronts import person_fronts
from sleeprx.analysis.html import write_pages
from sleeprx.analysis.pages import person_pages
from sleeprx.analysis.plots import plot_all, read_captions, shap_table
from sleeprx.analysis.refits import population_table
from sleeprx.analysis.report import RunSummary, summary_markdown, weights_lines
from sleeprx.analysis.sensitivity import sensitivity_points, summarise
from sleeprx.analysis.weighted import check_design, prescription_shares
from sleeprx.app.config import PipelineConfig, load_pipeline
from sleeprx.app.provenance import Provenance, copy_pipeline_file, write_summary
from sleeprx.batch.sweeps import Sweep, sweeper
from sleeprx.learn.evaluate import evaluate_models
from sleeprx.learn.explain import Explanation, explain
from sleeprx.learn.model import TrainedModel, save_model, train
from sleeprx.prescribing.options import first_options
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.verify import constraint_violations
from sleeprx.settings import ParetoSettings, PrescribeSettings, make_settings
from sleeprx.survey.description import load_description
from sleeprx.survey.design import design_of
from sleeprx.survey.read import Survey, check_known_ids, read_survey
from sleeprx.utils.errors import ConfigError
from sleeprx.utils.files import atomic_write_json, atomic_write_text, staged_dir, write_table

__all__ = ["PipelineConfig", "RunResult", "load_pipeline", "run_pareto", "run_pipeline"]


@dataclass
class RunResult:
    out_dir: Path
    metrics: dict
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Clock:
    """Times the steps of a run and logs their start and end."""

    log: Callable[[str], None]
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.log(f"{name}...")
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        self.log(f"{name}: {self.timings[name]:.1f} s")


def run_pipeline(
    config: PipelineConfig,
    *,
    progress: bool = False,
    log: Callable[[str], None] = lambda s: None,
    source: str | Path | None = None,
) -> RunResult:
    """Run every step of ``config`` and write the output folder whole.

    ``source`` is the pipeline file ``config`` was read from: it is copied into the
    folder as ``pipeline.yaml`` (without it, the settings are written there as YAML),
    and its sha256 is among the inputs of ``summary.json``.
    """
    start, started = time.perf_counter(), datetime.now(UTC)
    clock = _Clock(log)
    final = Path(config.output)
    survey = read_survey(config.data.survey, load_description(config.data.description))
    _check_before_work(config, survey, final)
    with staged_dir(final) as staging, ExitStack() as stack:
        with clock("evaluate"):
            metrics = evaluate_models(survey, settings=config.model)
        with clock("train"):
            model = _train(config, survey, metrics, staging)
        with clock("explain"):
            explanation = explain(model, survey.frame)
            write_table(shap_table(explanation), staging / "shap_modifiable.csv")
        with clock("prescribe"):
            table = prescribe(
                survey,
                model,
                settings=config.prescribe,
                ids=_sample(config, survey),
                explanation=explanation,
                progress=progress,
            )
            write_table(table, staging / "prescriptions.csv")
        fidelity = None
        if config.fidelity.enabled:
            with clock("fidelity"):
                fidelity = _fidelity(config, survey, model, explanation, staging, progress)
        with clock("pareto"):
            sweep = stack.enter_context(_sweeper(config, model, explanation, progress))
            fronts = _pareto(config, survey, sweep, staging)
            curves = _population_tables(fronts, model, survey, staging)
        with clock("sensitivity"):
            sens = _sensitivity(config, survey, sweep, staging)
        with clock("plots"):
            plot_all(staging, show_people=_shown(config, fronts), description=survey.description)
        pages = 0
        if config.report.people:
            with clock("report"):
                pages = _report(config, survey, model, table, staging)
        clock.timings["total"] = time.perf_counter() - start
        run = _Run(config, survey, model, metrics, table, curves, sens, fidelity, clock.timings)
        _write_summaries(run, staging, started=started, source=source, pages=pages)
    return RunResult(final, metrics, clock.timings)


@dataclass(frozen=True)
class _Run:
    """What a finished run's summaries are written from."""

    config: PipelineConfig
    survey: Survey
    model: TrainedModel
    metrics: dict
    table: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    sensitivity: pd.DataFrame
    fidelity: dict | None
    timings: dict[str, float]


def _write_summaries(
    run: _Run, staging: Path, *, started: datetime, source: str | Path | None, pages: int
) -> None:
    """``summary.md`` for people, ``summary.json`` for monitors, and the pipeline file.
    Both count people: with ``prescribe.options`` above 1, by their option 1."""
    config, survey, table = run.config, run.survey, first_options(run.table)
    design = design_of(survey.frame, survey.description)
    shares = None if design is None else prescription_shares(table, design)
    summary = RunSummary(
        name=config.name,
        settings=config.prescribe,
        metrics=run.metrics,
        prescriptions=table,
        curve_k=run.curves["k"],
        description=survey.description,
        violations=constraint_violations(
            table, survey.description, config.prescribe.max_changes, frame=survey.frame
        ),
        fidelity=run.fidelity,
        fidelity_people=_read_table(staging / "fidelity.csv"),
        sensitivity=run.sensitivity,
        swept=_swept(config),
        sweep_mode=config.pareto.mode,
        sample=None if _sample(config, survey) is None else config.prescribe_sample,
        timings=run.timings,
        figures=read_captions(staging),
        refits=len(run.model.bootstraps),
        weights=weights_lines(design, shares),
    )
    atomic_write_text(staging / "summary.md", summary_markdown(summary))
    source = Path(source) if source is not None else None
    provenance = Provenance(
        config,
        table,
        invalid_rows=len(survey.problems),
        violations=len(summary.violations),
        timings=run.timings,
        started=started,
        source=source,
        extra={"pages": pages},
        weighted_shares=None if shares is None else {k: asdict(v) for k, v in shares.items()},
    )
    write_summary(provenance, staging, metrics=run.metrics)
    copy_pipeline_file(config, source, staging)


def _report(
    config: PipelineConfig, survey: Survey, model: TrainedModel, table: pd.DataFrame, staging
) -> int:
    """The people's pages under ``report/``, from the run's own prescriptions."""
    pages = person_pages(
        survey, model, config.report.people, settings=config.prescribe, table=table
    )
    write_pages(pages, staging / "report")
    return len(pages)


def _train(config: PipelineConfig, survey: Survey, metrics: dict, staging: Path) -> TrainedModel:
    """The model on every row, saved with the evaluation's metrics."""
    model = train(survey, settings=config.model)
    model.metrics = metrics
    save_model(model, staging / "model")
    atomic_write_json(staging / "metrics.json", metrics)
    return model


def _fidelity(
    config: PipelineConfig,
    survey: Survey,
    model: TrainedModel,
    explanation: Explanation,
    staging: Path,
    progress: bool,
) -> dict:
    """Surrogate against exact mode, written to fidelity.csv and fidelity.json."""
    # both modes' optima under the penalty objective (a goal would change the
    # question), without the minimum-gain rule (a policy, not model error)
    base = _swept(config).model_copy(update={"min_gain": 0.0, "min_gain_prob": 0.0, "goal": None})
    tables = {
        mode: prescribe(
            survey,
            model,
            settings=base.model_copy(update={"mode": mode}),
            explanation=explanation,
            progress=progress,
        )
        for mode in ("surrogate", "exact")
    }
    per_person, summary = fidelity_report(
        tables["surrogate"], tables["exact"], base, factors=survey.description.modifiable_names
    )
    write_table(per_person, staging / "fidelity.csv")
    atomic_write_json(staging / "fidelity.json", summary)
    return summary


def _sweeper(config: PipelineConfig, model: TrainedModel, explanation: Explanation, progress):
    cluster = config.cluster
    return sweeper(
        model,
        explanation,
        workers=cluster.workers,
        scheduler=cluster.scheduler,
        chunk_size=cluster.chunk_size,
        progress=progress,
    )


def _pareto(config: PipelineConfig, survey: Survey, sweep: Sweep, staging: Path) -> pd.DataFrame:
    """Every swept person's fronts, written to pareto.csv."""
    people = config.pareto.people
    frame = survey.frame if people is None else survey.frame.loc[list(people)]
    fronts = sweep(
        person_fronts,
        frame,
        settings=_swept(config).model_copy(update={"mode": config.pareto.mode}),
        budgets=config.pareto.budgets,
        ks=config.pareto.ks,
    )
    write_table(fronts, staging / "pareto.csv")
    return fronts


def _population_tables(
    fronts: pd.DataFrame, model: TrainedModel, survey: Survey, staging: Path
) -> dict[str, pd.DataFrame]:
    """The population curves of both sweeps, with their intervals over the model's
    bootstrap refits, written to population_k.csv and population_budget.csv."""
    curves = {}
    for by in ("k", "budget"):
        curves[by] = population_table(
            fronts,
            by,
            model=model,
            frame=survey.frame,
            design=design_of(survey.frame, survey.description),
        )
        write_table(curves[by], staging / f"population_{by}.csv")
    return curves


def _read_table(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def _sensitivity(
    config: PipelineConfig, survey: Survey, sweep: Sweep, staging: Path
) -> pd.DataFrame:
    """The sensitivity grid, summarised into sensitivity.csv."""
    points = sweep(
        sensitivity_points,
        survey.frame,
        settings=_swept(config),
        lams=config.sensitivity.lams,
        scales=config.sensitivity.resistance_scales,
        ks=config.sensitivity.ks,
    )
    sens = summarise(points, survey.frame, survey.description.modifiable_names)
    write_table(sens, staging / "sensitivity.csv")
    return sens


def _sample(config: PipelineConfig, survey: Survey) -> list | None:
    """The people ``prescribe_sample`` draws, and the report's people (their pages are
    read from this table), in id order; None: everybody."""
    n = config.prescribe_sample
    ids = survey.frame.index
    if n is None or n >= len(ids):
        return None
    rng = np.random.default_rng(config.model.seed)
    drawn = set(ids[rng.choice(len(ids), n, replace=False)].tolist())
    return sorted(drawn | set(config.report.people or ()))


def _swept(config: PipelineConfig) -> PrescribeSettings:
    """The prescription settings of the sweeps and the fidelity comparison: the plain
    penalised programs (a sweep re-solves one program per person, without a goal;
    robust mode is the prescriptions' alone), in ``pareto.mode`` when the prescriptions
    are robust (exact sweeps of every person would cost minutes)."""
    # sweeps take no goal; fidelity compares each person's one optimum per mode
    settings = config.prescribe.model_copy(update={"goal": None, "options": 1})
    if settings.robust is None:
        return settings
    # the plain programs keep the routes' measured rule (enumerate, else the MIP)
    limit = PrescribeSettings.model_fields["enumeration_limit"].default
    update = {"robust": None, "mode": config.pareto.mode, "enumeration_limit": limit}
    return settings.model_copy(update=update)


def _shown(config: PipelineConfig, fronts: pd.DataFrame) -> list[int] | None:
    """The configured people to draw, among those swept; None lets the plot choose."""
    swept = set(fronts["person_id"])
    shown = [p for p in config.pareto.show_people or () if p in swept]
    return shown or None


def _check_before_work(config: PipelineConfig, survey: Survey, final: Path) -> None:
    """Refuse, before any work, an output folder that would swallow the inputs, or
    people to sweep or to report on who are not in the survey."""
    inputs = [config.data.survey, config.data.description]
    resolved = final.resolve()
    for path in filter(None, inputs):
        if resolved == path.resolve() or resolved in path.resolve().parents:
            raise ConfigError(f"output: {final} holds the input {path}; choose another folder")
    design = design_of(survey.frame, survey.description)
    if design is not None:
        check_design(design)
    for key, people in (("pareto", config.pareto.people), ("report", config.report.people)):
        try:
            check_known_ids(people or (), survey.frame.index, "the survey")
        except ConfigError as exc:
            raise ConfigError(f"{key}.people: {exc}") from None


def run_pareto(
    model: TrainedModel,
    out_dir: Path,
    *,
    survey: Path | None = None,
    mode: str = "surrogate",
    progress: bool = False,
) -> list[Path]:
    """``sleeprx pareto``: per-person fronts and population curves of ``model``, written
    to ``out_dir`` (pareto.csv, population_budget.csv, population_k.csv; the curves with
    their intervals over the model's bootstrap refits, if it has any)."""
    data = read_survey(survey, model.description)
    design = design_of(data.frame, model.description)
    if design is not None:
        check_design(design)  # before the sweep, not after it
    settings = make_settings(mode=mode)
    sweep = ParetoSettings()
    fronts = person_fronts(
        model, data.frame, settings=settings, budgets=sweep.budgets, ks=sweep.ks, progress=progress
    )
    tables = {"pareto.csv": fronts}  # every table made before any is written
    for by in ("budget", "k"):
        tables[f"population_{by}.csv"] = population_table(
            fronts, by, model=model, frame=data.frame, design=design
        )
    return [write_table(table, Path(out_dir) / name) for name, table in tables.items()]
