"""The notebooks, executed headless as `make reproduce` does: every plot cell holds an
image (in the notebook and in its HTML), and `reproduce --data DIR` reaches them."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

from analysis.paths import DATA_DIR, NOTEBOOKS_DIR
from analysis.reproduce import execute_notebooks

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
#: Source patterns of a cell that shows a figure: such a cell must be tagged "figure".
DRAWS = re.compile(r"\.figure\s*$|\.forest\(|_figure\(|_plot\(", re.M)

pytestmark = pytest.mark.xdist_group("notebooks")


@pytest.fixture(scope="module")
def executed(executed_notebooks):
    return executed_notebooks


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _is_figure_cell(cell) -> bool:
    return "figure" in cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_that_draws_is_tagged_figure(path):
    untagged = [i for i, c in enumerate(_cells(path)) if c["cell_type"] == "code"
                and DRAWS.search("".join(c["source"])) and not _is_figure_cell(c)]
    assert not untagged, f"{path.name}: cells {untagged} draw a figure; tag them 'figure'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_cell_holds_a_png_and_no_figure_is_shown_as_text(executed, path):
    cells = _cells(executed / path.name)
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        outputs = cell.get("outputs", [])
        for out in outputs:
            data = out.get("data", {})
            text = "".join(data.get("text/plain", ""))
            assert not (text.startswith("<Figure") and "image/png" not in data), (
                f"{path.name} cell {i} shows a figure as text ({text}): no inline backend?")
        if _is_figure_cell(cell):
            assert any("image/png" in o.get("data", {}) for o in outputs), (
                f"{path.name} cell {i} is a figure cell without an image/png output")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_html_shows_every_figure_as_an_image(executed, path):
    html = (executed / path.name).with_suffix(".html").read_text(encoding="utf-8")
    figures = sum(_is_figure_cell(c) for c in _cells(path))
    assert html.count("data:image/png;base64,") >= figures


def test_reproduce_data_reaches_the_notebooks(tmp_path):
    """A copy of data/ with one trial relabelled: the notebook must show the new label."""
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    path = data / "studies.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        header = list(rows[0])
    rows[0]["label"] = "Relabelled trial 1997"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out"
    first = NOTEBOOKS[0]
    execute_notebooks([first], out, data_dir=data)
    shown = json.dumps(_cells(out / first.name))
    assert "Relabelled trial 1997" in shown
