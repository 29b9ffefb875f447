"""frame_of_columns builds what pd.DataFrame builds, to the bit, whatever the columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sleeprx.prescribing.status import Status
from sleeprx.utils.frames import frame_of_columns

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
