"""Load the trial data package (``data/``) as pandas DataFrames, after validating it.

Validation (:mod:`analysis.validation`) reports every problem with its file, line,
column and rule; this module turns a valid package into one DataFrame per table and
offers the ``validate`` command. The names of :mod:`analysis.validation` that users
need (:class:`Problem`, :class:`DataValidationError`, :data:`RULES`, :data:`LIMITS`,
:data:`MAX_LENGTHS`, :func:`validate_package`) are importable from here too.

Public API: :func:`load_package`, :func:`validate_package`, :func:`validate_command`,
:func:`validate_main`, :class:`DataPackage`, :class:`Problem`,
:class:`DataValidationError`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import paths
from analysis.validation import (  # noqa: F401  (re-exported)
    LIMITS,
    MAX_LENGTHS,
    RESOURCE_NAMES,
    RULES,
    STATUS_VALUES,
    DataValidationError,
    Problem,
    _Table,
    _validate,
    validate_package,
)

__all__ = [
    "DataPackage",
    "DataValidationError",
    "LIMITS",
    "MAX_LENGTHS",
    "Problem",
    "RESOURCE_NAMES",
    "RULES",
    "STATUS_VALUES",
    "load_package",
    "validate_command",
    "validate_main",
    "validate_package",
]


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


def _to_frame(table: _Table) -> pd.DataFrame:
    columns = {}
    for name in table.header:
        if name in table.numbers:
            columns[name] = table.numbers[name]
        elif name in table.booleans:
            columns[name] = table.booleans[name]
        else:
            raw = table.columns[name]
            columns[name] = pd.Series(np.where(raw == "", None, raw), dtype=object)
    return pd.DataFrame(columns, columns=table.header)


def load_package(data_dir: str | Path | None = None) -> DataPackage:
    """Validate ``data_dir`` and return its tables as a :class:`DataPackage`.

    ``data_dir`` defaults to :func:`analysis.paths.data_dir`: the folder named by the
    environment variable ``DEXA_MA_DATA`` when it is set, else the project's ``data/``,
    found from wherever Python runs (a notebook in ``notebooks/`` included).

    Raises DataValidationError (a ValueError) listing every problem if the package is not
    valid, FileNotFoundError if the directory or ``datapackage.json`` is missing.
    """
    path = paths.data_dir() if data_dir is None else Path(data_dir)
    problems, tables = _validate(path)
    if problems:
        raise DataValidationError(problems, path)
    return DataPackage(**{name: _to_frame(tables[name]) for name in RESOURCE_NAMES}, path=path.resolve())


def validate_command(data_dir: str | Path) -> int:
    """Validate ``data_dir`` and report: every problem on stderr as ``file, line N, column
    C: message [rule: ...]`` with a count line, or one "valid data package" line on
    stdout. Returns 0 (valid), 1 (problems) or 2 (no data package there)."""
    data_dir = Path(data_dir)
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
    n_rows = sum(t.n_rows for t in tables.values())
    print(f"{data_dir}: valid data package ({len(tables)} tables, {n_rows} rows)")
    return 0


def add_arguments(parser):
    """Add ``validate``'s arguments to ``parser`` (its own or a subcommand's)."""
    parser.add_argument("data_dir", nargs="?", default=None, metavar="DATA_DIR",
                        help="the data package folder (default: data/, or $DEXA_MA_DATA)")
    return parser


def run(args) -> int:
    """``python -m analysis validate [DATA_DIR]``: 0 valid, 1 problems, 2 no package.

    DATA_DIR defaults to :func:`analysis.paths.data_dir`, shown as the reader would type
    it where it lies below the current folder.
    """
    import os

    chosen = args.data_dir
    if chosen is None:
        default = paths.data_dir().resolve()
        chosen = os.path.relpath(default) if default.is_relative_to(Path.cwd()) else default
    return validate_command(Path(chosen))


def validate_main(argv: list[str] | None = None) -> int:
    """``validate`` with its own parser (for scripts); returns the exit status."""
    import argparse

    parser = add_arguments(argparse.ArgumentParser(
        prog="python -m analysis validate",
        description="Check the data package and list every problem as 'file, line, "
                    "column: message [rule]'."))
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return run(args)
