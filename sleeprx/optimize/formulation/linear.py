"""A small, solver-neutral mixed-integer linear program.

Formulations write their variables and constraints here once. ``solve`` passes the
arrays straight to HiGHS (fast: no modelling-layer translation per person), and
:meth:`LinearModel.to_pyomo` gives the same program as a Pyomo model, for readers,
for export to other solvers and for the tests that check both routes agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["LinearModel"]

INF = float("inf")


@dataclass
class LinearModel:
    """``sense`` c'x + offset subject to row_lb <= A x <= row_ub, lb <= x <= ub."""

    sense: Literal["max", "min"] = "max"
    names: list[str] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    offset: float = 0.0
    row_names: list[str] = field(default_factory=list)
    row_lb: list[float] = field(default_factory=list)
    row_ub: list[float] = field(default_factory=list)
    row_index: list[np.ndarray] = field(default_factory=list)
    row_value: list[np.ndarray] = field(default_factory=list)

    @property
    def n_vars(self) -> int:
        return len(self.names)

    @property
    def n_rows(self) -> int:
        return len(self.row_names)

    def add_var(self, name: str, lb: float = 0.0, ub: float = 1.0, *, integer: bool = False) -> int:
        self.names.append(name)
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(integer)
        self.cost.append(0.0)
        return len(self.names) - 1

    def add_row(self, name: str, index, value, lb: float = -INF, ub: float = INF) -> int:
        """Add ``lb <= sum(value[k] * x[index[k]]) <= ub``."""
        self.row_names.append(name)
        self.row_index.append(np.asarray(index, dtype=np.int32))
        self.row_value.append(np.asarray(value, dtype=float))
        self.row_lb.append(lb)
        self.row_ub.append(ub)
        return len(self.row_names) - 1

    def add_objective(self, index, value) -> None:
        for j, v in zip(index, value, strict=True):
            self.cost[j] += float(v)

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row starts, column indices and values of A."""
        lengths = [len(i) for i in self.row_index]
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        if not lengths:
            return starts, np.zeros(0, np.int32), np.zeros(0)
        return starts, np.concatenate(self.row_index), np.concatenate(self.row_value)

    def evaluate(self, x: np.ndarray) -> float:
        """The objective at ``x``."""
        return float(np.dot(self.cost, x) + self.offset)

    def violations(self, x: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Names of the rows and bounds that ``x`` breaks."""
        bad = [
            self.names[j]
            for j in range(self.n_vars)
            if x[j] < self.lb[j] - tol or x[j] > self.ub[j] + tol
        ]
        for r in range(self.n_rows):
            ax = float(np.dot(self.row_value[r], x[self.row_index[r]]))
            if ax < self.row_lb[r] - tol or ax > self.row_ub[r] + tol:
                bad.append(self.row_names[r])
        return bad

    def to_pyomo(self):
        """The same program as a :class:`pyomo.environ.ConcreteModel`."""
        import pyomo.environ as pyo

        m = pyo.ConcreteModel(name="sleeprx")
        m.J = pyo.RangeSet(0, self.n_vars - 1)

        def bounds(_, j):
            return (
                None if self.lb[j] == -INF else self.lb[j],
                None if self.ub[j] == INF else self.ub[j],
            )

        m.x = pyo.Var(
            m.J, domain=lambda _, j: pyo.Integers if self.integer[j] else pyo.Reals, bounds=bounds
        )
        m.constraints = pyo.ConstraintList()
        # An empty row (say, a goal no tree can move) must stay a constraint, not a
        # Python bool: give it a variable fixed at zero as its body.
        m.zero = pyo.Var(bounds=(0, 0))
        for r in range(self.n_rows):
            pairs = list(zip(self.row_index[r], self.row_value[r], strict=True))
            body = sum(float(v) * m.x[int(j)] for j, v in pairs) if pairs else m.zero
            lo = None if self.row_lb[r] == -INF else self.row_lb[r]
            hi = None if self.row_ub[r] == INF else self.row_ub[r]
            m.constraints.add(_constraint(pyo, body, lo, hi))
        expr = sum(c * m.x[j] for j, c in enumerate(self.cost) if c != 0) + self.offset
        m.objective = pyo.Objective(
            expr=expr, sense=pyo.maximize if self.sense == "max" else pyo.minimize
        )
        return m


def _constraint(pyo, body, lo: float | None, hi: float | None):
    if lo is not None and hi is not None:
        return body == lo if lo == hi else pyo.inequality(lo, body, hi)
    return body >= lo if lo is not None else body <= hi
