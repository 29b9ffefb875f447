"""Formulations of the prescription program; they build, never solve."""

from .linear import LinearModel
from .program import GAIN_MODELS, GainExpr, Program, build_program

__all__ = ["GAIN_MODELS", "GainExpr", "LinearModel", "Program", "build_program"]
