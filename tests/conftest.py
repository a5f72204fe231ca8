"""Fixtures shared by the analysis tests: the committed data package, loaded once."""

from __future__ import annotations

import pytest

from analysis.data import load_package
from analysis.paths import DATA_DIR
from analysis.trial_effects import continuous_effects


@pytest.fixture(scope="session")
def pkg():
    """The committed data package (validated on load)."""
    return load_package(DATA_DIR)


@pytest.fixture(scope="session")
def effects(pkg):
    """MD and SMD rows of every trial, with the review's default choices."""
    return continuous_effects(pkg)
