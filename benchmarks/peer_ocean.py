"""OCEAN (Parmentier & Vidal, ICML 2021; the ``oceanpy`` package) as a peer, with its
Gurobi-free constraint-programming backend (OR-Tools CP-SAT, one worker).

OCEAN finds the nearest counterfactual under a weighted L1 norm: the fewest units of
change that make the ensemble's majority class the goal class. For a binary XGBoost
model that is p >= 0.5 (its margin above zero), with no cap on the number of changes.
It matches sleeprx's recourse problem when every fixed cost is 0, every resistance 1,
there are no linear constraints, K is the number of levers, and the cost of a change is
|change| / step (rungs on a ladder).

OCEAN's discrete features count |change| in whole units, so the levers are handed to it
in their own steps: each lever's coordinate is its position on its grid (steps from the
bottom, or the rung of a ladder), and a copy of the booster has its split conditions on
the levers moved to the same coordinates (``x < s`` iff ``position(x) < position(s)``).
Every other encoded column is fixed at the person's value by a CP-SAT constraint (a 0/1
column as a binary feature; any other as a continuous one whose distance must be 0), and
each lever is held to the levels sleeprx allows that person. Those constraints go into
OCEAN's own garbage list, which ``explain`` clears after every query.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from prescribe_methods import Answer

from sleeprx.optimize import allowed_levels

#: a lever's coordinate is its position plus this, so that every split on it, even
#: one below the grid, is positive (OCEAN rounds thresholds with ``int``)
OFFSET = 1000.0


def unavailable() -> str | None:
    """Why OCEAN cannot run here, or None."""
    if sys.version_info < (3, 12):
        return (
            f"OCEAN skipped: oceanpy needs Python >= 3.12, this is "
            f"{sys.version_info.major}.{sys.version_info.minor}"
        )
    try:
        import ocean  # noqa: F401
    except ImportError as exc:
        return f'OCEAN skipped: oceanpy is not installed ({exc}); pip install -e ".[bench]"'
    return None


def coordinate(factor, values) -> np.ndarray:
    """Positions on the lever's grid (steps from the bottom, or rungs of a ladder, linear
    beyond its ends), plus :data:`OFFSET`."""
    v = np.asarray(values, dtype=float)
    grid = factor.grid
    if not factor.is_ladder:
        return OFFSET + (v - grid[0]) / factor.step
    rungs = np.arange(len(grid), dtype=float)
    out = np.interp(v, grid, rungs)
    low, high = v < grid[0], v > grid[-1]
    out[low] = (v[low] - grid[0]) / (grid[1] - grid[0])
    out[high] = len(grid) - 1 + (v[high] - grid[-1]) / (grid[-1] - grid[-2])
    return OFFSET + out


def rescaled_booster(booster, levers: dict[int, object], names: list[str]):
    """A copy of ``booster`` whose splits on the levers' columns (index -> factor) are
    in the levers' coordinates, with the feature names OCEAN's mapper uses."""
    import xgboost as xgb

    model = json.loads(booster.save_raw("json"))
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        left, index = tree["left_children"], tree["split_indices"]
        conditions = tree["split_conditions"]
        for node, column in enumerate(index):
            if left[node] != -1 and column in levers:
                where = float(coordinate(levers[column], [conditions[node]])[0])
                conditions[node] = round(where, 6)  # a split on a level: a whole number
    model["learner"]["feature_names"] = names
    copy = xgb.Booster()
    copy.load_model(bytearray(json.dumps(model).encode()))
    copy.feature_names = names
    return copy


class OceanPeer:
    """OCEAN's CP explainer on the model's encoded features, built once.

    Parameters
    ----------
    model : TrainedModel
        The model every method shares.
    frame : DataFrame
        The people it will be asked about (their encoded columns set the binary and
        continuous features' types and ranges).
    seed : int
        CP-SAT's random seed.
    """

    def __init__(self, model, frame: pd.DataFrame, *, seed: int = 0) -> None:
        from ocean import ConstraintProgrammingExplainer
        from ocean.abc import Mapper
        from ocean.feature import Feature

        start = time.perf_counter()
        self.model, self.seed = model, seed
        self.encode = model.pipeline.named_steps["encode"].transform_array
        names = list(model.feature_names)
        self.factors = list(model.description.modifiable)
        self.levers = {names.index(f.column): f for f in self.factors}
        self.keys = [f"x{i}" for i in range(len(names))]
        encoded = self.encode(frame)
        mapping, self.kinds = {}, []
        for i, key in enumerate(self.keys):
            column = encoded[:, i]
            if i in self.levers:
                f = self.levers[i]
                levels = coordinate(f, f.grid)
                mapping[key] = Feature(Feature.Type.DISCRETE, levels=levels, thresholds=[])
                self.kinds.append("lever")
            elif set(np.unique(column)) <= {0.0, 1.0}:
                mapping[key] = Feature(Feature.Type.BINARY)
                self.kinds.append("binary")
            else:
                levels = (float(column.min()) - 1.0, float(column.max()) + 1.0)
                mapping[key] = Feature(Feature.Type.CONTINUOUS, levels=levels)
                self.kinds.append("continuous")
        mapper = Mapper(mapping, columns=pd.Index(self.keys))
        self.booster = rescaled_booster(model.booster, self.levers, self.keys)
        self.explainer = ConstraintProgrammingExplainer(self.booster, mapper=mapper)
        self.setup = time.perf_counter() - start

    def coordinates(self, row: np.ndarray) -> np.ndarray:
        """The encoded row with each lever in its coordinate (a whole number on the grid)."""
        out = np.asarray(row, dtype=float).copy()
        for i, f in self.levers.items():
            out[i] = np.round(coordinate(f, [row[i]])[0], 6)
        return out

    def margin_gap(self, frame: pd.DataFrame) -> float:
        """Largest |margin of the copy on the coordinates - margin of the model|."""
        import xgboost as xgb

        raw = self.encode(frame)
        moved = np.vstack([self.coordinates(r) for r in raw])
        mine = self.booster.predict(xgb.DMatrix(moved, feature_names=self.keys), output_margin=True)
        theirs = self.model.booster.inplace_predict(raw, predict_type="margin")
        return float(np.max(np.abs(np.asarray(mine) - np.asarray(theirs))))

    def hold(self, raw: np.ndarray, x: np.ndarray) -> None:
        """Fix every non-lever column and hold each lever to the person's allowed levels."""
        from ortools.sat.python import cp_model as cp

        ex = self.explainer
        added = []
        for i, key in enumerate(self.keys):
            var = ex.mapper[key]
            if self.kinds[i] == "lever":
                f = self.levers[i]
                allowed = np.round(coordinate(f, allowed_levels(f, float(raw[i]))), 6)
                domain = cp.Domain.FromValues([int(v) for v in allowed])
                added.append(ex.AddLinearExpressionInDomain(var.xget(), domain))
            elif self.kinds[i] == "binary":
                added.append(ex.Add(var.xget() == round(float(x[i]))))
            else:
                added.append(ex.Add(var.objvarget() == 0))
        ex.add_garbage(*added)

    def __call__(self, frame: pd.DataFrame, pid) -> Answer:
        start = time.perf_counter()
        raw = self.encode(frame.loc[[pid]])[0]
        x = self.coordinates(raw)
        self.hold(raw, x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns on every infeasible query
            found = self.explainer.explain(
                x, y=1, norm=1, max_time=60, num_workers=1, random_seed=self.seed
            )
        seconds = time.perf_counter() - start
        status = self.explainer.get_solving_status()
        proven = status in ("OPTIMAL", "INFEASIBLE")
        if found is None:
            return Answer(None, seconds, proven, f"CP-SAT status {status}")
        cf = np.asarray(found.x, dtype=float)
        values = []
        for i, f in self.levers.items():
            rung = round(float(cf[i]) - OFFSET)
            same = abs(cf[i] - x[i]) < 1e-6
            values.append(float(raw[i]) if same else float(f.grid[rung]))
        cost = self.explainer.get_objective_value()
        return Answer(np.array(values), seconds, proven, cost_reported=cost)
