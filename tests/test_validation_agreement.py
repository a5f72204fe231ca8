"""The vectorised validator agrees with the references it replaces.

* frictionless (the Table Schema reference implementation, still a dependency for the
  data package) finds the committed package valid, and on broken copies it flags the
  same cells for the same reasons as :func:`analysis.data.validate_package`;
* :func:`analysis.validation.percent_count_problem` (written without scipy so that
  validation stays light) rejects exactly the percentages that
  :func:`analysis.effect_sizes.events_from_percent` cannot turn into a count.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import effect_sizes as es
from analysis.data import validate_package
from analysis.validation import bound_rule, percent_count_problem

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

#: Rules of the Table Schema layer, the part frictionless also checks.
SCHEMA_RULES = {"type", "whole-number", "required", "enum", "pattern", "max-length", "duplicate-key",
                "unknown-id", "plausibility", "sd-positive", "se-positive", "n-minimum", "events-minimum",
                "percent-range", "p-range", "weeks_from_start-minimum", "weeks_of_treatment-exclusiveMinimum",
                "sessions-minimum"}


def frictionless_cells(data_dir: Path) -> dict[tuple[str, int, str | None], set[str]]:
    """frictionless' errors as (file, line, column) -> rules, in this project's rule names.

    A foreign key with an empty value refers to nothing (the project's convention, e.g. a
    finding that names no time point), so frictionless' errors for those are dropped.
    """
    from frictionless import Package

    descriptor = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    types = {r["path"]: {f["name"]: f["type"] for f in r["schema"]["fields"]} for r in descriptor["resources"]}
    report = Package(str(data_dir / "datapackage.json")).validate(limit_errors=100_000)
    assert not report.errors, [e.message for e in report.errors]
    found: dict[tuple[str, int, str | None], set[str]] = {}
    for task in report.tasks:
        file = Path(task.place).name
        for err in task.errors:
            line, column = err.row_number, getattr(err, "field_name", None)
            if err.type == "type-error":
                integer = types[file][column] == "integer"
                try:
                    float(err.cell)
                    number = True
                except ValueError:
                    number = False
                rule = "whole-number" if integer and number else "type"
            elif err.type == "constraint-error":
                constraint = re.search(r'constraint "(\w+)"', err.note).group(1)
                rule = {"required": "required", "enum": "enum", "pattern": "pattern",
                        "maxLength": "max-length"}.get(constraint) or bound_rule(column, constraint)
            elif err.type == "primary-key":
                rule, column = "duplicate-key", None
            elif err.type == "foreign-key":
                with open(data_dir / file, encoding="utf-8", newline="") as fh:
                    row = list(csv.DictReader(fh))[line - 2]
                if any(row[c] == "" for c in err.field_names):
                    continue
                rule, column = "unknown-id", err.field_names[-1]
            else:
                rule = err.type
            found.setdefault((file, line, column), set()).add(rule)
    return found


def ours(data_dir: Path) -> dict[tuple[str, int, str | None], str]:
    problems = [p for p in validate_package(data_dir) if p.rule in SCHEMA_RULES]
    cells = {(p.file, p.row, p.column): p.rule for p in problems}
    assert len(cells) == len(problems), "one problem per cell"
    return cells


def _set(data_dir: Path, file: str, match: dict, **cells: str) -> None:
    with open(data_dir / file, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    [i] = [i for i, r in enumerate(rows) if i and all(r[header.index(k)] == v for k, v in match.items())]
    for column, value in cells.items():
        rows[i][header.index(column)] = value
    with open(data_dir / file, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def test_frictionless_finds_the_committed_package_valid():
    assert frictionless_cells(DATA) == {}
    assert validate_package(DATA) == []


GUDEMAN = dict(study_id="gudeman1997", arm_id="dexamethasone", timepoint_id="end_of_treatment")
NIRSCHL = dict(study_id="nirschl2003", arm_id="dexamethasone", outcome_id="global_improvement",
               timepoint_id="day_2_after")

BROKEN = {
    "cells": [
        ("outcomes.csv", GUDEMAN, dict(mean="6,8", sd="0", n="20.5", n_status="reported", n_source="x")),
        ("outcomes.csv", NIRSCHL, dict(percent="101", events="-1", events_status="reported", events_source="x")),
        ("studies.csv", dict(study_id="gudeman1997"),
         dict(label="", scope="running", doi="doi:10.1/x", year="1850", notes="x" * 2001, sessions="0")),
        ("timepoints.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(weeks_from_start="-1", weeks_approximate="yes")),
        ("between_group.csv", dict(study_id="nirschl2003", outcome_id="pain_vas", timepoint_id="day_2_after"),
         dict(p_value="0")),
        ("arms.csv", dict(study_id="neeter2003", arm_id="placebo"), dict(n_randomised="20000000", role="sham")),
    ],
    "limits": [
        ("outcomes.csv", GUDEMAN, dict(mean="2e12", sd="1e13")),
        ("between_group.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(estimate="-5e12", ci_lower="-6e12")),
        ("studies.csv", dict(study_id="neeter2003"), dict(weeks_of_treatment="0", label="N" * 81)),
        ("findings.csv", dict(finding_id="toe_raise_between"), dict(p_value="1e-20", p_relation="=",
                                                                     p_value_status="reported",
                                                                     p_value_source="x")),
    ],
    "keys": [
        ("outcomes.csv", GUDEMAN, dict(arm_id="dexa")),
        ("findings.csv", dict(finding_id="toe_raise_between"), dict(versus_arm_id="saline")),
        ("arms.csv", dict(study_id="neeter2003", arm_id="placebo"), dict(study_id="neeter2004")),
    ],
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_frictionless_and_ours_flag_the_same_cells_for_the_same_reasons(tmp_path, case):
    data_dir = tmp_path / "data"
    shutil.copytree(DATA, data_dir)
    for file, match, cells in BROKEN[case]:
        _set(data_dir, file, match, **cells)
    if case == "keys":  # and a duplicate primary key
        with open(data_dir / "arms.csv", encoding="utf-8") as fh:
            lines = fh.read().splitlines(keepends=True)
        (data_dir / "arms.csv").write_text("".join(lines + [lines[1]]), encoding="utf-8")
    theirs, mine = frictionless_cells(data_dir), ours(data_dir)
    assert set(theirs) == set(mine)
    for cell, rule in mine.items():
        # frictionless lists every bound a cell breaks; we report the first (SD = 0 is "SD > 0")
        assert rule in theirs[cell], (cell, rule, theirs[cell])
    assert len(mine) >= 5


percents = st.one_of(st.integers(0, 100).map(float),
                     st.tuples(st.floats(0, 100), st.integers(0, 4)).map(lambda t: round(t[0], t[1])),
                     st.sampled_from([0.00001, 0.0001, 33.3, 33.33, 50.0, 52.3, 99.95, 100.0]))


@settings(max_examples=600, deadline=None)
@given(percent=percents, n=st.one_of(st.integers(1, 250), st.integers(1, 100_000)))
def test_percent_check_agrees_with_events_from_percent(percent, n):
    try:
        es.events_from_percent(percent, n)
        raised = False
    except ValueError:
        raised = True
    assert (percent_count_problem(percent, n) is not None) == raised


@pytest.mark.parametrize("percent, n, words", [(52.3, 99, "no whole count"), (50.0, 201, "halfway"),
                                               (0.00001, 10, "plain decimal")])
def test_percent_check_says_why(percent, n, words):
    assert words in percent_count_problem(percent, n)
    with pytest.raises(ValueError):
        es.events_from_percent(percent, n)
