"""Turn a canonical survey frame into the model's numeric feature matrix.

The encoding is fixed by the survey description, not learned: numeric columns pass
through unchanged (so trees split on real hours and steps, which exact mode relies
on), and each categorical column becomes one 0/1 column per allowed category. A blank
numeric answer stays NaN (XGBoost learns where missing values go); a blank categorical
answer is all zeros in its block, which no answered category is. An ordinal column
passes its codes through, so trees keep its order. Feature names are safe for every
model library (:func:`safe_name`) and read back by :func:`display_name`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from sleeprx.survey.derived import with_derived
from sleeprx.survey.description import SurveyDescription
from sleeprx.utils.errors import SurveyError
from sleeprx.utils.frames import column_lists, column_names

__all__ = ["SurveyEncoder", "display_name", "feature_names", "safe_name", "target_vector"]

# XGBoost refuses ``[``, ``]`` and ``<`` in a feature name, and feature maps and
# constraint strings split on commas: each is written as an HTML character reference,
# ``&`` too so that the mapping stays one to one. Other names are left as they are.
_ESCAPES = {"&": "&amp;", "[": "&#91;", "]": "&#93;", "<": "&lt;", ",": "&#44;"}
_ESCAPED = re.compile("|".join(map(re.escape, _ESCAPES)))
_REFERENCE = re.compile("|".join(map(re.escape, _ESCAPES.values())))
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}


def safe_name(text: str) -> str:
    """``text`` with the characters some model libraries refuse in a feature name
    escaped: ``safe_name("tv=<1 h") == "tv=&lt;1 h"``; plain text is unchanged."""
    if not any(c in text for c in "[]<,") and not _REFERENCE.search(text):
        return text  # the names of surveys without such characters never move
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group()], text)


def display_name(feature: str) -> str:
    """The feature name as the survey writes it: the inverse of :func:`safe_name`."""
    if not any(ref in feature for ref in ("&#91;", "&#93;", "&lt;", "&#44;", "&amp;")):
        return feature
    return _REFERENCE.sub(lambda m: _UNESCAPES[m.group()], feature)


def feature_names(description: SurveyDescription) -> list[str]:
    """Names of the encoded features, in the order the model sees them: a column's
    name, or ``column=category`` for each category (escaped by :func:`safe_name`)."""
    names: list[str] = []
    for name in description.feature_columns:
        column = _column_of(description, name)
        if column is not None and column.type == "categorical":
            names += [safe_name(f"{name}={c}") for c in column.categories]
        else:
            names.append(name)
    return names


def target_vector(
    frame: pd.DataFrame, description: SurveyDescription, *, source: str = "the survey"
) -> np.ndarray:
    """1 for the positive class (``target >= threshold``), else 0.

    A survey may leave the target out (people to prescribe for who have not reported
    their sleep quality); training and evaluation cannot, and say so here.
    """
    target = description.target
    if target.column not in frame.columns:
        header = _column_of(description, target.column).source
        raise SurveyError(
            f"{source}: column '{header}' (the target) is missing; training and evaluation need it"
        )
    return (frame[target.column].to_numpy(float) >= target.threshold).astype(int)


def _column_of(description: SurveyDescription, name: str):
    """The file's column of a feature; None for a derived lever (a number)."""
    for column in description.columns:
        if name in column.output_names:
            return column
    if name in description.derived_features:
        return None
    raise KeyError(name)


def _encoding_plan(description: SurveyDescription) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each feature column with its categories (empty for a numeric column)."""
    return tuple(
        (name, column.categories if column is not None and column.type == "categorical" else ())
        for name in description.feature_columns
        for column in [_column_of(description, name)]
    )


@dataclass(frozen=True)
class _Layout:
    """An encoding plan as positions: numeric input columns and their feature columns,
    and each categorical column's first feature, categories and category -> offset
    (None for odd categories, compared one by one)."""

    width: int
    numbers: list[int]
    number_at: list[int]
    categorical: tuple[tuple[int, int, tuple[str, ...], dict[str, int] | None], ...]

    @classmethod
    def of(cls, plan: tuple[tuple[str, tuple[str, ...]], ...]) -> _Layout:
        numbers, number_at, categorical, at = [], [], [], 0
        for j, (_, categories) in enumerate(plan):
            if categories:
                codes = {c: k for k, c in enumerate(categories)}
                # a category twice, or a blank one (which a blank answer matches)
                odd = len(codes) < len(categories) or "" in codes
                categorical.append((j, at, categories, None if odd else codes))
                at += len(categories)
            else:
                numbers.append(j)
                number_at.append(at)
                at += 1
        return cls(at, numbers, number_at, tuple(categorical))


class SurveyEncoder(TransformerMixin, BaseEstimator):
    """Encode canonical survey columns as the model's float features.

    Stateless: ``fit`` learns nothing, because the description fixes the categories.
    """

    def __init__(self, description: SurveyDescription) -> None:
        self.description = description

    def fit(self, X: pd.DataFrame, y: object = None) -> SurveyEncoder:
        self.feature_names_out_ = np.asarray(feature_names(self.description), dtype=object)
        self.encoding_plan_ = _encoding_plan(self.description)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            self.transform_array(X), index=X.index, columns=feature_names(self.description)
        )

    def transform_array(self, X: pd.DataFrame) -> np.ndarray:
        """The encoded features as a float array (one pandas access, then numpy)."""
        # derived levers follow their formula in every frame, prescribed profiles too
        X = with_derived(X, self.description)
        return self.transform_values(X[list(self.input_columns)].to_numpy(dtype=object))

    def rows_and_features(self, X: pd.DataFrame) -> tuple[list[dict], np.ndarray]:
        """Each row of ``X`` as a plain dict (what ``to_dict(orient="records")`` gives)
        and :meth:`transform_array` of ``X``, from one conversion of the frame."""
        X = with_derived(X, self.description)  # a copy only when there are derived levers
        columns = column_names(X)
        cells = column_lists(X)  # the cells to_numpy(dtype=object) holds, column by column
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*cells, strict=True)]
        values = np.empty((len(X), len(self.encoding_plan_)), dtype=object)
        for j, c in enumerate(self.input_columns):
            values[:, j] = cells[columns.index(c)]
        return rows, self.transform_values(values)

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The canonical columns the encoder reads, in the order of
        :meth:`transform_values`' columns."""
        return tuple(name for name, _ in self.encoding_plan_)

    def transform_values(self, values: np.ndarray) -> np.ndarray:
        """The encoded features of an object array of answers, one column per
        :attr:`input_columns` entry (blank: NaN, None or pd.NA)."""
        layout = self._layout()
        out = np.zeros((len(values), layout.width))
        if layout.numbers:  # one conversion for every numeric column
            out[:, layout.number_at] = values[:, layout.numbers].astype(float)
        rows = np.arange(len(values))
        for j, start, categories, codes in layout.categorical:
            # a blank answer (NaN, None or pd.NA) or any other matches no category: zeros
            if codes is None:  # odd categories: compared one by one
                answers = np.where(pd.isna(values[:, j]), "", values[:, j])
                for k, c in enumerate(categories):
                    out[:, start + k] = (answers == c).astype(float)
                continue
            at = np.fromiter(
                (codes.get(a, -1) if isinstance(a, str) else -1 for a in values[:, j].tolist()),
                dtype=np.intp,
                count=len(values),
            )
            hit = at >= 0
            out[rows[hit], start + at[hit]] = 1.0
        return out

    def _layout(self) -> _Layout:
        """Where each input column goes in the features, kept for the fitted plan."""
        plan = self.encoding_plan_
        cached = self.__dict__.get("_layout_of")
        if cached is None or cached[0] is not plan:
            cached = (plan, _Layout.of(plan))
            self.__dict__["_layout_of"] = cached
        return cached[1]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(feature_names(self.description), dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "encoding_plan_")
