"""parse_numbers reads what pd.to_numeric reads, to the bit, whatever the cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sleeprx.survey.cells import parse_numbers

PLAIN = st.builds(
    lambda sign, whole, frac: f"{sign}{whole}" + (f".{frac}" if frac else ""),
    st.sampled_from(["", "-"]),
    st.integers(0, 10**15).map(str) | st.sampled_from(["0", "00", "007"]),
    st.none() | st.integers(0, 10**9).map(str) | st.sampled_from(["0", "000", "5"]),
)
ODD = st.sampled_from(
    ["", "-0", "-00", "-0.0", "1e5", "inf", "-inf", "nan", "1_000", "abc", ".5", "5.", "+3"]
) | st.text(alphabet="0123456789.-e+", max_size=20)


def _to_numeric(cells: list[str]) -> np.ndarray:
    values = np.array([t if t != "" else np.nan for t in cells], dtype=object)
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(PLAIN | ODD, max_size=6), min_size=1, max_size=4))
def test_parse_numbers_reads_what_to_numeric_reads(columns):
    parsed = parse_numbers(columns)
    expected = _to_numeric([t for c in columns for t in c])
    got = np.concatenate(parsed) if parsed else np.zeros(0)
    assert [len(p) for p in parsed] == [len(c) for c in columns]
    assert got.tobytes() == expected.tobytes()  # the same bits: NaN, -0.0 included


def test_negative_zero_among_whole_numbers_reads_as_pandas_does():
    for cells in (["-0", "5"], ["-0", "5.5"], ["-0.0", "3"]):
        assert parse_numbers([cells])[0].tobytes() == _to_numeric(cells).tobytes()
