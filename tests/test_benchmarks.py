"""The benchmarks' shared parts: the table writer, the writer of BENCHMARKS.md sections,
the checker's cost on ladders, and the change of units that OCEAN's copy of the booster
relies on. Tiny data; no benchmark is run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from common import markdown, write_blocks
from peer_ocean import OFFSET, coordinate, rescaled_booster
from prescribe_check import broken_by, steps

from sleeprx.survey.description import ModifiableFactor

GRID = ModifiableFactor(
    column="sleep", label="sleep", lower=5.0, upper=9.0, step=0.5, max_change=1.0, fixed_cost=0.0
)
LADDER = ModifiableFactor(
    column="coffee", label="coffee", levels=(0.0, 1.0, 3.0, 7.0), max_change=1, fixed_cost=0.0
)


def test_markdown_pads_columns_and_aligns_numbers_on_request():
    plain = markdown(["a", "bb"], [["xyz", "1"]]).splitlines()
    assert plain == ["| a   | bb |", "|-----|----|", "| xyz | 1  |"]
    numeric = markdown(["a", "bb"], [["xyz", "1"]], numeric=True).splitlines()
    assert numeric[1] == "|-----|---:|"


def test_write_blocks_makes_a_section_then_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nmeasured history\n")
    write_blocks("s", "Title", "how to run\n", {"one": "first", "two": "second"}, path=path)
    write_blocks("s", "Title", "how to run\n", {"one": "again"}, path=path)
    text = path.read_text()
    assert text.count("## Title") == 1
    assert "again" in text and "first" not in text and "second" in text
    assert text.index("again") < text.index("second")  # the block kept its place
    assert text.rstrip().endswith("measured history")


def test_a_ladder_is_costed_and_limited_in_rungs():
    assert steps(LADDER, 1.0, 7.0) == 2.0
    assert steps(GRID, 6.0, 7.5) == 3.0
    assert broken_by(LADDER, 1.0, 3.0) == set()
    assert broken_by(LADDER, 1.0, 7.0) == {"change too large"}
    assert broken_by(GRID, 6.0, 6.25) == {"off grid"}


@pytest.mark.parametrize("factor", [GRID, LADDER], ids=["grid", "ladder"])
def test_coordinates_count_steps_or_rungs_in_whole_numbers(factor):
    where = coordinate(factor, factor.grid) - OFFSET
    np.testing.assert_allclose(where, np.arange(len(factor.grid)))
    # monotone beyond the ends too, so that a split below or above the grid keeps its side
    outside = coordinate(factor, [factor.grid[0] - 1.0, factor.grid[-1] + 1.0]) - OFFSET
    assert outside[0] < 0 < len(factor.grid) - 1 < outside[1]


def test_the_rescaled_booster_scores_levers_in_steps_as_the_model_does_in_units():
    rng = np.random.default_rng(0)
    n = 400
    x = np.column_stack([rng.choice(GRID.grid, n), rng.choice(LADDER.grid, n), rng.normal(size=n)])
    y = (x[:, 0] + 0.3 * x[:, 1] + x[:, 2] + rng.normal(scale=0.5, size=n) > 7.5).astype(int)
    booster = xgb.train(
        {"max_depth": 3, "objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 20
    )
    copy = rescaled_booster(booster, {0: GRID, 1: LADDER}, ["x0", "x1", "x2"])
    moved = x.copy()
    moved[:, 0] = coordinate(GRID, x[:, 0])
    moved[:, 1] = coordinate(LADDER, x[:, 1])
    theirs = booster.predict(xgb.DMatrix(x), output_margin=True)
    mine = copy.predict(xgb.DMatrix(moved, feature_names=copy.feature_names), output_margin=True)
    np.testing.assert_allclose(mine, theirs, atol=1e-6)
