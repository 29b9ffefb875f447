"""Evaluate the classifiers under two protocols.

(a) ``holdout``: the paper's protocol, a stratified 80/20 split with a fixed seed.
(b) ``grouped_cv``: a leakage-aware estimate. Many survey rows are exact copies of
    each other once the id is dropped (132 distinct of 374 in the shipped data), so
    a random split puts copies of test rows into training. Rows that are identical
    apart from the id form one group, and repeated stratified group k-fold keeps
    every group on one side of each split.

Every model is scored by F1 and accuracy at 0.5, ROC AUC, the Brier score and the
expected calibration error (ECE, :data:`~.calibration.ECE_BINS` = 10 equal-width bins
of the predicted probability on [0, 1]).

A survey whose description names a weight (``design.weight``) is fitted and scored with
it: every model's ``sample_weight`` on its training rows, and weighted metrics on its
test rows, so the scores describe the population the weights stand for. The splits
stay unweighted (each person is in one fold); the calibration maps and the nested
search are fitted and judged with the weights too.

A tuned model (``xgboost_tuned``) is scored *nested*: on the hold-out's training
part, and inside each outer fold of the first repeat, the whole search
(:func:`~.tuning.tune_rows`) runs on the training rows alone, and the settings it
finds are scored on the test rows. The score is of the procedure, not of the
settings found on the whole survey, which were chosen on the rows that would score
them.

With ``calibrate=True``, XGBoost's (untuned and tuned) scores after calibration are
cross-validated too, on the first repeat: in each outer training set a map is fitted
on inner out-of-fold margins and kept only if it passes its check
(:func:`~.calibration.choose_calibration`), then applied to the outer test fold
(``brier_calibrated``, ``ece_calibrated``). ``calibration`` holds the reliability
table (predicted against observed, per bin) of the prescribing XGBoost on its
out-of-fold margins (every person predicted once), before and after a map
cross-fitted on them, and the check that :func:`~.model.train` repeats to keep the
map or the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from sleeprx.learn.calibration import (
    ECE_BINS,
    choose_calibration,
    cross_fitted_probabilities,
    expected_calibration_error,
    reliability_table,
)
from sleeprx.learn.features import target_vector
from sleeprx.learn.model import (
    CLASSIFIERS,
    ModelSettings,
    cross_validated_margins,
    fit_pipeline,
    make_pipeline,
    pipeline_margin,
)
from sleeprx.learn.splits import duplicate_groups
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.design import weights_of
from sleeprx.survey.read import Survey

__all__ = ["METRICS", "duplicate_groups", "evaluate_models", "score"]

METRICS = ("f1", "accuracy", "roc_auc", "brier", "ece")
#: Scores after the cross-validated calibration map (XGBoost models only).
CALIBRATED = ("brier_calibrated", "ece_calibrated")
TUNED = "xgboost_tuned"


def score(y_true: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """F1 of the positive class, accuracy at 0.5, ROC AUC, Brier score and ECE, each
    weighted by the survey ``weights`` when given."""
    y_pred = (p >= 0.5).astype(int)
    w = weights
    return {
        "f1": float(f1_score(y_true, y_pred, sample_weight=w)),
        "accuracy": float(accuracy_score(y_true, y_pred, sample_weight=w)),
        "roc_auc": float(roc_auc_score(y_true, p, sample_weight=w)),
        "brier": float(brier_score_loss(y_true, p, sample_weight=w)),
        "ece": expected_calibration_error(y_true, p, weights=w),
    }


@dataclass(frozen=True)
class _Data:
    """The survey as the evaluation reads it."""

    frame: pd.DataFrame
    description: SurveyDescription
    y: np.ndarray
    groups: np.ndarray
    weights: np.ndarray | None = None

    def weights_of(self, rows: np.ndarray) -> np.ndarray | None:
        return None if self.weights is None else self.weights[rows]


@dataclass(frozen=True)
class _Entry:
    """One row of the tables: a registered classifier with its settings; with
    ``trials``, those settings are the start of a search run on each training set."""

    name: str
    registry_name: str
    settings: ModelSettings
    trials: int | None = None


class _Fitted:
    """One model fitted on one training set, scored on its test set."""

    def __init__(self, entry: _Entry, data: _Data, tr, te, *, calibrate: bool) -> None:
        frame, y, groups = data.frame, data.y, data.groups
        settings = entry.settings
        if entry.trials is not None:  # nested: the search sees the training rows only
            from sleeprx.learn.tuning import tune_rows

            part = (frame.iloc[tr], y[tr], groups[tr], data.description)
            settings = tune_rows(
                *part, settings=settings, trials=entry.trials, weights=data.weights_of(tr)
            )
        pipe = make_pipeline(entry.registry_name, data.description, settings)
        fit_pipeline(pipe, frame.iloc[tr], y[tr], data.weights_of(tr))
        self.weights = data.weights_of(te)
        self.p_calibrated = None
        if entry.registry_name != "xgboost":
            self.p = pipe.predict_proba(frame.iloc[te])[:, 1]
            return
        margin = pipeline_margin(pipe, frame.iloc[te])
        self.p = expit(margin)
        if calibrate:  # a map fitted, and checked, by an inner CV of the training set
            inner = cross_validated_margins(
                frame.iloc[tr], y[tr], groups[tr], data.description, settings, data.weights_of(tr)
            )
            found, _ = choose_calibration(
                inner,
                y[tr],
                groups[tr],
                splits=settings.cv_splits,
                seed=settings.seed,
                weights=data.weights_of(tr),
            )
            self.p_calibrated = self.p if found is None else found.probability(margin)

    def scores(self, y_test: np.ndarray) -> dict[str, float]:
        w, p_map = self.weights, self.p_calibrated
        out = score(y_test, self.p, w)
        if p_map is not None:
            out["brier_calibrated"] = float(brier_score_loss(y_test, p_map, sample_weight=w))
            out["ece_calibrated"] = expected_calibration_error(y_test, p_map, weights=w)
        return out


def evaluate_models(
    survey: Survey,
    *,
    settings: ModelSettings | None = None,
    models: tuple[str, ...] | None = None,
    tuned: ModelSettings | None = None,
) -> dict[str, Any]:
    """Scores of every registered classifier under both protocols.

    ``tuned`` (``tune(survey, settings=settings)``, :func:`sleeprx.learn.tuning.tune`)
    adds ``xgboost_tuned`` next to XGBoost with ``settings``: the same search (its
    ``tuning.trials`` trials, from ``settings``) rerun inside every training set, so
    that its scores are nested; ``nested_tuning`` sets them beside the search's best.
    The reliability table is of ``tuned`` itself when given.

    Returns ``{"holdout": {model: {...}}, "grouped_cv": {model: {...}},
    "calibration": {...}, "data": {...}}``, with ``nested_tuning`` when tuned.
    """
    settings = settings or ModelSettings()
    names = models or tuple(CLASSIFIERS)
    entries = _entries(names, settings, tuned)
    frame, description = survey.frame, survey.description
    y = target_vector(frame, description, source=Path(survey.source).name)
    weights = weights_of(frame, description)
    data = _Data(frame, description, y, duplicate_groups(frame), weights)
    holdout = _holdout(data, entries, settings)
    grouped = _grouped_cv(data, entries, settings)
    shown = tuned if tuned is not None else (settings if "xgboost" in names else None)
    reference = description.reference
    return {
        **({"reference": reference.model_dump()} if reference is not None else {}),
        "holdout": holdout,
        "grouped_cv": grouped,
        **({"nested_tuning": _nested_summary(grouped[TUNED], tuned)} if tuned else {}),
        **({"calibration": _calibration_summary(data, shown, tuned)} if shown else {}),
        "data": _protocols(data, settings),
    }


def _entries(
    names: tuple[str, ...], settings: ModelSettings, tuned: ModelSettings | None
) -> list[_Entry]:
    """The rows to score, the tuned XGBoost just after the untuned one."""
    entries = [_Entry(name, name, settings) for name in names]
    if tuned is None:
        return entries
    if tuned.tuning is None:
        raise ValueError("tuned settings carry no tuning record; make them with tune()")
    at = names.index("xgboost") + 1 if "xgboost" in names else len(entries)
    entries.insert(at, _Entry(TUNED, "xgboost", settings, tuned.tuning.trials))
    return entries


def _holdout(data: _Data, entries: list[_Entry], settings: ModelSettings) -> dict:
    index = np.arange(len(data.y))
    tr, te = train_test_split(
        index, test_size=settings.test_size, stratify=data.y, random_state=settings.seed
    )
    # one inner CV per model: XGBoost's scores after calibration are always given here
    return {
        entry.name: {
            **_Fitted(entry, data, tr, te, calibrate=True).scores(data.y[te]),
            "n_test": len(te),
        }
        for entry in entries
    }


def _grouped_cv(data: _Data, entries: list[_Entry], settings: ModelSettings) -> dict:
    """Mean and standard deviation of each score over the folds of every repeat; a
    nested (tuned) entry and scores after calibration on the first repeat only."""
    tasks = []
    for repeat in range(settings.cv_repeats):
        splitter = StratifiedGroupKFold(
            n_splits=settings.cv_splits, shuffle=True, random_state=settings.seed + repeat
        )
        for tr, te in splitter.split(data.frame, data.y, data.groups):
            if len(np.unique(data.y[te])) < 2:
                continue  # AUC is undefined on a one-class fold
            first = repeat == 0
            tasks += [(e, tr, te, first) for e in entries if first or e.trials is None]
    # Folds are independent and every fit is seeded, so fitting them in parallel
    # changes the wall time, not the scores. Processes, not threads: the random
    # forest holds the GIL and ran slower on two threads than on one.
    fitted_all = Parallel(n_jobs=settings.n_jobs)(
        delayed(_Fitted)(entry, data, tr, te, calibrate=first and entry.settings.calibrate)
        for entry, tr, te, first in tasks
    )
    folds: dict[str, list[dict[str, float]]] = {entry.name: [] for entry in entries}
    for (entry, _, te, _), fitted in zip(tasks, fitted_all, strict=True):
        folds[entry.name].append(fitted.scores(data.y[te]))
    grouped: dict[str, dict[str, float]] = {}
    for name, results in folds.items():
        table = pd.DataFrame(results)
        keys = [m for m in (*METRICS, *CALIBRATED) if m in table]
        grouped[name] = {m: float(table[m].mean()) for m in keys}
        grouped[name] |= {f"{m}_std": float(table[m].std(ddof=1)) for m in keys}
        grouped[name]["n_folds"] = len(table)
    return grouped


def _nested_summary(scores: dict[str, float], tuned: ModelSettings) -> dict[str, Any]:
    return {
        "roc_auc": scores["roc_auc"],
        "roc_auc_std": scores["roc_auc_std"],
        "n_folds": scores["n_folds"],
        "trials": tuned.tuning.trials,
        "search_best_roc_auc": tuned.tuning.search_best_roc_auc,
        "protocol": "grouped_cv, first repeat: the search reruns on each outer training "
        "set; search_best_roc_auc is the search on every row, scored on the folds it "
        "chose by (optimistic)",
    }


def _calibration_summary(
    data: _Data, settings: ModelSettings, tuned: ModelSettings | None
) -> dict[str, Any]:
    """Reliability of the prescribing XGBoost on its out-of-fold margins, before and
    (when ``settings.calibrate``) after calibration, with the check train() makes."""
    y = data.y
    margins = cross_validated_margins(
        data.frame, y, data.groups, data.description, settings, data.weights
    )
    out: dict[str, Any] = {
        "model": TUNED if tuned is not None else "xgboost",
        "protocol": f"out-of-fold margins of grouped {settings.cv_splits}-fold CV, seed "
        f"{settings.seed}; 'after': beta calibration maps cross-fitted on those margins",
        "bins": ECE_BINS,
    }
    stages = {"before": expit(margins)}
    if settings.calibrate:
        stages["after"] = cross_fitted_probabilities(
            margins,
            y,
            data.groups,
            splits=settings.cv_splits,
            seed=settings.seed,
            weights=data.weights,
        )
    for stage, p in stages.items():
        out[f"brier_{stage}"] = float(brier_score_loss(y, p, sample_weight=data.weights))
        out[f"ece_{stage}"] = expected_calibration_error(y, p, weights=data.weights)
        out[f"distinct_{stage}"] = len(np.unique(p))
        out[f"reliability_{stage}"] = reliability_table(y, p)
    if settings.calibrate:  # the very check train() makes on these margins
        _, check = choose_calibration(
            margins,
            y,
            data.groups,
            splits=settings.cv_splits,
            seed=settings.seed,
            weights=data.weights,
        )
        out |= {"kept": check.kept, "verdict": check.verdict}
    return out


def _protocols(data: _Data, settings: ModelSettings) -> dict[str, Any]:
    return {
        "n_rows": len(data.frame),
        "n_distinct_rows": int(data.groups.max() + 1),
        "positive_share": float(np.average(data.y, weights=data.weights)),
        "weighted": data.weights is not None,
        "protocol_holdout": f"stratified {1 - settings.test_size:.0%}/"
        f"{settings.test_size:.0%} split, seed {settings.seed}",
        "protocol_grouped_cv": f"{settings.cv_repeats}x repeated stratified "
        f"{settings.cv_splits}-fold, rows identical apart from the id kept together",
        "ece": f"expected calibration error, {ECE_BINS} equal-width bins on [0, 1]; "
        "after calibration: the first repeat's folds, each map fitted by an inner CV",
    }
