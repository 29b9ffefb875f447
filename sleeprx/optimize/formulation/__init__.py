"""Formulations of the prescription program; they build, never solve."""

from sleeprx.optimize.formulation.linear import LinearModel
from sleeprx.optimize.formulation.program import GAIN_MODELS, GainExpr, Program, build_program

__all__ = ["GAIN_MODELS", "GainExpr", "LinearModel", "Program", "build_program"]
