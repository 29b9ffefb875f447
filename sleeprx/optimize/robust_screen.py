"""Robust goal answers found at the least-cost profiles, without the refits' tables.

Under a goal the robust answer is the least-cost profile that the main model lets
through and enough refits hold (:mod:`sleeprx.optimize.robust`). For most people it is
among the first few dozen of the main model's passing profiles in order of cost: on the
10-lever example at K = 3 (20 refits, Q = 0.9), 73% of answers are in the first 32 and
97% in the first 160, of 2,500-6,000 profiles a person. Compiling every refit's factor
tables over all the profiles, most of robust mode's time, is then wasted work.

:func:`attach_robust` compiles the main model's tables only, and scores each person's
passing profiles in order of cost under the refits a block at a time, for a whole batch
of people at once: each block is one ``pred_leaf`` call per refit booster (XGBoost's own
traversal), its leaf values summed in float64 as the tables sum them. A person is
decided by the first block holding a profile, or when the passing profiles run out
(infeasible); a person still undecided after :data:`SCREEN_ROWS` profiles gets every
refit's tables, compiled together for all such people, and the table search of
:func:`~sleeprx.optimize.robust.robust_best`. Both give the same answer: the first
profile in the same order that enough refits hold.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sleeprx.learn.ensemble import TreeScorer, tree_scorer
from sleeprx.optimize.bruteforce import count_profiles
from sleeprx.optimize.factor_tables import compile_with_scorers
from sleeprx.optimize.problem import PersonProblem, profile_features
from sleeprx.optimize.robust import (
    NOTHING,
    RobustFound,
    RobustProblem,
    attach_bootstraps,
    goal_candidates,
    least_count,
)
from sleeprx.optimize.table_scorer import TableScorer
from sleeprx.settings import PrescribeSettings

__all__ = ["SCREEN_ROWS", "attach_robust"]

#: Profiles a person's refits score by their trees before their tables are compiled
#: instead: scoring a profile under 20 refit boosters costs about what compiling their
#: tables costs for 2,000-4,000 profiles (measured on the 10-lever example).
SCREEN_ROWS = 2048

#: The first block of profiles a person's refits score, and its growth from block to
#: block: small blocks, since a profile scored costs 20 boosters' full traversal.
SCREEN_FIRST, SCREEN_GROWTH = 16, 2


def attach_robust(
    problems: Sequence[PersonProblem],
    boosters: Sequence[Any],
    settings: PrescribeSettings,
    *,
    max_cells: int = 4096,
) -> list[RobustProblem]:
    """Each person's robust problem under ``settings`` (see the module's docstring).

    ``boosters`` are the main model's first, then its bootstraps'. Without a goal, or
    for a person the screen leaves undecided, this is
    :func:`~sleeprx.optimize.robust.attach_bootstraps`; otherwise the problem carries
    its answer for ``settings`` and the ensembles to compile its tables on demand.
    """
    if settings.goal is None or len(boosters) < 2:
        return attach_bootstraps(problems, boosters, max_cells=max_cells)
    scorers = [tree_scorer(b) for b in boosters]
    ensembles = tuple(s.ensemble for s in scorers)
    compiled_mains = compile_with_scorers(problems, ensembles[:1], max_cells=max_cells)
    mains = [own[0] for own, _ in compiled_mains]
    main_scorers = [scorer for _, scorer in compiled_mains]
    free = [replace(m, goal_margin=None) for m in mains]  # refits: their own scale
    before, found = _screen(mains, main_scorers, scorers[1:], settings)
    undecided = [i for i, answer in enumerate(found) if answer is None]
    compiled = iter(
        attach_bootstraps([problems[i] for i in undecided], boosters, max_cells=max_cells)
        if undecided
        else []
    )
    out = []
    for i, (main, plain) in enumerate(zip(mains, free, strict=True)):
        answer = found[i]
        if answer is None:
            out.append(next(compiled))
            continue
        refits = tuple(
            replace(plain, tables=None, trees=None, base_margin=e.base_margin, logit_before=v)
            for e, v in zip(ensembles[1:], before[i].tolist(), strict=True)
        )
        screened = None if answer is _TOO_MANY else (settings, answer)
        out.append(RobustProblem(main, refits, None, ensembles, screened))
    return out


#: A person with more profiles than ``enumeration_limit``: left for ``robust_best`` to
#: refuse, without compiling anything.
_TOO_MANY = RobustFound("too many", None, np.nan, np.nan, 0, np.nan)


def _screen(
    mains: Sequence[PersonProblem],
    own: Sequence[TableScorer],
    refits: Sequence[TreeScorer],
    settings: PrescribeSettings,
) -> tuple[np.ndarray, list[RobustFound | None]]:
    """The refits' margins at each person's current answers (people x refits), and each
    person's answer, or None where the first :data:`SCREEN_ROWS` profiles do not
    decide it. ``own[i]`` scores person ``i``'s profiles under the main model."""
    now = np.vstack([m.features for m in mains])
    before = np.column_stack([s.margin(now) for s in refits])
    least = least_count(settings.robust, len(refits))
    found: list[RobustFound | None] = [None] * len(mains)
    candidates: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, main in enumerate(mains):
        sizes = tuple(len(f.levels) for f in main.factors)
        if count_profiles(sizes, settings.max_changes) > settings.enumeration_limit:
            found[i] = _TOO_MANY
        elif main.need(settings.goal_logit) == np.inf:
            found[i] = NOTHING
        else:
            candidates[i] = goal_candidates(main, own[i], settings)
    at = dict.fromkeys(candidates, 0)
    live, size = list(candidates), SCREEN_FIRST
    while live:
        blocks = [candidates[i][0][at[i] : at[i] + size] for i in live]
        owner = np.repeat(np.arange(len(live)), [len(b) for b in blocks])
        rows = np.vstack([profile_features(mains[i], b) for i, b in zip(live, blocks, strict=True)])
        support = _support(refits, rows, before[live][owner], settings.goal_logit, least)
        still = []
        for n, (i, block) in enumerate(zip(live, blocks, strict=True)):
            held = np.flatnonzero(support[owner == n] >= least)
            choices, gains = candidates[i]
            if len(held):
                j = at[i] + int(held[0])
                levels = tuple(int(v) for v in choices[j])
                count = int(support[owner == n][held[0]])
                found[i] = RobustFound("enumerated", levels, float(gains[j]), 0.0, count, np.nan)
                continue
            at[i] += len(block)
            if at[i] >= len(choices):
                found[i] = NOTHING
            elif at[i] < SCREEN_ROWS:
                still.append(i)
        live, size = still, size * SCREEN_GROWTH
    return before, found


def _support(
    refits: Sequence[TreeScorer], rows: np.ndarray, before: np.ndarray, goal: float, least: int
) -> np.ndarray:
    """How many refits reach the goal at each row, exactly for every row that enough
    refits could still hold (a row more refits reject than ``least`` allows is left
    uncounted, below ``least``).

    Refit by refit, over the rows still alive: a refit's float32 ``predict`` decides
    a row unless it is within that refit's rounding bound of the goal, and those few
    rows are summed in float64 from the refit's leaves (``TreeScorer.margin``, the
    tables' sum). The comparison is the tables': ``gain >= goal - before``.
    """
    import xgboost as xgb

    support = np.zeros(len(rows), dtype=int)
    misses = np.zeros(len(rows), dtype=int)
    alive = np.arange(len(rows))
    for b, scorer in enumerate(refits):
        if not len(alive):
            break
        matrix = xgb.DMatrix(rows[alive], nthread=1)
        rough = scorer.booster.predict(matrix, output_margin=True, validate_features=False)
        gain, need = rough.astype(float) - before[alive, b], goal - before[alive, b]
        holds = gain >= need
        near = np.flatnonzero(np.abs(gain - need) <= _rounding(scorer))
        if len(near):
            exact = scorer.margin(rows[alive[near]]) - before[alive[near], b]
            holds[near] = exact >= need[near]
        support[alive] += holds
        misses[alive] += ~holds
        alive = alive[misses[alive] <= len(refits) - least]
    return support


def _rounding(scorer: TreeScorer) -> float:
    """A bound on how far a float32 ``predict`` margin of ``scorer``'s booster is from
    its float64 sum of leaves: each of the n + 1 float32 additions rounds by at most
    2^-24 of a partial sum no larger than the base margin plus every tree's largest
    leaf; doubled for safety."""
    bound = _BOUNDS.get(scorer.booster)
    if bound is None:
        ensemble = scorer.ensemble
        largest = sum(float(np.abs(t.threshold[t.left == -1]).max()) for t in ensemble.trees)
        n = len(ensemble.trees) + 1
        bound = 2 * n * 2.0**-24 * (largest + abs(ensemble.base_margin))
        _BOUNDS[scorer.booster] = bound
    return bound


_BOUNDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
