"""The specification curve (analysis.multiverse_plots): a pure function of the
specifications table.

The drawn artists are found by their gids and checked against the returned table, which
in turn holds exactly the rows of the specifications table it was given. Small synthetic
tables (labelled as such) check the matrix cell by cell, the binning, and a conclusion
the review's data do not produce (favours placebo).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image

from analysis import conventions
from analysis import multiverse as mv
from analysis import multiverse_plots as mp
from analysis.plots import save_figure

FAV, NONE, HARM = (conventions.FAVOURS_TREATMENT, conventions.NO_CLEAR_DIFFERENCE,
                   conventions.FAVOURS_CONTROL)


@pytest.fixture(scope="module")
def result(pkg):
    return mv.multiverse(pkg)


@pytest.fixture(scope="module")
def drawn(result):
    specs, levels = result.specifications, result.levels()
    fig, table = mp.specification_curve(specs, levels)
    return specs, levels, fig, table


def _artists(fig: Figure, gid: str):
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


def _synthetic(rows):
    """A synthetic specifications table (not the review's numbers): two factors."""
    frame = pd.DataFrame(rows, columns=["spec_id", "window", "scale", "estimate", "ci_lb",
                                        "ci_ub", "conclusion", "is_default", "measure",
                                        "ci_method"])
    levels = pd.DataFrame({
        "stage": ["how_to_analyse"] * 4, "stage_label": ["How to analyse"] * 4,
        "factor": ["measure", "measure", "ci_method", "ci_method"],
        "factor_label": ["Effect measure", "Effect measure", "CI method", "CI method"],
        "level": ["SMD", "MD", "Wald", "Hartung-Knapp"],
        "level_label": ["SMD", "MD", "Wald", "Hartung-Knapp"], "is_default": [True, False] * 2})
    return frame, levels


SYNTHETIC = [
    (1, "end_of_treatment", "SMD", 0.50, 0.20, 0.80, FAV, True, "SMD", "Wald"),
    (2, "end_of_treatment", "SMD", 0.50, -1.0, 2.00, NONE, False, "SMD", "Hartung-Knapp"),
    (3, "end_of_treatment", "SMD", -0.60, -0.90, -0.30, HARM, False, "SMD", None),
    (4, "end_of_treatment", "MD, Pain (mm)", -4.0, -9.0, 1.0, NONE, False, "MD", None),
    (5, "about_one_month", "SMD", 0.10, -0.30, 0.50, NONE, True, "SMD", "Wald"),
]


def test_the_figure_is_a_plain_figure_and_leaves_the_backend_alone(result):
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    fig, table = mp.specification_curve(result.specifications, result.levels())
    assert isinstance(fig, Figure) and matplotlib.get_backend() == backend
    assert plt.get_fignums() == before


def test_the_inputs_are_not_changed(result):
    specs, levels = result.specifications, result.levels()
    s0, l0 = specs.copy(), levels.copy()
    mp.specification_curve(specs, levels)
    pd.testing.assert_frame_equal(specs, s0)
    pd.testing.assert_frame_equal(levels, l0)


def test_the_table_holds_every_specification_once_sorted_within_its_panel(drawn):
    specs, levels, fig, table = drawn
    assert list(table.columns) == mp.PLOTTED_COLUMNS + ["bin"] + list(
        dict.fromkeys(levels["factor"]))
    assert sorted(table["spec_id"]) == sorted(specs["spec_id"])
    merged = table.merge(specs, on="spec_id", suffixes=("", "_spec"))
    for col in ("estimate", "ci_lb", "ci_ub"):
        np.testing.assert_array_equal(merged[col], merged[f"{col}_spec"])
    assert (merged["conclusion"] == merged["conclusion_spec"]).all()
    assert (table["colour"] == table["conclusion"].map(mp.CONCLUSION_COLOURS)).all()
    for panel, rows in table.groupby("panel", sort=False):
        assert rows["x"].tolist() == list(range(len(rows)))
        # sorted as the CSV prints the estimates (10 significant digits)
        printed = rows["estimate"].map(lambda x: float(f"{x:.10g}")).to_numpy()
        assert (np.diff(printed) >= 0).all()
        assert rows["scale"].nunique() == 1 and rows["window"].nunique() == 1
    assert list(dict.fromkeys(table["panel"])) == [
        "end_of_treatment | SMD", "end_of_treatment | MD, Maryland Foot Score (points)",
        "about_one_month | SMD", "about_one_month | MD, Maryland Foot Score (points)"]


def test_the_drawn_intervals_and_estimates_are_those_of_the_table(drawn):
    _, _, fig, table = drawn
    collections = _artists(fig, "specification_ci")
    estimates = _artists(fig, "specification_estimate")
    assert len(collections) == len(estimates) == table["panel"].nunique()
    for (panel, rows), ci, est in zip(table.groupby("panel", sort=False), collections, estimates):
        segs = sorted((float(s[0, 0]), float(s[0, 1]), float(s[1, 1])) for s in ci.get_segments())
        want = sorted(zip(rows["x"], rows["ci_lb"], rows["ci_ub"]))
        np.testing.assert_allclose(segs, want)
        colours = {(float(s[0, 0])): tuple(c) for s, c in zip(ci.get_segments(), ci.get_colors())}
        for x, colour in zip(rows["x"], rows["colour"]):
            assert colours[float(x)] == to_rgba(colour)
        np.testing.assert_array_equal(est.get_xdata(), rows["x"])
        np.testing.assert_array_equal(est.get_ydata(), rows["estimate"])


def test_the_default_analysis_is_marked_once_per_window(drawn, result):
    _, _, fig, table = drawn
    markers = _artists(fig, "default_marker")
    default = table[table["is_default"]]
    assert len(markers) == len(default) == len(result.default()) == 2
    for m, (_, r) in zip(markers, default.iterrows()):
        assert (m.get_xdata()[0], m.get_ydata()[0]) == (r["x"], r["estimate"])
    lines = _artists(fig, "default_line")
    assert len(lines) == 4  # through the curve and through the matrix


def test_the_tally_bars_count_the_conclusions_of_each_panel(drawn):
    _, _, fig, table = drawn
    bars = _artists(fig, "conclusion_tally")
    widths = [round(b.get_width(), 12) for b in bars]
    want = []
    for _, rows in table.groupby("panel", sort=False):
        counts = rows["conclusion"].value_counts()
        want += [round(counts[c] / len(rows), 12) for c in mp.CONCLUSION_COLOURS if c in counts]
    assert widths == want


def test_the_matrix_cells_are_the_choices_synthetic():
    specs, levels = _synthetic(SYNTHETIC)
    fig, table = mp.specification_curve(specs, levels)
    eot = table[table["panel"] == "end_of_treatment | SMD"]
    assert eot["spec_id"].tolist() == [3, 1, 2]  # sorted by estimate; tie: conclusion order
    images = {a.get_gid(): a for a in fig.axes[2].get_images()}
    white, grey = to_rgba("white"), to_rgba(mp.NOT_APPLICABLE_COLOUR)
    ci = images["choice_matrix:ci_method"].get_array()
    assert ci.shape == (2, 3, 4)
    np.testing.assert_allclose(ci[:, 0], [grey, grey])  # spec 3: CI method does not apply
    np.testing.assert_allclose(ci[0, 1], to_rgba(mp.CONCLUSION_COLOURS[FAV]))
    np.testing.assert_allclose(ci[1, 1], white)
    np.testing.assert_allclose(ci[1, 2], to_rgba(mp.CONCLUSION_COLOURS[NONE]))
    measure = images["choice_matrix:measure"].get_array()
    np.testing.assert_allclose(measure[0, 0], to_rgba(mp.CONCLUSION_COLOURS[HARM]))
    assert (table["conclusion"] == HARM).sum() == 1


def test_many_specifications_are_binned_with_the_share_as_shade_synthetic():
    """Synthetic: 400 specifications, the first half Wald, the second Hartung-Knapp."""
    n = 400
    rows = [(i + 1, "end_of_treatment", "SMD", i / n, i / n + 0.1, i / n + 0.2, FAV,
             i == 0, "SMD", "Wald" if i < n / 2 else "Hartung-Knapp") for i in range(n)]
    specs, levels = _synthetic(rows)
    fig, table = mp.specification_curve(specs, levels, columns_per_inch=10)
    image = [a for a in fig.axes[2].get_images() if a.get_gid() == "choice_matrix:ci_method"][0]
    cells = image.get_array()
    bins = table["bin"].nunique()
    assert cells.shape[1] == bins < n
    blue = to_rgba(mp.CONCLUSION_COLOURS[FAV])
    np.testing.assert_allclose(cells[0, 0], blue)  # a bin all Wald
    np.testing.assert_allclose(cells[1, 0], to_rgba("white"))
    np.testing.assert_allclose(cells[1, -1], blue)
    # a mixed bin: shade = share ** 0.5 of the colour over white
    table = table.reset_index(drop=True)
    mixed = table.groupby("bin")["ci_method"].nunique()
    for b in mixed[mixed > 1].index:
        share = (table.loc[table["bin"] == b, "ci_method"] == "Wald").mean()
        want = 1 - np.sqrt(share) * (1 - np.array(blue[:3]))
        np.testing.assert_allclose(cells[0, b, :3], want)


def test_conclusion_colours_stay_apart_in_greyscale():
    lum = [0.299 * r + 0.587 * g + 0.114 * b
           for r, g, b, _ in (to_rgba(c) for c in mp.CONCLUSION_COLOURS.values())]
    gaps = np.abs(np.subtract.outer(lum, lum))[np.triu_indices(3, 1)]
    assert gaps.min() > 0.15
    assert to_rgba(mp.NOT_APPLICABLE_COLOUR)[0] > max(lum)


@pytest.mark.parametrize("edit, message", [
    (lambda s, lv: (s.drop(columns="ci_lb"), lv), "specifications lacks column"),
    (lambda s, lv: (s.drop(columns="measure"), lv), "a column per factor"),
    (lambda s, lv: (s, lv.drop(columns="level_label")), "levels lacks column"),
    (lambda s, lv: (s.assign(conclusion="maybe"), lv), "unknown conclusion"),
    (lambda s, lv: (s.assign(window="later"), lv), "no specification with an estimate"),
])
def test_bad_tables_are_refused_with_a_message(edit, message):
    specs, levels = _synthetic(SYNTHETIC)
    specs, levels = edit(specs, levels)
    with pytest.raises(ValueError, match=message):
        mp.specification_curve(specs, levels)


def test_the_saved_figure_is_300_dpi_and_deterministic(drawn, tmp_path):
    _, _, fig, _ = drawn
    first = save_figure(fig, tmp_path / "a" / "specification_curve")
    second = save_figure(fig, tmp_path / "b" / "specification_curve")
    png = Image.open(first[0])
    assert tuple(round(d) for d in png.info["dpi"]) == (300, 300)
    assert png.size[0] > 3000
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()


def test_the_committed_figure_spec_names_the_figure(result):
    from analysis.figures import specification_curve_figure

    spec = specification_curve_figure(result)
    assert spec.name == "specification_curve"
    assert len(spec.table) == len(result.specifications)
    assert spec.notes == result.sentences()


def test_estimates_equal_as_printed_are_ranked_by_the_tie_breakers_not_by_rounding_noise():
    """Several estimators give the same estimate when tau2 = 0, equal to the last bits or
    not: the curve ranks by the 10 significant digits the CSV prints, then conclusion,
    CI width and specification (synthetic numbers)."""
    import pandas as pd

    from analysis.multiverse_plots import _panels

    base = 0.4102712893
    specs = pd.DataFrame({
        "window": "end_of_treatment", "scale": "SMD",
        "spec_id": [1, 2, 3, 4],
        "estimate": [base + 4e-17, base, base - 5e-17, 0.2],
        "ci_lb": [0.15, 0.15 + 1e-17, 0.15, 0.1],
        "ci_ub": [0.67, 0.67, 0.67 - 1e-17, 0.3],
        "conclusion": ["favours dexamethasone"] * 4})
    (_, _, rows), = _panels(specs, ["end_of_treatment"])
    assert list(rows["spec_id"]) == [4, 1, 2, 3]
    reversed_noise = specs.assign(estimate=[base - 5e-17, base + 4e-17, base, 0.2])
    (_, _, rows), = _panels(reversed_noise, ["end_of_treatment"])
    assert list(rows["spec_id"]) == [4, 1, 2, 3]


def test_intervals_as_wide_as_printed_are_drawn_in_the_curves_order():
    """Narrow intervals are drawn over wide ones; widths that agree to the 10 significant
    digits the CSV prints (differing in the last bits) keep the curve's order, so
    rounding noise cannot change the drawing (synthetic numbers)."""
    rows = [(i, "end_of_treatment", "SMD", 0.3 + 0.01 * i, 0.1 + 0.01 * i + noise,
             0.5 + 0.01 * i, FAV, i == 1, "SMD", "Wald")
            for i, noise in enumerate([3e-17, -2e-17, 5e-17, 0.0], start=1)]
    rows.append((5, "end_of_treatment", "SMD", 0.2, -0.5, 0.9, NONE, False, "SMD", "Wald"))
    specs, levels = _synthetic(rows)
    fig, table = mp.specification_curve(specs, levels)
    (ci,) = [c for c in _artists(fig, "specification_ci") if len(c.get_segments()) == 5]
    drawn_x = [float(s[0, 0]) for s in ci.get_segments()]
    x_of = dict(zip(table["spec_id"], table["x"]))
    assert drawn_x == [x_of[5], x_of[1], x_of[2], x_of[3], x_of[4]]
