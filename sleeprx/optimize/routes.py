"""Routes to one person's optimum, and the one rule that chooses among them.

Every route solves the same program (:func:`~sleeprx.optimize.formulation.build_program`)
exactly, and implements :class:`Route`. :data:`ROUTES` lists them in the order they are
tried; the first whose ``applies`` holds answers, for :func:`find_best` and
:class:`Sweep` alike. With ``P`` the number of profiles that change at most K levers
(:func:`~sleeprx.optimize.bruteforce.count_profiles`) and ``settings.solver == "auto"``:

1. ``dynamic_programming`` (:mod:`.separable`): a separable program (surrogate mode, no
   goal) with ``P > enumeration_limit``; in a sweep, already with
   ``P > min(enumeration_limit, 2000)``, since every point of a sweep re-scans all the
   enumerated profiles while one frontier per penalty weight answers every point
   (measured on the 10-lever example; :data:`.separable.SWEEP_FRONTIER_ABOVE`).
2. ``enumeration`` (:mod:`.enumeration`): ``P <= enumeration_limit`` (20,000 by
   default) and a gain numpy can score (the surrogate, or exact mode's tables or
   trees); below that size scoring every profile beats building and solving a MIP.
3. ``cost_bound`` (:mod:`.costbound`): exact mode with a goal, the gain in factor
   tables (pruned trees beside them of at most :data:`.costbound.TREE_CELLS` cells),
   and ``P > enumeration_limit``. On the 10-lever example at K = 10 (goal p >= 0.5,
   OCEAN's costs; 56 people) its median per person was 22-27 ms against the MIP's
   900 ms, the same optimal cost for all 56, on a busy machine. Below the
   enumeration limit enumeration stays first: K = 2 and 3 do not move.
4. ``penalty_bound`` (:mod:`.penalised_search`): exact mode without a goal, the gain
   in factor tables, ``P > enumeration_limit``, and not a sweep. On the 10-lever
   example at K = 10 (lambda = 0.1; 31 of 40 random people above the limit) its median
   per person was 23-25 ms against the MIP's 344-425 ms, the same objective for all
   31, on a busy machine (load average 13-16). At K = 2 and 3 no person there is above
   the limit, so nothing moves.
5. ``mip`` (:mod:`.mip`): everything else, by HiGHS through ``settings.backend``.

A program with derived levers or lever groups (``PersonProblem.coupled``) is not
separable by lever: the frontier and the cost bound do not apply, and the MIP refuses
it in one line, so enumeration answers it up to ``enumeration_limit``.

``solver = "enumeration"`` sends every program whose gain numpy can score to
enumeration, whatever its size, and ``solver = "mip"`` sends every program to the MIP.
To add a route, write a class with the three members of :class:`Route` and call
:func:`register_route`: nothing here changes.
"""

from __future__ import annotations

from typing import Protocol

from sleeprx.optimize.costbound import COST_BOUND
from sleeprx.optimize.enumeration import ENUMERATION, table_gain
from sleeprx.optimize.mip import MIP
from sleeprx.optimize.penalised_search import PENALTY_BOUND
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.separable import FRONTIER
from sleeprx.optimize.states import Found, SolverStatus
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ConfigError

__all__ = [
    "ROUTES",
    "Found",
    "Prepared",
    "Route",
    "Sweep",
    "choose_route",
    "find_best",
    "register_route",
    "table_gain",
]


class Prepared(Protocol):
    """One person's program, prepared by a route to be answered at many points."""

    def best(self, settings: PrescribeSettings) -> Found:
        """The optimum at one point (same mode and problem as prepared)."""
        ...


class Route(Protocol):
    """One way to a person's exact optimum."""

    name: str

    def applies(
        self, problem: PersonProblem, settings: PrescribeSettings, *, sweep: bool = False
    ) -> bool:
        """Whether this route answers the program; ``sweep``: it will be re-solved at
        many points, which shifts which route is fastest."""
        ...

    def best(self, problem: PersonProblem, settings: PrescribeSettings) -> Found:
        """The optimum of one program."""
        ...

    def prepare(self, problem: PersonProblem, widest: PrescribeSettings) -> Prepared:
        """The program built once for a sweep whose limits are at most ``widest``'s."""
        ...


#: The routes in the order they are tried; the last one takes every program.
ROUTES: list[Route] = [FRONTIER, ENUMERATION, COST_BOUND, PENALTY_BOUND, MIP]


def register_route(route: Route, *, before: str | None = None) -> None:
    """Add ``route`` to :data:`ROUTES`, ahead of the route named ``before`` (default:
    ahead of the last one, which takes every program)."""
    names = [r.name for r in ROUTES]
    if route.name in names:
        raise ConfigError(f"route {route.name!r} is registered already")
    if before is not None and before not in names:
        raise ConfigError(f"route {before!r}: no such route; known: {', '.join(names)}")
    ROUTES.insert(names.index(before) if before is not None else len(ROUTES) - 1, route)


def choose_route(
    problem: PersonProblem, settings: PrescribeSettings, *, sweep: bool = False
) -> Route:
    """The first route of :data:`ROUTES` that applies (see the module's rule)."""
    for route in ROUTES:
        if route.applies(problem, settings, sweep=sweep):
            return route
    raise ConfigError(f"no route applies to person {problem.person_id!r}")  # pragma: no cover


def find_best(problem: PersonProblem, settings: PrescribeSettings) -> Found:
    """The person's optimum by the route :func:`choose_route` picks."""
    if settings.goal is not None and problem.need(settings.goal_logit) == float("inf"):
        return Found.nothing(SolverStatus.INFEASIBLE)  # no margin reaches the goal
    return choose_route(problem, settings).best(problem, settings)


class Sweep:
    """One person's program built once for a sweep, then re-solved at every point.

    A sweep changes only the limits (K, the intensity budget) and the penalty weight;
    the route :func:`choose_route` picks for a sweep prepares the program once
    (:meth:`Route.prepare`). ``widest`` must hold the largest K and the largest budget
    (None if no point has one); the goal must be None.
    """

    def __init__(self, problem: PersonProblem, widest: PrescribeSettings) -> None:
        if widest.goal is not None:
            raise ConfigError("a sweep re-solves the penalised program; it takes no goal")
        self.problem = problem
        self.route = choose_route(problem, widest, sweep=True)
        self._has_budget = widest.budget is not None
        self._prepared = self.route.prepare(problem, widest)

    def best(self, settings: PrescribeSettings) -> Found:
        """The optimum at one point of the sweep (same mode and problem as built)."""
        if settings.budget is not None and not self._has_budget:
            raise ConfigError("budget: this sweep was built without a budget row")
        return self._prepared.best(settings)
