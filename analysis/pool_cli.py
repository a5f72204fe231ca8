"""``python -m analysis pool``: pool effect sizes from a CSV file, as metafor's ``rma()``.

The input has a ``study`` column and either ``yi,vi`` (effect sizes and sampling
variances) or ``m1i,sd1i,n1i,m2i,sd2i,n2i`` (arm means, SDs and sizes; group 1 is
treatment) with ``--measure MD`` or ``--measure SMD`` (Hedges' g), both with metafor's
default variance ``vtype="LS"`` (see :mod:`analysis.effect_sizes`). ``--by COLUMN`` runs
one meta-analysis per value of that column. Pooling is :func:`analysis.pooling.pool_arrays`
(the engine of ``pool_batch``).

Every problem in the input is reported on its own line, naming the CSV line as the file
numbers it (the header is line 1; blank lines and the lines of a quoted cell that runs
over several lines count), and the command exits with status 2; nothing is written then.
Blank lines (empty or only spaces) are skipped wherever they are, as R's ``read.csv`` and
pandas do. Refused, each with its own message: both ``yi,vi`` and the arm columns;
``--measure`` with ``yi,vi``; a header that is one column holding ``;``, a tab or ``|``
(another separator); a repeated column name; a quote that is never closed; a row with
another number of cells than the header; a study name repeated within a meta-analysis
(unless ``--allow-repeated-studies``); values outside |yi| <= 1e12 and 1e-24 <= vi <= 1e24
(:data:`YI_LIMIT`, :data:`VI_LIMITS`), the limits that keep every intermediate of the
pooling (weights up to 1e24, their cubes up to 1e72, squared standardised residuals up to
4e48) far inside double precision. A result that still comes out non-finite for a
meta-analysis that converged is an error too, not an empty cell. An unexpected failure
prints one line and exits with status 1 (``--debug`` shows the traceback).

A meta-analysis whose estimator does not converge is named by its ``--by`` value in a
warning, and its row has ``converged`` False and the reason in ``notes`` (both also in
the JSON). ``--control NAME=VALUE`` passes metafor's iteration settings to the engine.
Text cells of the CSV are defused against spreadsheet formula injection
(:func:`analysis.outputs.neutralise_cell`); the output file is written atomically.

The command is fast on large files: the CSV is read with pyarrow, the meta-analyses are
pooled and formatted a block at a time on two threads (bounded memory), numbers are
formatted column by column (:func:`analysis.outputs.csv_chunks`), and pandas is never
imported. ``add_arguments`` and ``run`` mount the command in another argparse tree.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from analysis.outputs import _arrow_bools, _arrow_numbers, _arrow_strings, _arrow_text

PROG = "python -m analysis pool"
METHODS = ("FE", "DL", "REML", "ML", "PM", "HE", "SJ", "SJIT")
ARM_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
SUMMARY_FIELDS = ("k", "measure", "method", "knha", "estimate", "se", "ci_lb", "ci_ub", "pval",
                  "tau2", "i2", "h2", "q", "q_pval", "pi_lb", "pi_ub", "converged", "notes")
MAX_PROBLEMS_SHOWN = 50
#: Accepted effect sizes: |yi| <= YI_LIMIT.
YI_LIMIT = 1e12
#: Accepted sampling variances: VI_LIMITS[0] <= vi <= VI_LIMITS[1].
VI_LIMITS = (1e-24, 1e24)
DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
MEASURE_NAMES = {"MD": "mean difference", "SMD": "standardised mean difference"}
# Result fields that a converged meta-analysis must give as finite numbers (k >= 2; for
# k = 1 the heterogeneity statistics and the prediction interval are undefined).
ALWAYS_FINITE = ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2")
FINITE_IF_K2 = ("i2", "h2", "q", "q_pval")
THREADS = 2
GROUPS_PER_TASK = 65536


class InputProblems(Exception):
    """The input cannot be pooled; ``problems`` holds one message per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --------------------------------------------------------------------------- arguments


def _control_setting(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (for example tol=1e-10)")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not a number") from None
    return name.strip(), number


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``pool``'s arguments to ``parser`` (a parser or a subcommand's parser)."""
    parser.add_argument("input", metavar="INPUT.csv", help="CSV file, one row per study")
    parser.add_argument("--measure", choices=("MD", "SMD"),
                        help="effect size computed from arm columns: MD (mean difference) or "
                             "SMD (Hedges' g), both with metafor's vtype LS")
    parser.add_argument("--method", choices=METHODS, default="REML",
                        help="tau² estimator, or FE for a common-effect model (default REML)")
    parser.add_argument("--knha", action="store_true",
                        help="Knapp-Hartung adjustment (t distribution) for the pooled estimate")
    parser.add_argument("--by", metavar="COLUMN", help="one meta-analysis per value of COLUMN")
    parser.add_argument("--format", choices=("json", "csv"), default="json",
                        help="json (default): results with per-study weights; csv: one summary "
                             "row per meta-analysis, numbers to 15 significant digits")
    parser.add_argument("--output", metavar="FILE",
                        help="write here (atomically) instead of standard output")
    parser.add_argument("--allow-repeated-studies", action="store_true",
                        help="accept a study name that appears more than once in a "
                             "meta-analysis (otherwise an error naming both lines)")
    parser.add_argument("--control", metavar="NAME=VALUE", action="append", default=[],
                        type=_control_setting,
                        help="an iteration setting of metafor's rma() (threshold, maxiter, "
                             "stepadj, tau2_init, tau2_max, tol, ci_maxiter); repeatable")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an unexpected error")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Pool effect sizes as metafor's rma(). INPUT.csv has a 'study' column and either "
            "'yi,vi' or 'm1i,sd1i,n1i,m2i,sd2i,n2i' (group 1 = treatment; needs --measure)."
        ),
    )
    return add_arguments(parser)


# --------------------------------------------------------------------------- reading


@dataclass
class Input:
    """A validated input: labels and numbers per row, and the rows' CSV lines."""

    study: Any            # pyarrow string array, stripped
    yi: np.ndarray
    vi: np.ndarray
    codes: np.ndarray     # group of each row, 0..m-1 in order of first appearance
    labels: Any           # pyarrow string array of the m --by values (stripped), or None
    measure: str | None
    line_of: Callable[[np.ndarray], np.ndarray]


def _open(path: str, name: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputProblems([f"{name}: file not found"]) from None
    except IsADirectoryError:
        raise InputProblems([f"{name}: is a directory, not a CSV file"]) from None
    except PermissionError:
        raise InputProblems([f"{name}: cannot read the file: permission denied"]) from None
    except OSError as exc:
        raise InputProblems([f"{name}: cannot read the file: {exc.strerror or exc}"]) from None


def _is_blank(line: str) -> bool:
    return line.strip(" \t\r\n") == ""


def _read_header(path: str, name: str):
    """The header record: (line number, raw cells); checks encoding, emptiness, quotes."""
    with _open(path, name) as handle:
        head = handle.read(1 << 20)
        more = handle.read(1)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    text = head.decode("utf-8", errors="replace")
    if not text.strip():
        raise InputProblems([f"{name}: the file is empty"])
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if not _is_blank(line))
    if "\ufffd" in lines[first]:
        raise InputProblems([f"{name} line {first + 1}: the header is not UTF-8 text; save "
                             "the file as UTF-8 CSV"])
    reader = csv.reader(io.StringIO("\n".join(lines[first:]), newline=""), strict=True)
    try:
        cells = next(reader)
    except csv.Error:
        if more:  # the header's quote may close beyond what was read: let the parser decide
            return first + 1, next(csv.reader([lines[first]]))
        raise InputProblems([f"{name} line {first + 1}: a quote opened in the header is "
                             "never closed"]) from None
    return first + 1, cells


def _check_columns(name, header_line, cells, measure, by):
    """Problems with the header and the options; returns (columns, stripped->raw name)."""
    names = [c.strip() for c in cells]
    problems: list[str] = []
    if len(names) == 1:
        found = [d for d in DELIMITER_NAMES if d in names[0]]
        if found:
            problems.append(
                f"{name} line {header_line}: the header is a single column {cells[0]!r}: the "
                f"file seems to be separated by {DELIMITER_NAMES[found[0]]}, not commas; save "
                "it as comma-separated CSV")
            raise InputProblems(problems)
    seen: dict[str, list[int]] = {}
    for position, column in enumerate(names, start=1):
        if column:
            seen.setdefault(column, []).append(position)
    for column, positions in seen.items():
        if len(positions) > 1:
            problems.append(
                f"{name} line {header_line}: column {column!r} appears {len(positions)} times "
                f"(header cells {', '.join(map(str, positions))}); give each column its own "
                "name")
    if problems:
        raise InputProblems(problems)
    columns = set(seen)
    raw = {c.strip(): c for c in cells}
    if "study" not in columns:
        problems.append(f"{name}: missing column 'study'")
    if by is not None and by not in columns:
        problems.append(f"{name}: missing column '{by}' (given with --by)")
    has_yi = {"yi", "vi"} <= columns
    has_arms = set(ARM_COLUMNS) <= columns
    arms = ",".join(ARM_COLUMNS)
    if has_yi and has_arms:
        problems.append(
            f"{name}: has both 'yi,vi' and the arm columns '{arms}': keep one set (drop "
            "columns 'yi,vi' to compute effect sizes from the arms, or drop the arm columns "
            "to pool yi and vi as given)")
    elif has_yi:
        if measure is not None:
            problems.append(
                f"{name}: --measure {measure} computes effect sizes from arm columns, but the "
                "file gives 'yi,vi': drop --measure to pool yi and vi as given")
    elif has_arms:
        if measure is None:
            problems.append(f"{name}: arm columns {arms} need --measure MD or --measure SMD")
    else:
        missing_yi = [c for c in ("yi", "vi") if c not in columns]
        missing_arms = [c for c in ARM_COLUMNS if c not in columns]
        problems.append(
            f"{name}: missing column(s): need 'yi,vi' (missing {','.join(missing_yi)}) or "
            f"'{arms}' (missing {','.join(missing_arms)})")
    if problems:
        raise InputProblems(problems)
    return ("yi", "vi") if has_yi else ARM_COLUMNS, raw


def _record_lines(path: str) -> np.ndarray:
    """Line number of each data record (after the header), skipping blank lines.

    A record ends at a line break outside quotes (a quote count that is even so far;
    RFC 4180's doubled quotes keep the parity); a record with nothing in it, or only a
    carriage return, is a blank line. Vectorised over the file's bytes.
    """
    buf = np.fromfile(path, dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10)
    quotes = np.flatnonzero(buf == 34)
    if quotes.size:
        breaks_out = breaks[np.searchsorted(quotes, breaks) % 2 == 0]
    else:
        breaks_out = breaks
    ends = np.append(breaks_out, buf.size)
    starts = np.concatenate(([0], breaks_out + 1))
    length = ends - starts
    blank = length == 0
    cr = length == 1
    blank[cr] = buf[np.minimum(starts[cr], buf.size - 1)] == 13
    line = np.searchsorted(breaks, starts) + 1  # 1-based line where the record starts
    kept = line[~blank]
    return kept[1:]  # the first non-blank record is the header


def _python_records(path: str, name: str, needed: list[str], raw: dict[str, str]):
    """Parse with Python's csv module, locating structural problems by line.

    Used when pyarrow cannot parse the file. Returns (columns as lists of text, line of
    each row); raises InputProblems for rows with the wrong number of cells, a quote
    that is never closed, or text that is not UTF-8.
    """
    with _open(path, name) as handle:
        data = handle.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputProblems([f"{name} line {line}: the text is not UTF-8; save the file as "
                             "UTF-8 CSV"]) from None
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = None
    rows: list[list[str]] = []
    lines: list[int] = []
    width = 0
    last_line = 0
    while True:
        first = last_line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "end of data" in str(exc) or "EOF" in str(exc):
                problems.append(f"{name} line {first}: a quote opened on this line is never "
                                "closed")
            else:
                problems.append(f"{name} line {reader.line_num}: cannot read as CSV: {exc}")
            break
        span = reader.line_num - last_line
        last_line = reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # a blank line
        if header is None:
            header = record
            width = len(record)
            continue
        if len(record) != width:
            where = f"line {first}" if span == 1 else f"lines {first}-{last_line}"
            opened = (" (a quote opened on line "
                      f"{first} runs to line {last_line})" if span > 1 else "")
            problems.append(f"{name} {where}: expected {width} cells as in the header, found "
                            f"{len(record)}{opened}")
            continue
        rows.append(record)
        lines.append(first)
    if problems:
        raise InputProblems(problems)
    index = {c: i for i, c in enumerate(header or [])}
    columns = {c: [r[index[raw[c]]] for r in rows] for c in needed}
    return columns, np.asarray(lines, dtype=np.int64)


def _has_quotes(path: str) -> bool:
    """Whether the file holds a double quote (then a cell may span lines).

    Read through one reused buffer (mapping the file would count it all as memory).
    """
    buffer = bytearray(1 << 22)
    with open(path, "rb", buffering=0) as handle:
        while True:
            size = handle.readinto(buffer)
            if not size:
                return False
            if buffer.find(b'"', 0, size) >= 0:
                return True


def _arrow_read(path: str, raw_names: dict[str, str], types: dict[str, Any],
                quotes: bool = True) -> dict:
    """The columns ``types`` (stripped name -> pyarrow type) of the CSV, read by pyarrow.

    ``quotes`` False (no quote in the file, so no cell spans lines) lets pyarrow split
    the file at any line break, which is faster.
    """
    import pyarrow.csv as pacsv

    include = [raw_names[c] for c in types]
    convert = pacsv.ConvertOptions(
        include_columns=include,
        column_types={raw_names[c]: t for c, t in types.items()},
        strings_can_be_null=False, quoted_strings_can_be_null=False)
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 22),
        parse_options=pacsv.ParseOptions(newlines_in_values=quotes, ignore_empty_lines=True),
        convert_options=convert)
    out = {}
    for c in types:  # one column at a time, each released as soon as it is contiguous
        column = table.column(raw_names[c])
        out[c] = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        table = table.drop_columns([raw_names[c]])
        del column
    return out


def _parse_numbers(text) -> np.ndarray:
    """Numbers from text cells as the old reader did (stripped, pandas' to_numeric)."""
    import pandas as pd

    values = pd.to_numeric(pd.Series(text, dtype=object).astype(str).str.strip(),
                           errors="coerce")
    return values.to_numpy(dtype=float, na_value=np.nan)


def _numbers_of(array) -> np.ndarray:
    """A numeric pyarrow array as numpy (nulls as NaN)."""
    from analysis.outputs import _numpy_view

    return _numpy_view(array)


def _stripped(array):
    """Labels without surrounding white space (as Python's str.strip)."""
    import pyarrow.compute as pc

    if pc.all(pc.string_is_ascii(array)).as_py() is not False:
        return pc.ascii_trim_whitespace(array)
    return pc.utf8_trim_whitespace(array)


def _group_codes(groups):
    """Group of each row, 0..m-1 in order of first appearance, and the m labels.

    Rows of a group usually come together; then the groups are the runs of equal
    labels (found by comparing neighbours), which is much faster than hashing every
    row. Otherwise every label is hashed (dictionary encoding).
    """
    import pyarrow.compute as pc

    n = len(groups)
    if n > 1:
        change = np.flatnonzero(_bools_of(pc.not_equal(groups[1:], groups[:-1]))) + 1
        firsts = np.concatenate(([0], change))
        labels = groups.take(_arrow_numbers(firsts.astype(np.int64)))
        if len(pc.dictionary_encode(labels).dictionary) == firsts.size:
            codes = np.zeros(n, dtype=np.intp)
            codes[change] = 1
            np.cumsum(codes, out=codes)
            return codes, labels
    encoded = pc.dictionary_encode(groups)
    return _numbers_of(encoded.indices).astype(np.intp), encoded.dictionary


def _bools_of(array) -> np.ndarray:
    """A pyarrow boolean array without nulls as numpy booleans (unpacking its bits)."""
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little", count=array.offset + len(array))[
        array.offset:].astype(bool)


def read_input(path: str, measure: str | None, by: str | None,
               allow_repeated_studies: bool = False) -> Input:
    """Read and validate INPUT; every problem found is raised in one :class:`InputProblems`.

    The file is read more than once (header, quotes, data, and the lines of any
    problem), so a pipe such as /dev/stdin is first copied to a temporary file.
    """
    name = Path(path).name
    source = Path(path)
    if source.exists() and not source.is_file() and not source.is_dir():
        import tempfile

        with _open(path, name) as handle, tempfile.NamedTemporaryFile(
                prefix="pool-input-", suffix=".csv", delete=False) as copy:
            while block := handle.read(1 << 22):
                copy.write(block)
        try:
            return _read_input(copy.name, name, measure, by, allow_repeated_studies)
        finally:
            Path(copy.name).unlink(missing_ok=True)
    return _read_input(path, name, measure, by, allow_repeated_studies)


def _read_input(path: str, name: str, measure: str | None, by: str | None,
                allow_repeated_studies: bool) -> Input:
    header_line, cells = _read_header(path, name)
    numeric, raw = _check_columns(name, header_line, cells, measure, by)
    labels = ["study"] + ([by] if by is not None and by != "study" else [])
    import pyarrow as pa
    import pyarrow.compute as pc

    types = {c: pa.string() for c in labels}
    types.update({c: pa.float64() for c in numeric})
    line_cache: dict[str, np.ndarray] = {}

    def line_of(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.intp)
        if rows.size == 0:
            return rows
        if "lines" not in line_cache:
            line_cache["lines"] = _record_lines(path)
        return line_cache["lines"][rows]

    values: dict[str, np.ndarray] = {}
    text_of: dict[str, Any] = {}
    quotes = _has_quotes(path)
    try:
        data = _arrow_read(path, raw, types, quotes)
    except pa.ArrowInvalid as exc:
        message = str(exc).lower()
        if "conversion error" in message and "utf8" not in message:
            data = _arrow_read(path, raw, {c: pa.string() for c in types}, quotes)
        else:
            columns, lines = _python_records(path, name, list(types), raw)
            data = {c: _arrow_strings(columns[c]) for c in types}
            line_cache["lines"] = lines
    if len(data["study"]) == 0:
        raise InputProblems([f"{name}: no data rows after the header"])

    problems: list[str] = []
    for col in numeric:
        column = data[col]
        if pa.types.is_floating(column.type):
            num = _numbers_of(column)
            bad = ~np.isfinite(num)
            if bad.any():
                text_of[col] = _arrow_read(path, raw, {col: pa.string()}, quotes)[col]
        else:
            text_of[col] = column
            num = _parse_numbers(column.to_pylist())
            bad = ~np.isfinite(num)
        if bad.any():
            rows = np.flatnonzero(bad)
            raw_text = text_of[col].take(_arrow_numbers(rows.astype(np.int64))).to_pylist()
            for line, cell in zip(line_of(rows), raw_text):
                problems.append(f"{name} line {line}: column '{col}' is not a finite number"
                                f" (got {cell!r})")
        values[col] = num

    study = _stripped(data["study"])
    empty = np.flatnonzero(_numbers_of(pc.binary_length(study)) == 0)
    for line in line_of(empty):
        problems.append(f"{name} line {line}: column 'study' is empty")

    groups = None
    if by is not None:
        groups = _stripped(data[by])
        empty = np.flatnonzero(_numbers_of(pc.binary_length(groups)) == 0)
        for line in line_of(empty):
            problems.append(f"{name} line {line}: column '{by}' (--by) is empty")

    if numeric == ("yi", "vi"):
        yi, vi = values["yi"], values["vi"]
        with np.errstate(invalid="ignore"):
            rows = np.flatnonzero(np.isfinite(vi) & (vi <= 0))
        for line, row in zip(line_of(rows), rows):
            problems.append(f"{name} line {line}: vi must be > 0 (got {vi[row]:g})")
        problems += _range_problems(name, yi, vi, line_of, "")
    else:
        problems += _arm_problems(name, values, measure, line_of)
        yi = vi = None
    if problems:
        raise InputProblems(problems)

    if yi is None:
        from analysis.effect_sizes import hedges_g, mean_difference

        func = hedges_g if measure == "SMD" else mean_difference
        es = func(*(values[c] for c in ARM_COLUMNS), vtype="LS")
        yi, vi = np.asarray(es.yi, dtype=float), np.asarray(es.vi, dtype=float)
        what = f"the {MEASURE_NAMES[measure]} computed from this row: "
        problems += _range_problems(name, yi, vi, line_of, what)
        if problems:
            raise InputProblems(problems)

    if groups is None:
        codes = np.zeros(len(yi), dtype=np.intp)
        group_labels = None
    else:
        codes, group_labels = _group_codes(groups)
    del data
    if not allow_repeated_studies:
        problems += _repeated_studies(name, study, codes, group_labels, by, line_of)
        if problems:
            raise InputProblems(problems)
    return Input(study=study, yi=yi, vi=vi, codes=codes, labels=group_labels, measure=measure,
                 line_of=line_of)


def _range_problems(name, yi, vi, line_of, what) -> list[str]:
    problems = []
    lo, hi = VI_LIMITS
    with np.errstate(invalid="ignore"):
        if (np.abs(yi) <= YI_LIMIT).all() and ((vi >= lo) & (vi <= hi)).all():
            return problems  # NaN fails these comparisons, so it takes the long way
        out_y = np.isfinite(yi) & (np.abs(yi) > YI_LIMIT)
        out_v = np.isfinite(vi) & (vi > 0) & ((vi < lo) | (vi > hi))
        bad_y = ~np.isfinite(yi)
        bad_v = ~np.isfinite(vi) | (vi <= 0)
    for line, row in zip(line_of(np.flatnonzero(out_y)), np.flatnonzero(out_y)):
        problems.append(f"{name} line {line}: {what}yi = {yi[row]:g} is outside the accepted "
                        "range |yi| <= 1e12")
    for line, row in zip(line_of(np.flatnonzero(out_v)), np.flatnonzero(out_v)):
        problems.append(f"{name} line {line}: {what}vi = {vi[row]:g} is outside the accepted "
                        "range 1e-24 <= vi <= 1e24")
    if what:  # derived values can also overflow outright
        for line, row in zip(line_of(np.flatnonzero(bad_y | bad_v)),
                             np.flatnonzero(bad_y | bad_v)):
            problems.append(f"{name} line {line}: {what}yi = {yi[row]:g}, vi = {vi[row]:g} "
                            "is not a finite effect size with a positive variance")
    return problems


def _arm_problems(name, values, measure, line_of) -> list[str]:
    problems = []
    with np.errstate(invalid="ignore"):
        for col in ("sd1i", "sd2i"):
            arr = values[col]
            rows = np.flatnonzero(np.isfinite(arr) & (arr <= 0))
            for line, row in zip(line_of(rows), rows):
                problems.append(f"{name} line {line}: {col} must be > 0 (got {arr[row]:g})")
        least = 2 if measure == "SMD" else 1
        for col in ("n1i", "n2i"):
            arr = values[col]
            rows = np.flatnonzero(np.isfinite(arr) & (arr < least))
            why = " for SMD (a pooled SD needs two per arm)" if measure == "SMD" else ""
            for line, row in zip(line_of(rows), rows):
                problems.append(f"{name} line {line}: {col} must be >= {least}{why}"
                                f" (got {arr[row]:g})")
    return problems


def _repeated_studies(name, study, codes, labels, by, line_of) -> list[str]:
    """A study name that appears twice in one meta-analysis, naming both lines."""
    import pyarrow.compute as pc

    s_enc = pc.dictionary_encode(study)
    s_codes = _numbers_of(s_enc.indices)
    if s_codes.size < 2:
        return []
    grouped = bool((codes[1:] >= codes[:-1]).all())
    if grouped:
        # rows of a group are together: compare each row with the next few rows of
        # its group (the largest group's size - 1 comparisons per row)
        kmax = int(np.bincount(codes).max())
        if kmax <= 16:
            same = np.zeros(codes.size, dtype=bool)
            for d in range(1, kmax):
                same[d:] |= (s_codes[d:] == s_codes[:-d]) & (codes[d:] == codes[:-d])
            if not same.any():
                return []
    key = codes.astype(np.int64) * len(s_enc.dictionary) + s_codes
    if (key[1:] > key[:-1]).all():
        return []
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    again = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    if again.size == 0:
        return []
    first_of = np.maximum.accumulate(np.where(
        np.concatenate(([True], ordered[1:] != ordered[:-1])), np.arange(key.size), 0))
    problems = []
    rows_again = order[again]
    rows_first = order[first_of[again]]
    lines_again = line_of(rows_again)
    lines_first = line_of(rows_first)
    names = study.take(_arrow_numbers(rows_again.astype(np.int64))).to_pylist()
    where = (labels.take(_arrow_numbers(codes[rows_again].astype(np.int64))).to_pylist()
             if labels is not None else None)
    for i in np.argsort(lines_again, kind="stable"):
        place = f" in --by {by} = {where[i]!r}" if where is not None else ""
        problems.append(f"{name} line {lines_again[i]}: study {names[i]!r} appears again"
                        f"{place} (first on line {lines_first[i]}); give each study its own "
                        "name, or pass --allow-repeated-studies if they are different studies")
    return problems


# --------------------------------------------------------------------------- pooling


@dataclass
class Pooled:
    """Results of every meta-analysis (group g is row g), and the rows' weights."""

    columns: dict[str, np.ndarray]
    weights: np.ndarray
    notes: dict[int, list[str]]
    issues: list[tuple[str, np.ndarray, str]]
    codes: np.ndarray
    labels: Any  # pyarrow string array of --by values, or None


@dataclass
class _Task:
    """Groups g0..g1-1, whose rows are r0..r1-1 of the rows sorted by group."""

    g0: int
    g1: int
    r0: int
    r1: int


def _plan(data: Input):
    """Rows sorted by group (None if they already are) and the tasks, in group order."""
    codes = data.codes
    m = 1 if data.labels is None else len(data.labels)
    order = None
    if codes.size > 1 and not (codes[1:] >= codes[:-1]).all():
        order = np.argsort(codes, kind="stable")
    sorted_codes = codes if order is None else codes[order]
    firsts = np.arange(0, m, GROUPS_PER_TASK)
    lasts = np.append(firsts[1:], m)
    r0 = np.searchsorted(sorted_codes, firsts)
    r1 = np.searchsorted(sorted_codes, lasts)
    tasks = [_Task(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(firsts, lasts, r0, r1)]
    return order, sorted_codes, tasks


def _run_tasks(data: Input, method: str, knha: bool, control: dict | None, work,
               threads: int | None = None):
    """``work(task, result)`` for each task, in order; pooling and work run on threads.

    At most ``threads`` + 1 tasks are in flight, so memory stays bounded.
    """
    from analysis.pooling import pool_arrays

    threads = THREADS if threads is None else threads
    order, sorted_codes, tasks = _plan(data)
    yi = data.yi if order is None else data.yi[order]
    vi = data.vi if order is None else data.vi[order]

    def job(task: _Task):
        res = pool_arrays(yi[task.r0:task.r1], vi[task.r0:task.r1],
                          sorted_codes[task.r0:task.r1] - task.g0, method=method, knha=knha,
                          control=control)
        return work(task, res)

    if threads <= 1 or len(tasks) < 2:
        for task in tasks:
            yield task, job(task)
        return
    with ThreadPoolExecutor(max_workers=threads) as executor:
        pending = []
        for task in tasks:
            pending.append((task, executor.submit(job, task)))
            if len(pending) > threads:
                done_task, future = pending.pop(0)
                yield done_task, future.result()
        for done_task, future in pending:
            yield done_task, future.result()


def _merge_issues(collected: dict, task: _Task, issues) -> None:
    for what, idx, advice in issues:
        collected.setdefault((what, advice), []).append(idx + task.g0)


def pool_input(data: Input, method: str, knha: bool, control: dict | None,
               threads: int | None = None) -> Pooled:
    """Pool each group of ``data``: every result kept (for the JSON output)."""
    order, _, _ = _plan(data)
    m = 1 if data.labels is None else len(data.labels)
    columns: dict[str, np.ndarray] = {}
    weights = np.empty(len(data.yi))
    notes: dict[int, list[str]] = {}
    issues: dict[tuple[str, str], list[np.ndarray]] = {}
    for task, res in _run_tasks(data, method, knha, control, lambda t, r: r, threads):
        for key in _RESULT_FIELDS:
            values = res.columns[key]
            if key not in columns:
                columns[key] = np.empty(m, dtype=values.dtype)
            columns[key][task.g0:task.g1] = values
        weights[task.r0:task.r1] = res.weights
        for i, texts in res.notes.items():
            notes[task.g0 + i] = texts
        _merge_issues(issues, task, res.issues)
    if order is not None:
        unsorted = np.empty_like(weights)
        unsorted[order] = weights
        weights = unsorted
    return Pooled(columns=columns, weights=weights, notes=notes,
                  issues=[(w, np.concatenate(i), a) for (w, a), i in issues.items()],
                  codes=data.codes, labels=data.labels)


_RESULT_FIELDS = ("k", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2", "h2", "q",
                  "q_pval", "pi_lb", "pi_ub", "converged")


def _label_text(labels, idx: np.ndarray, by: str | None, limit: int = 20) -> str:
    """" for --by COL = 'a', 'b' and N more" naming groups ``idx`` ("" without --by)."""
    if labels is None:
        return ""
    shown = labels.take(_arrow_numbers(np.asarray(idx[:limit], dtype=np.int64))).to_pylist()
    more = f" and {idx.size - limit} more" if idx.size > limit else ""
    return f" for --by {by} = {', '.join(repr(s) for s in shown)}{more}"


def _nonfinite_problems(name: str, columns, labels, by: str | None, method: str) -> list[str]:
    """Result fields that came out non-finite although the meta-analysis converged."""
    converged = columns["converged"]
    multi = columns["k"] >= 2
    checks = [(f, converged) for f in ALWAYS_FINITE]
    checks += [(f, converged & multi) for f in FINITE_IF_K2]
    if method != "FE":
        checks += [(f, converged & multi) for f in ("pi_lb", "pi_ub")]
    problems = []
    zero_se = columns["se"] == 0
    for field, where in checks:
        bad = where & ~np.isfinite(columns[field])
        for reason, rows in (
                ("the SE is 0 (Hartung-Knapp with effects that agree exactly), so the test "
                 "is undefined", bad & zero_se),
                ("the values are too extreme to pool", bad & ~zero_se)):
            idx = np.flatnonzero(rows)
            if idx.size:
                problems.append(f"{name}: {field} is not a finite number"
                                f"{_label_text(labels, idx, by)} although the fit converged: "
                                f"{reason}")
    return problems


# --------------------------------------------------------------------------- output


def _notes_array(notes: dict[int, list[str]], m: int):
    import pyarrow.compute as pc

    if not notes:
        return None
    groups = np.fromiter(notes, dtype=np.int64, count=len(notes))
    texts = ["; ".join(t) for t in notes.values()]
    index = np.full(m, -1, dtype=np.int64)
    index[groups] = np.arange(groups.size)
    taken = _arrow_strings(texts).take(_arrow_numbers(np.where(index < 0, 0, index)))
    return pc.if_else(_arrow_bools(index >= 0), taken, _arrow_text(None))


def _csv_columns(columns, notes, labels, measure: str | None, method: str, knha: bool):
    """The CSV's columns for groups with results ``columns`` (labels: --by values or None)."""
    m = columns["k"].size
    out: dict[str, Any] = {}
    if labels is not None:
        out["by"] = labels
    out["k"] = columns["k"]
    out["measure"] = measure
    out["method"] = method
    out["knha"] = "True" if knha else "False"
    for field in SUMMARY_FIELDS[4:-2]:
        out[field] = columns[field]
    out["converged"] = columns["converged"]
    out["notes"] = _notes_array(notes, m)
    return out


def _clean(value):
    """JSON-safe scalar: numpy types to Python, NaN and infinities to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def render_json(data: Input, pooled: Pooled, measure, method, knha) -> str:
    """JSON text: one object per meta-analysis, with its studies."""
    col = pooled.columns
    m = col["k"].size
    labels = pooled.labels.to_pylist() if pooled.labels is not None else None
    study = data.study.to_pylist()
    order = np.argsort(pooled.codes, kind="stable")
    bounds = np.searchsorted(pooled.codes[order], np.arange(m + 1))
    records = []
    for g in range(m):
        record: dict[str, Any] = {}
        if labels is not None:
            record["by"] = labels[g]
        for field in SUMMARY_FIELDS:
            if field == "measure":
                record[field] = measure
            elif field == "method":
                record[field] = method
            elif field == "knha":
                record[field] = bool(knha)
            elif field == "notes":
                record[field] = list(pooled.notes.get(g, []))
            else:
                record[field] = _clean(col[field][g])
        record["studies"] = [
            {"study": study[r], "yi": _clean(float(data.yi[r])), "vi": _clean(float(data.vi[r])),
             "weight": _clean(float(pooled.weights[r]))}
            for r in order[bounds[g]:bounds[g + 1]]
        ]
        records.append(record)
    payload = records if labels is not None else records[0]
    return json.dumps(payload, indent=2, allow_nan=False) + "\n"


def _write(chunks, output: str | None) -> None:
    from analysis.outputs import write_output

    write_output(chunks, output)


# --------------------------------------------------------------------------- main


def _print_problems(problems: list[str]) -> None:
    shown = problems[:MAX_PROBLEMS_SHOWN]
    for problem in shown:
        print(f"error: {problem}", file=sys.stderr)
    if len(problems) > len(shown):
        print(f"error: ... and {len(problems) - len(shown)} more problems", file=sys.stderr)


def _control_dict(settings) -> dict | None:
    if not settings:
        return None
    from analysis.pooling import check_control

    control: dict[str, float | int] = {}
    for key, value in settings:
        control[key] = int(value) if key in ("maxiter", "ci_maxiter") and value.is_integer() \
            else value
    try:
        check_control(control)
    except ValueError as exc:
        raise InputProblems([f"--control: {exc}"]) from None
    return control


def _keep_freed_memory() -> None:
    """Ask glibc's allocator to keep freed memory for reuse (no effect elsewhere).

    By default each numpy temporary above 128 KiB is mapped from the system and given
    back when freed, so the next one costs a page fault per 4 KiB; on a million
    meta-analyses that was about a second of system time (measured with /usr/bin/time),
    for about 20 MB more peak memory with this setting.
    """
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 256 << 20)


def run(args: argparse.Namespace) -> int:
    """Run ``pool`` with parsed arguments (from a parser given :func:`add_arguments`)."""
    _keep_freed_memory()
    try:
        return _run(args)
    except BrokenPipeError:  # standard output's reader stopped (`| head`)
        from analysis.outputs import reader_gone

        return reader_gone()
    except InputProblems as exc:
        _print_problems(exc.problems)
        return 2
    except Exception as exc:  # anything unexpected: one line, unless --debug
        if getattr(args, "debug", False):
            traceback.print_exc()
        else:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            print(f"error: unexpected {type(exc).__name__}"
                  f"{': ' + first if first else ''} (run with --debug for the traceback)",
                  file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    control = _control_dict(args.control)
    name = Path(args.input).name
    data = read_input(args.input, args.measure, args.by, args.allow_repeated_studies)
    issues: list = []
    if args.format == "csv":
        chunks = _csv_output(name, data, args, control, issues)
    else:
        pooled = pool_input(data, args.method, args.knha, control)
        problems = _nonfinite_problems(name, pooled.columns, pooled.labels, args.by,
                                       args.method)
        if problems:
            raise InputProblems(problems)
        chunks = [render_json(data, pooled, data.measure, args.method, args.knha)
                  .encode("utf-8")]
        issues += pooled.issues
    try:
        _write(chunks, args.output)
    except BrokenPipeError:
        if args.output is None:
            raise
        print(f"error: cannot write {args.output}: broken pipe", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for what, idx, advice in issues:
        print(f"warning: {what}{_label_text(data.labels, idx, args.by)}{advice}",
              file=sys.stderr)
    return 0


def _csv_output(name: str, data: Input, args, control, issues: list):
    """The CSV's chunks, pooling and formatting a block of meta-analyses at a time.

    A generator, so memory stays bounded; after the last chunk ``issues`` holds the
    convergence issues. Results that are not finite raise InputProblems once every
    block has been pooled (so all are reported), before the output is complete.
    """
    from analysis.outputs import csv_chunks

    labels = data.labels
    fields = (("by",) if labels is not None else ()) + SUMMARY_FIELDS
    yield (",".join(fields) + "\n").encode("utf-8")
    collected: dict[tuple[str, str], list[np.ndarray]] = {}
    problems: list[str] = []

    def work(task: _Task, res):
        part = None if labels is None else labels.slice(task.g0, task.g1 - task.g0)
        found = _nonfinite_problems(name, res.columns, part, args.by, args.method)
        if found:
            return found, res.issues, []
        columns = _csv_columns(res.columns, res.notes, part, data.measure, args.method,
                               args.knha)
        return [], res.issues, list(csv_chunks(columns, header=False))

    for task, (found, task_issues, text) in _run_tasks(data, args.method, args.knha, control,
                                                        work):
        _merge_issues(collected, task, task_issues)
        problems += found
        if not problems:
            yield from text
    if problems:
        raise InputProblems(problems)
    issues += [(w, np.concatenate(i), a) for (w, a), i in collected.items()]


def main(argv: list[str]) -> int:
    """Run ``pool`` with arguments ``argv`` (without the ``pool`` word); return exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its message (or --help)
        return int(exc.code or 0)
    return run(args)
