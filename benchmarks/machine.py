"""What machine a benchmark ran on: cores, memory, CPU, Python, package versions, load."""

from __future__ import annotations

import contextlib
import os
import platform
from importlib.metadata import PackageNotFoundError, version


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def machine_line(packages: list[tuple[str, str]]) -> str:
    """Cores, CPU, memory, Python and ``packages`` ((label, distribution name) pairs)."""
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

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    return (
        f"{cores}-core {platform.machine()}{cpu}, {memory}, Python {platform.python_version()}, "
        + ", ".join(f"{label} {installed(name)}" for label, name in packages)
    )
