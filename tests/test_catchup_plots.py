"""Figures of analysis.catchup_plots: pure functions of the catch-up tables.

Each test finds the drawn artists by their gids and checks that they show exactly the
numbers of the returned table, which in turn are the numbers of the input tables.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from analysis import catchup as cu
from analysis import catchup_plots as cp
from analysis.plots import save_figure

UNITS = {"maryland_foot_score": "points", "pain_vas": "mm"}


def _x_extent(patch) -> tuple[float, float]:
    """Horizontal extent of an axvspan (a Rectangle or, in older matplotlib, a Polygon)."""
    if hasattr(patch, "get_width"):
        x0 = float(patch.get_x())
        return x0, x0 + float(patch.get_width())
    xs = np.asarray(patch.get_xy())[:, 0]
    return float(xs.min()), float(xs.max())


def _artists(fig: Figure, gid: str):
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


@pytest.fixture(scope="module")
def ct(effects, pkg):
    """The catch-up result tables of the real data (the figures' inputs)."""
    return {
        "curve": cu.change_in_effect_table(effects),
        "roots": cu.rho_thresholds(effects),
        "equivalence": cu.equivalence_at_one_month(
            effects, units=UNITS, margins={"pain_vas": (15.0, "journal-club summary, secondary")}),
        "thresholds": cu.thresholds_for_unpublished_trials(effects, pkg.arms, pkg.studies,
                                                           step=0.01),
    }


def _all_figures(t):
    th = t["thresholds"]
    return [cp.catchup_inference(t["curve"], t["roots"], units=UNITS),
            cp.equivalence_one_month(t["equivalence"]),
            cp.threshold_missing_trials(th.curve, th.crossings, th.baseline)]


def test_figures_are_plain_figures_and_leave_the_backend_alone(ct):
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    open_before = plt.get_fignums()
    for fig, table in _all_figures(ct):
        assert isinstance(fig, Figure)
        assert isinstance(table, pd.DataFrame) and len(table)
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == open_before  # not registered with pyplot


def test_figures_save_as_300_dpi_png_and_svg(ct, tmp_path):
    for name, (fig, _) in zip(("inference", "equivalence", "thresholds"), _all_figures(ct)):
        png, svg = save_figure(fig, tmp_path / name)
        assert svg.stat().st_size > 0
        with Image.open(png) as im:
            assert round(im.info["dpi"][0]) == 300


# --------------------------------------------------------------------- catch-up inference


def test_inference_draws_exactly_the_curve_table(ct):
    curve, roots = ct["curve"], ct["roots"]
    fig, table = cp.catchup_inference(curve, roots, units=UNITS)
    # one MD panel per trial and one SMD panel
    assert len(fig.axes) == 3
    assert [ax.get_title(loc="left").split("\n")[0] for ax in fig.axes] == [
        "A. Gudeman 1997: MD", "B. Nirschl 2003: MD", "C. All trials: SMD"]
    assert "Change in MD (points)" in fig.axes[0].get_ylabel()
    drawn = table[table["element"] == "change"]
    assert len(drawn) == len(curve)
    for (sid, measure), grp in curve.groupby(["study_id", "measure"]):
        rows = drawn[(drawn["study"] == grp["study"].iloc[0]) & (drawn["measure"] == measure)]
        np.testing.assert_allclose(rows[["rho", "change", "ci_lb", "ci_ub"]].to_numpy(float),
                                   grp[["rho", "change", "ci_lb", "ci_ub"]].to_numpy(float))
        (line,) = _artists(fig, f"catchup:change:{sid}:{measure}")
        np.testing.assert_allclose(line.get_xdata(), grp["rho"])
        np.testing.assert_allclose(line.get_ydata(), grp["change"])
        for bound in ("ci_lb", "ci_ub"):
            (line,) = _artists(fig, f"catchup:{bound}:{sid}:{measure}")
            np.testing.assert_allclose(line.get_ydata(), grp[bound])


def test_inference_marks_the_roots_and_shades_where_the_ci_excludes_zero(ct):
    roots = ct["roots"]
    fig, table = cp.catchup_inference(ct["curve"], roots, units=UNITS)
    for _, r in roots.iterrows():
        markers = _artists(fig, f"catchup:root:{r['study_id']}:{r['measure']}")
        spans = _artists(fig, f"catchup:excludes_zero:{r['study_id']}:{r['measure']}")
        if np.isnan(r["rho_root"]):
            assert markers == [] and spans == []
            continue
        (m,) = markers
        assert m.get_xdata()[0] == r["rho_root"]
        assert m.get_ydata()[0] == 0
        (span,) = spans
        lo, hi = _x_extent(span)
        assert lo == pytest.approx(r["rho_root"]) and hi == pytest.approx(0.95)
        root_rows = table[(table["element"] == "root") & (table["study"] == r["study"])
                          & (table["measure"] == r["measure"])]
        assert root_rows["rho"].tolist() == list(r["rho_roots"])
        assert (root_rows["marker_y"] == 0).all()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    nir = roots[(roots["study_id"] == "nirschl2003") & (roots["measure"] == "MD")].iloc[0]
    assert f"\u03c1 = {nir['rho_root']:.3f}" in texts
    legend = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert "CI excludes 0 for no \u03c1 in [0, 0.95]" in legend
    assert "CI excludes 0 for \u03c1 above " + f"{nir['rho_root']:.3f}" in legend


def test_inference_marks_both_roots_of_a_two_root_case(ct):
    """Synthetic: a roots table with two roots (the CI excludes 0 between them)."""
    roots = ct["roots"].copy()
    i = roots.index[(roots["study_id"] == "gudeman1997") & (roots["measure"] == "SMD")][0]
    roots.at[i, "rho_roots"] = (0.2, 0.6)
    roots.at[i, "rho_excludes_zero"] = ((0.2, 0.6),)
    roots.at[i, "rho_statement"] = "for rho between 0.200 and 0.600"
    fig, table = cp.catchup_inference(ct["curve"], roots)
    markers = _artists(fig, "catchup:root:gudeman1997:SMD")
    assert sorted(m.get_xdata()[0] for m in markers) == [0.2, 0.6]
    (span,) = _artists(fig, "catchup:excludes_zero:gudeman1997:SMD")
    assert _x_extent(span) == pytest.approx((0.2, 0.6))
    legend = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert "Gudeman 1997: CI excludes 0 for \u03c1 between 0.200 and 0.600" in legend


def test_inference_with_a_synthetic_second_trial_adds_a_panel(ct):
    curve = ct["curve"]
    extra = curve[curve["study_id"] == "gudeman1997"].assign(
        study_id="synthetic2024", study="Synthetic 2024")  # synthetic copy
    roots = ct["roots"]
    extra_roots = roots[roots["study_id"] == "gudeman1997"].assign(study_id="synthetic2024",
                                                                   study="Synthetic 2024")
    fig, table = cp.catchup_inference(pd.concat([curve, extra]), pd.concat([roots, extra_roots]))
    assert len(fig.axes) == 4
    assert set(table["study"]) == {"Gudeman 1997", "Nirschl 2003", "Synthetic 2024"}


# --------------------------------------------------------------------- equivalence


def test_equivalence_draws_the_cis_and_the_margin_or_smallest_margin(ct):
    eq = ct["equivalence"]
    fig, table = cp.equivalence_one_month(eq)
    assert len(fig.axes) == len(eq)
    for _, r in eq.iterrows():
        (ci90,) = _artists(fig, f"catchup:ci90:{r['study']}")
        np.testing.assert_allclose(ci90.get_xdata(), [r["ci_lb"], r["ci_ub"]])
        (ci95,) = _artists(fig, f"catchup:ci95:{r['study']}")
        np.testing.assert_allclose(ci95.get_xdata(), [r["ci95_lb"], r["ci95_ub"]])
        (est,) = _artists(fig, f"catchup:estimate:{r['study']}")
        assert est.get_xdata()[0] == r["estimate"]
        row = table.set_index("study").loc[r["study"]]
        if pd.notna(r["margin"]):
            (band,) = _artists(fig, f"catchup:margin:{r['study']}")
            assert _x_extent(band) == (-r["margin"], r["margin"])
            assert row["shown"] == "margin band"
        else:
            lines = _artists(fig, f"catchup:smallest_margin:{r['study']}")
            assert sorted(line.get_xdata()[0] for line in lines) == pytest.approx(
                [-r["smallest_margin"], r["smallest_margin"]])
            assert row["shown"] == "smallest margin"
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("margin \u00b115.0 mm (journal-club summary, secondary): equivalent, "
               "TOST p = 0.011" in t for t in texts)
    assert any("wider than \u00b15.55 points" in t for t in texts)


# --------------------------------------------------------------------- thresholds


def test_threshold_figure_draws_the_curves_and_marks_every_threshold(ct):
    th = ct["thresholds"]
    fig, table = cp.threshold_missing_trials(th.curve, th.crossings, th.baseline)
    assert len(fig.axes) == 4  # two trials × two time points
    curves = table[table["element"] == "curve"]
    assert len(curves) == len(th.curve)
    for (sid, window, method, knha), grp in th.curve.groupby(
            ["study_id", "window", "method", "knha"]):
        tag = f"{sid}:{window}:{method}:{'knha' if knha else 'wald'}"
        for bound in ("ci_lb", "ci_ub"):
            (line,) = _artists(fig, f"catchup:{bound}:{tag}")
            np.testing.assert_allclose(line.get_xdata(), grp["g"])
            np.testing.assert_allclose(line.get_ydata(), grp[bound])
        crossings = th.crossings[(th.crossings["study_id"] == sid)
                                 & (th.crossings["window"] == window)
                                 & (th.crossings["method"] == method)
                                 & (th.crossings["knha"] == knha)]
        for curve in ("ci_lb", "ci_ub"):
            expected = sorted(crossings.loc[crossings["curve"] == curve, "g"])
            drawn = sorted(a.get_xdata()[0]
                           for a in _artists(fig, f"catchup:threshold:{tag}:{curve}"))
            assert drawn == pytest.approx(expected)
    # the pooled estimate's sign change is the same under both CI methods: drawn once
    for (sid, window), grp in th.crossings.groupby(["study_id", "window"]):
        est = grp[grp["curve"] == "estimate"]
        assert len(est) == 2 and est["g"].nunique() == 1
        markers = [a for a in fig.axes for a in a.get_children()
                   if str(a.get_gid()).startswith(f"catchup:threshold:{sid}:{window}:")
                   and str(a.get_gid()).endswith(":estimate")]
        assert len(markers) == 1
    thresholds = table[table["element"] == "threshold"]
    assert len(thresholds) == len(th.crossings) - th.crossings.groupby(
        ["study_id", "window"]).size().size
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "0.21 to 0.29" in labels  # the narrow Hartung-Knapp window, one label
    assert any(t.startswith("estimable trial alone (k = 1): 0.74") for t in labels)
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert any("n 14/14, assumed split" in y for y in ylabels)
    assert any("n 14/11\n" in y for y in ylabels)


def test_threshold_figure_refuses_more_than_two_models(effects, pkg):
    th = cu.thresholds_for_unpublished_trials(
        effects, pkg.arms, pkg.studies, step=0.05,
        models=(("FE", False), ("REML", False), ("REML", True)))
    with pytest.raises(ValueError, match="curve holds 3 models"):
        cp.threshold_missing_trials(th.curve, th.crossings)


@pytest.mark.parametrize("func, args, name", [
    (cp.catchup_inference, lambda t: (t["curve"].drop(columns="ci_lb"), t["roots"]), "curve"),
    (cp.catchup_inference, lambda t: (t["curve"], t["roots"].iloc[0:0]), "roots"),
    (cp.equivalence_one_month, lambda t: (t["equivalence"].drop(columns="margin"),),
     "equivalence"),
    (cp.threshold_missing_trials, lambda t: (t["thresholds"].curve.drop(columns="g"),
                                             t["thresholds"].crossings), "curve"),
])
def test_figures_name_the_bad_table(ct, func, args, name):
    with pytest.raises(ValueError, match=rf"^{name} (lacks the column|is empty)"):
        func(*args(ct))
