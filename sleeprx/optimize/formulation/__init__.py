"""Formulations of the prescription program; they build, never solve."""

from sleeprx.optimize.formulation.cuts import add_floors, add_no_good
from sleeprx.optimize.formulation.linear import LinearModel
from sleeprx.optimize.formulation.program import GAIN_MODELS, GainExpr, Program, build_program

__all__ = [
    "GAIN_MODELS",
    "GainExpr",
    "LinearModel",
    "Program",
    "add_floors",
    "add_no_good",
    "build_program",
]
