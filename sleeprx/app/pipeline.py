"""Declarative pipelines: a YAML file describes a whole run, validated on load.

``sleeprx run pipelines/paper.yaml`` trains, explains, prescribes, sweeps, compares
the surrogate with exact mode, plots and summarises into one output folder. The
folder is built under a temporary name and renamed into place at the end, so a run
that fails leaves the previous results untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from pydantic import Field

from sleeprx.analysis.fidelity import fidelity_report
from sleeprx.analysis.fronts import knee, person_fronts, population_curve
from sleeprx.analysis.plots import plot_all, shap_table
from sleeprx.analysis.sensitivity import sensitivity_points, summarise
from sleeprx.learn.evaluate import evaluate_models
from sleeprx.learn.explain import explain
from sleeprx.learn.model import ModelSettings, load_model, save_model, train
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.verify import constraint_violations
from sleeprx.settings import ParetoSettings, PrescribeSettings, SensitivitySettings, make_settings
from sleeprx.survey.description import SurveyDescription, load_description
from sleeprx.survey.read import read_survey
from sleeprx.utils.errors import ConfigError
from sleeprx.utils.files import (
    atomic_write_json,
    atomic_write_text,
    read_yaml,
    staged_dir,
    write_table,
)
from sleeprx.utils.validation import Strict, validate

__all__ = ["PipelineConfig", "RunResult", "load_pipeline", "run_pareto", "run_pipeline"]


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


class PipelineConfig(Strict):
    """A whole run. Relative paths are relative to the YAML file's folder."""

    name: str = "run"
    data: DataConfig = DataConfig()
    model: ModelSettings = ModelSettings()
    prescribe: PrescribeSettings = PrescribeSettings()
    pareto: ParetoSettings = ParetoSettings()
    sensitivity: SensitivitySettings = SensitivitySettings()
    fidelity: FidelityConfig = FidelityConfig()
    cluster: ClusterConfig = ClusterConfig()
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


@dataclass
class RunResult:
    out_dir: Path
    metrics: dict
    timings: dict[str, float] = field(default_factory=dict)


def run_pipeline(
    config: PipelineConfig, *, progress: bool = False, log: Callable[[str], None] = lambda s: None
) -> RunResult:
    """Run every step of ``config`` and write the output folder whole."""
    start = time.perf_counter()
    timings: dict[str, float] = {}
    final = Path(config.output)
    description = load_description(config.data.description)
    survey = read_survey(config.data.survey, description)
    _check_before_work(config, survey, final)

    def step(name: str):
        timings[name] = time.perf_counter()
        log(f"{name}...")

    def done(name: str):
        timings[name] = time.perf_counter() - timings[name]
        log(f"{name}: {timings[name]:.1f} s")

    with staged_dir(final) as staging, ExitStack() as stack:
        step("evaluate")
        metrics = evaluate_models(survey, settings=config.model)
        done("evaluate")
        step("train")
        model = train(survey, settings=config.model)
        model.metrics = metrics
        save_model(model, staging / "model")
        atomic_write_json(staging / "metrics.json", metrics)
        done("train")

        step("explain")
        explanation = explain(model, survey.frame)
        write_table(shap_table(explanation), staging / "shap_modifiable.csv")
        done("explain")

        step("prescribe")
        table = prescribe(
            survey, model, settings=config.prescribe, explanation=explanation, progress=progress
        )
        write_table(table, staging / "prescriptions.csv")
        done("prescribe")

        fidelity_summary = None
        if config.fidelity.enabled:
            step("fidelity")
            # both modes' optima under the penalty objective (a goal would change the
            # question), without the minimum-gain rule (a policy, not model error)
            base = config.prescribe.model_copy(
                update={"min_gain": 0.0, "min_gain_prob": 0.0, "goal": None}
            )
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
            per_person, fidelity_summary = fidelity_report(
                tables["surrogate"], tables["exact"], base, factors=description.modifiable_names
            )
            write_table(per_person, staging / "fidelity.csv")
            atomic_write_json(staging / "fidelity.json", fidelity_summary)
            done("fidelity")

        step("pareto")
        sweep = stack.enter_context(sweeper(config.cluster, model, explanation, progress))
        people = (
            survey.frame
            if config.pareto.people is None
            else survey.frame.loc[list(config.pareto.people)]
        )
        sweep_settings = config.prescribe.model_copy(update={"mode": config.pareto.mode})
        fronts = sweep(
            person_fronts,
            people,
            settings=sweep_settings,
            budgets=config.pareto.budgets,
            ks=config.pareto.ks,
        )
        write_table(fronts, staging / "pareto.csv")
        done("pareto")

        step("sensitivity")
        points = sweep(
            sensitivity_points,
            survey.frame,
            settings=config.prescribe,
            lams=config.sensitivity.lams,
            scales=config.sensitivity.resistance_scales,
            ks=config.sensitivity.ks,
        )
        sens = summarise(points, survey.frame, description.modifiable_names)
        write_table(sens, staging / "sensitivity.csv")
        done("sensitivity")

        step("plots")
        plot_all(staging, show_people=_shown(config, fronts), description=description)
        done("plots")

        timings["total"] = time.perf_counter() - start
        curve_k = population_curve(fronts, by="k")
        atomic_write_text(
            staging / "summary.md",
            summary_markdown(
                config,
                metrics,
                table,
                curve_k,
                fidelity_summary,
                timings,
                sorted(p.name for p in (staging / "figures").glob("*.png")),
                description,
                survey.frame,
            ),
        )
    return RunResult(final, metrics, timings)


def _shown(config: PipelineConfig, fronts: pd.DataFrame) -> list[int] | None:
    """The configured people to draw, among those swept; None lets the plot choose."""
    swept = set(fronts["person_id"])
    shown = [p for p in config.pareto.show_people or () if p in swept]
    return shown or None


def _check_before_work(config: PipelineConfig, survey, final: Path) -> None:
    """Refuse, before any work, an output folder that would swallow the inputs, or
    people to sweep who are not in the survey."""
    inputs = [config.data.survey, config.data.description]
    resolved = final.resolve()
    for path in filter(None, inputs):
        if resolved == path.resolve() or resolved in path.resolve().parents:
            raise ConfigError(f"output: {final} holds the input {path}; choose another folder")
    if config.pareto.people is not None:
        unknown = [p for p in config.pareto.people if p not in survey.frame.index]
        if unknown:
            raise ConfigError(f"pareto.people: no person with id {unknown[0]} in the survey")


def run_pareto(
    model_dir: Path,
    out_dir: Path,
    *,
    survey: Path | None = None,
    mode: str = "surrogate",
    progress: bool = False,
) -> list[Path]:
    """``sleeprx pareto``: per-person fronts and population curves of a saved model."""
    model = load_model(model_dir)
    data = read_survey(survey, model.description)
    settings = make_settings(mode=mode)
    sweep = ParetoSettings()
    fronts = person_fronts(
        model, data.frame, settings=settings, budgets=sweep.budgets, ks=sweep.ks, progress=progress
    )
    out = Path(out_dir)
    written = [write_table(fronts, out / "pareto.csv")]
    for by in ("budget", "k"):
        written.append(write_table(population_curve(fronts, by=by), out / f"population_{by}.csv"))
    return written


def summary_markdown(
    config: PipelineConfig,
    metrics: dict,
    table: pd.DataFrame,
    curve_k: pd.DataFrame,
    fidelity: dict | None,
    timings: dict[str, float],
    figures: list[str],
    description: SurveyDescription,
    frame: pd.DataFrame,
) -> str:
    """The key numbers of a run, with links to its figures.

    The positive class is named as the description names it; the share of
    prescriptions the model disagrees with is among the people changed.
    """
    from sleeprx.survey.display import is_missing, positive_label

    def cell(value: object, spec: str) -> str:
        return "-" if is_missing(value) else format(float(value), spec)

    positive = positive_label(description)
    violations = constraint_violations(
        table, description, config.prescribe.max_changes, frame=frame
    )
    ok = table[table["status"].isin(["changed", "no_change"])]
    shares = ok["n_changes"].value_counts(normalize=True).sort_index()
    changed = ok[ok["status"] == "changed"]
    n_changed = int(table["status"].eq("changed").sum())
    disagrees = table["model_disagrees"].astype(str).str.lower().eq("true")
    n_disagree = int((disagrees & table["status"].eq("changed")).sum())
    disagree_share = f" ({n_disagree / n_changed:.1%})" if n_changed else ""
    # the real model's view of everyone with a valid answer, before and after the advice
    p_before = ok["p_before"].astype(float)
    p_after = ok["p_after"].astype(float).where(ok["status"].eq("changed"), p_before)
    lines = [
        f"# sleeprx run: {config.name}",
        "",
        "Decision support for research, not medical advice.",
        "",
        "## Classifier",
        "",
        "| protocol | model | F1 | accuracy | ROC AUC | Brier |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for protocol in ("holdout", "grouped_cv"):
        for name, m in metrics[protocol].items():
            lines.append(
                f"| {protocol} | {name} | {m['f1']:.4f} | {m['accuracy']:.4f} | "
                f"{m['roc_auc']:.4f} | {m['brier']:.4f} |"
            )
    lines += [
        "",
        *reference_lines(metrics),
        f"{metrics['data']['n_distinct_rows']} of {metrics['data']['n_rows']} rows are "
        "distinct; grouped CV keeps copies together.",
        "",
        f"## Prescriptions ({config.prescribe.mode} mode, K={config.prescribe.max_changes}, "
        f"lambda={config.prescribe.lam:g}, minimum gain {config.prescribe.min_gain:g})",
        "",
        f"- people: {len(table)} ({(table['status'] == 'error').sum()} with invalid data)",
    ]
    for k, share in shares.items():
        lines.append(f"- {k} change(s): {share:.1%}")
    lines += [
        f"- no change: {(ok['status'] == 'no_change').mean():.1%}",
        f"- mean gain among changed (log-odds of {positive}): "
        f"surrogate {changed['gain_surrogate'].mean():.3f}, "
        f"real model {changed['gain_logit'].mean():.3f}",
        f"- predicted to have {positive} (p >= 0.5): {(p_before >= 0.5).mean():.1%} before, "
        f"{(p_after >= 0.5).mean():.1%} after the prescriptions; mean probability "
        f"{p_before.mean():.3f} before, {p_after.mean():.3f} after",
        f"- prescriptions the model disagrees with: {n_disagree} of {n_changed} people "
        f"changed{disagree_share}",
        f"- constraint violations (safe values, rules, direction, largest change, K, "
        f"linear constraints): {len(violations)}",
        f"- median solve time per person: {1000 * ok['solve_seconds'].median():.2f} ms",
        "",
        f"## Population curve by number of changes (real model, {positive})",
        "",
        f"Gain in log-odds of {positive}; probability of {positive}; share of people "
        f"predicted to have {positive} (p >= 0.5) after the best change with at most K "
        "factors.",
        "",
        "| K | mean gain | marginal | mean probability | predicted share | rise (points) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for _, r in curve_k.iterrows():
        lines.append(
            f"| {int(r['k'])} | {r['mean_gain_verified']:.3f} | "
            f"{cell(r['marginal_gain'], '.3f')} | "
            f"{cell(r.get('mean_p_after'), '.3f')} | "
            f"{cell(r.get('share_predicted_positive'), '.1%')} | "
            f"{cell(100 * r.get('rise_share_positive', float('nan')), '+.1f')} |"
        )
    k_knee = knee(curve_k["k"].to_numpy(float), curve_k["mean_gain_verified"].to_numpy(float))
    lines += ["", f"Knee of the curve: K = {k_knee.x:g}.", ""]
    if fidelity is not None:
        lines += [
            "## Fidelity: surrogate against exact mode (true objective, minimum gain off)",
            "",
            f"- prescriptions that differ: {fidelity['share_differ']:.1%}",
            f"- loss of using the surrogate (log-odds of {positive}): "
            f"mean {fidelity['mean_loss']:.3f}, "
            f"worst {fidelity['worst_loss']:.3f}",
            f"- surrogate prescriptions whose real gain is not positive: "
            f"{fidelity['share_surrogate_nonpositive_real_gain']:.1%}",
            "",
        ]
    lines += ["## Wall time (s)", ""]
    lines += [f"- {name}: {seconds:.1f}" for name, seconds in timings.items()]
    lines += ["", "## Figures", ""]
    lines += [f"- [{name}](figures/{name})" for name in figures]
    return "\n".join(lines) + "\n"


def reference_lines(metrics: dict) -> list[str]:
    """The description's published figures, if it carries any (nothing otherwise)."""
    reference = metrics.get("reference")
    if not reference:
        return []
    figures = ", ".join(f"{k} {v:g}" for k, v in reference["metrics"].items())
    return [f"Reference ({reference['source']}): {figures}.", ""]


@contextmanager
def sweeper(cluster: ClusterConfig, model, explanation, progress: bool):
    """A function that runs a sweep over people, in this process or on Dask."""
    if cluster.workers is None and cluster.scheduler is None:

        def local(fn, frame, **options):
            return fn(model, frame, explanation=explanation, progress=progress, **options)

        yield local
        return
    from sleeprx.batch.engine import dask_client
    from sleeprx.batch.sweeps import map_people, share_model

    with dask_client(cluster.workers, cluster.scheduler) as client:
        # sent once for every sweep, with the curves the sweeps use
        shipped = share_model(client, replace(model, curves=explanation.curves))

        def distributed(fn, frame, **options):
            return map_people(client, fn, shipped, frame, chunk_size=cluster.chunk_size, **options)

        yield distributed
