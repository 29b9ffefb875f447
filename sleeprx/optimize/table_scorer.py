"""Several models' margins at many profiles, from their factor tables in one gather.

Robust mode scores every profile under the main model and B bootstrap boosters. Model
by model (:func:`~sleeprx.optimize.factor_tables.profile_margins`) that is B + 1
merges of the tables and a few dozen numpy calls each; here every table of every model
is laid end to end in one flat array, a profile's cell in table :math:`s` is

.. math::

    i_s(x) = o_s + \\sum_k w_{sk} x_k

(``offsets`` :math:`o`, C-order ``strides`` :math:`w`, 0 off the table's factors), so
one matrix product gives every table's index, one gather their values, and one
``reduceat`` each model's sum. A model's margin is its base margin plus its tables
summed in their order from 0.0, plus its pruned trees: the sum of the exact tables,
rounded differently from ``profile_margins`` only in the last bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

from sleeprx.learn.ensemble import PrunedTree
from sleeprx.optimize.problem import PersonProblem

__all__ = ["TableScorer", "table_scorer"]

#: Profiles scored per gather: the gathered block is profiles x tables of float64, so a
#: few thousand profiles of 21 boosters' tables stay a few tens of MB.
CHUNK = 2048


@dataclass(frozen=True)
class TableScorer:
    """The tables of several models as one flat array (see the module's docstring).

    ``starts[m]:starts[m + 1]`` are model ``m``'s tables; the first of each is a
    0.0 cell, so that a model with no table still has a sum.
    """

    values: np.ndarray  # every table's cells, C order, end to end
    offsets: np.ndarray  # tables: where each starts in ``values``
    strides: np.ndarray  # factors x tables, float64 for BLAS (small integers: exact)
    starts: np.ndarray  # models + 1
    base: np.ndarray  # models: the booster's base margin
    trees: tuple[tuple[PrunedTree, ...], ...]  # models: pruned trees beside the tables

    @property
    def n_models(self) -> int:
        return len(self.base)

    def margins(self, choices: np.ndarray, first: int = 0, stop: int | None = None) -> np.ndarray:
        """Profiles x models margins of models ``first`` to ``stop`` (default: all) at
        each profile of level indices (profiles x factors)."""
        stop = self.n_models if stop is None else stop
        lo, hi = int(self.starts[first]), int(self.starts[stop])
        strides, offsets = self.strides[:, lo:hi], self.offsets[lo:hi]
        cuts = self.starts[first:stop] - lo
        out = np.empty((len(choices), stop - first))
        with _blas().limit(limits=1, user_api="blas"):
            for at in range(0, len(choices), CHUNK):
                block = choices[at : at + CHUNK]
                index = (block.astype(float) @ strides).astype(np.intp) + offsets
                out[at : at + CHUNK] = np.add.reduceat(self.values[index], cuts, axis=1)
        out += self.base[first:stop]
        for m in range(first, stop):
            for tree in self.trees[m]:
                out[:, m - first] += tree.values_at(choices)
        return out

    def at_current(self) -> np.ndarray:
        """Each model's margin at the current answers (every level index 0), summed
        as :meth:`margins` sums it, so the status quo gains exactly 0."""
        out = np.add.reduceat(self.values[self.offsets], self.starts[:-1]) + self.base
        current = np.zeros((1, self.strides.shape[0]), dtype=int)
        for m, trees in enumerate(self.trees):
            for tree in trees:
                out[m] += tree.values_at(current)[0]
        return out


@cache
def _blas() -> ThreadpoolController:
    """The BLAS thread pools. The products here are small: on a shared machine, waking
    BLAS threads for them cost 20-40 times the product itself (measured)."""
    return ThreadpoolController()


def _strides(shape: tuple[int, ...]) -> list[int]:
    """C-order strides, in cells, of an array of ``shape``."""
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return out[::-1]


def table_scorer(problems: Sequence[PersonProblem]) -> TableScorer:
    """One person's problems under several models (the same factors) as one scorer,
    in the order of ``problems``."""
    n_factors = len(problems[0].factors)
    values: list[np.ndarray] = [np.zeros(1)]
    offsets: list[int] = []
    columns: list[tuple[tuple[int, ...], list[int]]] = []
    starts: list[int] = []
    at = 1
    for problem in problems:
        starts.append(len(offsets))
        offsets.append(0)  # the 0.0 cell
        columns.append(((), []))
        for table in problem.tables or ():
            values.append(np.ravel(table.values))
            offsets.append(at)
            columns.append((table.factors, _strides(table.values.shape)))
            at += table.values.size
    starts.append(len(offsets))
    strides = np.zeros((n_factors, len(offsets)))
    for s, (factors, steps) in enumerate(columns):
        strides[list(factors), s] = steps
    return TableScorer(
        np.concatenate(values),
        np.asarray(offsets, dtype=np.intp),
        strides,
        np.asarray(starts, dtype=np.intp),
        np.array([p.base_margin for p in problems]),
        tuple(tuple(p.trees or ()) for p in problems),
    )
