"""Figures of certainty: each is a pure function of its table, draws every row it is
given, labels what it draws, and returns the table of exactly what is plotted."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from analysis.certainty_plots import (  # noqa: E402
    ROB_COLOURS,
    ROB_GLYPHS,
    effect_direction_plot,
    summary_bar_plot,
    summary_of_findings_figure,
    traffic_light_plot,
)
from analysis.grade import sof_footnotes  # noqa: E402
from analysis.plots import save_figure  # noqa: E402
from analysis.risk_of_bias import summary_table, traffic_light_table, trial_sizes  # noqa: E402


def _build(tables):
    from analysis.figures import (
        effect_direction_figure,
        risk_of_bias_figures,
        summary_of_findings_figure as sof_spec,
    )
    from analysis.grade import summary_of_findings_for

    specs = [*risk_of_bias_figures(tables), sof_spec(summary_of_findings_for(tables)),
             effect_direction_figure(tables)]
    return {spec.name: (spec.figure, spec.table) for spec in specs}


@pytest.fixture(scope="module")
def figures(tables):
    return _build(tables)


def test_each_committed_figure_draws_only_itself(tables, monkeypatch):
    """Building one committed figure draws that figure alone (the risk-of-bias figures
    were once both drawn for each of them, and one thrown away)."""
    import analysis.certainty_plots as cp
    from analysis.figures import Results, build_figure

    drawn = []
    for name in ("traffic_light_plot", "summary_bar_plot"):
        real = getattr(cp, name)
        monkeypatch.setattr(cp, name, lambda *a, _real=real, _name=name, **k: (drawn.append(_name), _real(*a, **k))[1])
    results = Results(tables)
    for figure, plot in (("risk_of_bias_traffic_light", "traffic_light_plot"),
                         ("risk_of_bias_summary", "summary_bar_plot")):
        drawn.clear()
        spec = build_figure(figure, results)
        assert spec.name == figure and drawn == [plot], (figure, drawn)
        plt.close(spec.figure)


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def _gids(fig, prefix) -> list[str]:
    return [a.get_gid() for a in fig.findobj() if isinstance(a.get_gid(), str) and a.get_gid().startswith(prefix)]


def test_the_four_figures(figures):
    assert list(figures) == ["risk_of_bias_traffic_light", "risk_of_bias_summary", "summary_of_findings",
                             "effect_direction"]
    for name, (fig, table) in figures.items():
        assert isinstance(table, pd.DataFrame) and len(table), name


def test_rob_key_is_the_rob2_colours_with_distinct_glyphs():
    assert ROB_COLOURS["low"] == "#02C100" and ROB_COLOURS["some_concerns"] == "#E2DF07"
    assert ROB_COLOURS["high"] == "#BF0000" and ROB_COLOURS["no_information"] == "#4EA1F7"
    glyphs = [ROB_GLYPHS[j] for j in ("low", "some_concerns", "high", "no_information")]
    assert len(set(glyphs)) == 4 and all(glyphs)


def test_traffic_light_draws_every_cell_with_its_colour_and_glyph(pkg, figures):
    fig, table = figures["risk_of_bias_traffic_light"]
    tidy = traffic_light_table(pkg.risk_of_bias, pkg.studies, pkg.timepoints)
    assert len(table) == len(tidy) == 66
    marks = [a for a in fig.findobj(Line2D) if isinstance(a.get_gid(), str) and a.get_gid().startswith("rob_")]
    assert len(marks) == 66
    drawn = sorted(m.get_gid() for m in marks)
    expected = sorted(f"rob_{d}_{j}" for d, j in zip(tidy["domain"], tidy["judgement"]))
    assert drawn == expected
    for m in marks:
        judgement = m.get_gid().split("_", 2)[2]
        assert to_hex(m.get_markerfacecolor()) == ROB_COLOURS[judgement].lower()
    texts = _texts(fig)
    assert texts.count("?") >= (tidy["judgement"] == "no_information").sum()
    assert texts.count("\u2212") >= (tidy["judgement"] == "high").sum()
    for label in ("Low", "High", "No information", "Trial", "Overall"):
        assert label in texts
    assert any(t.startswith("Domains:\nD1: Bias arising from the randomisation process.") for t in texts)
    assert (table["glyph"] == table["judgement"].map(ROB_GLYPHS)).all()


def test_traffic_light_marks_a_result_without_a_judgement_as_not_assessed(pkg):
    tidy = traffic_light_table(pkg.risk_of_bias, pkg.studies, pkg.timepoints)
    tidy.loc[0, "judgement"] = None
    fig, table = traffic_light_plot(tidy)
    assert table.loc[0, "colour"] == ROB_COLOURS["not_assessed"]
    assert "Not assessed (RoB 2)" in _texts(fig)
    plt.close(fig)


def test_summary_bars_are_the_shares(pkg, figures):
    fig, table = figures["risk_of_bias_summary"]
    bars = [p for p in fig.findobj() if isinstance(p.get_gid(), str) and p.get_gid().startswith("bar_")]
    nonzero = table[table["share"] > 0]
    assert len(bars) == len(nonzero)
    widths = sorted(round(b.get_width(), 12) for b in bars)
    assert widths == sorted(round(s, 12) for s in nonzero["share"])
    texts = _texts(fig)
    assert any(t.startswith("Weights: each trial's sample size (Gudeman 1997 40 feet") for t in texts)
    assert "Running injuries" in texts and "Other tendinopathy (elbow; separate comparison)" in texts


def test_summary_bars_of_all_trials_together(pkg):
    sizes = trial_sizes(pkg.studies, pkg.arms)
    tab = summary_table(pkg.risk_of_bias, sizes, pkg.timepoints)  # all four trials together
    fig, shown = summary_bar_plot(tab, weights_note="a note on the weights")
    d1 = shown[(shown["domain"] == "D1") & (shown["share"] > 0)]
    assert set(d1["judgement"]) == {"high", "no_information"}
    assert "\u2212 65%" in _texts(fig)  # Nirschl's 199 of 306
    plt.close(fig)


def test_summary_of_findings_figure_shows_every_row_and_footnote(figures, tables):
    from analysis.grade import summary_of_findings_for

    sof = summary_of_findings_for(tables)
    fig, table = figures["summary_of_findings"]
    assert len(table) == len(sof)
    assert list(table["scope"]) == list(sof["scope"])
    texts = " ".join(_texts(fig))
    for _, r in sof.iterrows():
        assert r["certainty"] in texts and r["certainty_symbols"] in texts
    _, notes = sof_footnotes(sof)
    for letter, note in notes:
        assert f"{letter}. {note[:40]}" in texts
    assert "(low for its\nown population)" in texts
    assert table.loc[0, "Risk of bias"] == "\u22121 a"


def test_effect_direction_plot_draws_the_drawn_cells(pkg, effects, figures):
    fig, table = figures["effect_direction"]
    trials = table[table["row"] == "trial"]
    arrows = _gids(fig, "ed_")
    assert len(arrows) == len(trials)
    assert sorted(g[3:] for g in arrows) == sorted(trials["arrow"])
    texts = _texts(fig)
    for label in ("End of treatment", "About one month after", "Time not stated", "Running injuries",
                  "Elbow (separate comparison)", "Gudeman 1997", "favours dexamethasone",
                  "hollow: within-group only (not voted)"):
        assert label in texts
    assert "199 patients, PEDro 7/10" in texts
    # the acetic acid comparison is not drawn, and the note says so
    assert not ((trials["study"] == "Osborne & Allison 2006") & (trials["domain"] == "pain")).any()
    assert any("Not drawn (no comparison with placebo): Osborne & Allison 2006, morning pain"
               in t.replace("\n", " ") for t in texts)
    # within-group cells are hollow: white face
    hollow = [a for a in fig.findobj(Line2D) if a.get_gid() in ("ed_up", "ed_sideways")
              and to_rgb(a.get_markerfacecolor()) == (1.0, 1.0, 1.0)]
    assert len(hollow) == (trials["basis"] == "within-group only").sum()
    tests = table[table["row"] == "sign test"]
    assert set(tests["text"]) <= {"no votes", "1\u2191 0\u2193 too few"}


def test_effect_direction_plot_of_synthetic_cells_with_a_sign_test():
    """Synthetic: seven trials, six favouring dexamethasone and one placebo."""
    cells = pd.DataFrame({
        "scope": "running_injury", "study_id": [f"s{i}" for i in range(7)],
        "study": [f"Synthetic {i}" for i in range(7)], "window": "end_of_treatment", "domain": "pain",
        "arrow": ["up"] * 6 + ["down"], "basis": "between-group", "drawn": True, "in_vote": True,
        "n_outcomes": 1, "outcomes": "pain", "n": [30, 60, 400, 30, 30, 30, 30], "unit": "patient",
        "size": ["small", "medium", "large"] + ["small"] * 4, "risk_of_bias": "low", "pedro": ""})
    from analysis.grade import sign_tests

    tests = sign_tests(cells)
    fig, table = effect_direction_plot(cells, tests)
    assert sorted(_gids(fig, "ed_")) == sorted(["ed_up"] * 6 + ["ed_down"])
    shown = table[table["row"] == "sign test"]["text"].iloc[0]
    assert shown == f"6\u2191 1\u2193 p = {tests['p_value'].iloc[0]:.2g}"
    sizes = sorted({a.get_markersize() for a in fig.findobj(Line2D) if a.get_gid() == "ed_up"})
    assert len(sizes) == 3  # small, medium, large
    plt.close(fig)


def test_figures_save_at_300_dpi_and_read_in_greyscale(figures, tmp_path):
    fig, _ = figures["risk_of_bias_traffic_light"]
    png, svg = save_figure(fig, tmp_path / "traffic_light")
    with Image.open(png) as im:
        assert round(im.info["dpi"][0]) == 300
        grey = np.asarray(im.convert("L"), dtype=float)
    assert grey.std() > 10  # not blank
    assert "<dc:date>" not in svg.read_text(encoding="utf-8")


def test_tables_are_deterministic(tables, figures):
    again = _build(tables)
    for name, (fig, table) in again.items():
        pd.testing.assert_frame_equal(table, figures[name][1])


def test_summary_of_findings_figure_shows_a_row_that_is_not_rated(pkg, effects):
    """Synthetic: Gudeman's numbers removed, so the running-injury rows have no estimate."""
    from analysis.grade import summary_of_findings
    from analysis.timecourse import pooled_by_window

    eff = effects.copy()
    eff.loc[eff["study_id"] == "gudeman1997", ["estimable", "yi", "vi", "ci_lb", "ci_ub"]] = \
        [False, np.nan, np.nan, np.nan, np.nan]
    eff["estimable"] = eff["estimable"].astype(bool)
    sof = summary_of_findings(pooled_by_window(eff), eff, pkg.risk_of_bias, pkg.studies)
    fig, table = summary_of_findings_figure(sof)
    run = table[table["scope"] == "running_injury"]
    assert (run["certainty"] == "not rated").all()
    assert (run["Risk of bias"] == "").all()
    assert run["effect"].str.startswith("no estimate").all()
    assert "not rated" in _texts(fig)
    plt.close(fig)
