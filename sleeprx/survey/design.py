"""A survey's sampling design as plain data: each person's weight, stratum and PSU.

The description names the columns (its ``design`` key); :func:`design_of` reads them
from a survey's frame, indexed by person id like the frame. Training reads the weights
(:func:`weights_of`), population figures the whole design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sleeprx.survey.description import SurveyDescription

__all__ = ["SurveyDesign", "design_of", "weights_of"]


@dataclass(frozen=True)
class SurveyDesign:
    """Each person's weight and, when the survey has them, stratum and PSU.

    ``frame`` is indexed by person id and has a ``weight`` column, and ``stratum`` and
    ``psu`` columns when the description names them. ``columns`` names the survey's
    own columns, for readers.
    """

    frame: pd.DataFrame
    columns: dict[str, str]

    @property
    def has_strata(self) -> bool:
        return "stratum" in self.frame

    @property
    def has_psu(self) -> bool:
        return "psu" in self.frame

    def weights(self, ids: pd.Index | pd.Series | np.ndarray) -> np.ndarray:
        """The weights of the people ``ids``, in that order (a KeyError for a stranger)."""
        return self.frame["weight"].loc[pd.Index(ids)].to_numpy(float)

    def describe(self) -> str:
        """The design in words: "weight w, strata st, PSUs psu"."""
        parts = [f"weight '{self.columns['weight']}'"]
        parts += [f"strata '{self.columns['stratum']}'"] if self.has_strata else []
        parts += [f"PSUs '{self.columns['psu']}'"] if self.has_psu else []
        return ", ".join(parts)


def design_of(frame: pd.DataFrame, description: SurveyDescription) -> SurveyDesign | None:
    """The design of a survey frame (indexed by id), or None when it names no weight."""
    design = description.design
    if design is None:
        return None
    names = {"weight": design.weight, "stratum": design.strata, "psu": design.psu}
    names = {key: name for key, name in names.items() if name is not None}
    out = pd.DataFrame({key: frame[name] for key, name in names.items()}, index=frame.index)
    out["weight"] = out["weight"].astype(float)
    return SurveyDesign(out, names)


def weights_of(frame: pd.DataFrame, description: SurveyDescription) -> np.ndarray | None:
    """Each row's sample weight, in the frame's order; None for an unweighted survey."""
    design = description.design
    return None if design is None else frame[design.weight].to_numpy(float)
