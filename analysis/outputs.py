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

``pyarrow`` (for :func:`csv_chunks`) and pandas (for DataFrames) are imported only when
they are needed.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
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
    import pandas as pd

    dtype = column.dtype
    return dtype == object or isinstance(dtype, pd.StringDtype)


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`neutralise_cell` applied to every text cell.

    Only object and string columns are touched (and only their string cells); numeric,
    boolean and other columns, the index and the column names are left as they are.
    Categorical columns of strings have their categories neutralised.
    """
    import pandas as pd

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


# pyarrow objects made from Python values (pa.array, pa.scalar, or a plain str given to a
# compute function) make pyarrow import pandas, a third of a second of a command's
# start-up; these build them from buffers instead.


def _arrow_numbers(values) -> Any:
    """A numpy array of numbers as a pyarrow array (no copy, no nulls)."""
    import pyarrow as pa

    arr = np.ascontiguousarray(values)
    if arr.dtype == bool:
        return _arrow_bools(arr)
    kind = {"f": "float", "i": "int", "u": "uint"}[arr.dtype.kind]
    arrow_type = getattr(pa, f"{kind}{arr.dtype.itemsize * 8}")()
    return pa.Array.from_buffers(arrow_type, arr.size, [None, pa.py_buffer(arr)])


def _arrow_bools(values, valid=None) -> Any:
    """A numpy boolean array as a pyarrow boolean array (``valid`` False gives null)."""
    import pyarrow as pa

    arr = np.asarray(values, dtype=bool)
    bitmap = None
    if valid is not None and not np.all(valid):
        bitmap = pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))
    return pa.Array.from_buffers(
        pa.bool_(), arr.size,
        [bitmap, pa.py_buffer(np.packbits(arr, bitorder="little"))])


def _arrow_strings(texts) -> Any:
    """A sequence of str (None for a missing cell) as a pyarrow string array."""
    import pyarrow as pa

    encoded = [None if t is None else str(t).encode("utf-8") for t in texts]
    lengths = np.fromiter((0 if b is None else len(b) for b in encoded), dtype=np.int64,
                          count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    valid = np.fromiter((b is not None for b in encoded), dtype=bool, count=len(encoded))
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = b"".join(b for b in encoded if b is not None)
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)])


def _arrow_text(text: str | None) -> Any:
    """One str (or None) as a pyarrow string scalar."""
    return _arrow_strings([text])[0]


def _neutralise_arrow(array):
    """:func:`neutralise_cell` on a pyarrow string array, vectorised."""
    import pyarrow.compute as pc

    risky = pc.and_(pc.match_substring_regex(array, _PREFIX_PATTERN),
                    pc.invert(pc.match_substring_regex(array, _NUMBER_PATTERN)))
    if not pc.any(risky).as_py():
        return array
    quoted = pc.binary_join_element_wise(_arrow_text("'"), array, _arrow_text(""))
    return pc.if_else(risky, quoted, array)


# --------------------------------------------------------------------------- numbers


def _split(a):
    """Dekker's split: a = hi + lo with hi holding the upper 26 bits."""
    c = 134217729.0 * a  # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _power_table():
    """10^p for p in [_POW_LOW, _POW_HIGH] as (m_hi + m_lo) * 2^e with m_hi in [0.5, 1].

    A double-double, exact to about 2^-106 (computed with rational arithmetic); m_hi
    is also given split in two halves for Dekker's product. Built once, when first used.
    """
    global _POW_TABLE
    if _POW_TABLE is None:
        count = _POW_HIGH - _POW_LOW + 1
        m_hi = np.empty(count)
        m_lo = np.empty(count)
        exp = np.empty(count, dtype=np.int64)
        for i, p in enumerate(range(_POW_LOW, _POW_HIGH + 1)):
            value = Fraction(10) ** p
            e = value.numerator.bit_length() - value.denominator.bit_length()
            m = value / Fraction(2) ** e
            while m >= 1:
                m /= 2
                e += 1
            while m < Fraction(1, 2):
                m *= 2
                e -= 1
            m_hi[i] = float(m)
            m_lo[i] = float(m - Fraction(m_hi[i]))
            exp[i] = e
        hh, hl = _split(m_hi)
        _POW_TABLE = (m_hi, hh, hl, m_lo, exp)
    return _POW_TABLE


_POW_LOW, _POW_HIGH = -300, 345
_POW_TABLE = None
_POW2 = 2.0 ** np.arange(64)


def _round_to_digits(ma, ah, al, ea, E, digits):
    """One attempt at the significand with decimal exponent guess E (see _significand)."""
    m_hi, hh, hl, m_lo, p_exp = _power_table()
    row = (digits - 1 - E) - _POW_LOW
    prod = ma * m_hi[row]
    bh, bl = hh[row], hl[row]
    err = ((ah * bh - prod) + ah * bl + al * bh) + al * bl + ma * m_lo[row]
    scale = _POW2[ea + p_exp[row]]  # N = (prod + err) * 2^shift, shift in 46..52: exact
    hi = prod * scale
    lo = err * scale
    d = np.rint(hi)
    frac = (hi - d) + lo
    d += frac > 0.5
    d -= frac < -0.5
    top = 10.0 ** digits
    up = (hi > top) | ((hi == top) & (lo >= 0))
    down = d < 10.0 ** (digits - 1)
    tie = np.abs(np.abs(frac) - 0.5) < 1e-9
    return d, up, down, tie


def _significand(a: np.ndarray, digits: int):
    """Correctly rounded significand of positive finite doubles, as Python formats them.

    Returns (D, E, exact): D a whole number (as a float) with ``digits`` digits
    (10^(digits-1) <= D < 10^digits) and E the decimal exponent, so that
    D * 10^(E - digits + 1) is ``a`` rounded to ``digits`` significant digits (round half
    to even on the exact binary value, as ``"{:.15g}"``); ``exact`` is False where the
    rounding could not be decided with certainty (within 1e-9 of a tie), for the caller
    to format with Python.

    Method: N = a * 10^(digits - 1 - E) is computed as a double-double: a's mantissa
    times a double-double power of ten by Dekker's exact two-product, so N is known to
    about 1e-31 relative and its distance from the nearest half-integer to about 1e-16;
    D is N rounded to an integer. E starts at floor(log10(a)) and is corrected by one
    where that lands N outside [10^(digits-1), 10^digits).
    """
    E = np.floor(np.log10(a)).astype(np.int64)
    ma, ea = np.frexp(a)
    ah, al = _split(ma)
    D, up, down, tie = _round_to_digits(ma, ah, al, ea, E, digits)
    exact = ~tie
    redo = np.flatnonzero(up | down)
    for _ in range(3):
        if redo.size == 0:
            break
        E[redo] += np.where(up[redo], 1, -1)
        d, u, dn, t = _round_to_digits(ma[redo], ah[redo], al[redo], ea[redo], E[redo], digits)
        D[redo] = d
        exact[redo] = ~t
        up[redo], down[redo] = u, dn
        redo = redo[u | dn]
    exact[redo] = False
    carry = D == 10.0 ** digits
    D[carry] = 10.0 ** (digits - 1)
    E[carry] += 1
    return D, E, exact


def _digit_words() -> np.ndarray:
    """"0000".."9999" as 4-byte words (native byte order, so a word writes its digits)."""
    global _WORDS
    if _WORDS is None:
        _WORDS = np.frombuffer(b"".join(b"%04d" % i for i in range(10000)), dtype=np.uint32)
    return _WORDS


_WORDS = None
_P10 = 10.0 ** np.arange(23)  # exact powers of ten

# A cell's text is gathered from a 28-byte source row: bytes 0-15 the significand D as 16
# digits (D's first digit at byte 16 - digits), 16 ".", 17 "-", 18 "e", 19 the
# exponent's sign, 20-23 the exponent as 4 digits, 24 "0", 25 a NUL byte (padding).
# Which bytes, in which order, depends only on the layout: sign, notation, exponent
# (for fixed notation) and the number of significant digits, so the byte orders of all
# layouts are tabulated once per precision.
_SRC_POINT, _SRC_MINUS, _SRC_E, _SRC_ESIGN, _SRC_EXP, _SRC_ZERO, _SRC_PAD = (
    16, 17, 18, 19, 20, 24, 25)
_WIDTH = 24  # the longest text is 22 bytes: -1.23456789012345e-308
_LAYOUTS: dict[int, tuple] = {}


def _layout_tables(digits: int):
    """(order, length, ids) for ``digits``: each layout's source bytes and text length.

    ``ids`` maps a layout kind to a function of the cell values giving its row number.
    """
    if digits in _LAYOUTS:
        return _LAYOUTS[digits]
    first = 16 - digits
    rows: list[list[int]] = []

    def add(seq):
        rows.append(seq)

    # fixed notation, exponent 0..digits-1: neg x exponent x significant digits
    for neg in (0, 1):
        for exp in range(digits):
            for nd in range(1, digits + 1):
                seq = [_SRC_MINUS] * neg + [first + j for j in range(exp + 1)]
                if nd > exp + 1:
                    seq += [_SRC_POINT] + [first + j for j in range(exp + 1, nd)]
                add(seq)
    # fixed notation, exponent -1..-4: neg x zeros after the point x significant digits
    for neg in (0, 1):
        for zeros in range(4):
            for nd in range(1, digits + 1):
                add([_SRC_MINUS] * neg + [_SRC_ZERO, _SRC_POINT] + [_SRC_ZERO] * zeros
                    + [first + j for j in range(nd)])
    # scientific: neg x significant digits x exponent digits (2 or 3)
    for neg in (0, 1):
        for nd in range(1, digits + 1):
            for three in (0, 1):
                seq = [_SRC_MINUS] * neg + [first]
                if nd > 1:
                    seq += [_SRC_POINT] + [first + j for j in range(1, nd)]
                seq += [_SRC_E, _SRC_ESIGN] + list(range(_SRC_EXP + 2 - three, _SRC_EXP + 4))
                add(seq)
    add([_SRC_ZERO])               # 0
    add([_SRC_MINUS, _SRC_ZERO])   # -0
    add([])                        # an empty cell
    order = np.full((len(rows), _WIDTH), _SRC_PAD, dtype=np.intp)
    length = np.zeros(len(rows), dtype=np.int32)
    for i, seq in enumerate(rows):
        order[i, :len(seq)] = seq
        length[i] = len(seq)
    fixed_neg0 = 2 * digits * digits
    sci0 = fixed_neg0 + 2 * 4 * digits
    zero0 = sci0 + 2 * digits * 2
    _LAYOUTS[digits] = (order, length, (fixed_neg0, sci0, zero0, zero0 + 2))
    return _LAYOUTS[digits]


def _chunks4(X, count):
    """Base-10^4 digits of whole floats X < 10^(4 count), most significant first (exact)."""
    out = []
    for power in range(count - 1, -1, -1):
        scale = 10.0 ** (4 * power)
        q = np.floor(X / scale) if power else X
        out.append(q.astype(np.intp))
        if power:
            X = X - q * scale
    return out


def _word(text: bytes) -> np.uint32:
    return np.frombuffer(text, dtype=np.uint32)[0]


def _format_g(values: np.ndarray, digits: int = 15):
    """``"{:.{digits}g}".format`` of every value, as a pyarrow string array ("" if not finite).

    Vectorised with numpy: the significand D and exponent E come from
    :func:`_significand`; each cell's text is gathered, in the order its layout (sign,
    notation, exponent, significant digits) prescribes, from a 28-byte row holding D's
    digits, the exponent's digits and the few characters a number needs, and handed to
    pyarrow as a string view. Cells within 1e-9 of a rounding tie are formatted by
    Python. Checked against Python's formatting in tests/test_outputs.py.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not 1 <= digits <= 15:
        raise ValueError(f"digits must be 1 to 15, got {digits}")
    x = np.ascontiguousarray(values, dtype=float).ravel()
    n = x.size
    finite = np.isfinite(x)
    a = np.abs(x)
    if not finite.all():
        a[~finite] = 0.0
    nonzero = a != 0
    D = np.zeros(n)
    E = np.zeros(n, dtype=np.int64)
    exact = np.ones(n, dtype=bool)
    idx = np.flatnonzero(nonzero)
    if idx.size == n:
        D, E, exact = _significand(a, digits)
    elif idx.size:
        D[idx], E[idx], exact[idx] = _significand(a[idx], digits)
    # significant digits: D without its trailing zeros (binary search by 8, 4, 2, 1)
    Dt = D.copy()
    nd = np.full(n, digits, dtype=np.int64)
    for step in (8, 4, 2, 1):
        scale = _P10[step]
        q = np.floor(Dt / scale)
        hit = (q * scale == Dt) & nonzero
        np.copyto(Dt, q, where=hit)
        nd -= hit * step
    order, length, (fixed_neg0, sci0, zero0, empty_id) = _layout_tables(digits)
    negative = np.signbit(x) & finite
    sci = nonzero & ((E < -4) | (E >= digits))
    fixed_pos = nonzero & ~sci & (E >= 0)
    fixed_neg = nonzero & ~sci & (E < 0)
    neg = negative.astype(np.int64)
    mag = np.abs(E)
    layout = (fixed_pos * ((neg * digits + E) * digits + nd - 1)
              + fixed_neg * (fixed_neg0 + (neg * 4 + (-E - 1)) * digits + nd - 1)
              + sci * (sci0 + (neg * digits + nd - 1) * 2 + (mag >= 100))
              + ~nonzero * (zero0 + neg))
    layout[~finite | ~exact] = empty_id

    words = _digit_words()
    src = np.empty((n, 7), dtype=np.uint32)
    for j, chunk in enumerate(_chunks4(D, 4)):
        src[:, j] = words[chunk]
    src[:, 4] = _SIGN_WORDS[(E < 0).astype(np.intp)]
    src[:, 5] = words[sci * mag]
    src[:, 6] = _word(b"0\0\0\0")
    # gather each layout's bytes for all its cells at once: cells sorted by layout (a
    # radix sort on 16-bit ids), one column gather per layout present
    layout16 = layout.astype(np.uint16)
    by_layout = np.argsort(layout16, kind="stable")
    sorted_ids = layout16[by_layout]
    cuts = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [n]))
    src_sorted = src.view(np.uint8)[by_layout]
    text = np.zeros((n, _WIDTH), dtype=np.uint8)
    for start, stop in zip(starts.tolist(), stops.tolist()):
        lid = int(sorted_ids[start])
        width = int(length[lid])
        if width:
            text[start:stop, :width] = src_sorted[start:stop][:, order[lid, :width]]
    position = np.empty(n, dtype=np.intp)
    position[by_layout] = np.arange(n)
    size = length[layout]
    # pyarrow string views: (length, 12 bytes inline) up to 12 bytes, else (length,
    # first 4 bytes, buffer 0, offset)
    row_words = text.view(np.uint32)[position]
    views = np.empty((n, 4), dtype=np.uint32)
    views[:, 0] = size
    views[:, 1] = row_words[:, 0]
    inline = size <= 12
    views[:, 2] = row_words[:, 1] * inline
    views[:, 3] = np.where(inline, row_words[:, 2], (position * _WIDTH).astype(np.uint32))
    view_array = pa.Array.from_buffers(pa.string_view(), n,
                                       [None, pa.py_buffer(views), pa.py_buffer(text)])
    result = pc.cast(view_array, pa.string())
    slow = np.flatnonzero(finite & ~exact)
    if slow.size:
        patch = _arrow_strings([format(float(v), f".{digits}g") for v in x[slow]])
        mask = np.zeros(n, dtype=bool)
        mask[slow] = True
        result = pc.replace_with_mask(result, _arrow_bools(mask), patch)
    return result


_SIGN_WORDS = np.array([_word(b".-e+"), _word(b".-e-")], dtype=np.uint32)


# --------------------------------------------------------------------------- CSV

_NEEDS_QUOTES = '[,"\r\n]'


def _quote_text(array):
    """CSV-escape a pyarrow string array: quote cells with a comma, quote or line break."""
    import pyarrow.compute as pc

    needs = pc.fill_null(pc.match_substring_regex(array, _NEEDS_QUOTES),
                         _arrow_bools([False])[0])
    if not pc.any(needs).as_py():
        return array
    doubled = pc.replace_substring(array, '"', '""')
    quote = _arrow_text('"')
    quoted = pc.binary_join_element_wise(quote, doubled, quote, _arrow_text(""))
    return pc.if_else(needs, quoted, array)


def _text_array(column):
    """A column of labels or notes as a pyarrow string array (missing cells null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(column, pa.Array):
        array = column
    else:
        values = np.asarray(column, dtype=object)
        array = _arrow_strings([None if _missing(v) else str(v) for v in values])
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    return array


def _missing(value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    pd = sys.modules.get("pandas")
    return pd is not None and value is pd.NA


def _numpy_view(array) -> np.ndarray:
    """A numeric pyarrow array as numpy: its values buffer (nulls become NaN).

    pyarrow's own ``to_numpy`` imports pandas, which costs a third of a second of a
    command's start-up; reading the buffer does not.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        array = pc.fill_null(pc.cast(array, pa.float64()), _arrow_numbers(np.array([np.nan]))[0])
    kind = array.type
    if pa.types.is_floating(kind):
        dtype = np.dtype(f"float{kind.bit_width}")
    elif pa.types.is_signed_integer(kind):
        dtype = np.dtype(f"int{kind.bit_width}")
    elif pa.types.is_unsigned_integer(kind):
        dtype = np.dtype(f"uint{kind.bit_width}")
    else:
        raise TypeError(f"not a numeric array: {kind}")
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array),
                         offset=array.offset * dtype.itemsize)


def _numpy_column(column):
    """A pandas Series as a numpy array of its kind (float with NaN for missing numbers)."""
    import pandas as pd

    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) and not column.isna().any():
        return column.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(dtype) and not column.isna().any():
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    return column.to_numpy(dtype=object)


def _cells(column, neutralise: bool):
    """One column as CSV cells (a pyarrow string array or scalar; null for an empty cell)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is None or isinstance(column, str):  # the same cell on every row
        if column is None:
            return _arrow_text(None)
        text = neutralise_cell(column) if neutralise else column
        return _arrow_text(_header_cell(text))
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        if column.null_count == len(column):  # every cell empty
            return _arrow_text(None)
        kind = column.type
        if pa.types.is_boolean(kind):
            column = np.asarray(column.to_pylist(), dtype=object)
        elif pa.types.is_floating(kind) or pa.types.is_integer(kind):
            column = _numpy_view(column)
        else:
            text = _text_array(column)
            return _quote_text(_neutralise_arrow(text) if neutralise else text)
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(column, (pd.Series, pd.Index)):
        column = _numpy_column(pd.Series(column))
    arr = np.asarray(column)
    if arr.dtype.kind == "b":
        return pc.if_else(_arrow_bools(arr), _arrow_text("True"), _arrow_text("False"))
    if arr.dtype.kind in "iu":
        return pc.cast(_arrow_numbers(arr.astype(np.int64)), pa.string())
    if arr.dtype.kind == "f":
        return _format_g(arr)
    text = _text_array(arr)
    return _quote_text(_neutralise_arrow(text) if neutralise else text)


def _header_cell(name) -> str:
    text = str(name)
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _rows(columns: dict, names: list, start: int, stop: int, neutralise: bool) -> memoryview:
    """CSV lines of rows start..stop-1 (UTF-8, a view of pyarrow's buffer: no copy)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = []
    for name in names:
        column = columns[name]
        if not (column is None or isinstance(column, str)):
            column = column.iloc[start:stop] if hasattr(column, "iloc") else column[start:stop]
        cells.append(_cells(column, neutralise))
    # the line break joins the last column's cells, so one join makes whole lines
    last = cells[-1]
    if isinstance(last, pa.Scalar):
        cells[-1] = _arrow_text((last.as_py() or "") + "\n")
    else:
        cells[-1] = pc.binary_join_element_wise(last, _arrow_text(""), _arrow_text("\n"),
                                                null_handling="replace", null_replacement="")
    lines = pc.binary_join_element_wise(*cells, _arrow_text(","), null_handling="replace",
                                        null_replacement="")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1,
                            offset=lines.offset * 4)
    data = lines.buffers()[2]
    return memoryview(data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])))


def csv_chunks(frame, *, chunk_rows: int = 32768, neutralise: bool = True,
               threads: int = 1, header: bool = True) -> Iterator[bytes | memoryview]:
    """The CSV text of ``frame`` (UTF-8), in chunks of rows, header first.

    Each chunk is bytes-like (a memoryview of pyarrow's buffer, so no copy is made):
    write it to a binary file, or ``b"".join`` the chunks.

    ``frame`` is a DataFrame, or a dict of column name to a numpy array, a pandas
    Series, a pyarrow array, or a str or None (the same cell on every row). Cells
    are written as the project's CSVs always were: floats as ``"{:.15g}".format(x)``
    (15 significant digits: ``0.1``, ``1e-05``, ``1e+20``, ``-0``), NaN and infinities
    as an empty cell, integers as ``str``, booleans as ``True`` / ``False``, missing
    text as an empty cell, and text quoted (inner quotes doubled) only when it holds a
    comma, a quote or a line break; lines end in ``"\n"``. Text cells go through
    :func:`neutralise_cell` first unless ``neutralise`` is False. The header is written
    as given (``header`` False leaves it out). With ``threads`` > 1, chunks are
    formatted on that many threads (numpy and pyarrow release the interpreter lock),
    still yielded in order.
    """
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(frame, pd.DataFrame):
        if frame.columns.duplicated().any():
            raise ValueError("csv_chunks needs unique column names")
        columns = {name: frame[name] for name in frame.columns}
    else:
        columns = dict(frame)
    names = list(columns)
    if header:
        yield (",".join(_header_cell(c) for c in names) + "\n").encode("utf-8")
    lengths = {len(c) for c in columns.values() if not (c is None or isinstance(c, str))}
    if len(lengths) > 1:
        raise ValueError(f"csv_chunks: columns differ in length {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    spans = [(start, min(start + chunk_rows, n)) for start in range(0, n, chunk_rows)]
    if threads <= 1 or len(spans) < 2:
        for start, stop in spans:
            yield _rows(columns, names, start, stop, neutralise)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as executor:
        pending = []
        for span in spans:
            pending.append(executor.submit(_rows, columns, names, *span, neutralise))
            if len(pending) > 2 * threads:  # bound the chunks held in memory
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


#: The exit status of a command whose reader stopped reading (``... | head``): 128 + SIGPIPE,
#: what a shell reports for a program the closed pipe stopped.
BROKEN_PIPE_STATUS = 141


def reader_gone() -> int:
    """After a ``BrokenPipeError`` on standard output (its reader, such as ``head``, has
    stopped reading): send what is still buffered to /dev/null, so that nothing more is
    reported at exit, and return :data:`BROKEN_PIPE_STATUS`. The command says nothing,
    as command-line tools do when the pipe closes."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):  # no real file descriptor to redirect
        pass
    return BROKEN_PIPE_STATUS


def _write_all(stream, chunk) -> None:
    """Write all of ``chunk``: an unbuffered standard output (``python -u``,
    ``PYTHONUNBUFFERED``) is a raw file, whose ``write`` may take only part of it (as when
    the reader of a pipe stops); the rest is written again, which then raises. ``None``
    (a non-blocking file that would block) wrote nothing: it is tried again."""
    view = memoryview(chunk).cast("B")
    while view:
        view = view[stream.write(view) or 0:]


def write_output(content, output: str | os.PathLike | None = None) -> None:
    """Write ``content`` (a str, or an iterable of bytes-like chunks such as
    :func:`csv_chunks` yields) to standard output, or atomically to ``output``.

    Standard output gets nothing until all of it is made (an error on the way leaves it
    empty); a file is written as the chunks come (:func:`open_atomic`) and appears only
    whole, with the permissions a plain write would give.
    """
    chunks = [content.encode("utf-8")] if isinstance(content, str) else content
    if output is None:
        chunks = list(chunks)
        stream = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        for chunk in chunks:
            if stream is None:
                sys.stdout.write(bytes(chunk).decode("utf-8"))
            else:
                _write_all(stream, chunk)
        if stream is not None:
            stream.flush()
        return
    with open_atomic(output) as handle:
        for chunk in chunks:
            handle.write(chunk)
