"""Profile filters: conditions on a whole after-profile that the program enforces exactly.

A filter maps level-index profiles (profiles x factors) of one person to a mask of the
profiles it accepts; :func:`~sleeprx.optimize.bruteforce.enumerate_choices` drops the
others, so enumeration (and every sweep built on it) optimises over the accepted
profiles only and is still exhaustive. The status quo is always accepted, as
everywhere in the program. The filters here re-score with the real model, not a
surrogate of it:

- :class:`HalfHolds` (``PrescribeSettings.require_half``, after PROBE, Pawelczyk et al.
  2023): the answer still holds if the person makes only half of each change
  (:func:`half_way`): under a goal the half-way margin still reaches it, else the
  half-way gain is positive;
- :class:`InRegion` (``PrescribeSettings.require_plausible``): the after-profile lies
  in the model's trust region (:mod:`sleeprx.learn.trust`).

Neither is written into the MIP: a program with a filter is answered by enumeration,
and the MIP route refuses it (:func:`refuse_filters`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.problem import PersonProblem, profile_features
from sleeprx.survey.description import ModifiableFactor
from sleeprx.utils.errors import SolverError

__all__ = ["HalfHolds", "InRegion", "half_way", "refuse_filters"]

_TOL = 1e-9


def half_way(factor: ModifiableFactor, current: float, values: np.ndarray | float) -> np.ndarray:
    """Each value moved only half-way from ``current``, rounded toward ``current`` onto
    the factor's grid or ladder (by position: steps of the grid, rungs of the ladder).

    A change of one step (or rung) rounds back to the current value. The current value
    itself need not be on the grid.
    """
    values = np.atleast_1d(np.asarray(values, dtype=float))
    grid = factor.grid
    rungs = factor.position(grid)
    start = float(factor.position(current))
    middle = (start + factor.position(values)) / 2
    out = np.full(len(values), float(current))
    for i, (mid, v) in enumerate(zip(middle, values, strict=True)):
        if v > current + _TOL:
            between = (rungs > start + _TOL) & (rungs <= mid + _TOL)
            if between.any():
                out[i] = grid[between].max()
        elif v < current - _TOL:
            between = (rungs < start - _TOL) & (rungs >= mid - _TOL)
            if between.any():
                out[i] = grid[between].min()
    return out


@dataclass(frozen=True)
class HalfHolds:
    """Accept a profile whose half-way profile still holds under the real model.

    ``half[j]`` is :func:`half_way` of factor j's levels; ``margin`` the real model's
    log-odds of encoded feature rows; ``need`` the margin a goal requires (None: no
    goal, the half-way margin must exceed the person's current one).
    """

    half: tuple[np.ndarray, ...]
    margin: Callable[[np.ndarray], np.ndarray]
    need: float | None
    name: str = "require_half"

    def __call__(self, problem: PersonProblem, choices: np.ndarray) -> np.ndarray:
        keep = ~(choices > 0).any(axis=1)
        if keep.all():
            return keep
        # many profiles share a half-way profile: score each distinct one once
        halves = np.column_stack([h[choices[:, j]] for j, h in enumerate(self.half)])
        distinct, back = np.unique(halves, axis=0, return_inverse=True)
        rows = np.repeat(problem.features[None, :], len(distinct), axis=0)
        rows[:, list(problem.factor_features)] = distinct
        margin = self.margin(rows)[back.ravel()]
        if self.need is not None:
            holds = margin >= self.need
        else:  # a half-way profile that is the status quo gains nothing, not rounding
            holds = margin > problem.logit_before + _TOL
        return keep | holds


@dataclass(frozen=True)
class InRegion:
    """Accept a profile inside the trust region: ``inside`` of its encoded feature rows
    (:meth:`sleeprx.learn.trust.TrustRegion.inside`)."""

    inside: Callable[[np.ndarray], np.ndarray]
    name: str = "require_plausible"

    def __call__(self, problem: PersonProblem, choices: np.ndarray) -> np.ndarray:
        keep = ~(choices > 0).any(axis=1)
        if keep.all():
            return keep
        return keep | self.inside(profile_features(problem, choices))


def refuse_filters(problem: PersonProblem, route: str, n_profiles: int) -> None:
    """Raise a :class:`SolverError` if ``problem`` has a filter, a derived lever or a
    lever group: ``route`` cannot hold them."""
    if problem.filters:
        names = " and ".join(f"settings.{f.name}" for f in problem.filters)
        raise SolverError(
            f"person {problem.person_id}: {names} is enforced by enumeration only (the "
            f"{route} form is not written) and this program has {n_profiles} profiles: "
            f"lower max_changes or raise enumeration_limit"
        )
    if problem.coupled:  # derived levers and lever groups join levers: not separable
        kinds = [
            k
            for k, on in (("derived levers", problem.derived), ("lever groups", problem.groups))
            if on
        ]
        raise SolverError(
            f"person {problem.person_id}: {' and '.join(kinds)} are solved by enumeration only "
            f"(the {route} form is not written) and this program has {n_profiles} profiles: "
            f"lower max_changes or raise enumeration_limit"
        )
