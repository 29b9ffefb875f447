"""The Markdown summary of a run: its key numbers, with links to its figures.

:func:`summary_markdown` formats a :class:`RunSummary`, the plain data a summary
needs; it computes nothing that the run has not (the pipeline fills it in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from sleeprx.analysis.report_sweeps import (
    curve_lines,
    fidelity_lines,
    grid_cell,
    sensitivity_lines,
)
from sleeprx.analysis.weighted import Estimate
from sleeprx.learn.trust import INSIDE_TOL
from sleeprx.prescribing.columns import HOLDS_AT_HALF, PLAUSIBILITY
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.design import SurveyDesign
from sleeprx.survey.display import is_missing, positive_label

__all__ = ["RunSummary", "reference_lines", "summary_markdown", "weights_lines"]


@dataclass(frozen=True)
class RunSummary:
    """What the summary of a run reports.

    Attributes
    ----------
    name : the run's name (the pipeline's ``name``).
    settings : the prescription settings of ``prescriptions``.
    metrics : :func:`~sleeprx.learn.evaluate.evaluate_models`'s dict (keys ``holdout``,
        ``grouped_cv``, ``data`` and, if the description has one, ``reference``).
    prescriptions : :func:`~sleeprx.prescribing.run.prescribe`'s table.
    curve_k : :func:`~sleeprx.analysis.fronts.population_curve` by ``k``.
    description : the survey description; it names the positive class.
    violations : the prescriptions' constraint violations, one line each.
    fidelity : :func:`~sleeprx.analysis.fidelity.fidelity_report`'s summary, or None
        when the comparison did not run.
    timings : wall time of each step, in seconds, in the order of the run.
    figures : the figures of the run's ``figures/`` folder, by file stem, each with its
        ``title`` and ``caption`` (:func:`sleeprx.analysis.plots.read_captions`).
    refits : how many bootstrap boosters the model has; with any, the prescriptions
        carry their confidence columns and the summary reports their validity.
    fidelity_people : ``fidelity.csv``, the per-person comparison, or None.
    sensitivity : ``sensitivity.csv``, the grid, or None.
    swept : the settings of the sweeps and the fidelity comparison (the pipeline's
        plain penalised program); None: ``settings`` without a goal.
    sweep_mode : the mode of the Pareto sweeps.
    sample : how many people the prescriptions drew at random (None: everybody).
    weights : :func:`weights_lines`: whether the survey was weighted, and the
        population's shares if it was.
    """

    name: str
    settings: PrescribeSettings
    metrics: dict
    prescriptions: pd.DataFrame
    curve_k: pd.DataFrame
    description: SurveyDescription
    violations: Sequence[str] = ()
    fidelity: dict | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    figures: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    refits: int = 0
    fidelity_people: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None
    swept: PrescribeSettings | None = None
    sweep_mode: str = "surrogate"
    sample: int | None = None
    weights: Sequence[str] = ()

    @property
    def sweeps(self) -> PrescribeSettings:
        """The sweeps' settings: ``swept``, else the prescriptions' without a goal."""
        return self.swept or self.settings.model_copy(update={"goal": None, "robust": None})


def summary_markdown(summary: RunSummary) -> str:
    """The key numbers of a run, each section with the settings it used, and every
    figure embedded with its caption.

    The positive class is named as the description names it; probabilities are in
    percent; the share of prescriptions the model disagrees with is among the people
    changed.
    """
    positive = positive_label(summary.description)
    cell = grid_cell(summary.sensitivity, summary.settings)
    lines = [
        f"# sleeprx run: {summary.name}",
        "",
        "Decision support for research, not medical advice: the model learns associations "
        "in the survey, not the effects of changing a behaviour.",
        "",
        *_settings_lines(summary),
        *summary.weights,
        *_classifier_lines(summary.metrics),
        *_prescription_lines(summary, positive),
        *curve_lines(
            summary.curve_k,
            positive,
            mode=summary.sweep_mode,
            settings=summary.settings,
            prescribed_mean=_mean_after(summary.prescriptions),
            cell=cell,
        ),
        *sensitivity_lines(summary.sensitivity, summary.sweeps, positive),
        *fidelity_lines(
            summary.fidelity,
            summary.fidelity_people,
            summary.prescriptions,
            summary.settings,
            summary.sweeps,
            positive,
        ),
        "## Wall time (s)",
        "",
        *(f"- {name}: {seconds:.1f}" for name, seconds in summary.timings.items()),
        "",
        *_figure_lines(summary.figures),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _settings_lines(summary: RunSummary) -> list[str]:
    """Which settings each section used: they answer different questions."""
    s, w = summary.settings, summary.sweeps
    goal = f"p >= {s.goal:g}" if s.goal is not None else "none"
    robust = f"{s.robust:g}" if s.robust is not None else "no"
    who = f"{summary.sample} drawn at random" if summary.sample else "everybody"
    return [
        "## Settings of each section",
        "",
        "| section | mode | goal | robust | K | λ | minimum gain | people |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| prescriptions | {s.mode} | {goal} | {robust} | {s.max_changes} | {s.lam:g} | "
        f"{s.min_gain:g} | {who} |",
        f"| population curves | {summary.sweep_mode} | none | no | swept | 0 | 0 | swept |",
        f"| sensitivity grid | {w.mode} | none | no | swept | swept | {w.min_gain:g} | everybody |",
        f"| fidelity | surrogate and exact | none | no | {w.max_changes} | {w.lam:g} | 0 | "
        "everybody |",
        "",
    ]


def _figure_lines(figures: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every figure embedded, under its title, with its caption."""
    if not figures:
        return []
    lines = ["## Figures", ""]
    for name, text in figures.items():
        title = text.get("title") or name
        lines += [f"### {title}", "", f"![{title}](figures/{name}.png)", ""]
        if text.get("caption"):
            lines += [f"*{text['caption']}* ([SVG](figures/{name}.svg))", ""]
    return lines


def _mean_after(table: pd.DataFrame) -> float:
    """The real model's mean chance after the prescriptions, over everyone with a valid
    answer (no change keeps the chance before)."""
    ok = table[table["status"].isin([Status.CHANGED, Status.NO_CHANGE, Status.INFEASIBLE])]
    p_before = ok["p_before"].astype(float)
    p_after = ok["p_after"].astype(float).where(ok["status"].eq(Status.CHANGED), p_before)
    return float(p_after.mean()) if len(ok) else float("nan")


def weights_lines(design: SurveyDesign | None, shares: Mapping[str, Estimate] | None) -> list[str]:
    """Whether the survey's weights were used, and if so the population's shares
    (:func:`~sleeprx.analysis.weighted.prescription_shares`) with their intervals."""
    if design is None or shares is None:
        return ["Survey weights: not weighted; every figure describes the sample.", ""]
    return [
        f"Survey weights: used ({design.describe()}). Training, evaluation and the "
        "population curve are weighted. In the population (95% design-based intervals; "
        "the prescription counts below are of the sample's people):",
        "",
        f"- helped (a change that raises the model's probability): {shares['helped']}",
        f"- predicted positive before: {shares['positive_before']}",
        f"- predicted positive after: {shares['positive_after']}",
        "",
    ]


def _classifier_lines(metrics: dict) -> list[str]:
    lines = [
        "## Classifier",
        "",
        "| protocol | model | F1 | accuracy | ROC AUC | Brier | ECE |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for protocol in ("holdout", "grouped_cv"):
        for name, m in metrics[protocol].items():
            ece = "-" if is_missing(m.get("ece")) else f"{m['ece']:.4f}"
            lines.append(
                f"| {protocol} | {name} | {m['f1']:.4f} | {m['accuracy']:.4f} | "
                f"{m['roc_auc']:.4f} | {m['brier']:.4f} | {ece} |"
            )
    lines += ["", "ECE: expected calibration error, 10 equal-width bins.", ""]
    lines += [*_calibration_lines(metrics.get("calibration")), *reference_lines(metrics)]
    data = metrics["data"]
    if data["n_distinct_rows"] < data["n_rows"]:  # a survey without copies has none to keep
        lines += [
            f"{data['n_distinct_rows']} of {data['n_rows']} rows are distinct; grouped CV "
            "keeps copies together.",
            "",
        ]
    return lines


def _calibration_lines(calibration: dict | None) -> list[str]:
    """The out-of-fold ECE and Brier score before (and after) the calibration map."""
    if not calibration or "ece_before" not in calibration:
        return []
    text = (
        f"Out-of-fold calibration of {calibration.get('model', 'the model')}: ECE "
        f"{calibration['ece_before']:.4f}, Brier {calibration['brier_before']:.4f}"
    )
    if "ece_after" in calibration:
        kept = calibration.get("kept")
        text += (
            f"; with the calibration map ECE {calibration['ece_after']:.4f}, Brier "
            f"{calibration['brier_after']:.4f}" + (f" ({kept} kept)" if kept else "")
        )
    return [text + ".", ""]


def reference_lines(metrics: dict) -> list[str]:
    """The description's published figures, if it carries any (nothing otherwise)."""
    reference = metrics.get("reference")
    if not reference:
        return []
    figures = ", ".join(f"{k} {v:g}" for k, v in reference["metrics"].items())
    return [f"Reference ({reference['source']}): {figures}.", ""]


def _prescription_lines(summary: RunSummary, positive: str) -> list[str]:
    settings, table = summary.settings, summary.prescriptions
    ok = table[table["status"].isin([Status.CHANGED, Status.NO_CHANGE])]
    changed = ok[ok["status"] == Status.CHANGED]
    n_changed = len(changed)
    disagrees = changed["model_disagrees"].astype(str).str.lower().eq("true")
    n_disagree = int(disagrees.sum())
    disagree_share = f" ({n_disagree / n_changed:.1%})" if n_changed else ""
    robust = f", robust Q={settings.robust:g}" if settings.robust is not None else ""
    goal = f", goal p >= {settings.goal:g}" if settings.goal is not None else ""
    who = f"{summary.sample} people drawn at random" if summary.sample else "everybody"
    validity = _validity_of(summary, changed)
    lines = [
        f"## Prescriptions ({settings.mode} mode{robust}{goal}, K={settings.max_changes}, "
        f"λ={settings.lam:g}, minimum gain {settings.min_gain:g}; {who})",
        "",
        f"- people: {len(table)} ({(table['status'] == Status.ERROR).sum()} with invalid data)",
        # the people with zero changes are those with no change: one line says so
        f"- no change: {(ok['status'] == Status.NO_CHANGE).mean():.1%}"
        + _no_change_validity(summary, ok)
        + (f" (shares of the {len(ok)} given an answer)" if len(ok) < _valid_count(table) else ""),
        *_change_count_lines(ok, validity),
        *_infeasible_lines(table, settings),
        *_chance_lines(summary, positive, changed),
        f"- prescriptions the model disagrees with: {n_disagree} of {n_changed} people "
        f"changed{disagree_share}",
        f"- constraint violations (safe values, rules, direction, largest change, K, "
        f"linear constraints): {len(summary.violations)}",
        f"- median solve time per person: {1000 * ok['solve_seconds'].median():.2f} ms",
        *_validity_lines(summary, changed),
        *_trust_lines(settings, changed),
        "",
    ]
    return lines


def _valid_count(table: pd.DataFrame) -> int:
    return int(table["status"].ne(Status.ERROR).sum())


def _no_change_validity(summary: RunSummary, ok: pd.DataFrame) -> str:
    """Under a goal, how often the people left as they are still meet it in the refits
    (blank without a goal: nothing changes, so nothing can fail)."""
    if not summary.refits or "validity" not in ok:
        return ""
    validity = ok.loc[ok["status"].eq(Status.NO_CHANGE), "validity"].astype(float).dropna()
    return f" (mean validity {validity.mean():.3f})" if len(validity) else ""


def _validity_of(summary: RunSummary, changed: pd.DataFrame) -> pd.Series | None:
    """The changed people's validity over the refits, or None without refits."""
    if not summary.refits or "validity" not in changed.columns:
        return None
    return changed["validity"].astype(float)


def _change_count_lines(ok: pd.DataFrame, validity: pd.Series | None) -> list[str]:
    """The share with each number of changes, with its mean validity beside it."""
    shares = ok["n_changes"].value_counts(normalize=True).sort_index()
    lines = []
    for k, share in shares.items():
        if k == 0:
            continue
        line = f"- {k:g} change(s): {share:.1%}"
        if validity is not None:
            rows = validity[ok.loc[validity.index, "n_changes"].eq(k)]
            line += f" (mean validity {rows.mean():.3f})" if len(rows) else ""
        lines.append(line)
    return lines


def _chance_lines(summary: RunSummary, positive: str, changed: pd.DataFrame) -> list[str]:
    """The real model's chance before and after the prescriptions, in percent; with
    refits, how many of the changed keep p >= 0.5 by the refits' 10th percentile."""
    table = summary.prescriptions
    answered = table[table["status"].isin([Status.CHANGED, Status.NO_CHANGE, Status.INFEASIBLE])]
    p_before = answered["p_before"].astype(float)
    is_changed = answered["status"].eq(Status.CHANGED)
    is_infeasible = answered["status"].eq(Status.INFEASIBLE)
    p_after = answered["p_after"].astype(float).where(is_changed, p_before)
    lines = [
        f"- chance of {positive} by the real model, mean over the {len(answered)} people "
        f"solved{' (the infeasible keep theirs)' if is_infeasible.any() else ''}: "
        f"{100 * p_before.mean():.1f}% before, {100 * p_after.mean():.1f}% after; "
        f"among the {len(changed)} changed: {100 * changed['p_before'].astype(float).mean():.1f}% "
        f"before, {100 * changed['p_after'].astype(float).mean():.1f}% after",
        f"- predicted to have {positive} (p >= 0.5): {p_before.ge(0.5).mean():.1%} before, "
        f"{p_after.ge(0.5).mean():.1%} after the prescriptions",
    ]
    if summary.refits and "p_after_low" in changed and len(changed):
        low = changed["p_after_low"].astype(float)
        lines.append(
            f"- of the changed, p >= 0.5 after in at least 90% of the {summary.refits} "
            f"refitted models (their 10th percentile): {low.ge(0.5).mean():.1%}"
        )
    return lines


def _infeasible_lines(table: pd.DataFrame, settings: PrescribeSettings) -> list[str]:
    """The people no allowed change answers (none without a goal or robust mode)."""
    n = int(table["status"].eq(Status.INFEASIBLE).sum())
    if not n:
        return []
    robust = f" and in {settings.robust:.0%} of the refitted models" if settings.robust else ""
    goal = f"reaches p >= {settings.goal:g}" if settings.goal is not None else "is feasible"
    return [f"- infeasible (no allowed change {goal}{robust}): {n} of {len(table)} people"]


#: The validity a prescription should reach to count as holding across refits.
VALID_SHARE = 0.9


def _validity_lines(summary: RunSummary, changed: pd.DataFrame) -> list[str]:
    """How often the changes hold in the model's refitted models (none without any)."""
    if not summary.refits or "validity" not in changed.columns:
        return []
    settings, validity = summary.settings, changed["validity"].astype(float)
    holds = f"p >= {settings.goal:g}" if settings.goal is not None else "a positive gain"
    robust = (
        f"; robust mode asked each to hold in {settings.robust:.0%} of them"
        if settings.robust is not None
        else ""
    )
    if validity.empty:
        return [f"- validity in the {summary.refits} refitted models: no change to judge"]
    return [
        f"- validity among changed ({holds} in each of the {summary.refits} refitted "
        f"models): mean {validity.mean():.3f}; valid in >= {VALID_SHARE:.0%} of the refits: "
        f"{(validity >= VALID_SHARE - 1e-12).mean():.1%} of people changed{robust}",
    ]


def _trust_lines(settings: PrescribeSettings, changed: pd.DataFrame) -> list[str]:
    """The changed people's answers outside the trust region and not holding at half
    adherence, when the table has those columns (nothing otherwise)."""
    lines, n = [], len(changed)
    if PLAUSIBILITY in changed and n:
        outside = int((changed[PLAUSIBILITY].astype(float) < -INSIDE_TOL).sum())
        how = "required inside" if settings.require_plausible else "constraint off"
        lines.append(
            f"- changed people outside the trust region ({how}): {outside} of {n} "
            f"({outside / n:.1%})"
        )
    if HOLDS_AT_HALF in changed and n:
        fails = int(changed[HOLDS_AT_HALF].astype(str).str.lower().eq("false").sum())
        how = "required" if settings.require_half else "not required"
        lines.append(
            f"- changes that do not hold when made only half-way ({how}): {fails} of {n} "
            f"({fails / n:.1%})"
        )
    return lines
