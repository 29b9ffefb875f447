"""The optimisation layer: one person's problem as plain data, the tree ensemble and
its compiled tables, the program (surrogate and exact gain models), the HiGHS solve,
brute-force enumeration, and the routes to an optimum (enumeration, the
dynamic-programming frontier, the MIP) with the one rule that picks among them.

These are the low-level steps that :func:`sleeprx.prescribe` chains; use them
directly to inspect or reuse one person's program.
"""

from sleeprx.utils.lazy import lazy_exports

_EXPORTS = {
    name: module if "." in module else f"{__name__}.{module}"
    for name, module in {
        "FactorChoice": "problem",
        "Found": "states",
        "LinearModel": "formulation",
        "PersonProblem": "problem",
        "Program": "formulation",
        "Route": "routes",
        "Solution": "solver",
        "SolutionStatus": "states",
        "SolverStatus": "states",
        "Sweep": "routes",
        "Termination": "states",
        "TreeScorer": "sleeprx.learn.ensemble",
        "allowed_levels": "problem",
        "attach_ensemble": "factor_tables",
        "attach_ensembles": "factor_tables",
        "brute_force": "bruteforce",
        "build_problem": "problem",
        "build_program": "formulation",
        "choose_route": "routes",
        "enumerate_choices": "bruteforce",
        "find_best": "routes",
        "nearest_allowed": "problem",
        "next_best": "options",
        "person_range": "problem",
        "profile_features": "problem",
        "register_route": "routes",
        "resistance_of": "problem",
        "solve": "solver",
        "tree_scorer": "sleeprx.learn.ensemble",
    }.items()
}

__all__ = sorted(_EXPORTS)


# loaded on first use: the plain-data problem module must not bring in HiGHS
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
