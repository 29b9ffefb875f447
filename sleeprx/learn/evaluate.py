"""Evaluate the classifiers under two protocols.

(a) ``holdout``: the paper's protocol, a stratified 80/20 split with a fixed seed.
(b) ``grouped_cv``: a leakage-aware estimate. Many survey rows are exact copies of
    each other once the id is dropped (132 distinct of 374 in the shipped data), so
    a random split puts copies of test rows into training. Rows that are identical
    apart from the id form one group, and repeated stratified group k-fold keeps
    every group on one side of each split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from .data import Survey
from .features import target_vector
from .model import CLASSIFIERS, ModelSettings, make_pipeline

__all__ = ["duplicate_groups", "evaluate_models", "score"]

METRICS = ("f1", "accuracy", "roc_auc", "brier")


def score(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """F1 of the positive class, accuracy at 0.5, ROC AUC and Brier score."""
    y_pred = (p >= 0.5).astype(int)
    return {
        "f1": float(f1_score(y_true, y_pred)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "roc_auc": float(roc_auc_score(y_true, p)),
        "brier": float(brier_score_loss(y_true, p)),
    }


def duplicate_groups(frame: pd.DataFrame) -> np.ndarray:
    """One group label per row; rows equal in every column (id aside) share a label."""
    flat = frame.reset_index(drop=True)
    return flat.groupby(list(flat.columns), dropna=False).ngroup().to_numpy()


def evaluate_models(
    survey: Survey, *, settings: ModelSettings | None = None, models: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Scores of every registered classifier under both protocols.

    Returns ``{"holdout": {model: {...}}, "grouped_cv": {model: {...}}, "data": {...}}``.
    """
    settings = settings or ModelSettings()
    models = models or tuple(CLASSIFIERS)
    frame, description = survey.frame, survey.description
    y = target_vector(frame, description, source=Path(survey.source).name)
    groups = duplicate_groups(frame)

    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=settings.test_size, stratify=y, random_state=settings.seed
    )
    holdout: dict[str, dict[str, float]] = {}
    for name in models:
        pipe = make_pipeline(name, description, settings).fit(frame.iloc[train_idx], y[train_idx])
        p = pipe.predict_proba(frame.iloc[test_idx])[:, 1]
        holdout[name] = {**score(y[test_idx], p), "n_test": len(test_idx)}

    folds: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for repeat in range(settings.cv_repeats):
        splitter = StratifiedGroupKFold(
            n_splits=settings.cv_splits, shuffle=True, random_state=settings.seed + repeat
        )
        for tr, te in splitter.split(frame, y, groups):
            if len(np.unique(y[te])) < 2:
                continue  # AUC is undefined on a one-class fold
            for name in models:
                pipe = make_pipeline(name, description, settings).fit(frame.iloc[tr], y[tr])
                folds[name].append(score(y[te], pipe.predict_proba(frame.iloc[te])[:, 1]))
    grouped: dict[str, dict[str, float]] = {}
    for name, results in folds.items():
        table = pd.DataFrame(results)
        grouped[name] = {m: float(table[m].mean()) for m in METRICS}
        grouped[name] |= {f"{m}_std": float(table[m].std(ddof=1)) for m in METRICS}
        grouped[name]["n_folds"] = len(table)

    reference = description.reference
    return {
        **({"reference": reference.model_dump()} if reference is not None else {}),
        "holdout": holdout,
        "grouped_cv": grouped,
        "data": {
            "n_rows": len(frame),
            "n_distinct_rows": int(groups.max() + 1),
            "positive_share": float(y.mean()),
            "protocol_holdout": f"stratified {1 - settings.test_size:.0%}/"
            f"{settings.test_size:.0%} split, seed {settings.seed}",
            "protocol_grouped_cv": f"{settings.cv_repeats}x repeated stratified "
            f"{settings.cv_splits}-fold, rows identical apart from the id kept together",
        },
    }
