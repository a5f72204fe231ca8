"""Where the project's folders are, wherever a notebook or script is started from."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
FIGURES_DIR = PROJECT_ROOT / "figures"
TABLES_DIR = PROJECT_ROOT / "tables"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
BUILD_DIR = PROJECT_ROOT / "build"


def data_dir() -> Path:
    """The data package to read: ``$DEXA_MA_DATA`` when set and non-empty, else ``data/``.

    ``python -m analysis reproduce --data DIR`` sets the variable for the notebooks it runs,
    so they read the same folder as the figures.
    """
    chosen = os.environ.get("DEXA_MA_DATA", "").strip()
    return Path(chosen) if chosen else DATA_DIR
