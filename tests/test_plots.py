"""Every figure is a labelled matplotlib Figure, saved as PNG and SVG."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from sleeprx.analysis import plots
from sleeprx.analysis.fronts import person_fronts
from sleeprx.analysis.sensitivity import sensitivity
from sleeprx.errors import ArtifactError
from sleeprx.learn.explain import explain
from sleeprx.prescribe import prescribe
from sleeprx.settings import PrescribeSettings


@pytest.fixture(scope="module")
def explanation(small_model, survey):
    return explain(small_model, survey.frame)


@pytest.fixture(scope="module")
def ids(survey):
    return list(survey.frame.index[::19][:20])


@pytest.fixture(scope="module")
def tables(small_model, survey, explanation, ids):
    """The four tables of a run, on twenty people."""
    frame = survey.frame.loc[ids]
    settings = PrescribeSettings()
    return {
        "prescriptions": prescribe(
            survey, small_model, settings=settings, ids=ids, explanation=explanation
        ),
        "pareto": person_fronts(
            small_model,
            frame,
            settings=settings,
            budgets=(0, 1, 2, 4, 8),
            ks=(0, 1, 2),
            explanation=explanation,
        ),
        "sensitivity": sensitivity(
            small_model,
            frame,
            settings=settings,
            lams=(0.0, 0.1, 0.5),
            scales=(0.5, 1.0, 2.0),
            ks=(1, 2),
            explanation=explanation,
        ),
        "shap_modifiable": plots.shap_table(explanation),
    }


def _figures(tables, explanation):
    pareto, rx = tables["pareto"], tables["prescriptions"]
    return {
        "population": plots.population_pareto_figure(pareto),
        "k_curve": plots.k_curve_figure(pareto),
        "people": plots.person_fronts_figure(pareto, max_people=3),
        "chosen_people": plots.person_fronts_figure(pareto, [int(pareto["person_id"].iloc[0])]),
        "heatmap": plots.sensitivity_heatmap(tables["sensitivity"], k=1),
        "changes": plots.changes_histogram(rx),
        "factors": plots.factor_share_figure(rx),
        "shap_from_explanation": plots.shap_summary_figure(explanation),
        "shap_from_table": plots.shap_summary_figure(tables["shap_modifiable"]),
        "fidelity": plots.surrogate_vs_verified_figure(rx),
    }


def test_every_plot_is_a_labelled_figure_saved_as_png_and_svg(tables, explanation, tmp_path):
    for name, fig in _figures(tables, explanation).items():
        assert isinstance(fig, Figure), name
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel(), name
        assert ax.has_data() or ax.images, name
        width, _ = fig.get_size_inches()
        assert width <= 7.0, name
        written = plots.save_figure(fig, tmp_path / name)
        assert [p.name for p in written] == [f"{name}.png", f"{name}.svg"]
        assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in written[1].read_text(encoding="utf-8")[:2000]


def test_fonts_are_at_least_8_points(tables, explanation):
    fig = plots.population_pareto_figure(tables["pareto"])
    ax = fig.axes[0]
    assert ax.xaxis.label.get_fontsize() >= 8
    assert all(t.get_fontsize() >= 8 for t in ax.get_xticklabels())


def test_factor_share_ignores_the_probability_columns(tables):
    fig = plots.factor_share_figure(tables["prescriptions"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == ["daily steps", "physical activity", "sleep duration", "stress level"]


def test_shap_table_format(explanation, small_model):
    table = plots.shap_table(explanation)
    names = small_model.description.modifiable_names
    expected = ["person_id"] + [c for n in names for c in (f"shap_{n}", f"value_{n}")]
    assert list(table.columns) == expected
    assert len(table) == len(explanation.shap_values)


def test_plot_all_writes_every_figure(tables, tmp_path):
    for name, table in tables.items():
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    written = plots.plot_all(tmp_path)
    names = {p.name for p in written}
    for stem in (
        "n_changes",
        "factor_share",
        "surrogate_vs_verified",
        "pareto_population",
        "pareto_people",
        "pareto_k",
        "sensitivity_k1",
        "sensitivity_k2",
        "shap_summary",
    ):
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem
    assert all(p.parent == tmp_path / "figures" and p.stat().st_size > 0 for p in written)


def test_plot_all_needs_a_run_folder(tmp_path):
    with pytest.raises(ArtifactError, match="none of"):
        plots.plot_all(tmp_path)


def test_unknown_person_is_named(tables):
    with pytest.raises(ArtifactError, match="person 999999"):
        plots.person_fronts_figure(tables["pareto"], [999999])


def test_heatmap_refuses_a_missing_k(tables):
    with pytest.raises(ArtifactError, match="k = 7"):
        plots.sensitivity_heatmap(pd.DataFrame(tables["sensitivity"]), k=7)
