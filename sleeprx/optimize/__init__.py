"""The optimisation layer: one person's problem as plain data, the tree ensemble and
its compiled tables, the program (surrogate and exact gain models), the HiGHS solve,
and brute-force enumeration.

These are the low-level steps that :func:`sleeprx.prescribe` chains; use them
directly to inspect or reuse one person's program.
"""

from .bruteforce import brute_force, enumerate_choices
from .ensemble import TreeScorer, tree_scorer
from .factor_tables import attach_ensemble
from .formulation import LinearModel, Program, build_program
from .problem import (
    FactorChoice,
    PersonProblem,
    allowed_levels,
    build_problem,
    nearest_allowed,
    person_range,
    profile_features,
    resistance_of,
)
from .solver import Solution, solve

__all__ = [
    "FactorChoice",
    "LinearModel",
    "PersonProblem",
    "Program",
    "Solution",
    "TreeScorer",
    "allowed_levels",
    "attach_ensemble",
    "brute_force",
    "build_problem",
    "build_program",
    "enumerate_choices",
    "nearest_allowed",
    "person_range",
    "profile_features",
    "resistance_of",
    "solve",
    "tree_scorer",
]
