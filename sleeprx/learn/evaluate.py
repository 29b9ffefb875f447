"""Evaluate the classifiers under two protocols.

(a) ``holdout``: the paper's protocol, a stratified 80/20 split with a fixed seed.
(b) ``grouped_cv``: a leakage-aware estimate. Many survey rows are exact copies of
    each other once the id is dropped (132 distinct of 374 in the shipped data), so
    a random split puts copies of test rows into training. Rows that are identical
    apart from the id form one group, and repeated stratified group k-fold keeps
    every group on one side of each split.

Every model is scored by F1 and accuracy at 0.5, ROC AUC, the Brier score and the
expected calibration error (ECE, :data:`~.calibration.ECE_BINS` = 10 equal-width bins
of the predicted probability on [0, 1]). With ``calibrate=True``, XGBoost's (untuned
and tuned) scores after calibration are cross-validated too, on the first repeat: in
each outer training set an isotonic map is fitted on inner out-of-fold margins, then
applied to the outer test fold
(``brier_calibrated``, ``ece_calibrated``). ``calibration`` holds the reliability
table (predicted against observed, per bin) of the prescribing XGBoost, from the
first repeat's out-of-fold predictions, where every person is predicted once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from sleeprx.learn.calibration import (
    ECE_BINS,
    CalibrationMap,
    expected_calibration_error,
    reliability_table,
)
from sleeprx.learn.features import target_vector
from sleeprx.learn.model import (
    CLASSIFIERS,
    ModelSettings,
    cross_validated_margins,
    make_pipeline,
    pipeline_margin,
)
from sleeprx.learn.splits import duplicate_groups
from sleeprx.survey.read import Survey

__all__ = ["METRICS", "duplicate_groups", "evaluate_models", "score"]

METRICS = ("f1", "accuracy", "roc_auc", "brier", "ece")
#: Scores after the cross-validated calibration map (XGBoost models only).
CALIBRATED = ("brier_calibrated", "ece_calibrated")
TUNED = "xgboost_tuned"


def score(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """F1 of the positive class, accuracy at 0.5, ROC AUC, Brier score and ECE."""
    y_pred = (p >= 0.5).astype(int)
    return {
        "f1": float(f1_score(y_true, y_pred)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "roc_auc": float(roc_auc_score(y_true, p)),
        "brier": float(brier_score_loss(y_true, p)),
        "ece": expected_calibration_error(y_true, p),
    }


class _Fitted:
    """One model fitted on one training set, scored on its test set."""

    def __init__(
        self, registry_name, description, settings, frame, y, groups, tr, te, *, calibrate
    ):
        pipe = make_pipeline(registry_name, description, settings).fit(frame.iloc[tr], y[tr])
        self.is_xgboost = registry_name == "xgboost"
        self.p_calibrated = None
        if self.is_xgboost:
            margin = pipeline_margin(pipe, frame.iloc[te])
            self.p = 1 / (1 + np.exp(-margin))
        if self.is_xgboost and calibrate:  # a map fitted by an inner CV of the training set
            inner = cross_validated_margins(
                frame.iloc[tr], y[tr], groups[tr], description, settings
            )
            self.p_calibrated = CalibrationMap.fit(inner, y[tr]).probability(margin)
        elif not self.is_xgboost:
            self.p = pipe.predict_proba(frame.iloc[te])[:, 1]

    def scores(self, y_test: np.ndarray) -> dict[str, float]:
        out = score(y_test, self.p)
        if self.p_calibrated is not None:
            out["brier_calibrated"] = float(brier_score_loss(y_test, self.p_calibrated))
            out["ece_calibrated"] = expected_calibration_error(y_test, self.p_calibrated)
        return out


def evaluate_models(
    survey: Survey,
    *,
    settings: ModelSettings | None = None,
    models: tuple[str, ...] | None = None,
    tuned: ModelSettings | None = None,
) -> dict[str, Any]:
    """Scores of every registered classifier under both protocols.

    ``tuned`` (settings from :func:`sleeprx.learn.tuning.tune`) adds XGBoost with those
    settings as ``xgboost_tuned``, next to XGBoost with ``settings``. The tuned row's
    hyper-parameters were chosen on the same survey, so its scores carry the (small,
    with a few dozen trials) optimism of that choice.

    Returns ``{"holdout": {model: {...}}, "grouped_cv": {model: {...}},
    "calibration": {...}, "data": {...}}``.
    """
    settings = settings or ModelSettings()
    names = models or tuple(CLASSIFIERS)
    entries: list[tuple[str, str, ModelSettings]] = []
    for name in names:
        entries.append((name, name, settings))
        if name == "xgboost" and tuned is not None:
            entries.append((TUNED, "xgboost", tuned))
    if tuned is not None and "xgboost" not in names:
        entries.append((TUNED, "xgboost", tuned))
    frame, description = survey.frame, survey.description
    y = target_vector(frame, description, source=Path(survey.source).name)
    groups = duplicate_groups(frame)

    def fit(entry, tr, te, calibrate=True) -> _Fitted:
        _, registry_name, entry_settings = entry
        return _Fitted(
            registry_name,
            description,
            entry_settings,
            frame,
            y,
            groups,
            tr,
            te,
            calibrate=calibrate,
        )

    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=settings.test_size, stratify=y, random_state=settings.seed
    )
    holdout: dict[str, dict[str, float]] = {}
    for entry in entries:
        holdout[entry[0]] = {
            **fit(entry, train_idx, test_idx).scores(y[test_idx]),
            "n_test": len(test_idx),
        }

    # the reliability table: the prescribing model (tuned if given), first repeat
    shown = TUNED if tuned is not None else ("xgboost" if "xgboost" in names else None)
    pooled = {"before": np.full(len(y), np.nan), "after": np.full(len(y), np.nan)}
    folds: dict[str, list[dict[str, float]]] = {entry[0]: [] for entry in entries}
    tasks = []
    for repeat in range(settings.cv_repeats):
        splitter = StratifiedGroupKFold(
            n_splits=settings.cv_splits, shuffle=True, random_state=settings.seed + repeat
        )
        for tr, te in splitter.split(frame, y, groups):
            if len(np.unique(y[te])) < 2:
                continue  # AUC is undefined on a one-class fold
            tasks += [(repeat, entry, tr, te) for entry in entries]
    # Folds are independent and every fit is seeded, so fitting them in parallel
    # changes the wall time, not the scores. Processes, not threads: the random
    # forest holds the GIL and ran slower on two threads than on one. Scores after
    # calibration cost an inner CV per fold: measured on the first repeat, and only
    # when a calibration map is asked for.
    fitted_all = Parallel(n_jobs=settings.n_jobs)(
        delayed(fit)(entry, tr, te, repeat == 0 and entry[2].calibrate)
        for repeat, entry, tr, te in tasks
    )
    for (repeat, entry, _, te), fitted in zip(tasks, fitted_all, strict=True):
        folds[entry[0]].append(fitted.scores(y[te]))
        if repeat == 0 and entry[0] == shown:
            pooled["before"][te] = fitted.p
            if fitted.p_calibrated is not None:
                pooled["after"][te] = fitted.p_calibrated
    grouped: dict[str, dict[str, float]] = {}
    for name, results in folds.items():
        table = pd.DataFrame(results)
        keys = [m for m in (*METRICS, *CALIBRATED) if m in table]
        grouped[name] = {m: float(table[m].mean()) for m in keys}
        grouped[name] |= {f"{m}_std": float(table[m].std(ddof=1)) for m in keys}
        grouped[name]["n_folds"] = len(table)

    reference = description.reference
    return {
        **({"reference": reference.model_dump()} if reference is not None else {}),
        "holdout": holdout,
        "grouped_cv": grouped,
        **({"calibration": _calibration_summary(shown, y, pooled)} if shown else {}),
        "data": {
            "n_rows": len(frame),
            "n_distinct_rows": int(groups.max() + 1),
            "positive_share": float(y.mean()),
            "protocol_holdout": f"stratified {1 - settings.test_size:.0%}/"
            f"{settings.test_size:.0%} split, seed {settings.seed}",
            "protocol_grouped_cv": f"{settings.cv_repeats}x repeated stratified "
            f"{settings.cv_splits}-fold, rows identical apart from the id kept together",
            "ece": f"expected calibration error, {ECE_BINS} equal-width bins on [0, 1]; "
            "after calibration: the first repeat's folds, each map fitted by an inner CV",
        },
    }


def _calibration_summary(name: str, y: np.ndarray, pooled: dict[str, np.ndarray]) -> dict:
    seen = ~np.isnan(pooled["before"])
    out: dict[str, Any] = {
        "model": name,
        "protocol": "grouped_cv, first repeat, every person predicted once out of fold; "
        "'after': isotonic map fitted on inner folds of each training set",
        "bins": ECE_BINS,
    }
    for stage in ("before", "after"):
        p = pooled[stage][seen]
        if np.isnan(p).all():
            continue  # no calibration map asked for (ModelSettings.calibrate)
        out[f"ece_{stage}"] = expected_calibration_error(y[seen], p)
        out[f"reliability_{stage}"] = reliability_table(y[seen], p)
    return out
