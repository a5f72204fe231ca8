"""The live explorers and their static fallbacks (analysis.explorers).

The scenarios are checked against the package's own tested functions (the design effect
of analysis.sensitivity.unit_of_analysis, the pooling engine, the catch-up tables) and
against the formulas written out by hand; the live explorers are driven through their
update functions with ipywidgets installed, as a class would move the sliders."""

from __future__ import annotations

import base64
import math
import sys

import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis import explorers as ex
from analysis.catchup import change_in_effect_table
from analysis.figures import FigureSpec
from analysis.pooling import pool_batch
from analysis.sensitivity import unit_of_analysis

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _row(effects, study_id, measure, window):
    sel = effects[(effects["study_id"] == study_id) & (effects["measure"] == measure)
                  & (effects["window"] == window) & (effects["review_role"] == "primary")]
    assert len(sel) == 1
    return sel.iloc[0]


# --------------------------------------------------------------------------- the switch


@pytest.mark.parametrize("value, static", [("1", True), ("yes", True), ("true", True),
                                           ("", False), ("0", False), ("false", False),
                                           ("No", False), (" off ", False)])
def test_the_environment_variable_decides_static_or_live(monkeypatch, value, static):
    monkeypatch.setenv(ex.STATIC_ENV, value)
    assert ex.static_mode() is static


def test_without_the_variable_and_with_ipywidgets_the_explorers_are_live(monkeypatch):
    monkeypatch.delenv(ex.STATIC_ENV, raising=False)
    assert ex.static_mode() is False


def test_without_ipywidgets_the_explorers_are_static(monkeypatch, tables):
    monkeypatch.delenv(ex.STATIC_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    assert ex.static_mode() is True
    assert isinstance(ex.catchup_explorer(tables), FigureSpec)


def test_the_variable_gives_static_small_multiples(monkeypatch, tables):
    monkeypatch.setenv(ex.STATIC_ENV, "1")
    spec = ex.forest_explorer(tables)
    assert isinstance(spec, FigureSpec) and isinstance(spec.figure, Figure)
    assert spec._repr_png_().startswith(PNG_SIGNATURE)


# --------------------------------------------------------------------------- feet


def test_feet_adjusted_effects_match_unit_of_analysis(tables):
    adjusted = ex.feet_adjusted_effects(tables.effects, tables.studies, icc=0.5)
    for window in ("end_of_treatment", "about_one_month"):
        g = _row(tables.effects, "gudeman1997", "SMD", window)
        ref = unit_of_analysis(g["mean_t"], g["sd_t"], g["n_t"], g["mean_c"], g["sd_c"],
                               g["n_c"], n_units=40, n_patients=[20], icc=(0.5,)).iloc[0]
        a = _row(adjusted, "gudeman1997", "SMD", window)
        assert a["yi"] == pytest.approx(ref["yi"], rel=1e-12)
        assert a["se"] == pytest.approx(ref["se"], rel=1e-12)
        assert a["ci_lb"] == pytest.approx(ref["ci_lb"], rel=1e-12)
        assert a["design_effect"] == pytest.approx(1.5)
        assert a["n_t"] == pytest.approx(20 / 1.5)
        # the MD keeps its estimate; its variance grows by the design effect
        md, amd = (_row(t, "gudeman1997", "MD", window) for t in (tables.effects, adjusted))
        assert amd["yi"] == md["yi"]
        assert amd["vi"] == pytest.approx(1.5 * md["vi"], rel=1e-12)


def test_feet_adjusted_effects_leave_patient_trials_and_icc_zero_alone(tables):
    cols = ["yi", "vi", "se", "ci_lb", "ci_ub", "n_t", "n_c"]
    zero = ex.feet_adjusted_effects(tables.effects, tables.studies, icc=0.0)
    pd.testing.assert_frame_equal(zero[cols], tables.effects[cols], rtol=1e-12)
    one = ex.feet_adjusted_effects(tables.effects, tables.studies, icc=1.0)
    nirschl = tables.effects["study_id"] == "nirschl2003"
    pd.testing.assert_frame_equal(one.loc[nirschl, cols], tables.effects.loc[nirschl, cols])
    assert (one.loc[nirschl, "design_effect"] == 1.0).all()


@pytest.mark.parametrize("kwargs, message", [({"icc": -0.1}, "icc must be"),
                                             ({"icc": 1.5}, "icc must be"),
                                             ({"icc": "half"}, "icc must be"),
                                             ({"icc": 0.2, "feet_per_patient": 0.5},
                                              "feet_per_patient must be")])
def test_feet_adjusted_effects_refuse_bad_assumptions(tables, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ex.feet_adjusted_effects(tables.effects, tables.studies, **kwargs)


# --------------------------------------------------------------------------- forest


def test_the_hypothetical_trial_has_the_chosen_g_and_the_large_sample_variance(tables):
    table, notes = ex.hypothetical_forest_table(tables.effects, window="end_of_treatment",
                                                neeter_smd=0.8)
    neeter = table[table["study"] == "Neeter 2003"].iloc[0]
    assert neeter["estimable"] and neeter["marker"] == "h"
    assert neeter["yi"] == pytest.approx(0.8, abs=1e-12)
    # metafor's vtype LS: 1/n1 + 1/n2 + g^2 / (2N) with Neeter's 14/11
    assert neeter["vi"] == pytest.approx(1 / 14 + 1 / 11 + 0.8**2 / 50, rel=1e-12)
    assert "hypothetical SMD 0.80" in notes[0] and "Not data" in notes[0]
    osborne = table[table["study"] == "Osborne & Allison 2006"].iloc[0]
    assert not osborne["estimable"] and "Not estimable" in osborne["reason"]


@pytest.mark.parametrize("kwargs, message", [
    ({"window": "later", "neeter_smd": 0.0}, "window must be"),
    ({"window": "end_of_treatment", "neeter_smd": 9.0}, "neeter_smd must be"),
    ({"window": "end_of_treatment", "neeter_smd": 0.0, "hypothetical": "gudeman1997"},
     "has public numbers"),
    ({"window": "end_of_treatment", "neeter_smd": 0.0, "hypothetical": "nobody"},
     "has no primary SMD row"),
])
def test_the_hypothetical_table_refuses_what_cannot_be_assumed(tables, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ex.hypothetical_forest_table(tables.effects, **kwargs)


@pytest.mark.parametrize("method, knha", [("REML", False), ("REML", True), ("DL", False),
                                          ("FE", False)])
@pytest.mark.parametrize("window", ["end_of_treatment", "about_one_month"])
def test_forest_scenario_pools_gudeman_with_the_hypothetical_neeter(tables, method, knha,
                                                                    window):
    ma, _ = ex.forest_scenario(tables, neeter_smd=1.2, window=window, method=method, knha=knha)
    g = _row(tables.effects, "gudeman1997", "SMD", window)
    v_neeter = 1 / 14 + 1 / 11 + 1.2**2 / 50
    ref = pool_batch([g["yi"], 1.2], [g["vi"], v_neeter], method=method, knha=knha).summary
    p = ma.pooled.iloc[0]
    for col in ("estimate", "ci_lb", "ci_ub", "tau2"):
        assert p[col] == pytest.approx(ref[col].iloc[0], rel=1e-10, abs=1e-12), col
    assert int(p["k"]) == 2 and int(p["k_total"]) == 3


def test_forest_scenario_with_feet_icc_uses_the_design_effect(tables):
    ma, notes = ex.forest_scenario(tables, neeter_smd=0.0, icc=1.0)
    gudeman = ma.studies[ma.studies["study"] == "Gudeman 1997"].iloc[0]
    base = _row(tables.effects, "gudeman1997", "SMD", "end_of_treatment")
    assert gudeman["vi"] > 1.9 * base["vi"]
    assert gudeman["n_t"] == pytest.approx(base["n_t"])  # the arm column shows the trial's n
    assert any("design effect 2.00" in n for n in notes)


def test_the_forest_figure_and_its_summary(tables):
    fig, summary = ex.forest_scenario_figure(tables, neeter_smd=1.0, knha=True)
    ma, _ = ex.forest_scenario(tables, neeter_smd=1.0, knha=True)
    p = ma.pooled.iloc[0]
    assert isinstance(fig, Figure)
    assert f"{p['estimate']:.2f}" in summary and "\u03c4\u00b2" in summary
    gids = {a.get_gid() for a in fig.findobj()}
    assert {"diamond", "square"} <= gids


def test_forest_small_multiples_draw_every_scenario(tables):
    smds = (-0.5, 0.5, 2.0)
    spec = ex.forest_small_multiples(tables, neeter_smds=smds)
    pooled = spec.table[spec.table["row"] == "pooled"]
    assert len(pooled) == 2 * len(smds)
    for _, r in pooled.iterrows():
        ma, _ = ex.forest_scenario(tables, neeter_smd=r["neeter_smd"],
                                   knha=r["ci"] == "Hartung\u2013Knapp")
        assert r["estimate"] == pytest.approx(ma.pooled["estimate"].iloc[0], rel=1e-12)
        assert r["ci_lb"] == pytest.approx(ma.pooled["ci_lb"].iloc[0], rel=1e-12)
    diamonds = [a for a in spec.figure.findobj() if a.get_gid() == "diamond"]
    assert len(diamonds) == 2 * len(smds)
    hollow = spec.table[spec.table["hypothetical"]]
    assert set(hollow["row"]) == {"Neeter 2003"}
    assert sorted(hollow["estimate"]) == pytest.approx(sorted(list(smds) * 2), abs=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        ex.forest_small_multiples(tables, neeter_smds=())


# --------------------------------------------------------------------------- catch-up


def test_catchup_scenario_at_icc_zero_is_the_review_table(tables):
    sc = ex.catchup_scenario(tables, rho=0.37, icc=0.0)
    ref = change_in_effect_table(tables.effects, rho=[0.37])
    cols = ["study_id", "measure", "change", "se", "ci_lb", "ci_ub"]
    pd.testing.assert_frame_equal(sc["at_rho"][cols].reset_index(drop=True),
                                  ref[cols].reset_index(drop=True), rtol=1e-12)
    assert 0.37 in set(sc["curve"]["rho"])


def test_catchup_scenario_feet_icc_scales_gudemans_variance_by_the_design_effect(tables):
    a = ex.catchup_scenario(tables, rho=0.5, icc=0.0)["at_rho"].set_index(["study_id", "measure"])
    b = ex.catchup_scenario(tables, rho=0.5, icc=1.0)["at_rho"].set_index(["study_id", "measure"])
    # MD: every variance and covariance is over n, so Var(change) doubles at DE = 2
    assert b.loc[("gudeman1997", "MD"), "se"] == pytest.approx(
        math.sqrt(2) * a.loc[("gudeman1997", "MD"), "se"], rel=1e-12)
    assert b.loc[("gudeman1997", "MD"), "change"] == a.loc[("gudeman1997", "MD"), "change"]
    # Nirschl randomised patients: unchanged
    assert b.loc[("nirschl2003", "SMD"), "se"] == a.loc[("nirschl2003", "SMD"), "se"]


@pytest.mark.parametrize("rho", [-0.1, 0.96, float("nan"), "high"])
def test_catchup_scenario_refuses_rho_outside_the_working_range(tables, rho):
    with pytest.raises(ValueError, match="rho must be"):
        ex.catchup_scenario(tables, rho=rho)


def test_the_catchup_figure_marks_the_chosen_rho(tables):
    fig, summary = ex.catchup_scenario_figure(tables, rho=0.8, icc=0.5)
    at = ex.catchup_scenario(tables, rho=0.8, icc=0.5)["at_rho"]
    gids = [a.get_gid() for a in fig.findobj() if a.get_gid()]
    for _, r in at.iterrows():
        assert f"explorer:at_rho:{r['study_id']}:{r['measure']}" in gids
        assert f"{r['change']:.2f}".replace("-", "\u2212") in summary
    assert any(g.startswith("explorer:root:") for g in gids)


def test_catchup_small_multiples_one_row_per_icc(tables):
    spec = ex.catchup_small_multiples(tables, iccs=(0.0, 1.0), rhos=(0.2, 0.9))
    assert set(spec.table["icc"]) == {0.0, 1.0} and set(spec.table["rho"]) == {0.2, 0.9}
    for _, r in spec.table.iterrows():
        sc = ex.catchup_scenario(tables, rho=r["rho"], icc=r["icc"])["at_rho"]
        ref = sc[(sc["study"] == r["study"]) & (sc["measure"] == r["measure"])].iloc[0]
        assert r["ci_lb"] == pytest.approx(ref["ci_lb"], rel=1e-12)
    n_panels = len(ex._change_panels(ex.catchup_scenario(tables)["curve"]))
    assert len(spec.figure.axes) == 2 * n_panels
    with pytest.raises(ValueError, match="at least one"):
        ex.catchup_small_multiples(tables, iccs=())


# --------------------------------------------------------------------------- live


@pytest.fixture()
def live_forest(tables):
    return ex.forest_explorer(tables, static=False)


def test_the_live_forest_explorer_redraws_when_a_slider_moves(tables, live_forest):
    assert isinstance(live_forest, ex.LiveExplorer)
    assert set(live_forest.controls) == {"neeter_smd", "window", "method", "knha", "icc"}
    first = live_forest.png
    assert first.startswith(PNG_SIGNATURE)
    seconds = live_forest.update(neeter_smd=1.5, knha=True, method="DL")
    assert seconds == live_forest.last_redraw_seconds and seconds > 0
    assert live_forest.png != first and live_forest.image.value == live_forest.png
    ma, _ = ex.forest_scenario(tables, neeter_smd=1.5, knha=True, method="DL")
    p = ma.pooled.iloc[0]
    text = f"{p['estimate']:.2f} [{p['ci_lb']:.2f}, {p['ci_ub']:.2f}]".replace("-", "\u2212")
    assert text in live_forest.summary and text in live_forest.status.value


def test_a_control_moved_in_the_browser_redraws_too(live_forest):
    before = live_forest.png
    live_forest.controls["icc"].value = 0.8  # what the front end does
    assert live_forest.png != before
    assert live_forest.values()["icc"] == pytest.approx(0.8)


@pytest.mark.parametrize("values, message", [({"tau": 0.1}, "unknown control"),
                                             ({"method": "XYZ"}, "method must be one of"),
                                             ({"neeter_smd": 7.0}, "neeter_smd must be"),
                                             ({"window": "later"}, "window must be one of")])
def test_update_refuses_unknown_controls_and_values(live_forest, values, message):
    before = live_forest.values()
    with pytest.raises(ValueError, match=message):
        live_forest.update(**values)
    assert live_forest.values() == before


def test_the_live_explorer_shows_a_png_where_widgets_cannot_render(live_forest):
    bundle = live_forest._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == live_forest.png
    assert bundle["text/plain"].startswith("What if Neeter 2003 had found")


def test_the_live_catchup_explorer(tables):
    live = ex.catchup_explorer(tables, static=False)
    assert set(live.controls) == {"rho", "icc"}
    live.update(rho=0.9, icc=1.0)
    at = ex.catchup_scenario(tables, rho=0.9, icc=1.0)["at_rho"]
    for _, r in at.iterrows():
        text = f"\u0394 {r['change']:.2f} [{r['ci_lb']:.2f}, {r['ci_ub']:.2f}]"
        assert text.replace("-", "\u2212") in live.summary
    with pytest.raises(ValueError, match="rho must be a number"):
        live.update(rho=1.2)


def test_make_reproduce_runs_the_notebooks_with_static_explorers():
    from analysis.reproduce import kernel_environment

    env = kernel_environment()
    assert env[ex.STATIC_ENV].strip().lower() not in ex._OFF


@pytest.mark.xdist_group("notebooks")
def test_a_live_explorer_in_a_kernel_shows_the_widget_and_its_image(tmp_path):
    """Executed by nbclient without the static switch (as in `make lab`, but headless):
    the cell's output holds the widget view and the current figure as a PNG, and an
    update from the kernel redraws."""
    import nbformat
    from nbclient import NotebookClient

    from analysis.reproduce import kernel_environment

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "from analysis.data import load_package\n"
            "from analysis.paths import data_dir\n"
            "from analysis.trial_effects import review_tables\n"
            "from analysis.explorers import forest_explorer, static_mode\n"
            "tables = review_tables(load_package(data_dir()))\n"
            "static_mode()"),
        nbformat.v4.new_code_cell("explorer = forest_explorer(tables)\nexplorer"),
        nbformat.v4.new_code_cell("explorer.update(neeter_smd=2.0) < 60"),
    ])
    env = kernel_environment()
    env.pop(ex.STATIC_ENV)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == "False"
    data = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"]).startswith(PNG_SIGNATURE)
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "True"
