"""The Markdown summary of a run: its key numbers, with links to its figures.

:func:`summary_markdown` formats a :class:`RunSummary`, the plain data a summary
needs; it computes nothing that the run has not (the pipeline fills it in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from sleeprx.analysis.fronts import knee
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
    figures : the file names of the figures in the run's ``figures/`` folder.
    refits : how many bootstrap boosters the model has; with any, the prescriptions
        carry their confidence columns and the summary reports their validity.
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
    figures: Sequence[str] = ()
    refits: int = 0
    weights: Sequence[str] = ()


def summary_markdown(summary: RunSummary) -> str:
    """The key numbers of a run, with links to its figures.

    The positive class is named as the description names it; the share of
    prescriptions the model disagrees with is among the people changed.
    """
    positive = positive_label(summary.description)
    lines = [
        f"# sleeprx run: {summary.name}",
        "",
        "Decision support for research, not medical advice.",
        "",
        *summary.weights,
        *_classifier_lines(summary.metrics),
        *_prescription_lines(summary, positive),
        *_curve_lines(summary.curve_k, positive),
        *_fidelity_lines(summary.fidelity, positive),
        "## Wall time (s)",
        "",
        *(f"- {name}: {seconds:.1f}" for name, seconds in summary.timings.items()),
        "",
        "## Figures",
        "",
        *(f"- [{name}](figures/{name})" for name in summary.figures),
    ]
    return "\n".join(lines) + "\n"


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
        "| protocol | model | F1 | accuracy | ROC AUC | Brier |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for protocol in ("holdout", "grouped_cv"):
        for name, m in metrics[protocol].items():
            lines.append(
                f"| {protocol} | {name} | {m['f1']:.4f} | {m['accuracy']:.4f} | "
                f"{m['roc_auc']:.4f} | {m['brier']:.4f} |"
            )
    lines += ["", *reference_lines(metrics)]
    data = metrics["data"]
    if data["n_distinct_rows"] < data["n_rows"]:  # a survey without copies has none to keep
        lines += [
            f"{data['n_distinct_rows']} of {data['n_rows']} rows are distinct; grouped CV "
            "keeps copies together.",
            "",
        ]
    return lines


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
    shares = ok["n_changes"].value_counts(normalize=True).sort_index()
    changed = ok[ok["status"] == Status.CHANGED]
    n_changed = int(table["status"].eq(Status.CHANGED).sum())
    disagrees = table["model_disagrees"].astype(str).str.lower().eq("true")
    n_disagree = int((disagrees & table["status"].eq(Status.CHANGED)).sum())
    disagree_share = f" ({n_disagree / n_changed:.1%})" if n_changed else ""
    # the real model's view of everyone with a valid answer, before and after the advice
    p_before = ok["p_before"].astype(float)
    p_after = ok["p_after"].astype(float).where(ok["status"].eq(Status.CHANGED), p_before)
    robust = f", robust Q={settings.robust:g}" if settings.robust is not None else ""
    goal = f", goal p >= {settings.goal:g}" if settings.goal is not None else ""
    lines = [
        f"## Prescriptions ({settings.mode} mode{robust}{goal}, K={settings.max_changes}, "
        f"lambda={settings.lam:g}, minimum gain {settings.min_gain:g})",
        "",
        f"- people: {len(table)} ({(table['status'] == Status.ERROR).sum()} with invalid data)",
        # the people with zero changes are those with no change: one line says so
        f"- no change: {(ok['status'] == Status.NO_CHANGE).mean():.1%}",
        *(f"- {k:g} change(s): {share:.1%}" for k, share in shares.items() if k != 0),
        *_infeasible_lines(table, settings),
    ]
    lines += [
        f"- mean gain among changed (log-odds of {positive}): "
        f"surrogate {changed['gain_surrogate'].mean():.3f}, "
        f"real model {changed['gain_logit'].mean():.3f}",
        f"- predicted to have {positive} (p >= 0.5): {(p_before >= 0.5).mean():.1%} before, "
        f"{(p_after >= 0.5).mean():.1%} after the prescriptions; mean probability "
        f"{p_before.mean():.3f} before, {p_after.mean():.3f} after",
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


def _curve_lines(curve_k: pd.DataFrame, positive: str) -> list[str]:
    def cell(value: object, spec: str) -> str:
        return "-" if is_missing(value) else format(float(value), spec)

    lines = [
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
    return [*lines, "", f"Knee of the curve: K = {k_knee.x:g}.", ""]


def _fidelity_lines(fidelity: dict | None, positive: str) -> list[str]:
    if fidelity is None:
        return []
    return [
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
