"""Tune XGBoost by grouped cross-validation, with early stopping choosing the trees.

The search (Optuna's TPE sampler, seeded, ``settings.tune_trials`` trials, the first
of which is the untuned settings) maximises the mean ROC AUC over the outer folds of
stratified group k-fold, with the groups of :func:`~.splits.duplicate_groups`, so
copies of a row never sit on both sides of a split. In each outer fold an inner
validation part (one fold of a stratified group k-fold of the outer training rows) is
held out for early stopping on the log loss; the outer test fold only scores. The
number of trees of the tuned settings is the median best iteration over the folds.
The tuning folds are drawn with seed ``settings.seed + TUNING_SEED_OFFSET``, apart from
the seeds of :func:`~.evaluate.evaluate_models`'s repeats.

The best trial's mean AUC is scored on the folds that chose it, so it is optimistic;
it is recorded as ``search_best_roc_auc`` and nothing else. The score of tuning is
nested: :func:`~.evaluate.evaluate_models` runs the whole search (:func:`tune_rows`)
inside each outer fold, on its training rows alone, and scores the result on the
outer test fold.

Searched: ``max_depth`` 1-8, ``learning_rate`` 0.01-0.3 (log), ``min_child_weight``
1-50 (log), ``reg_lambda`` 1e-3-30 (log), ``reg_alpha`` 1e-3-10 (log), ``subsample``
0.5-1 and ``colsample_bytree`` 0.4-1. Monotone constraints apply while tuning when
``settings.monotone`` is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from sleeprx.learn.features import SurveyEncoder, target_vector
from sleeprx.learn.model import ModelSettings, TuningRecord, xgboost_params
from sleeprx.learn.splits import duplicate_groups
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.design import weights_of
from sleeprx.survey.read import Survey
from sleeprx.utils.errors import SurveyError

__all__ = [
    "MAX_ROUNDS",
    "SEARCH_SPACE",
    "TUNED_PARAMETERS",
    "TUNING_SEED_OFFSET",
    "tune",
    "tune_rows",
]

#: The most trees a trial may grow before early stopping ends it.
MAX_ROUNDS = 2000
#: Added to the seed of the tuning folds (evaluation uses seed, seed + 1, ...).
TUNING_SEED_OFFSET = 1000
#: The searched hyper-parameters of :class:`~.model.ModelSettings`, in the order they
#: are drawn: (low, high, log scale). Whole-number bounds search whole numbers.
SEARCH_SPACE: dict[str, tuple[float, float, bool]] = {
    "max_depth": (1, 8, False),
    "learning_rate": (0.01, 0.3, True),
    "min_child_weight": (1.0, 50.0, True),
    "reg_lambda": (1e-3, 30.0, True),
    "reg_alpha": (1e-3, 10.0, True),
    "subsample": (0.5, 1.0, False),
    "colsample_bytree": (0.4, 1.0, False),
}
#: Every hyper-parameter :func:`tune` sets: the number of trees and the searched ones.
TUNED_PARAMETERS: tuple[str, ...] = ("n_estimators", *SEARCH_SPACE)


def _space(trial) -> dict[str, float | int]:
    return {
        name: trial.suggest_int(name, low, high)
        if isinstance(low, int)
        else trial.suggest_float(name, low, high, log=log)
        for name, (low, high, log) in SEARCH_SPACE.items()
    }


def _within_space(settings: ModelSettings) -> dict[str, float | int]:
    """The values of ``settings`` moved into :data:`SEARCH_SPACE`'s bounds."""
    return {
        name: min(max(getattr(settings, name), low), high)
        for name, (low, high, _) in SEARCH_SPACE.items()
    }


def _booster_params(settings: ModelSettings, description) -> dict:
    """xgboost.train's names for the parameters of ``settings`` (one thread, seeded)."""
    p = xgboost_params(settings, description)
    out = {
        "objective": p["objective"],
        "eval_metric": p["eval_metric"],
        "tree_method": p["tree_method"],
        "max_depth": p["max_depth"],
        "eta": p["learning_rate"],
        "min_child_weight": p["min_child_weight"],
        "lambda": p["reg_lambda"],
        "alpha": p["reg_alpha"],
        "subsample": p["subsample"],
        "colsample_bytree": p["colsample_bytree"],
        "nthread": 1,
        "seed": settings.seed,
    }
    if "monotone_constraints" in p:
        out["monotone_constraints"] = p["monotone_constraints"]
    return out


@contextmanager
def _quiet_optuna():
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def tune(
    survey: Survey,
    *,
    settings: ModelSettings | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
) -> ModelSettings:
    """``settings`` with XGBoost's hyper-parameters tuned on ``survey``.

    ``trials`` defaults to ``settings.tune_trials``; ``timeout`` (seconds) stops the
    search early, at the cost of reproducibility. The result records the search in
    ``tuning`` (:class:`~.model.TuningRecord`) and is saved with the model. Its
    ``search_best_roc_auc`` is the best of the search, scored on the folds it was
    chosen on; :func:`~.evaluate.evaluate_models` gives the nested score.
    """
    frame, description = survey.frame, survey.description
    y = target_vector(frame, description, source=Path(survey.source).name)
    if len(np.unique(y)) < 2:
        raise SurveyError(f"{survey.source}: the target has a single class; cannot tune")
    groups = duplicate_groups(frame)
    return tune_rows(
        frame,
        y,
        groups,
        description,
        settings=settings,
        trials=trials,
        timeout=timeout,
        log=log,
        weights=weights_of(frame, description),
    )


def tune_rows(
    frame: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    description: SurveyDescription,
    *,
    settings: ModelSettings | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
    weights: np.ndarray | None = None,
) -> ModelSettings:
    """:func:`tune` on the rows of ``frame`` with targets ``y`` and duplicate groups
    ``groups``: the search that nested evaluation runs inside each outer fold. With
    survey ``weights`` every fit and early stop is weighted, and so is the ROC AUC."""
    import optuna

    settings = settings or ModelSettings()
    n_trials = trials or settings.tune_trials
    X = SurveyEncoder(description).fit(None).transform_array(frame)
    folds = _tuning_folds(X, y, groups, settings, weights)
    objective = _objective(folds, settings, description)
    start = time.perf_counter()
    with _quiet_optuna():
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=10),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=10, n_warmup_steps=1),
        )
        # the untuned settings first: the search can only improve on them
        study.enqueue_trial(_within_space(settings))

        def report(study, trial) -> None:
            if log is not None and trial.value is not None:
                log(
                    f"trial {trial.number + 1}/{n_trials}: AUC {trial.value:.4f} "
                    f"(best {study.best_value:.4f})"
                )

        study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[report])
    return _tuned_settings(settings, study, time.perf_counter() - start)


def _tuning_folds(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    settings: ModelSettings,
    weights: np.ndarray | None = None,
):
    """Per outer fold: the fitting and early-stopping matrices, the test matrix, its
    targets and its weights (None: unweighted), built once for every trial."""
    import xgboost as xgb

    def w(rows: np.ndarray) -> np.ndarray | None:
        return None if weights is None else weights[rows]

    seed = settings.seed + TUNING_SEED_OFFSET
    outer = StratifiedGroupKFold(n_splits=settings.cv_splits, shuffle=True, random_state=seed)
    folds = []
    for tr, te in outer.split(X, y, groups):
        inner = StratifiedGroupKFold(n_splits=settings.cv_splits, shuffle=True, random_state=seed)
        fit_part, val_part = next(inner.split(X[tr], y[tr], groups[tr]))
        fit_idx, val_idx = tr[fit_part], tr[val_part]
        folds.append(
            (
                xgb.DMatrix(X[fit_idx], label=y[fit_idx], weight=w(fit_idx), nthread=1),
                xgb.DMatrix(X[val_idx], label=y[val_idx], weight=w(val_idx), nthread=1),
                xgb.DMatrix(X[te], nthread=1),
                y[te],
                w(te),
            )
        )
    return folds


def _objective(folds, settings: ModelSettings, description) -> Callable:
    """The trial's mean test-fold ROC AUC, trees chosen by early stopping per fold."""
    import optuna
    import xgboost as xgb

    def objective(trial) -> float:
        candidate = settings.model_copy(update=_space(trial))
        params = _booster_params(candidate, description)
        aucs, best = [], []
        for step, (dfit, dval, dtest, y_test, w_test) in enumerate(folds):
            booster = xgb.train(
                params,
                dfit,
                num_boost_round=MAX_ROUNDS,
                evals=[(dval, "validation")],
                early_stopping_rounds=settings.early_stopping_rounds,
                verbose_eval=False,
            )
            n_trees = booster.best_iteration + 1
            p = booster.predict(dtest, iteration_range=(0, n_trees))
            aucs.append(roc_auc_score(y_test, p, sample_weight=w_test))
            best.append(n_trees)
            trial.report(float(np.mean(aucs)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("best_iterations", best)
        return float(np.mean(aucs))

    return objective


def _tuned_settings(settings: ModelSettings, study, seconds: float) -> ModelSettings:
    """``settings`` with the best trial's values and the record of the search."""
    best = study.best_trial
    iterations = tuple(int(i) for i in best.user_attrs["best_iterations"])
    record = TuningRecord(
        method=f"optuna TPE (seed {settings.seed}), grouped {settings.cv_splits}-fold CV, "
        f"early stopping on an inner validation fold after {settings.early_stopping_rounds} "
        f"rounds without improvement; n_estimators = median best iteration",
        trials=len(study.trials),
        seconds=round(seconds, 2),
        search_best_roc_auc=float(best.value),
        best_iterations=iterations,
    )
    values = {
        **settings.model_dump(),
        **best.params,
        "n_estimators": round(float(np.median(iterations))),
        "tuning": record.model_dump(),
    }
    return ModelSettings.model_validate(values)
