"""Robust exact prescriptions: optimal for the main model and held by most refits.

A least-cost answer for one fitted model stops just past the goal, where a refit of
the same model on a resample of the survey often disagrees. With the model's B
bootstrap boosters (``ModelSettings.bootstrap``), every profile the program allows is
scored under all B + 1 models at once, a matrix ``M`` of profiles x models of margins
from each booster's own factor tables (compiled together by
:func:`~sleeprx.optimize.factor_tables.compile_with_scorers` and read in one gather by
a :class:`~sleeprx.optimize.table_scorer.TableScorer`), and

- **under a goal** the answer is the least-cost profile :math:`x` with

  .. math::

      m_0(x) \\ge t_0, \\qquad \\#\\{b \\ge 1 : m_b(x) \\ge \\operatorname{logit}(p)\\}
      \\ge \\lceil Q B \\rceil,

  each model on its own probability scale: :math:`t_0` is the main model's threshold
  (``logit(p)``, or its calibration map's inverse at ``p`` when the model is
  calibrated), while a bootstrap booster is never calibrated and reaches the goal when
  its raw probability ``sigmoid(m_b)`` does. For a calibrated main model this asks
  the refits about their raw probability, which the calibration of the main model
  moves: the robust answer guards against the refits' disagreement in ranking people
  and profiles, not against the calibration map's own error;

- **without a goal** it maximises a robust statistic :math:`s` of the gains
  :math:`g_m(x) = m_m(x) - m_m(x_0)` over the B + 1 models minus the penalty,

  .. math::

      \\max_x \\; s(g_0(x), \\dots, g_B(x)) - \\lambda c(x)
      \\quad \\text{s.t.} \\quad \\#\\{m : g_m(x) > 0\\} \\ge \\lceil Q (B + 1) \\rceil
      \\text{ or } x = x_0,

  where :math:`s` is the mean or the lower quantile, the
  :math:`\\lceil Q (B + 1) \\rceil`-th largest gain (``robust_statistic``). The status
  quo stays feasible, as in every program here.

Both are exhaustive over the allowed profiles (K, the budget, the linear rows, the
profile filters), so proven optimal.

A robust answer never lowers the main model's probability: under a goal its main
gain is at least 0 (up to rounding, :data:`REAL_GAIN`), and without a goal a change
must gain in the main model (it is one of the models that gain). Without this rule a
person the main model already puts past the goal could be told to make a change it
scores lower, only because the refits like it (measured on the 10-lever example: 3 of
213 robust answers), and the table's ``gain`` would be negative.

Under a goal most people's answer is among their first few dozen passing profiles in
order of cost, so :mod:`sleeprx.optimize.robust_screen` usually finds it from the
refits' own trees at those profiles, without compiling the refits' tables: such a
problem carries its answer (``screened``) for the settings it was found under.

A program with more profiles than ``enumeration_limit`` is refused here:
:mod:`sleeprx.optimize.robust_search` solves it by a bound search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sleeprx.learn.ensemble import Ensemble, tree_scorer
from sleeprx.optimize.bruteforce import count_profiles, enumerate_choices, total
from sleeprx.optimize.factor_tables import compile_with_scorers
from sleeprx.optimize.problem import PersonProblem
from sleeprx.optimize.table_scorer import TableScorer, table_scorer
from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ConfigError, SolverError

__all__ = [
    "RobustFound",
    "RobustProblem",
    "attach_bootstraps",
    "goal_candidates",
    "least_count",
    "model_margins",
    "penalised_best",
    "robust_best",
    "robust_statistic",
]

#: Profiles of least cost whose refits are scored first under a goal; each further
#: block is four times larger. Most people's answer is among the first few.
FIRST_BLOCK = 32

#: The least gain (log-odds) that counts as a model gaining at all. The tables sum leaf
#: values in float64, the booster predicts in float32: a gain of 1e-8 in the tables is
#: invisible to the booster's own ``predict``, and worth nothing to a person.
REAL_GAIN = 1e-6


@dataclass(frozen=True)
class RobustFound:
    """The robust optimum, with the fields of the exact routes' answer.

    ``gain`` is the main model's delta-logit; ``support`` how many bootstrap boosters
    hold the answer (reach the goal, or gain); ``statistic`` the robust gain maximised
    (NaN under a goal).
    """

    status: str  # enumerated | infeasible
    levels: tuple[int, ...] | None
    gain: float
    gap: float
    support: int
    statistic: float


@dataclass(frozen=True)
class RobustProblem:
    """One person's problem under the main model and under each bootstrap booster.

    ``scorer`` holds all their tables as one :class:`TableScorer`; when None (a problem
    built by hand) :func:`robust_best` builds it from the problems' tables. A problem
    whose goal answer was found without the refits' tables (``screened``: the settings
    and the answer) has bootstrap problems without tables, and the ``ensembles`` (main
    first) to compile them if other settings ask.
    """

    main: PersonProblem
    bootstraps: tuple[PersonProblem, ...]
    scorer: TableScorer | None = None
    ensembles: tuple[Ensemble, ...] = ()
    screened: tuple[PrescribeSettings, RobustFound] | None = None

    def table_scorer(self) -> TableScorer:
        """The scorer of the main model (column 0) and the bootstraps, in order."""
        if self.scorer is not None:
            return self.scorer
        if self.ensembles:  # the refits' tables were not compiled: compile them now
            return self.compiled().table_scorer()
        return table_scorer((self.main, *self.bootstraps))

    def compiled(self) -> RobustProblem:
        """This problem with every model's tables compiled (from ``ensembles``)."""
        if self.scorer is not None or not self.ensembles:
            return self
        main = replace(self.main, tables=None, trees=None)
        [(own, scorer)] = compile_with_scorers([main], self.ensembles)
        return RobustProblem(own[0], own[1:], scorer)


#: The answer when no allowed profile is robust enough.
NOTHING = RobustFound("infeasible", None, math.nan, math.nan, 0, math.nan)


def least_count(share: float, models: int) -> int:
    """``ceil(share * models)``, read as the decimal the user wrote (0.7 * 10 is 7)."""
    return math.ceil(round(share * models, 9))


def attach_bootstraps(
    problems: Sequence[PersonProblem], boosters: Sequence[Any], *, max_cells: int = 4096
) -> list[RobustProblem]:
    """Each person's problem compiled under the main booster and every bootstrap one.

    ``boosters`` are :class:`xgboost.Booster` objects, the main model's first, then its
    bootstraps (``[model.booster, *(b.booster for b in model.bootstraps)]``).
    ``problems`` are plain problems (as :func:`build_problem` makes them); any tables
    they hold are replaced. The main problem keeps its goal threshold.
    """
    if len(boosters) < 2:
        raise ConfigError(
            "settings.robust needs a model trained with ModelSettings.bootstrap >= 1; "
            "this model has no bootstrap boosters"
        )
    if any(p.coupled for p in problems):  # its tables hold one lever per feature
        raise ConfigError(
            "settings.robust: robust prescriptions do not support derived_levers or "
            "lever_groups yet; prescribe in exact mode without robust"
        )
    ensembles = [tree_scorer(b).ensemble for b in boosters]
    compiled = compile_with_scorers(problems, ensembles, max_cells=max_cells)
    return [RobustProblem(own[0], own[1:], scorer) for own, scorer in compiled]


def model_margins(problem: RobustProblem, choices: np.ndarray) -> np.ndarray:
    """Profiles x (1 + B) margins: the main model's first, then each bootstrap's."""
    return problem.table_scorer().margins(choices)


def robust_best(problem: RobustProblem, settings: PrescribeSettings) -> RobustFound:
    """The robust optimum of one person's program (see the module's docstring).

    ``settings.robust`` is Q; ties fall to the profile with the fewest changes, as in
    :func:`~sleeprx.optimize.bruteforce.brute_force`.
    """
    share = settings.robust
    if share is None:
        raise ConfigError("robust_best needs settings.robust (a share in (0, 1])")
    main = problem.main
    sizes = tuple(len(f.levels) for f in main.factors)
    n_profiles = count_profiles(sizes, settings.max_changes)
    if n_profiles > settings.enumeration_limit:
        raise SolverError(
            f"person {main.person_id}: the robust program has {n_profiles} profiles, more "
            f"than settings.enumeration_limit {settings.enumeration_limit}; robust mode "
            f"enumerates up to that many (robust_search takes larger programs): lower "
            f"max_changes or raise enumeration_limit"
        )
    if problem.screened is not None:
        asked, answer = problem.screened
        if asked == settings:
            return answer
        problem = problem.compiled()
    if settings.goal is not None and main.need(settings.goal_logit) == np.inf:
        return NOTHING
    scorer = problem.table_scorer()
    if settings.goal is None:
        choices = enumerate_choices(main, settings)
        before = np.array([p.logit_before for p in (main, *problem.bootstraps)])
        gains = scorer.margins(choices) - before
        return penalised_best(choices, gains, total(main, choices, "cost"), share, settings)
    # the main model's test first: the refits score only the profiles it lets through
    choices, main_gain = goal_candidates(main, scorer, settings)
    found = _cheapest_held(problem, scorer, choices, settings)
    if found is None:
        return NOTHING
    best, support = found
    levels = tuple(int(v) for v in choices[best])
    return RobustFound("enumerated", levels, float(main_gain[best]), 0.0, support, math.nan)


def goal_candidates(
    main: PersonProblem, scorer: TableScorer, settings: PrescribeSettings
) -> tuple[np.ndarray, np.ndarray]:
    """The allowed profiles that reach the goal under the main model without lowering
    its probability (see the module's docstring), in order of cost (stable: the first
    of equal costs first), and their main gains. ``scorer``'s column 0 is the main
    model's."""
    choices = enumerate_choices(main, settings)
    main_gain = scorer.margins(choices, 0, 1)[:, 0] - main.logit_before
    passed = main_gain >= max(main.need(settings.goal_logit), -REAL_GAIN)
    choices, main_gain = choices[passed], main_gain[passed]
    order = np.argsort(total(main, choices, "cost"), kind="stable")
    return choices[order], main_gain[order]


def _cheapest_held(
    problem: RobustProblem, scorer: TableScorer, choices: np.ndarray, settings: PrescribeSettings
) -> tuple[int, int] | None:
    """The first of ``choices`` (in order of cost) that enough bootstraps hold, and
    their number; None if no profile is held.

    Profiles are scored in order, a block at a time, and the scan stops at the first
    block that holds one: the answer of an argmin over every profile, without scoring
    the refits on the dearer profiles.
    """
    refits = problem.bootstraps
    before = np.array([p.logit_before for p in refits])
    need = np.array([p.need(settings.goal_logit) for p in refits])
    least = least_count(settings.robust, len(refits))
    at, size = 0, FIRST_BLOCK
    while at < len(choices):
        gain = scorer.margins(choices[at : at + size], 1) - before
        support = (gain >= need).sum(axis=1)
        held = np.flatnonzero(support >= least)
        if len(held):
            return at + int(held[0]), int(support[held[0]])
        at, size = at + size, size * 4
    return None


def penalised_best(
    choices: np.ndarray,
    gains: np.ndarray,
    cost: np.ndarray,
    share: float,
    settings: PrescribeSettings,
) -> RobustFound:
    """Maximise the robust gain statistic less the penalty, among profiles that gain in
    at least ``ceil(share * (B + 1))`` models (and the status quo)."""
    need = least_count(share, gains.shape[1])
    statistic = robust_statistic(gains, need, settings.robust_statistic)
    positive = (gains > REAL_GAIN).sum(axis=1)
    # a change must gain in the main model too: it never lowers its probability
    ok = ((positive >= need) & (gains[:, 0] > REAL_GAIN)) | ~(choices > 0).any(axis=1)
    objective = np.where(ok, statistic - settings.lam * cost, -np.inf)
    best = int(np.argmax(objective))
    support = int((gains[best, 1:] > REAL_GAIN).sum())
    return RobustFound(
        "enumerated",
        tuple(int(v) for v in choices[best]),
        float(gains[best, 0]),
        0.0,
        support,
        float(statistic[best]),
    )


def robust_statistic(gains: np.ndarray, need: int, kind: str) -> np.ndarray:
    """Each profile's robust gain (profiles x models): the mean, or the ``need``-th
    largest, which at least ``need`` models reach. Both grow with every model's gain."""
    if kind == "mean":
        return gains.mean(axis=1)
    return -np.partition(-gains, need - 1, axis=1)[:, need - 1]
