"""frame_of_columns builds what pd.DataFrame builds, to the bit, whatever the columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sleeprx.prescribing.status import Status
from sleeprx.utils.frames import column_lists, column_names, frame_of_arrays, frame_of_columns

CELLS = st.one_of(
    st.floats(allow_nan=True),
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.text(max_size=5),
    st.sampled_from(list(Status)),
    st.none(),
    st.just(math.nan),
    st.floats(-5, 5).map(np.float64),
)


@st.composite
def columns(draw):
    n = draw(st.integers(0, 4))
    kinds = [
        st.lists(st.floats(allow_nan=True), min_size=n, max_size=n),
        st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.text(max_size=5) | st.sampled_from(list(Status)), min_size=n, max_size=n),
        st.lists(CELLS, min_size=n, max_size=n),  # mixed: left to pandas
        st.lists(st.floats(allow_nan=True), min_size=n, max_size=n).map(np.array),
        st.lists(st.text(max_size=3) | st.none(), min_size=n, max_size=n).map(
            lambda v: pd.array(v, dtype="str")
        ),
    ]
    names = draw(st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=8))
    return {name: draw(draw(st.sampled_from(kinds))) for name in names}


@settings(max_examples=300, deadline=None)
@given(columns(), st.booleans())
def test_frame_of_columns_is_the_constructors_frame(data, indexed):
    lengths = {len(v) for v in data.values()}
    index = pd.Index(range(10, 10 + lengths.pop()), name="id") if indexed and lengths else None
    expected = pd.DataFrame(dict(data), index=index)
    pd.testing.assert_frame_equal(frame_of_columns(data, index), expected, check_exact=True)


def _cells(lists: list[list]) -> list[list]:
    """Cells comparable with ==, NaN included, and their types."""
    return [[("nan",) if v != v else (type(v), v) for v in cells] for cells in lists]


@settings(max_examples=200, deadline=None)
@given(columns(), st.booleans())
def test_column_lists_reads_what_to_numpy_gives(data, dated):
    frame = pd.DataFrame(dict(data))
    if dated and len(frame.columns):  # a block of another kind: read by to_numpy
        frame = frame.assign(when=pd.Timestamp("2024-01-02"))
    expected = frame.to_numpy(dtype=object).T.tolist()
    assert _cells(column_lists(frame)) == _cells(expected)


def test_column_lists_of_a_read_csv_row_keeps_numbers_and_text():
    frame = pd.DataFrame({"a": [7], "b": ["x"], "c": [6.1], "d": [None]}).astype({"d": "str"})
    assert _cells(column_lists(frame)) == _cells([[7], ["x"], [6.1], [math.nan]])


def test_frame_of_arrays_keeps_each_arrays_dtype():
    text = np.array(["x", math.nan], dtype=object)
    frame = frame_of_arrays({"t": text, "v": np.array([1.5, 2.0])}, pd.Index([3, 4]))
    expected = pd.DataFrame({"t": text, "v": [1.5, 2.0]}, index=[3, 4]).astype({"t": object})
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=3) | st.integers(0, 9) | st.just(math.nan), max_size=5))
def test_column_names_are_the_frames_labels(labels):
    frame = pd.DataFrame([list(range(len(labels)))], columns=labels)
    assert _cells([column_names(frame)]) == _cells([list(frame.columns)])
