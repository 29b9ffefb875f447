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
from functools import lru_cache
from typing import Literal

import numpy as np

from sleeprx.learn.ensemble import Ensemble, TreeScorer, dependency_masks, prune_for_person
from sleeprx.optimize.problem import FactorTable, PersonProblem
from sleeprx.optimize.table_scorer import TableScorer

__all__ = [
    "attach_ensemble",
    "attach_ensembles",
    "compile_tables",
    "compile_tables_for_models",
    "compile_with_scorers",
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
    # a derived lever the model reads moves with several levers, which one table axis
    # per lever cannot hold: such a person is scored by the booster itself
    own = [any(d.feature >= 0 for d in p.derived) for p in problems]
    if any(own):
        rest = [p for p, o in zip(problems, own, strict=True) if not o]
        compiled = iter(attach_ensembles(rest, scorer, encoding=encoding, max_cells=max_cells))
        base = scorer.ensemble.base_margin
        return [
            replace(p, scorer=scorer, base_margin=base) if o else next(compiled)
            for p, o in zip(problems, own, strict=True)
        ]
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
    return [own[0] for own, _ in _compile(problems, [ensemble], max_cells, scorer=False)]


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
    return [own for own, _ in compile_with_scorers(problems, ensembles, max_cells=max_cells)]


def compile_with_scorers(
    problems: Sequence[PersonProblem], ensembles: Sequence[Ensemble], *, max_cells: int = 4096
) -> list[tuple[tuple[PersonProblem, ...], TableScorer]]:
    """:func:`compile_tables_for_models`, and each person's tables under all the
    ensembles as one :class:`TableScorer` (its columns in the order of ``ensembles``),
    whose values the problems' tables are views of."""
    return _compile(problems, ensembles, max_cells, scorer=True)


def _compile(
    problems: Sequence[PersonProblem],
    ensembles: Sequence[Ensemble],
    max_cells: int,
    *,
    scorer: bool,
) -> list[tuple[tuple[PersonProblem, ...], TableScorer | None]]:
    out: list[tuple[tuple[PersonProblem, ...], TableScorer | None]] = []
    batch = max(1, ENTRIES // max(len(e.trees) for e in ensembles))
    for at in range(0, len(problems), batch):
        chunk = problems[at : at + batch]
        people = _People(chunk)
        flats = [_compile_batch(people, e, max_cells) for e in ensembles]
        out += [
            _assemble(problem, i, flats, ensembles, scorer=scorer)
            for i, problem in enumerate(chunk)
        ]
    return out


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
        offsets = ensemble.cut_offsets
        column = np.zeros(self.levels32.shape, dtype=int)
        # only the factors' features: a loop over every split feature costs more than
        # one person's searches
        for j in np.unique(self.feature_of[self.feature_of >= 0]).tolist():
            if j in cuts:
                here = self.feature_of == j
                found = np.searchsorted(cuts[j], self.levels32[here], side="right")
                column[here] = offsets[j] + found
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
    splits) share a class, numbered in order of value (for kept groups; a group too
    large to tabulate keeps one class): groups x factors x levels of
    class ids, groups x factors class counts, and a level of each class.

    A level's key is the sum over the group's trees of their splits on the factor at
    or below it; keys grow with the level, so equal keys mean equal counts in every
    tree (:attr:`Ensemble.cut_counts`).
    """
    _, counts = ensemble.cut_counts
    width, depth = people.levels32.shape[1:]
    key = np.full((len(groups.first), width, depth), np.iinfo(counts.dtype).max, counts.dtype)
    for k in range(width):  # a factor at a time, over the trees of the groups that use it
        on = np.flatnonzero(groups.bits[:, k] & groups.kept)
        if not len(on):
            continue
        size = groups.size[on]
        group, rank = _blocks(size)
        pairs = groups.first[on][group] + rank
        reach = int(groups.extent[on, k].max())
        seen = counts[groups.tree[pairs, None], column[groups.owner[pairs], k, :reach]]
        key[on, k, :reach] = np.add.reduceat(seen, np.cumsum(size) - size, axis=0)
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


@dataclass(frozen=True)
class _Flat:
    """One ensemble's tables for a batch of people, as flat arrays.

    The kept groups (ordered by person, then mask) have their cells end to end in
    ``values``, each in C order over its factors (ascending); person ``i``'s groups
    are ``person_first[i] : person_first[i + 1]``. ``left_over[i]`` are the person's
    trees in groups too large to tabulate, ascending.
    """

    values: np.ndarray
    start: np.ndarray  # kept groups: first cell in ``values``
    size: np.ndarray  # kept groups: cells
    strides: np.ndarray  # kept groups x factors: C-order strides, 0 off the group
    extent: np.ndarray  # kept groups x factors: axis lengths, 1 off the group
    mask: np.ndarray  # kept groups: the factors' bitmask
    tree_first: np.ndarray  # kept groups: their trees are trees[first : first + count]
    tree_count: np.ndarray
    trees: np.ndarray
    person_first: np.ndarray
    left_over: list[list[int]]


def _compile_batch(people: _People, ensemble: Ensemble, max_cells: int) -> _Flat:
    masks = dependency_masks(ensemble, people.x32, people.factor_of, people.low, people.high)
    groups = _group(masks, people.sizes, max_cells)
    column = people.columns(ensemble)
    klass, n_class, example = _level_classes(groups, people, ensemble, column)
    sums, c_cells = _walk_classes(groups, people, ensemble, n_class, example)
    kept = np.flatnonzero(groups.kept)
    values, start, size, strides = _expand(groups, kept, klass, n_class, sums, c_cells)
    left_over: list[list[int]] = [[] for _ in range(len(people.sizes))]
    trees = groups.tree.tolist()
    first, count = groups.first.tolist(), groups.size.tolist()
    for g in np.flatnonzero(~groups.kept).tolist():  # rare: groups over max_cells
        left_over[int(groups.person[g])] += trees[first[g] : first[g] + count[g]]
    return _Flat(
        values,
        start,
        size,
        strides,
        groups.extent[kept],
        groups.mask[kept],
        groups.first[kept],
        groups.size[kept],
        groups.tree,
        np.searchsorted(groups.person[kept], np.arange(len(people.sizes) + 1)),
        [sorted(rest) for rest in left_over],
    )


def _expand(
    groups: _Groups,
    kept: np.ndarray,
    klass: np.ndarray,
    n_class: np.ndarray,
    sums: np.ndarray,
    c_cells: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every kept group's table at every cell: each cell takes the sum of its levels'
    classes. Returns the cells end to end, each group's first cell, cell count and
    C-order strides. Vectorised over all groups: each step splits every group's cells
    by its next factor (ascending), so the last step alone touches every cell."""
    extent, bits = groups.extent[kept], groups.bits[kept]
    size = extent.prod(axis=1)
    start = np.cumsum(size) - size
    strides = np.where(bits, _strides(extent), 0)
    class_strides = np.where(bits, _strides(n_class[kept]), 0)
    # each group's factors, ascending, then those off it (length 1, no stride)
    order = np.argsort(~bits, axis=1, kind="stable")
    width = int(bits.sum(axis=1).max(initial=0))
    index = (np.cumsum(c_cells) - c_cells)[kept]
    owner = np.arange(len(kept))
    depth = klass.shape[2]
    for j in range(width):  # C order: each step splits every cell by the next factor
        k = order[:, j]
        rows = np.arange(len(kept))
        live = bits[rows, k]
        length = np.where(live, extent[rows, k], 1)
        step = klass[kept, k] * np.where(live, class_strides[rows, k], 0)[:, None]
        n = length[owner]
        owner = np.repeat(owner, n)
        level = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
        index = np.repeat(index, n) + step.ravel()[owner * depth + level]
    return sums[index], start, size, strides


def _assemble(
    problem: PersonProblem,
    i: int,
    flats: Sequence[_Flat],
    ensembles: Sequence[Ensemble],
    *,
    scorer: bool,
) -> tuple[tuple[PersonProblem, ...], TableScorer | None]:
    """Person ``i``'s problem under every ensemble, their tables views of one array
    (a 0.0 cell, then each ensemble's cells), and its scorer. A bootstrap's
    ``logit_before`` is the scorer's margin at the current answers."""
    pieces, shift, at = [np.zeros(1)], [], 1
    for flat in flats:
        a, b = flat.person_first[i], flat.person_first[i + 1]
        lo = int(flat.start[a]) if a < b else 0
        hi = int(flat.start[b - 1] + flat.size[b - 1]) if a < b else 0
        pieces.append(flat.values[lo:hi])
        shift.append(at - lo)
        at += hi - lo
    values = np.concatenate(pieces)
    levels = tuple(f.levels for f in problem.factors)
    own: list[PersonProblem] = []
    offsets: list[np.ndarray] = []
    strides: list[np.ndarray] = []
    starts = [0]
    for m, (flat, ensemble) in enumerate(zip(flats, ensembles, strict=True)):
        a, b = int(flat.person_first[i]), int(flat.person_first[i + 1])
        offset = flat.start[a:b] + shift[m]
        trees: tuple = ()
        if flat.left_over[i]:
            kept = flat.left_over[i]
            trees = tuple(
                prune_for_person(
                    ensemble, problem.features, problem.factor_features, levels, trees=kept
                )
            )
        tables = _tables(flat, a, b, offset.tolist(), values)
        own.append(replace(problem, tables=tables, trees=trees, base_margin=ensemble.base_margin))
        offsets += [np.zeros(1, dtype=np.intp), offset]
        strides += [
            np.zeros((1, flat.strides.shape[1]), dtype=flat.strides.dtype),
            flat.strides[a:b],
        ]
        starts.append(starts[-1] + 1 + b - a)
    if not scorer and len(own) == 1:
        return tuple(own), None
    found = TableScorer(
        values,
        np.concatenate(offsets).astype(np.intp),
        np.ascontiguousarray(np.vstack(strides)[:, : len(problem.factors)].T, dtype=float),
        np.asarray(starts, dtype=np.intp),
        np.array([p.base_margin for p in own]),
        tuple(p.trees or () for p in own),
    )
    current = found.at_current()
    own[1:] = [
        replace(p, logit_before=float(v), goal_margin=None)
        for p, v in zip(own[1:], current[1:], strict=True)
    ]
    return tuple(own), found


def _tables(
    flat: _Flat, a: int, b: int, offsets: list[int], values: np.ndarray
) -> tuple[FactorTable, ...]:
    """Kept groups ``a:b`` of ``flat`` as factor tables over ``values`` (views)."""
    trees = flat.trees
    rows = zip(
        flat.mask[a:b].tolist(),
        flat.extent[a:b].tolist(),
        flat.size[a:b].tolist(),
        flat.tree_first[a:b].tolist(),
        flat.tree_count[a:b].tolist(),
        offsets,
        strict=True,
    )
    out = []
    for mask, extent, size, first, count, offset in rows:
        factors = _factors(mask)
        shape = tuple(extent[k] for k in factors)
        cells = values[offset : offset + size].reshape(shape)
        out.append(FactorTable(factors, tuple(trees[first : first + count].tolist()), cells))
    return tuple(out)


@lru_cache(maxsize=4096)
def _factors(mask: int) -> tuple[int, ...]:
    """The factors of a bitmask, ascending."""
    return tuple(k for k in range(mask.bit_length()) if mask >> k & 1)


def _strides(extent: np.ndarray) -> np.ndarray:
    """C-order strides of each row's axes (the last axis fastest)."""
    after = np.cumprod(extent[:, ::-1], axis=1)[:, ::-1]
    return np.hstack([after[:, 1:], np.ones((len(extent), 1), dtype=after.dtype)])


def _blocks(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For blocks of ``sizes`` items laid end to end: each item's block, and its rank in it."""
    block = np.repeat(np.arange(len(sizes)), sizes)
    start = np.cumsum(sizes) - sizes
    return block, np.arange(len(block)) - start[block]
