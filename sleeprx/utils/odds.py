"""Probabilities and log-odds: the two scales sleeprx reports gains on."""

from __future__ import annotations

import math

__all__ = ["logit", "sigmoid"]


def sigmoid(z: float) -> float:
    """The probability whose log-odds is ``z``."""
    return 1.0 / (1.0 + math.exp(-z))


def logit(p: float) -> float:
    """The log-odds of a probability ``0 < p < 1``."""
    return math.log(p / (1.0 - p))
