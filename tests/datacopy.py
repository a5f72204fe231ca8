"""Editing a copy of the data package in tests: read and write a CSV's rows, find the
line of a row by its cells, set cells. The copy itself is the ``data_dir`` fixture
(tests/conftest.py)."""

from __future__ import annotations

import csv
from pathlib import Path


def read_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def line_of(data_dir: Path, file: str, **match: str) -> int:
    """Line number (header = 1) of the only row whose cells equal ``match``."""
    rows = read_rows(data_dir / file)
    header = rows[0]
    hits = [i + 1 for i, r in enumerate(rows) if i > 0
            and all(r[header.index(k)] == v for k, v in match.items())]
    assert len(hits) == 1, (file, match, hits)
    return hits[0]


def set_cells(data_dir: Path, file: str, line: int, **cells: str) -> None:
    rows = read_rows(data_dir / file)
    header = rows[0]
    for column, value in cells.items():
        rows[line - 1][header.index(column)] = value
    write_rows(data_dir / file, rows)


#: Synthetic (made-up) numbers for Neeter 2003's primary outcome (pain during activity,
#: lower is better): (mean, SD, n) per arm and time point. Neeter's numbers are not
#: public; these are invented so that tests can add a second estimable running-injury
#: trial, as a user who has the paper would.
SYNTHETIC_NEETER = {
    ("dexamethasone", "end_of_treatment"): (3.0, 1.5, 14),
    ("placebo", "end_of_treatment"): (5.0, 2.0, 11),
    ("dexamethasone", "week_6"): (2.0, 1.5, 14),
    ("placebo", "week_6"): (3.0, 2.0, 11),
}


def fill_neeter_synthetic(data_dir: Path, source: str = "test fixture") -> dict[tuple[str, str], int]:
    """Type :data:`SYNTHETIC_NEETER` into ``data_dir/outcomes.csv`` as reported values with
    ``source``; returns the line of each filled row by (arm, time point)."""
    path = data_dir / "outcomes.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    lines = {}
    for line, r in enumerate(rows, start=2):
        key = (r["arm_id"], r["timepoint_id"])
        if r["study_id"] == "neeter2003" and r["outcome_id"] == "pain_activity" and key in SYNTHETIC_NEETER:
            for field, value in zip(("mean", "sd", "n"), SYNTHETIC_NEETER[key]):
                r.update({field: f"{value:g}", f"{field}_status": "reported",
                          f"{field}_source": source, f"{field}_note": ""})
            r["notes"] = "synthetic numbers for a test"
            lines[key] = line
    assert len(lines) == len(SYNTHETIC_NEETER), lines
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return lines
