"""Load and validate the trial data package (``data/``).

The data are a Frictionless Data Package (v2 profile): seven CSV tables described by
``datapackage.json``. Validation runs in three layers and reports every problem, not
only the first:

1. **Strict CSV reading** (this module). Each file is decoded as UTF-8 and parsed with
   the :mod:`csv` module (comma, double quote, strict). The header must equal the
   schema's field names, every row must have the header's number of cells, no cell may
   carry stray quotes, line breaks or surrounding spaces. Frictionless would silently
   guess encodings and delimiters, so a file that fails here is reported and not
   checked further (the other files still are).
2. **Table Schema rules** (the ``frictionless`` library): types, required fields, enums,
   minimum / maximum / exclusiveMinimum, patterns, primary and foreign keys. Its
   reports are translated into :class:`Problem` objects (row number -> line, field
   name -> column, error type -> rule). A foreign key with an empty value refers to
   nothing and is not checked (``findings.csv`` may leave ``outcome_id``,
   ``timepoint_id`` and ``versus_arm_id`` empty).
3. **Cross-field rules** (this module): status, source and note of every value field,
   applicability of the value fields by outcome kind, events <= n, CI order, the same
   time points for every arm, and a few more (see ``RULES``).

A *value field* ``X`` is four columns ``X, X_status, X_source, X_note``. Status is one
of ``reported``, ``secondary``, ``inferred``, ``missing``; a value is present exactly
when its status is not ``missing``; a present value needs a source; an inferred value
needs a note saying how. A value field that does not apply (for example ``events`` of
a continuous outcome) is entirely empty.

Public API: :func:`load_package`, :func:`validate_package`, :func:`validate_main`,
:class:`DataPackage`, :class:`Problem`, :class:`DataValidationError`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DataPackage",
    "DataValidationError",
    "Problem",
    "RESOURCE_NAMES",
    "STATUS_VALUES",
    "load_package",
    "validate_main",
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
STATUS_VALUES = ("reported", "secondary", "inferred", "missing")
CONTINUOUS_KINDS = ("change_from_baseline", "final_value")
PROPORTION_KIND = "proportion"

#: Rule names used in :attr:`Problem.rule`, with what they check.
RULES = {
    "descriptor": "datapackage.json is readable JSON and describes the seven tables",
    "file-missing": "every described CSV file exists",
    "encoding": "the file is UTF-8",
    "byte-order-mark": "the file has no UTF-8 byte-order mark",
    "empty-file": "the file has a header row",
    "header": "the header equals the schema's field names, in order (a one-column header: wrong delimiter?)",
    "ragged-row": "every row has as many cells as the header",
    "blank-row": "no empty lines between rows",
    "stray-quote": "double quotes only enclose a whole cell",
    "csv-syntax": "the csv module can parse the file in strict mode",
    "line-break-in-cell": "no cell spans several lines (line numbers stay row numbers)",
    "whitespace": "no cell starts or ends with a space",
    "required": "required field present",
    "type": "the cell has the field's type",
    "whole-number": "integer fields (n, events, ...) hold whole numbers",
    "finite-number": "numbers are finite (no NaN, Infinity)",
    "enum": "the cell is one of the allowed values",
    "pattern": "the cell matches the field's pattern",
    "sd-positive": "SD > 0",
    "se-positive": "SE > 0",
    "n-minimum": "n >= 1 (also n_randomised, n_analysed, patients_n, ...)",
    "events-minimum": "events >= 0",
    "percent-range": "percent within 0-100",
    "p-range": "p-value in (0, 1]",
    "duplicate-key": "no duplicate primary key",
    "unknown-id": "study, arm, outcome and time point ids exist (foreign keys)",
    "status-required": "a value, source or note comes with a status",
    "missing-has-value": "a value with status missing is empty",
    "value-required": "a value with status reported, secondary or inferred is present",
    "source-required": "a present value has a source",
    "note-required": "an inferred value has a note saying how",
    "applicability": "value fields filled exactly as the outcome kind or measure requires",
    "kind-required": "an outcome with rows in outcomes.csv has a kind and a direction",
    "events-le-n": "events <= n",
    "ci-order": "CI lower <= CI upper",
    "estimate-in-ci": "the estimate lies within its CI",
    "p-relation": "p_relation present exactly when p_value is",
    "same-arm": "a comparison has two different arms",
    "versus-arm": "between-group findings name the comparator arm, within-group ones do not",
    "timepoints-consistent": "for each trial x outcome every arm has rows at the same time points",
    "weeks-note-required": "weeks_note present when weeks_approximate is true",
    "scale-order": "scale_min <= scale_max",
    "n-analysed-le-randomised": "an arm's n_analysed <= n_randomised",
}

# Constraint errors translated to rule names: (base column, constraint) -> rule.
_CONSTRAINT_RULES = {
    ("sd", "exclusiveMinimum"): "sd-positive",
    ("se", "exclusiveMinimum"): "se-positive",
    ("events", "minimum"): "events-minimum",
    ("percent", "minimum"): "percent-range",
    ("percent", "maximum"): "percent-range",
    ("p_value", "exclusiveMinimum"): "p-range",
    ("p_value", "maximum"): "p-range",
}
_N_COLUMNS = {"n", "n_randomised", "n_analysed", "patients_n", "units_randomised_n", "units_analysed_n"}
_CONSTRAINT_WORDS = {
    "minimum": ">=",
    "maximum": "<=",
    "exclusiveMinimum": ">",
    "exclusiveMaximum": "<",
}


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


@dataclass(frozen=True, eq=False)
class DataPackage:
    """The validated tables, as pandas DataFrames in CSV column order.

    Numbers (including n, events, year and sessions) are float64 with NaN for empty;
    booleans are bool; text is object dtype with None for empty.
    """

    studies: pd.DataFrame
    arms: pd.DataFrame
    timepoints: pd.DataFrame
    outcome_definitions: pd.DataFrame
    outcomes: pd.DataFrame
    between_group: pd.DataFrame
    findings: pd.DataFrame
    risk_of_bias: pd.DataFrame
    pedro_ratings: pd.DataFrame
    minimal_important_differences: pd.DataFrame
    path: Path


# --------------------------------------------------------------------------- reading


@dataclass
class _Table:
    """One CSV file read strictly: header, rows as dicts of strings, line numbers."""

    name: str
    file: str
    schema: dict
    header: list[str]
    rows: list[dict[str, str]]
    lines: list[int]
    ok: bool

    @property
    def fields(self) -> dict[str, dict]:
        return {f["name"]: f for f in self.schema.get("fields", [])}


def _scan_quotes(text: str) -> list[tuple[int, int, int, str]]:
    """Misplaced quotes and multi-line cells, as (line, field index, character, kind).

    A double quote may only open a cell (as its first character), close it (followed by
    a comma or the end of the line), or be doubled inside a quoted cell. ``kind`` is
    ``"stray"`` for any other quote and ``"line-break"`` for a quoted cell that runs
    past the end of its line (a line break in a cell, or an unclosed quote).
    """
    found: list[tuple[int, int, int, str]] = []
    i, n = 0, len(text)
    line, field, col, at_start = 1, 0, 0, True
    while i < n:
        c = text[i]
        if at_start and c == '"':
            start_line, start_col, broke = line, col, False
            i += 1
            col += 1
            while True:
                if i >= n:
                    if not broke:
                        found.append((start_line, field, start_col, "line-break"))
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
                        found.append((start_line, field, start_col, "line-break"))
                        broke = True
                    if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                        i += 1
                    i += 1
                    line, col = line + 1, 0
                    continue
                i += 1
                col += 1
            if i < n and text[i] not in ",\r\n":
                found.append((line, field, col, "stray"))
                while i < n and text[i] not in ",\r\n":
                    i += 1
                    col += 1
            at_start = False
            continue
        if c == ",":
            field += 1
            at_start = True
        elif c in "\r\n":
            if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            line, col, field, at_start = line + 1, -1, 0, True
        else:
            if c == '"':
                found.append((line, field, col, "stray"))
            at_start = False
        i += 1
        col += 1
    return found


def _find_stray_quote(line: str) -> tuple[int, int] | None:
    """(character position, field index) of the first misplaced quote on one line, or None."""
    for _, field, pos, _kind in _scan_quotes(line):
        return pos, field
    return None

def _parse_header(line: str) -> list[str] | None:
    """The header cells of the first line, or None if the line is not valid CSV."""
    if _find_stray_quote(line) is not None:
        return None
    try:
        return next(csv.reader([line], strict=True))
    except (csv.Error, StopIteration):
        return None


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


def _read_csv(data_dir: Path, resource: dict, problems: list[Problem]) -> _Table:
    """Read one CSV strictly; append structural problems; ``ok`` False if any."""
    name = resource["name"]
    file = resource["path"]
    schema = resource.get("schema") or {}
    expected = [f["name"] for f in schema.get("fields", [])]
    table = _Table(name, file, schema, [], [], [], ok=False)
    path = data_dir / file
    if not path.is_file():
        problems.append(Problem(file, None, None, "file-missing", f"file not found in {data_dir}"))
        return table
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(
            file, line, None, "encoding",
            f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} "
            f"(save the file as UTF-8; Latin-1 or Windows-1252?)"))
        return table
    if text.startswith("\ufeff"):
        problems.append(Problem(file, 1, None, "byte-order-mark",
                                "starts with a UTF-8 byte-order mark; save as UTF-8 without BOM"))
        return table
    if not text.strip():
        problems.append(Problem(file, None, None, "empty-file", "the file is empty (no header row)"))
        return table

    physical = text.splitlines()
    header = _parse_header(physical[0])
    if header != expected:
        problems.append(Problem(file, 1, None, "header", _header_message(header, expected)))
        return table

    n_before = len(problems)
    seen: set[tuple[int, str]] = set()
    for number, field_index, pos, kind in _scan_quotes(text):
        if number == 1 or (number, kind) in seen:
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
    if len(problems) > n_before:
        return table

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"',
                        doublequote=True, strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for record in reader:
            records.append((reader.line_num, record))
    except csv.Error as exc:
        problems.append(Problem(file, reader.line_num, None, "csv-syntax", f"CSV syntax error: {exc}"))
        return table

    for line_num, record in records[1:]:
        if not record:
            problems.append(Problem(file, line_num, None, "blank-row", "empty line between rows"))
            continue
        if len(record) != len(header):
            problems.append(Problem(
                file, line_num, None, "ragged-row",
                f"{len(record)} cells but the header has {len(header)} (a missing or extra comma?)"))
            continue
        for column, cell in zip(header, record):
            if cell != cell.strip():
                problems.append(Problem(file, line_num, column, "whitespace",
                                        f"leading or trailing space in {cell!r}"))
        table.rows.append(dict(zip(header, record)))
        table.lines.append(line_num)
    if len(problems) > n_before:
        table.rows, table.lines = [], []
        return table
    table.header = header
    table.ok = True
    return table


def _descriptor_path(data_dir: Path) -> Path:
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory not found: {data_dir}")
    path = data_dir / DESCRIPTOR
    if not path.is_file():
        raise FileNotFoundError(f"no {DESCRIPTOR} in {data_dir}: not a data package")
    return path


def _load_descriptor(path: Path, problems: list[Problem]) -> dict | None:
    try:
        descriptor = json.loads(path.read_text(encoding="utf-8"))
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


def _check_resources(descriptor: dict, problems: list[Problem]) -> dict[str, dict]:
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
        if name in found:
            problems.append(Problem(DESCRIPTOR, None, None, "descriptor", f"resource {name!r} described twice"))
            continue
        found[name] = res
    for name in RESOURCE_NAMES:
        if name not in found and not any(p.message.startswith(f"resource {name!r}") for p in problems):
            problems.append(Problem(DESCRIPTOR, None, None, "descriptor", f"resource {name!r} is not described"))
    return found


# --------------------------------------------------------------------------- frictionless


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _format_number(text: str, field_type: str) -> str:
    if field_type == "number" and _is_number(text):
        return repr(float(text))
    return text


def _frictionless_problems(descriptor: dict, tables: dict[str, _Table], data_dir: Path) -> list[Problem]:
    """Validate the well-formed tables with frictionless; translate its errors."""
    from frictionless import Package

    good = {name for name, t in tables.items() if t.ok}
    if not good:
        return []
    resources = []
    for res in descriptor["resources"]:
        if not isinstance(res, dict) or res.get("name") not in good:
            continue
        res = json.loads(json.dumps(res))
        schema = res["schema"]
        fks = [fk for fk in schema.get("foreignKeys", []) if fk.get("reference", {}).get("resource") in good]
        if fks:
            schema["foreignKeys"] = fks
        else:
            schema.pop("foreignKeys", None)
        resources.append(res)
    pkg_descriptor = {k: v for k, v in descriptor.items() if k != "resources"}
    pkg_descriptor["resources"] = resources

    problems: list[Problem] = []
    try:
        report = Package(pkg_descriptor, basepath=str(data_dir)).validate(limit_errors=100_000)
    except Exception as exc:  # frictionless raises its own exception types for bad descriptors
        return [Problem(DESCRIPTOR, None, None, "descriptor", f"frictionless cannot read the package: {exc}")]

    by_path = {t.file: t for t in tables.values()}
    for task in report.tasks:
        table = tables.get(task.name) or by_path.get(getattr(task, "place", ""))
        if table is None:
            continue
        line_to_row = dict(zip(table.lines, table.rows))
        for err in task.errors:
            problem = _translate(err, table, line_to_row)
            if problem is not None:
                problems.append(problem)
    # Errors of the package itself (descriptor), not tied to a resource.
    for err in getattr(report, "errors", []):
        problems.append(Problem(DESCRIPTOR, None, None, "descriptor", err.message))
    return problems


def _translate(err, table: _Table, line_to_row: dict[int, dict]) -> Problem | None:
    etype = err.type
    line = getattr(err, "row_number", None)
    column = getattr(err, "field_name", None)
    field = table.fields.get(column, {}) if column else {}
    ftype = field.get("type", "string")
    cell = getattr(err, "cell", None)
    if etype == "type-error":
        if ftype == "integer" and cell is not None and _is_number(cell):
            return Problem(table.file, line, column, "whole-number", f"must be a whole number (got {cell})")
        return Problem(table.file, line, column, "type", f"must be of type {ftype} (got {cell!r})")
    if etype == "constraint-error":
        m = re.search(r'constraint "(\w+)" is "(.*)"', err.note or "")
        constraint, bound = (m.group(1), m.group(2)) if m else ("constraint", "")
        if constraint == "required":
            return Problem(table.file, line, column, "required", "a value is required")
        if constraint == "enum":
            allowed = ", ".join(field.get("constraints", {}).get("enum", []))
            return Problem(table.file, line, column, "enum", f"must be one of {allowed} (got {cell!r})")
        if constraint == "pattern":
            return Problem(table.file, line, column, "pattern", f"must match {bound} (got {cell!r})")
        if constraint in _CONSTRAINT_WORDS:
            base = column
            rule = _CONSTRAINT_RULES.get((base, constraint))
            if rule is None and base in _N_COLUMNS and constraint == "minimum":
                rule = "n-minimum"
            if rule is None:
                rule = f"{base}-{constraint}"
            return Problem(table.file, line, column, rule,
                           f"must be {_CONSTRAINT_WORDS[constraint]} {bound} (got {_format_number(cell, ftype)})")
        return Problem(table.file, line, column, constraint, err.message)
    if etype == "primary-key":
        pk = table.schema.get("primaryKey", [])
        row = line_to_row.get(line, {})
        values = ", ".join(row.get(c, "") for c in pk)
        return Problem(table.file, line, None, "duplicate-key",
                       f"duplicate primary key ({', '.join(pk)}) = ({values})")
    if etype == "foreign-key":
        names = list(getattr(err, "field_names", []) or [])
        row = line_to_row.get(line, {})
        values = [row.get(c, "") for c in names]
        if any(v == "" for v in values):
            return None  # an empty reference refers to nothing
        ref = getattr(err, "reference_name", "")
        ref_fields = list(getattr(err, "reference_field_names", []) or [])
        return Problem(table.file, line, names[-1] if names else None, "unknown-id",
                       f"({', '.join(names)}) = ({', '.join(values)}) not found in {ref}.csv "
                       f"({', '.join(ref_fields)})")
    return Problem(table.file, line, column, etype, err.message)


# --------------------------------------------------------------------------- own rules


def _value_fields(header: list[str]) -> list[str]:
    cols = set(header)
    return [c for c in header if {f"{c}_status", f"{c}_source", f"{c}_note"} <= cols]


def _num(text: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _check_cells(table: _Table, problems: list[Problem]) -> None:
    """Finite numbers and the status / source / note rules of every value field."""
    numeric = [name for name, f in table.fields.items() if f.get("type") in ("number", "integer")]
    for line, row in zip(table.lines, table.rows):
        for col in numeric:
            v = _num(row[col])
            if v is not None and not math.isfinite(v):
                problems.append(Problem(table.file, line, col, "finite-number",
                                        f"must be a finite number (got {row[col]})"))
        for x in _value_fields(table.header):
            value, status = row[x], row[f"{x}_status"]
            source, note = row[f"{x}_source"], row[f"{x}_note"]
            if status == "":
                for col, text in ((x, value), (f"{x}_source", source), (f"{x}_note", note)):
                    if text != "":
                        problems.append(Problem(table.file, line, f"{x}_status", "status-required",
                                                f"{col} is filled but {x}_status is empty"))
                        break
                continue
            if status == "missing":
                if value != "":
                    problems.append(Problem(table.file, line, x, "missing-has-value",
                                            f"status is missing but a value is given ({value}); "
                                            f"empty the value or give its real status"))
                continue
            if status in STATUS_VALUES:
                if value == "":
                    problems.append(Problem(table.file, line, x, "value-required",
                                            f"status is {status} but {x} is empty"))
                elif source == "":
                    problems.append(Problem(table.file, line, f"{x}_source", "source-required",
                                            f"{x} = {value} has no source"))
                if status == "inferred" and note == "":
                    problems.append(Problem(table.file, line, f"{x}_note", "note-required",
                                            f"{x} is inferred: say how in {x}_note"))


def _check_ci(table: _Table, problems: list[Problem], estimate: str | None = None) -> None:
    for line, row in zip(table.lines, table.rows):
        lo, hi = _num(row["ci_lower"]), _num(row["ci_upper"])
        if lo is not None and hi is not None and lo > hi:
            problems.append(Problem(table.file, line, "ci_lower", "ci-order",
                                    f"CI lower {lo} is above CI upper {hi}"))
        elif estimate and lo is not None and hi is not None:
            est = _num(row[estimate])
            if est is not None and not lo <= est <= hi:
                problems.append(Problem(table.file, line, estimate, "estimate-in-ci",
                                        f"{estimate} {est} lies outside its CI [{lo}, {hi}]"))


def _check_p_relation(table: _Table, problems: list[Problem]) -> None:
    for line, row in zip(table.lines, table.rows):
        has_p, has_rel = row["p_value"] != "", row["p_relation"] != ""
        if has_p and not has_rel:
            problems.append(Problem(table.file, line, "p_relation", "p-relation",
                                    "p_value is given: say whether it is '=', '<' or '>'"))
        elif has_rel and not has_p:
            problems.append(Problem(table.file, line, "p_relation", "p-relation",
                                    "p_relation is given without a p_value"))


def _blank(row: dict, x: str) -> bool:
    return all(row[c] == "" for c in (x, f"{x}_status", f"{x}_source", f"{x}_note"))


def _check_outcomes(tables: dict[str, _Table], problems: list[Problem]) -> None:
    out = tables["outcomes"]
    defs = tables.get("outcome_definitions")
    kinds: dict[tuple[str, str], tuple[str, str]] = {}
    if defs is not None and defs.ok:
        kinds = {(r["study_id"], r["outcome_id"]): (r["kind"], r["direction"]) for r in defs.rows}
    for line, row in zip(out.lines, out.rows):
        key = (row["study_id"], row["outcome_id"])
        if key in kinds:
            kind, direction = kinds[key]
            if kind == "" or direction == "":
                problems.append(Problem(out.file, line, "outcome_id", "kind-required",
                                        f"outcome {key[1]} of {key[0]} has rows here but no kind or direction "
                                        f"in outcome_definitions.csv"))
            elif kind in CONTINUOUS_KINDS:
                _applicability(out, line, row, problems, f"a continuous outcome (kind {kind})",
                               required=("mean", "sd", "n"), blank=("events", "percent"))
            elif kind == PROPORTION_KIND:
                _applicability(out, line, row, problems, "a proportion",
                               required=("percent", "events", "n"),
                               blank=("mean", "sd", "se", "ci_lower", "ci_upper"))
        ev, n = _num(row["events"]), _num(row["n"])
        if ev is not None and n is not None and ev > n:
            problems.append(Problem(out.file, line, "events", "events-le-n",
                                    f"events {row['events']} exceed n {row['n']}"))
    _check_ci(out, problems)
    _check_timepoints_consistent(tables, problems)


def _applicability(table, line, row, problems, what, *, required, blank) -> None:
    for x in required:
        if row[f"{x}_status"] == "":
            problems.append(Problem(table.file, line, f"{x}_status", "applicability",
                                    f"{x}_status is required for {what} (use missing if the record gives no value)"))
    for x in blank:
        if not _blank(row, x):
            filled = next(c for c in (x, f"{x}_status", f"{x}_source", f"{x}_note") if row[c] != "")
            problems.append(Problem(table.file, line, filled, "applicability",
                                    f"{x} does not apply to {what}: leave {x} and its status, source and note empty"))


def _check_timepoints_consistent(tables: dict[str, _Table], problems: list[Problem]) -> None:
    out = tables["outcomes"]
    arms_table = tables.get("arms")
    study_arms: dict[str, list[str]] = defaultdict(list)
    if arms_table is not None and arms_table.ok:
        for r in arms_table.rows:
            study_arms[r["study_id"]].append(r["arm_id"])
    first_line: dict[tuple[str, str, str], int] = {}
    present: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line, row in zip(out.lines, out.rows):
        k = (row["study_id"], row["outcome_id"], row["timepoint_id"])
        first_line.setdefault(k, line)
        present[k].add(row["arm_id"])
        groups[(row["study_id"], row["outcome_id"])].add(row["arm_id"])
    for (study, outcome, tp), arms_here in present.items():
        expected = study_arms.get(study) or sorted(groups[(study, outcome)])
        absent = [a for a in expected if a not in arms_here]
        if absent:
            problems.append(Problem(
                out.file, first_line[(study, outcome, tp)], "timepoint_id", "timepoints-consistent",
                f"{study} / {outcome}: time point {tp} has rows for {sorted(arms_here)} but none for "
                f"arm(s) {absent}; every arm needs a row at every time point (values may be missing)"))


def _check_between_group(table: _Table, problems: list[Problem]) -> None:
    for line, row in zip(table.lines, table.rows):
        if row["treatment_arm"] and row["treatment_arm"] == row["control_arm"]:
            problems.append(Problem(table.file, line, "control_arm", "same-arm",
                                    "treatment_arm and control_arm are the same arm"))
        if row["measure"] == "none":
            for x in ("estimate", "ci_lower", "ci_upper"):
                if not _blank(row, x):
                    problems.append(Problem(table.file, line, x, "applicability",
                                            f"measure is none: leave {x} and its status, source and note empty"))
        elif row["measure"] in ("MD", "SMD") and row["estimate_status"] == "":
            problems.append(Problem(table.file, line, "estimate_status", "applicability",
                                    f"measure is {row['measure']}: estimate_status is required"))
    _check_ci(table, problems, estimate="estimate")
    _check_p_relation(table, problems)


def _check_findings(table: _Table, problems: list[Problem]) -> None:
    for line, row in zip(table.lines, table.rows):
        versus = row["versus_arm_id"]
        if row["comparison"] == "between_group":
            if versus == "":
                problems.append(Problem(table.file, line, "versus_arm_id", "versus-arm",
                                        "a between-group finding needs the comparator arm"))
            elif versus == row["arm_id"]:
                problems.append(Problem(table.file, line, "versus_arm_id", "versus-arm",
                                        "the comparator arm is the arm itself"))
        elif row["comparison"] == "within_group" and versus != "":
            problems.append(Problem(table.file, line, "versus_arm_id", "versus-arm",
                                    "a within-group finding has no comparator arm: leave versus_arm_id empty"))
    _check_p_relation(table, problems)


def _check_timepoints(table: _Table, problems: list[Problem]) -> None:
    for line, row in zip(table.lines, table.rows):
        if row["weeks_approximate"] == "true" and row["weeks_note"] == "":
            problems.append(Problem(table.file, line, "weeks_note", "weeks-note-required",
                                    "weeks_approximate is true: say in weeks_note how weeks_from_start was obtained"))


def _check_outcome_definitions(table: _Table, problems: list[Problem]) -> None:
    for line, row in zip(table.lines, table.rows):
        lo, hi = _num(row["scale_min"]), _num(row["scale_max"])
        if lo is not None and hi is not None and lo > hi:
            problems.append(Problem(table.file, line, "scale_min", "scale-order",
                                    f"scale_min {lo} is above scale_max {hi}"))


def _check_arms(table: _Table, problems: list[Problem]) -> None:
    for line, row in zip(table.lines, table.rows):
        r, a = _num(row["n_randomised"]), _num(row["n_analysed"])
        if r is not None and a is not None and a > r:
            problems.append(Problem(table.file, line, "n_analysed", "n-analysed-le-randomised",
                                    f"n_analysed {row['n_analysed']} exceeds n_randomised {row['n_randomised']}"))


_TABLE_CHECKS = {
    "arms": _check_arms,
    "timepoints": _check_timepoints,
    "outcome_definitions": _check_outcome_definitions,
    "between_group": _check_between_group,
    "findings": _check_findings,
}


# --------------------------------------------------------------------------- public API


def _validate(data_dir: Path) -> tuple[list[Problem], dict[str, _Table]]:
    descriptor_path = _descriptor_path(data_dir)
    problems: list[Problem] = []
    descriptor = _load_descriptor(descriptor_path, problems)
    if descriptor is None:
        return problems, {}
    resources = _check_resources(descriptor, problems)
    tables = {name: _read_csv(data_dir, resources[name], problems) for name in RESOURCE_NAMES if name in resources}
    problems.extend(_frictionless_problems(descriptor, tables, data_dir))
    for name, table in tables.items():
        if not table.ok:
            continue
        _check_cells(table, problems)
        if name in _TABLE_CHECKS:
            _TABLE_CHECKS[name](table, problems)
        if name == "outcomes":
            _check_outcomes(tables, problems)
    _check_appraisal_tables({name: t for name, t in tables.items() if t.ok}, problems)
    order = {t.file: i for i, t in enumerate(tables.values())}
    problems.sort(key=lambda p: (order.get(p.file, -1), p.row or 0))
    return problems, tables


def validate_package(data_dir: str | Path = "data") -> list[Problem]:
    """Check the data package in ``data_dir``; return every problem (empty list = valid).

    Raises FileNotFoundError if ``data_dir`` or its ``datapackage.json`` does not exist.
    """
    problems, _ = _validate(Path(data_dir))
    return problems


def _to_frame(table: _Table) -> pd.DataFrame:
    columns = {}
    for name in table.header:
        field = table.fields[name]
        cells = [row[name] for row in table.rows]
        if field.get("type") in ("number", "integer"):
            columns[name] = pd.Series(np.array([float(c) if c != "" else np.nan for c in cells], dtype="float64"))
        elif field.get("type") == "boolean":
            true_values = field.get("trueValues", ["true"])
            columns[name] = pd.Series(np.array([c in true_values for c in cells], dtype=bool))
        else:
            columns[name] = pd.Series([c if c != "" else None for c in cells], dtype=object)
    return pd.DataFrame(columns, columns=table.header)


def load_package(data_dir: str | Path | None = None) -> DataPackage:
    """Validate ``data_dir`` and return its tables as a :class:`DataPackage`.

    ``data_dir`` defaults to :func:`analysis.paths.data_dir`: ``$DEXA_MA_DATA`` when set,
    else the project's ``data/``, wherever the caller's working directory is.

    Raises DataValidationError (a ValueError) listing every problem if the package is not
    valid, FileNotFoundError if the directory or ``datapackage.json`` is missing.
    """
    if data_dir is None:
        from analysis.paths import data_dir as default_data_dir

        data_dir = default_data_dir()
    path = Path(data_dir)
    problems, tables = _validate(path)
    if problems:
        raise DataValidationError(problems, path)
    return DataPackage(**{name: _to_frame(tables[name]) for name in RESOURCE_NAMES}, path=path.resolve())


def validate_main(argv: list[str] | None = None) -> int:
    """``python -m analysis validate [DATA_DIR]``: 0 valid, 1 problems, 2 no package / usage."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m analysis validate [DATA_DIR]   (default: data)\n\n"
              "Check the data package and list every problem as 'file, line, column: message [rule]'.")
        return 0
    if len(argv) > 1:
        print("usage: python -m analysis validate [DATA_DIR]", file=sys.stderr)
        return 2
    data_dir = Path(argv[0] if argv else "data")
    try:
        problems, tables = _validate(data_dir)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} problem(s) in {data_dir}", file=sys.stderr)
        return 1
    n_rows = sum(len(t.rows) for t in tables.values())
    print(f"{data_dir}: valid data package ({len(tables)} tables, {n_rows} rows)")
    return 0


# The appraisal tables (risk of bias, PEDro, minimal important differences) bring their
# own cross-row rules; imported last because analysis.risk_of_bias builds Problems.
from analysis.risk_of_bias import RULES as _APPRAISAL_RULES  # noqa: E402
from analysis.risk_of_bias import check_tables as _check_appraisal_tables  # noqa: E402

RULES.update(_APPRAISAL_RULES)


def add_arguments(parser):
    """Add ``validate``'s arguments to ``parser`` (a subcommand's parser)."""
    parser.add_argument("data_dir", nargs="?", default=None, metavar="DATA_DIR",
                        help="the data package folder (default: data/, or $DEXA_MA_DATA)")
    return parser


def run(args) -> int:
    """``python -m analysis validate``: 0 valid, 1 problems, 2 no package."""
    import os

    from analysis.paths import data_dir

    chosen = args.data_dir
    if chosen is None:  # shown as the reader would type it, where it is below here
        default = data_dir().resolve()
        chosen = os.path.relpath(default) if default.is_relative_to(Path.cwd()) else default
    return validate_main([str(chosen)])
