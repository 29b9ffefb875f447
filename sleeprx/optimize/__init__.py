"""The optimisation layer: one person's problem as plain data, the tree ensemble and
its compiled tables, the program (surrogate and exact gain models), the HiGHS solve,
and brute-force enumeration.

These are the low-level steps that :func:`sleeprx.prescribe` chains; use them
directly to inspect or reuse one person's program.
"""

from importlib import import_module

_EXPORTS = {
    "FactorChoice": "problem",
    "LinearModel": "formulation",
    "PersonProblem": "problem",
    "Program": "formulation",
    "Solution": "solver",
    "TreeScorer": "ensemble",
    "allowed_levels": "problem",
    "attach_ensemble": "factor_tables",
    "brute_force": "bruteforce",
    "build_problem": "problem",
    "build_program": "formulation",
    "enumerate_choices": "bruteforce",
    "nearest_allowed": "problem",
    "person_range": "problem",
    "profile_features": "problem",
    "resistance_of": "problem",
    "solve": "solver",
    "tree_scorer": "ensemble",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    # loaded on first use: the plain-data problem module must not bring in HiGHS
    if name in _EXPORTS:
        value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
