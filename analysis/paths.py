"""Where the project's folders are, wherever a notebook or script is started from."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
FIGURES_DIR = PROJECT_ROOT / "figures"
TABLES_DIR = PROJECT_ROOT / "tables"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
BUILD_DIR = PROJECT_ROOT / "build"

#: Environment variable naming another data package folder (for example a copy of
#: ``data/`` with a trial's numbers added) for everything that loads "the" data.
DATA_ENV = "DEXA_MA_DATA"


def data_dir() -> Path:
    """The data package folder to use: ``$DEXA_MA_DATA`` when set and non-empty, else
    :data:`DATA_DIR` (the project's ``data/``).

    A relative ``$DEXA_MA_DATA`` is taken from the current working directory.
    ``python -m analysis reproduce --data DIR`` sets the variable for the notebooks it
    runs, so they read the same folder as the figures.
    """
    named = os.environ.get(DATA_ENV, "")
    return Path(named) if named else DATA_DIR
