"""analysis.outputs: atomic writes, CSV formula-injection defence, and the CSV writer.

The CSV writer must give exactly the text the project's CSVs always had; the reference
below is the previous writer of ``python -m analysis pool`` (``render_csv``), kept here
verbatim as the specification.
"""

from __future__ import annotations

import math
import os
import stat
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.outputs import (
    FORMULA_PREFIXES,
    _format_g,
    csv_chunks,
    neutralise_cell,
    neutralise_frame,
    open_atomic,
    write_text_atomic,
)

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- the reference writer


def _old_csv_cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def old_render_csv(table: pd.DataFrame) -> str:
    """The writer of ``python -m analysis pool --format csv`` before analysis.outputs."""
    columns = []
    for name in table.columns:
        arr = table[name].to_numpy()
        if arr.dtype.kind == "f":
            cells = list(map("{:.15g}".format, arr.tolist()))
            for i in np.flatnonzero(~np.isfinite(arr)).tolist():
                cells[i] = ""
        elif arr.dtype.kind in "iub":
            cells = list(map(str, arr.tolist()))
        else:
            cells = list(map(_old_csv_cell, arr.tolist()))
        columns.append(cells)
    header = ",".join(_old_csv_cell(str(c)) for c in table.columns)
    return header + "\n" + "".join(map("{}\n".format, map(",".join, zip(*columns))))


def new_csv(frame, **kw) -> str:
    return b"".join(csv_chunks(frame, **kw)).decode("utf-8")


EDGE = [0.0, -0.0, 1e-300, -1e-300, 1e20, 1e15, 1e16, 123456789012345.0, 1234567890123456.0,
        3.0, -7.0, 2.0**53, 1e-5, 1e-4, 0.0001234, 9.999999999999995e-5, 0.1, 0.2 + 0.1,
        1 / 3, 2 / 3, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
        999999999999999.5, 1000000000000005.0, 0.5, 100.0, 1e100, 1e-100, 12345.678,
        float("nan"), float("inf"), float("-inf")]


def test_writer_equals_the_old_formatting_on_edge_values():
    frame = pd.DataFrame({"x": EDGE, "y": EDGE[::-1]})
    assert new_csv(frame) == old_render_csv(frame)


def test_writer_equals_the_old_formatting_on_random_values():
    rng = np.random.default_rng(20240601)
    n = 20000
    frame = pd.DataFrame({
        "normal": rng.normal(size=n),
        "scaled": rng.normal(size=n) * 10.0 ** rng.integers(-320, 308, n),
        "bits": rng.integers(-2**62, 2**62, n, dtype=np.int64).view(np.float64),
        "short": np.round(rng.normal(size=n) * 1e4) / 100,
        "integers": rng.integers(-10**17, 10**17, n).astype(float),
        "k": rng.integers(1, 50, n),
        "flag": rng.random(n) < 0.5,
        "label": rng.choice(["a", "b, c", 'say "hi"', "line\nbreak", ""], n),
    })
    frame.loc[rng.random(n) < 0.05, "normal"] = np.nan
    assert new_csv(frame, neutralise=False, chunk_rows=3001) == old_render_csv(frame)
    assert new_csv(frame, neutralise=False, threads=2, chunk_rows=997) == old_render_csv(frame)


@SETTINGS
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40))
@example([0.5e-4, 1e-05, 9.9999999999999995e-05, 4.94e-322])
def test_format_g_is_python_g15_for_any_double(values):
    x = np.array(values, dtype=float)
    expected = ["{:.15g}".format(v) if math.isfinite(v) else "" for v in values]
    assert _format_g(x).to_pylist() == expected


@SETTINGS
@given(st.integers(0, 2**64 - 1), st.integers(1, 15))
def test_format_g_any_bit_pattern_and_precision(bits, digits):
    value = struct.unpack("<d", struct.pack("<Q", bits))[0]
    expected = format(value, f".{digits}g") if math.isfinite(value) else ""
    assert _format_g(np.array([value]), digits).to_pylist() == [expected]


def test_format_g_decides_rounding_ties_exactly():
    """16-digit integers ending in 5 are exact ties at 15 digits: half to even."""
    ties = np.array([1000000000000005.0, 1000000000000015.0, 1234567890123465.0,
                     -1000000000000025.0, 0.5, 2.5])
    assert _format_g(ties).to_pylist() == ["{:.15g}".format(v) for v in ties]
    assert _format_g(ties).to_pylist()[:2] == ["1e+15", "1.00000000000002e+15"]


def test_csv_chunks_columns_of_every_kind():
    import pyarrow as pa

    frame = {
        "group": pa.array(["x", None, "=1+1"]),
        "k": np.array([1, 2, 3]),
        "method": "REML",           # the same cell on every row
        "measure": None,            # an empty column
        "converged": np.array([True, False, True]),
        "estimate": np.array([0.1, np.nan, -2.5e-7]),
        "notes": np.array(["", "a, b", None], dtype=object),
    }
    assert new_csv(frame) == (
        "group,k,method,measure,converged,estimate,notes\n"
        "x,1,REML,,True,0.1,\n"
        ",2,REML,,False,,\"a, b\"\n"
        "'=1+1,3,REML,,True,-2.5e-07,\n"
    )


def test_csv_chunks_refuses_columns_of_different_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        new_csv({"a": np.arange(3), "b": np.arange(4)})


# ---------------------------------------------------------------- formula injection


@pytest.mark.parametrize(("text", "expected"), [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-", "'-"), ("-inf", "'-inf"),
    ("-1.5", "-1.5"), ("+3", "+3"), ("-1e-5", "-1e-5"), ("-.5", "-.5"), ("+7.", "+7."),
    ("1+1", "1+1"), ("study A", "study A"), ("", ""), ("'=x", "'=x"),
])
def test_neutralise_cell_examples(text, expected):
    assert neutralise_cell(text) == expected


@pytest.mark.parametrize("value", [None, 3, -1.5, float("nan"), True])
def test_neutralise_cell_leaves_non_text_alone(value):
    assert neutralise_cell(value) is value


@SETTINGS
@given(st.text())
def test_neutralise_cell_property(text):
    out = neutralise_cell(text)
    risky = text[:1] in FORMULA_PREFIXES
    try:
        float(text)
        number = text.strip() == text and not any(c.isalpha() for c in text.lower().replace(
            "e", "")) and "_" not in text
    except ValueError:
        number = False
    if risky and not number:
        assert out == "'" + text
    else:
        assert out == text
    assert neutralise_cell(out) == out  # once is enough
    assert not out[:1] in FORMULA_PREFIXES or number


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_as_text_stay_numbers(x):
    for text in (repr(x), "{:.15g}".format(x), "{:+g}".format(x)):
        assert neutralise_cell(text) == text


def test_neutralise_frame_touches_text_only():
    frame = pd.DataFrame({
        "label": ["=1+2", "ok", "-5", None],
        "number": [-1.0, 2.0, -3.0, 4.0],
        "count": [1, -2, 3, 4],
        "cat": pd.Categorical(["@x", "y", "@x", "y"]),
        "text": pd.array(["+a", "b", "c", "d"], dtype="string"),
    }, index=["=a", "b", "c", "d"])
    out = neutralise_frame(frame)
    assert list(out["label"])[:3] == ["'=1+2", "ok", "-5"] and pd.isna(out["label"].iloc[3])
    assert out["label"].dtype == frame["label"].dtype
    assert list(out["text"]) == ["'+a", "b", "c", "d"]
    assert list(out["cat"]) == ["'@x", "y", "'@x", "y"]
    pd.testing.assert_series_equal(out["number"], frame["number"])
    pd.testing.assert_series_equal(out["count"], frame["count"])
    assert list(out.index) == list(frame.index) and list(out.columns) == list(frame.columns)
    assert frame.loc["=a", "label"] == "=1+2"  # a copy: the input is unchanged


def test_neutralise_frame_with_repeated_column_names():
    frame = pd.DataFrame([["=x", "@y", 1]], columns=["a", "a", "b"])
    out = neutralise_frame(frame)
    assert out.iloc[0].tolist() == ["'=x", "'@y", 1]


# ---------------------------------------------------------------- atomic writes


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_new_file_gets_the_umask_permissions(tmp_path, umask_027):
    target = tmp_path / "out.csv"
    write_text_atomic("a,b\n", target)
    assert target.read_text() == "a,b\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask_027
    plain = tmp_path / "plain.csv"
    with open(plain, "w") as handle:
        handle.write("x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_existing_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    target.chmod(0o640)
    write_text_atomic("new", target)
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_read_only_file_is_not_replaced(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("keep me")
    target.chmod(0o444)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            write_text_atomic("new", target)
        assert target.read_text() == "keep me"
        assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    finally:
        target.chmod(0o644)


def test_failure_leaves_no_temporary_file_and_the_old_content(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="half way"):
        with open_atomic(target) as handle:
            handle.write(b"partial")
            raise RuntimeError("half way")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_unencodable_text_writes_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic("bad \udcff", target)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda d: d, IsADirectoryError, "is a directory"),
    (lambda d: d / "missing" / "out.csv", FileNotFoundError, "no such folder"),
])
def test_bad_targets(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        write_text_atomic("x", make(tmp_path))


def test_symbolic_link_is_followed(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_text_atomic("new", link)
    assert link.is_symlink() and real.read_text() == "new"


def test_streamed_writes_arrive_whole(tmp_path):
    target = tmp_path / "big.csv"
    with open_atomic(target) as handle:
        for chunk in csv_chunks({"x": np.arange(100000) / 7}, chunk_rows=4096):
            handle.write(chunk)
    lines = target.read_text().splitlines()
    assert lines[0] == "x" and len(lines) == 100001
    assert lines[8] == "{:.15g}".format(7 / 7)


def test_a_raw_standard_output_that_takes_part_of_a_chunk_gets_the_rest():
    """Unbuffered standard output (python -u) is a raw file whose write may take only part
    of what it is given; write_output writes the rest instead of dropping it."""
    import io
    import sys

    from analysis.outputs import write_output

    class Trickle(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()
            self.calls = 0

        def writable(self):
            return True

        def write(self, b):
            self.calls += 1
            if self.calls % 3 == 0:
                return None  # a non-blocking file that would block: nothing written
            taken = bytes(b[:7])
            self.data += taken
            return len(taken)

    class Stdout:
        def __init__(self, raw):
            self.buffer = raw

        def write(self, text):  # pragma: no cover - the bytes path is taken
            raise AssertionError("text path")

    raw = Trickle()
    saved = sys.stdout
    sys.stdout = Stdout(raw)
    try:
        write_output([b"study,yi\n", memoryview(b"A,0.1\nB,0.25\n" * 5)])
    finally:
        sys.stdout = saved
    assert bytes(raw.data) == b"study,yi\n" + b"A,0.1\nB,0.25\n" * 5
    assert raw.calls > 10
