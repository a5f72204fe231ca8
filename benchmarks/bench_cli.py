"""Benchmark ``python -m analysis pool`` end to end on 100,000 meta-analyses of k = 5.

Writes a CSV (study, group, yi, vi; 500,000 rows) to a temporary directory, then times
``python -m analysis pool FILE --by group --format csv --output OUT`` as a subprocess,
best of 3, and prints the seconds with the machine it ran on. Run from the repository
root:

    .venv/bin/python benchmarks/bench_cli.py [--groups 100000] [--k 5] [--method REML]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def write_input(path: Path, groups: int, k: int, seed: int = 20240601) -> None:
    """k studies per group; true effects vary around 0.3 with tau² = 0.04."""
    rng = np.random.default_rng(seed)
    n = groups * k
    vi = rng.uniform(0.01, 0.2, n)
    theta = 0.3 + rng.normal(0.0, 0.2, groups).repeat(k)
    yi = theta + rng.normal(0.0, np.sqrt(vi))
    frame = pd.DataFrame({
        "study": np.tile(np.arange(1, k + 1), groups),
        "group": np.arange(groups).repeat(k),
        "yi": yi,
        "vi": vi,
    })
    frame.to_csv(path, index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--method", default="REML")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.csv"
        target = Path(tmp) / "out.csv"
        write_input(source, args.groups, args.k)
        command = [sys.executable, "-m", "analysis", "pool", str(source), "--by", "group",
                   "--format", "csv", "--method", args.method, "--output", str(target)]
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
        rows = sum(1 for _ in target.open()) - 1
    print(f"python -m analysis pool: {args.groups:,} meta-analyses x k = {args.k} "
          f"({args.groups * args.k:,} rows), --method {args.method}, --format csv")
    print(f"output rows: {rows:,}")
    print(f"best of {args.repeats}: {min(times):.2f} s (all: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or 'cpu'},"
          f" Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
