"""The repository's own promises: dependencies agree, notebooks are committed clean,
the README's commands are the ones CI and the Makefile run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["test"]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment_requirements() -> dict[str, str]:
    deps: dict[str, str] = {}
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+[^:\s]*)\s*$", line)
        if m and not m.group(1).startswith(("python", "pip")):
            deps[_name(m.group(1))] = m.group(1).replace(" ", "")
    return deps


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_lock_file_pins_every_declared_dependency():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: '{line}' is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    missing = set(_pyproject_requirements()) - set(pins)
    assert not missing, f"requirements.lock lacks {sorted(missing)}"


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


def test_notebooks_exist_and_are_numbered_in_reading_order():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4
    assert all(re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", n) for n in names), names


def test_readme_commands_are_what_ci_and_make_run():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make reproduce" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^reproduce:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_readme_results_are_what_the_code_gives_today(tables, multiverse_result):
    from analysis.findings import findings_markdown, readme_section

    section = readme_section(ROOT / "README.md")
    assert section, "README.md has no results section between its markers"
    assert section == findings_markdown(tables, multiverse=multiverse_result), (
        "README's 'Results at a glance' is stale: run `make reproduce` (it rewrites the "
        "section from the data) and commit README.md")


def test_every_number_in_the_readme_results_is_in_a_committed_csv():
    """A reader can trace each number of the results section to a figure's or table's CSV."""
    import csv

    from analysis.findings import numbers_in, readme_section

    values = []
    for path in sorted((ROOT / "figures").glob("*.csv")) + sorted((ROOT / "tables").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    try:
                        values.append(float(cell))
                    except ValueError:
                        continue
    values = sorted(set(values))
    untraced = []
    for text in numbers_in(readme_section(ROOT / "README.md")):
        shown = float(text.replace("\u2212", "-"))
        digits = len(text.split(".")[1])
        if not any(round(v, digits) == shown for v in values):
            untraced.append(text)
    assert not untraced, f"numbers in README results not found in figures/ or tables/: {untraced}"


def test_readme_python_examples_run():
    """Every ```python block of the README runs as written (from another folder, too)."""
    import os
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block], cwd=ROOT / "notebooks",
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "MPLBACKEND": "Agg"})
        assert done.returncode == 0, f"README example failed:\n{block}\n{done.stderr[-2000:]}"


def test_pytest_xdist_keeps_an_xdist_group_on_one_worker(tmp_path):
    # `make test` relies on it: the notebook tests share one executed set of notebooks
    (tmp_path / "test_grouped.py").write_text(
        "import os\nimport pytest\n\npytestmark = pytest.mark.xdist_group('one')\n\n\n"
        "@pytest.mark.parametrize('i', range(6))\ndef test_where(i):\n"
        "    with open('workers.txt', 'a') as f:\n"
        "        f.write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                          "--dist", "loadgroup", "test_grouped.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    workers = (tmp_path / "workers.txt").read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers


@pytest.mark.parametrize("script", sorted((ROOT / "benchmarks").glob("bench_*.py")), ids=lambda p: p.name)
def test_every_benchmark_starts(script):
    # `make bench` must not break silently when the code it measures changes: each script
    # imports what it measures and parses its arguments (the measurements are not run here)
    run = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage:"), run.stdout
