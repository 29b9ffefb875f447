"""A thin command line over the library; no logic of its own.

Every error a user can cause is a :class:`SleeprxError`: it is printed as one line
on stderr and the exit code is 2, with no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sleeprx.settings import BOOTSTRAP, PrescribeSettings
from sleeprx.utils.errors import ConfigError, ModelMismatchError, SleeprxError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="sleeprx: personal, minimal, feasible sleep-behaviour prescriptions. "
    "Decision support for research, not medical advice.",
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
if not out.is_terminal:  # files and pipes: do not squeeze the metrics table into 80 columns
    out.width = 160


def _default(name: str):
    """A prescription setting's default, read from the settings model (written once)."""
    return PrescribeSettings.model_fields[name].default


def _help(name: str) -> str:
    return PrescribeSettings.model_fields[name].description or name


def _print_version(value: bool) -> None:
    if value:
        # the package itself, loaded before any of its modules: importing it here would
        # import the root that re-exports every layer, from the layer at the top
        version = sys.modules["sleeprx"].__version__
        out.print(f"sleeprx {version}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """sleeprx: personal, minimal, feasible sleep-behaviour prescriptions."""


@contextmanager
def flag(name: str) -> Iterator[None]:
    """Name the flag a library error is about: the library names the value it was
    given (``'p>=1.5': expected ...``), only the command line knows its flags."""
    try:
        yield
    except SleeprxError as exc:
        raise type(exc)(f"{name} {exc}") from None


@contextmanager
def shipped_survey_named(survey: Path | None) -> Iterator[None]:
    """Errors say "the shipped survey" where they name its file, when the user gave no
    ``--survey``: they never named that file, and its path means nothing to them."""
    try:
        yield
    except SleeprxError as exc:
        from sleeprx.survey.read import shipped_survey_path

        if survey is not None:
            raise
        try:
            path = shipped_survey_path()
        except SleeprxError:
            raise exc from None
        text = str(exc).replace(str(path), path.name).replace(path.name, "the shipped survey")
        raise type(exc)(text) from None


def check_model_fits(model, survey: Path | None) -> None:
    """A model of another survey than ``survey``'s, refused in one line with advice."""
    try:
        model.check_survey_file(survey)
    except ModelMismatchError as exc:
        advice = "pass --survey with a file of that survey, or use a model trained on this one"
        raise ModelMismatchError(f"{exc}; {advice}") from None


SurveyOpt = Annotated[
    Path | None,
    typer.Option(
        help="survey file (CSV, .xpt, .sav, .dta, .parquet); default: the shipped one",
        dir_okay=False,
    ),
]
ModelOpt = Annotated[Path, typer.Option("--model", help="folder written by 'sleeprx train'")]


@app.command()
def train(
    out_dir: Annotated[
        Path, typer.Option("--out", help="folder for model.json, meta.json, metrics.json")
    ],
    survey: SurveyOpt = None,
    description: Annotated[
        Path | None, typer.Option(help="survey description YAML; default: the shipped one")
    ] = None,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune", help="tune XGBoost by grouped CV with early stopping (needs optuna)"
        ),
    ] = False,
    trials: Annotated[
        int | None, typer.Option(min=1, help="trials of --tune; default: ModelSettings' 30")
    ] = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="fit a calibration map of the margin, kept if it lowers out-of-fold Brier and ECE",
        ),
    ] = False,
    monotone: Annotated[
        bool,
        typer.Option("--monotone", help="monotone constraints from the description"),
    ] = False,
    cv_repeats: Annotated[
        int | None, typer.Option(min=1, help="repeats of the grouped CV; default 5")
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            min=0,
            help=f"extra boosters refitted on bootstrap resamples ({BOOTSTRAP} for --robust)",
        ),
    ] = 0,
    seed: Annotated[
        int | None, typer.Option(help="seed of the split, the CV and XGBoost; default 42")
    ] = None,
    trust_region: Annotated[
        str | None,
        typer.Option(help="fit a trust region on the survey's levers: isolation_forest or knn"),
    ] = None,
) -> None:
    """Evaluate the classifiers, train XGBoost on all rows and save it (no pickle)."""
    from sleeprx.learn.model import ModelSettings, save_model
    from sleeprx.survey.description import load_description
    from sleeprx.survey.read import read_survey
    from sleeprx.utils.files import check_output_dir
    from sleeprx.utils.validation import validate

    check_output_dir(out_dir)  # refuse a bad --out before the cross-validation
    values: dict = {"calibrate": calibrate, "monotone": monotone, "bootstrap": bootstrap}
    values |= {"tune_trials": trials} if trials is not None else {}
    values |= {"cv_repeats": cv_repeats} if cv_repeats is not None else {}
    values |= {"seed": seed} if seed is not None else {}
    values |= {"trust_region": trust_region} if trust_region is not None else {}
    with flag("--trust-region"):
        settings = validate(ModelSettings, values, ConfigError, "settings")
    with shipped_survey_named(survey):
        data = read_survey(survey, load_description(description))
        model = _evaluate_and_fit(data, settings, tune=tune)
    save_model(model, out_dir)
    out.print(metrics_table(model.metrics, calibrated=settings.calibrate))
    out.print(f"wrote {out_dir}/model.json, meta.json, metrics.json")


def _evaluate_and_fit(data, settings, *, tune: bool):
    """The model of ``train``: tuned first if asked, evaluated, then fitted on every row."""
    from sleeprx.learn.evaluate import evaluate_models
    from sleeprx.learn.model import train as fit

    tuned = None
    if tune:
        from sleeprx.learn.tuning import tune as search

        with err.status(f"tuning XGBoost ({settings.tune_trials} trials)...") as status:
            tuned = search(data, settings=settings, log=lambda line: status.update(line))
        err.print(tuning_line(tuned), highlight=False)
    with err.status("evaluating (hold-out and grouped cross-validation)..."):
        metrics = evaluate_models(data, settings=settings, tuned=tuned)
    for line in evaluation_lines(metrics):
        err.print(line, highlight=False)
    if tuned is not None:
        metrics["tuning"] = tuned.tuning.model_dump()
    model = fit(data, settings=tuned or settings)
    model.metrics = metrics
    return model


def tuning_line(tuned) -> str:
    """One line: the tuned hyper-parameters and what the search cost."""
    from sleeprx.learn.tuning import TUNED_PARAMETERS

    record = tuned.tuning
    params = ", ".join(f"{k}={getattr(tuned, k):.4g}" for k in TUNED_PARAMETERS)
    return (
        f"tuned in {record.seconds:.0f} s ({record.trials} trials, best-of-search AUC "
        f"{record.search_best_roc_auc:.4f}): {params}"
    )


def evaluation_lines(metrics: dict) -> list[str]:
    """The nested score of tuning and the calibration verdict, when there are any."""
    lines = []
    nested = metrics.get("nested_tuning")
    if nested:
        lines.append(
            f"tuning, nested grouped-CV AUC {nested['roc_auc']:.4f} "
            f"(best of search {nested['search_best_roc_auc']:.4f}, optimistic)"
        )
    if "verdict" in metrics.get("calibration", {}):
        lines.append(metrics["calibration"]["verdict"])
    return lines


def metrics_table(metrics: dict, *, calibrated: bool) -> Table:
    """The two evaluations side by side, with the description's reference figures.

    ECE is the expected calibration error over 10 equal-width probability bins;
    "ECE cal." (shown when ``calibrated``) is XGBoost's after the cross-validated
    calibration map (or the identity, where the map did not lower the inner out-of-fold
    Brier and ECE).
    """
    reference = metrics.get("reference")
    title = "Classifier"
    if reference:
        figures = ", ".join(f"{k} {v:g}" for k, v in reference["metrics"].items())
        title += f" (reference, {reference['source']}: {figures})"
    table = Table(title=title)
    columns = ["protocol", "model", "F1", "accuracy", "ROC AUC", "Brier", "ECE"]
    keys = ["f1", "accuracy", "roc_auc", "brier", "ece"]
    if calibrated:
        columns.append("ECE cal.")
        keys.append("ece_calibrated")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for protocol in ("holdout", "grouped_cv"):
        for name, m in metrics[protocol].items():

            def cell(key: str, m=m) -> str:
                if key not in m:
                    return "-"
                std = m.get(f"{key}_std")
                return f"{m[key]:.4f}" + (f"±{std:.3f}" if std is not None else "")

            table.add_row(protocol, name, *(cell(k) for k in keys))
    return table


BatchOpt = {
    "workers": "batch: solve on a local Dask cluster of N processes",
    "scheduler": "batch: solve on the Dask cluster at tcp://host:port",
    "resume": "batch: finish an interrupted run of the same inputs",
    "chunk_size": "batch: people per task and per Parquet part (2000)",
}


@app.command()
def prescribe(
    model_dir: ModelOpt,
    out_file: Annotated[Path, typer.Option("--out", help="output table (.csv or .json)")],
    survey: SurveyOpt = None,
    max_changes: Annotated[int, typer.Option(help=_help("max_changes"))] = _default("max_changes"),
    lam: Annotated[float, typer.Option(help=_help("lam"))] = _default("lam"),
    min_gain: Annotated[float, typer.Option(help=_help("min_gain"))] = _default("min_gain"),
    min_gain_prob: Annotated[float, typer.Option(help=_help("min_gain_prob"))] = _default(
        "min_gain_prob"
    ),
    mode: Annotated[str, typer.Option(help=_help("mode"))] = _default("mode"),
    goal: Annotated[str | None, typer.Option(help="recourse goal, e.g. p>=0.7")] = None,
    budget: Annotated[float | None, typer.Option(help=_help("budget"))] = _default("budget"),
    time_limit: Annotated[float, typer.Option(help=_help("time_limit"))] = _default("time_limit"),
    robust: Annotated[
        float | None,
        typer.Option(
            help="with --mode exact: the answer must hold in this share Q (0 < Q <= 1) of "
            "the model's bootstrap boosters (train --bootstrap B)"
        ),
    ] = _default("robust"),
    options: Annotated[int, typer.Option(help=_help("options"))] = _default("options"),
    ids: Annotated[str | None, typer.Option(help="comma-separated person ids")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or json; default: from --out's suffix")
    ] = None,
    workers: Annotated[int | None, typer.Option(help=BatchOpt["workers"])] = None,
    scheduler: Annotated[str | None, typer.Option(help=BatchOpt["scheduler"])] = None,
    resume: Annotated[bool, typer.Option("--resume", help=BatchOpt["resume"])] = False,
    chunk_size: Annotated[int | None, typer.Option(help=BatchOpt["chunk_size"])] = None,
    report_half: Annotated[bool, typer.Option("--report-half", help=_help("report_half"))] = False,
    require_half: Annotated[
        bool, typer.Option("--require-half", help=_help("require_half"))
    ] = False,
    require_plausible: Annotated[
        bool, typer.Option("--require-plausible", help=_help("require_plausible"))
    ] = False,
) -> None:
    """Prescribe for every person (or --ids), verified by the real classifier.

    With --workers, --scheduler, --resume or --chunk-size, the survey is solved in
    chunks of rows that stream into OUT.parts/ (Parquet) and the run can be resumed.
    """
    from sleeprx.settings import make_settings, parse_goal
    from sleeprx.utils.files import table_format

    with shipped_survey_named(survey):
        # refuse a bad format before solving anything
        with flag("--format" if fmt is not None else "--out"):
            fmt = table_format(out_file, fmt)
        with flag("--goal"):
            target = parse_goal(goal)
        settings = make_settings(
            mode=mode,
            max_changes=max_changes,
            lam=lam,
            min_gain=min_gain,
            min_gain_prob=min_gain_prob,
            goal=target,
            budget=budget,
            time_limit=time_limit,
            robust=robust,
            options=options,
            report_half=report_half,
            require_half=require_half,
            require_plausible=require_plausible,
        )
        person_ids = parse_ids(ids)
        if workers is None and not scheduler and not resume and chunk_size is None:
            return prescribe_here(survey, model_dir, out_file, settings, fmt, person_ids)
        batch = {"workers": workers, "scheduler": scheduler, "resume": resume}
        batch |= {"chunk_size": chunk_size} if chunk_size is not None else {}
        return prescribe_batch(survey, model_dir, out_file, settings, fmt, person_ids, **batch)


def prescribe_here(survey, model_dir, out_file, settings, fmt, ids) -> None:
    """``prescribe`` in this process: the whole survey read at once."""
    from sleeprx.learn.model import load_model
    from sleeprx.prescribing.options import first_options
    from sleeprx.prescribing.run import prescribe as run
    from sleeprx.prescribing.verify import constraint_violations
    from sleeprx.survey.read import read_survey
    from sleeprx.utils.files import write_table

    model = load_model(model_dir)
    check_model_fits(model, survey)
    check_robust_model(model, model_dir, settings)
    data = read_survey(survey, model.description, errors="collect")
    for problem in data.problems:
        if data.id_of(problem.person_id) is None:  # no id to key an error row by: say it here
            err.print(f"skipped (no valid id): {problem.message}", highlight=False)
    table = run(data, model, settings=settings, ids=ids, progress=sys.stderr.isatty())
    write_table(table, out_file, fmt)
    people = first_options(table)  # one row per person, with or without --options
    counts = people["status"].value_counts().to_dict()
    broken = constraint_violations(table, data.description, settings.max_changes, frame=data.frame)
    distinct = table.attrs.get("distinct_problems")
    share = f"; distinct problems: {distinct} of {len(people)}" if distinct is not None else ""
    plans = f" ({len(people)} people, up to {settings.options} plans each)"
    out.print(
        f"wrote {len(table)} rows{plans if settings.options > 1 else ''} to {out_file}: "
        f"{counts}; constraint violations: {len(broken)}{share}"
    )
    for line in broken[:10]:
        err.print(f"violation: {line}")
    out.print("Decision support, not medical advice.")


def prescribe_batch(survey, model_dir, out_file, settings, fmt, ids, **batch) -> None:
    """``prescribe`` in chunks (sleeprx.batch); progress lines go to stderr."""
    from sleeprx.batch import prescribe_batch as run
    from sleeprx.learn.model import load_model

    model = load_model(model_dir)
    check_model_fits(model, survey)
    check_robust_model(model, model_dir, settings)
    result = run(
        survey,
        model_dir,
        out_file,
        settings=settings,
        fmt=fmt,
        ids=ids,
        progress=sys.stderr.isatty(),
        log=lambda line: err.print(line, highlight=False),
        **batch,
    )
    for line in result.skipped_lines:
        err.print(f"skipped (no valid id): {line}", highlight=False)
    reused = f", {result.reused} reused" if result.reused else ""
    out.print(
        f"wrote {result.rows} rows to {out_file}: {result.status}; "
        f"constraint violations: {result.violations}",
        highlight=False,
    )
    out.print(
        f"parts: {result.parts}/ ({result.chunks} chunks{reused}); {result.seconds:.1f} s",
        highlight=False,
    )
    for line in result.violation_lines:
        err.print(f"violation: {line}")
    out.print("Decision support, not medical advice.")


def check_robust_model(model, model_dir: Path, settings: PrescribeSettings) -> None:
    """``--robust`` with a model that has no bootstrap boosters, refused in one line."""
    if settings.robust is not None and not model.bootstraps:
        raise ConfigError(
            f"--robust {settings.robust:g}: the model in {model_dir} has no bootstrap "
            "boosters; train one with 'sleeprx train --bootstrap 20'"
        )


def parse_ids(text: str | None) -> list[str] | None:
    """``--ids 1,5,9`` as a list of ids (typed like the survey's ids by ``prescribe``)."""
    if text is None:
        return None
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise ConfigError(f"--ids {text!r}: names no one; give ids like 1,5,9")
    return list(dict.fromkeys(ids))  # each person once, in the order given


@app.command()
def pareto(
    model_dir: ModelOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="folder for pareto.csv and curves")],
    survey: SurveyOpt = None,
    mode: Annotated[str, typer.Option(help="surrogate or exact")] = "surrogate",
) -> None:
    """Per-person Pareto fronts and population curves (CSV); draw them with 'plot'."""
    from sleeprx.app.pipeline import run_pareto
    from sleeprx.learn.model import load_model

    with shipped_survey_named(survey):
        model = load_model(model_dir)
        check_model_fits(model, survey)
        written = run_pareto(model, out_dir, survey=survey, mode=mode, progress=sys.stderr.isatty())
    out.print(f"wrote {', '.join(str(p) for p in written)}")


@app.command()
def plot(run: Annotated[Path, typer.Option("--run", help="a run folder with the CSVs")]) -> None:
    """Redraw every figure of a run from its CSVs, without re-solving."""
    from sleeprx.analysis.plots import plot_all

    written = plot_all(run)
    out.print(f"wrote {len(written)} files into {run / 'figures'}")


@app.command()
def describe(
    survey: Annotated[
        Path, typer.Argument(help="survey file: CSV, .xpt, .sav, .dta or .parquet", dir_okay=False)
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write the draft here; default: print it")
    ] = None,
) -> None:
    """Draft a survey description: columns, ranges, labels, levers commented out."""
    from sleeprx.survey.draft import draft_description

    text = draft_description(survey)
    if out_file is None:
        sys.stdout.write(text)
        return
    out_file.write_text(text, encoding="utf-8")
    out.print(f"wrote {out_file}; uncomment the levers to keep, then 'sleeprx train'")


@app.command()
def report(
    model_dir: ModelOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the pages and index.html")],
    survey: SurveyOpt = None,
    ids: Annotated[
        str | None, typer.Option(help="comma-separated person ids; default: all")
    ] = None,
    mode: Annotated[str, typer.Option(help=_help("mode"))] = _default("mode"),
    max_changes: Annotated[int, typer.Option(help=_help("max_changes"))] = _default("max_changes"),
    options: Annotated[int, typer.Option(help=_help("options"))] = _default("options"),
) -> None:
    """One self-contained HTML page per person (plan, alternatives, reasons) and an index."""
    from sleeprx.analysis.html import write_pages
    from sleeprx.analysis.pages import person_pages
    from sleeprx.learn.model import load_model
    from sleeprx.settings import make_settings
    from sleeprx.survey.read import read_survey
    from sleeprx.utils.files import check_output_dir, staged_dir

    check_output_dir(out_dir)
    with shipped_survey_named(survey):
        settings = make_settings(mode=mode, max_changes=max_changes, options=options)
        person_ids = parse_ids(ids)
        model = load_model(model_dir)
        check_model_fits(model, survey)
        data = read_survey(survey, model.description, errors="collect")
        pages = person_pages(data, model, person_ids, settings=settings)
    with staged_dir(out_dir) as staging:
        written = write_pages(pages, staging)
    out.print(f"wrote {len(written) - 1} pages and {out_dir / 'index.html'}", highlight=False)
    out.print("Decision support, not medical advice.")


@app.command()
def serve(
    model_dir: ModelOpt,
    host: Annotated[str, typer.Option(help="interface to bind; beyond loopback needs a token")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="solver processes, each with the model, fed from one queue")
    ] = 1,
    token_file: Annotated[
        Path | None, typer.Option(dir_okay=False, help="file holding the bearer token")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="allow binding beyond loopback without a token")
    ] = False,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="largest request body")] = 1 << 20,
    max_people: Annotated[int, typer.Option(min=1, help="most people in one request")] = 1000,
) -> None:
    """Serve prescriptions over HTTP (POST /prescribe, GET /description, GET /health)."""
    from sleeprx.app.serve import ServeConfig, check_binding, read_token, run

    if token_file is not None:
        with flag("--token-file"):
            read_token(token_file)  # refused before the model loads
    config = ServeConfig(
        str(model_dir), str(token_file) if token_file else None, max_body_bytes, max_people, workers
    )
    with flag("--host"):
        check_binding(host, token=token_file is not None, insecure=insecure)
    run(config, host=host, port=port)


@app.command("run")
def run_pipeline(config: Annotated[Path, typer.Argument(help="pipeline YAML")]) -> None:
    """Run a whole pipeline: train, explain, prescribe, sweep, plot, summarise."""
    from sleeprx.app.config import load_pipeline
    from sleeprx.app.pipeline import run_pipeline as execute

    pipeline = load_pipeline(config)
    result = execute(pipeline, progress=sys.stderr.isatty(), log=err.print, source=config)
    out.print(metrics_table(result.metrics, calibrated=pipeline.model.calibrate))
    shown = _display_path(result.out_dir)
    out.print(f"wrote {shown}/ (start with {shown}/summary.md)")
    out.print("Decision support, not medical advice.")


def _display_path(path: Path) -> str:
    """``path`` relative to the working folder when it is below it."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def main() -> None:
    """Console entry point: user errors exit with code 2 and one line, no traceback."""
    try:
        app(standalone_mode=False)
    except SleeprxError as exc:
        err.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: typer prints them, exit code 2
        exc.show()
        sys.exit(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
