"""Build, fit, save and load the sleep-quality classifier (no pickle anywhere).

The classifier is a scikit-learn :class:`~sklearn.pipeline.Pipeline`: the
description-driven :class:`~sleeprx.learn.features.SurveyEncoder` followed by XGBoost.
A saved model is a folder with ``model.json`` (XGBoost's own JSON format),
``meta.json`` (the survey description, feature order and encoding, the settings
including any tuned ones, the calibration map, a hash of the training data and
package versions) and ``metrics.json``. A model trained with ``bootstrap=B`` also holds
``bootstrap/booster_00.json`` ... : B boosters refitted on resamples of the survey, in
XGBoost's JSON, each with its seed in its own attributes and, with its SHA-256, in
``meta.json`` (so a hash of ``meta.json`` covers them).

Blank cells: XGBoost, and scikit-learn's histogram gradient boosting, learn a default
branch for a missing value at every split. The logistic regression and random forest
comparators impute the median and add a 0/1 indicator per column that had blanks in
training (``SimpleImputer(add_indicator=True)``), inside their own pipelines. A blank
categorical answer is encoded as all zeros in that column's one-hot block.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import AliasChoices, Field
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from sleeprx.learn.attributions import effect_curve, shap_attributions
from sleeprx.learn.calibration import (
    CalibrationCheck,
    CalibrationMap,
    calibration_from_json,
    calibration_to_json,
    choose_calibration,
)
from sleeprx.learn.features import SurveyEncoder, feature_names, target_vector
from sleeprx.learn.splits import duplicate_groups
from sleeprx.learn.trust import TrustRegion, fit_trust_region, trust_region_from_json
from sleeprx.survey.curves import EffectCurve, curves_from_json, curves_to_json
from sleeprx.survey.description import SurveyDescription, description_from_dict
from sleeprx.survey.design import weights_of
from sleeprx.survey.read import Survey
from sleeprx.utils.errors import ArtifactError, ModelMismatchError, SurveyError
from sleeprx.utils.files import atomic_write_json, atomic_write_text, staged_dir
from sleeprx.utils.frames import column_names
from sleeprx.utils.odds import logit
from sleeprx.utils.validation import Strict

__all__ = [
    "CLASSIFIERS",
    "Bootstrap",
    "ModelSettings",
    "TrainedModel",
    "TuningRecord",
    "bootstrap_seeds",
    "cross_validated_margins",
    "fit_bootstraps",
    "fit_calibration",
    "fit_pipeline",
    "load_model",
    "make_pipeline",
    "monotone_constraints",
    "save_model",
    "train",
]

#: Version 2 stores the effect curves; a version-1 folder would have them re-estimated
#: silently on whatever survey is prescribed, so it is refused.
FORMAT_VERSION = 2


class TuningRecord(Strict):
    """How tuned hyper-parameters were found (see :func:`sleeprx.learn.tuning.tune`)."""

    method: str
    trials: int = Field(ge=1)
    seconds: float = Field(ge=0)
    search_best_roc_auc: float = Field(
        validation_alias=AliasChoices("search_best_roc_auc", "cv_roc_auc"),
        description="mean ROC AUC of the chosen trial over the folds it was chosen on: "
        "optimistic; the nested score is evaluate_models' xgboost_tuned",
    )
    best_iterations: tuple[int, ...] = Field(description="trees chosen by early stopping, per fold")


class ModelSettings(Strict):
    """Hyper-parameters and evaluation protocol; one validated object, passed whole.

    The XGBoost hyper-parameters keep XGBoost's own defaults except ``n_estimators``,
    ``max_depth`` and ``learning_rate``; :func:`sleeprx.learn.tuning.tune` returns a
    copy with tuned values and a :class:`TuningRecord` in ``tuning``.
    """

    n_estimators: int = Field(200, ge=1, le=5000)
    max_depth: int = Field(4, ge=1, le=12)
    learning_rate: float = Field(0.1, gt=0, le=1)
    min_child_weight: float = Field(1.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0, description="L2 penalty on leaf weights")
    reg_alpha: float = Field(0.0, ge=0, description="L1 penalty on leaf weights")
    subsample: float = Field(1.0, gt=0, le=1, description="share of rows per tree")
    colsample_bytree: float = Field(1.0, gt=0, le=1, description="share of features per tree")
    monotone: bool = Field(
        False, description="XGBoost monotone constraints from the description's 'monotone'"
    )
    calibrate: bool = Field(
        False,
        description="fit a beta calibration map of cross-validated margins, kept if it "
        "lowers their out-of-fold Brier score and ECE",
    )
    seed: int = 42
    test_size: float = Field(0.2, gt=0, lt=1)
    cv_splits: int = Field(5, ge=2)
    cv_repeats: int = Field(5, ge=1)
    tune_trials: int = Field(30, ge=1, description="trials of the hyper-parameter search")
    n_jobs: int = Field(2, ge=1, description="cross-validation folds fitted at once (processes)")
    early_stopping_rounds: int = Field(50, ge=1, description="patience when tuning")
    tuning: TuningRecord | None = Field(None, description="set by tune(); None if not tuned")
    bootstrap: int = Field(
        0, ge=0, le=1000, description="extra boosters refitted on grouped bootstrap resamples"
    )
    trust_region: Literal["isolation_forest", "knn"] | None = Field(
        None,
        description="fit a trust region on the training survey's levers "
        "(sleeprx.learn.trust); None = none",
    )


def monotone_constraints(description: SurveyDescription) -> dict[str, int]:
    """+1 (increasing) or -1 (decreasing) per encoded numeric feature whose column says
    ``monotone``; categorical columns are left free (a one-hot block has no order)."""
    signs = {"increasing": 1, "decreasing": -1}
    out: dict[str, int] = {}
    for column in description.columns:
        if column.monotone is None or column.type == "categorical":
            continue
        for name in column.output_names:
            if name in description.feature_columns:
                out[name] = signs[column.monotone]
    return out


def xgboost_params(settings: ModelSettings, description: SurveyDescription | None) -> dict:
    """The XGBoost parameters of ``settings`` (scikit-learn names), constraints included."""
    params: dict[str, Any] = {
        "n_estimators": settings.n_estimators,
        "max_depth": settings.max_depth,
        "learning_rate": settings.learning_rate,
        "min_child_weight": settings.min_child_weight,
        "reg_lambda": settings.reg_lambda,
        "reg_alpha": settings.reg_alpha,
        "subsample": settings.subsample,
        "colsample_bytree": settings.colsample_bytree,
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "n_jobs": 1,  # deterministic, and small per-person batches run faster on one thread
        "random_state": settings.seed,
    }
    if settings.monotone and description is not None:
        signs = monotone_constraints(description)
        # a tuple in feature order: independent of whether XGBoost sees feature names
        params["monotone_constraints"] = (
            "(" + ",".join(str(signs.get(n, 0)) for n in feature_names(description)) + ")"
        )
    return params


def _xgboost(settings: ModelSettings, description: SurveyDescription | None = None):
    return XGBClassifier(**xgboost_params(settings, description))


def _logistic(settings: ModelSettings, description: SurveyDescription | None = None) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
            ("logit", LogisticRegression(max_iter=5000, C=1.0)),
        ]
    )


def _forest(settings: ModelSettings, description: SurveyDescription | None = None) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            (
                "forest",
                RandomForestClassifier(n_estimators=300, random_state=settings.seed, n_jobs=1),
            ),
        ]
    )


class OneThreadHistGradientBoosting(HistGradientBoostingClassifier):
    """scikit-learn's histogram gradient boosting on one OpenMP thread.

    It has no ``n_jobs``; on a busy machine its default of one thread per core spins
    and runs some fifty times slower (34 s against 0.6 s for 4,000 rows), so fitting
    and prediction run under a one-thread limit, like every other model here.
    """

    def fit(self, X, y, sample_weight=None):
        with threadpool_limits(1, user_api="openmp"):
            return super().fit(X, y, sample_weight=sample_weight)

    def decision_function(self, X):
        with threadpool_limits(1, user_api="openmp"):
            return super().decision_function(X)

    def predict_proba(self, X):
        with threadpool_limits(1, user_api="openmp"):
            return super().predict_proba(X)


def _hist_gradient_boosting(
    settings: ModelSettings, description: SurveyDescription | None = None
) -> ClassifierMixin:
    # scikit-learn's defaults (100 iterations, 31 leaves, learning rate 0.1, native
    # missing values); early stopping off so that the size does not depend on the rows
    return OneThreadHistGradientBoosting(early_stopping=False, random_state=settings.seed)


#: Registry of the classifiers sleeprx trains and compares; xgboost prescribes. Each
#: factory takes the settings and the survey description (for monotone constraints).
CLASSIFIERS: dict[str, Callable[..., Any]] = {
    "xgboost": _xgboost,
    "logistic_regression": _logistic,
    "random_forest": _forest,
    "hist_gradient_boosting": _hist_gradient_boosting,
}


def make_pipeline(
    name: str, description: SurveyDescription, settings: ModelSettings | None = None
) -> Pipeline:
    """An unfitted pipeline: encoder, then the classifier registered as ``name``."""
    settings = settings or ModelSettings()
    return Pipeline(
        [
            ("encode", SurveyEncoder(description)),
            ("classify", CLASSIFIERS[name](settings, description)),
        ]
    )


def fit_pipeline(
    pipe: Pipeline, frame: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None = None
) -> Pipeline:
    """``pipe`` fitted on ``frame``, with survey ``weights`` as the final estimator's
    ``sample_weight`` (a comparator's is nested one pipeline deeper)."""
    if weights is None:
        return pipe.fit(frame, y)
    path, step = [], pipe
    while isinstance(step, Pipeline):
        name, step = step.steps[-1]
        path.append(name)
    return pipe.fit(frame, y, **{"__".join([*path, "sample_weight"]): np.asarray(weights)})


def cross_validated_margins(
    frame: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    description: SurveyDescription,
    settings: ModelSettings,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold XGBoost margins: each row scored by a model fitted without its group
    (stratified group k-fold with ``settings.cv_splits`` folds and ``settings.seed``),
    each fit weighted by the survey ``weights`` when given."""
    splits = min(settings.cv_splits, len(np.unique(groups)))
    splitter = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=settings.seed)
    out = np.full(len(y), np.nan)
    for tr, te in splitter.split(frame, y, groups):
        pipe = make_pipeline("xgboost", description, settings)
        fit_pipeline(pipe, frame.iloc[tr], y[tr], None if weights is None else weights[tr])
        out[te] = pipeline_margin(pipe, frame.iloc[te])
    return out


def pipeline_margin(pipe: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """The fitted XGBoost pipeline's margin (log-odds) for each row of ``frame``."""
    X = pipe.named_steps["encode"].transform(frame)
    return np.asarray(pipe.named_steps["classify"].predict(X, output_margin=True), dtype=float)


def fit_calibration(
    frame: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    description: SurveyDescription,
    settings: ModelSettings,
) -> tuple[CalibrationMap | None, CalibrationCheck]:
    """The calibration map of out-of-fold margins, or ``None`` (the identity) when it
    does not lower their out-of-fold Brier score and ECE; and the check that decided
    (:func:`~sleeprx.learn.calibration.choose_calibration`)."""
    weights = weights_of(frame, description)
    margins = cross_validated_margins(frame, y, groups, description, settings, weights)
    return choose_calibration(
        margins, y, groups, splits=settings.cv_splits, seed=settings.seed, weights=weights
    )


@dataclass(frozen=True)
class Bootstrap:
    """One booster refitted on a grouped bootstrap resample of the training survey.

    ``booster`` is an :class:`xgboost.Booster` with the main model's hyper-parameters;
    ``seed`` drew the resample and seeded XGBoost. It is never calibrated: its
    probability is ``sigmoid(margin)`` on its own scale.
    """

    seed: int
    booster: Any


def bootstrap_seeds(seed: int, count: int, *, first: int = 0) -> list[int]:
    """``count`` independent seeds spawned from ``seed``, from the ``first``-th on.

    ``train`` uses the first ``ModelSettings.bootstrap``; a later range gives fresh
    refits that the optimiser never saw (an honest out-of-sample check).
    """
    children = np.random.SeedSequence(seed).spawn(first + count)[first:]
    return [int(c.generate_state(1)[0] % 2**31) for c in children]


def fit_bootstraps(
    survey: Survey, settings: ModelSettings, seeds: Sequence[int]
) -> tuple[Bootstrap, ...]:
    """One booster per seed, each fitted on a bootstrap resample of ``survey``.

    The resample draws as many duplicate groups (:func:`duplicate_groups`) as there
    are, with replacement, and takes every row of each group drawn: copies of a row
    are one respondent's answers entered more than once, so they are drawn together.
    Each booster has the hyper-parameters of ``settings`` (tuned ones included), with
    XGBoost seeded by its own seed.
    """
    frame, description = survey.frame, survey.description
    y = target_vector(frame, description, source=Path(survey.source).name)
    X = SurveyEncoder(description).fit(None).transform(frame)
    groups = duplicate_groups(frame)
    weights = weights_of(frame, description)
    order = np.argsort(groups, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(groups[order])) + 1)
    out = []
    for seed in seeds:
        drawn = np.random.default_rng(seed).integers(0, len(members), len(members))
        rows = np.concatenate([members[g] for g in drawn])
        if len(np.unique(y[rows])) < 2:
            raise SurveyError(
                f"{survey.source}: the bootstrap resample of seed {seed} has a single class"
            )
        params = xgboost_params(settings.model_copy(update={"seed": seed}), description)
        weight = None if weights is None else weights[rows]
        booster = XGBClassifier(**params).fit(X.iloc[rows], y[rows], sample_weight=weight)
        booster = booster.get_booster()
        booster.set_attr(sleeprx_seed=str(seed))
        out.append(Bootstrap(seed, booster))
    return tuple(out)


@dataclass
class TrainedModel:
    """A fitted XGBoost pipeline with the description and provenance it was trained with."""

    pipeline: Pipeline
    description: SurveyDescription
    settings: ModelSettings
    data_hash: str
    metrics: dict[str, Any] = field(default_factory=dict)
    #: SHAP effect curves of the modifiable factors on the training survey, kept so that
    #: a survey of new people (even of one person) is judged by the same curves.
    curves: dict[str, EffectCurve] = field(default_factory=dict)
    #: Strictly increasing map from the margin to a calibrated probability, when
    #: ``calibrate=True`` and it passed its check; ``predict_proba`` applies it,
    #: ``margin`` stays the booster's raw log-odds. ``None``: the identity.
    calibration: CalibrationMap | None = None
    #: Whether a fitted map lowered the out-of-fold Brier score and ECE (``calibrate``).
    calibration_check: CalibrationCheck | None = None
    #: ``settings.bootstrap`` boosters refitted on resamples: the model's uncertainty.
    bootstraps: tuple[Bootstrap, ...] = ()
    #: Where the training survey's levers are (``settings.trust_region``), or None.
    trust_region: TrustRegion | None = None

    @property
    def feature_names(self) -> list[str]:
        # the encoder's, fixed at fit: a description with other columns is refused
        # (with_description), and deriving them again costs a third of a millisecond
        return list(self.pipeline.named_steps["encode"].feature_names_out_)

    @property
    def classifier(self) -> XGBClassifier:
        """The fitted :class:`xgboost.XGBClassifier` after the encoder."""
        return self.pipeline.named_steps["classify"]

    @cached_property
    def booster(self):
        """The underlying :class:`xgboost.Booster`."""
        return self.classifier.get_booster()

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.check_frame(frame)
        return self.pipeline.named_steps["encode"].transform(frame)

    def predict_proba(self, frame: pd.DataFrame) -> pd.Series:
        """Probability of the positive class (good sleep), one per row of ``frame``;
        calibrated when the model has a calibration map."""
        self.check_frame(frame)
        if self.calibration is None:
            # the booster on the encoder's array: what pipeline.predict_proba gives, to
            # the bit, without its DataFrame and feature-name checks (most of the time
            # of a call on one person's rows)
            X = self.pipeline.named_steps["encode"].transform_array(frame)
            p = self.booster.inplace_predict(X, validate_features=False)
        else:
            p = self.calibration.probability(pipeline_margin(self.pipeline, frame))
        return pd.Series(p, index=frame.index, name="p_good")

    def goal_margin(self, p: float) -> float:
        """The least margin at which :meth:`predict_proba` reaches ``p``: ``logit(p)``,
        or the calibration map's :meth:`~CalibrationMap.margin_for`."""
        if self.calibration is None:
            return logit(p)
        return self.calibration.margin_for(p)

    def margin(self, frame: pd.DataFrame) -> pd.Series:
        """Log-odds of good sleep (XGBoost's raw margin), one per row of ``frame``."""
        import xgboost as xgb

        matrix = xgb.DMatrix(self.encode(frame), nthread=1)
        m = self.booster.predict(matrix, output_margin=True)
        return pd.Series(m.astype(float), index=frame.index, name="logit")

    def check_frame(self, frame: pd.DataFrame) -> None:
        """Refuse a frame that lacks the columns this model's description needs."""
        present = set(column_names(frame))  # a set: Index lookups cost a microsecond each
        derived = set(self.description.derived_features)  # computed when encoding
        needed = [c for c in self.description.feature_columns if c not in derived]
        missing = [c for c in needed if c not in present]
        if missing:
            raise ModelMismatchError(
                f"the survey does not match the model's description "
                f"'{self.description.name}': missing column(s) {missing}"
            )

    def check_survey(self, survey: Survey) -> None:
        """Refuse a survey whose columns or target differ from the model's description.

        The prescription policy (factors, grids, costs, resistances) may differ: it
        does not change what the model reads.
        """
        if survey.description.data_fingerprint() != self.description.data_fingerprint():
            raise ModelMismatchError(
                f"{Path(survey.source).name} was read with description "
                f"'{survey.description.name}', whose columns or target differ from those of "
                f"the description '{self.description.name}' the model was trained with; read "
                f"the survey with the model's description (model.description)"
            )
        self.check_frame(survey.frame)

    def check_survey_file(self, path: str | Path | None) -> None:
        """Refuse, from its header alone, a survey file of another survey than the model's.

        A file that lacks most of the columns the model's description reads (``path``
        None: the shipped survey) is of another survey: one line naming the model's
        survey says more than the list of every column. A file that lacks a few, or
        cannot be read, is left to :func:`~sleeprx.survey.read.read_survey`, whose
        message names them.
        """
        import csv

        from sleeprx.survey.read import shipped_survey_path

        source = "the shipped survey" if path is None else Path(path).name
        try:
            with open(path or shipped_survey_path(), encoding="utf-8-sig", newline="") as f:
                header = {c.strip() for c in next(csv.reader(f, skipinitialspace=True))}
        except (OSError, UnicodeDecodeError, StopIteration, csv.Error, SurveyError):
            return
        description = self.description
        target = description.column(description.target.column).source
        needed = [c.source for c in description.columns if c.source != target]
        missing = [c for c in needed if c not in header]
        if 2 * len(missing) > len(needed):
            raise ModelMismatchError(
                f"this model was trained on survey '{description.name}'; {source} is "
                f"another survey (it lacks {len(missing)} of the {len(needed)} columns "
                f"the model reads)"
            )

    def with_description(self, description: SurveyDescription) -> TrainedModel:
        """This model under another prescription policy (same columns and target)."""
        if description is self.description:
            return self
        if description.data_fingerprint() != self.description.data_fingerprint():
            raise ModelMismatchError(
                f"description '{description.name}' has other columns or another target "
                f"than the model's description '{self.description.name}'"
            )
        return replace(self, description=description)


def train(survey: Survey, *, settings: ModelSettings | None = None) -> TrainedModel:
    """Fit the XGBoost pipeline on every valid row of ``survey``, each row weighted by
    its survey weight when the description names one (``design.weight``).

    With ``settings.calibrate`` the calibration map is fitted on out-of-fold margins of
    grouped cross-validation (copies of a row kept in one fold), then the booster on
    every row; the map is applied to the final booster's margins, unless it did not
    lower the out-of-fold Brier score and ECE (``calibration_check`` says which). With
    ``settings.bootstrap`` the model also holds that many refitted boosters
    (:func:`fit_bootstraps`, seeds from :func:`bootstrap_seeds`).
    """
    settings = settings or ModelSettings()
    frame, description = survey.frame, survey.description
    y = target_vector(frame, description, source=Path(survey.source).name)
    if len(np.unique(y)) < 2:
        raise SurveyError(f"{survey.source}: the target has a single class; cannot train")
    pipeline = make_pipeline("xgboost", description, settings)
    fit_pipeline(pipeline, frame, y, weights_of(frame, description))
    model = TrainedModel(pipeline, description, settings, survey.data_hash())
    if settings.calibrate:
        groups = duplicate_groups(frame)
        model.calibration, model.calibration_check = fit_calibration(
            frame, y, groups, description, settings
        )
    if settings.bootstrap:
        model.bootstraps = fit_bootstraps(
            survey, settings, bootstrap_seeds(settings.seed, settings.bootstrap)
        )
    X = model.encode(frame)
    if settings.trust_region is not None:
        model.trust_region = fit_trust_region(
            X.to_numpy(float),
            model.feature_names,
            description.modifiable_names,
            method=settings.trust_region,
            seed=settings.seed,
        )
    shap_values, _ = shap_attributions(model.classifier, X)
    model.curves = {
        name: effect_curve(name, X[name].to_numpy(float), shap_values[name].to_numpy())
        for name in (*description.modifiable_names, *description.derived_features)
    }
    return model


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("sleeprx", "xgboost", "scikit-learn", "shap", "pandas", "numpy", "highspy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def save_model(model: TrainedModel, out_dir: str | Path) -> Path:
    """Write ``model.json``, ``meta.json`` and ``metrics.json`` into ``out_dir``."""
    out = Path(out_dir)
    booster_json = model.booster.save_raw(raw_format="json").decode()
    encoder = model.pipeline.named_steps["encode"]
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "sleeprx.xgboost_pipeline",
        "description": model.description.model_dump(mode="json"),
        "description_fingerprint": model.description.fingerprint(),
        "feature_names": list(encoder.get_feature_names_out()),
        "encoding": "numeric columns pass through; categorical -> one 0/1 column per category",
        "settings": model.settings.model_dump(mode="json"),
        "training_data_sha256": model.data_hash,
        "versions": _versions(),
        "effect_curves": curves_to_json(model.curves),
        "calibration": None
        if model.calibration_check is None
        else calibration_to_json(model.calibration, model.calibration_check),
    }
    if model.trust_region is not None:
        meta["trust_region"] = model.trust_region.to_json()
    boosters = {}
    if model.bootstraps:
        boosters = {
            _bootstrap_file(i): b.booster.save_raw(raw_format="json").decode()
            for i, b in enumerate(model.bootstraps)
        }
        meta["bootstrap"] = [
            {"file": name, "seed": b.seed, "sha256": _sha256(text)}
            for (name, text), b in zip(boosters.items(), model.bootstraps, strict=True)
        ]
    with staged_dir(out, mark=False) as staging:  # the files land together
        atomic_write_text(staging / "model.json", booster_json)
        if boosters:
            (staging / "bootstrap").mkdir()
        for name, text in boosters.items():
            atomic_write_text(staging / name, text)
        atomic_write_json(staging / "meta.json", meta)
        atomic_write_json(staging / "metrics.json", model.metrics)
    return out


def load_model(model_dir: str | Path) -> TrainedModel:
    """Load a model folder written by :func:`save_model`, without pickle."""
    folder = Path(model_dir)
    paths = {n: folder / f"{n}.json" for n in ("model", "meta", "metrics")}
    for name in ("model", "meta"):
        if not paths[name].is_file():
            raise ArtifactError(f"{paths[name]}: not found; is {folder} a sleeprx model folder?")
    meta = _read_json(paths["meta"])
    try:
        found = meta.get("format_version")
        if isinstance(found, int) and found < FORMAT_VERSION:
            raise ArtifactError(
                f"{paths['meta']}: format_version {found} is older than this sleeprx's "
                f"{FORMAT_VERSION} (no saved effect curves); retrain with 'sleeprx train'"
            )
        if found != FORMAT_VERSION:
            raise ArtifactError(
                f"{paths['meta']}: format_version {found!r}, this sleeprx reads {FORMAT_VERSION}"
            )
        description = description_from_dict(meta["description"], source=str(paths["meta"]))
        settings = ModelSettings.model_validate(meta["settings"])
        data_hash = str(meta["training_data_sha256"])
        names = meta["feature_names"]
    except KeyError as exc:
        raise ArtifactError(f"{paths['meta']}: missing key {exc}") from None
    except (AttributeError, TypeError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{paths['meta']}: not a sleeprx metadata file ({exc})") from None
    if names != feature_names(description):
        raise ArtifactError(f"{paths['meta']}: feature_names do not match its description")
    classifier = XGBClassifier()
    try:
        classifier.load_model(paths["model"])
    except Exception as exc:  # xgboost raises its own XGBoostError, with a C++ trace
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"{paths['model']}: cannot be read by XGBoost ({first})") from None
    # One thread, as train() fits: a loaded booster would otherwise predict with every
    # core, and on the few rows of one person starting threads costs far more than the
    # trees (tens of ms on a busy machine against a fraction of one).
    classifier.set_params(n_jobs=1)
    classifier.get_booster().set_param({"nthread": 1})
    encoder = SurveyEncoder(description).fit(None)
    pipeline = Pipeline([("encode", encoder), ("classify", classifier)])
    metrics = _read_json(paths["metrics"]) if paths["metrics"].is_file() else {}
    try:
        curves = curves_from_json(meta["effect_curves"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(
            f"{paths['meta']}: effect_curves are missing or malformed ({exc})"
        ) from None
    raw_map = meta.get("calibration")
    try:
        calibration, check = (None, None) if raw_map is None else calibration_from_json(raw_map)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"{paths['meta']}: calibration is malformed ({exc})") from None
    if settings.calibrate != (check is not None):
        raise ArtifactError(
            f"{paths['meta']}: settings.calibrate is {settings.calibrate} but the calibration "
            f"record is {'missing' if check is None else 'present'}"
        )
    bootstraps = _load_bootstraps(folder, meta.get("bootstrap", []), settings)
    model = TrainedModel(pipeline, description, settings, data_hash, metrics, curves)
    model.calibration, model.calibration_check = calibration, check
    model.bootstraps = bootstraps
    model.trust_region = _load_trust_region(paths["meta"], meta, settings, names)
    return model


def _load_trust_region(
    path: Path, meta: dict, settings: ModelSettings, names: list[str]
) -> TrustRegion | None:
    """The trust region ``meta.json`` holds, checked against the settings and columns."""
    raw = meta.get("trust_region")
    if (raw is None) != (settings.trust_region is None):
        raise ArtifactError(
            f"{path}: settings.trust_region is {settings.trust_region!r} but the trust_region "
            f"record is {'missing' if raw is None else 'present'}"
        )
    if raw is None:
        return None
    try:
        region = trust_region_from_json(raw)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ArtifactError(f"{path}: trust_region is malformed ({exc})") from None
    if region.method != settings.trust_region or [names[c] for c in region.columns] != list(
        region.names
    ):
        raise ArtifactError(
            f"{path}: trust_region ({region.method}, columns {list(region.names)}) does not "
            f"match settings.trust_region {settings.trust_region!r} and the feature names"
        )
    return region


def _bootstrap_file(i: int) -> str:
    return f"bootstrap/booster_{i:02d}.json"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _load_bootstraps(folder: Path, entries: Any, settings: ModelSettings) -> tuple[Bootstrap, ...]:
    """The boosters ``meta.json`` lists, each checked against its SHA-256 and seed."""
    import xgboost as xgb

    meta = folder / "meta.json"
    if not isinstance(entries, list) or len(entries) != settings.bootstrap:
        found = len(entries) if isinstance(entries, list) else repr(entries)
        raise ArtifactError(
            f"{meta}: settings.bootstrap is {settings.bootstrap} but 'bootstrap' lists {found}"
        )
    out = []
    for i, entry in enumerate(entries):
        name = _bootstrap_file(i)
        if not isinstance(entry, dict) or entry.get("file") != name:
            raise ArtifactError(f"{meta}: bootstrap entry {i} should name {name}: {entry!r}")
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{path}: not found (listed in {meta})")
        text = path.read_text(encoding="utf-8")
        if _sha256(text) != entry.get("sha256"):
            raise ArtifactError(f"{path}: its SHA-256 differs from the one in {meta}")
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(text.encode()))
        except Exception as exc:  # xgboost raises its own XGBoostError, with a C++ trace
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"{path}: cannot be read by XGBoost ({first})") from None
        seed = entry.get("seed")
        if booster.attr("sleeprx_seed") != str(seed):
            raise ArtifactError(
                f"{path}: seed {booster.attr('sleeprx_seed')!r} differs from {meta}'s {seed!r}"
            )
        out.append(Bootstrap(int(seed), booster))
    return tuple(out)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ArtifactError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value
