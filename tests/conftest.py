"""Fixtures shared by the analysis tests: the committed data package and the tables built
from it, each made once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analysis.data import load_package
from analysis.paths import DATA_DIR
from analysis.reproduce import _notebook_worker
from analysis.trial_effects import review_tables

# The test processes import nbformat as the notebook workers do, so they are set up as
# those workers are: without jsonschema's IRI parsers, which took about 4 of the 7.5 s
# each process spent collecting the tests.
_notebook_worker()


@pytest.fixture(scope="session")
def pkg():
    """The committed data package (validated on load)."""
    return load_package(DATA_DIR)


@pytest.fixture(scope="session")
def tables(pkg):
    """Every table the later steps use, built once with the review's default choices."""
    return review_tables(pkg)


@pytest.fixture(scope="session")
def effects(tables):
    """MD and SMD rows of every trial, with the review's default choices."""
    return tables.effects


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """Every notebook of notebooks/ executed once, as `make reproduce` does (concurrently,
    each in its own kernel); the folder holding the executed copies and their HTML.
    Tests that use it carry the xdist group "notebooks", so one worker runs them all."""
    from analysis.paths import NOTEBOOKS_DIR
    from analysis.reproduce import execute_notebooks

    out = tmp_path_factory.mktemp("executed_notebooks")
    execute_notebooks(sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")), out, progress=False)
    return out


@pytest.fixture(scope="session")
def multiverse_result(pkg):
    """The multiverse of analytic choices on the committed data (default factors file)."""
    from analysis.multiverse import multiverse

    return multiverse(pkg)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of the committed data package, for a test to change."""
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target
