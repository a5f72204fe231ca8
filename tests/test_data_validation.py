"""Validation of the data package: every rule fires on a broken copy of data/.

Each test copies the real data/ to tmp_path, breaks one thing and checks that the
problem is reported with the exact file, line, column and rule. Line numbers count
the header as line 1, as in a text editor.
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
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.data import (
    LIMITS,
    MAX_LENGTHS,
    RULES,
    DataPackage,
    DataValidationError,
    Problem,
    load_package,
    validate_command,
    validate_main,
    validate_package,
)
from analysis import paths
from analysis.validation import _find_stray_quote
from analysis.paths import DATA_DIR
from analysis.validation import RESOURCE_NAMES, _VALID_LINE, _quotes_well_placed, _scan_quotes, bound_rule

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


# --------------------------------------------------------------------------- helpers


from datacopy import line_of, read_rows, set_cells, write_rows  # noqa: E402


def has(problems: list[Problem], file: str, line: int | None, column: str | None, rule: str) -> bool:
    return any(p.file == file and p.row == line and p.column == column and p.rule == rule for p in problems)


def assert_problem(problems, file, line, column, rule):
    assert has(problems, file, line, column, rule), (
        f"expected {file}, line {line}, column {column} [rule: {rule}] among:\n"
        + "\n".join(str(p) for p in problems))
    assert rule in RULES or rule.endswith(("-minimum", "-maximum"))


GUDEMAN_EOT_DEXA = dict(study_id="gudeman1997", arm_id="dexamethasone", timepoint_id="end_of_treatment")
NIRSCHL_GLOBAL_DAY2_DEXA = dict(study_id="nirschl2003", arm_id="dexamethasone", outcome_id="global_improvement",
                                timepoint_id="day_2_after")
NEETER_ROW = dict(study_id="neeter2003", arm_id="placebo", outcome_id="toe_raise", timepoint_id="week_6")


# --------------------------------------------------------------------------- the real data


def test_real_data_are_valid():
    assert validate_package(DATA) == []


def test_validate_main_on_real_data(capsys):
    assert validate_main([str(DATA)]) == 0
    out, err = capsys.readouterr()
    assert "valid data package" in out and len(out.strip().splitlines()) == 1
    assert err == ""


def test_validate_default_directory_is_the_projects_data_or_dexa_ma_data(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DEXA_MA_DATA", raising=False)
    monkeypatch.chdir(ROOT)
    assert validate_main([]) == 0
    assert capsys.readouterr().out.startswith("data: valid data package")
    monkeypatch.chdir(ROOT / "tests")  # as load_package() does, from any folder
    assert validate_main([]) == 0
    assert f"{DATA.resolve()}: valid data package" in capsys.readouterr().out
    monkeypatch.setenv("DEXA_MA_DATA", str(tmp_path / "nowhere"))
    assert validate_main([]) == 2
    assert "data directory not found" in capsys.readouterr().err


def test_command_line_entry_point():
    run = subprocess.run([sys.executable, "-m", "analysis", "validate", "data"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "valid data package" in run.stdout


def test_load_package_types_and_column_order():
    pkg = load_package(DATA)
    assert isinstance(pkg, DataPackage)
    assert pkg.path == DATA.resolve()
    for name in ("studies", "arms", "timepoints", "outcome_definitions", "outcomes", "between_group", "findings"):
        frame = getattr(pkg, name)
        assert list(frame.columns) == read_rows(DATA / f"{name}.csv")[0]
        assert len(frame) == len(read_rows(DATA / f"{name}.csv")) - 1
    out = pkg.outcomes
    for col in ("mean", "sd", "se", "ci_lower", "ci_upper", "n", "events", "percent"):
        assert out[col].dtype == np.float64
    for col in ("study_id", "mean_status", "mean_source", "notes"):
        assert out[col].dtype == object
    assert out["mean_source"].isna().any() and out["mean_source"].map(lambda v: v is None or isinstance(v, str)).all()
    assert pkg.timepoints["weeks_approximate"].dtype == bool
    assert pkg.studies["year"].dtype == np.float64
    assert pkg.arms["n_analysed"].dtype == np.float64
    # an empty cell is NaN / None, never 0 or "" (rows whose mean is missing: whichever they are)
    missing = out[out["mean_status"] == "missing"]
    assert len(missing) and missing["mean"].isna().all() and missing["mean_source"].isna().all()
    assert not (out["mean_source"] == "").any()


# --------------------------------------------------------------------------- one rule each


def test_sd_not_positive_message_format(data_dir):
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", line, sd="-1")
    problems = validate_package(data_dir)
    assert f"outcomes.csv, line {line}, column sd: must be > 0 (got -1.0) [rule: sd-positive]" in map(str, problems)


RULE_CASES = [
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(sd="0"), "sd", "sd-positive"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(se="0", se_status="reported", se_source="x"), "se", "se-positive"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(n="20.5", n_status="reported", n_source="x", n_note=""),
         "n", "whole-number"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(n="0", n_status="reported", n_source="x"), "n", "n-minimum"),
        ("arms.csv", dict(study_id="neeter2003", arm_id="placebo"), dict(n_randomised="0"), "n_randomised",
         "n-minimum"),
        ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(events="-1", events_status="reported", events_source="x"),
         "events", "events-minimum"),
        ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA,
         dict(events="60", events_status="reported", events_source="x", n="50", n_status="reported", n_source="x"),
         "events", "events-le-n"),
        ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(percent="101"), "percent", "percent-range"),
        ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(percent="-2"), "percent", "percent-range"),
        ("between_group.csv", dict(study_id="nirschl2003", outcome_id="pain_vas", timepoint_id="day_2_after"),
         dict(p_value="0"), "p_value", "p-range"),
        ("between_group.csv", dict(study_id="nirschl2003", outcome_id="pain_vas", timepoint_id="day_2_after"),
         dict(p_value="1.2"), "p_value", "p-range"),
        ("findings.csv", dict(finding_id="morning_stiffness_week_4_acetic_acid_vs_placebo"), dict(p_value="0"),
         "p_value", "p-range"),
        ("between_group.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(ci_lower="7"), "ci_lower", "ci-order"),
        ("between_group.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(estimate="9"), "estimate", "estimate-in-ci"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA,
         dict(ci_lower="8", ci_lower_status="reported", ci_lower_source="x",
              ci_upper="5", ci_upper_status="reported", ci_upper_source="x"), "ci_lower", "ci-order"),
        ("outcomes.csv", NEETER_ROW, dict(mean="5.0"), "mean", "missing-has-value"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean=""), "mean", "value-required"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(se="1.2"), "se_status", "status-required"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(se_source="PMID 1, table 2"), "se_status", "status-required"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean_source=""), "mean_source", "source-required"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(sd_note=""), "sd_note", "note-required"),
        ("arms.csv", dict(study_id="gudeman1997", arm_id="placebo"), dict(n_analysed_note=""), "n_analysed_note",
         "note-required"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean="6,8"), "mean", "type"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean="NaN"), "mean", "finite-number"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean_status="reportd"), "mean_status", "enum"),
        ("studies.csv", dict(study_id="gudeman1997"), dict(label=""), "label", "required"),
        ("studies.csv", dict(study_id="gudeman1997"), dict(doi="doi:10.1177/036354659702500307"), "doi", "pattern"),
        ("studies.csv", dict(study_id="gudeman1997"), dict(scope="running"), "scope", "enum"),
        ("timepoints.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"), dict(weeks_note=""),
         "weeks_note", "weeks-note-required"),
        ("timepoints.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(weeks_approximate="yes"), "weeks_approximate", "type"),
        ("timepoints.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(weeks_from_start="-1"), "weeks_from_start", "weeks_from_start-minimum"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(percent="50", percent_status="reported", percent_source="x"),
         "percent", "applicability"),
        ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(mean="3", mean_status="reported", mean_source="x"),
         "mean", "applicability"),
        ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(events_status="", events_note=""), "events_status",
         "applicability"),
        ("outcomes.csv", NEETER_ROW, dict(sd_status=""), "sd_status", "applicability"),
        ("between_group.csv", dict(study_id="gudeman1997", timepoint_id="one_month_after"),
         dict(estimate="1.8", estimate_status="inferred", estimate_source="x", estimate_note="y"),
         "estimate", "applicability"),
        ("between_group.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(estimate="", estimate_status="", estimate_source="", estimate_note=""), "estimate_status",
         "applicability"),
        ("between_group.csv", dict(study_id="nirschl2003", outcome_id="pain_vas", timepoint_id="day_2_after"),
         dict(p_relation=""), "p_relation", "p-relation"),
        ("between_group.csv", dict(study_id="nirschl2003", outcome_id="pain_vas", timepoint_id="day_2_after"),
         dict(control_arm="dexamethasone"), "control_arm", "same-arm"),
        ("findings.csv", dict(finding_id="toe_raise_within_placebo"), dict(versus_arm_id="dexamethasone"),
         "versus_arm_id", "versus-arm"),
        ("findings.csv", dict(finding_id="toe_raise_between"), dict(versus_arm_id=""), "versus_arm_id",
         "versus-arm"),
        ("outcome_definitions.csv", dict(study_id="osborne2006", outcome_id="morning_pain"), dict(scale_min="20"),
         "scale_min", "scale-order"),
        ("arms.csv", dict(study_id="gudeman1997", arm_id="placebo"), dict(n_analysed="21"), "n_analysed",
         "n-analysed-le-randomised"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean=" 6.8"), "mean", "whitespace"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(arm_id="dexa"), "arm_id", "unknown-id"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(outcome_id="maryland"), "outcome_id", "unknown-id"),
        ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(timepoint_id="week_2"), "timepoint_id", "unknown-id"),
        ("arms.csv", dict(study_id="neeter2003", arm_id="placebo"), dict(study_id="neeter2004"), "study_id",
         "unknown-id"),
        ("findings.csv", dict(finding_id="toe_raise_between"), dict(versus_arm_id="saline"), "versus_arm_id",
         "unknown-id"),
        ("between_group.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
         dict(treatment_arm="dexa"), "treatment_arm", "unknown-id"),
]


@pytest.mark.parametrize("file, match, cells, column, rule", RULE_CASES)
def test_rule(data_dir, file, match, cells, column, rule):
    line = line_of(data_dir, file, **match)
    set_cells(data_dir, file, line, **cells)
    problems = validate_package(data_dir)
    assert_problem(problems, file, line, column, rule)


def test_unknown_id_message_names_the_table(data_dir):
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", line, arm_id="dexa")
    [p] = [p for p in validate_package(data_dir) if p.rule == "unknown-id"]
    assert "gudeman1997, dexa" in p.message and "arms.csv" in p.message


def test_empty_reference_in_findings_is_not_an_unknown_id():
    # Osborne's "all groups improved" names no outcome; Neeter's findings no time point.
    rows = read_rows(DATA / "findings.csv")
    header = rows[0]
    assert any(r[header.index("outcome_id")] == "" for r in rows[1:])
    assert any(r[header.index("timepoint_id")] == "" for r in rows[1:])
    assert validate_package(DATA) == []


def test_kind_required_for_outcomes_with_rows(data_dir):
    line = line_of(data_dir, "outcome_definitions.csv", study_id="gudeman1997", outcome_id="maryland_foot_score")
    set_cells(data_dir, "outcome_definitions.csv", line, kind="")
    problems = validate_package(data_dir)
    first = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    assert_problem(problems, "outcomes.csv", first, "outcome_id", "kind-required")
    assert sum(p.rule == "kind-required" for p in problems) == 4  # one per Gudeman outcome row


def test_duplicate_key(data_dir):
    rows = read_rows(data_dir / "arms.csv")
    rows.append(list(rows[1]))
    write_rows(data_dir / "arms.csv", rows)
    assert_problem(validate_package(data_dir), "arms.csv", len(rows), None, "duplicate-key")


def test_timepoints_consistent_across_arms(data_dir):
    rows = read_rows(data_dir / "outcomes.csv")
    header = rows[0]
    drop = line_of(data_dir, "outcomes.csv", study_id="gudeman1997", arm_id="placebo", timepoint_id="one_month_after")
    del rows[drop - 1]
    write_rows(data_dir / "outcomes.csv", rows)
    line = line_of(data_dir, "outcomes.csv", study_id="gudeman1997", arm_id="dexamethasone",
                   timepoint_id="one_month_after")
    problems = validate_package(data_dir)
    assert_problem(problems, "outcomes.csv", line, "timepoint_id", "timepoints-consistent")
    [p] = [p for p in problems if p.rule == "timepoints-consistent"]
    assert "placebo" in p.message and "one_month_after" in p.message
    assert header == read_rows(DATA / "outcomes.csv")[0]


def test_timepoints_consistent_for_a_trial_without_arms_rows(data_dir):
    # without arms in arms.csv, the arms expected are those with rows for the outcome
    rows = read_rows(data_dir / "arms.csv")
    write_rows(data_dir / "arms.csv", [r for r in rows if r[0] != "gudeman1997"])
    rows = read_rows(data_dir / "outcomes.csv")
    drop = line_of(data_dir, "outcomes.csv", study_id="gudeman1997", arm_id="placebo", timepoint_id="one_month_after")
    del rows[drop - 1]
    write_rows(data_dir / "outcomes.csv", rows)
    line = line_of(data_dir, "outcomes.csv", study_id="gudeman1997", arm_id="dexamethasone",
                   timepoint_id="one_month_after")
    problems = validate_package(data_dir)
    assert_problem(problems, "outcomes.csv", line, "timepoint_id", "timepoints-consistent")
    [p] = [p for p in problems if p.rule == "timepoints-consistent"]
    assert "none for arm(s) ['placebo']" in p.message


def test_every_problem_is_reported_not_only_the_first(data_dir):
    l1 = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", l1, sd="-1", mean_source="")
    l2 = line_of(data_dir, "arms.csv", study_id="neeter2003", arm_id="placebo")
    set_cells(data_dir, "arms.csv", l2, role="sham")
    l3 = line_of(data_dir, "timepoints.csv", study_id="gudeman1997", timepoint_id="end_of_treatment")
    set_cells(data_dir, "timepoints.csv", l3, weeks_note="")
    problems = validate_package(data_dir)
    assert_problem(problems, "outcomes.csv", l1, "sd", "sd-positive")
    assert_problem(problems, "outcomes.csv", l1, "mean_source", "source-required")
    assert_problem(problems, "arms.csv", l2, "role", "enum")
    assert_problem(problems, "timepoints.csv", l3, "weeks_note", "weeks-note-required")
    assert len(problems) == 4


def test_load_package_raises_with_all_problems(data_dir):
    l1 = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", l1, sd="-1")
    l2 = line_of(data_dir, "studies.csv", study_id="neeter2003")
    set_cells(data_dir, "studies.csv", l2, scope="achilles")
    with pytest.raises(DataValidationError) as info:
        load_package(data_dir)
    err = info.value
    assert isinstance(err, ValueError)
    assert len(err.problems) == 2
    lines = str(err).splitlines()
    assert lines[0].startswith("2 problem(s)")
    assert str(err.problems[0]) in lines and str(err.problems[1]) in lines


# --------------------------------------------------------------------------- malformed files


def _semicolon(data_dir: Path) -> tuple[str, int, str | None, str]:
    rows = read_rows(data_dir / "studies.csv")
    with open(data_dir / "studies.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\n").writerows(rows)
    return "studies.csv", 1, None, "header"


def _latin1(data_dir: Path) -> tuple[str, int, str | None, str]:
    text = (data_dir / "studies.csv").read_text(encoding="utf-8")
    (data_dir / "studies.csv").write_bytes(text.encode("latin-1"))
    first = next(i for i, line in enumerate(text.splitlines(), start=1) if any(ord(c) > 127 for c in line))
    return "studies.csv", first, None, "encoding"


def _stray_quote(data_dir: Path) -> tuple[str, int, str | None, str]:
    lines = (data_dir / "outcomes.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    lines[line - 1] = lines[line - 1].replace(",6.8,", ',6.8",', 1)
    (data_dir / "outcomes.csv").write_text("".join(lines), encoding="utf-8")
    return "outcomes.csv", line, "mean", "stray-quote"


def _unclosed_quote(data_dir: Path) -> tuple[str, int, str | None, str]:
    lines = (data_dir / "arms.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace(",placebo,", ',"placebo,', 1)
    (data_dir / "arms.csv").write_text("".join(lines), encoding="utf-8")
    return "arms.csv", 3, "arm_id", "stray-quote"


def _ragged(data_dir: Path) -> tuple[str, int, str | None, str]:
    lines = (data_dir / "timepoints.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace(",", "", 1)
    (data_dir / "timepoints.csv").write_text("".join(lines), encoding="utf-8")
    return "timepoints.csv", 4, None, "ragged-row"


def _blank_line(data_dir: Path) -> tuple[str, int, str | None, str]:
    lines = (data_dir / "findings.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(3, "\n")
    (data_dir / "findings.csv").write_text("".join(lines), encoding="utf-8")
    return "findings.csv", 4, None, "blank-row"


def _bom(data_dir: Path) -> tuple[str, int, str | None, str]:
    raw = (data_dir / "arms.csv").read_bytes()
    (data_dir / "arms.csv").write_bytes(b"\xef\xbb\xbf" + raw)
    return "arms.csv", 1, None, "byte-order-mark"


def _renamed_column(data_dir: Path) -> tuple[str, int, str | None, str]:
    rows = read_rows(data_dir / "between_group.csv")
    rows[0][rows[0].index("favours")] = "favors"
    write_rows(data_dir / "between_group.csv", rows)
    return "between_group.csv", 1, None, "header"


def _missing_file(data_dir: Path) -> tuple[str, int | None, str | None, str]:
    (data_dir / "findings.csv").unlink()
    return "findings.csv", None, None, "file-missing"


def _line_break(data_dir: Path) -> tuple[str, int, str | None, str]:
    line = line_of(data_dir, "studies.csv", study_id="runeson2002")
    set_cells(data_dir, "studies.csv", line, notes="two\nlines")
    return "studies.csv", line, "notes", "line-break-in-cell"


MALFORMED = [_semicolon, _latin1, _stray_quote, _unclosed_quote, _ragged, _blank_line, _bom, _renamed_column,
             _missing_file, _line_break]
MALFORMED_RULES = {_semicolon: "header", _latin1: "encoding", _stray_quote: "stray-quote",
                   _unclosed_quote: "stray-quote", _ragged: "ragged-row", _blank_line: "blank-row",
                   _bom: "byte-order-mark", _renamed_column: "header", _missing_file: "file-missing",
                   _line_break: "line-break-in-cell"}


@pytest.mark.parametrize("breaker", MALFORMED, ids=lambda f: f.__name__.strip("_"))
def test_malformed_csv_gives_clear_problem_and_exit_1(data_dir, breaker, capsys):
    file, line, column, rule = breaker(data_dir)
    assert rule == MALFORMED_RULES[breaker]
    problems = validate_package(data_dir)
    assert_problem(problems, file, line, column, rule)
    assert validate_main([str(data_dir)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert f"{file}" in err and f"[rule: {rule}]" in err
    assert err.strip().splitlines()[-1].endswith(f"in {data_dir}")


def test_semicolon_file_says_wrong_delimiter(data_dir):
    _semicolon(data_dir)
    [p] = [p for p in validate_package(data_dir) if p.file == "studies.csv"]
    assert "wrong delimiter?" in p.message


def test_latin1_names_byte_offset(data_dir):
    _, line, _, _ = _latin1(data_dir)
    [p] = [p for p in validate_package(data_dir) if p.file == "studies.csv"]
    assert "byte offset" in p.message and "UTF-8" in p.message
    assert p.row == line


def test_malformed_file_does_not_stop_checks_of_other_files(data_dir):
    _semicolon(data_dir)
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", line, sd="-1")
    problems = validate_package(data_dir)
    assert_problem(problems, "studies.csv", 1, None, "header")
    assert_problem(problems, "outcomes.csv", line, "sd", "sd-positive")
    # foreign keys into the unreadable studies.csv are not checked, so no flood of unknown ids
    assert not any(p.rule == "unknown-id" for p in problems)


def test_missing_directory_or_descriptor_exit_2(tmp_path, capsys):
    assert validate_main([str(tmp_path / "nowhere")]) == 2
    assert "data directory not found" in capsys.readouterr().err
    assert validate_main([str(tmp_path)]) == 2
    assert "no datapackage.json" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        load_package(tmp_path)


def test_broken_descriptor_json(data_dir, capsys):
    (data_dir / "datapackage.json").write_text('{"resources": [', encoding="utf-8")
    problems = validate_package(data_dir)
    assert [p.rule for p in problems] == ["descriptor"] and problems[0].file == "datapackage.json"
    assert validate_main([str(data_dir)]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_descriptor_without_a_resource(data_dir):
    descriptor = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["resources"] = [r for r in descriptor["resources"] if r["name"] != "findings"]
    (data_dir / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    problems = validate_package(data_dir)
    assert any(p.rule == "descriptor" and "'findings' is not described" in p.message for p in problems)


# --------------------------------------------------------------------------- the quote scanner


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(cells, min_size=1, max_size=6))
def test_quote_scanner_accepts_every_line_csv_writes(row):
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    assert _find_stray_quote(buf.getvalue().rstrip("\n")) is None


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='ab ,"', max_size=14))
def test_fast_quote_check_equals_the_scanner_and_the_pattern(line):
    expected = _scan_quotes(line) == []
    assert _quotes_well_placed(line) == expected
    assert (_VALID_LINE.fullmatch(line) is not None) == expected


@pytest.mark.parametrize("line, position", [('a,b"c,d', (3, 1)), ('"a"b,c', (3, 0)), ('a,"b', (2, 1)),
                                            ('a,"b""c",d', None), ('"a,b",c', None)])
def test_quote_scanner_finds_stray_quotes(line, position):
    assert _find_stray_quote(line) == position


# --------------------------------------------------------------------------- plausibility, lengths, sizes

NIRSCHL_VAS_DAY2 = dict(study_id="nirschl2003", outcome_id="pain_vas", timepoint_id="day_2_after")
GUDEMAN_STUDY = dict(study_id="gudeman1997")
REPORTED = dict(n_status="reported", n_source="x")

NEW_RULE_CASES = [
    # bounds of the appraisal tables
    ("pedro_ratings.csv", dict(study_id="nirschl2003", item="total_score"), dict(score="11"), "score",
     "pedro-score-range"),
    ("minimal_important_differences.csv", dict(study_id="nirschl2003", outcome_id="pain_vas"),
     dict(mid_lower="0"), "mid_lower", "mid-positive"),
    # plausibility limits written into datapackage.json
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean="1e308"), "mean", "plausibility"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean="-2e12"), "mean", "plausibility"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(sd="1e-13"), "sd", "plausibility"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(sd="2e12"), "sd", "plausibility"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(se="1e-13", se_status="reported", se_source="x"), "se", "plausibility"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA,
     dict(ci_lower="-1e13", ci_lower_status="reported", ci_lower_source="x",
          ci_upper="1", ci_upper_status="reported", ci_upper_source="x"), "ci_lower", "plausibility"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(n="10000001", **REPORTED), "n", "plausibility"),
    ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(events="10000001", events_status="reported",
                                                    events_source="x"), "events", "plausibility"),
    ("arms.csv", dict(study_id="gudeman1997", arm_id="placebo"), dict(n_randomised="20000000"), "n_randomised",
     "plausibility"),
    ("between_group.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
     dict(estimate="2e12"), "estimate", "plausibility"),
    ("between_group.csv", NIRSCHL_VAS_DAY2, dict(p_value="1e-20"), "p_value", "plausibility"),
    ("findings.csv", dict(finding_id="morning_stiffness_week_4_acetic_acid_vs_placebo"), dict(p_value="1e-17"),
     "p_value", "plausibility"),
    ("timepoints.csv", dict(study_id="gudeman1997", timepoint_id="end_of_treatment"),
     dict(weeks_from_start="2000"), "weeks_from_start", "plausibility"),
    ("studies.csv", GUDEMAN_STUDY, dict(year="1850"), "year", "plausibility"),
    ("studies.csv", GUDEMAN_STUDY, dict(year="2101"), "year", "plausibility"),
    ("studies.csv", GUDEMAN_STUDY, dict(sessions="1001"), "sessions", "plausibility"),
    ("studies.csv", GUDEMAN_STUDY, dict(weeks_of_treatment="1041"), "weeks_of_treatment", "plausibility"),
    ("studies.csv", GUDEMAN_STUDY, dict(patients_n="10000001"), "patients_n", "plausibility"),
    ("outcome_definitions.csv", dict(study_id="osborne2006", outcome_id="morning_pain"), dict(scale_max="1e13"),
     "scale_max", "plausibility"),
    # the one limit Table Schema cannot say: a non-zero measurement of at least 1e-12
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean="1e-300"), "mean", "plausibility"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(mean="1e400"), "mean", "finite-number"),
    # other bounds of the schema
    ("studies.csv", GUDEMAN_STUDY, dict(sessions="0"), "sessions", "sessions-minimum"),
    ("studies.csv", GUDEMAN_STUDY, dict(weeks_of_treatment="0"), "weeks_of_treatment",
     "weeks_of_treatment-exclusiveMinimum"),
    # lengths
    ("studies.csv", GUDEMAN_STUDY, dict(label="G" * 81), "label", "max-length"),
    ("arms.csv", dict(study_id="gudeman1997", arm_id="placebo"), dict(label=("Placebo " * 11).strip()), "label", "max-length"),
    ("studies.csv", GUDEMAN_STUDY, dict(notes="x" * 2001), "notes", "max-length"),
    ("findings.csv", dict(finding_id="toe_raise_between"), dict(finding_id="a" * 65), "finding_id", "max-length"),
    # sizes a continuous outcome needs, percentages, counts, CIs
    ("outcomes.csv", GUDEMAN_EOT_DEXA, dict(n="1", **REPORTED), "n", "n-for-sd"),
    ("arms.csv", dict(study_id="gudeman1997", arm_id="placebo"), dict(n_randomised="1", n_analysed="1"),
     "n_randomised", "n-for-sd"),
    ("arms.csv", dict(study_id="gudeman1997", arm_id="placebo"), dict(n_randomised="1", n_analysed="1"),
     "n_analysed", "n-for-sd"),
    ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(percent="52.3"), "percent", "percent-count"),
    ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(percent="0.00001"), "percent", "percent-count"),
    ("outcomes.csv", NIRSCHL_GLOBAL_DAY2_DEXA, dict(events="150", events_status="reported", events_source="x"),
     "events", "events-le-n"),
    ("outcomes.csv", GUDEMAN_EOT_DEXA,
     dict(ci_lower="5", ci_lower_status="reported", ci_lower_source="x",
          ci_upper="5", ci_upper_status="reported", ci_upper_source="x"), "ci_upper", "ci-width"),
    # the structure the comparison needs
    ("arms.csv", dict(study_id="gudeman1997", arm_id="dexamethasone"), dict(role="control"), "role", "arm-roles"),
    ("arms.csv", dict(study_id="osborne2006", arm_id="dexamethasone"), dict(role="other"), "role", "arm-roles"),
    ("outcome_definitions.csv", dict(study_id="neeter2003", outcome_id="pain_walking"),
     dict(review_role="primary"), "review_role", "primary-outcome"),
    ("outcome_definitions.csv", dict(study_id="gudeman1997", outcome_id="maryland_foot_score"),
     dict(review_role="secondary"), "review_role", "primary-outcome"),
]


@pytest.mark.parametrize("file, match, cells, column, rule", NEW_RULE_CASES)
def test_new_rule(data_dir, file, match, cells, column, rule):
    line = line_of(data_dir, file, **match)
    set_cells(data_dir, file, line, **cells)
    problems = validate_package(data_dir)
    assert_problem(problems, file, line, column, rule)
    assert [p for p in problems if p.file == file and p.row == line and p.column == column][0].rule == rule


def test_values_at_the_limits_are_valid(data_dir):
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", line, mean="1e12", sd="1e-12", n="10000000", **REPORTED)
    other = line_of(data_dir, "outcomes.csv", study_id="gudeman1997", arm_id="placebo",
                    timepoint_id="end_of_treatment")
    set_cells(data_dir, "outcomes.csv", other, mean="-1e12", sd="1e12", n="2", **REPORTED)
    set_cells(data_dir, "studies.csv", line_of(data_dir, "studies.csv", **GUDEMAN_STUDY),
              label="G" * 80, year="2100", sessions="1000", notes="x" * 2000)
    assert validate_package(data_dir) == []


def test_plausibility_message_gives_limit_and_reason(data_dir):
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", line, mean="1e308")
    [p] = validate_package(data_dir)
    assert str(p) == (f"outcomes.csv, line {line}, column mean: must be <= 1e+12 (got 1e+308); plausibility "
                      f"limit for measurements: means, CI limits, estimates and scale limits within ±1e12, and a "
                      f"non-zero one at least 1e-12 in magnitude [rule: plausibility]")


def test_one_problem_per_cell_for_the_first_bound_broken(data_dir):
    # SD = -1 breaks SD > 0 and the plausibility minimum 1e-12: reported once, as SD > 0
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", line, sd="-1")
    assert [p.rule for p in validate_package(data_dir)] == ["sd-positive"]


def test_long_label_message_is_short(data_dir):
    line = line_of(data_dir, "studies.csv", **GUDEMAN_STUDY)
    set_cells(data_dir, "studies.csv", line, label="G" * 100_000)
    [p] = validate_package(data_dir)
    assert p.rule == "max-length" and "100000 characters, at most 80" in p.message
    assert len(str(p)) < 300


# --------------------------------------------------------------------------- duplicate trials


def _copy_study(data_dir: Path, new_id: str, **cells: str) -> tuple[int, int]:
    rows = read_rows(data_dir / "studies.csv")
    header = rows[0]
    first = line_of(data_dir, "studies.csv", study_id="neeter2003")
    copy = list(rows[first - 1])
    copy[header.index("study_id")] = new_id
    for column, value in cells.items():
        copy[header.index(column)] = value
    rows.append(copy)
    write_rows(data_dir / "studies.csv", rows)
    return first, len(rows)


def test_a_trial_copied_under_a_new_id_is_a_duplicate(data_dir):
    first, second = _copy_study(data_dir, "neeter2003_again")
    problems = validate_package(data_dir)
    for column in ("doi", "pmid", "label"):
        assert_problem(problems, "studies.csv", first, column, "duplicate-study")
        assert_problem(problems, "studies.csv", second, column, "duplicate-study")
    [later] = [p for p in problems if p.row == second and p.column == "doi"]
    assert f"neeter2003 at line {first}" in later.message
    [earlier] = [p for p in problems if p.row == first and p.column == "doi"]
    assert f"line {second} (neeter2003_again)" in earlier.message
    assert validate_main([str(data_dir)]) == 1


@pytest.mark.parametrize("cells, column", [
    (dict(doi="10.1046/J.1600-0838.2003.00305.X", pmid="", label="Neeter et al. 2003"), "doi"),
    (dict(doi="", pmid="14617059", label="Neeter et al. 2003"), "pmid"),
    (dict(doi="", pmid="", label="NEETER 2003"), "label"),
])
def test_duplicate_doi_ignores_case_and_each_identifier_counts(data_dir, cells, column):
    first, second = _copy_study(data_dir, "neeter2003_again", **cells)
    problems = [p for p in validate_package(data_dir) if p.rule == "duplicate-study"]
    assert {(p.row, p.column) for p in problems} == {(first, column), (second, column)}


def test_pmcid_duplicate(data_dir):
    line = line_of(data_dir, "studies.csv", study_id="gudeman1997")
    set_cells(data_dir, "studies.csv", line, pmcid="PMC2465091")  # Osborne & Allison's
    osborne = line_of(data_dir, "studies.csv", study_id="osborne2006")
    problems = validate_package(data_dir)
    assert_problem(problems, "studies.csv", line, "pmcid", "duplicate-study")
    assert_problem(problems, "studies.csv", osborne, "pmcid", "duplicate-study")


# --------------------------------------------------------------------------- unreadable files


def test_a_directory_in_place_of_a_csv_is_unreadable(data_dir, capsys):
    (data_dir / "arms.csv").unlink()
    (data_dir / "arms.csv").mkdir()
    problems = validate_package(data_dir)
    assert_problem(problems, "arms.csv", None, None, "unreadable")
    assert "is a directory" in [p for p in problems if p.rule == "unreadable"][0].message
    assert validate_main([str(data_dir)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "[rule: unreadable]" in err


@pytest.mark.parametrize("error, words", [(PermissionError(13, "Permission denied"), "Permission denied"),
                                          (OSError(5, "Input/output error"), "Input/output error")])
@pytest.mark.parametrize("file", ["arms.csv", "datapackage.json"])
def test_a_file_that_cannot_be_read_is_a_problem_not_a_traceback(data_dir, monkeypatch, capsys, error, words,
                                                                    file):
    # as root, chmod 000 does not stop reading, so the operating system's refusal is simulated
    real = Path.read_bytes

    def refuse(self):
        if self.name == file:
            raise error
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    problems = validate_package(data_dir)
    assert_problem(problems, file, None, None, "unreadable")
    assert words in problems[0].message
    assert validate_main([str(data_dir)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and f"{file}: cannot be read ({words})" in err
    with pytest.raises(DataValidationError):
        load_package(data_dir)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_chmod_000_is_unreadable(data_dir):
    (data_dir / "arms.csv").chmod(0)
    try:
        assert_problem(validate_package(data_dir), "arms.csv", None, None, "unreadable")
    finally:
        (data_dir / "arms.csv").chmod(0o644)


def test_a_directory_in_place_of_the_descriptor_is_unreadable(data_dir):
    (data_dir / "datapackage.json").unlink()
    (data_dir / "datapackage.json").mkdir()
    assert_problem(validate_package(data_dir), "datapackage.json", None, None, "unreadable")
    assert validate_main([str(data_dir)]) == 1


# --------------------------------------------------------------------------- the descriptor's own rules


@pytest.mark.parametrize("change, words", [
    (lambda f: f.setdefault("constraints", {}).update(unique=True), "constraint 'unique' is not supported"),
    (lambda f: f.update(type="date"), "has type 'date'"),
    (lambda f: f.setdefault("constraints", {}).update(pattern="[a-"), "not a valid regular expression"),
])
def test_descriptor_features_the_validator_cannot_check_are_reported(data_dir, change, words):
    descriptor = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    studies = next(r for r in descriptor["resources"] if r["name"] == "studies")
    change(next(f for f in studies["schema"]["fields"] if f["name"] == "label"))
    (data_dir / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    problems = validate_package(data_dir)
    assert any(p.rule == "descriptor" and words in p.message and "'studies'" in p.message for p in problems)


def test_limits_and_lengths_are_in_the_descriptor():
    """LIMITS and MAX_LENGTHS are what datapackage.json says, so other tools enforce them too."""
    descriptor = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    seen = set()
    for res in descriptor["resources"]:
        for f in res["schema"]["fields"]:
            cons = f.get("constraints", {})
            for kind, (columns, low, high, _) in LIMITS.items():
                if f["name"] in columns:
                    seen.add(f["name"])
                    if low is not None:
                        assert cons["minimum"] == low, (res["name"], f["name"])
                    if high is not None:
                        assert cons["maximum"] == high, (res["name"], f["name"])
            if f["type"] == "string" and "enum" not in cons:
                group = next((g for g, (cols, _, _) in MAX_LENGTHS.items() if cols and f["name"] in cols), "text")
                assert cons["maxLength"] == MAX_LENGTHS[group][1], (res["name"], f["name"])
            for constraint in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if constraint in cons:
                    assert bound_rule(f["name"], constraint) in RULES, (f["name"], constraint)
    assert seen == {c for columns, *_ in LIMITS.values() for c in columns}


# --------------------------------------------------------------------------- every rule is tested

#: Rules fired by dedicated tests above (the test named must exist).
DEDICATED = {
    "descriptor": "test_broken_descriptor_json",
    "duplicate-key": "test_duplicate_key",
    "kind-required": "test_kind_required_for_outcomes_with_rows",
    "timepoints-consistent": "test_timepoints_consistent_across_arms",
    "duplicate-study": "test_a_trial_copied_under_a_new_id_is_a_duplicate",
    "unreadable": "test_a_directory_in_place_of_a_csv_is_unreadable",
    "empty-file": "test_empty_file",
}


def test_empty_file(data_dir):
    (data_dir / "timepoints.csv").write_text("", encoding="utf-8")
    assert_problem(validate_package(data_dir), "timepoints.csv", None, None, "empty-file")


#: The appraisal tables' cross-row rules fire in tests/test_risk_of_bias.py.
APPRAISAL_RULES_TESTED_IN = ROOT / "tests" / "test_risk_of_bias.py"


def test_every_rule_fires_in_some_test():
    fired = {case[-1] for case in RULE_CASES + NEW_RULE_CASES} | set(MALFORMED_RULES.values())
    appraisal_tests = APPRAISAL_RULES_TESTED_IN.read_text(encoding="utf-8")
    fired |= {rule for rule in RULES if f'"{rule}")' in appraisal_tests}
    for rule, test in DEDICATED.items():
        assert callable(globals().get(test)), test
        fired.add(rule)
    assert fired == set(RULES), f"no test fires: {sorted(set(RULES) - fired)}; unknown: {sorted(fired - set(RULES))}"


# --------------------------------------------------------------------------- loading from anywhere


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DEXA_MA_DATA", raising=False)
    assert paths.data_dir() == DATA_DIR == DATA
    monkeypatch.setenv("DEXA_MA_DATA", "")
    assert paths.data_dir() == DATA_DIR
    monkeypatch.setenv("DEXA_MA_DATA", str(tmp_path))
    assert paths.data_dir() == tmp_path


def test_load_package_without_argument_works_from_any_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DEXA_MA_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # as a notebook in notebooks/ would
    pkg = load_package()
    assert pkg.path == DATA.resolve() and len(pkg.studies) == len(read_rows(DATA / "studies.csv")) - 1
    assert validate_package() == []


def test_load_package_without_argument_reads_dexa_ma_data(monkeypatch, data_dir):
    line = line_of(data_dir, "studies.csv", **GUDEMAN_STUDY)
    set_cells(data_dir, "studies.csv", line, label="Gudeman et al. 1997")
    monkeypatch.setenv("DEXA_MA_DATA", str(data_dir))
    pkg = load_package()
    assert pkg.path == data_dir.resolve()
    assert "Gudeman et al. 1997" in set(pkg.studies["label"])


def test_validate_command(data_dir, tmp_path, capsys):
    assert validate_command(DATA) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{DATA}: valid data package ({len(RESOURCE_NAMES)} tables, ") and err == ""
    line = line_of(data_dir, "outcomes.csv", **GUDEMAN_EOT_DEXA)
    set_cells(data_dir, "outcomes.csv", line, sd="-1")
    assert validate_command(str(data_dir)) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [
        f"outcomes.csv, line {line}, column sd: must be > 0 (got -1.0) [rule: sd-positive]",
        f"1 problem(s) in {data_dir}"]
    assert validate_command(tmp_path / "nowhere") == 2
    assert "data directory not found" in capsys.readouterr().err
