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

import numpy as np
import pytest

from analysis.pool_cli import SUMMARY_FIELDS, main

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
