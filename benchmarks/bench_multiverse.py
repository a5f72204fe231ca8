"""Benchmark: the whole multiverse of this review, and a synthetic one of a million
specifications.

Run from the repository root:

    python benchmarks/bench_multiverse.py [--repeat 7] [--stress 1000000] [--stress-repeat 3]

1. The review's multiverse (every combination of the default factors file): effects per
   data choice built from the validated data package, every specification of both windows
   pooled in one pool_batch call, summarised, and the specifications table written as
   CSV to a temporary file. The figure is not included. Loading and validating the data
   package is timed apart (it is the effects step's input, made once).
2. A synthetic stress case: 1,000,000 specifications of k = 2 to 5 studies each (v_i ~
   U(0.01, 0.2), tau2 = 0.05), pooled in one pool_batch call, (a) all REML with Wald CIs,
   (b) each with its own model drawn from the 13 of the default grid (7 tau2 estimators x
   Wald / Hartung-Knapp, no Hartung-Knapp with FE), as the multiverse pools them.

Other engineers run tests on this machine at the same time, so every case is run several
times and the minimum and median are printed (the minimum is the least disturbed run),
with the process's CPU time beside the wall-clock time: the work is single-threaded numpy,
so CPU time is about what the wall clock would show with the machine to itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.data import load_package  # noqa: E402
from analysis.multiverse import multiverse, read_factors  # noqa: E402
from analysis.paths import DATA_DIR  # noqa: E402
from analysis.outputs import csv_chunks, write_output  # noqa: E402
from analysis.pooling import ConvergenceWarning, pool_batch  # noqa: E402
from machine import describe  # noqa: E402

MODELS = [("FE", False)] + [(m, hk) for m in ("REML", "DL", "PM", "ML", "HE", "SJ")
                            for hk in (False, True)]


class Timings(list):
    """Wall-clock times of the runs, with the process's CPU time of each beside them."""

    cpu: list


def _times(fn, repeat: int):
    times, cpu, out = Timings(), [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.cpu = cpu
    return times, out


def _report(label: str, times, target: float | None = None) -> None:
    best, median = min(times), statistics.median(times)
    verdict = "" if target is None else (f"  target < {target:g} s: "
                                         f"{'met' if best < target else 'NOT met'}")
    print(f"{label}: min {best:.3f} s, median {median:.3f} s over {len(times)} runs{verdict}")
    print(f"    process CPU time: min {min(times.cpu):.3f} s, median "
          f"{statistics.median(times.cpu):.3f} s (single-threaded work: about the wall time "
          "on an otherwise idle machine)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs of the review's multiverse")
    ap.add_argument("--stress", type=int, default=1_000_000, help="synthetic specifications")
    ap.add_argument("--stress-repeat", type=int, default=3, help="runs of each stress case")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    print(describe())
    print("other work may share the machine: minimum and median of several runs\n")

    # 1. the review's multiverse
    load_times, pkg = _times(lambda: load_package(DATA_DIR), 2)
    _report("load and validate the data package (not in the target)", load_times)
    grid = read_factors()
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "multiverse.csv"

        def whole():
            result = multiverse(pkg, grid)
            summary = result.summary()
            write_output(csv_chunks(result.specifications), target)
            return result, summary

        times, (result, _) = _times(whole, args.repeat)
    counts = result.counts()
    print(f"the review's multiverse: {grid.n_combinations:,} combinations of choices per window; "
          + "; ".join(f"{r.window}: {r.specifications:,} specifications"
                      for r in counts.itertuples()))
    _report("  built, pooled (one pool_batch call), summarised and written as CSV", times, 1.0)

    # 2. synthetic stress case
    rng = np.random.default_rng(args.seed)
    m = args.stress
    k = rng.integers(2, 6, m)
    groups = np.repeat(np.arange(m, dtype=np.int64), k)
    v = rng.uniform(0.01, 0.2, groups.size)
    y = rng.normal(0.3, np.sqrt(v + 0.05))
    pick = rng.integers(0, len(MODELS), m)
    method = np.array([mo[0] for mo in MODELS], dtype=object)[pick][groups]
    knha = np.array([mo[1] for mo in MODELS])[pick][groups]
    print(f"\nsynthetic: {m:,} specifications, k = 2 to 5 (mean {k.mean():.2f}; "
          f"{groups.size:,} study rows)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        times, res = _times(lambda: pool_batch(y, v, groups), args.stress_repeat)
        failed = int((~res.summary["converged"]).sum())
        _report("  (a) one pool_batch call, all REML, Wald", times, 5.0)
        times, res = _times(lambda: pool_batch(y, v, groups, method=method, knha=knha),
                            args.stress_repeat)
        _report("  (b) one pool_batch call, a model per specification (13 models)", times, 5.0)
        failed_b = int((~res.summary["converged"]).sum())
    print(f"  not converged (reported by name, as metafor stops): (a) {failed}, (b) {failed_b} "
          f"of {m:,}; {len(caught)} warning(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
