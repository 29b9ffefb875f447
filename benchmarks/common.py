"""What every benchmark shares: the surveys and their synthetic cohorts, the machine
line, package versions, the markdown table writer and the one writer of BENCHMARKS.md.

Laid out like scikit-learn's ``asv_benchmarks/benchmarks/common.py``: each benchmark
module answers one question and takes its data, its report format and its machine
description from here, so that two tables never disagree on how they are written.

The per-person steps of sleeprx that the benchmarks time one at a time
(``prepare_problems``, ``plan_person``, ``booster_gain``) have no public name; they are
imported here alone, so that a move inside the library changes one line.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

import sleeprx
from sleeprx.prescribing.run import plan_person, prepare_problems
from sleeprx.prescribing.verify import booster_gain
from sleeprx.survey.description import SurveyDescription
from sleeprx.survey.read import shipped_survey_path

__all__ = [
    "ROOT",
    "SURVEYS",
    "Base",
    "Spec",
    "booster_gain",
    "command_head",
    "load_average",
    "load_base",
    "log",
    "machine_line",
    "markdown",
    "plan_person",
    "prepare_problems",
    "tree_label",
    "write_blocks",
    "write_cohort",
]

ROOT = Path(__file__).resolve().parents[1]
JITTER = 2  # grid steps (or ladder rungs) either way
BLOCK = 50_000  # cohort rows generated and written at a time


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- surveys


@dataclass(frozen=True)
class Spec:
    """A survey a benchmark can run on: its file and its description."""

    key: str
    title: str
    csv: Path
    description: Path | None  # None: the shipped description
    text_ids: bool

    def load(self) -> SurveyDescription:
        return sleeprx.load_description(self.description)


SURVEYS = {
    "shipped": Spec("shipped", "shipped survey (4 levers)", shipped_survey_path(), None, False),
    "messy": Spec(
        "messy",
        "10-lever example",
        ROOT / "data" / "messy_sleep_survey.csv",
        ROOT / "sleeprx" / "survey" / "shipped" / "messy_sleep.yaml",
        True,
    ),
}


# ----------------------------------------------------------------------------- cohorts


@dataclass
class Base:
    """A survey's rows, as text and as the canonical frame, ready to be resampled."""

    spec: Spec
    description: SurveyDescription
    raw: pd.DataFrame  # the CSV as written (text; blank cells are "")
    levers: dict[str, np.ndarray]  # source header -> observed values (NaN = blank)
    fixed_key: np.ndarray  # per raw row: hash of its model inputs other than the levers
    id_prefix: str | None = None  # text ids: "R-" + digits; None: whole numbers


def load_base(spec: Spec) -> Base:
    description = spec.load()
    raw = pd.read_csv(spec.csv, dtype=str, keep_default_na=False)
    survey = sleeprx.read_survey(spec.csv, description)
    id_source = description.column(description.id_column).source
    ids = [survey.id_of(t) for t in raw[id_source]]
    frame = survey.frame.loc[ids]  # canonical answers, in the file's row order
    lever_names = set(description.modifiable_names)
    others = [c for c in description.feature_columns if c not in lever_names]
    fixed_key = pd.util.hash_pandas_object(frame[others], index=False).to_numpy()
    levers = {
        description.column(f.column).source: pd.to_numeric(
            raw[description.column(f.column).source].replace("", np.nan)
        ).to_numpy(float)
        for f in description.modifiable
    }
    return Base(spec, description, raw, levers, fixed_key, "R-" if spec.text_ids else None)


def jitter(factor, column, observed: np.ndarray, picked: np.ndarray, rng) -> np.ndarray:
    """``picked`` moved by -JITTER..JITTER steps (rungs), inside the observed range."""
    blank = np.isnan(picked)
    moves = rng.integers(-JITTER, JITTER + 1, size=len(picked))
    seen = observed[~np.isnan(observed)]
    if factor.is_ladder:
        grid = factor.grid
        rung = lambda v: np.abs(v[:, None] - grid[None, :]).argmin(axis=1)  # noqa: E731
        low, high = rung(seen).min(), rung(seen).max()
        now = rung(np.where(blank, grid[0], picked))
        out = grid[np.clip(now + moves, low, high)]
    else:
        out = np.clip(picked + moves * factor.step, seen.min(), seen.max())
        if column.type == "integer":
            out = np.round(out)
    out = np.round(out, 6)
    out[blank] = np.nan
    return out


def write_cohort(base: Base, n: int, path: Path, seed: int) -> float:
    """Write a cohort of ``n`` people to ``path``; return its share of distinct problems.

    Each survey's rows are resampled with new ids (whole numbers, or ``R-...`` text on
    the 10-lever example) and every lever is jittered inside the range the survey
    observed; a blank answer stays blank, every other answer is the resampled row's own.
    """
    description = base.description
    rng = np.random.default_rng(seed)
    id_source = description.column(description.id_column).source
    keys = []
    for start in range(0, n, BLOCK):
        size = min(BLOCK, n - start)
        pick = rng.integers(0, len(base.raw), size=size)
        block = base.raw.iloc[pick].reset_index(drop=True)
        numbers = np.arange(start + 1, start + size + 1)
        prefix = base.id_prefix
        block[id_source] = numbers if prefix is None else [f"{prefix}{i:07d}" for i in numbers]
        key = {"fixed": base.fixed_key[pick]}
        for factor in description.modifiable:
            column = description.column(factor.column)
            values = jitter(
                factor, column, base.levers[column.source], base.levers[column.source][pick], rng
            )
            key[factor.column] = values
            fmt = "%d" if column.type == "integer" else "%.6g"
            text = np.char.mod(fmt, np.nan_to_num(values))
            block[column.source] = np.where(np.isnan(values), "", text)
        keys.append(pd.util.hash_pandas_object(pd.DataFrame(key), index=False).to_numpy())
        block.to_csv(path, mode="w" if start == 0 else "a", header=start == 0, index=False)
    return len(np.unique(np.concatenate(keys))) / n


# ----------------------------------------------------------------------------- machine

#: (label, distribution name) of every package a benchmark's machine line may name
PACKAGES = {
    "sleeprx": "sleeprx",
    "HiGHS (highspy)": "highspy",
    "xgboost": "xgboost",
    "dask": "dask",
    "distributed": "distributed",
    "pyarrow": "pyarrow",
    "dice-ml": "dice-ml",
    "oceanpy": "oceanpy",
    "OR-Tools": "ortools",
    "scikit-learn": "scikit-learn",
    "pandas": "pandas",
    "numpy": "numpy",
    "psutil": "psutil",
}


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def installed(name: str) -> str:
    """The installed version of distribution ``name``, or "-"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def machine_line(labels: list[str]) -> str:
    """Cores, CPU, memory, Python and the versions of the packages named by ``labels``
    (keys of :data:`PACKAGES`)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as fh:
        memory = f"{int(fh.readline().split()[1]) / 2**20:.0f} GB"
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = f" ({line.split(':', 1)[1].strip()})"
                break
    return (
        f"{cores}-core {platform.machine()}{cpu}, {memory}, Python {platform.python_version()}, "
        + ", ".join(f"{label} {installed(PACKAGES[label])}" for label in labels)
    )


def git(*args: str, tree: Path = ROOT) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=tree, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def tree_label(label: str, tree: Path) -> str:
    """``label (commit abc1234)``: which sleeprx another checkout holds."""
    return f"{label} ({git('rev-parse', '--short', 'HEAD', tree=tree)})"


def command_head(script: str, argv: list[str] | None) -> str:
    """The command line, the date and the commit of sleeprx, as one sentence."""
    commit = git("rev-parse", "--short", "HEAD")
    dirty = [line for line in git("status", "--porcelain", "sleeprx").splitlines() if line]
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    command = f"python benchmarks/{script} {argv_text}".strip()
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        f"Command: `{command}`. Date {date}; sleeprx at commit {commit}"
        + (f" ({len(dirty)} file(s) under sleeprx/ uncommitted)" if dirty else "")
        + "."
    )


# ------------------------------------------------------------------------------ tables


def markdown(header: list[str], rows: list[list[str]], *, numeric: bool = False) -> str:
    """A markdown table with padded columns; ``numeric`` right-aligns every column but
    the first in the rendered table."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    def dashes(i: int, w: int) -> str:
        return "-" * (w + 1) + ":" if numeric and i else "-" * (w + 2)

    rule = "|" + "|".join(dashes(i, w) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def write_blocks(
    section: str, title: str, header: str, blocks: dict[str, str], *, path: Path | None = None
) -> None:
    """Put ``blocks`` into the section ``section`` of BENCHMARKS.md, each between its
    own markers, replacing a block of the same name and leaving every other line alone.

    A missing section is made after the file's title, headed ``## {title}`` and
    ``header``. Markers are HTML comments ``<!-- {section}:{block}:start -->``.
    ``path`` defaults to the repository's BENCHMARKS.md.
    """
    mark = "<!-- " + section + ":{}:{} -->"
    path = path or ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start_all, end_all = mark.format("section", "start"), mark.format("section", "end")
    if start_all not in text:
        first, _, rest = text.partition("\n")
        made = f"{start_all}\n## {title}\n\n{header}\n{end_all}\n\n---\n"
        text = f"{first}\n\n{made}\n{rest.lstrip()}"
    for name, body in blocks.items():
        start, end = mark.format(name, "start"), mark.format(name, "end")
        new = f"{start}\n{body.rstrip()}\n{end}\n"
        if start in text:
            before, _, after = text.partition(start)
            _, _, after = after.partition(end + "\n")
            text = before + new + after
        else:
            text = text.replace(end_all, new + "\n" + end_all)
    path.write_text(text)
