"""Validate the trial data package (``data/``): every problem, located by file, line and column.

The data are a Frictionless Data Package (v2 profile): ten CSV tables (seven of outcome data, three of appraisal) described by
``datapackage.json``. Validation runs in three layers and reports every problem, not
only the first; each :class:`Problem` names the file, the line (the header is line 1),
the column, the rule broken (a key of :data:`RULES`) and what is wrong in words.

1. **Strict CSV reading.** Each file is read once, decoded as UTF-8 and split into
   lines. The header must equal the schema's field names; every row must have the
   header's number of cells; a double quote may only enclose a whole cell; no cell may
   span lines or start or end with a space. Frictionless would silently guess encodings
   and delimiters, so a file that fails here is reported and not checked further (the
   other files still are). Files that cannot be read (permissions, a directory in the
   file's place, an I/O error) are reported under the rule ``unreadable``.
2. **Table Schema rules**, vectorised over whole columns: types (``string``,
   ``number``, ``integer``, ``boolean``), ``required``, ``enum``, ``pattern``,
   ``maxLength``, ``minimum`` / ``maximum`` / ``exclusiveMinimum`` /
   ``exclusiveMaximum``, primary keys and foreign keys, read from the descriptor. A
   foreign key with an empty value refers to nothing and is not checked
   (``findings.csv`` may leave ``outcome_id``, ``timepoint_id`` and ``versus_arm_id``
   empty). The results equal those of the ``frictionless`` library (the test suite
   checks this on broken copies of the package) with two deliberate differences: a
   cell that breaks several bounds is reported once, by the first of
   exclusiveMinimum, minimum, exclusiveMaximum, maximum (so SD = -1 is "SD > 0", not
   also "SD >= 1e-12"), and a non-finite number (NaN, Infinity) is reported as
   ``finite-number`` only. Numbers are compared as double-precision floats.
3. **Cross-field rules**: status, source and note of every value field, applicability
   of the value fields by outcome kind, events <= n, CI order, the same time points for
   every arm, duplicate trials, group sizes a continuous outcome needs, percentages
   consistent with a whole count, and a few more (see :data:`RULES`).

A *value field* ``X`` is four columns ``X, X_status, X_source, X_note``. Status is one
of ``reported``, ``secondary``, ``inferred``, ``missing``; a value is present exactly
when its status is not ``missing``; a present value needs a source; an inferred value
needs a note saying how. A value field that does not apply (for example ``events`` of
a continuous outcome) is entirely empty.

**Plausibility limits** (:data:`LIMITS`, rule ``plausibility``) keep absurd magnitudes
(a typing or unit error, 1e308) out of the analysis, where they would overflow squares
and variances or make figures unreadable. They are ``minimum`` / ``maximum``
constraints in ``datapackage.json`` so that other Table Schema tools enforce them too;
the one limit Table Schema cannot express (a non-zero measurement is at least 1e-12 in
magnitude) is checked here. **Length limits** (:data:`MAX_LENGTHS`) are ``maxLength``
constraints: identifiers, labels drawn in figures, and free text.

Public API: :func:`validate_package`, :class:`Problem`, :class:`DataValidationError`,
:data:`RULES`, :data:`LIMITS`, :data:`MAX_LENGTHS`. :mod:`analysis.data` re-exports them
and turns a valid package into DataFrames.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DataValidationError",
    "LIMITS",
    "MAX_LENGTHS",
    "Problem",
    "RESOURCE_NAMES",
    "RULES",
    "STATUS_VALUES",
    "validate_package",
]

DESCRIPTOR = "datapackage.json"
RESOURCE_NAMES = (
    "studies",
    "arms",
    "timepoints",
    "outcome_definitions",
    "outcomes",
    "between_group",
    "findings",
    "risk_of_bias",
    "pedro_ratings",
    "minimal_important_differences",
)
#: The appraisal tables (risk of bias, PEDro, minimal important differences): their
#: cross-row rules live in :mod:`analysis.risk_of_bias` (:func:`~analysis.risk_of_bias.
#: check_tables`), which reads rows as dicts of cells.
APPRAISAL_TABLES = ("risk_of_bias", "pedro_ratings", "minimal_important_differences")
STATUS_VALUES = ("reported", "secondary", "inferred", "missing")
CONTINUOUS_KINDS = ("change_from_baseline", "final_value")
PROPORTION_KIND = "proportion"

#: Plausibility limits (rule ``plausibility``): value kind -> (columns, lowest, highest,
#: why). ``None`` means no limit on that side beyond the field's own constraint (n >= 1,
#: events >= 0, p > 0, weeks >= 0). ``datapackage.json`` carries the same numbers as
#: ``minimum`` / ``maximum`` constraints of these columns.
LIMITS = {
    "measurement": (
        ("mean", "ci_lower", "ci_upper", "estimate", "scale_min", "scale_max"), -1e12, 1e12,
        "means, CI limits, estimates and scale limits within ±1e12, and a non-zero one at "
        "least 1e-12 in magnitude: every scale in this field is far inside (the Maryland "
        "Foot Score runs 0-100, a VAS 0-100 mm), so a value beyond is a typing or unit "
        "error, and squares of such values stay finite"),
    "spread": (
        ("sd", "se"), 1e-12, 1e12,
        "SDs and SEs within [1e-12, 1e12]: an SD below 1e-12 is zero in all but name and "
        "turns any mean difference into an effect size beyond 1e12"),
    "count": (
        ("n", "events", "n_randomised", "n_analysed", "patients_n", "units_randomised_n",
         "units_analysed_n"), None, 1e7,
        "group sizes and counts at most 10,000,000, more than any trial has randomised"),
    "sessions": (
        ("sessions",), None, 1000,
        "at most 1,000 treatment sessions (the trials here give 4 to 6)"),
    "weeks": (
        ("weeks_from_start", "weeks_of_treatment"), None, 1040,
        "weeks at most 1,040 (20 years), beyond the longest follow-up of any trial in "
        "this field; a larger value is days or a typing error"),
    "year": (
        ("year",), 1900, 2100,
        "publication years 1900-2100"),
    "p-value": (
        ("p_value",), 1e-16, None,
        "printed p-values at least 1e-16 (a z of 8.2): no trial of this size prints a "
        "smaller one, and an SE recovered from it would vanish"),
}

#: Length limits (rule ``max-length``; ``maxLength`` in datapackage.json): column group ->
#: (columns, at most, why).
MAX_LENGTHS = {
    "identifier": (
        ("study_id", "arm_id", "outcome_id", "timepoint_id", "finding_id", "treatment_arm",
         "control_arm", "versus_arm_id"), 64,
        "identifiers are short names (the longest here has 58 characters)"),
    "label": (
        ("label", "name", "as_reported"), 80,
        "labels of trials, arms, outcomes and time points are drawn in figures and "
        "tables; 80 characters fit a forest plot's study column in at most three lines"),
    "reference": (
        ("doi", "pmid", "pmcid"), 200,
        "a DOI, PMID or PMCID"),
    "text": (
        None, 2000,
        "every other text (citations, sources, notes): 2,000 characters, five times the "
        "longest note here; sources are printed in figure footnotes"),
}

#: Rule names used in :attr:`Problem.rule`, with what they check.
RULES = {
    "descriptor": "datapackage.json is readable JSON and describes the ten tables (seven of "
                  "outcome data, three of appraisal) with the types and constraints this "
                  "validator supports",
    "unreadable": "every file can be read (permissions, not a directory, no I/O error)",
    "file-missing": "every described CSV file exists",
    "encoding": "the file is UTF-8",
    "byte-order-mark": "the file has no UTF-8 byte-order mark",
    "empty-file": "the file has a header row",
    "header": "the header equals the schema's field names, in order (a one-column header: wrong delimiter?)",
    "ragged-row": "every row has as many cells as the header",
    "blank-row": "no empty lines between rows",
    "stray-quote": "double quotes only enclose a whole cell",
    "line-break-in-cell": "no cell spans several lines (line numbers stay row numbers)",
    "whitespace": "no cell starts or ends with a space",
    "required": "required field present",
    "type": "the cell has the field's type",
    "whole-number": "integer fields (n, events, ...) hold whole numbers",
    "finite-number": "numbers are finite (no NaN, Infinity)",
    "enum": "the cell is one of the allowed values",
    "pattern": "the cell matches the field's pattern",
    "max-length": "text within its length limit (MAX_LENGTHS: ids 64, labels 80, other text 2,000)",
    "plausibility": "numbers within the plausibility limits of their kind (LIMITS)",
    "sd-positive": "SD > 0",
    "se-positive": "SE > 0",
    "n-minimum": "n >= 1 (also n_randomised, n_analysed, patients_n, ...)",
    "events-minimum": "events >= 0",
    "percent-range": "percent within 0-100",
    "p-range": "p-value in (0, 1]",
    "weeks_from_start-minimum": "weeks from the start of treatment >= 0",
    "weeks_of_treatment-exclusiveMinimum": "weeks of treatment > 0",
    "sessions-minimum": "sessions >= 1",
    "duplicate-key": "no duplicate primary key",
    "unknown-id": "study, arm, outcome and time point ids exist (foreign keys)",
    "duplicate-study": "no two trials share a DOI (ignoring case), a PMID, a PMCID or a label "
                       "(ignoring case): a trial entered twice would be pooled twice",
    "status-required": "a value, source or note comes with a status",
    "missing-has-value": "a value with status missing is empty",
    "value-required": "a value with status reported, secondary or inferred is present",
    "source-required": "a present value has a source",
    "note-required": "an inferred value has a note saying how",
    "applicability": "value fields filled exactly as the outcome kind or measure requires",
    "kind-required": "an outcome with rows in outcomes.csv has a kind and a direction",
    "events-le-n": "events <= n (the row's n, else the arm's n analysed, else n randomised)",
    "percent-count": "a percentage is a whole count of its n (the row's n, else the arm's), "
                     "at the decimals it is given with",
    "n-for-sd": "a continuous outcome has n >= 2 per arm (its rows' n and, for a trial with "
                "continuous outcomes, the arms' n randomised and n analysed): an SD, and so "
                "an SMD, needs two observations",
    "ci-order": "CI lower <= CI upper",
    "ci-width": "an arm's CI has positive width (it gives the SD where none is reported)",
    "estimate-in-ci": "the estimate lies within its CI",
    "p-relation": "p_relation present exactly when p_value is",
    "same-arm": "a comparison has two different arms",
    "versus-arm": "between-group findings name the comparator arm, within-group ones do not",
    "timepoints-consistent": "for each trial x outcome every arm has rows at the same time points",
    "weeks-note-required": "weeks_note present when weeks_approximate is true",
    "scale-order": "scale_min <= scale_max",
    "n-analysed-le-randomised": "an arm's n_analysed <= n_randomised",
    "arm-roles": "a trial with outcome rows has exactly one treatment arm and one control arm (the "
                 "comparison the analysis makes; any other arm has role other)",
    "primary-outcome": "a trial with outcome rows has exactly one primary outcome (two would enter the "
                       "same pooled analysis as two trials)",
}


def _appraisal_rules() -> dict[str, str]:
    """The appraisal tables' own rules (:data:`analysis.risk_of_bias.RULES`)."""
    from analysis.risk_of_bias import RULES as appraisal

    return dict(appraisal)


RULES.update(_appraisal_rules())
RULES.update({
    "pedro-score-range": "a PEDro total score is from 0 to 10",
    "mid-positive": "a minimal important difference is > 0",
})

# Bound constraints translated to rule names: (column, constraint) -> rule. Bounds of
# LIMITS are "plausibility"; n-like minimums are "n-minimum"; the rest are named
# "<column>-<constraint>" and listed in RULES.
_CONSTRAINT_RULES = {
    ("sd", "exclusiveMinimum"): "sd-positive",
    ("se", "exclusiveMinimum"): "se-positive",
    ("events", "minimum"): "events-minimum",
    ("percent", "minimum"): "percent-range",
    ("percent", "maximum"): "percent-range",
    ("p_value", "exclusiveMinimum"): "p-range",
    ("p_value", "maximum"): "p-range",
    ("score", "minimum"): "pedro-score-range",
    ("score", "maximum"): "pedro-score-range",
    ("mid_lower", "exclusiveMinimum"): "mid-positive",
    ("mid_upper", "exclusiveMinimum"): "mid-positive",
}
_N_COLUMNS = {"n", "n_randomised", "n_analysed", "patients_n", "units_randomised_n", "units_analysed_n"}
_BOUNDS = (  # checked in this order; a cell is reported for the first bound it breaks
    ("exclusiveMinimum", ">", np.greater),
    ("minimum", ">=", np.greater_equal),
    ("exclusiveMaximum", "<", np.less),
    ("maximum", "<=", np.less_equal),
)
_SUPPORTED_TYPES = ("string", "number", "integer", "boolean")
_SUPPORTED_CONSTRAINTS = {
    "string": {"required", "enum", "pattern", "maxLength"},
    "number": {"required", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "integer": {"required", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "boolean": {"required"},
}
_DEFAULT_TRUE = ["true", "True", "TRUE", "1"]
_DEFAULT_FALSE = ["false", "False", "FALSE", "0"]
_SMALLEST_MEASUREMENT = 1e-12
_SEP = "\x1f"  # joins key columns (ids match ^[a-z][a-z0-9_]*$, so valid keys cannot collide)


def plausibility_rule(column: str, constraint: str) -> bool:
    """True when ``constraint`` of ``column`` is one of the plausibility limits."""
    for columns, low, high, _ in LIMITS.values():
        if column in columns:
            return (constraint == "minimum" and low is not None) or (
                constraint == "maximum" and high is not None)
    return False


def bound_rule(column: str, constraint: str) -> str:
    """The rule name under which a broken bound of ``column`` is reported."""
    if (column, constraint) in _CONSTRAINT_RULES:
        return _CONSTRAINT_RULES[(column, constraint)]
    if plausibility_rule(column, constraint):
        return "plausibility"
    if column in _N_COLUMNS and constraint == "minimum":
        return "n-minimum"
    return f"{column}-{constraint}"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Problem:
    """One problem in the data package.

    ``file`` is the file name inside the data directory, ``row`` the line number in
    that file (the header is line 1) or None, ``column`` the column name or None,
    ``rule`` a key of :data:`RULES`, ``message`` what is wrong, in words.
    """

    file: str
    row: int | None
    column: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"line {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message} [rule: {self.rule}]"


class DataValidationError(ValueError):
    """The data package has problems; ``.problems`` lists all of them."""

    def __init__(self, problems: list[Problem], data_dir: str | Path | None = None):
        self.problems = list(problems)
        self.data_dir = data_dir
        head = f"{len(self.problems)} problem(s) in the data package"
        if data_dir is not None:
            head += f" {data_dir}"
        super().__init__("\n".join([head + ":"] + [str(p) for p in self.problems]))


def _show(cell: str, limit: int = 60) -> str:
    """A cell for a message: its repr, cut at ``limit`` characters."""
    if len(cell) <= limit:
        return repr(cell)
    return repr(cell[:limit]) + f"... ({len(cell)} characters)"


def _fmt(x: float) -> str:
    """A limit or number for a message: 0, 100, 1e+12, 1e-12, 0.5."""
    return format(float(x), ".12g")


# --------------------------------------------------------------------------- tables


@dataclass
class _Table:
    """One CSV file: its header, its cells as columns of strings ("" for empty) and,
    once checked, the parsed numbers and booleans. Row ``i`` is on line ``i + 2``."""

    name: str
    file: str
    schema: dict
    header: list[str] = field(default_factory=list)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    booleans: dict[str, np.ndarray] = field(default_factory=dict)
    ok: bool = False
    _filled: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _keys: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def fields(self) -> dict[str, dict]:
        return {f["name"]: f for f in self.schema.get("fields", [])}

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def line(self, i) -> int:
        return int(i) + 2

    def col(self, name: str) -> np.ndarray:
        return self.columns[name]

    def filled(self, name: str) -> np.ndarray:
        if name not in self._filled:
            self._filled[name] = self.columns[name] != ""
        return self._filled[name]

    def num(self, name: str) -> np.ndarray:
        """Parsed numbers of a number or integer column; NaN where empty or invalid."""
        return self.numbers[name]


class _RowView:
    """A table's rows as dicts of cell strings, with their line numbers (the form the
    appraisal tables' rules read; :mod:`analysis.risk_of_bias`)."""

    def __init__(self, table: _Table):
        self.file = table.file
        self.lines = [table.line(i) for i in range(table.n_rows)]
        cells = zip(*(table.columns[h] for h in table.header)) if table.header else []
        self.rows = [dict(zip(table.header, map(str, row))) for row in cells]


class _Problems(list):
    """The problems found so far, with helpers that add one per flagged row."""

    def each(self, table: _Table, mask: np.ndarray, column: str | None, rule: str, message) -> None:
        """One problem per True in ``mask``; ``message(i)`` words it for row ``i``."""
        for i in np.flatnonzero(mask):
            self.append(Problem(table.file, table.line(i), column, rule, message(int(i))))


def _isin(values: np.ndarray, allowed) -> np.ndarray:
    """Membership of each cell in ``allowed``, by hashing (``np.isin`` compares object
    arrays element by element, quadratic in the number of ids)."""
    allowed = set(allowed)
    return np.fromiter(map(allowed.__contains__, values), dtype=bool, count=len(values))


def _keys(table: _Table, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """One string per row joining the cells of ``names`` (for set membership and grouping)."""
    names = tuple(names)
    if len(names) == 1:
        return table.col(names[0])
    if names not in table._keys:
        joined = map(_SEP.join, zip(*(table.col(n) for n in names)))
        table._keys[names] = np.fromiter(joined, dtype=object, count=table.n_rows)
    return table._keys[names]


# --------------------------------------------------------------------------- reading


def _scan_quotes(text: str) -> list[tuple[int, int, int, str]]:
    """Misplaced quotes and multi-line cells, as (line, field index, character, kind).

    A double quote may only open a cell (as its first character), close it (followed by
    a comma or the end of the line), or be doubled inside a quoted cell. ``kind`` is
    ``"stray"`` for any other quote and ``"line-break"`` for a quoted cell that runs
    past the end of its line (a line break in a cell, or an unclosed quote).
    """
    found: list[tuple[int, int, int, str]] = []
    i, n = 0, len(text)
    line, fld, col, at_start = 1, 0, 0, True
    while i < n:
        c = text[i]
        if at_start and c == '"':
            start_line, start_col, broke = line, col, False
            i += 1
            col += 1
            while True:
                if i >= n:
                    if not broke:
                        found.append((start_line, fld, start_col, "line-break"))
                    return found
                c = text[i]
                if c == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        i += 2
                        col += 2
                        continue
                    i += 1
                    col += 1
                    break
                if c in "\r\n":
                    if not broke:
                        found.append((start_line, fld, start_col, "line-break"))
                        broke = True
                    if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                        i += 1
                    i += 1
                    line, col = line + 1, 0
                    continue
                i += 1
                col += 1
            if i < n and text[i] not in ",\r\n":
                found.append((line, fld, col, "stray"))
                while i < n and text[i] not in ",\r\n":
                    i += 1
                    col += 1
            at_start = False
            continue
        if c == ",":
            fld += 1
            at_start = True
        elif c in "\r\n":
            if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            line, col, fld, at_start = line + 1, -1, 0, True
        else:
            if c == '"':
                found.append((line, fld, col, "stray"))
            at_start = False
        i += 1
        col += 1
    return found


def _find_stray_quote(line: str) -> tuple[int, int] | None:
    """(character position, field index) of the first misplaced quote on one line, or None."""
    for _, fld, pos, _kind in _scan_quotes(line):
        return pos, fld
    return None


_QUOTED_CELL = r'"(?:[^"]|"")*"'
_VALID_LINE = re.compile(rf'(?:{_QUOTED_CELL}|[^",]*)(?:,(?:{_QUOTED_CELL}|[^",]*))*')
_CELL = re.compile(rf'(?:^|(?<=,))({_QUOTED_CELL}|[^",]*)')
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def _quotes_well_placed(line: str) -> bool:
    """True when every double quote on ``line`` opens a cell, closes it or is doubled inside
    it, and the last quoted cell is closed (the same as ``_VALID_LINE.fullmatch``, faster).

    Split at the quotes, the pieces alternate outside / inside: the text before the first
    quote is empty or ends a cell (","), the text after the last is empty or starts one,
    and text between a closing and an opening quote is empty (a doubled quote) or runs
    from a comma to a comma.
    """
    parts = line.split('"')
    if len(parts) == 1:
        return True
    if len(parts) % 2 == 0:
        return False
    first, last = parts[0], parts[-1]
    if (first and first[-1] != ",") or (last and last[0] != ","):
        return False
    return all(not p or (p[0] == "," and p[-1] == ",") for p in parts[2:-1:2])


def _split_quoted(line: str) -> list[str]:
    """The cells of one line that matches :data:`_VALID_LINE` (quotes removed, "" -> ")."""
    return [c[1:-1].replace('""', '"') if c.startswith('"') else c for c in _CELL.findall(line)]


def _parse_header(line: str) -> list[str] | None:
    """The header cells of the first line, or None if the line is not valid CSV."""
    if _VALID_LINE.fullmatch(line) is None:
        return None
    return _split_quoted(line)


def _header_message(header: list[str] | None, expected: list[str]) -> str:
    if header is None:
        return "the header row is not valid comma-separated text (misplaced quotes)"
    if len(header) == 1 and any(d in header[0] for d in ";\t|"):
        return (f"the header is a single column {header[0][:60]!r}: wrong delimiter? "
                f"the file must be comma-separated")
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"unexpected columns {extra}")
    if not parts:
        parts.append("columns out of order")
    return "header does not match the schema in datapackage.json: " + "; ".join(parts)


def _unreadable(file: str, exc: OSError) -> Problem:
    reason = exc.strerror or type(exc).__name__
    return Problem(file, None, None, "unreadable",
                   f"cannot be read ({reason}); it must be a file this user may read")


def _read_bytes(path: Path, file: str, problems: _Problems) -> bytes | None:
    """The file's bytes; None (with a problem) if it is absent or cannot be read."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        problems.append(Problem(file, None, None, "file-missing", f"file not found in {path.parent}"))
        return None
    except OSError as exc:
        problems.append(_unreadable(file, exc))
        return None
    if stat.S_ISDIR(mode):
        problems.append(_unreadable(file, IsADirectoryError(21, "it is a directory")))
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        problems.append(_unreadable(file, exc))
        return None


def _read_csv(data_dir: Path, resource: dict, problems: _Problems) -> _Table:
    """Read one CSV strictly; append structural problems; ``ok`` False if any."""
    name, file = resource["name"], resource["path"]
    schema = resource.get("schema") or {}
    expected = [f["name"] for f in schema.get("fields", [])]
    table = _Table(name, file, schema)
    raw = _read_bytes(data_dir / file, file, problems)
    if raw is None:
        return table
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(
            file, line, None, "encoding",
            f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} "
            f"(save the file as UTF-8; Latin-1 or Windows-1252?)"))
        return table
    del raw
    if text.startswith("\ufeff"):
        problems.append(Problem(file, 1, None, "byte-order-mark",
                                "starts with a UTF-8 byte-order mark; save as UTF-8 without BOM"))
        return table
    if not text.strip():
        problems.append(Problem(file, None, None, "empty-file", "the file is empty (no header row)"))
        return table

    lines = _LINE_BREAKS.split(text) if "\r" in text else text.split("\n")
    if lines[-1] == "":
        lines.pop()
    header = _parse_header(lines[0])
    if header != expected:
        problems.append(Problem(file, 1, None, "header", _header_message(header, expected)))
        return table

    # Quotes: a line without a quote cannot misplace one or open a multi-line cell; a line
    # with quotes must be a complete CSV record. The first line that is not is scanned
    # from there on character by character (every earlier line ended a record).
    quoted = [i for i, line in enumerate(lines) if '"' in line]
    bad = next((i for i in quoted if i > 0 and not _quotes_well_placed(lines[i])), None)
    if bad is not None:
        _report_quotes(file, expected, "\n".join(lines[bad:]), bad, problems)
        return table

    n_before = len(problems)
    width = len(expected)
    # every line is a whole record now: split the lines without quotes at the commas and
    # give the others to the C reader, one record per line
    records: list[list[str]] = [line.split(",") if line else [] for line in lines]
    quoted = [i for i in quoted if i > 0]
    try:
        for i, cells in zip(quoted, csv.reader([lines[i] for i in quoted], strict=True)):
            records[i] = cells
    except csv.Error:  # a cell beyond the csv module's field size limit
        for i in quoted:
            records[i] = _split_quoted(lines[i])
    del records[0], lines
    for i, cells in enumerate(records):
        if len(cells) == width:
            continue
        if not cells:
            problems.append(Problem(file, i + 2, None, "blank-row", "empty line between rows"))
        else:
            problems.append(Problem(
                file, i + 2, None, "ragged-row",
                f"{len(cells)} cells but the header has {width} (a missing or extra comma?)"))
    for i in _edge_space_candidates(records):
        cells = records[i]
        if len(cells) != width:
            continue
        for column, cell in zip(expected, cells):
            if cell != cell.strip():
                problems.append(Problem(file, i + 2, column, "whitespace",
                                        f"leading or trailing space in {_show(cell)}"))
    if len(problems) > n_before:
        return table
    grid = np.empty((len(records), width), dtype=object)  # one row per record, then per column
    if records:
        grid[:] = records
    table.columns = dict(zip(expected, np.ascontiguousarray(grid.T)))
    table.header = expected
    table.ok = True
    return table


def _edge_space_candidates(records: list[list[str]]) -> list[int]:
    """Indices of records where a cell may start or end with whitespace (a superset; the
    cells decide). The cells are joined with "|": a cell edge is then a record edge or next
    to a "|", and Python calls every whitespace character but the ASCII space
    non-printable, so ``isprintable`` catches tabs, no-break spaces and the like."""
    found = []
    for i, cells in enumerate(records):
        joined = "|".join(cells)
        if ("| " in joined or " |" in joined or joined[:1] == " " or joined[-1:] == " "
                or not joined.isprintable()):
            found.append(i)
    return found


def _report_quotes(file: str, expected: list[str], text: str, offset: int, problems: _Problems) -> None:
    seen: set[tuple[int, str]] = set()
    for number, field_index, pos, kind in _scan_quotes(text):
        number += offset
        if (number, kind) in seen:
            continue
        seen.add((number, kind))
        column = expected[field_index] if field_index < len(expected) else None
        if kind == "stray":
            problems.append(Problem(
                file, number, column, "stray-quote",
                f"misplaced double quote at character {pos + 1}: quotes may only enclose a whole "
                f"cell (write a quote inside a quoted cell as \"\")"))
        else:
            problems.append(Problem(
                file, number, column, "line-break-in-cell",
                "a quoted cell runs past the end of the line: a line break in the cell, or an "
                "unclosed quote? (cells may not span lines)"))


# --------------------------------------------------------------------------- descriptor


def _descriptor_path(data_dir: Path) -> Path:
    """The descriptor's path; FileNotFoundError if the directory or descriptor is absent."""
    try:
        is_dir = stat.S_ISDIR(os.stat(data_dir).st_mode)
    except OSError:
        is_dir = False
    if not is_dir:
        raise FileNotFoundError(f"data directory not found: {data_dir}")
    path = data_dir / DESCRIPTOR
    try:
        os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no {DESCRIPTOR} in {data_dir}: not a data package") from None
    except OSError:
        pass  # reported as unreadable when it is read
    return path


def _load_descriptor(path: Path, problems: _Problems) -> dict | None:
    raw = _read_bytes(path, DESCRIPTOR, problems)
    if raw is None:
        return None
    try:
        descriptor = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(DESCRIPTOR, None, None, "descriptor", f"not valid UTF-8: {exc}"))
        return None
    except json.JSONDecodeError as exc:
        problems.append(Problem(DESCRIPTOR, exc.lineno, None, "descriptor", f"not valid JSON: {exc.msg}"))
        return None
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("resources"), list):
        problems.append(Problem(DESCRIPTOR, None, None, "descriptor", "no 'resources' list"))
        return None
    return descriptor


def _schema_problems(schema: dict) -> list[str]:
    """What in a resource's schema this validator cannot check as described."""
    out: list[str] = []
    names = []
    for i, f in enumerate(schema["fields"]):
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            out.append(f"field {i} has no name")
            continue
        names.append(f["name"])
        ftype = f.get("type", "string")
        if ftype not in _SUPPORTED_TYPES:
            out.append(f"field {f['name']!r} has type {ftype!r}; supported: {', '.join(_SUPPORTED_TYPES)}")
            continue
        cons = f.get("constraints", {})
        if not isinstance(cons, dict):
            out.append(f"field {f['name']!r}: constraints must be an object")
            continue
        for key, value in cons.items():
            if key not in _SUPPORTED_CONSTRAINTS[ftype]:
                out.append(f"field {f['name']!r}: constraint {key!r} is not supported for type {ftype} "
                           f"(supported: {', '.join(sorted(_SUPPORTED_CONSTRAINTS[ftype]))})")
            elif key == "pattern":
                try:
                    re.compile(value)
                except (re.error, TypeError) as exc:
                    out.append(f"field {f['name']!r}: pattern {value!r} is not a valid regular expression ({exc})")
            elif key == "enum" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)
                                        if ftype == "string" else isinstance(value, list)):
                out.append(f"field {f['name']!r}: enum must be a list of allowed values")
            elif key == "maxLength" and not (isinstance(value, int) and value >= 0):
                out.append(f"field {f['name']!r}: maxLength must be a whole number >= 0")
            elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") and not (
                    isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
                out.append(f"field {f['name']!r}: {key} must be a finite number")
            elif key == "required" and not isinstance(value, bool):
                out.append(f"field {f['name']!r}: required must be true or false")
    if len(set(names)) != len(names):
        out.append("field names are not unique")
    if schema.get("missingValues", [""]) != [""]:
        out.append("missingValues must be [\"\"] (an empty cell is the only missing value)")
    pk = schema.get("primaryKey", [])
    pk = [pk] if isinstance(pk, str) else pk
    if not all(k in names for k in pk):
        out.append(f"primaryKey {pk} names fields the schema does not have")
    for fk in schema.get("foreignKeys", []):
        fields = fk.get("fields") if isinstance(fk, dict) else None
        ref = fk.get("reference", {}) if isinstance(fk, dict) else {}
        fields = [fields] if isinstance(fields, str) else fields
        ref_fields = ref.get("fields") if isinstance(ref, dict) else None
        ref_fields = [ref_fields] if isinstance(ref_fields, str) else ref_fields
        if (not isinstance(fields, list) or not all(k in names for k in fields)
                or not isinstance(ref_fields, list) or len(ref_fields) != len(fields)
                or ref.get("resource") not in RESOURCE_NAMES):
            out.append(f"foreign key {fk!r} is not of the form fields -> (resource, fields) "
                       f"with fields of this table and a resource of the package")
    return out


def _check_resources(descriptor: dict, problems: _Problems) -> dict[str, dict]:
    """The described resources by name, checked for what this module relies on."""
    found: dict[str, dict] = {}
    for i, res in enumerate(descriptor["resources"]):
        name = res.get("name") if isinstance(res, dict) else None
        if name not in RESOURCE_NAMES:
            problems.append(Problem(DESCRIPTOR, None, None, "descriptor",
                                    f"resource {i} has unknown name {name!r}; expected one of {list(RESOURCE_NAMES)}"))
            continue
        path = res.get("path")
        if not isinstance(path, str) or "/" in path or "\\" in path or not path.endswith(".csv"):
            problems.append(Problem(DESCRIPTOR, None, None, "descriptor",
                                    f"resource {name!r}: path must be a .csv file name inside the data directory "
                                    f"(got {path!r})"))
            continue
        schema = res.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
            problems.append(Problem(DESCRIPTOR, None, None, "descriptor",
                                    f"resource {name!r} has no inline schema with fields"))
            continue
        bad = _schema_problems(schema)
        if bad:
            for text in bad:
                problems.append(Problem(DESCRIPTOR, None, None, "descriptor", f"resource {name!r}: {text}"))
            continue
        if name in found:
            problems.append(Problem(DESCRIPTOR, None, None, "descriptor", f"resource {name!r} described twice"))
            continue
        found[name] = res
    for name in RESOURCE_NAMES:
        if name not in found and not any(p.message.startswith(f"resource {name!r}") for p in problems):
            problems.append(Problem(DESCRIPTOR, None, None, "descriptor", f"resource {name!r} is not described"))
    return found


# --------------------------------------------------------------------------- Table Schema


def _parse_numbers(values: np.ndarray, integer: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a column of number or integer cells, each distinct text once.

    Returns the floats (NaN where empty or not a number), a mask of cells that are not
    numbers, and (for integers) a mask of numbers that are not whole. A number is what
    Python's ``Decimal`` reads, as frictionless does ("1e3", "+5", "NaN", "Infinity");
    an integer is what ``int`` reads.
    """
    codes, uniques = pd.factorize(values)
    u_val = np.full(len(uniques), np.nan)
    u_bad = np.zeros(len(uniques), dtype=bool)
    u_frac = np.zeros(len(uniques), dtype=bool)
    for k, text in enumerate(uniques):
        if text == "":
            continue
        try:
            d = Decimal(text)
        except (InvalidOperation, ValueError):
            u_bad[k] = True
            continue
        u_val[k] = math.nan if d.is_nan() else float(d)
        if integer:
            try:
                int(text)
            except ValueError:
                u_frac[k] = True
    return u_val[codes], u_bad[codes], u_frac[codes]


def _check_field(table: _Table, name: str, spec: dict, problems: _Problems) -> None:
    """Type and constraints of one column."""
    raw = table.col(name)
    present = raw != ""
    ftype = spec.get("type", "string")
    cons = spec.get("constraints", {})
    if cons.get("required"):
        problems.each(table, ~present, name, "required", lambda i: "a value is required")
    valid = present
    values = None
    if ftype in ("number", "integer"):
        values, bad, frac = _parse_numbers(raw, ftype == "integer")
        problems.each(table, bad, name, "type",
                      lambda i: f"must be of type {ftype} (got {_show(raw[i])})")
        problems.each(table, frac & ~bad, name, "whole-number",
                      lambda i: f"must be a whole number (got {raw[i][:60]})")
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(values)
        problems.each(table, present & ~bad & ~finite, name, "finite-number",
                      lambda i: f"must be a finite number (got {raw[i][:60]})")
        valid = present & ~bad & ~frac & finite
        values = np.where(valid | (frac & finite), values, np.nan)
        table.numbers[name] = values
    elif ftype == "boolean":
        true_values = spec.get("trueValues", _DEFAULT_TRUE)
        false_values = spec.get("falseValues", _DEFAULT_FALSE)
        is_true = _isin(raw, true_values)
        bad = present & ~is_true & ~_isin(raw, false_values)
        problems.each(table, bad, name, "type", lambda i: f"must be of type boolean (got {_show(raw[i])})")
        table.booleans[name] = is_true
        valid = present & ~bad
    if "enum" in cons:
        allowed = cons["enum"]
        if values is not None:
            ok = np.isin(values, np.array([float(v) for v in allowed]))
        else:
            ok = _isin(raw, allowed)
        problems.each(table, valid & ~ok, name, "enum",
                      lambda i: f"must be one of {', '.join(map(str, allowed))} (got {_show(raw[i])})")
    if "pattern" in cons:
        pattern = re.compile(f"^{cons['pattern']}$")
        codes, uniques = pd.factorize(raw)
        matches = np.array([pattern.match(u) is not None for u in uniques], dtype=bool)
        problems.each(table, valid & ~matches[codes], name, "pattern",
                      lambda i: f"must match {cons['pattern']} (got {_show(raw[i])})")
    if "maxLength" in cons:
        limit = cons["maxLength"]
        lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
        problems.each(table, valid & (lengths > limit), name, "max-length",
                      lambda i: (f"{len(raw[i])} characters, at most {limit} allowed "
                                 f"({_length_reason(name)}): {_show(raw[i], 40)}"))
    if values is not None:
        reported = np.zeros(len(raw), dtype=bool)
        for constraint, word, compare in _BOUNDS:
            if constraint not in cons:
                continue
            bound = cons[constraint]
            with np.errstate(invalid="ignore"):
                broken = valid & ~reported & ~compare(values, bound)
            rule = bound_rule(name, constraint)
            why = f"; {_limit_reason(name)}" if rule == "plausibility" else ""
            problems.each(table, broken, name, rule,
                          lambda i: (f"must be {word} {_fmt(bound)} "
                                     f"(got {repr(float(values[i])) if ftype == 'number' else raw[i]}){why}"))
            reported |= broken


def _limit_reason(column: str) -> str:
    for kind, (columns, _, _, why) in LIMITS.items():
        if column in columns:
            plural = kind if kind.endswith("s") else f"{kind}s"
            return f"plausibility limit for {plural}: {why.split(':')[0]}"
    return ""


def _length_reason(column: str) -> str:
    for group, (columns, _, _) in MAX_LENGTHS.items():
        if columns is not None and column in columns:
            return f"{group} limit"
    return "text limit"


def _check_primary_key(table: _Table, problems: _Problems) -> None:
    pk = table.schema.get("primaryKey", [])
    pk = [pk] if isinstance(pk, str) else list(pk)
    if not pk or table.n_rows == 0:
        return
    keys = _keys(table, pk)
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        j = first.setdefault(k, i)
        if j != i:
            values = ", ".join(table.col(c)[i] for c in pk)
            problems.append(Problem(table.file, table.line(i), None, "duplicate-key",
                                    f"duplicate primary key ({', '.join(pk)}) = ({values}), "
                                    f"as on line {table.line(j)}"))


def _check_foreign_keys(tables: dict[str, _Table], table: _Table, problems: _Problems) -> None:
    for fk in table.schema.get("foreignKeys", []):
        names = [fk["fields"]] if isinstance(fk["fields"], str) else list(fk["fields"])
        ref = fk["reference"]
        ref_fields = [ref["fields"]] if isinstance(ref["fields"], str) else list(ref["fields"])
        target = tables.get(ref["resource"])
        if target is None or not target.ok or table.n_rows == 0:
            continue  # a missing or unreadable table is reported on its own
        keys = _keys(table, names)
        complete = np.logical_and.reduce([table.filled(c) for c in names])
        unknown = complete & ~_isin(keys, _keys(target, ref_fields))
        problems.each(table, unknown, names[-1], "unknown-id",
                      lambda i: (f"({', '.join(names)}) = ({', '.join(table.col(c)[i] for c in names)}) "
                                 f"not found in {ref['resource']}.csv ({', '.join(ref_fields)})"))


# --------------------------------------------------------------------------- own rules


def _value_fields(header: list[str]) -> list[str]:
    cols = set(header)
    return [c for c in header if {f"{c}_status", f"{c}_source", f"{c}_note"} <= cols]


def _check_value_fields(table: _Table, problems: _Problems) -> None:
    """Status, source and note of every value field."""
    known = ("reported", "secondary", "inferred")
    for x in _value_fields(table.header):
        value, status = table.col(x), table.col(f"{x}_status")
        has_value, has_source, has_note = table.filled(x), table.filled(f"{x}_source"), table.filled(f"{x}_note")
        no_status = status == ""

        def first_filled(i, x=x):
            col = next(c for c in (x, f"{x}_source", f"{x}_note") if table.col(c)[i] != "")
            return f"{col} is filled but {x}_status is empty"

        problems.each(table, no_status & (has_value | has_source | has_note), f"{x}_status",
                      "status-required", first_filled)
        problems.each(table, (status == "missing") & has_value, x, "missing-has-value",
                      lambda i, value=value: (f"status is missing but a value is given ({value[i][:60]}); "
                                              f"empty the value or give its real status"))
        is_known = _isin(status, known)
        problems.each(table, is_known & ~has_value, x, "value-required",
                      lambda i, x=x, status=status: f"status is {status[i]} but {x} is empty")
        problems.each(table, is_known & has_value & ~has_source, f"{x}_source", "source-required",
                      lambda i, x=x, value=value: f"{x} = {value[i][:60]} has no source")
        problems.each(table, (status == "inferred") & ~has_note, f"{x}_note", "note-required",
                      lambda i, x=x: f"{x} is inferred: say how in {x}_note")


def _check_small_measurements(table: _Table, problems: _Problems) -> None:
    """A non-zero measurement at least 1e-12 in magnitude (the limit Table Schema cannot say)."""
    for name in LIMITS["measurement"][0]:
        if name not in table.numbers:
            continue
        v = np.abs(table.num(name))
        with np.errstate(invalid="ignore"):
            tiny = (v > 0) & (v < _SMALLEST_MEASUREMENT)
        problems.each(table, tiny, name, "plausibility",
                      lambda i, name=name: (f"must be 0 or at least {_fmt(_SMALLEST_MEASUREMENT)} in magnitude "
                                            f"(got {table.col(name)[i]}); {_limit_reason(name)}"))


def _check_ci(table: _Table, problems: _Problems, estimate: str | None = None) -> None:
    lo, hi = table.num("ci_lower"), table.num("ci_upper")
    with np.errstate(invalid="ignore"):
        swapped = lo > hi
    problems.each(table, swapped, "ci_lower", "ci-order",
                  lambda i: f"CI lower {lo[i]} is above CI upper {hi[i]}")
    if estimate:
        est = table.num(estimate)
        with np.errstate(invalid="ignore"):
            outside = ~swapped & ((est < lo) | (est > hi))
        problems.each(table, outside, estimate, "estimate-in-ci",
                      lambda i: f"{estimate} {est[i]} lies outside its CI [{lo[i]}, {hi[i]}]")


def _check_p_relation(table: _Table, problems: _Problems) -> None:
    has_p, has_rel = table.filled("p_value"), table.filled("p_relation")
    problems.each(table, has_p & ~has_rel, "p_relation", "p-relation",
                  lambda i: "p_value is given: say whether it is '=', '<' or '>'")
    problems.each(table, has_rel & ~has_p, "p_relation", "p-relation",
                  lambda i: "p_relation is given without a p_value")


def _blank(table: _Table, x: str) -> np.ndarray:
    return ~(table.filled(x) | table.filled(f"{x}_status") | table.filled(f"{x}_source")
             | table.filled(f"{x}_note"))


def _lookup(keys: np.ndarray, mapping: dict, default=None) -> list:
    return [mapping.get(k, default) for k in keys]


def _resolved_n(out: _Table, tables: dict[str, _Table]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each outcome row's group size as the analysis takes it: the row's n, else the arm's
    n analysed, else its n randomised (:func:`analysis.trial_effects.resolve_group_size`).

    Returns the sizes (NaN where none), which column gave each ("n", "n_analysed",
    "n_randomised" or "") and the arm's row in arms.csv (-1 where not used).
    """
    n = out.num("n").copy()
    source = np.where(np.isfinite(n), "n", "").astype(object)
    arm_row = np.full(len(n), -1)
    arms = tables.get("arms")
    if arms is None or not arms.ok or arms.n_rows == 0:
        return n, source, arm_row
    index = pd.Index(_keys(arms, ["study_id", "arm_id"]))
    if not index.is_unique:  # a duplicate arm is reported on its own; take its first row
        index = index.drop_duplicates(keep="first")
        positions = np.flatnonzero(~pd.Index(_keys(arms, ["study_id", "arm_id"])).duplicated(keep="first"))
    else:
        positions = np.arange(len(index))
    found = index.get_indexer(_keys(out, ["study_id", "arm_id"]))
    rows = np.where(found >= 0, positions[np.maximum(found, 0)], -1)
    known = rows >= 0
    for column in ("n_analysed", "n_randomised"):
        values = np.where(known, arms.num(column)[np.where(known, rows, 0)], np.nan)
        use = ~np.isfinite(n) & np.isfinite(values)
        n[use], source[use], arm_row[use] = values[use], column, rows[use]
    return n, source, arm_row


def _decimals_of(value: float) -> int | None:
    """Decimals of a percentage as the analysis reads them (repr of the float); None when
    the repr is in exponent form (see :func:`analysis.effect_sizes.events_from_percent`)."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        return None
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def percent_count_problem(percent: float, n: float) -> str | None:
    """Why ``percent`` % of ``n`` is no single whole count, or None if it is one.

    The same test as :func:`analysis.effect_sizes.events_from_percent` (which raises where
    this returns a reason): a count ``x`` in ``0..n`` is consistent when
    ``|100 x / n - percent|`` is at most half a unit of the percentage's last decimal
    (+1e-9); there must be one, and the nearest to ``percent × n / 100`` must be unique.
    Written without scipy so that validation stays light; the test suite checks that the
    two agree.
    """
    d = _decimals_of(percent)
    if d is None:
        return (f"{percent!r}% cannot be read at a fixed number of decimals; "
                f"write it in plain decimal notation")
    nn = int(n)
    half = 0.5 * 10.0 ** (-d)
    exact = percent * nn / 100
    # consistent counts lie in a window of width n × 2 half / 100 around `exact`
    lo = max(0, math.floor(exact - nn * half / 100) - 1)
    hi = min(nn, math.ceil(exact + nn * half / 100) + 1)
    counts = np.arange(lo, hi + 1)
    pct = 100 * counts / nn
    consistent = counts[np.abs(pct - percent) <= half + 1e-9]
    if consistent.size == 0:
        return (f"{percent:.{d}f}% of {nn} is no whole count at {d} decimal place(s); check the "
                f"percentage and its denominator")
    dist = np.abs(consistent - exact)
    best = consistent[dist == dist.min()]
    if best.size > 1:
        return (f"{percent:.{d}f}% of {nn} = {exact:g} lies halfway between counts {best[0]} and "
                f"{best[1]}; give the count in events")
    return None


def _check_outcomes(tables: dict[str, _Table], problems: _Problems) -> None:
    out = tables["outcomes"]
    if out.n_rows == 0:
        return
    defs = tables.get("outcome_definitions")
    kinds: dict[str, tuple[str, str]] = {}
    if defs is not None and defs.ok:
        kinds = dict(zip(_keys(defs, ["study_id", "outcome_id"]),
                         zip(defs.col("kind"), defs.col("direction"))))
    keys = _keys(out, ["study_id", "outcome_id"])
    kd = _lookup(keys, kinds)
    has_def = np.array([k is not None for k in kd], dtype=bool)
    kind = np.array([k[0] if k else "" for k in kd], dtype=object)
    direction = np.array([k[1] if k else "" for k in kd], dtype=object)
    problems.each(out, has_def & ((kind == "") | (direction == "")), "outcome_id", "kind-required",
                  lambda i: (f"outcome {out.col('outcome_id')[i]} of {out.col('study_id')[i]} has rows here "
                             f"but no kind or direction in outcome_definitions.csv"))
    complete = has_def & (kind != "") & (direction != "")
    continuous = complete & _isin(kind, CONTINUOUS_KINDS)
    proportion = complete & (kind == PROPORTION_KIND)
    for mask, required, blank in ((continuous, ("mean", "sd", "n"), ("events", "percent")),
                                  (proportion, ("percent", "events", "n"),
                                   ("mean", "sd", "se", "ci_lower", "ci_upper"))):
        what = (lambda i: f"a continuous outcome (kind {kind[i]})") if mask is continuous else (
            lambda i: "a proportion")
        for x in required:
            problems.each(out, mask & ~out.filled(f"{x}_status"), f"{x}_status", "applicability",
                          lambda i, x=x, what=what: (f"{x}_status is required for {what(i)} "
                                                     f"(use missing if the record gives no value)"))
        for x in blank:
            def first(i, x=x, what=what):
                return f"{x} does not apply to {what(i)}: leave {x} and its status, source and note empty"
            filled = ~_blank(out, x)
            for i in np.flatnonzero(mask & filled):
                col = next(c for c in (x, f"{x}_status", f"{x}_source", f"{x}_note") if out.col(c)[i] != "")
                problems.append(Problem(out.file, out.line(i), col, "applicability", first(int(i))))

    n, n_source, arm_row = _resolved_n(out, tables)

    def of_arm(i: int) -> str:
        return f"the arm's {n_source[i]} (arms.csv line {arm_row[i] + 2})"

    ev = out.num("events")
    with np.errstate(invalid="ignore"):
        over = ev > n
    problems.each(out, over, "events", "events-le-n",
                  lambda i: (f"events {out.col('events')[i]} exceed n {out.col('n')[i]}" if n_source[i] == "n"
                             else f"events {out.col('events')[i]} exceed n {n[i]:g}, {of_arm(i)}; "
                                  f"give this row's n"))
    pct = out.num("percent")
    reasons: dict[tuple[float, float], str | None] = {}
    for i in np.flatnonzero(np.isfinite(pct) & np.isfinite(n) & (n >= 1)):
        key = (float(pct[i]), float(n[i]))
        if key not in reasons:
            reasons[key] = percent_count_problem(*key)
        if reasons[key]:
            source = "" if n_source[i] == "n" else (f" (n from {of_arm(int(i))}; give this row's n if the "
                                                    f"percentage has another denominator)")
            problems.append(Problem(out.file, out.line(i), "percent", "percent-count", reasons[key] + source))
    with np.errstate(invalid="ignore"):
        one = continuous & (out.num("n") >= 1) & (out.num("n") < 2)
    problems.each(out, one, "n", "n-for-sd",
                  lambda i: f"n = {out.col('n')[i]}: a continuous outcome needs n >= 2 (an SD needs two observations)")
    _check_ci(out, problems)
    lo, hi = out.num("ci_lower"), out.num("ci_upper")
    problems.each(out, lo == hi, "ci_upper", "ci-width",
                  lambda i: f"the CI {lo[i]:g} to {hi[i]:g} has no width; an arm's CI gives its SD and must be wider")
    _check_timepoints_consistent(tables, problems)


def _check_timepoints_consistent(tables: dict[str, _Table], problems: _Problems) -> None:
    """Every arm has a row at each trial x outcome x time point: the trial's arms in
    arms.csv or, for a trial without arms there, every arm with rows for that outcome.
    Counted per group with pandas; the words are built only for groups that fail."""
    out = tables["outcomes"]
    arms_table = tables.get("arms")
    study_arms: dict[str, list[str]] = {}
    if arms_table is not None and arms_table.ok:
        for s_, a_ in zip(arms_table.col("study_id"), arms_table.col("arm_id")):
            study_arms.setdefault(s_, []).append(a_)
    study, outcome, tp, arm = (out.col(c) for c in ("study_id", "outcome_id", "timepoint_id", "arm_id"))
    frame = pd.DataFrame({"g": _keys(out, ["study_id", "outcome_id", "timepoint_id"]),
                          "so": _keys(out, ["study_id", "outcome_id"]), "arm": arm})
    has_arms = _isin(study, study_arms)
    listed = _isin(_keys(out, ["study_id", "arm_id"]),
                   {_SEP.join((s_, a_)) for s_, arms_ in study_arms.items() for a_ in set(arms_)})
    first = frame.drop_duplicates("g")
    present = pd.concat([frame[has_arms & listed], frame[~has_arms]]).drop_duplicates(["g", "arm"]).groupby(
        "g").size()
    per_pair = frame[~has_arms].drop_duplicates(["so", "arm"]).groupby("so").size()
    rows = first.index.to_numpy()
    need = np.array([len(set(study_arms[study[i]])) if has_arms[i] else per_pair[first.at[i, "so"]]
                     for i in rows])
    have = present.reindex(first["g"]).fillna(0).to_numpy()
    by_group = None
    for i in rows[have < need]:
        if by_group is None:
            by_group = frame.groupby("g")["arm"].agg(set)
            so_arms = frame.groupby("so")["arm"].agg(set)
        arms_here = by_group[frame.at[i, "g"]]
        expected = list(dict.fromkeys(study_arms.get(study[i]) or sorted(so_arms[frame.at[i, "so"]])))
        absent = [a_ for a_ in expected if a_ not in arms_here]
        problems.append(Problem(
            out.file, out.line(i), "timepoint_id", "timepoints-consistent",
            f"{study[i]} / {outcome[i]}: time point {tp[i]} has rows for {sorted(arms_here)} but none for "
            f"arm(s) {absent}; every arm needs a row at every time point (values may be missing)"))


def _check_between_group(table: _Table, problems: _Problems) -> None:
    t, c = table.col("treatment_arm"), table.col("control_arm")
    problems.each(table, (t != "") & (t == c), "control_arm", "same-arm",
                  lambda i: "treatment_arm and control_arm are the same arm")
    measure = table.col("measure")
    for x in ("estimate", "ci_lower", "ci_upper"):
        problems.each(table, (measure == "none") & ~_blank(table, x), x, "applicability",
                      lambda i, x=x: f"measure is none: leave {x} and its status, source and note empty")
    problems.each(table, _isin(measure, ("MD", "SMD")) & ~table.filled("estimate_status"), "estimate_status", "applicability",
                  lambda i: f"measure is {measure[i]}: estimate_status is required")
    _check_ci(table, problems, estimate="estimate")
    _check_p_relation(table, problems)


def _check_findings(table: _Table, problems: _Problems) -> None:
    comparison, versus, arm = table.col("comparison"), table.col("versus_arm_id"), table.col("arm_id")
    between = comparison == "between_group"
    problems.each(table, between & (versus == ""), "versus_arm_id", "versus-arm",
                  lambda i: "a between-group finding needs the comparator arm")
    problems.each(table, between & (versus != "") & (versus == arm), "versus_arm_id", "versus-arm",
                  lambda i: "the comparator arm is the arm itself")
    problems.each(table, (comparison == "within_group") & (versus != ""), "versus_arm_id", "versus-arm",
                  lambda i: "a within-group finding has no comparator arm: leave versus_arm_id empty")
    _check_p_relation(table, problems)


def _check_timepoints(table: _Table, problems: _Problems) -> None:
    problems.each(table, (table.col("weeks_approximate") == "true") & ~table.filled("weeks_note"),
                  "weeks_note", "weeks-note-required",
                  lambda i: "weeks_approximate is true: say in weeks_note how weeks_from_start was obtained")


def _check_outcome_definitions(table: _Table, problems: _Problems) -> None:
    lo, hi = table.num("scale_min"), table.num("scale_max")
    with np.errstate(invalid="ignore"):
        swapped = lo > hi
    problems.each(table, swapped, "scale_min", "scale-order",
                  lambda i: f"scale_min {lo[i]} is above scale_max {hi[i]}")


def _check_arms(tables: dict[str, _Table], problems: _Problems) -> None:
    table = tables["arms"]
    r, a = table.num("n_randomised"), table.num("n_analysed")
    with np.errstate(invalid="ignore"):
        over = a > r
    problems.each(table, over, "n_analysed", "n-analysed-le-randomised",
                  lambda i: (f"n_analysed {table.col('n_analysed')[i]} exceeds n_randomised "
                             f"{table.col('n_randomised')[i]}"))
    defs = tables.get("outcome_definitions")
    if defs is None or not defs.ok:
        return
    continuous_studies = defs.col("study_id")[_isin(defs.col("kind"), CONTINUOUS_KINDS)]
    has_continuous = _isin(table.col("study_id"), continuous_studies)
    for x in ("n_randomised", "n_analysed"):
        with np.errstate(invalid="ignore"):
            one = has_continuous & (table.num(x) >= 1) & (table.num(x) < 2)
        problems.each(table, one, x, "n-for-sd",
                      lambda i, x=x: (f"{x} = {table.col(x)[i]}, but {table.col('study_id')[i]} has continuous "
                                      f"outcomes, which need n >= 2 per arm (an SD needs two observations)"))


def _studies_with_outcome_rows(tables: dict[str, _Table]) -> set[str]:
    out = tables.get("outcomes")
    return set(out.col("study_id")) if out is not None and out.ok else set()


def _check_arm_roles(tables: dict[str, _Table], problems: _Problems) -> None:
    """One treatment and one control arm in every trial whose outcomes are compared."""
    arms = tables["arms"]
    with_rows = _studies_with_outcome_rows(tables)
    by_study: dict[str, list[int]] = {}
    for i, study in enumerate(arms.col("study_id")):
        by_study.setdefault(study, []).append(i)
    role = arms.col("role")
    allowed = set(arms.fields["role"].get("constraints", {}).get("enum", ("treatment", "control", "other")))
    for study, rows in by_study.items():
        if study not in with_rows or any(role[i] not in allowed for i in rows):
            continue  # a role that is not one of the allowed values is reported on its own
        counts = {r: sum(role[i] == r for i in rows) for r in ("treatment", "control")}
        if counts == {"treatment": 1, "control": 1}:
            continue
        lines = ", ".join(str(arms.line(i)) for i in rows)
        problems.append(Problem(
            arms.file, arms.line(rows[0]), "role", "arm-roles",
            f"{study} has outcome rows but {counts['treatment']} treatment and {counts['control']} control "
            f"arm(s) (lines {lines}); the analysis compares one treatment arm with one control arm: give any "
            f"other arm the role other"))


def _check_primary_outcomes(tables: dict[str, _Table], problems: _Problems) -> None:
    """Exactly one primary outcome for every trial with outcome rows."""
    defs = tables["outcome_definitions"]
    with_rows = _studies_with_outcome_rows(tables)
    primary: dict[str, list[int]] = {}
    first_line: dict[str, int] = {}
    for i, (study, role) in enumerate(zip(defs.col("study_id"), defs.col("review_role"))):
        first_line.setdefault(study, i)
        if role == "primary":
            primary.setdefault(study, []).append(i)
    for study in sorted(with_rows & set(first_line)):
        rows = primary.get(study, [])
        if not rows:
            problems.append(Problem(
                defs.file, defs.line(first_line[study]), "review_role", "primary-outcome",
                f"{study} has outcome rows but no primary outcome: mark the one its forest plots show "
                f"review_role primary (and say why in notes)"))
        for i in rows[1:]:
            problems.append(Problem(
                defs.file, defs.line(i), "review_role", "primary-outcome",
                f"{study} already has the primary outcome {defs.col('outcome_id')[rows[0]]} (line "
                f"{defs.line(rows[0])}); a second one would enter the same pooled analysis as another trial"))


def _check_studies(table: _Table, problems: _Problems) -> None:
    """No trial twice: the same DOI (any case), PMID, PMCID or label (any case)."""
    ids = table.col("study_id")
    for column, what, fold in (("doi", "DOI", True), ("pmid", "PMID", False),
                               ("pmcid", "PMCID", True), ("label", "label", True)):
        values = table.col(column)
        seen: dict[str, list[int]] = {}
        for i, v in enumerate(values):
            if v != "":
                seen.setdefault(v.casefold() if fold else v, []).append(i)
        for rows in seen.values():
            if len(rows) < 2:
                continue
            first = rows[0]
            others = ", ".join(f"line {table.line(j)} ({ids[j]})" for j in rows[1:])
            problems.append(Problem(
                table.file, table.line(first), column, "duplicate-study",
                f"{what} {_show(values[first], 80)} of {ids[first]} is repeated at {others}: the same "
                f"trial entered twice would be pooled twice"))
            for j in rows[1:]:
                problems.append(Problem(
                    table.file, table.line(j), column, "duplicate-study",
                    f"{what} {_show(values[j], 80)} is already that of {ids[first]} at line "
                    f"{table.line(first)}: enter a trial once (correct the {what} if these are two trials)"))


# --------------------------------------------------------------------------- public API


def _validate(data_dir: Path) -> tuple[list[Problem], dict[str, _Table]]:
    """Every problem of the package in ``data_dir``, and its tables (parsed where valid)."""
    descriptor_path = _descriptor_path(data_dir)
    problems = _Problems()
    descriptor = _load_descriptor(descriptor_path, problems)
    if descriptor is None:
        return list(problems), {}
    resources = _check_resources(descriptor, problems)
    tables = {name: _read_csv(data_dir, resources[name], problems)
              for name in RESOURCE_NAMES if name in resources}
    good = {name: t for name, t in tables.items() if t.ok}
    for table in good.values():
        for name, spec in table.fields.items():
            _check_field(table, name, spec, problems)
        _check_primary_key(table, problems)
        _check_foreign_keys(tables, table, problems)
    for name, table in good.items():
        _check_value_fields(table, problems)
        _check_small_measurements(table, problems)
        if name == "studies":
            _check_studies(table, problems)
        elif name == "arms":
            _check_arms(tables, problems)
            _check_arm_roles(tables, problems)
        elif name == "timepoints":
            _check_timepoints(table, problems)
        elif name == "outcome_definitions":
            _check_outcome_definitions(table, problems)
            _check_primary_outcomes(tables, problems)
        elif name == "outcomes":
            _check_outcomes(tables, problems)
        elif name == "between_group":
            _check_between_group(table, problems)
        elif name == "findings":
            _check_findings(table, problems)
    from analysis.risk_of_bias import check_tables as check_appraisal_tables

    check_appraisal_tables({name: _RowView(t) for name, t in good.items()
                            if name in APPRAISAL_TABLES}, problems)
    order = {t.file: i for i, t in enumerate(tables.values())}
    result = sorted(problems, key=lambda p: (order.get(p.file, -1), p.row or 0))
    return result, tables


def validate_package(data_dir: str | Path | None = None) -> list[Problem]:
    """Check the data package in ``data_dir``; return every problem (empty list = valid).

    ``data_dir`` defaults to :func:`analysis.paths.data_dir` (the folder named by the
    environment variable ``DEXA_MA_DATA``, else the project's ``data/``). Raises
    FileNotFoundError if ``data_dir`` or its ``datapackage.json`` does not exist.
    """
    if data_dir is None:
        from analysis.paths import data_dir as default_dir

        data_dir = default_dir()
    problems, _ = _validate(Path(data_dir))
    return problems
