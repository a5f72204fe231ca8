"""``python -m analysis pool``: results against metafor rma(), output formats, bad input.

metafor numbers come from tests/reference/metafor_escalc.R (committed JSON; each case
records its R call): rma() on Hedges' g (vtype LS) of dat.normand1999, and on the log
risk ratios of dat.bcg, one model per allocation method.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.pool_cli import METHODS, SUMMARY_FIELDS, main
from analysis.pooling import ConvergenceWarning, pool_arrays

REF = json.loads((Path(__file__).parent / "reference" / "metafor_escalc.json").read_text())
ESCALC = {c["name"]: c for c in REF["escalc"]}
RMA = {c["name"]: c for c in REF["rma"]}
COMPARED = ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2", "h2", "q", "q_pval",
            "pi_lb", "pi_ub")
REPO = Path(__file__).resolve().parents[1]


def _write_arms_csv(path: Path) -> Path:
    inputs = ESCALC["normand1999_SMD_LS"]["inputs"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"])
        for i in range(len(inputs["m1i"])):
            w.writerow([f"normand-{i + 1}"] + [inputs[c][i] for c in
                                               ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")])
    return path


def _write_bcg_csv(path: Path) -> Path:
    case = ESCALC["bcg_RR"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study", "alloc", "yi", "vi"])
        for i, (y, v) in enumerate(zip(case["yi"], case["vi"])):
            w.writerow([f"bcg-{i + 1}", REF["bcg_alloc"][i], repr(y), repr(v)])
    return path


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_matches_rma(result: dict, ref: dict):
    assert result["k"] == ref["k"]
    compared = COMPARED
    if result["method"] == "FE":
        # A common-effect model has tau² = 0 by assumption (as metafor prints) and no PI.
        assert ref["tau2"] == 0 and result["tau2"] == 0
        assert ref["pi_lb"] is None and result["pi_lb"] is None and result["pi_ub"] is None
        compared = tuple(f for f in COMPARED if f not in ("pi_lb", "pi_ub"))
    for field in compared:
        assert result[field] == pytest.approx(ref[field], rel=1e-6, abs=1e-10), field
    weights = [s["weight"] for s in result["studies"]]
    np.testing.assert_allclose(weights, ref["weights"], rtol=1e-6)
    assert sum(weights) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("method, knha, ref_name", [
    ("REML", False, "normand1999_SMD_REML"),
    ("DL", False, "normand1999_SMD_DL"),
    ("FE", False, "normand1999_SMD_FE"),
    ("REML", True, "normand1999_SMD_REML_knha"),
])
def test_smd_from_arm_columns_matches_metafor(tmp_path, capsys, method, knha, ref_name):
    path = _write_arms_csv(tmp_path / "normand.csv")
    argv = [path, "--measure", "SMD", "--method", method] + (["--knha"] if knha else [])
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["measure"] == "SMD" and result["method"] == method
    assert result["knha"] is knha
    _assert_matches_rma(result, RMA[ref_name])
    np.testing.assert_allclose([s["yi"] for s in result["studies"]],
                               ESCALC["normand1999_SMD_LS"]["yi"], rtol=1e-10)
    assert [s["study"] for s in result["studies"]][:2] == ["normand-1", "normand-2"]
    assert isinstance(result["notes"], list)


def test_grouped_json_matches_metafor_per_group(tmp_path, capsys):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    code, out, err = _run([path, "--by", "alloc"], capsys)
    assert code == 0, err
    results = json.loads(out)
    assert isinstance(results, list)
    assert [r["by"] for r in results] == ["random", "alternate", "systematic"]
    assert list(results[0])[0] == "by"
    for r in results:
        _assert_matches_rma(r, RMA[f"bcg_RR_REML_alloc_{r['by']}"])
    assert sum(len(r["studies"]) for r in results) == 13


def test_grouped_csv_has_one_summary_row_per_group(tmp_path, capsys):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    out_file = tmp_path / "out.csv"
    code, out, err = _run([path, "--by", "alloc", "--format", "csv", "--output", out_file],
                          capsys)
    assert code == 0 and out == "" and err == ""
    rows = list(csv.DictReader(out_file.open()))
    assert list(rows[0]) == ["by", *SUMMARY_FIELDS]
    assert [r["by"] for r in rows] == ["random", "alternate", "systematic"]
    for r in rows:
        ref = RMA[f"bcg_RR_REML_alloc_{r['by']}"]
        assert float(r["estimate"]) == pytest.approx(ref["estimate"], rel=1e-6)
        assert float(r["tau2"]) == pytest.approx(ref["tau2"], rel=1e-6, abs=1e-10)
    assert not list(tmp_path.glob(".out.csv.*"))  # no temporary file left behind


def test_ungrouped_csv_has_no_by_column(tmp_path, capsys):
    path = _write_arms_csv(tmp_path / "normand.csv")
    code, out, _ = _run([path, "--measure", "MD", "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == 1 and list(rows[0]) == list(SUMMARY_FIELDS)
    assert rows[0]["measure"] == "MD"


def test_nan_becomes_json_null(tmp_path, capsys):
    # One study: tau² and heterogeneity statistics are undefined (NaN) and print as null
    # or as numbers, never as the invalid JSON token NaN.
    path = tmp_path / "one.csv"
    path.write_text("study,yi,vi\nA,0.5,0.04\n")
    code, out, err = _run([path], capsys)
    assert code == 0, err
    assert "NaN" not in out
    result = json.loads(out)
    assert result["k"] == 1 and result["studies"][0]["weight"] == pytest.approx(1.0)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "content, extra, expected",
    [
        ("study,yi\nA,0.1\n", [], ["missing column(s): need 'yi,vi' (missing vi)"]),
        ("yi,vi\n0.1,0.01\n", [], ["missing column 'study'"]),
        ("study,yi,vi\nA,0.1,0.01\nB,nan,0.02\nC,0.3,abc\nD,inf,0.1\n", [],
         ["line 3: column 'yi' is not a finite number (got 'nan')",
          "line 5: column 'yi' is not a finite number (got 'inf')",
          "line 4: column 'vi' is not a finite number (got 'abc')"]),
        ("study,yi,vi\nA,0.1,0.01\nB,0.2,0\nC,0.3,-1\n", [],
         ["line 3: vi must be > 0 (got 0)", "line 4: vi must be > 0 (got -1)"]),
        ("study,yi,vi\nA,0.1,\n", [], ["line 2: column 'vi' is not a finite number (got '')"]),
        ("study,m1i,sd1i,n1i,m2i,sd2i,n2i\nA,1,1,1,0,1,10\nB,1,0,10,0,1,10\n", ["--measure", "SMD"],
         ["line 2: n1i must be >= 2 for SMD", "line 3: sd1i must be > 0 (got 0)"]),
        ("study,m1i,sd1i,n1i,m2i,sd2i,n2i\nA,1,1,10,0,1,10\n", [],
         ["need --measure MD or --measure SMD"]),
        ("", [], ["the file is empty"]),
        ("study,yi,vi\n", [], ["no data rows after the header"]),
        ("study,g,yi,vi\nA,x,0.1,0.01\nB,,0.2,0.02\n", ["--by", "g"],
         ["line 3: column 'g' (--by) is empty"]),
        ("study,yi,vi\nA,0.1,0.01\n", ["--by", "g"], ["missing column 'g' (given with --by)"]),
        ("study,yi,vi\n,0.1,0.01\n", [], ["line 2: column 'study' is empty"]),
    ],
    ids=["missing-vi", "missing-study", "non-finite", "vi-not-positive", "blank-value",
         "smd-n-and-sd", "arms-without-measure", "empty-file", "header-only", "empty-group",
         "missing-by", "empty-study"],
)
def test_bad_input_exits_2_with_one_line_per_problem(tmp_path, capsys, content, extra, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out_file = tmp_path / "out.json"
    code, out, err = _run([path, *extra, "--output", out_file], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == len(expected)
    for want in expected:
        assert any(want in line for line in lines), (want, lines)
    assert all(line.startswith("error: bad.csv") for line in lines)
    assert "Traceback" not in err
    assert not out_file.exists()


def test_unknown_method_is_rejected_by_argparse(tmp_path, capsys):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    code, _, err = _run([path, "--method", "XYZ"], capsys)
    assert code == 2
    assert "invalid choice: 'XYZ'" in err and "python -m analysis pool" in err


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "absent.csv", "absent.csv: file not found"),
    (lambda d: d, "is a directory"),
])
def test_unreadable_input(tmp_path, capsys, make, message):
    code, _, err = _run([make(tmp_path)], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_failed_run_leaves_existing_output_untouched(tmp_path, capsys):
    out_file = tmp_path / "out.json"
    out_file.write_text("previous result\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("study,yi,vi\nA,0.1,-0.01\n")
    code, _, _ = _run([bad, "--output", out_file], capsys)
    assert code == 2
    assert out_file.read_text() == "previous result\n"


def test_many_problems_are_capped(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("study,yi,vi\n" + "".join(f"S{i},0.1,-1\n" for i in range(60)))
    code, _, err = _run([path], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 51 and lines[-1] == "error: ... and 10 more problems"


def test_subprocess_entry_point(tmp_path):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "analysis", "pool", str(path), "--by", "alloc",
                           "--format", "csv"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert len(rows) == 3
    ref = RMA["bcg_RR_REML_alloc_random"]
    assert float(rows[0]["estimate"]) == pytest.approx(ref["estimate"], rel=1e-6)
    bad = subprocess.run([sys.executable, "-m", "analysis", "pool", str(tmp_path / "nope.csv")],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: nope.csv: file not found"


def test_csv_quotes_labels_and_leaves_nan_empty(tmp_path, capsys):
    path = tmp_path / "labels.csv"
    path.write_text('study,arm set,yi,vi\nA,"x, y",0.1,0.01\nB,"x, y",0.3,0.02\nC,z,0.2,0.03\n')
    code, out, err = _run([path, "--by", "arm set", "--format", "csv"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert [r["by"] for r in rows] == ["x, y", "z"]
    single = rows[1]
    assert single["k"] == "1" and single["q_pval"] == ""  # undefined for one study
    assert float(single["estimate"]) == pytest.approx(0.2, rel=1e-14)


# ----------------------------------------------------------------- input checks (located)


def _bad(tmp_path, capsys, content, *extra, name="bad.csv"):
    """Run on ``content``; return stderr lines, asserting exit 2, no output, no file."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    out_file = tmp_path / "out.csv"
    code, out, err = _run([path, *extra, "--output", out_file], capsys)
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    assert not out_file.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.csv")]
    lines = err.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), lines
    return lines


ARMS = "study,m1i,sd1i,n1i,m2i,sd2i,n2i"


def test_both_effect_sizes_and_arm_columns_are_refused(tmp_path, capsys):
    lines = _bad(tmp_path, capsys, f"{ARMS},yi,vi\nA,1,1,10,0,1,10,1,0.2\n")
    assert lines == ["error: bad.csv: has both 'yi,vi' and the arm columns "
                     "'m1i,sd1i,n1i,m2i,sd2i,n2i': keep one set (drop columns 'yi,vi' to "
                     "compute effect sizes from the arms, or drop the arm columns to pool yi "
                     "and vi as given)"]


@pytest.mark.parametrize("measure", ["MD", "SMD"])
def test_measure_with_effect_sizes_is_refused(tmp_path, capsys, measure):
    lines = _bad(tmp_path, capsys, "study,yi,vi\nA,0.1,0.01\n", "--measure", measure)
    assert lines == [f"error: bad.csv: --measure {measure} computes effect sizes from arm "
                     "columns, but the file gives 'yi,vi': drop --measure to pool yi and vi "
                     "as given"]


@pytest.mark.parametrize(("sep", "word"), [(";", "semicolons"), ("\t", "tabs"),
                                           ("|", "vertical bars")])
def test_wrong_delimiter_is_named(tmp_path, capsys, sep, word):
    lines = _bad(tmp_path, capsys, sep.join(["study", "yi", "vi"]) + "\n"
                 + sep.join(["A", "0,1", "0,01"]) + "\n")
    assert len(lines) == 1
    assert lines[0].startswith("error: bad.csv line 1: the header is a single column")
    assert f"separated by {word}, not commas" in lines[0]


def test_trailing_blank_lines_are_skipped(tmp_path, capsys):
    clean = tmp_path / "clean.csv"
    clean.write_text("study,yi,vi\nA,0.1,0.01\nB,0.3,0.02\nC,0.2,0.03\n")
    trailing = tmp_path / "trailing.csv"
    trailing.write_text(clean.read_text() + "\n\n  \n\r\n")
    results = []
    for path in (clean, trailing):
        code, out, err = _run([path, "--format", "csv"], capsys)
        assert code == 0 and err == ""
        results.append(out)
    assert results[0] == results[1]


def test_blank_lines_inside_are_skipped_and_lines_keep_their_numbers(tmp_path, capsys):
    content = ('study,yi,vi\n\nA,0.1,0.01\n\n\nB,"0.3",0.02\n'
               'C,"two\nline label",0.03\nD,0.2,abc\n')
    # D is on line 9: two blank lines, one more, and C's label spans lines 7-8
    lines = _bad(tmp_path, capsys, content.replace(',"two\nline label",', ',0.4,'))
    assert lines == ["error: bad.csv line 8: column 'vi' is not a finite number (got 'abc')"]
    lines = _bad(tmp_path, capsys, "study,yi,vi\n\nA,0.1,0.01\n\n\n\"B\nb\",0.3,0.02\n"
                 "C,0.4,0.03\nD,0.2,abc\n")
    assert lines == ["error: bad.csv line 9: column 'vi' is not a finite number (got 'abc')"]


def test_blank_lines_only_whitespace_take_the_slow_reader_and_still_work(tmp_path, capsys):
    path = tmp_path / "spaces.csv"
    path.write_text("study,yi,vi\nA,0.1,0.01\n   \nB,0.3,0.02\n \t \nC,0.2,abc\n")
    code, _, err = _run([path], capsys)
    assert code == 2
    assert err.strip() == "error: spaces.csv line 6: column 'vi' is not a finite number " \
                          "(got 'abc')"
    path.write_text("study,yi,vi\nA,0.1,0.01\n   \nB,0.3,0.02\n")
    code, out, err = _run([path, "--format", "csv"], capsys)
    assert code == 0 and out.splitlines()[1].startswith("2,")


@pytest.mark.parametrize(("content", "line"), [
    ('study,yi,vi\nA,0.1,0.01\n"B,0.2,0.02\nC,0.3,0.03\n', 3),
    ('study,yi,vi\nA,0.1,0.01\nB,0.2,0.02\n\nC,"0.3,0.03\n', 5),
    ('study,"yi,vi\nA,0.1,0.01\n', 1),
])
def test_unclosed_quote_names_the_line_where_it_opens(tmp_path, capsys, content, line):
    lines = _bad(tmp_path, capsys, content)
    assert len(lines) == 1
    assert lines[0].startswith(f"error: bad.csv line {line}: a quote opened")
    assert "never closed" in lines[0]


def test_wrong_number_of_cells_is_located(tmp_path, capsys):
    lines = _bad(tmp_path, capsys, "study,yi,vi\nA,0.1,0.01\nB,0.2\nC,0.3,0.03,9\n")
    assert lines == ["error: bad.csv line 3: expected 3 cells as in the header, found 2",
                     "error: bad.csv line 4: expected 3 cells as in the header, found 4"]


def test_repeated_headers_are_rejected(tmp_path, capsys):
    lines = _bad(tmp_path, capsys, "study,yi,vi,yi, vi\nA,0.1,0.01,0.2,0.02\n")
    assert lines == [
        "error: bad.csv line 1: column 'yi' appears 2 times (header cells 2, 4); give each "
        "column its own name",
        "error: bad.csv line 1: column 'vi' appears 2 times (header cells 3, 5); give each "
        "column its own name"]


def test_repeated_study_names_in_a_group_name_both_lines(tmp_path, capsys):
    content = ("study,g,yi,vi\nA,x,0.1,0.01\nB,x,0.2,0.02\nA,y,0.3,0.03\n"
               "B,y,0.1,0.01\n\nA,x,0.5,0.02\n")
    lines = _bad(tmp_path, capsys, content, "--by", "g")
    assert lines == ["error: bad.csv line 7: study 'A' appears again in --by g = 'x' (first on "
                     "line 2); give each study its own name, or pass --allow-repeated-studies "
                     "if they are different studies"]
    lines = _bad(tmp_path, capsys, content)  # one meta-analysis: A and B both repeat
    assert [line.split(":")[1] for line in lines] == [" bad.csv line 4", " bad.csv line 5",
                                                      " bad.csv line 7"]
    assert "study 'A' appears again (first on line 2)" in lines[0]
    assert "(first on line 2)" in lines[2]


def test_allow_repeated_studies(tmp_path, capsys):
    path = tmp_path / "rep.csv"
    path.write_text("study,yi,vi\nA,0.1,0.01\nA,0.3,0.02\nB,0.2,0.03\n")
    code, out, err = _run([path, "--allow-repeated-studies"], capsys)
    assert code == 0, err
    assert [s["study"] for s in json.loads(out)["studies"]] == ["A", "A", "B"]


@pytest.mark.parametrize(("row", "message"), [
    ("A,1e308,0.01", "line 2: yi = 1e+308 is outside the accepted range |yi| <= 1e12"),
    ("A,-2e12,0.01", "line 2: yi = -2e+12 is outside the accepted range |yi| <= 1e12"),
    ("A,0.1,1e-320", "line 2: vi = 9.99989e-321 is outside the accepted range "
                     "1e-24 <= vi <= 1e24"),
    ("A,0.1,2e24", "line 2: vi = 2e+24 is outside the accepted range 1e-24 <= vi <= 1e24"),
    ("A,1e309,0.01", "line 2: column 'yi' is not a finite number (got '1e309')"),
])
def test_values_outside_the_limits_are_located(tmp_path, capsys, row, message):
    lines = _bad(tmp_path, capsys, f"study,yi,vi\n{row}\nB,0.2,0.02\n")
    assert lines == [f"error: bad.csv {message}"]


def test_effect_sizes_computed_from_arms_are_checked_against_the_limits(tmp_path, capsys):
    lines = _bad(tmp_path, capsys, f"{ARMS}\nA,3e12,1,10,0,1,10\nB,1,1e-13,10,0,1e-13,10\n",
                 "--measure", "MD")
    assert lines == [
        "error: bad.csv line 2: the mean difference computed from this row: yi = 3e+12 is "
        "outside the accepted range |yi| <= 1e12",
        "error: bad.csv line 3: the mean difference computed from this row: vi = 2e-27 is "
        "outside the accepted range 1e-24 <= vi <= 1e24"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), method=st.sampled_from(METHODS), knha=st.booleans())
def test_every_accepted_input_gives_finite_results(data, method, knha):
    """Effects and variances at the corners of the accepted box (synthetic)."""
    k = data.draw(st.integers(1, 6))
    yi = data.draw(st.lists(st.sampled_from([-1e12, 1e12, -3.7e11, 0.0, 2.5, 1e-12]),
                            min_size=k, max_size=k))
    vi = data.draw(st.lists(st.sampled_from([1e-24, 1e24, 5e23, 3e-12, 1.0]),
                            min_size=k, max_size=k))
    assume(not (knha and len(set(yi)) == 1 and k > 1))  # SE 0: the test is undefined
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = pool_arrays(yi, vi, method=method, knha=knha)
    col = res.columns
    if not col["converged"][0]:
        return
    fields = ["estimate", "se", "ci_lb", "ci_ub", "pval", "tau2"]
    if k >= 2:
        fields += ["i2", "h2", "q", "q_pval"] + (["pi_lb", "pi_ub"] if method != "FE" else [])
    for f in fields:
        assert np.isfinite(col[f][0]), (f, yi, vi)


def test_non_finite_result_of_a_converged_group_is_an_error(tmp_path, capsys):
    lines = _bad(tmp_path, capsys, "study,g,yi,vi\nA,x,0,0.01\nB,x,0,0.02\n"
                 "C,y,0.1,0.01\nD,y,0.5,0.02\n", "--by", "g", "--knha")
    assert lines == ["error: bad.csv: pval is not a finite number for --by g = 'x' although "
                     "the fit converged: the SE is 0 (Hartung-Knapp with effects that agree "
                     "exactly), so the test is undefined"]


# ----------------------------------------------------------------- convergence in the output


def test_non_converged_group_is_named_and_noted_in_the_csv(tmp_path, capsys):
    path = tmp_path / "slow.csv"
    path.write_text("study,g,yi,vi\nA,ok,0.1,0.02\nB,ok,0.1,0.03\nC,slow,0.5,0.04\n"
                    "D,slow,0.2,0.01\nE,slow,1.3,0.06\n")
    code, out, err = _run([path, "--by", "g", "--format", "csv", "--control", "maxiter=1"],
                          capsys)
    assert code == 0
    assert err.strip() == ("warning: the REML estimator of tau2 did not converge for --by g = "
                           "'slow'")
    rows = {r["by"]: r for r in csv.DictReader(out.splitlines())}
    assert rows["ok"]["converged"] == "True" and rows["ok"]["notes"] == ""
    assert rows["slow"]["converged"] == "False"
    assert rows["slow"]["notes"] == "REML estimator did not converge: no results"
    assert rows["slow"]["estimate"] == "" and rows["slow"]["tau2"] == ""
    code, out, _ = _run([path, "--by", "g", "--control", "maxiter=1"], capsys)
    result = {r["by"]: r for r in json.loads(out)}
    assert result["slow"]["converged"] is False and result["ok"]["converged"] is True
    assert result["slow"]["notes"] == ["REML estimator did not converge: no results"]


def test_control_settings_reach_the_engine(tmp_path, capsys):
    """The rare-event case of metafor_control.R: --control tol gives metafor's tight PM."""
    ref = json.loads((Path(__file__).parent / "reference" / "metafor_control.json").read_text())
    ds = ref["datasets"]["rare_event_rd"]
    tight = next(c for c in ref["cases"] if c["name"] == "rare_event_rd-PM-tight")
    loose = next(c for c in ref["cases"] if c["name"] == "rare_event_rd-PM")
    path = tmp_path / "rare.csv"
    path.write_text("study,yi,vi\n" + "".join(f"S{i},{y!r},{v!r}\n" for i, (y, v) in
                                              enumerate(zip(ds["yi"], ds["vi"]))))
    code, out, err = _run([path, "--method", "PM"], capsys)
    assert code == 0
    assert json.loads(out)["tau2"] == pytest.approx(loose["result"]["tau2"], rel=1e-10)
    assert "warning: the PM estimate of tau2 is below control 'tol'" in err
    assert "lower 'tol'" in err
    code, out, err = _run([path, "--method", "PM", "--control", "tol=1e-12"], capsys)
    assert code == 0 and err == ""
    assert json.loads(out)["tau2"] == pytest.approx(tight["result"]["tau2"], rel=1e-10)


@pytest.mark.parametrize(("setting", "message"), [
    ("tol=-1", "error: --control: control 'tol' must be > 0, got -1.0"),
    ("speed=3", "error: --control: unknown control setting(s) ['speed']"),
    ("maxiter=2.5", "error: --control: control 'maxiter' must be a whole number >= 1"),
])
def test_bad_control_settings(tmp_path, capsys, setting, message):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    code, out, err = _run([path, "--control", setting], capsys)
    assert code == 2 and out == "" and err.startswith(message)


def test_control_needs_name_and_value(tmp_path, capsys):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    code, _, err = _run([path, "--control", "tol"], capsys)
    assert code == 2 and "is not NAME=VALUE" in err


def test_large_units_converge_through_the_command(tmp_path, capsys):
    ref = json.loads((Path(__file__).parent / "reference" / "metafor_control.json").read_text())
    metafor = next(c for c in ref["cases"] if c["name"] == "large_units-REML")["result"]["tau2"]
    path = tmp_path / "big.csv"
    y = [1.2e6, 3.4e6, 0.95e6, 4.1e6, 2.6e6]
    v = [4e10, 9e10, 2.5e10, 1.6e11, 8e10]
    rows = [f"S{i},fwd,{a!r},{b!r}\n" for i, (a, b) in enumerate(zip(y, v))]
    rows += [f"S{i},rev,{a!r},{b!r}\n" for i, (a, b) in enumerate(zip(y[::-1], v[::-1]))]
    path.write_text("study,order,yi,vi\n" + "".join(rows))
    code, out, err = _run([path, "--by", "order", "--format", "csv"], capsys)
    assert code == 0 and err == ""
    for row in csv.DictReader(out.splitlines()):
        assert row["converged"] == "True"
        assert float(row["tau2"]) == pytest.approx(metafor, rel=1e-13)


# ----------------------------------------------------------------- CSV safety, errors, mounting


def test_formula_labels_are_neutralised_in_the_csv(tmp_path, capsys):
    path = tmp_path / "evil.csv"
    path.write_text('study,g,yi,vi\nA,"=HYPERLINK(""http://x"",""y"")",0.1,0.01\n'
                    'B,"=HYPERLINK(""http://x"",""y"")",0.2,0.02\nC,-5,0.3,0.03\n'
                    'D,@x,0.3,0.03\n')
    code, out, err = _run([path, "--by", "g", "--format", "csv"], capsys)
    assert code == 0, err
    assert [r["by"] for r in csv.DictReader(out.splitlines())] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "-5", "'@x"]
    code, out, _ = _run([path, "--by", "g"], capsys)  # JSON keeps the labels as they are
    assert json.loads(out)[0]["by"] == '=HYPERLINK("http://x","y")'


def test_unexpected_error_is_one_line_unless_debug(tmp_path, capsys, monkeypatch):
    import analysis.pool_cli as pool_cli

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(pool_cli, "pool_input", broken)
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    out_file = tmp_path / "out.json"
    code, out, err = _run([path, "--output", out_file], capsys)
    assert code == 1 and out == "" and not out_file.exists()
    assert err == ("error: unexpected RuntimeError: disk on fire (run with --debug for the "
                   "traceback)\n")
    code, _, err = _run([path, "--debug"], capsys)
    assert code == 1 and "Traceback" in err and "disk on fire" in err


def test_a_reader_that_stops_reading_stops_the_command_quietly(tmp_path):
    """`pool ... | head -1`: no error message, and the status a shell gives a program the
    closed pipe stopped (141), as for other command-line tools."""
    path = tmp_path / "many.csv"
    rng = np.random.default_rng(7)
    with path.open("w") as fh:  # synthetic: 20,000 groups, an output far over a pipe's buffer
        fh.write("study,group,yi,vi\n")
        for g in range(20_000):
            for s in range(3):
                fh.write(f"{s},{g},{rng.normal(0.3, 0.3)!r},{rng.uniform(0.01, 0.2)!r}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for command in (["pool", str(path), "--by", "group", "--format", "csv"],
                    ["pool", str(path), "--by", "group"]):
        process = subprocess.Popen([sys.executable, "-m", "analysis", *command], cwd=tmp_path,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = process.stdout.readline()
        process.stdout.close()  # as `head -1` does
        err = process.stderr.read().decode()
        process.stderr.close()
        assert process.wait(timeout=120) == 141, err
        assert first and err == ""


def test_read_only_output_is_not_replaced(tmp_path, capsys):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    out_file = tmp_path / "out.json"
    out_file.write_text("keep")
    out_file.chmod(0o444)
    try:
        code, _, err = _run([path, "--output", out_file], capsys)
        assert code == 2 and "read-only" in err and out_file.read_text() == "keep"
    finally:
        out_file.chmod(0o644)


def test_pool_mounts_in_a_parent_parser(tmp_path, capsys):
    import argparse

    from analysis.pool_cli import add_arguments, run

    parser = argparse.ArgumentParser(prog="python -m analysis")
    sub = parser.add_subparsers(dest="command", required=True)
    add_arguments(sub.add_parser("pool"))
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    args = parser.parse_args(["pool", str(path), "--by", "alloc", "--format", "csv"])
    assert run(args) == 0
    out = capsys.readouterr().out
    direct = _run([path, "--by", "alloc", "--format", "csv"], capsys)[1]
    assert out == direct and len(out.splitlines()) == 4


def test_command_does_not_import_pandas(tmp_path):
    path = _write_bcg_csv(tmp_path / "bcg.csv")
    code = ("import sys; from analysis.pool_cli import main; "
            f"rc = main([{str(path)!r}, '--by', 'alloc', '--format', 'csv', '--output', "
            f"{str(tmp_path / 'o.csv')!r}]); "
            "assert rc == 0; assert 'pandas' not in sys.modules, 'pandas was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_pipe_is_read_like_a_file(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-m", "analysis", "pool", "/dev/stdin", "--format", "csv"]
    done = subprocess.run(run, input="study,yi,vi\nA,0.1,0.01\n\nB,0.3,0.02\n",
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("2,,REML,False,")
    done = subprocess.run(run, input="study,yi,vi\nA,0.1,0.01\n\nB,0.3,x\n",
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "error: stdin line 4: column 'vi' is not a finite number (got 'x')\n"


@pytest.mark.parametrize("quoted", [False, True])
def test_text_that_is_not_utf8_in_a_data_row_is_located(tmp_path, capsys, quoted):
    path = tmp_path / "latin1.csv"
    label = b'"Caf\xe9 trial"' if quoted else b"Caf\xe9 trial"
    path.write_bytes(b"study,yi,vi\nA,0.1,0.04\n" + label + b",0.3,0.05\n")
    code, out, err = _run([path], capsys)
    assert code == 2 and out == ""
    assert err.strip() == "error: latin1.csv line 3: the text is not UTF-8; save the file as UTF-8 CSV"
