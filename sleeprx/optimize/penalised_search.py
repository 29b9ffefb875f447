"""The penalised program in exact mode by branch and bound over the levers.

The program: the largest gain less the penalty,

.. math::

    \\max_l \\; b + \\sum_G T_G(l_G) - m_0 - \\lambda \\sum_f c_f(l_f)
    \\quad \\text{s.t.} \\quad \\#\\{f : l_f > 0\\} \\le K,\\ \\sum_f i_f(l_f) \\le B,\\
    \\text{rows},

over the factor tables of :mod:`sleeprx.optimize.factor_tables`. The first incumbent
is the best profile with at most two changes, enumerated; the layered search of
:mod:`.bound_search` then drops a partial profile as soon as its table bound less the
penalty of its cost so far falls below the incumbent (costs are never negative, so no
completion could do better). The survivors are complete profiles, scored exactly;
the best of them and the incumbent is the optimum. Proven optimal, by exhaustion. A
person whose search outgrows :data:`.bound_search.MAX_STATES` partial profiles goes to
the MIP. Unlike the MIP, the search honours the profile filters (half adherence, the
trust region) exactly, on the survivors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeprx.optimize.bound_search import TOL, TooLarge, allowed, bound_plan, grow
from sleeprx.optimize.bruteforce import enumerate_choices, total
from sleeprx.optimize.enumeration import profiles, table_gain
from sleeprx.optimize.mip import MIP
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.states import Found, SolverStatus
from sleeprx.settings import PrescribeSettings

__all__ = ["PENALTY_BOUND", "PenaltyBound", "penalised_search"]

#: Profiles with at most this many changes are enumerated for the first incumbent.
INCUMBENT_CHANGES = 2


def _best(problem: PersonProblem, lam: float, levels: np.ndarray) -> tuple[int, float, float]:
    """The index, objective and gain of the best of ``levels`` (ties: fewest changes)."""
    gain = table_gain(problem)(levels)
    objective = gain - lam * total(problem, levels, "cost")
    top = np.flatnonzero(objective >= objective.max() - TOL)
    best = int(top[np.argmin((levels[top] > 0).sum(axis=1))])
    return best, float(objective[best]), float(gain[best])


def penalised_search(problem: PersonProblem, settings: PrescribeSettings) -> Found:
    """The optimum of the penalised program (module docstring); raises ``TooLarge``."""
    few = settings.model_copy(update={"max_changes": min(INCUMBENT_CHANGES, settings.max_changes)})
    near = enumerate_choices(problem, few)
    at, incumbent, gain = _best(problem, settings.lam, near)
    before = problem.logit_before

    def keep(bounds: np.ndarray, cost: np.ndarray) -> np.ndarray:
        return bounds[:, 0] - before - settings.lam * cost >= incumbent - TOL

    levels, _, _ = grow(problem, settings, bound_plan([problem]), keep)
    levels = levels[allowed(problem, levels)]
    chosen = near[at]
    if len(levels):
        index, objective, found = _best(problem, settings.lam, levels)
        if objective > incumbent + TOL:
            chosen, gain = levels[index], found
    return Found(SolverStatus.OPTIMAL, tuple(int(v) for v in chosen), gain, 0.0)


class PenaltyBound:
    """The penalised program in exact mode by branch and bound (module docstring)."""

    name = "penalty_bound"

    def applies(
        self, problem: PersonProblem, settings: PrescribeSettings, *, sweep: bool = False
    ) -> bool:
        """Under ``solver = "auto"``: exact mode without a goal, the gain in factor
        tables, more profiles than ``enumeration_limit``, and not a sweep (the MIP
        re-solves a sweep from its previous optimum)."""
        if settings.solver != "auto" or settings.mode != "exact" or settings.goal is not None:
            return False
        if sweep or problem.tables is None:
            return False
        return profiles(problem, settings) > settings.enumeration_limit

    def best(self, problem: PersonProblem, settings: PrescribeSettings) -> Found:
        try:
            return penalised_search(problem, settings)
        except TooLarge:
            return MIP.best(problem, settings)

    def prepare(self, problem: PersonProblem, widest: PrescribeSettings) -> _Prepared:
        return _Prepared(self, problem)


@dataclass(frozen=True)
class _Prepared:
    """Nothing to build once: each point is a fresh search."""

    route: PenaltyBound
    problem: PersonProblem

    def best(self, settings: PrescribeSettings) -> Found:
        return self.route.best(self.problem, settings)


#: The penalised branch-and-bound route, as the registry holds it.
PENALTY_BOUND = PenaltyBound()
