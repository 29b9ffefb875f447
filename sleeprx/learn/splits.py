"""Groups of rows that must stay on one side of every split.

Many survey rows are exact copies of each other once the id is dropped (132 distinct
of 374 in the shipped data), so a random split puts copies of test rows into training.
Rows that are identical apart from the id form one group; evaluation, tuning and the
calibration map all split by these groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["duplicate_groups"]


def duplicate_groups(frame: pd.DataFrame) -> np.ndarray:
    """One group label per row; rows equal in every column (id aside) share a label."""
    flat = frame.reset_index(drop=True)
    return flat.groupby(list(flat.columns), dropna=False).ngroup().to_numpy()
