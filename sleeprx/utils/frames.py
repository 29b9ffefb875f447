"""Small DataFrames in and out, in a fraction of pandas' own time on a few rows.

:func:`frame_of_columns` builds what ``pd.DataFrame(columns)`` builds. The constructor
infers and sanitises every column and then consolidates them into blocks: on one row of
27 columns that is about 1.5 ms, many times the solve. When every column is plainly of
one kind (Python floats, ints, bools or text, or a float64 array, or a text array), the
blocks are built directly, with the dtypes inference would give; anything else (a blank
among numbers, mixed kinds) is left to the constructor. :func:`frame_of_arrays` keeps
each numpy array's dtype as given (text as numpy objects), and :func:`column_lists`
reads a frame's columns back as Python objects, both without pandas' text arrays, whose
every conversion to or from Python objects costs about 0.1 ms a column.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks

__all__ = ["column_lists", "column_names", "frame_of_arrays", "frame_of_columns"]

#: The numpy dtype of each plain kind of Python cell, as pandas infers it.
_KINDS: dict[type, np.dtype] = {
    float: np.dtype(np.float64),
    int: np.dtype(np.int64),
    bool: np.dtype(np.bool_),
}


def frame_of_columns(columns: Mapping[str, Any], index: pd.Index | None = None) -> pd.DataFrame:
    """``pd.DataFrame(columns, index=index)``, equal to it to the bit, dtypes included."""
    kinds = [_kind(values) for values in columns.values()]
    n = len(index) if index is not None else _length(columns)
    if any(k is None for k in kinds) or n is None or n == 0:  # (dtype == None is True)
        return pd.DataFrame(dict(columns), index=index)
    named = list(columns)
    placed: dict[Any, list[int]] = {}
    for k, kind in enumerate(kinds):
        placed.setdefault(kind, []).append(k)
    blocks: list[tuple[Any, list[int]]] = []
    text = placed.pop("str", [])
    blocks += [(columns[named[k]], [k]) for k in text if not isinstance(columns[named[k]], list)]
    cells = [k for k in text if isinstance(columns[named[k]], list)]
    if cells:  # one text array for all the columns' cells, sliced: each costs ~0.2 ms
        every = pd.array([v for k in cells for v in columns[named[k]]], dtype="str")
        blocks += [(every[i * n : (i + 1) * n], [k]) for i, k in enumerate(cells)]
    for dtype, at in placed.items():
        blocks.append((np.array([columns[named[k]] for k in at], dtype=dtype), at))
    return create_dataframe_from_blocks(
        [(array, np.asarray(at, dtype=np.intp)) for array, at in blocks],
        index=index if index is not None else pd.RangeIndex(n),
        columns=_header(tuple(named)),
    )


@functools.lru_cache(maxsize=64)
def _header(names: tuple[str, ...]) -> pd.Index:
    """The columns' Index, built once per header (an Index is immutable): inferring
    its text dtype costs about what a small frame does."""
    return pd.Index(list(names))


def _length(columns: Mapping[str, Any]) -> int | None:
    lengths = {len(values) for values in columns.values()}
    return lengths.pop() if len(lengths) == 1 else None


def _kind(values: Sequence | np.ndarray) -> np.dtype | str | None:
    """The column's dtype if it is plainly one kind, ``"str"`` for text, else None."""
    if isinstance(values, np.ndarray):
        return values.dtype if values.ndim == 1 and values.dtype in _KINDS.values() else None
    if isinstance(values, pd.api.extensions.ExtensionArray):
        return "str" if values.dtype == pd.StringDtype(na_value=np.nan) else None
    if not isinstance(values, list) or not values:
        return None
    if isinstance(values[0], str):  # text, a StrEnum too: pandas keeps its value
        return "str" if all(isinstance(v, str) for v in values) else None
    if isinstance(values[0], float):  # np.float64 is a float
        return _KINDS[float] if all(isinstance(v, float) for v in values) else None
    first = type(values[0])
    kind = _KINDS.get(first)
    if kind is None or not all(type(v) is first for v in values):
        return None
    return kind


def frame_of_arrays(columns: Mapping[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """A frame of 1-d numpy arrays as ``index`` long, each column of its array's dtype:
    ``pd.DataFrame(columns, index=index)`` but for an object array of text, which stays
    object where the constructor would make it pandas' text."""
    if not columns:
        return pd.DataFrame(dict(columns), index=index)
    named = list(columns)
    placed: dict[np.dtype, list[int]] = {}
    for k, values in enumerate(columns.values()):
        placed.setdefault(values.dtype, []).append(k)
    blocks = [
        (np.stack([columns[named[k]] for k in at]), np.asarray(at, dtype=np.intp))
        for at in placed.values()
    ]
    return create_dataframe_from_blocks(blocks, index=index, columns=_header(tuple(named)))


def column_lists(frame: pd.DataFrame) -> list[list]:
    """Each column's cells as Python objects, in column order: what
    ``frame.to_numpy(dtype=object).T.tolist()`` gives, without its conversion of every
    text column to numpy objects (about 1 ms on one row of a survey file's columns).

    Reads pandas' blocks: numpy ones and pandas' text (NaN for a blank) directly, a frame
    with any other kind of block by ``to_numpy``.
    """
    blocks = getattr(getattr(frame, "_mgr", None), "blocks", None)
    if blocks is None:  # not pandas' block manager
        return frame.to_numpy(dtype=object).T.tolist()
    out: list[list] = [[] for _ in range(frame.shape[1])]
    for block in blocks:
        values, at = block.values, block.mgr_locs.as_array
        if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype.kind in _PLAIN:
            for k, cells in zip(at.tolist(), values.tolist(), strict=True):
                out[k] = cells
        elif len(at) == 1 and _is_text(values.dtype):
            out[int(at[0])] = _text_cells(values)
        else:
            break
    else:
        return out
    return frame.to_numpy(dtype=object).T.tolist()


#: numpy kinds whose ``tolist`` gives the Python objects ``astype(object)`` holds.
_PLAIN = frozenset("biufcO")


def column_names(frame: pd.DataFrame) -> list:
    """The frame's column labels as a list (``list(frame.columns)``, NaN for a blank
    label), without iterating pandas' text Index cell by cell."""
    labels = frame.columns.array
    return _text_cells(labels) if _is_text(labels.dtype) else frame.columns.tolist()


def _text_cells(values: pd.api.extensions.ExtensionArray) -> list:
    """pandas' text as str, NaN for a blank; Arrow's own list where Arrow holds it
    (``tolist`` goes through numpy objects, about 0.1 ms on one cell)."""
    if not isinstance(values, pd.arrays.ArrowStringArray):
        return values.tolist()
    return [np.nan if v is None else v for v in values.__arrow_array__().to_pylist()]


def _is_text(dtype: object) -> bool:
    """pandas' text (``dtype="str"``), whose ``tolist`` gives str, and NaN for a blank;
    without ``StringDtype.__eq__``, which costs more than the conversion."""
    return isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan
