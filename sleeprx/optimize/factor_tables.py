"""Compile a person's tree ensemble into tables over the levels of the factors.

Once the immutable features are fixed, each tree depends on a few modifiable factors
only (on the shipped data at most two). Trees that depend on the same set of factors
add up to one table over the product of those factors' levels, and the margin is

.. math::

    m(x') = b + \\sum_{G} T_G(l_G),

a sum of tables indexed by the chosen levels (the empty set of factors holds the
trees that are constant for this person). This is an exact reformulation, not an
approximation. The tables are filled by the booster's own traversal rule (strict
float32 ``x < threshold``, missing values to the default side), with the other
factors at their current values, on which the group's trees do not depend. Groups
with more than ``max_cells`` cells stay as pruned trees for the leaf formulation.

Compiling is batched: many people's trees are walked in one numpy pass, and levels
that fall on the same side of every split of a group's trees are walked once. On the
10-lever example (default model) this walks 860 (class cell, tree) pairs a person
instead of 4,600.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from sleeprx.learn.ensemble import Ensemble, TreeScorer, dependency_masks, prune_for_person
from sleeprx.optimize.problem import FactorTable, PersonProblem

__all__ = [
    "attach_ensemble",
    "attach_ensembles",
    "compile_tables",
    "compile_tables_for_models",
    "merge_tables",
    "profile_margins",
]

#: (person, tree) pairs compiled in one walk: 128 people of a 200-tree booster. Their
#: arrays, and the (cell, tree) pairs of their tables, stay a few tens of MB.
ENTRIES = 25_600


def attach_ensemble(
    problem: PersonProblem,
    scorer: TreeScorer,
    *,
    encoding: Literal["tables", "leaves"] = "tables",
    max_cells: int = 4096,
) -> PersonProblem:
    """``problem`` ready for exact mode (see :func:`attach_ensembles`)."""
    return attach_ensembles([problem], scorer, encoding=encoding, max_cells=max_cells)[0]


def attach_ensembles(
    problems: Sequence[PersonProblem],
    scorer: TreeScorer,
    *,
    encoding: Literal["tables", "leaves"] = "tables",
    max_cells: int = 4096,
) -> list[PersonProblem]:
    """``problems`` ready for exact mode: the one place that adds people's trees.

    ``"tables"`` compiles the trees into factor tables (pruned trees for groups over
    ``max_cells``), many people at a time; ``"leaves"`` keeps every tree pruned, for
    the leaf formulation.
    """
    if encoding == "tables":
        return compile_tables(problems, scorer.ensemble, max_cells=max_cells)
    ensemble = scorer.ensemble
    out = []
    for problem in problems:
        levels = tuple(f.levels for f in problem.factors)
        trees = prune_for_person(ensemble, problem.features, problem.factor_features, levels)
        out.append(replace(problem, trees=tuple(trees), base_margin=ensemble.base_margin))
    return out


def compile_tables(
    problems: Sequence[PersonProblem], ensemble: Ensemble, *, max_cells: int = 4096
) -> list[PersonProblem]:
    """``problems`` with their trees as factor tables, and pruned trees for the rest.

    People are compiled together, as many as :data:`ENTRIES` (person, tree) pairs
    allow, in one vectorised walk, since per person the numpy calls, not the
    arithmetic, would dominate. Each table is filled by walking only its own trees
    over its cells (:meth:`Ensemble.walk_pairs`, XGBoost's rule; tested against the
    booster's ``pred_leaf``), and summed tree by tree in order, so a person's tables do
    not depend on who shares the batch.
    """
    out: list[PersonProblem] = []
    batch = max(1, ENTRIES // len(ensemble.trees))
    for at in range(0, len(problems), batch):
        chunk = problems[at : at + batch]
        out += _compile_batch(chunk, _People(chunk), ensemble, max_cells)
    return out


def compile_tables_for_models(
    problems: Sequence[PersonProblem], ensembles: Sequence[Ensemble], *, max_cells: int = 4096
) -> list[tuple[PersonProblem, ...]]:
    """Each person's problem compiled under every ensemble: one tuple per person, one
    problem per ensemble, in the order of ``ensembles``.

    The first ensemble is the main model's: its problems are those of
    :func:`compile_tables`. For the others (bootstrap boosters) ``logit_before`` is
    that booster's own margin at the person's current answers and ``goal_margin`` is
    None, so a goal is read on the booster's own, uncalibrated, probability scale. The
    per-person work that does not depend on the trees (levels, their float32 form,
    padding) is done once per batch for all ensembles.
    """
    out: list[tuple[PersonProblem, ...]] = []
    batch = max(1, ENTRIES // max(len(e.trees) for e in ensembles))
    for at in range(0, len(problems), batch):
        chunk = problems[at : at + batch]
        people = _People(chunk)
        per_model = [_compile_batch(chunk, people, e, max_cells) for e in ensembles]
        for i, own in enumerate(per_model[1:], start=1):
            per_model[i] = [_own_scale(p) for p in own]
        out += zip(*per_model, strict=True)
    return out


def _own_scale(problem: PersonProblem) -> PersonProblem:
    current = np.zeros((1, len(problem.factors)), dtype=int)
    margin = float(profile_margins(problem, current)[0])
    return replace(problem, logit_before=margin, goal_margin=None)


def merge_tables(tables) -> tuple[float, list[tuple[tuple[int, ...], np.ndarray]]]:
    """The tables added into as few as possible: a table over factors that another
    table covers is broadcast into it, so a profile costs one lookup per merged table.
    Returns the constant (tables over no factor) and the merged ``(factors, values)``.
    """
    constant = 0.0
    merged: list[tuple[tuple[int, ...], np.ndarray]] = []
    covers: list[int] = []  # each merged table's factors as a bitmask
    for table in sorted(tables, key=lambda t: -len(t.factors)):
        if not table.factors:
            constant += float(table.values)
            continue
        own = sum(1 << k for k in table.factors)
        for (factors, values), cover in zip(merged, covers, strict=True):
            if own & ~cover == 0:  # both ascending: the axes keep their order
                shape = [
                    n if own >> k & 1 else 1 for k, n in zip(factors, values.shape, strict=True)
                ]
                values += table.values.reshape(shape)
                break
        else:
            merged.append((table.factors, table.values.copy()))
            covers.append(own)
    return constant, merged


def profile_margins(problem: PersonProblem, choices: np.ndarray) -> np.ndarray:
    """The booster's margin at each profile of level indices (profiles x factors), from
    the problem's factor tables and any pruned trees beside them (exact mode)."""
    constant, tables = merge_tables(problem.tables or ())
    total = np.full(len(choices), problem.base_margin + constant)
    for factors, values in tables:
        total += values[tuple(choices[:, k] for k in factors)]
    for tree in problem.trees or ():
        total += tree.values_at(choices)
    return total


class _People:
    """A batch of people's factors as padded arrays, for the vectorised walks."""

    def __init__(self, problems: Sequence[PersonProblem]) -> None:
        n_people, n_features = len(problems), len(problems[0].features)
        width = max(1, max(len(p.factors) for p in problems))
        depth = max(1, max((len(f.levels) for p in problems for f in p.factors), default=1))
        self.x32 = np.vstack([p.features for p in problems]).astype(np.float32).astype(float)
        self.factor_of = np.full((n_people, n_features), -1)
        self.feature_of = np.full((n_people, width), -1)
        self.levels32 = np.full((n_people, width, depth), np.nan)
        self.sizes = np.ones((n_people, width), dtype=int)
        for i, p in enumerate(problems):
            self.factor_of[i, list(p.factor_features)] = np.arange(len(p.factor_features))
            self.feature_of[i, : len(p.factor_features)] = p.factor_features
            for k, f in enumerate(p.factors):
                self.levels32[i, k, : len(f.levels)] = np.float32(f.levels)
                self.sizes[i, k] = len(f.levels)
        valid = ~np.isnan(self.levels32)
        self.low = np.where(valid, self.levels32, np.inf).min(axis=2)
        self.high = np.where(valid, self.levels32, -np.inf).max(axis=2)
        self.valid = valid

    def columns(self, ensemble: Ensemble) -> np.ndarray:
        """Each level's column in ``ensemble``'s cut counts (0 where no tree splits on it)."""
        cuts, _ = ensemble.cut_counts
        column = np.zeros(self.levels32.shape, dtype=int)
        offset = 0
        for j, thresholds in cuts.items():
            here = self.feature_of == j
            found = np.searchsorted(thresholds, self.levels32[here], side="right")
            column[here] = offset + found
            offset += len(thresholds) + 1
        column[~self.valid] = 0
        return column


@dataclass(frozen=True)
class _Groups:
    """Each person's trees grouped by the factors they depend on, by person then mask.

    ``tree``/``owner`` list every (person, tree) pair in that order, trees ascending
    inside a group; group ``g`` is ``tree[first[g] : first[g] + size[g]]``.
    """

    tree: np.ndarray
    owner: np.ndarray
    first: np.ndarray
    size: np.ndarray
    person: np.ndarray
    mask: np.ndarray
    bits: np.ndarray  # groups x factors: the group's factors
    extent: np.ndarray  # groups x factors: axis lengths (1 off the group)
    kept: np.ndarray  # small enough to tabulate


def _group(masks: np.ndarray, sizes: np.ndarray, max_cells: int) -> _Groups:
    n_people, n_trees = masks.shape
    person_of = np.repeat(np.arange(n_people), n_trees)
    tree_of = np.tile(np.arange(n_trees), n_people)
    flat = masks.ravel()
    order = np.lexsort((tree_of, flat, person_of))
    owner, tree, mask = person_of[order], tree_of[order], flat[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (owner[1:] != owner[:-1]) | (mask[1:] != mask[:-1])
    first = np.flatnonzero(new)
    person = owner[first]
    bits = (mask[first, None] >> np.arange(sizes.shape[1])) & 1 == 1
    extent = np.where(bits, sizes[person], 1)
    kept = extent.prod(axis=1) <= max_cells
    size = np.diff(np.append(first, len(order)))
    return _Groups(tree, owner, first, size, person, mask[first], bits, extent, kept)


def _level_classes(
    groups: _Groups, people: _People, ensemble: Ensemble, column: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levels a group's trees cannot tell apart (the same side of every one of their
    splits) share a class, numbered in order of value: groups x factors x levels of
    class ids, groups x factors class counts, and a level of each class.

    A level's key is the sum over the group's trees of their splits on the factor at
    or below it; keys grow with the level, so equal keys mean equal counts in every
    tree (:attr:`Ensemble.cut_counts`).
    """
    _, counts = ensemble.cut_counts
    width, depth = people.levels32.shape[1:]
    key = np.empty((len(groups.first), width, depth), dtype=counts.dtype)
    for k in range(width):  # a factor at a time: memory of pairs x levels, not x factors
        seen = counts[groups.tree[:, None], column[groups.owner, k]]
        key[:, k] = np.add.reduceat(seen, groups.first, axis=0)
    slot = np.arange(depth) < groups.extent[:, :, None]
    key = np.where(slot & groups.bits[:, :, None], key, np.iinfo(key.dtype).max)
    by_key = np.argsort(key, axis=2, kind="stable")
    ranked = np.take_along_axis(key, by_key, axis=2)
    new = np.diff(ranked, axis=2, prepend=ranked[:, :, :1]) != 0
    klass = np.empty_like(by_key)
    np.put_along_axis(klass, by_key, np.cumsum(new, axis=2), axis=2)
    klass[~slot] = 0
    n_class = np.where(groups.bits, klass.max(axis=2) + 1, 1)
    example = np.zeros_like(klass)
    g, k, level = np.nonzero(slot)
    example[g, k, klass[g, k, level]] = level
    return klass, n_class, example


def _walk_classes(
    groups: _Groups,
    people: _People,
    ensemble: Ensemble,
    n_class: np.ndarray,
    example: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each kept group's trees summed at every combination of its classes (C order over
    ascending factors), in one walk of all (class cell, tree) pairs; and the number of
    class cells per group. A factor outside the group keeps the person's current value:
    the group's trees do not depend on it."""
    width = n_class.shape[1]
    c_cells = np.where(groups.kept, n_class.prod(axis=1), 0)
    c_group, rank = _blocks(c_cells)
    index = (rank[:, None] // _strides(n_class)[c_group]) % n_class[c_group]
    level_at = example[c_group[:, None], np.arange(width), index]  # cells x factors
    pair_cell, offset = _blocks(groups.size[c_group])
    pair_tree = groups.tree[groups.first[c_group[pair_cell]] + offset]
    pair_person = groups.person[c_group[pair_cell]]
    pair_moves = groups.bits[c_group[pair_cell]]

    def value(pairs: np.ndarray, features: np.ndarray) -> np.ndarray:
        p = pair_person[pairs]
        x = people.x32[p, features]
        k = people.factor_of[p, features]
        moved = k >= 0
        moved[moved] = pair_moves[pairs[moved], k[moved]]
        level = level_at[pair_cell[pairs[moved]], k[moved]]
        x[moved] = people.levels32[p[moved], k[moved], level]
        return x

    leaf = ensemble.walk_pairs(value, pair_tree)
    # bincount adds in pair order: tree by tree, as the leaf formulation sums
    return np.bincount(pair_cell, weights=leaf, minlength=len(c_group)), c_cells


def _compile_batch(
    problems: Sequence[PersonProblem], people: _People, ensemble: Ensemble, max_cells: int
) -> list[PersonProblem]:
    masks = dependency_masks(ensemble, people.x32, people.factor_of, people.low, people.high)
    groups = _group(masks, people.sizes, max_cells)
    column = people.columns(ensemble)
    klass, n_class, example = _level_classes(groups, people, ensemble, column)
    sums, c_cells = _walk_classes(groups, people, ensemble, n_class, example)

    # Every cell of a table takes its levels' classes' sum. Python lists: this loop
    # runs once per group, a few dozen times a person.
    starts = (np.cumsum(c_cells) - c_cells).tolist()
    trees_of, classes, extent = groups.tree.tolist(), n_class.tolist(), groups.extent.tolist()
    first, size = groups.first.tolist(), groups.size.tolist()
    factor_sets: dict[int, tuple[int, ...]] = {}
    tables: list[list[FactorTable]] = [[] for _ in problems]
    left_over: list[list[int]] = [[] for _ in problems]
    rows = zip(groups.person.tolist(), groups.mask.tolist(), groups.kept.tolist(), strict=True)
    for g, (p, mask, keep) in enumerate(rows):
        trees = trees_of[first[g] : first[g] + size[g]]
        if not keep:
            left_over[p] += trees
            continue
        factors = factor_sets.get(mask)
        if factors is None:
            factors = factor_sets[mask] = tuple(np.flatnonzero(groups.bits[g]).tolist())
        values = sums[starts[g] : starts[g] + c_cells[g]].reshape([classes[g][k] for k in factors])
        for axis, k in enumerate(factors):
            values = values.take(klass[g, k, : extent[g][k]], axis)
        tables[p].append(FactorTable(factors, tuple(trees), values))
    out = []
    for problem, own, rest in zip(problems, tables, left_over, strict=True):
        trees = []
        if rest:  # groups over max_cells: rare, so the per-person set-up is skipped
            levels = tuple(f.levels for f in problem.factors)
            trees = prune_for_person(
                ensemble, problem.features, problem.factor_features, levels, trees=sorted(rest)
            )
        out.append(
            replace(
                problem, tables=tuple(own), trees=tuple(trees), base_margin=ensemble.base_margin
            )
        )
    return out


def _strides(extent: np.ndarray) -> np.ndarray:
    """C-order strides of each row's axes (the last axis fastest)."""
    after = np.cumprod(extent[:, ::-1], axis=1)[:, ::-1]
    return np.hstack([after[:, 1:], np.ones((len(extent), 1), dtype=after.dtype)])


def _blocks(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For blocks of ``sizes`` items laid end to end: each item's block, and its rank in it."""
    block = np.repeat(np.arange(len(sizes)), sizes)
    start = np.cumsum(sizes) - sizes
    return block, np.arange(len(block)) - start[block]
