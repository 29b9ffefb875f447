"""The optimisation layer: one person's problem as plain data, the tree ensemble and
its compiled tables, the program (surrogate and exact gain models), the HiGHS solve,
and brute-force enumeration.

These are the low-level steps that :func:`sleeprx.prescribe` chains; use them
directly to inspect or reuse one person's program.
"""

from sleeprx.utils.lazy import lazy_exports

_EXPORTS = {
    name: module if "." in module else f"{__name__}.{module}"
    for name, module in {
        "FactorChoice": "problem",
        "LinearModel": "formulation",
        "PersonProblem": "problem",
        "Program": "formulation",
        "Solution": "solver",
        "TreeScorer": "sleeprx.learn.ensemble",
        "allowed_levels": "problem",
        "attach_ensemble": "factor_tables",
        "attach_ensembles": "factor_tables",
        "brute_force": "bruteforce",
        "build_problem": "problem",
        "build_program": "formulation",
        "enumerate_choices": "bruteforce",
        "nearest_allowed": "problem",
        "person_range": "problem",
        "profile_features": "problem",
        "resistance_of": "problem",
        "solve": "solver",
        "tree_scorer": "sleeprx.learn.ensemble",
    }.items()
}

__all__ = sorted(_EXPORTS)


# loaded on first use: the plain-data problem module must not bring in HiGHS
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
