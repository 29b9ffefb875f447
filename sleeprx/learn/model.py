"""Build, fit, save and load the sleep-quality classifier (no pickle anywhere).

The classifier is a scikit-learn :class:`~sklearn.pipeline.Pipeline`: the
description-driven :class:`~sleeprx.learn.features.SurveyEncoder` followed by XGBoost.
A saved model is a folder with ``model.json`` (XGBoost's own JSON format),
``meta.json`` (the survey description, feature order and encoding, a hash of the
training data and package versions) and ``metrics.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from ..config import Strict
from ..errors import ArtifactError, ModelMismatchError, SurveyError
from ..files import atomic_write_json, atomic_write_text, staged_dir
from .attributions import effect_curve, shap_attributions
from .curves import EffectCurve, curves_from_json, curves_to_json
from .data import Survey
from .features import SurveyEncoder, feature_names, target_vector
from .survey import SurveyDescription, description_from_dict

__all__ = [
    "CLASSIFIERS",
    "ModelSettings",
    "TrainedModel",
    "load_model",
    "make_pipeline",
    "save_model",
    "train",
]

#: Version 2 stores the effect curves; a version-1 folder would have them re-estimated
#: silently on whatever survey is prescribed, so it is refused.
FORMAT_VERSION = 2


class ModelSettings(Strict):
    """Hyper-parameters and evaluation protocol; one validated object, passed whole."""

    n_estimators: int = Field(200, ge=1, le=5000)
    max_depth: int = Field(4, ge=1, le=12)
    learning_rate: float = Field(0.1, gt=0, le=1)
    seed: int = 42
    test_size: float = Field(0.2, gt=0, lt=1)
    cv_splits: int = Field(5, ge=2)
    cv_repeats: int = Field(5, ge=1)


def _xgboost(settings: ModelSettings) -> ClassifierMixin:
    return XGBClassifier(
        n_estimators=settings.n_estimators,
        max_depth=settings.max_depth,
        learning_rate=settings.learning_rate,
        objective="binary:logistic",
        eval_metric="logloss",
        tree_method="hist",
        n_jobs=1,  # deterministic, and small per-person batches run faster on one thread
        random_state=settings.seed,
    )


def _logistic(settings: ModelSettings) -> Pipeline:
    return Pipeline(
        [("scale", StandardScaler()), ("logit", LogisticRegression(max_iter=5000, C=1.0))]
    )


def _forest(settings: ModelSettings) -> ClassifierMixin:
    return RandomForestClassifier(n_estimators=300, random_state=settings.seed, n_jobs=1)


#: Registry of the classifiers sleeprx trains and compares; xgboost prescribes.
CLASSIFIERS: dict[str, Callable[[ModelSettings], Any]] = {
    "xgboost": _xgboost,
    "logistic_regression": _logistic,
    "random_forest": _forest,
}


def make_pipeline(
    name: str, description: SurveyDescription, settings: ModelSettings | None = None
) -> Pipeline:
    """An unfitted pipeline: encoder, then the classifier registered as ``name``."""
    settings = settings or ModelSettings()
    return Pipeline(
        [("encode", SurveyEncoder(description)), ("classify", CLASSIFIERS[name](settings))]
    )


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

    @property
    def feature_names(self) -> list[str]:
        return feature_names(self.description)

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
        """Probability of the positive class (good sleep), one per row of ``frame``."""
        self.check_frame(frame)
        p = self.pipeline.predict_proba(frame)[:, 1]
        return pd.Series(p, index=frame.index, name="p_good")

    def margin(self, frame: pd.DataFrame) -> pd.Series:
        """Log-odds of good sleep (XGBoost's raw margin), one per row of ``frame``."""
        import xgboost as xgb

        matrix = xgb.DMatrix(self.encode(frame), nthread=1)
        m = self.booster.predict(matrix, output_margin=True)
        return pd.Series(m.astype(float), index=frame.index, name="logit")

    def check_frame(self, frame: pd.DataFrame) -> None:
        """Refuse a frame that lacks the columns this model's description needs."""
        missing = [c for c in self.description.feature_columns if c not in frame.columns]
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

    def with_description(self, description: SurveyDescription) -> TrainedModel:
        """This model under another prescription policy (same columns and target)."""
        if description.data_fingerprint() != self.description.data_fingerprint():
            raise ModelMismatchError(
                f"description '{description.name}' has other columns or another target "
                f"than the model's description '{self.description.name}'"
            )
        return replace(self, description=description)


def train(survey: Survey, *, settings: ModelSettings | None = None) -> TrainedModel:
    """Fit the XGBoost pipeline on every valid row of ``survey``."""
    settings = settings or ModelSettings()
    frame, description = survey.frame, survey.description
    y = target_vector(frame, description, source=Path(survey.source).name)
    if len(np.unique(y)) < 2:
        raise SurveyError(f"{survey.source}: the target has a single class; cannot train")
    pipeline = make_pipeline("xgboost", description, settings).fit(frame, y)
    model = TrainedModel(pipeline, description, settings, survey.data_hash())
    X = model.encode(frame)
    shap_values, _ = shap_attributions(model.classifier, X)
    model.curves = {
        name: effect_curve(name, X[name].to_numpy(float), shap_values[name].to_numpy())
        for name in description.modifiable_names
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
    }
    with staged_dir(out, mark=False) as staging:  # the three files land together
        atomic_write_text(staging / "model.json", booster_json)
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
    encoder = SurveyEncoder(description).fit(None)
    pipeline = Pipeline([("encode", encoder), ("classify", classifier)])
    metrics = _read_json(paths["metrics"]) if paths["metrics"].is_file() else {}
    try:
        curves = curves_from_json(meta["effect_curves"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(
            f"{paths['meta']}: effect_curves are missing or malformed ({exc})"
        ) from None
    return TrainedModel(pipeline, description, settings, data_hash, metrics, curves)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ArtifactError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value
