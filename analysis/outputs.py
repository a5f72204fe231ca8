"""Writing the project's output files: atomically, and CSV cells safe to open in a spreadsheet.

Four functions for every writer in the project:

* :func:`write_text_atomic` writes text to a file so that readers see either the old
  file or the complete new one, never a half-written file;
* :func:`open_atomic` is the same for a writer that streams bytes;
* :func:`neutralise_cell` and :func:`neutralise_frame` defuse CSV formula injection
  (OWASP, "CSV Injection"): a spreadsheet runs a cell that begins with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return as a formula (``=HYPERLINK(...)``), so such
  a text cell gets a leading single quote, which spreadsheets display as text. A cell
  that is a number (``-1.5``, ``+3``, ``-1e-5``) is left as it is.

and one CSV writer, :func:`csv_chunks`, that formats a table column by column
(numbers with 15 significant digits, exactly ``"{:.15g}".format``; NaN and infinities
as empty cells; text quoted only when it holds a comma, quote or line break) fast
enough for a million rows.

``pyarrow`` (for :func:`csv_chunks`) is imported only when it is called.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FORMULA_PREFIXES",
    "write_text_atomic",
    "open_atomic",
    "neutralise_cell",
    "neutralise_frame",
    "csv_chunks",
]

# --------------------------------------------------------------------------- atomic files


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _final_mode(target: Path) -> int:
    """Permissions a plain ``open(target, "w")`` gives: the existing file's, or 0o666 & ~umask."""
    try:
        st = target.stat()
    except FileNotFoundError:
        return 0o666 & ~_umask()
    return stat.S_IMODE(st.st_mode)


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(target))
    if target.exists():
        mode = target.stat().st_mode
        if not (mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(
                target, os.W_OK):
            raise PermissionError(errno.EACCES, "the file is read-only, so it was not replaced",
                                  str(target))
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(folder))


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike) -> Iterator[Any]:
    """Open ``path`` for writing bytes; the file appears, complete, only on success.

    The bytes go to a temporary file in the same folder, which is flushed, synced and
    renamed over ``path`` (``os.replace``) when the ``with`` block ends without an
    exception; on an exception it is deleted and ``path`` is untouched. The final file
    has the permissions a plain ``open(path, "w")`` would give: an existing file's own,
    else 0o666 less the umask. A symbolic link is followed (its target is replaced).

    Raises ``PermissionError`` for a read-only existing file (it is not replaced, even
    where the user could), ``IsADirectoryError`` if ``path`` is a folder, and
    ``FileNotFoundError`` if its folder does not exist.
    """
    target = Path(os.path.realpath(path))
    _check_target(target)
    mode = _final_mode(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(text: str, path: str | os.PathLike, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`open_atomic`); return the path.

    Line endings are written as given (no newline translation).
    """
    data = text.encode(encoding)
    with open_atomic(path) as handle:
        handle.write(data)
    return Path(path)


# --------------------------------------------------------------------------- CSV injection

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_PATTERN = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_PREFIX_PATTERN = "^[=+\\-@\t\r]"


def neutralise_cell(text):
    """``text`` with a leading ``'`` if a spreadsheet would run it as a formula.

    A string that begins with one of :data:`FORMULA_PREFIXES` (``=``, ``+``, ``-``, ``@``,
    tab, carriage return) gets a single quote in front, unless the whole string is a
    decimal number such as ``-1.5``, ``+3`` or ``-1e-5`` (OWASP, "CSV Injection").
    Anything that is not a string (numbers, None, NaN) is returned unchanged.
    """
    if isinstance(text, str) and text.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(
            text):
        return "'" + text
    return text


def _is_text_column(column: pd.Series) -> bool:
    dtype = column.dtype
    return dtype == object or isinstance(dtype, pd.StringDtype)


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`neutralise_cell` applied to every text cell.

    Only object and string columns are touched (and only their string cells); numeric,
    boolean and other columns, the index and the column names are left as they are.
    Categorical columns of strings have their categories neutralised.
    """
    out = frame.copy()
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if isinstance(column.dtype, pd.CategoricalDtype):
            cats = column.cat.categories
            if not _is_text_column(pd.Series(cats)):
                continue
            fixed = [neutralise_cell(c) for c in cats]
            if fixed == list(cats):
                continue
            if len(set(fixed)) == len(fixed):
                out.isetitem(j, column.cat.rename_categories(fixed))
            else:  # two categories would merge: fall back to plain text
                out.isetitem(j, column.astype(object).map(neutralise_cell))
            continue
        if not _is_text_column(column):
            continue
        values = column.to_numpy(dtype=object)
        risky = [i for i, v in enumerate(values)
                 if isinstance(v, str) and v[:1] in FORMULA_PREFIXES]
        if not risky:
            continue
        fixed = values.copy()
        for i in risky:
            fixed[i] = neutralise_cell(values[i])
        out.isetitem(j, pd.Series(fixed, index=column.index, dtype=column.dtype,
                                  name=column.name))
    return out


def _neutralise_arrow(array):
    """:func:`neutralise_cell` on a pyarrow string array, vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    risky = pc.and_(pc.match_substring_regex(array, _PREFIX_PATTERN),
                    pc.invert(pc.match_substring_regex(array, _NUMBER_PATTERN)))
    if not pc.any(risky).as_py():
        return array
    quoted = pc.binary_join_element_wise(pa.scalar("'"), array, "")
    return pc.if_else(risky, quoted, array)


# --------------------------------------------------------------------------- numbers


def _split(a):
    """Dekker's split: a = hi + lo with hi holding the upper 26 bits."""
    c = 134217729.0 * a  # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _powers_of_ten(lowest: int, highest: int):
    """10^p for p in [lowest, highest] as m * 2^e, m = m_hi + m_lo in [0.5, 1) (double-double).

    Exact to about 2^-106 (computed with rational arithmetic); m_hi is pre-split.
    """
    count = highest - lowest + 1
    m_hi = np.empty(count)
    m_lo = np.empty(count)
    exp = np.empty(count, dtype=np.int64)
    for i, p in enumerate(range(lowest, highest + 1)):
        value = Fraction(10) ** p
        e = value.numerator.bit_length() - value.denominator.bit_length()
        m = value / Fraction(2) ** e
        while m >= 1:
            m /= 2
            e += 1
        while m < Fraction(1, 2):
            m *= 2
            e -= 1
        hi = float(m)
        m_hi[i] = hi
        m_lo[i] = float(m - Fraction(hi))
        exp[i] = e
    hh, hl = _split(m_hi)
    return m_hi, hh, hl, m_lo, exp


_POW_LOW, _POW_HIGH = -300, 345
_POW_TABLE = None


def _significand(a: np.ndarray, digits: int):
    """Correctly rounded significand of positive finite doubles, as Python formats them.

    Returns (D, E, exact): D an integer with ``digits`` digits (10^(digits-1) <= D <
    10^digits) and E the decimal exponent, so that D * 10^(E - digits + 1) is ``a``
    rounded to ``digits`` significant digits (round half to even on the exact binary
    value, as ``"{:.15g}"``); ``exact`` is False where the rounding could not be
    decided with certainty (within 1e-9 of a tie), which the caller formats with Python.

    Method: N = a * 10^(digits - 1 - E) is computed as a double-double, exactly (the
    product of a's mantissa and a double-double power of ten, Dekker's two-product) up
    to about 1e-31 relative, so its fractional part is known to about 1e-16; D is N
    rounded to an integer.
    """
    global _POW_TABLE
    if _POW_TABLE is None:
        _POW_TABLE = _powers_of_ten(_POW_LOW, _POW_HIGH)
    m_hi, hh, hl, m_lo, p_exp = _POW_TABLE
    top = 10.0 ** digits
    bottom = 10.0 ** (digits - 1)
    n = a.size
    D = np.zeros(n, dtype=np.int64)
    E = np.floor(np.log10(a)).astype(np.int64)
    exact = np.ones(n, dtype=bool)
    ma, ea = np.frexp(a)
    ah, al = _split(ma)
    todo = np.arange(n)
    for _ in range(4):
        if todo.size == 0:
            break
        e = E[todo]
        row = (digits - 1 - e) - _POW_LOW
        x, xh, xl = ma[todo], ah[todo], al[todo]
        bh, bl = hh[row], hl[row]
        prod = x * m_hi[row]
        err = ((xh * bh - prod) + xh * bl + xl * bh) + xl * bl
        err += x * m_lo[row]
        shift = ea[todo] + p_exp[row]
        hi = np.ldexp(prod, shift)
        lo = np.ldexp(err, shift)
        up = (hi > top) | ((hi == top) & (lo >= 0))
        d = np.rint(hi)
        frac = (hi - d) + lo
        d = np.where(frac > 0.5, d + 1, np.where(frac < -0.5, d - 1, d))
        down = d < bottom
        tie = np.abs(np.abs(frac) - 0.5) < 1e-9
        E[todo[up]] += 1
        E[todo[down & ~up]] -= 1
        ok = ~up & ~down
        done = todo[ok]
        D[done] = d[ok].astype(np.int64)
        exact[todo[ok & tie]] = False
        todo = todo[~ok]
    exact[todo] = False
    carry = D == 10 ** digits
    D[carry] = 10 ** (digits - 1)
    E[carry] += 1
    return D, E, exact


_POW10_INT = np.array([10**i for i in range(19)], dtype=np.int64)


def _trailing_zeros(R: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Trailing decimal zeros of R among its last ``width`` digits (``width`` when R = 0)."""
    tz = np.zeros(R.size, dtype=np.int64)
    rest = R.copy()
    for step in (8, 4, 2, 1):
        p = _POW10_INT[step]
        hit = (rest % p == 0) & (rest != 0)
        tz[hit] += step
        rest[hit] //= p
    return np.where(R == 0, width, tz)


def _format_g(values: np.ndarray, digits: int = 15):
    """``"{:.{digits}g}".format`` of every value, as a pyarrow string array (null if not finite).

    Vectorised: the significand comes from :func:`_significand`, the text from integer
    to string casts joined with pyarrow; cells whose rounding is within 1e-9 of a tie
    are formatted by Python. Checked against Python's formatting in tests/test_outputs.py.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not 1 <= digits <= 15:
        raise ValueError(f"digits must be 1 to 15, got {digits}")
    x = np.ascontiguousarray(values, dtype=float)
    n = x.size
    finite = np.isfinite(x)
    a = np.abs(x)
    nonzero = finite & (a != 0)
    D = np.zeros(n, dtype=np.int64)
    E = np.zeros(n, dtype=np.int64)
    exact = np.ones(n, dtype=bool)
    idx = np.flatnonzero(nonzero)
    if idx.size:
        d_, e_, ok_ = _significand(a[idx], digits)
        D[idx], E[idx], exact[idx] = d_, e_, ok_
    sci = (E < -4) | (E >= digits)
    # digits after the point before trimming: fixed d.ddd at exponent E, or the mantissa
    q = np.where(sci, digits - 1, digits - 1 - E)
    int_part = np.where(q >= digits, 0, D // _POW10_INT[np.minimum(q, 18)])
    rest = D - int_part * _POW10_INT[np.minimum(q, 18)]
    tz = _trailing_zeros(rest, q)
    width = q - tz
    frac = rest // _POW10_INT[tz] + _POW10_INT[width]  # leading 1 keeps leading zeros
    int_text = pc.cast(pa.array(int_part), pa.string())
    frac_text = pc.utf8_slice_codeunits(pc.cast(pa.array(frac, mask=width == 0), pa.string()), 1)
    body = pc.binary_join_element_wise(int_text, frac_text, ".", null_handling="skip")
    if sci.any():
        mag = np.abs(E)
        exp_text = pc.utf8_slice_codeunits(
            pc.cast(pa.array(mag + np.where(mag < 100, 100, 1000), mask=~sci), pa.string()), 1)
        sign = pa.array(np.where(E < 0, "-", "+"), mask=~sci)
        suffix = pc.binary_join_element_wise(sign, exp_text, "")
        body = pc.binary_join_element_wise(body, suffix, "e", null_handling="skip")
    negative = np.signbit(x) & finite
    if negative.any():
        minus = pa.array(np.full(n, "-"), mask=~negative)
        body = pc.binary_join_element_wise(minus, body, "", null_handling="skip")
    slow = np.flatnonzero(~exact)
    if not finite.all() or slow.size:
        text = body.to_pylist() if slow.size else None
        if text is not None:
            for i in slow.tolist():
                text[i] = format(float(x[i]), f".{digits}g")
            body = pa.array(text, type=pa.string())
        body = pc.if_else(pa.array(finite), body, pa.scalar(None, pa.string()))
    return body


# --------------------------------------------------------------------------- CSV

_NEEDS_QUOTES = '[,"\r\n]'


def _quote_text(array):
    """CSV-escape a pyarrow string array: quote cells with a comma, quote or line break."""
    import pyarrow as pa
    import pyarrow.compute as pc

    needs = pc.fill_null(pc.match_substring_regex(array, _NEEDS_QUOTES), False)
    if not pc.any(needs).as_py():
        return array
    doubled = pc.replace_substring(array, '"', '""')
    quoted = pc.binary_join_element_wise(pa.scalar('"'), doubled, pa.scalar('"'), "")
    return pc.if_else(needs, quoted, array)


def _text_array(column):
    """A column of labels or notes as a pyarrow string array (missing cells null)."""
    import pyarrow as pa

    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        array = column
    else:
        values = pd.Series(column).to_numpy(dtype=object)
        try:
            array = pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array([None if _missing(v) else str(v) for v in values],
                             type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        import pyarrow.compute as pc

        array = pc.cast(array, pa.string())
    return array


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _cells(column, neutralise: bool):
    """One column as CSV cells (a pyarrow string array; null for an empty cell)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        text = _text_array(column)
    else:
        series = column if isinstance(column, pd.Series) else pd.Series(column)
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype) and not series.isna().any():
            flags = series.to_numpy(dtype=bool)
            return pa.array(np.where(flags, "True", "False"))
        if pd.api.types.is_integer_dtype(dtype) and not series.isna().any():
            return pc.cast(pa.array(series.to_numpy(dtype=np.int64)), pa.string())
        if pd.api.types.is_float_dtype(dtype) or (
                pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
            return _format_g(series.to_numpy(dtype=float, na_value=np.nan))
        text = _text_array(series)
    if neutralise:
        text = _neutralise_arrow(text)
    return _quote_text(text)


def _header_cell(name) -> str:
    text = str(name)
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_chunks(frame, *, chunk_rows: int = 131072, neutralise: bool = True) -> Iterator[bytes]:
    """The CSV text of ``frame`` (UTF-8 bytes), in chunks of rows, header first.

    ``frame`` is a DataFrame, or a dict of column name to array / Series / pyarrow
    array. Cells are written as the project's CSVs always were: floats as
    ``"{:.15g}".format(x)`` (so 15 significant digits, ``1e-05``, ``1e+20``, ``-0``),
    NaN and infinities as an empty cell, integers as ``str``, booleans as ``True`` /
    ``False``, missing text as an empty cell, and text quoted (with inner quotes
    doubled) only when it holds a comma, a quote or a line break; lines end in
    ``"\\n"``. Text cells are passed through :func:`neutralise_cell` first unless
    ``neutralise`` is False. The header is written as given.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = dict(frame.items()) if isinstance(frame, pd.DataFrame) else dict(frame)
    if isinstance(frame, pd.DataFrame) and frame.columns.duplicated().any():
        raise ValueError("csv_chunks needs unique column names")
    names = list(columns)
    yield (",".join(_header_cell(c) for c in names) + "\n").encode("utf-8")
    n = len(next(iter(columns.values()))) if columns else 0
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        cells = []
        for name in names:
            column = columns[name]
            part = column[start:stop] if not isinstance(column, pd.Series) else column.iloc[
                start:stop]
            cells.append(_cells(part, neutralise))
        lines = pc.binary_join_element_wise(*cells, ",", null_handling="replace",
                                            null_replacement="")
        lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32,
                                count=len(lines) + 1, offset=lines.offset * 4)
        data = lines.buffers()[2]
        yield data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
