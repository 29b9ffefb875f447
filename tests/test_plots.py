"""Every figure is a labelled matplotlib Figure, saved as PNG and SVG."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sleeprx.analysis import plots
from sleeprx.analysis.fronts import person_fronts, population_curve
from sleeprx.analysis.sensitivity import sensitivity
from sleeprx.learn.explain import explain
from sleeprx.prescribing.run import prescribe
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import description_from_dict
from sleeprx.utils.errors import ArtifactError


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
        "sensitivity": plots.sensitivity_figure(tables["sensitivity"]),
        "changes": plots.changes_histogram(rx),
        "factors": plots.factor_share_figure(rx),
        "shap_from_explanation": plots.shap_summary_figure(explanation),
        "shap_from_table": plots.shap_summary_figure(tables["shap_modifiable"]),
        "fidelity": plots.surrogate_vs_verified_figure(rx),
        "probability": plots.probability_curve_figure(pareto),
    }


def test_every_plot_is_a_labelled_figure_saved_as_png_and_svg(tables, explanation, tmp_path):
    for name, fig in _figures(tables, explanation).items():
        assert isinstance(fig, Figure), name
        ax = fig.axes[0]
        assert any(a.get_xlabel() for a in fig.axes), name
        assert any(a.get_ylabel() for a in fig.axes), name
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
        "pareto_probability",
        "sensitivity",
        "shap_summary",
    ):
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem
    assert all(p.parent == tmp_path / "figures" and p.stat().st_size > 0 for p in written)
    captions = plots.read_captions(tmp_path)
    assert {p.stem for p in written if p.suffix == ".png"} == set(captions)
    assert all(c["title"] and len(c["caption"]) > 40 for c in captions.values())


def test_plot_all_needs_a_run_folder(tmp_path):
    with pytest.raises(ArtifactError, match="none of"):
        plots.plot_all(tmp_path)


def test_unknown_person_is_named(tables):
    with pytest.raises(ArtifactError, match="person 999999"):
        plots.person_fronts_figure(tables["pareto"], [999999])


def test_sensitivity_needs_the_probability_columns(tables):
    with pytest.raises(ArtifactError, match="mean_p_after"):
        plots.sensitivity_figure(tables["sensitivity"].drop(columns="mean_p_after"))


LONG = "with a label long enough that it must be wrapped"


@pytest.fixture(scope="module")
def relabelled(description):
    """The shipped description with other words: a new positive class, long labels."""
    raw = description.model_dump(mode="json")
    raw["target"]["positive_label"] = "restful nights"
    for factor in raw["modifiable"]:
        factor["label"] = f"{factor['label']} {LONG}"
    return description_from_dict(raw)


def _texts(fig: Figure) -> str:
    """Every label, tick label, legend entry and text of a figure, as one string."""
    found = [plots.title_of(fig), plots.caption_of(fig)]
    for ax in fig.axes:
        found += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(loc="left")]
        found += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        found += [t.get_text() for t in ax.texts]
        if ax.get_legend():
            found += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        found += [t.get_text() for t in legend.get_texts()]
    return "\n".join(found).replace("\n", " ")


def _inside(fig: Figure) -> None:
    """Draw the figure: everything drawn of each axes (tick labels, axis labels, a
    colour bar's label) lies wholly inside the figure, so nothing is clipped."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    for ax in fig.axes:
        drawn = ax.get_tightbbox(renderer)
        assert drawn.x0 >= box.x0 - 0.5 and drawn.x1 <= box.x1 + 0.5, ax
        assert drawn.y0 >= box.y0 - 0.5 and drawn.y1 <= box.y1 + 0.5, ax


def test_figures_use_the_description_labels_and_positive_class(tables, explanation, relabelled):
    rx, pareto = tables["prescriptions"], tables["pareto"]
    shap = plots.shap_summary_figure(tables["shap_modifiable"], description=relabelled)
    ax = shap.axes[0]
    assert ax.get_xlabel() == "SHAP value (log-odds of restful nights)"
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert all("\n" in r for r in rows)  # wrapped
    assert any(r.replace("\n", " ").startswith(f"daily steps {LONG}") for r in rows)
    assert any("min/day" in r for r in rows)  # the value range, in the factor's unit
    factors = plots.factor_share_figure(rx, description=relabelled)
    ticks = [t.get_text().replace("\n", " ") for t in factors.axes[0].get_yticklabels()]
    assert sorted(ticks) == sorted(f.label for f in relabelled.modifiable)
    for fig in (
        plots.population_pareto_figure(pareto, description=relabelled),
        plots.k_curve_figure(pareto, description=relabelled),
        plots.person_fronts_figure(pareto, max_people=2, description=relabelled),
        plots.surrogate_vs_verified_figure(rx, description=relabelled),
        plots.sensitivity_figure(tables["sensitivity"], description=relabelled),
        plots.probability_curve_figure(pareto, description=relabelled),
    ):
        words = _texts(fig)
        assert "restful nights" in words and "good sleep" not in words


def test_without_a_description_labels_are_column_names(tables):
    ticks = plots.factor_share_figure(tables["prescriptions"]).axes[0].get_yticklabels()
    assert {t.get_text() for t in ticks} == {
        "daily steps",
        "physical activity",
        "sleep duration",
        "stress level",
    }
    fig = plots.shap_summary_figure(tables["shap_modifiable"])
    assert fig.axes[0].get_xlabel() == "SHAP value (log-odds of the positive outcome)"


def test_long_labels_are_not_clipped_and_the_colour_bar_stays_off_the_data(tables, relabelled):
    shap = plots.shap_summary_figure(tables["shap_modifiable"], description=relabelled)
    factors = plots.factor_share_figure(tables["prescriptions"], description=relabelled)
    for fig in (shap, factors):
        _inside(fig)
    data, bar = shap.axes[0], shap.axes[1]
    assert bar.get_position().x0 >= data.get_position().x1  # beside the dots, not over them
    # the figure grows with the number of rows
    one = tables["shap_modifiable"][["person_id", "shap_sleep_duration", "value_sleep_duration"]]
    small = plots.shap_summary_figure(one)
    assert small.get_size_inches()[1] < shap.get_size_inches()[1]


def test_plot_all_reads_the_description_of_the_run_folder(tables, relabelled, tmp_path):
    for name, table in tables.items():
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "model").mkdir()
    meta = {"description": relabelled.model_dump(mode="json")}
    (tmp_path / "model" / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    assert plots.read_run_description(tmp_path) == relabelled
    plots.plot_all(tmp_path)
    svg = (tmp_path / "figures" / "shap_summary.svg").read_text(encoding="utf-8")
    assert "restful nights" in svg and "good sleep" not in svg
    (tmp_path / "model" / "meta.json").write_text("{", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"meta\.json"):
        plots.plot_all(tmp_path)


def test_population_curve_on_the_probability_scale():
    fronts = pd.DataFrame(
        {
            "person_id": [1, 2, 3, 1, 2, 3],
            "sweep": ["k"] * 6,
            "k": [0, 0, 0, 1, 1, 1],
            "n_changes": [0, 0, 0, 1, 1, 0],
            "intensity": [0.0, 0.0, 0.0, 2.0, 1.0, 0.0],
            "gain_planned": [0.0, 0.0, 0.0, 1.0, 0.5, 0.0],
            "gain_surrogate": [0.0, 0.0, 0.0, 1.0, 0.5, 0.0],
            "gain_verified": [0.0, 0.0, 0.0, 0.9, 0.6, 0.0],
            "p_before": [0.2, 0.45, 0.7, 0.2, 0.45, 0.7],
            "p_after": [0.2, 0.45, 0.7, 0.4, 0.5, 0.7],
        }
    )
    curve = population_curve(fronts, by="k").set_index("k")
    assert np.allclose(curve["mean_p_before"], [0.45, 0.45])
    assert np.allclose(curve["mean_p_after"], [0.45, 1.6 / 3])
    assert np.allclose(curve["share_positive_before"], [1 / 3, 1 / 3])
    assert np.allclose(curve["share_predicted_positive"], [1 / 3, 2 / 3])  # 0.5 counts
    assert np.allclose(curve["rise_share_positive"], [0.0, 1 / 3])
    # a failed solve (no verified gain) leaves the person out of that limit
    failed = fronts.assign(gain_verified=fronts["gain_verified"].where(fronts.index != 5))
    one = population_curve(failed, by="k").set_index("k").loc[1]
    assert one["n_people"] == 2 and one["share_predicted_positive"] == 0.5


def test_people_with_text_ids_are_drawn(tables):
    """Surveys may use ids such as 'R-00017'; the figure chooses and labels them."""
    pareto = pd.DataFrame(tables["pareto"]).assign(
        person_id=lambda t: "R-" + t["person_id"].astype(str).str.zfill(5)
    )
    fig = plots.person_fronts_figure(pareto, max_people=3)
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sum(label.startswith("person R-") for label in labels) == 3


def test_every_figure_has_a_title_and_a_caption(tables, explanation):
    for name, fig in _figures(tables, explanation).items():
        assert plots.title_of(fig), name
        assert len(plots.caption_of(fig).split()) >= 10, name


def _data_points(ax) -> tuple[np.ndarray, np.ndarray]:
    """Every finite data point of lines and scatters drawn in data coordinates."""
    xs, ys = [], []
    for line in ax.get_lines():
        if line.get_transform() == ax.transData:
            xy = np.asarray(line.get_xydata(), float).reshape(-1, 2)
            xs.append(xy[:, 0])
            ys.append(xy[:, 1])
    for points in ax.collections:
        if points.get_offset_transform() == ax.transData:
            xy = np.asarray(points.get_offsets(), float).reshape(-1, 2)
            xs.append(xy[:, 0])
            ys.append(xy[:, 1])
    x, y = np.concatenate(xs or [[]]), np.concatenate(ys or [[]])
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def test_axis_limits_contain_the_data(tables, explanation):
    for name, fig in _figures(tables, explanation).items():
        FigureCanvasAgg(fig).draw()
        for ax in fig.axes:
            x, y = _data_points(ax)
            if not len(x):
                continue
            (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
            tol = 1e-9 + 1e-9 * max(abs(x1), abs(y1))
            assert x.min() >= x0 - tol and x.max() <= x1 + tol, (name, ax.get_xlabel())
            assert y.min() >= y0 - tol and y.max() <= y1 + tol, (name, ax.get_ylabel())


def test_factor_share_axis_fits_the_bars_and_names_unused_levers(tables):
    rx = tables["prescriptions"]
    fig = plots.factor_share_figure(rx, unused=["daily_steps"])
    ax = fig.axes[0]
    widest = max(p.get_x() + p.get_width() for p in ax.patches)
    assert widest <= ax.get_xlim()[1] <= max(10.0, 1.3 * widest) + 1e-9
    notes = " ".join(t.get_text() for t in ax.texts)
    assert "not used by the model" in notes
    assert "daily steps" in plots.caption_of(fig)


def test_identical_sensitivity_grids_share_a_panel():
    from sleeprx.analysis.figures.sensitivity import sensitivity_panels

    rows = [
        {"lam": lam, "resistance_scale": 1.0, "k": k, "mean_p_after": p, "share_changed": 0.3}
        for k, p in ((1, 0.6), (2, 0.7), (3, 0.7))
        for lam in (0.0, 0.5)
    ]
    grid = pd.DataFrame(rows).assign(mean_p_before=0.5)
    assert sensitivity_panels(grid) == [[1], [2, 3]]
    fig = plots.sensitivity_figure(grid)
    assert [ax.get_title(loc="left") for ax in fig.axes[:2]] == ["K = 1", "K = 2, 3 (identical)"]
    lam_axis = fig.axes[-1]
    assert list(lam_axis.get_xticks()) == [0.0, 0.5]  # λ on its own scale


def test_clock_ranges_past_midnight_say_so(tables, description):
    from sleeprx.analysis.figures.model import _clock_range

    assert _clock_range("18:00", 1.75, 17.0) == "19:45–11:00 (next day)"
    assert _clock_range("18:00", 1.0, 4.0) == "19:00–22:00"


def test_people_fronts_say_who_is_shown(tables):
    pareto = tables["pareto"]
    chosen = plots.person_fronts_figure(pareto, [int(pareto["person_id"].iloc[0])])
    assert "pipeline file names" in plots.caption_of(chosen)
    picked = plots.person_fronts_figure(pareto, max_people=3)
    assert "span the range" in plots.caption_of(picked)
    assert not picked.legends[0].get_texts()[0].get_text().startswith("person")
    labels = [t.get_text() for t in picked.axes[0].texts]
    assert sum(label.startswith("person ") for label in labels) == len(labels) >= 1
