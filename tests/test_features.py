"""The encoder's one-hot features: every answer, blank or odd, as the comparison gives."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sleeprx.learn.features import SurveyEncoder
from sleeprx.survey.description import load_description

PLANS = st.sampled_from(
    [
        (("a", ()), ("b", ("x", "y", "z")), ("c", ())),
        (("b", ("x", "y")), ("d", ("y", "x", "y"))),  # a category twice
        (("b", ("", "x")),),  # a blank category
    ]
)
ANSWERS = st.sampled_from(["x", "y", "z", "", "w", None, math.nan, pd.NA, 1.0, 2])


def _reference(plan, values: np.ndarray) -> np.ndarray:
    """The encoding as the comparison of each answer with each category."""
    parts = []
    for j, (_, categories) in enumerate(plan):
        if categories:
            answers = np.where(pd.isna(values[:, j]), "", values[:, j])
            parts += [(answers == c).astype(float) for c in categories]
        else:
            parts.append(values[:, j].astype(float))
    return np.column_stack(parts)


@settings(max_examples=200, deadline=None)
@given(PLANS, st.data())
def test_transform_values_is_the_comparison_of_answers(plan, data):
    n = data.draw(st.integers(0, 6))
    cells = [[data.draw(st.floats(-9, 9) if not c else ANSWERS) for _, c in plan] for _ in range(n)]
    values = np.empty((n, len(plan)), dtype=object)
    values[:] = cells if n else values
    encoder = SurveyEncoder(load_description()).fit(None)
    encoder.encoding_plan_ = plan  # a plan of its own, for the odd categories
    expected = _reference(plan, values)
    np.testing.assert_array_equal(encoder.transform_values(values), expected)
