"""Rows that narrow a built program to the plans not yet listed: the N-best search.

A program's next-best plan is its optimum once every plan already listed is cut off
(a no-good cut, Balas and Jeroslow 1972) and the plans not worth acting on are
excluded by floors on the gain and the penalised objective. Both are linear in the
program's own variables, so the MIP proves each next plan optimal as it proves the
first.
"""

from __future__ import annotations

import numpy as np

from sleeprx.optimize.formulation.program import Program

__all__ = ["add_floors", "add_no_good"]

#: How far inside a strict floor a plan must be: the floors are strict (a plan exactly
#: at the minimum gain is not worth acting on), a MIP row is not.
STRICT = 1e-9


def add_no_good(program: Program, levels: tuple[int, ...], name: str) -> None:
    """Cut off the profile ``levels`` (one level index per factor) and nothing else.

    Exactly one ``z`` per factor is 1, so the profile's own ``z`` sum to the number
    of factors only at that profile; the row asks for one fewer.
    """
    index = np.array([z[i] for z, i in zip(program.choice, levels, strict=True)], dtype=np.int32)
    program.model.add_row(name, index, np.ones(len(index)), ub=float(len(index) - 1))


def add_floors(
    program: Program, *, least_gain: float, least_objective: float | None, lam: float
) -> None:
    """Keep only plans whose gain exceeds ``least_gain`` and, when ``least_objective``
    is given (a penalised program), whose gain less ``lam`` times the cost exceeds it.
    """
    gain = program.gain
    if np.isfinite(least_gain):
        program.model.add_row(
            "least_gain", gain.index, gain.value, lb=least_gain - gain.constant + STRICT
        )
    if least_objective is None or not np.isfinite(least_objective):
        return
    # one coefficient per variable: the surrogate's gain sits on the same z as the cost
    index = np.concatenate([gain.index, program.cost_index])
    value = np.concatenate([gain.value, -lam * program.cost_value])
    unique, where = np.unique(index, return_inverse=True)
    program.model.add_row(
        "least_objective",
        unique.astype(np.int32),
        np.bincount(where, weights=value),
        lb=least_objective - gain.constant + STRICT,
    )
