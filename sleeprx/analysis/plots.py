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
``model/meta.json``    the model's survey description (key ``description``): labels,
                       units, clock times and the positive class of every figure

Every figure takes ``description`` (a :class:`~sleeprx.survey.description.SurveyDescription`,
or None): axis titles, tick labels and legends use its labels, units and positive
class (:mod:`sleeprx.survey.display`); without one they fall back to the column names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from sleeprx.analysis.figures.model import (
    fidelity_figure,
    reliability_figure,
    shap_summary_figure,
    shap_table,
)
from sleeprx.analysis.figures.pareto import (
    k_curve_figure,
    person_fronts_figure,
    population_pareto_figure,
    probability_curve_figure,
    sensitivity_heatmap,
)
from sleeprx.analysis.figures.prescriptions import (
    changes_histogram,
    factor_share_figure,
    surrogate_vs_verified_figure,
)
from sleeprx.analysis.figures.style import DOUBLE, SINGLE, save_figure
from sleeprx.survey.description import SurveyDescription, description_from_dict
from sleeprx.utils.errors import ArtifactError, DescriptionError

__all__ = [
    "DOUBLE",
    "SINGLE",
    "changes_histogram",
    "factor_share_figure",
    "fidelity_figure",
    "k_curve_figure",
    "person_fronts_figure",
    "plot_all",
    "population_pareto_figure",
    "probability_curve_figure",
    "read_run_description",
    "reliability_figure",
    "save_figure",
    "sensitivity_heatmap",
    "shap_summary_figure",
    "shap_table",
    "surrogate_vs_verified_figure",
]


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
    ``shap_modifiable.csv`` and ``fidelity.csv`` exist (see the module docstring) and
    returns the files written. Labels, units and the positive class come from
    ``description``, by default the one in the folder's ``model/meta.json`` (column
    names when there is none). ``show_people`` picks the people of the
    individual-fronts figure.

    Figures: ``n_changes``, ``factor_share``, ``surrogate_vs_verified`` (prescriptions);
    ``pareto_population``, ``pareto_people`` (budget sweep), ``pareto_k`` (K sweep),
    ``pareto_probability`` (either sweep, probability scale); ``sensitivity_k<K>``;
    ``shap_summary``; ``fidelity``.
    """
    run = Path(run_dir)
    present = {name: run / name for name in _RUN_FILES if (run / name).is_file()}
    if not present:
        raise ArtifactError(f"{run}: none of {list(_RUN_FILES)} found; is this a run folder?")
    if description is None:
        description = read_run_description(run)
    figures: list[tuple[str, Callable[[], Figure]]] = []
    for name, path in present.items():
        figures += _FIGURES_OF[name](_read(path), description, show_people)
    written: list[Path] = []
    for name, make in figures:
        try:
            figure = make()
        except KeyError as exc:  # a table from elsewhere, or from an older sleeprx
            raise ArtifactError(f"{run}: cannot draw {name}: a table lacks column {exc}") from None
        written += save_figure(figure, run / "figures" / name)
    return written


#: A figure's file name and how to draw it.
_Figures = list[tuple[str, Callable[[], Figure]]]


def _prescription_figures(table: pd.DataFrame, description, show_people) -> _Figures:
    return [
        ("n_changes", lambda: changes_histogram(table)),
        ("factor_share", lambda: factor_share_figure(table, description=description)),
        (
            "surrogate_vs_verified",
            lambda: surrogate_vs_verified_figure(table, description=description),
        ),
    ]


def _pareto_figures(fronts: pd.DataFrame, description, show_people) -> _Figures:
    sweeps = set(fronts["sweep"])
    figures: _Figures = []
    if "budget" in sweeps:
        figures += [
            (
                "pareto_population",
                lambda: population_pareto_figure(fronts, description=description),
            ),
            (
                "pareto_people",
                lambda: person_fronts_figure(fronts, show_people, description=description),
            ),
        ]
    if "k" in sweeps:
        figures.append(("pareto_k", lambda: k_curve_figure(fronts, description=description)))
    if sweeps & {"budget", "k"}:
        figures.append(
            (
                "pareto_probability",
                lambda: probability_curve_figure(fronts, description=description),
            )
        )
    return figures


def _sensitivity_figures(sens: pd.DataFrame, description, show_people) -> _Figures:
    return [
        (
            f"sensitivity_k{k}",
            functools.partial(sensitivity_heatmap, sens, k=int(k), description=description),
        )
        for k in sorted(sens["k"].unique())
    ]


def _shap_figures(shap: pd.DataFrame, description, show_people) -> _Figures:
    return [("shap_summary", lambda: shap_summary_figure(shap, description=description))]


def _fidelity_figures(fidelity: pd.DataFrame, description, show_people) -> _Figures:
    return [("fidelity", lambda: fidelity_figure(fidelity, description=description))]


#: The figures each table of a run folder gives, in the order they are drawn.
_FIGURES_OF: dict[str, Callable[..., _Figures]] = {
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
