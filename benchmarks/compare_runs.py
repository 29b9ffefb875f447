"""Compare two run folders (``sleeprx run`` outputs): every CSV in either, numeric
columns to a tolerance, text columns exactly. Timing columns (``*seconds*``) are
measured, not computed, and are skipped. Exit 1 when anything differs.

    python benchmarks/compare_runs.py runs/paper-before runs/paper --tol 1e-9
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def compare(a: Path, b: Path, tol: float) -> list[str]:
    problems = []
    names_a = {p.relative_to(a) for p in a.rglob("*.csv")}
    names_b = {p.relative_to(b) for p in b.rglob("*.csv")}
    for name in sorted(names_a ^ names_b):
        problems.append(f"{name}: only in {'first' if name in names_a else 'second'}")
    for name in sorted(names_a & names_b):
        x = pd.read_csv(a / name, keep_default_na=False, low_memory=False)
        y = pd.read_csv(b / name, keep_default_na=False, low_memory=False)
        if list(x.columns) != list(y.columns):
            problems.append(f"{name}: columns differ: {sorted(set(x.columns) ^ set(y.columns))}")
            continue
        if len(x) != len(y):
            problems.append(f"{name}: {len(x)} rows against {len(y)}")
            continue
        for col in x.columns:
            if "seconds" in col or col.endswith("_ms"):
                continue  # timings are measured, not computed
            xn = pd.to_numeric(x[col].astype(str).replace("", np.nan), errors="coerce")
            yn = pd.to_numeric(y[col].astype(str).replace("", np.nan), errors="coerce")
            numeric = xn.notna() | (x[col] == "")
            if numeric.all() and (yn.notna() | (y[col] == "")).all():
                both = xn.notna() & yn.notna()
                xa, ya = xn[both].to_numpy(float), yn[both].to_numpy(float)
                with np.errstate(invalid="ignore"):  # inf - inf: equal when x == y
                    gap = np.where(xa == ya, 0.0, np.abs(xa - ya))
                diff = float(gap.max(initial=0.0))
                if (xn.isna() != yn.isna()).any() or diff > tol:
                    problems.append(f"{name}: column {col!r} differs by {diff:.3g}")
            elif not (x[col].astype(str) == y[col].astype(str)).all():
                rows = np.flatnonzero(x[col].astype(str) != y[col].astype(str))
                problems.append(
                    f"{name}: column {col!r} differs in {len(rows)} rows, first {rows[0]}"
                )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--tol", type=float, default=1e-9)
    args = parser.parse_args()
    problems = compare(args.first, args.second, args.tol)
    n = len(list(args.first.rglob("*.csv")))
    print(
        f"{n} CSV files compared, numeric columns to {args.tol:g}: "
        f"{'identical' if not problems else f'{len(problems)} differences'}"
    )
    for line in problems:
        print(" ", line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
