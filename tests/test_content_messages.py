"""When a user adds a trial's numbers, the tests that pin the published numbers fail with
sentences that say which value, where, and what to do, never with a bare assert.

A copy of data/ gets clearly synthetic numbers for Neeter 2003's primary outcome (pain
during activity, both arms, end of treatment and 6 weeks; mean, SD and n with status
``reported`` and source ``test fixture``), as the README tells a user to enter them. The
content tests are then run against the copy (``DEXA_MA_DATA``, as a user would run them)
and in-process, and every failure is checked.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import test_data_content as content
from datacopy import fill_neeter_synthetic
from analysis.data import load_package, validate_package

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, dict[tuple[str, str], int]]:
    """The copy, and the line of each filled row."""
    data_dir = tmp_path_factory.mktemp("user") / "data"
    shutil.copytree(ROOT / "data", data_dir)
    lines = fill_neeter_synthetic(data_dir)
    assert len(lines) == 4 and validate_package(data_dir) == []
    return data_dir, lines


def _failures(data_dir: Path, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(content, "DATA", data_dir)
    pkg = load_package(data_dir)
    failures = {}
    for name, func in vars(content).items():
        if not name.startswith("test_") or not callable(func):
            continue
        args = [pkg] if "pkg" in inspect.signature(func).parameters else []
        try:
            func(*args)
        except pytest.fail.Exception as exc:
            failures[name] = str(exc)
        except AssertionError as exc:  # a bare assert: what this test forbids
            failures[name] = f"BARE ASSERT: {exc}"
    return failures


def test_adding_numbers_fails_with_sentences(filled, monkeypatch):
    data_dir, lines = filled
    failures = _failures(data_dir, monkeypatch)
    assert set(failures) == {"test_no_number_outside_the_allow_list", "test_neeter_every_value_missing"}
    for message in failures.values():
        assert not message.startswith("BARE ASSERT"), message
        assert "tests/test_data_content.py" in message and "in the same commit" in message
        assert re.search(rf"{re.escape(str(data_dir / 'outcomes.csv'))} line \d+, column (mean|sd|n)", message)
    new = failures["test_no_number_outside_the_allow_list"]
    assert new.startswith(f"12 number(s) in {data_dir} that ALLOWED in tests/test_data_content.py does not pin:")
    line = lines[("dexamethasone", "end_of_treatment")]
    assert (f"a new number at {data_dir / 'outcomes.csv'} line {line}, column mean (neeter2003 / dexamethasone / "
            f"pain_activity / end_of_treatment): 3 (reported). If it is from the trial's text, add it to ALLOWED in "
            f"tests/test_data_content.py with its status, in the same commit:\n      ('outcomes.csv', 'neeter2003', "
            f"'dexamethasone', 'pain_activity', 'end_of_treatment', 'mean'): (3, 'reported'),") in new
    missing = failures["test_neeter_every_value_missing"]
    assert "Neeter 2003's mean values are missing from the public record" in missing
    assert f"line {line}, column mean = 3.0 (reported, test fixture)" in missing


def test_the_allow_list_line_to_paste_makes_the_test_pass(filled, monkeypatch):
    data_dir, _ = filled
    monkeypatch.setattr(content, "DATA", data_dir)
    pasted = {}
    for message in content.unexpected_numbers():
        entry = message.rsplit("\n", 1)[1].strip().rstrip(",")
        key, value = eval(f"{{{entry}}}").popitem()  # the line as a user would paste it
        pasted[key] = value
    monkeypatch.setattr(content, "ALLOWED", {**content.ALLOWED, **pasted})
    assert content.unexpected_numbers() == [] and content.changed_numbers() == []


def test_content_tests_read_dexa_ma_data(filled):
    data_dir, _ = filled
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
                          "tests/test_data_content.py", "-k", "allow_list or neeter_every or gudeman_rows"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "DEXA_MA_DATA": str(data_dir)})
    assert run.returncode == 1
    assert "2 failed, 1 passed" in run.stdout and "a new number at" in run.stdout
    assert "assert " not in run.stdout
