"""Benchmark ``python -m analysis pool`` end to end, against a loop of statsmodels.

For each size (default 100,000 and 1,000,000 meta-analyses of k = 5 studies) it writes a
CSV (study, group, yi, vi) to a temporary folder, then runs

    python -m analysis pool FILE --by group --format csv --output OUT

as a subprocess --repeats times, and prints the minimum and median wall-clock seconds
and the peak memory (maximum resident set size of the subprocess, from wait4). In the
same run it times a loop of statsmodels' ``combine_effects`` (Paule-Mandel; statsmodels
has no REML) on --loop meta-analyses of the same data, and compares the command's cost
per meta-analysis at the margin, (t_large - t_small) / (m_large - m_small), with it. It
prints the machine (CPU model, cores, Python and library versions), the load average
before and after, the date, and whether each target is met:

    100,000 groups < 0.8 s;  1,000,000 groups < 6 s and < 1 GB;  >= 30x statsmodels.

Run from the repository root:

    .venv/bin/python benchmarks/bench_cli.py [--sizes 100000 1000000] [--k 5]
        [--method REML] [--repeats 3] [--loop 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from machine import describe, load_average

REPO = Path(__file__).resolve().parents[1]
TARGETS = {100_000: (0.8, None), 1_000_000: (6.0, 1024.0)}  # seconds, MB
MARGIN_TARGET = 30.0


def simulate(groups: int, k: int, seed: int = 20240601):
    """k studies per group; true effects vary around 0.3 with tau² = 0.04."""
    rng = np.random.default_rng(seed)
    n = groups * k
    vi = rng.uniform(0.01, 0.2, n)
    theta = 0.3 + rng.normal(0.0, 0.2, groups).repeat(k)
    yi = theta + rng.normal(0.0, np.sqrt(vi))
    return yi, vi


def write_input(path: Path, groups: int, k: int, seed: int = 20240601) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    yi, vi = simulate(groups, k, seed)
    table = pa.table({
        "study": np.tile(np.arange(1, k + 1), groups),
        "group": np.arange(groups).repeat(k),
        "yi": yi,
        "vi": vi,
    })
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_header="none"))


def run_command(command: list[str], env: dict) -> tuple[float, float, float, str]:
    """Wall-clock seconds, peak RSS in MB, CPU seconds and stderr of one run of ``command``.

    CPU seconds (user + system, all threads) show the work done; on a machine shared
    with other jobs the wall-clock time also holds the time spent waiting for a core.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime, stderr


def statsmodels_loop(count: int, k: int) -> float:
    """Seconds per meta-analysis of a loop of statsmodels' combine_effects (PM)."""
    from statsmodels.stats.meta_analysis import combine_effects

    yi, vi = simulate(count, k, seed=7)
    y, v = yi.reshape(count, k), vi.reshape(count, k)
    best = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            start = time.perf_counter()
            for i in range(count):
                combine_effects(y[i], v[i], method_re="iterated")
            best = min(best, time.perf_counter() - start)
    return best / count






def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--method", default="REML")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop", type=int, default=300,
                        help="meta-analyses in the statsmodels loop")
    args = parser.parse_args(argv)

    print(describe("pyarrow", "statsmodels"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for groups in args.sizes:
            source = Path(tmp) / f"input_{groups}.csv"
            target = Path(tmp) / f"out_{groups}.csv"
            write_input(source, groups, args.k)
            command = [sys.executable, "-m", "analysis", "pool", str(source), "--by", "group",
                       "--format", "csv", "--method", args.method, "--output", str(target)]
            times, peaks, cpus = [], [], []
            for _ in range(args.repeats):
                elapsed, peak, cpu, _ = run_command(command, env)
                times.append(elapsed)
                peaks.append(peak)
                cpus.append(cpu)
            rows = sum(1 for _ in target.open()) - 1
            assert rows == groups, (rows, groups)
            results[groups] = (min(times), float(np.median(times)), max(peaks))
            print(f"python -m analysis pool, {groups:,} meta-analyses x k = {args.k} "
                  f"({groups * args.k:,} rows), --method {args.method}, --format csv: "
                  f"min {min(times):.2f} s, median {np.median(times):.2f} s "
                  f"(all: {', '.join(f'{t:.2f}' for t in times)}); CPU min {min(cpus):.2f} s; "
                  f"peak memory {max(peaks):.0f} MB")
    per_sm = statsmodels_loop(args.loop, args.k)
    print(f"loop of statsmodels combine_effects (PM), {args.loop} meta-analyses: "
          f"{per_sm * 1e6:.0f} us per meta-analysis")
    print(f"load average after: {load_average()}")
    print()
    sizes = sorted(results)
    for groups in sizes:
        limit, memory = TARGETS.get(groups, (None, None))
        best, median, peak = results[groups]
        if limit is not None:
            verdict = "met" if best < limit else "NOT met"
            print(f"target {groups:,} groups < {limit} s: {verdict} (min {best:.2f} s)")
        if memory is not None:
            verdict = "met" if peak < memory else "NOT met"
            print(f"target {groups:,} groups < {memory:.0f} MB: {verdict} ({peak:.0f} MB)")
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        margin = (results[large][0] - results[small][0]) / (large - small)
        ratio = per_sm / margin
        verdict = "met" if ratio >= MARGIN_TARGET else "NOT met"
        print(f"cost per meta-analysis at the margin ({small:,} to {large:,}): "
              f"{margin * 1e6:.2f} us; statsmodels loop / margin = {ratio:.0f}x "
              f"(target >= {MARGIN_TARGET:.0f}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
