"""Tests of the RevMan-style forest plot (analysis.forest).

All numbers here are synthetic: they mimic the shape of the real case (one estimable
running-injury trial, two not estimable, one elbow trial with a footnote marker) but
are not the project's data.
"""

from __future__ import annotations

import io
import itertools
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from analysis.forest import (  # noqa: E402
    FOREST_ROW_COLUMNS,
    FOREST_SUMMARY_COLUMNS,
    favours_labels,
    forest_plot,
    format_heterogeneity,
    format_overall_effect,
    format_p_value,
    format_subgroup_test,
)

NAN = float("nan")
NOTE = "Not estimable — no numbers in the public record"
MINUS = "\u2212"


# ------------------------------------------------------------------ synthetic inputs

def running_rows() -> pd.DataFrame:
    def trial(subgroup, study, arms, est, lb, ub, weight, estimable, note=None, marker=None):
        mt, st, nt, mc, sc, nc = arms
        return dict(subgroup=subgroup, study=study, mean_t=mt, sd_t=st, n_t=nt,
                    mean_c=mc, sd_c=sc, n_c=nc, estimate=est, ci_lb=lb, ci_ub=ub,
                    weight=weight, estimable=estimable, note=note, marker=marker)

    run, elbow = "Running injuries", "Other tendinopathy (elbow)"
    return pd.DataFrame([
        trial(run, "Gudeman 1997", (6.2, 2.1, 20, 4.9, 2.3, 20), 0.58, -0.05, 1.22, 100.0, True),
        trial(run, "Neeter 2003", (NAN, NAN, 12, NAN, NAN, 13), NAN, NAN, NAN, NAN, False, NOTE),
        trial(run, "Osborne & Allison 2006", (NAN,) * 6, NAN, NAN, NAN, NAN, False, NOTE),
        trial(elbow, "Nirschl 2003", (3.1, 2.8, 116, 4.3, 2.8, 83), 0.41, 0.12, 0.70, 100.0,
              True, marker="a"),
    ])


def summary(subgroup, label, est, lb, ub, *, k=1, pi=(NAN, NAN), stat_name="Z", stat=1.8,
            stat_df=NAN, pval=0.07, tau2=0.0, q=0.0, q_df=0, q_pval=NAN, i2=NAN,
            n_t=NAN, n_c=NAN, method="REML τ², Wald-type CI") -> dict:
    return dict(subgroup=subgroup, label=label, estimate=est, ci_lb=lb, ci_ub=ub,
                pi_lb=pi[0], pi_ub=pi[1], weight=100.0, n_t=n_t, n_c=n_c, k=k, tau2=tau2,
                q=q, q_df=q_df, q_pval=q_pval, i2=i2, stat_name=stat_name, stat=stat,
                stat_df=stat_df, pval=pval, method=method)


def running_summaries() -> pd.DataFrame:
    return pd.DataFrame([
        summary("Running injuries", "Subtotal (95% CI)", 0.58, -0.05, 1.22, n_t=20, n_c=20),
        summary("Other tendinopathy (elbow)", "Subtotal (95% CI)", 0.41, 0.12, 0.70,
                stat=2.77, pval=0.0056, n_t=116, n_c=83),
    ])


SUBGROUP_TEST = dict(q=0.22, df=1, pval=0.64, i2=0.0)


def five_rows(estimates=(0.2, 0.9, -0.3, 0.5, 2.6), ses=(0.3, 0.25, 0.4, 0.2, 0.9)):
    w = 1 / np.asarray(ses) ** 2
    est, se = np.asarray(estimates), np.asarray(ses)
    return pd.DataFrame(dict(
        subgroup=None, study=[f"Trial {c} 20{10 + i}" for i, c in enumerate("ABCDE")],
        estimate=est, ci_lb=est - 1.96 * se, ci_ub=est + 1.96 * se,
        weight=100 * w / w.sum(), estimable=True))


def five_summary(pi=(-0.45, 1.35)) -> pd.DataFrame:
    return pd.DataFrame([summary(None, "Total (95% CI)", 0.45, 0.08, 0.82, k=5, pi=pi,
                                 stat_name="t", stat=3.38, stat_df=4, pval=0.0278,
                                 tau2=0.0934, q=8.41, q_df=4, q_pval=0.0776, i2=52.4,
                                 method="REML τ², Hartung–Knapp CI")])


# ------------------------------------------------------------------ inspection helpers

def texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def strings(fig) -> list[str]:
    return [t.get_text() for t in texts(fig)]


def by_gid(fig, gid) -> list:
    return [a for a in fig.findobj(lambda a: a.get_gid() == gid)]


def forest_axes(fig):
    (ax,) = [a for a in fig.axes if a.get_label() == "forest"]
    return ax


def flat(s: str) -> str:
    return " ".join(s.split())


def assert_no_overlap(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
    fig_box = fig.bbox
    for text, box in boxes:
        assert box.x0 >= fig_box.x0 - 0.5 and box.x1 <= fig_box.x1 + 0.5, f"clipped: {text!r}"
        assert box.y0 >= fig_box.y0 - 0.5 and box.y1 <= fig_box.y1 + 0.5, f"clipped: {text!r}"
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        overlap = a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1
        assert not overlap, f"texts overlap: {ta!r} {tuple(a.extents)} and {tb!r} {tuple(b.extents)}"


# ------------------------------------------------------------------ footer texts

@pytest.mark.parametrize("p, expected", [
    (0.27, "P = 0.27"), (0.2749, "P = 0.27"), (0.04, "P = 0.04"), (0.0104, "P = 0.01"),
    (0.0056, "P = 0.006"), (0.004, "P = 0.004"), (0.00031, "P = 0.0003"),
    (0.000012, "P = 0.00001"), (0.000009, "P < 0.00001"), (0.0, "P < 0.00001"),
    (0.99999, "P = 1.00"), (0.00996, "P = 0.01"),
])
def test_p_value_is_rounded_as_revman(p, expected):
    assert format_p_value(p) == expected


@pytest.mark.parametrize("p", [-0.1, 1.2, NAN])
def test_p_value_outside_unit_interval_is_rejected(p):
    with pytest.raises(ValueError, match="P value"):
        format_p_value(p)


def test_heterogeneity_line_is_revmans():
    assert (format_heterogeneity(0.0012, 1.234, 1, 0.2663, 18.97, 2)
            == "Heterogeneity: Tau² = 0.00; Chi² = 1.23, df = 1 (P = 0.27); I² = 19%")
    assert (format_heterogeneity(0.0934, 8.41, 4, 0.0776, 52.4, 5)
            == "Heterogeneity: Tau² = 0.09; Chi² = 8.41, df = 4 (P = 0.08); I² = 52%")


def test_heterogeneity_with_one_trial_is_not_applicable():
    assert format_heterogeneity(0, 0, 0, NAN, NAN, 1) == "Heterogeneity: Not applicable"


def test_overall_effect_z_and_t():
    assert format_overall_effect("Z", 2.1, NAN, 0.0357) == "Test for overall effect: Z = 2.10 (P = 0.04)"
    # RevMan shows |Z|: the sign is read from the diamond
    assert format_overall_effect("Z", -2.1, NAN, 0.0357) == "Test for overall effect: Z = 2.10 (P = 0.04)"
    assert (format_overall_effect("t", 3.384, 4, 0.0278)
            == "Test for overall effect: t = 3.38, df = 4 (P = 0.03)")
    with pytest.raises(ValueError, match="stat_df"):
        format_overall_effect("t", 3.384, NAN, 0.0278)
    with pytest.raises(ValueError, match="stat_name"):
        format_overall_effect("chi", 3.384, NAN, 0.0278)


def test_subgroup_differences_line():
    assert (format_subgroup_test(0.5, 1, 0.4795, 0.0)
            == "Test for subgroup differences: Chi² = 0.50, df = 1 (P = 0.48), I² = 0%")


# ------------------------------------------------------------------ favours labels

def test_favours_labels_swap_with_direction():
    assert favours_labels("higher_is_better") == ("Favours placebo", "Favours dexamethasone")
    assert favours_labels("higher_is_worse") == ("Favours dexamethasone", "Favours placebo")
    assert favours_labels("higher_is_worse", "A", "B") == ("Favours A", "Favours B")
    with pytest.raises(ValueError, match="higher_is_better"):
        favours_labels("lower")


def test_favours_labels_sit_left_and_right_of_the_null_line():
    left, right = favours_labels("higher_is_worse")
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None,
                      favours_left=left, favours_right=right)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = forest_axes(fig)
    null_x = ax.transData.transform((0.0, 0.0))[0]
    (tl,) = by_gid(fig, "favours_left")
    (tr,) = by_gid(fig, "favours_right")
    assert tl.get_text() == "Favours dexamethasone" and tr.get_text() == "Favours placebo"
    assert tl.get_window_extent(r).x1 < null_x < tr.get_window_extent(r).x0
    # both under the axis
    assert tl.get_window_extent(r).y1 < ax.get_window_extent(r).y0


# ------------------------------------------------------------------ content of the figure

#: The labels this review passes (forest_plot's own defaults are neutral).
PROJECT_LABELS = dict(effect_label="Std. mean difference\nIV, Random, 95% CI",
                      favours_left="Favours placebo", favours_right="Favours dexamethasone",
                      arm_labels=("Dexamethasone", "Placebo"))


def test_every_study_label_and_header_appears():
    fig = forest_plot(running_rows(), running_summaries(), subgroup_test=SUBGROUP_TEST,
                      **PROJECT_LABELS)
    shown = strings(fig)
    for study in running_rows()["study"]:
        assert any(s.startswith(study) for s in shown), study
    assert "Nirschl 2003ᵃ" in shown                          # marker as a superscript
    for header in ("Study or Subgroup", "Weight", "Dexamethasone", "Placebo",
                   "Std. mean difference", "IV, Random, 95% CI"):
        assert header in shown, header
    assert shown.count("Mean") == 2 and shown.count("SD") == 2 and shown.count("Total") == 2
    assert [t.get_text() for t in by_gid(fig, "subgroup")] == [
        "Running injuries", "Other tendinopathy (elbow)"]
    assert any(t.get_fontweight() == "bold" for t in by_gid(fig, "subgroup"))


def test_defaults_are_neutral_no_drug_or_side_is_assumed():
    fig = forest_plot(running_rows(), running_summaries())
    shown = strings(fig)
    assert "Treatment" in shown and "Control" in shown
    assert not any("examethasone" in t or "lacebo" in t or "Favours" in t for t in shown)
    assert [t.get_text() for t in by_gid(fig, "favours_left") + by_gid(fig, "favours_right")] \
        == ["", ""]
    assert "Estimate" in shown and "95% CI" in shown


def test_drawn_into_a_given_axes_scaled_to_its_area():
    import matplotlib.pyplot as plt

    natural = forest_plot(running_rows(), running_summaries(), **PROJECT_LABELS)
    nat_w, nat_h = natural.get_size_inches()
    host = plt.figure(figsize=(12, 9))
    try:
        box_ax = host.add_axes((0.1, 0.5, 0.8, 0.45))
        fig = forest_plot(running_rows(), running_summaries(), ax=box_ax, **PROJECT_LABELS)
        assert fig is host
        assert not box_ax.axison
        area = box_ax.get_position()
        scale = min(area.width * 12 / nat_w, area.height * 9 / nat_h)
        table = [a for a in host.axes if a.get_label() == "table"][0]
        pos = table.get_position()
        # the whole plot sits inside the area, scaled uniformly
        assert pos.x0 >= area.x0 - 1e-9 and pos.x1 <= area.x1 + 1e-9
        assert pos.y0 >= area.y0 - 1e-9 and pos.y1 <= area.y1 + 1e-9
        assert pos.width * 12 == pytest.approx(scale * nat_w)
        assert pos.height * 9 == pytest.approx(scale * nat_h)
        sizes = [t.get_fontsize() for t in texts(host)]
        assert min(sizes) == pytest.approx(8.5 * scale)
        assert strings(host).count("Gudeman 1997") == 1
    finally:
        plt.close(host)


@pytest.mark.parametrize("field", ["study", "note"])
def test_overlong_texts_are_refused_with_a_message(field):
    rows = running_rows()
    rows.loc[1, field] = "x" * 2001
    with pytest.raises(ValueError, match=f"rows column '{field}', row 1 has 2001 characters"):
        forest_plot(rows, running_summaries())


def test_a_long_word_is_cut_to_fit_its_column():
    rows = running_rows()
    rows.loc[0, "study"] = "W" * 150
    fig = forest_plot(rows, running_summaries())
    assert fig.get_size_inches()[0] < 14
    assert_no_overlap(fig)


def test_trial_effect_weight_and_arm_texts():
    fig = forest_plot(running_rows(), running_summaries())
    shown = strings(fig)
    assert "0.58 [" + MINUS + "0.05, 1.22]" in shown
    assert "0.41 [0.12, 0.70]" in shown
    assert shown.count("100.0%") == 4                         # two trials, two subtotals
    assert "6.2" in shown and "2.1" in shown and "116" in shown and "83" in shown
    assert "—" in shown                                       # unknown arm values


def test_arm_means_and_sds_keep_the_precision_of_the_more_precise_arm():
    rows = running_rows()
    rows.loc[0, ["mean_t", "sd_t", "mean_c", "sd_c"]] = [7.4, 6.3, 5.6, 8.0]
    rows.loc[3, ["mean_t", "sd_t", "mean_c", "sd_c"]] = [23.0, 25.0347373, 14.0, 25.0347373]
    shown = strings(forest_plot(rows, running_summaries()))
    assert "8.0" in shown and "8" not in shown                # 8.0 beside 6.3, as printed
    assert "23" in shown and "14" in shown and "23.00" not in shown
    assert shown.count("25.03") == 2                          # recovered SD, two decimals


def test_not_estimable_rows_show_note_and_draw_nothing():
    fig = forest_plot(running_rows(), running_summaries())
    notes = by_gid(fig, "note")
    assert [flat(t.get_text()) for t in notes] == [NOTE, NOTE]
    assert all(t.get_fontstyle() == "italic" for t in notes)
    assert len(by_gid(fig, "square")) == 2                    # the two estimable trials
    assert len(by_gid(fig, "whisker")) == 2
    # nothing is drawn at the height of a not-estimable row
    ax = forest_axes(fig)
    drawn_y = {round(float(a.get_ydata()[0]), 6) for a in by_gid(fig, "square")}
    for t in notes:
        y_display = t.get_transform().transform(t.get_position())[1]
        y_data = ax.transData.inverted().transform((0, y_display))[1]
        assert round(float(y_data), 6) not in drawn_y


def test_square_sits_on_its_row():
    fig = forest_plot(running_rows(), running_summaries())
    fig.canvas.draw()
    ax = forest_axes(fig)
    squares = by_gid(fig, "square")
    labels = {t.get_text(): t for t in by_gid(fig, "study")}
    for study, sq in zip(["Gudeman 1997", "Nirschl 2003ᵃ"], squares):
        t = labels[study]
        y_text = t.get_transform().transform(t.get_position())[1]
        y_sq = ax.transData.transform((sq.get_xdata()[0], sq.get_ydata()[0]))[1]
        assert y_text == pytest.approx(y_sq, abs=0.5)


def test_square_area_is_proportional_to_weight():
    rows = five_rows()
    fig = forest_plot(rows, five_summary(), arm_labels=None, xlim=(-5, 5))
    squares = by_gid(fig, "square")
    assert len(squares) == 5
    areas = np.array([sq.get_markersize() ** 2 for sq in squares])
    w = rows["weight"].to_numpy()
    big = w > 5                                                # above the visibility floor
    ratio = areas[big] / w[big]
    assert np.allclose(ratio, ratio[0])
    assert squares[int(np.argmax(w))].get_markersize() == pytest.approx(11.0)


def test_number_of_diamonds_is_number_of_finite_summaries():
    summ = running_summaries()
    fig = forest_plot(running_rows(), summ)
    assert len(by_gid(fig, "diamond")) == 2
    summ.loc[0, ["estimate", "ci_lb", "ci_ub", "stat", "pval"]] = NAN
    fig = forest_plot(running_rows(), summ)
    assert len(by_gid(fig, "diamond")) == 1
    shown = strings(fig)
    assert "Not estimable" in shown
    assert "Test for overall effect: Not applicable" in shown


def test_not_estimable_subgroup_summary_needs_only_its_label():
    # a subgroup whose trials are all not estimable: only the first columns exist
    rows = running_rows().iloc[1:3]
    summ = pd.DataFrame([dict(subgroup="Running injuries", label="Subtotal (95% CI)",
                              estimate=NAN, ci_lb=NAN, ci_ub=NAN, k=0)])
    fig = forest_plot(rows, summ)
    shown = strings(fig)
    assert not by_gid(fig, "diamond") and not by_gid(fig, "square")
    assert "Not estimable" in shown
    assert "Heterogeneity: Not applicable" in shown
    assert "Test for overall effect: Not applicable" in shown
    assert_no_overlap(fig)


def test_subtotal_footer_lines():
    fig = forest_plot(running_rows(), running_summaries())
    het = [t.get_text() for t in by_gid(fig, "heterogeneity")]
    overall = [t.get_text() for t in by_gid(fig, "overall_effect")]
    assert het == ["Heterogeneity: Not applicable"] * 2
    assert overall == ["Test for overall effect: Z = 1.80 (P = 0.07)",
                       "Test for overall effect: Z = 2.77 (P = 0.006)"]
    # one shared method is named once, under the plot
    assert [t.get_text() for t in by_gid(fig, "footnote")] == ["Method: REML τ², Wald-type CI"]
    shown = strings(fig)
    assert shown.count("Subtotal (95% CI)") == 2 and "Total (95% CI)" not in shown
    assert "20" in shown and "116" in shown


def test_methods_that_differ_are_named_per_summary():
    summ = running_summaries()
    summ.loc[1, "method"] = "REML τ², Hartung–Knapp CI"
    fig = forest_plot(running_rows(), summ, footnotes=["ᵃ SD recovered from the P value."])
    shown = strings(fig)
    assert "Method: REML τ², Wald-type CI" in shown
    assert "Method: REML τ², Hartung–Knapp CI" in shown
    assert [t.get_text() for t in by_gid(fig, "footnote")] == ["ᵃ SD recovered from the P value."]


def test_overall_line_and_subgroup_test_only_when_given():
    fig = forest_plot(running_rows(), running_summaries())
    assert not by_gid(fig, "subgroup_test")
    fig = forest_plot(running_rows(), running_summaries(), subgroup_test=SUBGROUP_TEST)
    assert [t.get_text() for t in by_gid(fig, "subgroup_test")] == [
        "Test for subgroup differences: Chi² = 0.22, df = 1 (P = 0.64), I² = 0%"]
    assert len(by_gid(fig, "diamond")) == 2
    with_total = pd.concat([running_summaries(), pd.DataFrame([summary(
        None, "Total (95% CI)", 0.45, 0.2, 0.7, k=2, q=0.22, q_df=1, q_pval=0.64, i2=0.0,
        stat=3.5, pval=0.0005)])], ignore_index=True)
    fig = forest_plot(running_rows(), with_total, subgroup_test=SUBGROUP_TEST)
    assert len(by_gid(fig, "diamond")) == 3
    assert "Total (95% CI)" in strings(fig)
    assert ("Heterogeneity: Tau² = 0.00; Chi² = 0.22, df = 1 (P = 0.64); I² = 0%"
            in strings(fig))


def test_prediction_interval_drawn_iff_finite():
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None)
    (pi,) = by_gid(fig, "prediction_interval")
    assert tuple(pi.get_xdata()) == pytest.approx((-0.45, 1.35))
    (dm,) = by_gid(fig, "diamond")
    assert pi.get_ydata()[0] == pytest.approx(dm.get_xy()[:, 1].mean())   # through the diamond
    assert "95% prediction interval" in strings(fig)
    assert f"[{MINUS}0.45, 1.35]" in strings(fig)
    fig = forest_plot(five_rows(), five_summary(pi=(NAN, NAN)), arm_labels=None)
    assert not by_gid(fig, "prediction_interval")
    assert "95% prediction interval" not in strings(fig)


def test_ci_beyond_xlim_draws_an_arrow():
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None, xlim=(-2, 2))
    arrows = by_gid(fig, "arrow")
    assert len(arrows) == 1                                   # Trial E runs past +2
    assert arrows[0].get_xdata()[0] == 2
    assert len(by_gid(fig, "square")) == 4                    # its estimate is off the axis
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None, xlim=(-5, 5))
    assert not by_gid(fig, "arrow")
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None, xlim=(-1, 1))
    assert len(by_gid(fig, "arrow")) >= 4                     # both sides of Trial C, A, ...


def test_default_xlim_is_symmetric_nice_and_covers_everything():
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None)
    lo, hi = forest_axes(fig).get_xlim()
    assert (lo, hi) == (-5.0, 5.0)                            # 4.36 is covered by 5
    assert not by_gid(fig, "arrow")
    fig = forest_plot(running_rows(), running_summaries())
    assert forest_axes(fig).get_xlim() == (-2.0, 2.0)         # 1.22 is covered by 2
    ticks = [t.get_text() for t in forest_axes(fig).get_xticklabels()]
    assert ticks == [f"{MINUS}2", f"{MINUS}1", "0", "1", "2"]
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None, null_value=1.0)
    lo, hi = forest_axes(fig).get_xlim()
    assert 1.0 - lo == pytest.approx(hi - 1.0) and lo <= -1.08 and hi >= 4.36


def test_null_line_at_null_value():
    fig = forest_plot(five_rows(), five_summary(), arm_labels=None, xlim=(-3, 5),
                      null_value=0.5)
    (line,) = by_gid(fig, "null_line")
    assert tuple(line.get_xdata()) == (0.5, 0.5)


def test_arm_columns_left_out_when_not_wanted():
    fig = forest_plot(running_rows(), running_summaries(), arm_labels=None)
    shown = strings(fig)
    assert "Mean" not in shown and "Dexamethasone" not in shown and "6.2" not in shown
    fig = forest_plot(five_rows(), five_summary())           # no arm columns in rows
    assert "Mean" not in strings(fig)


# ------------------------------------------------------------------ layout

def stress_rows() -> pd.DataFrame:
    rows = running_rows()
    rows.loc[0, "study"] = "Gudeman 1997 (cross-over design, first period only)"
    rows.loc[3, ["mean_t", "sd_t", "mean_c", "sd_c"]] = [1234.56, 1023.4, 9876.5, 2048.25]
    rows.loc[3, ["estimate", "ci_lb", "ci_ub"]] = [1234.56, -1020.12, 3489.24]
    rows.loc[3, ["n_t", "n_c"]] = [1116, 1083]
    return rows


@pytest.mark.parametrize("case", ["subgroups", "five", "stress", "stress_no_arms",
                                  "titled_long_footnote"])
def test_no_two_texts_overlap_and_none_is_clipped(case):
    if case == "subgroups":
        fig = forest_plot(running_rows(), running_summaries(), subgroup_test=SUBGROUP_TEST,
                          footnotes=["ᵃ SD recovered from the reported P value."])
    elif case == "five":
        fig = forest_plot(five_rows(), five_summary(), arm_labels=None, xlim=(-2, 2))
    elif case == "stress":
        summ = running_summaries()
        summ.loc[1, ["estimate", "ci_lb", "ci_ub"]] = [1234.56, -1020.12, 3489.24]
        summ.loc[1, ["n_t", "n_c"]] = [1116, 1083]
        fig = forest_plot(stress_rows(), summ, subgroup_test=SUBGROUP_TEST,
                          effect_label="Mean difference\nIV, Random, 95% CI",
                          arm_labels=("Dexamethasone iontophoresis", "Placebo iontophoresis"))
    elif case == "stress_no_arms":
        fig = forest_plot(stress_rows(), running_summaries(), arm_labels=None,
                          xlim=(-1, 1), subgroup_test=SUBGROUP_TEST)
    else:
        fig = forest_plot(running_rows(), running_summaries(),
                          title="Dexamethasone vs placebo iontophoresis: primary outcome, end of "
                                "treatment (SMD, positive favours dexamethasone), a title long "
                                "enough to need a second line",
                          null_value=0.0, xlim=(-0.5, 3),
                          footnotes=["ᵃ " + "A long footnote that must wrap inside the "
                                     "figure instead of running off its edge. " * 4])
    assert_no_overlap(fig)


def test_fonts_are_dejavu_and_at_least_8_pt():
    fig = forest_plot(running_rows(), running_summaries(), subgroup_test=SUBGROUP_TEST,
                      title="T", footnotes=["x"])
    for t in texts(fig):
        assert t.get_fontsize() >= 8, t.get_text()
        assert t.get_fontfamily() == ["DejaVu Sans"], t.get_text()


def test_size_width_about_ten_inches_height_grows_with_rows():
    w1, h1 = forest_plot(running_rows(), running_summaries()).get_size_inches()
    assert 9.5 <= w1 <= 12.0
    more = pd.concat([running_rows()] * 3, ignore_index=True)
    w2, h2 = forest_plot(more, running_summaries()).get_size_inches()
    assert h2 > h1 + 8 * 0.2                                   # eight more trial rows
    w3, _ = forest_plot(five_rows(), five_summary(), arm_labels=None).get_size_inches()
    assert 7.5 <= w3 <= 12.0


def test_rendering_is_deterministic():
    def png():
        buf = io.BytesIO()
        forest_plot(running_rows(), running_summaries(), subgroup_test=SUBGROUP_TEST
                    ).savefig(buf, format="png", dpi=150)
        return buf.getvalue()
    assert png() == png()


def test_input_tables_are_not_modified():
    rows, summ = running_rows(), running_summaries()
    rows0, summ0 = rows.copy(), summ.copy()
    forest_plot(rows, summ)
    pd.testing.assert_frame_equal(rows, rows0)
    pd.testing.assert_frame_equal(summ, summ0)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("column", FOREST_ROW_COLUMNS)
def test_missing_row_column_is_named(column):
    with pytest.raises(ValueError, match=f"rows is missing required column.*{column}"):
        forest_plot(running_rows().drop(columns=column), running_summaries())


@pytest.mark.parametrize("column", FOREST_SUMMARY_COLUMNS)
def test_missing_summary_column_is_named(column):
    with pytest.raises(ValueError, match=f"summaries is missing required column.*{column}"):
        forest_plot(running_rows(), running_summaries().drop(columns=column))


def test_missing_subgroup_test_key_is_named():
    with pytest.raises(ValueError, match="subgroup_test is missing key.*pval"):
        forest_plot(running_rows(), running_summaries(), subgroup_test=dict(q=1, df=1, i2=0))


@pytest.mark.parametrize("change, message", [
    (dict(estimate=NAN), "'estimate' must be finite for the estimable trial 'Gudeman 1997'"),
    (dict(weight=NAN), "'weight' must be finite"),
    (dict(ci_lb=0.9), "ci_lb <= estimate <= ci_ub"),
    (dict(estimable="yes"), "'estimable' must be True or False"),
    (dict(estimate="big"), "'estimate' must be numeric"),
])
def test_bad_trial_values_are_reported(change, message):
    rows = running_rows().astype({k: object for k in change})
    for k, v in change.items():
        rows.loc[0, k] = v
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        forest_plot(rows, running_summaries())


def test_other_bad_input():
    with pytest.raises(ValueError, match="rows is empty"):
        forest_plot(running_rows().iloc[:0])
    with pytest.raises(ValueError, match="DataFrame"):
        forest_plot({"study": ["x"]})
    summ = running_summaries()
    summ.loc[0, "subgroup"] = "Achilles"
    with pytest.raises(ValueError, match="'Achilles'"):
        forest_plot(running_rows(), summ)
    summ = running_summaries()
    summ.loc[0, "stat_name"] = "chi2"
    with pytest.raises(ValueError, match="stat_name"):
        forest_plot(running_rows(), summ)
    with pytest.raises(ValueError, match="inside xlim"):
        forest_plot(running_rows(), running_summaries(), xlim=(0.5, 2))
    with pytest.raises(ValueError, match="xlim"):
        forest_plot(running_rows(), running_summaries(), xlim=(2, -2))
    rows = running_rows()
    rows.loc[1, "subgroup"] = None
    with pytest.raises(ValueError, match="every trial has a subgroup or none"):
        forest_plot(rows, running_summaries())
    summ = five_summary()
    summ.loc[0, "stat_df"] = NAN
    with pytest.raises(ValueError, match="stat_df"):
        forest_plot(five_rows(), summ)
    summ = five_summary(pi=(-0.4, NAN))
    with pytest.raises(ValueError, match="pi_lb, pi_ub"):
        forest_plot(five_rows(), summ)


def test_rows_without_optional_columns():
    rows = five_rows().drop(columns="subgroup")
    rows.loc[2, ["estimate", "ci_lb", "ci_ub", "weight"]] = NAN
    rows["estimable"] = [True, True, False, True, True]
    fig = forest_plot(rows)                                    # no summaries at all
    assert "Not estimable" in strings(fig)
    assert len(by_gid(fig, "square")) == 4
    assert not by_gid(fig, "diamond")
    assert math.isfinite(forest_axes(fig).get_xlim()[0])


# ------------------------------------------------------------------ layout, randomised

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ&-", min_size=1,
                 max_size=14)


@st.composite
def forest_inputs(draw):
    k = draw(st.integers(1, 6))
    scale = draw(st.sampled_from([1.0, 10.0, 1000.0]))
    records = []
    for i in range(k):
        label = " ".join(draw(st.lists(_words, min_size=1, max_size=6))) + f" {1990 + i}"
        estimable = draw(st.booleans()) if i else True
        est = draw(st.floats(-3, 3)) * scale
        half = draw(st.floats(0.01, 4)) * scale
        arms = [draw(st.floats(0, 9999.99)) if estimable else NAN for _ in range(2)]
        records.append(dict(
            subgroup=draw(st.sampled_from(["Running injuries", "Other tendinopathy (elbow)"])),
            study=label, mean_t=arms[0], sd_t=arms[1] / 10, n_t=draw(st.integers(1, 9999)),
            mean_c=arms[1], sd_c=arms[0] / 10, n_c=draw(st.integers(1, 9999)),
            estimate=est if estimable else NAN,
            ci_lb=est - half if estimable else NAN, ci_ub=est + half if estimable else NAN,
            weight=draw(st.floats(0.1, 100)) if estimable else NAN, estimable=estimable,
            note=None if estimable else " ".join(draw(st.lists(_words, min_size=1, max_size=9))),
            marker=draw(st.sampled_from([None, "a", "b"]))))
    rows = pd.DataFrame(records)
    summaries = pd.DataFrame([summary(g, "Subtotal (95% CI)", 0.1 * scale, -0.2 * scale,
                                      0.4 * scale, k=2, q=1.5, q_df=1, q_pval=0.22, i2=33.3)
                              for g in dict.fromkeys(rows["subgroup"])])
    arm_labels = draw(st.sampled_from([None, ("Dexamethasone", "Placebo")]))
    return rows, summaries, arm_labels


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forest_inputs())
def test_no_overlap_for_random_labels_and_magnitudes(inputs):
    rows, summaries, arm_labels = inputs
    fig = forest_plot(rows, summaries, arm_labels=arm_labels, subgroup_test=SUBGROUP_TEST)
    assert_no_overlap(fig)
    for study in rows["study"]:
        assert any(flat(t.get_text()).startswith(study) for t in by_gid(fig, "study"))


def test_text_widths_are_shared_between_plots_but_not_between_font_settings():
    """Widths measured for one forest plot serve the next; a different font setting
    (here the hinting) is measured again, and each cached width is what the
    renderer gives for that setting."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from analysis import forest

    def measure():
        fig = Figure(dpi=100)
        FigureCanvasAgg(fig)
        m = forest._Measure(fig)
        direct = m.renderer.get_text_width_height_descent(
            "AVAVAV Wa To", forest._font(True, False, 9), ismath=False)[0] / 100
        return m.width("AVAVAV Wa To", bold=True, size=9), direct

    forest._WIDTHS.clear()
    first, direct = measure()
    assert first == direct and len(forest._WIDTHS) == 1
    assert measure()[0] == first and len(forest._WIDTHS) == 1  # shared, not measured again
    with mpl.rc_context({"text.hinting": "none"}):
        other, direct_other = measure()
    assert len(forest._WIDTHS) == 2 and other == direct_other
    assert other != first  # the setting changes the width, so one cache entry would be wrong
