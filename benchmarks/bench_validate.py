"""Benchmark ``load_package`` (validate + load) on data/ and on synthetic large packages.

The synthetic packages repeat every trial of the committed data/ under new ids (study
``gudeman1997`` becomes ``gudeman1997_c17``, with its label, DOI, PMID and PMCID made
unique the same way), so every table grows together and every rule has work to do;
the numbers are the committed ones, repeated. Each size is timed in a fresh
subprocess: ``--repeats`` runs of ``load_package`` after one warm-up, reporting the
minimum and median seconds and the process's peak resident memory. Run from the
repository root:

    .venv/bin/python benchmarks/bench_validate.py [--rows 10000 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"

_UNIQUE_TEXT = {"label": " (copy {k})", "doi": ".c{k}", "pmid": "{k:07d}", "pmcid": "{k:07d}"}


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def build_package(target: Path, outcome_rows: int) -> int:
    """Write a valid package with at least ``outcome_rows`` outcome rows; return the count."""
    descriptor = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    tables = {r["name"]: (r["path"], *_read(DATA / r["path"])) for r in descriptor["resources"]}
    per_copy = len(tables["outcomes"][2])
    copies = -(-outcome_rows // per_copy)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "datapackage.json", target / "datapackage.json")
    for name, (file, header, rows) in tables.items():
        with open(target / file, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            for k in range(copies):
                for row in rows:
                    new = dict(row, study_id=f"{row['study_id']}_c{k}")
                    if name == "studies":
                        for column, suffix in _UNIQUE_TEXT.items():
                            if new[column]:
                                new[column] += suffix.format(k=k)
                    writer.writerow(new)
    return copies * per_copy


_CHILD = r"""
import resource, statistics, sys, time
from analysis.data import load_package
path, repeats = sys.argv[1], int(sys.argv[2])
load_package(path)  # warm-up: imports, caches
times = []
for _ in range(repeats):
    t = time.perf_counter()
    pkg = load_package(path)
    times.append(time.perf_counter() - t)
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(min(times), statistics.median(times), peak_mib, len(pkg.outcomes))
"""


def time_load(path: Path, repeats: int) -> tuple[float, float, float, int]:
    run = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(repeats)], cwd=REPO,
                         capture_output=True, text=True, check=True)
    lo, med, peak, rows = run.stdout.split()
    return float(lo), float(med), float(peak), int(rows)




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000],
                        help="outcome rows of the synthetic packages")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(describe())
    print(f"load_package, {args.repeats} runs after one warm-up, each size in a fresh process")
    print(f"{'package':<28} {'outcome rows':>12} {'min s':>8} {'median s':>9} {'peak MiB':>9}")
    lo, med, peak, rows = time_load(DATA, args.repeats)
    print(f"{'data/ (committed)':<28} {rows:>12,} {lo:>8.3f} {med:>9.3f} {peak:>9.0f}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            target = Path(tmp) / f"synthetic_{n}"
            build_package(target, n)
            lo, med, peak, rows = time_load(target, args.repeats)
            print(f"{'synthetic, trials repeated':<28} {rows:>12,} {lo:>8.3f} {med:>9.3f} {peak:>9.0f}")
            shutil.rmtree(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
