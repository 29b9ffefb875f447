"""Figures for the paper: every function returns a matplotlib Figure and shows nothing.

The figures are made in :mod:`sleeprx.analysis.figures`, one module per family; this
module gathers them and draws every figure of a run folder (:func:`plot_all`).

Figures are built on :class:`matplotlib.figure.Figure` directly, without pyplot, so
they need no display, hold no global state and are freed with their last reference.
They are sized for a journal page (:data:`SINGLE` column, :data:`DOUBLE` column) with
fonts of at least 8 pt; :func:`save_figure` writes each one as PNG (200 dpi) and SVG.

Inputs are the tables a run writes (see :func:`plot_all`):

``prescriptions.csv``  :func:`sleeprx.prescribing.run.prescribe`'s table
``pareto.csv``         :func:`sleeprx.analysis.fronts.person_fronts`'s table
``sensitivity.csv``    :func:`sleeprx.analysis.sensitivity.sensitivity`'s table
``shap_modifiable.csv`` :func:`shap_table`: one row per person with ``person_id``,
                       ``shap_<factor>`` (the factor's SHAP value, log-odds) and
                       ``value_<factor>`` (the factor's value) for every modifiable factor
``population_k.csv``, ``population_budget.csv``
                       :func:`sleeprx.analysis.refits.population_table`: the population
                       curves, with their interval over the model's bootstrap refits
                       (optional; without them the curves are computed from pareto.csv)
``model/meta.json``    the model's survey description (key ``description``): labels,
                       units, clock times and the positive class of every figure

Every figure has a title (drawn above it) and a caption (kept as the figure's label:
:func:`caption_of`); :func:`plot_all` writes them to ``figures/captions.json``, which
``summary.md`` embeds under each figure. Figures for people speak in the probability of
the positive outcome, in percent; the SHAP summary, the fidelity and the surrogate's
promise are diagnostics of the model and stay in log-odds.

Every figure takes ``description`` (a :class:`~sleeprx.survey.description.SurveyDescription`,
or None): axis titles, tick labels and legends use its labels, units and positive
class (:mod:`sleeprx.survey.display`); without one they fall back to the column names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from sleeprx.analysis.figures.curves import (
    k_curve_figure,
    population_pareto_figure,
    probability_curve_figure,
)
from sleeprx.analysis.figures.model import (
    fidelity_figure,
    reliability_figure,
    shap_summary_figure,
    shap_table,
)
from sleeprx.analysis.figures.pareto import person_fronts_figure
from sleeprx.analysis.figures.prescriptions import (
    changes_histogram,
    factor_share_figure,
    surrogate_vs_verified_figure,
)
from sleeprx.analysis.figures.sensitivity import sensitivity_figure
from sleeprx.analysis.figures.style import (
    DOUBLE,
    SINGLE,
    caption_of,
    save_figure,
    title_of,
)
from sleeprx.survey.description import SurveyDescription, description_from_dict
from sleeprx.utils.errors import ArtifactError, DescriptionError
from sleeprx.utils.files import atomic_write_json

__all__ = [
    "CAPTIONS",
    "DOUBLE",
    "SINGLE",
    "caption_of",
    "changes_histogram",
    "factor_share_figure",
    "fidelity_figure",
    "k_curve_figure",
    "person_fronts_figure",
    "plot_all",
    "population_pareto_figure",
    "probability_curve_figure",
    "read_captions",
    "read_run_description",
    "reliability_figure",
    "save_figure",
    "sensitivity_figure",
    "shap_summary_figure",
    "shap_table",
    "surrogate_vs_verified_figure",
    "title_of",
]

#: The file in a run's ``figures/`` folder with every figure's title and caption.
CAPTIONS = "captions.json"


_RUN_FILES = (
    "prescriptions.csv",
    "pareto.csv",
    "sensitivity.csv",
    "shap_modifiable.csv",
    "fidelity.csv",
)


def read_run_description(run_dir: str | Path) -> SurveyDescription | None:
    """The survey description of a run folder's model (``model/meta.json``, key
    ``description``), or None when the folder has no model."""
    meta = Path(run_dir) / "model" / "meta.json"
    if not meta.is_file():
        return None
    try:
        raw = json.loads(meta.read_text(encoding="utf-8"))["description"]
        return description_from_dict(raw, source=f"{meta} (description)")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{meta}: no readable survey description ({exc!r})") from None
    except DescriptionError as exc:
        raise ArtifactError(str(exc)) from None


def plot_all(
    run_dir: str | Path,
    *,
    show_people: Sequence[int] | None = None,
    description: SurveyDescription | None = None,
) -> list[Path]:
    """Draw every figure the run folder's tables allow into ``run_dir/figures/``.

    Reads whichever of ``prescriptions.csv``, ``pareto.csv``, ``sensitivity.csv``,
    ``shap_modifiable.csv`` and ``fidelity.csv`` exist, and ``population_k.csv`` and
    ``population_budget.csv`` for the curves' intervals (see the module docstring), and
    returns the files written, ``figures/captions.json`` last. Labels, units and the
    positive class come from ``description``, by default the one in the folder's
    ``model/meta.json`` (column names when there is none). ``show_people`` picks the
    people of the individual-fronts figure.

    Figures: ``n_changes``, ``factor_share``, ``surrogate_vs_verified`` (prescriptions);
    ``pareto_population``, ``pareto_people`` (budget sweep), ``pareto_k`` (K sweep),
    ``pareto_probability`` (either sweep); ``sensitivity``; ``shap_summary``;
    ``fidelity``.
    """
    run = Path(run_dir)
    present = {name: run / name for name in _RUN_FILES if (run / name).is_file()}
    if not present:
        raise ArtifactError(f"{run}: none of {list(_RUN_FILES)} found; is this a run folder?")
    if description is None:
        description = read_run_description(run)
    tables = {name: _read(path) for name, path in present.items()}
    context = _Context(description, show_people, _population_tables(run), _unused(tables))
    figures: list[tuple[str, Callable[[], Figure]]] = []
    for name, table in tables.items():
        figures += _FIGURES_OF[name](table, context)
    written: list[Path] = []
    captions: dict[str, dict[str, str]] = {}
    for name, make in figures:
        try:
            figure = make()
        except KeyError as exc:  # a table from elsewhere, or from an older sleeprx
            raise ArtifactError(f"{run}: cannot draw {name}: a table lacks column {exc}") from None
        written += save_figure(figure, run / "figures" / name)
        captions[name] = {"title": title_of(figure), "caption": caption_of(figure)}
    written.append(atomic_write_json(run / "figures" / CAPTIONS, captions))
    return written


def read_captions(run_dir: str | Path) -> dict[str, dict[str, str]]:
    """The titles and captions :func:`plot_all` wrote, by figure name ({} without any)."""
    path = Path(run_dir) / "figures" / CAPTIONS
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not readable JSON ({exc})") from None


@dataclass(frozen=True)
class _Context:
    """What every figure of a run may need besides its own table."""

    description: SurveyDescription | None
    show_people: Sequence[int] | None
    curves: dict[str, pd.DataFrame]
    unused: tuple[str, ...]


def _population_tables(run: Path) -> dict[str, pd.DataFrame]:
    """The run's ``population_<sweep>.csv`` tables, by sweep (those present)."""
    paths = {by: run / f"population_{by}.csv" for by in ("k", "budget")}
    return {by: _read(path) for by, path in paths.items() if path.is_file()}


def _unused(tables: dict[str, pd.DataFrame]) -> tuple[str, ...]:
    """The levers whose SHAP values are all 0: the model never splits on them."""
    shap = tables.get("shap_modifiable.csv")
    if shap is None:
        return ()
    return tuple(
        c.removeprefix("shap_")
        for c in shap.columns
        if c.startswith("shap_") and shap[c].abs().max() == 0
    )


#: A figure's file name and how to draw it.
_Figures = list[tuple[str, Callable[[], Figure]]]


def _prescription_figures(table: pd.DataFrame, c: _Context) -> _Figures:
    return [
        ("n_changes", lambda: changes_histogram(table)),
        (
            "factor_share",
            lambda: factor_share_figure(table, description=c.description, unused=c.unused),
        ),
        (
            "surrogate_vs_verified",
            lambda: surrogate_vs_verified_figure(table, description=c.description),
        ),
    ]


def _pareto_figures(fronts: pd.DataFrame, c: _Context) -> _Figures:
    sweeps = set(fronts["sweep"])
    d, curves = c.description, c.curves
    figures: _Figures = []
    if "budget" in sweeps:
        figures += [
            (
                "pareto_population",
                lambda: population_pareto_figure(fronts, description=d, curve=curves.get("budget")),
            ),
            ("pareto_people", lambda: person_fronts_figure(fronts, c.show_people, description=d)),
        ]
    if "k" in sweeps:
        figures.append(
            ("pareto_k", lambda: k_curve_figure(fronts, description=d, curve=curves.get("k")))
        )
    if sweeps & {"budget", "k"}:
        figures.append(
            (
                "pareto_probability",
                lambda: probability_curve_figure(fronts, description=d, curves=curves),
            )
        )
    return figures


def _sensitivity_figures(sens: pd.DataFrame, c: _Context) -> _Figures:
    return [("sensitivity", lambda: sensitivity_figure(sens, description=c.description))]


def _shap_figures(shap: pd.DataFrame, c: _Context) -> _Figures:
    return [("shap_summary", lambda: shap_summary_figure(shap, description=c.description))]


def _fidelity_figures(fidelity: pd.DataFrame, c: _Context) -> _Figures:
    return [("fidelity", lambda: fidelity_figure(fidelity, description=c.description))]


#: The figures each table of a run folder gives, in the order they are drawn.
_FIGURES_OF: dict[str, Callable[[pd.DataFrame, _Context], _Figures]] = {
    "prescriptions.csv": _prescription_figures,
    "pareto.csv": _pareto_figures,
    "sensitivity.csv": _sensitivity_figures,
    "shap_modifiable.csv": _shap_figures,
    "fidelity.csv": _fidelity_figures,
}


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not a readable table ({exc})") from None
