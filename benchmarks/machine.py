"""What machine a benchmark ran on: one line for its report, and the load average.

Every benchmark prints :func:`describe` first, so a number in the README's performance
table can be traced to the machine, the library versions and how busy the machine was.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or "unknown"."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def describe(*libraries: str) -> str:
    """``machine: CPU; N logical cores; OS; Python; <library versions>`` plus the date and
    the load average, as the benchmarks print it before their numbers."""
    versions = []
    for name in ("numpy", "pandas", *libraries):
        try:
            versions.append(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            versions.append(f"{name} not installed")
    return (f"machine: {cpu_model()}; {os.cpu_count()} logical cores; {platform.system()} "
            f"{platform.machine()}; Python {platform.python_version()}; {', '.join(versions)}\n"
            f"date: {datetime.date.today().isoformat()}; load average (1, 5, 15 min) before: "
            f"{load_average()}")
