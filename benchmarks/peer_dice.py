"""DiCE random (dice-ml) as a peer: the model-agnostic counterfactual baseline, with
the sklearn backend on the model's pipeline.

One ``generate_counterfactuals`` call per person (total_CFs=1, desired_class=1,
stopping_threshold=goal, the modifiable factors only, permitted_range = each person's
allowed range intersected with the safe range). DiCE's answers lie off the grid; they
are also reported moved onto it (``snap_to_grid``).
"""

from __future__ import annotations

import contextlib
import io
import random
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from prescribe_methods import Answer

from sleeprx.optimize import nearest_allowed, person_range

if TYPE_CHECKING:
    from sleeprx.learn.model import TrainedModel

OUTCOME = "good_sleep"


def dice_frame(model: TrainedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns as DiCE wants them: integer columns as int64 (so DiCE samples
    whole numbers), categorical columns as object, plus the observed outcome."""
    description = model.description
    kinds = {n: c.type for c in description.columns for n in c.output_names}
    out = {}
    for name in description.feature_columns:
        column = frame[name]
        if kinds[name] == "categorical":
            out[name] = column.astype(object)
        elif kinds[name] == "integer":
            out[name] = column.astype(np.int64)
        else:
            out[name] = column.astype(float)
    target = description.target
    out[OUTCOME] = (frame[target.column] >= target.threshold).astype(np.int64)
    return pd.DataFrame(out, index=frame.index)


def dice_method(
    model, frame: pd.DataFrame, goal: float, seed: int
) -> tuple[Callable[[int], Answer], float]:
    """DiCE random (dice-ml) with the sklearn backend on the model's pipeline."""
    import dice_ml

    start = time.perf_counter()
    data = dice_frame(model, frame)
    features = list(model.description.feature_columns)
    kinds = {n: c.type for c in model.description.columns for n in c.output_names}
    continuous = [n for n in features if kinds[n] != "categorical"]
    explainer = dice_ml.Dice(
        dice_ml.Data(dataframe=data, continuous_features=continuous, outcome_name=OUTCOME),
        dice_ml.Model(model=model.pipeline, backend="sklearn"),
        method="random",
    )
    setup = time.perf_counter() - start
    factors = model.description.modifiable
    # whole-number ids seed DiCE as before (seed + id); text ids by their row number
    order = {pid: pid if isinstance(pid, int) else i for i, pid in enumerate(frame.index)}
    names = [f.column for f in factors]

    def run(pid: int) -> Answer:
        query = data.loc[[pid], features]
        ranges = {}
        for f in factors:
            r = person_range(f, float(query[f.column].iloc[0]))
            if r is not None:
                ranges[f.column] = [r[0], r[1]]
        if not ranges:
            return Answer(None, 0.0, None, "no factor may vary")
        # DiCE random also draws from numpy's global generator (np.random.choice,
        # DataFrame.sample), not only from random_seed.
        np.random.seed(seed + order[pid])
        random.seed(seed + order[pid])
        sink = io.StringIO()
        start = time.perf_counter()
        try:
            with (
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                result = explainer.generate_counterfactuals(
                    query,
                    total_CFs=1,
                    desired_class=1,
                    features_to_vary=list(ranges),
                    permitted_range=ranges,
                    stopping_threshold=goal,
                    random_seed=seed + order[pid],
                )
            error = ""
        except Exception as exc:  # DiCE raises when it finds no counterfactual
            result, error = None, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        if result is None:
            return Answer(None, seconds, None, error)
        example = result.cf_examples_list[0]
        cfs = example.final_cfs_df_sparse
        if cfs is None or len(cfs) == 0:
            cfs = example.final_cfs_df
        if cfs is None or len(cfs) == 0:
            return Answer(None, seconds, None, "no counterfactual returned")
        return Answer(cfs[names].iloc[0].to_numpy(float), seconds)

    return run, setup


def snap_to_grid(model, frame, answers: dict[int, Answer]) -> dict[int, Answer]:
    """DiCE's counterfactuals moved onto our grid: every changed factor goes to the
    nearest level the person may move to (or stays put if there is none)."""
    factors = model.description.modifiable
    out = {}
    for pid, a in answers.items():
        if a.values is None:
            out[pid] = a
            continue
        values = np.array(
            [
                nearest_allowed(f, float(frame.at[pid, f.column]), v)
                for f, v in zip(factors, a.values, strict=True)
            ]
        )
        out[pid] = Answer(values, a.seconds, None, a.error)
    return out
