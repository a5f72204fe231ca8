"""The committed figures are what the data give today, and each is complete."""

from __future__ import annotations


import matplotlib.pyplot as plt
import pytest
from PIL import Image

from analysis.data import load_package
from analysis.figures import all_figures, write_table
from analysis.trial_effects import review_tables
from analysis.paths import DATA_DIR, FIGURES_DIR
from analysis.plots import save_figure

# one worker builds the module's figures once (a module fixture runs once per worker)
pytestmark = pytest.mark.xdist_group("committed-figures")


@pytest.fixture(scope="module")
def specs(multiverse_result):
    built = all_figures(review_tables(load_package(DATA_DIR)), multiverse=multiverse_result)
    yield built


def test_every_figure_is_committed_as_png_svg_and_csv(specs):
    for spec in specs:
        for suffix in (".png", ".svg", ".csv"):
            path = FIGURES_DIR / f"{spec.name}{suffix}"
            assert path.exists(), f"{path.name} is missing: run `make reproduce` and commit figures/"


def test_committed_figure_numbers_match_a_fresh_run(specs, tmp_path):
    for spec in specs:
        fresh = write_table(spec.table, tmp_path / f"{spec.name}.csv").read_text(encoding="utf-8")
        committed = (FIGURES_DIR / f"{spec.name}.csv").read_text(encoding="utf-8")
        assert fresh == committed, (
            f"figures/{spec.name}.csv is stale: the data or the analysis changed; "
            "run `make reproduce` and commit figures/")


def test_pngs_are_300_dpi_and_svgs_carry_no_date(specs):
    for spec in specs:
        with Image.open(FIGURES_DIR / f"{spec.name}.png") as im:
            dpi = im.info.get("dpi")
        assert dpi is not None and round(dpi[0]) == 300, f"{spec.name}.png: dpi {dpi}"
        svg = (FIGURES_DIR / f"{spec.name}.svg").read_text(encoding="utf-8")
        assert "<dc:date>" not in svg


def test_every_trial_with_outcomes_is_accounted_for_in_the_forest_plots(specs):
    pkg = load_package(DATA_DIR)
    with_outcomes = set(pkg.studies.set_index("study_id").loc[
        pkg.outcomes["study_id"].unique(), "label"])
    forest = [s for s in specs if s.name.startswith("forest_smd_")]
    assert forest
    for spec in forest:
        shown = set(spec.table.loc[spec.table["row_type"] == "study", "study"])
        assert with_outcomes <= shown, f"{spec.name} omits {with_outcomes - shown}"
        not_est = spec.table[(spec.table["row_type"] == "study") & ~spec.table["estimable"].astype(bool)]
        assert {"Neeter 2003", "Osborne & Allison 2006"} <= set(not_est["study"])
        texts = " ".join(t.get_text() for t in spec.figure.findobj(plt.Text))
        assert "not estimable" in texts.lower()
        assert "Not shown" in texts  # trials without outcomes at these time points are named


def test_saving_is_deterministic(specs, tmp_path):
    # the figure with the smallest committed PNG, the cheapest to save twice; the
    # specification curve's saves are compared in test_multiverse_plots
    spec = min(specs, key=lambda s: (FIGURES_DIR / f"{s.name}.png").stat().st_size)
    first = save_figure(spec.figure, tmp_path / "a" / spec.name)
    second = save_figure(spec.figure, tmp_path / "b" / spec.name)
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two saves"


def test_committed_tables_match_a_fresh_run(tmp_path, multiverse_result):
    from analysis.figures import write_review_tables
    from analysis.paths import TABLES_DIR

    for path in write_review_tables(review_tables(load_package(DATA_DIR)), tmp_path,
                                    multiverse=multiverse_result):
        committed = TABLES_DIR / path.name
        assert committed.exists(), f"tables/{path.name} is missing: run `make reproduce`"
        assert path.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8"), (
            f"tables/{path.name} is stale: run `make reproduce` and commit tables/")


def test_a_long_quoted_text_is_cut_at_a_word_and_says_where_the_rest_is():
    from analysis.figures import _clip

    text = "word " * 500
    cut = _clip(text, 600)
    assert len(cut) <= 600 and cut.endswith("(in full in the data package)")
    assert cut.split(" \u2026")[0].endswith("word")
    assert _clip("short", 600) == "short"
    assert len(_clip("x" * 5000, 2000)) == 2000  # no space: cut inside the word
