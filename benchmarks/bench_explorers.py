"""Benchmark: how long a live explorer takes to redraw, and the teaching notebook's other
interactive steps.

Run from the repository root:

    python benchmarks/bench_explorers.py [--repeat 15]

Times, each over --repeat runs, printing the minimum and the median in seconds:
1. the forest explorer's redraw (analysis.explorers.LiveExplorer.update) as a student
   moves the Neeter SMD slider through its range, then the CI method, the estimator, the
   time window and the ICC of feet, each redraw being the scenario, the RevMan forest
   plot and its PNG;
2. the catch-up explorer's redraw as the rho slider and the ICC slider move;
3. analysis.teaching.check on a warm cache (the expected answers are computed from the
   data package at the first call; that first call is timed once and shown too);
4. the notebook's two-trial coverage simulation (two_trial_coverage, 2 x 50,000 fits);
5. the static small multiples that replace each explorer headless.
It prints the machine (CPU model, cores, 1-minute load average) first: the explorers run
in one process, so other load on the machine shows in the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import explorers, teaching  # noqa: E402
from machine import describe  # noqa: E402




def _times(fn, repeat: int) -> list[float]:
    out = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def _line(name: str, times: list[float]) -> None:
    print(f"{name:58s} min {min(times):7.3f} s   median {statistics.median(times):7.3f} s"
          f"   ({len(times)} runs)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="runs per measurement")
    args = ap.parse_args(argv)
    n = max(3, args.repeat)
    print(describe("matplotlib") + "\n")

    t0 = time.perf_counter()
    ctx = teaching.teaching_context()
    print(f"loading and validating the data package, building the tables: "
          f"{time.perf_counter() - t0:.2f} s (once per session)\n")
    tables = ctx.tables

    forest = explorers.forest_explorer(tables, static=False)
    smds = [-1.5 + 4.5 * i / (n - 1) for i in range(n)]
    redraws = {
        "forest explorer: Neeter SMD slider": lambda i: forest.update(neeter_smd=round(smds[i], 2)),
        "forest explorer: CI method (Wald / Hartung-Knapp)": lambda i: forest.update(knha=bool(i % 2)),
        "forest explorer: estimator": lambda i: forest.update(
            method=explorers.ESTIMATORS[i % len(explorers.ESTIMATORS)]),
        "forest explorer: time window": lambda i: forest.update(
            window=("end_of_treatment", "about_one_month")[i % 2]),
        "forest explorer: ICC of feet": lambda i: forest.update(icc=round(i / (n - 1), 2)),
    }
    catchup = explorers.catchup_explorer(tables, static=False)
    redraws["catch-up explorer: rho slider"] = lambda i: catchup.update(
        rho=round(0.95 * i / (n - 1), 2))
    redraws["catch-up explorer: ICC of feet"] = lambda i: catchup.update(
        icc=round(i / (n - 1), 2))
    print("Redraw of a live explorer (scenario + figure + PNG), as a slider moves:")
    for name, fn in redraws.items():
        _line(name, _times(fn, n))

    print("\nSelf-checks:")
    teaching._CONTEXTS.clear()
    t0 = time.perf_counter()
    teaching.check("exercise-7a", 0.2)
    first = time.perf_counter() - t0
    print(f"{'check(), first call (loads the package, computes answers)':58s} "
          f"{first:7.3f} s   (once)")
    ids = list(teaching.EXERCISES)
    _line("check(), warm, cycling through every exercise",
          _times(lambda i: teaching.check(ids[i % len(ids)], 1.0), max(n, len(ids))))

    print("\nThe notebook's simulation and the static figures:")
    vi = teaching.two_trial_variances(tables)
    _line("two_trial_coverage (5 tau2 x 10,000 x 2 CI methods)",
          _times(lambda i: teaching.two_trial_coverage(vi), max(3, n // 3)))
    _line("forest_small_multiples (static forest explorer)",
          _times(lambda i: explorers.forest_small_multiples(tables), max(3, n // 3)))
    _line("catchup_small_multiples (static catch-up explorer)",
          _times(lambda i: explorers.catchup_small_multiples(tables), max(3, n // 3)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
