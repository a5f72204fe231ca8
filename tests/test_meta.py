"""The model layer (analysis.meta): a table in by column names, a MetaAnalysis out that
summarises, refits, draws and exports itself.

Synthetic numbers only (a teacher's invented yi/vi); every pooled number is compared with
the engine (analysis.pooling, itself checked against metafor) or with the real data's
metafor reference.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.meta import MetaAnalysis, ModelOptions, meta_analysis
from analysis.pooling import pool

#: A teacher's invented example (synthetic numbers, no trial).
TEACHER = pd.DataFrame({"study": ["Trial A 2001", "Trial B 2005", "Trial C 2010"],
                        "yi": [0.30, 0.55, 0.10], "vi": [0.04, 0.09, 0.02]})


def strings(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(plt.Text) if t.get_text().strip()]


def by_gid(fig: Figure, gid: str) -> list:
    return list(fig.findobj(lambda a: a.get_gid() == gid))


# ------------------------------------------------------------------ fitting


def test_a_teachers_three_yi_vi_pairs_pool_as_the_engine_does():
    ma = meta_analysis(TEACHER)
    assert isinstance(ma, MetaAnalysis)
    ref = pool(TEACHER["yi"], TEACHER["vi"], tau2_ci=False)
    (row,) = ma.pooled.to_dict("records")
    for field in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2", "q", "pi_lb", "pi_ub"):
        assert row[field] == pytest.approx(getattr(ref, field), rel=1e-12, abs=1e-15), field
    assert row["k"] == row["k_total"] == 3
    assert ma.studies["weight"].sum() == pytest.approx(100.0)
    np.testing.assert_allclose(ma.studies["weight"], 100 * ref.weights, rtol=1e-12)


def test_its_forest_plot_is_a_revman_figure_with_a_total_line():
    fig = meta_analysis(TEACHER, measure="SMD").forest()
    assert isinstance(fig, Figure)
    shown = strings(fig)
    assert {"Trial A 2001", "Trial B 2005", "Trial C 2010"} <= set(shown)
    assert "Total (95% CI)" in shown and "Std. mean difference" in shown
    assert "IV, Random, 95% CI" in shown
    assert len(by_gid(fig, "square")) == 3 and len(by_gid(fig, "diamond")) == 1
    assert not any("examethasone" in s for s in shown)  # neutral labels by default


def test_columns_are_given_by_name():
    other = TEACHER.rename(columns={"study": "trial", "yi": "g", "vi": "var_g"})
    a = meta_analysis(TEACHER).pooled
    b = meta_analysis(other, study="trial", yi="g", vi="var_g").pooled
    pd.testing.assert_frame_equal(a, b)


def test_rows_that_are_not_estimable_are_kept_with_their_reason():
    t = pd.concat([TEACHER, pd.DataFrame({"study": ["Trial D 2012"], "yi": [np.nan],
                                          "vi": [np.nan]})], ignore_index=True)
    t["reason"] = ["", "", "", "no numbers in the public record"]
    ma = meta_analysis(t)
    s = ma.studies.set_index("study")
    assert not s.loc["Trial D 2012", "estimable"]
    assert s.loc["Trial D 2012", "note"] == "no numbers in the public record"
    assert np.isnan(s.loc["Trial D 2012", "weight"])
    assert ma.pooled.loc[0, "k"] == 3 and ma.pooled.loc[0, "k_total"] == 4
    assert ma.pooled.loc[0, "estimate"] == pytest.approx(meta_analysis(TEACHER).pooled.loc[
        0, "estimate"])
    fig = ma.forest()
    assert "no numbers in the public record" in " ".join(" ".join(strings(fig)).split())


def test_an_estimable_row_without_numbers_is_an_error_naming_it():
    t = TEACHER.assign(estimable=True)
    t.loc[1, "vi"] = 0.0
    with pytest.raises(ValueError, match=r"row 1 \('Trial B 2005'\) is marked estimable"):
        meta_analysis(t)


def test_subgroups_are_pooled_in_one_call_and_tested_as_revman():
    t = pd.concat([TEACHER.assign(setting="clinic"),
                   TEACHER.assign(setting="sport", yi=TEACHER["yi"] + 0.4,
                                  study=TEACHER["study"] + " (sport)")], ignore_index=True)
    ma = meta_analysis(t, by="setting", method="FE")
    assert list(ma.pooled["setting"]) == ["clinic", "sport"]
    for (_, p), shift in zip(ma.pooled.iterrows(), (0.0, 0.4)):
        ref = pool(TEACHER["yi"] + shift, TEACHER["vi"], method="FE")
        assert p["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    # RevMan's test: Cochran's Q of the subtotals weighted by 1/SE^2, written out here
    est, se = ma.pooled["estimate"].to_numpy(), ma.pooled["se"].to_numpy()
    w = 1 / se**2
    q = np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2)
    test = ma.subgroup_test
    assert test["q"] == pytest.approx(q, rel=1e-12) and test["df"] == 1
    assert "Wald-type" in test["se_from"]


def test_several_by_columns_and_categorical_order():
    t = pd.concat([TEACHER.assign(a="x", b=1), TEACHER.assign(a="y", b=2)], ignore_index=True)
    ma = meta_analysis(t, by=["a", "b"])
    assert list(ma.pooled["subgroup"]) == ["x / 1", "y / 2"]
    t2 = t.assign(a=pd.Categorical(t["a"], categories=["y", "x"]))
    assert list(meta_analysis(t2, by="a").pooled["a"]) == ["y", "x"]
    assert list(meta_analysis(t2, by="a").studies["a"])[:3] == ["y"] * 3


def test_a_study_twice_in_one_analysis_is_refused_but_may_recur_across_subgroups():
    with pytest.raises(ValueError, match="'Trial A 2001' appears twice"):
        meta_analysis(pd.concat([TEACHER, TEACHER.iloc[:1]], ignore_index=True))
    t = pd.concat([TEACHER.assign(when="early"), TEACHER.assign(when="late")],
                  ignore_index=True)
    ma = meta_analysis(t, by="when")
    assert ma.subgroup_test is None  # the same studies twice: not independent subgroups


def test_a_group_without_estimable_study_is_shown_as_not_estimable():
    t = pd.concat([TEACHER.assign(g="has"),
                   pd.DataFrame({"study": ["X 1999"], "yi": [np.nan], "vi": [np.nan],
                                 "g": ["none"]})], ignore_index=True)
    ma = meta_analysis(t, by="g")
    none = ma.pooled.set_index("g").loc["none"]
    assert none["k"] == 0 and none["k_total"] == 1 and np.isnan(none["estimate"])
    fig = ma.forest()
    assert "Not estimable" in strings(fig)


@pytest.mark.parametrize("bad, message", [
    (dict(study="trial"), r"column\(s\) \['trial'\] not in the table"),
    (dict(method="XYZ"), "unknown method 'XYZ'"),
    (dict(level=95), "level must be a proportion"),
])
def test_bad_arguments_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        meta_analysis(TEACHER, **bad)


def test_overlong_or_empty_labels_are_refused():
    t = TEACHER.copy()
    t.loc[0, "study"] = "x" * 201
    with pytest.raises(ValueError, match="201 characters; the limit is 200"):
        meta_analysis(t)
    t.loc[0, "study"] = " "
    with pytest.raises(ValueError, match="empty in row 0"):
        meta_analysis(t)


def test_repeated_column_names_are_refused():
    t = pd.concat([TEACHER, TEACHER[["yi"]]], axis=1)
    with pytest.raises(ValueError, match=r"repeated column name\(s\) \['yi'\]"):
        meta_analysis(t)


# ------------------------------------------------------------------ options and refit


def test_the_result_records_its_options_and_refit_changes_only_them():
    ma = meta_analysis(TEACHER)
    assert ma.options == ModelOptions()
    hk = ma.refit(knha=True, method="dl")
    assert hk.options.knha and hk.options.method == "DL"
    ref = pool(TEACHER["yi"], TEACHER["vi"], method="DL", knha=True)
    assert hk.pooled.loc[0, "ci_lb"] == pytest.approx(ref.ci_lb, rel=1e-12)
    assert hk.pooled.loc[0, "df"] == 2
    assert "Hartung\u2013Knapp" in hk.summary().caption
    pd.testing.assert_frame_equal(hk.studies[["study", "yi", "vi"]],
                                  ma.studies[["study", "yi", "vi"]])
    with pytest.raises(TypeError, match="unknown option"):
        ma.refit(estimator="REML")


def test_level_changes_every_interval_and_the_labels():
    ma = meta_analysis(TEACHER, level=0.9, measure="MD")
    ref = pool(TEACHER["yi"], TEACHER["vi"], level=0.9)
    assert ma.pooled.loc[0, "ci_ub"] == pytest.approx(ref.ci_ub, rel=1e-12)
    from scipy import stats
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(ma.studies["ci_lb"], TEACHER["yi"] - z * np.sqrt(TEACHER["vi"]))
    shown = strings(ma.forest())
    assert "IV, Random, 90% CI" in shown and "Total (90% CI)" in shown


def test_hartung_knapp_with_one_study_falls_back_to_z_and_says_so_in_the_plot():
    one = meta_analysis(TEACHER.iloc[:1], knha=True)
    assert np.isnan(one.pooled.loc[0, "df"])
    fig = one.forest()
    assert any(s.startswith("Test for overall effect: Z") for s in strings(fig))


def test_the_result_cannot_be_changed_through_its_tables():
    ma = meta_analysis(TEACHER)
    before = ma.pooled.loc[0, "estimate"]
    pooled, studies = ma.pooled, ma.studies
    pooled.loc[0, "estimate"] = 99.0
    studies.loc[0, "yi"] = 99.0
    assert ma.pooled.loc[0, "estimate"] == before and ma.studies.loc[0, "yi"] == 0.30
    with pytest.raises(AttributeError):
        ma.options = ModelOptions(method="DL")


def test_summary_is_a_tidy_table_with_a_caption():
    s = meta_analysis(TEACHER, measure="SMD").summary()
    assert isinstance(s, pd.DataFrame)
    assert list(s.columns[:4]) == ["subgroup", "k", "k_total", "estimate"]
    assert s.caption == "SMD, REML \u03c4\u00b2, Wald-type CI, 95% CI"
    assert "<table" in s._repr_html_() and "REML" in s._repr_html_()


def test_metafor_arm_column_names_are_recognised_and_shown():
    t = TEACHER.assign(m1i=[5.0, 6.0, 7.0], sd1i=2.0, n1i=20, m2i=4.0, sd2i=2.0, n2i=21)
    ma = meta_analysis(t, measure="MD")
    assert ma.arm_columns and list(ma.studies["n_t"]) == [20, 20, 20]
    shown = strings(ma.forest())
    assert "Treatment" in shown and "Control" in shown and "21" in shown


def test_non_convergence_is_named_by_its_group(monkeypatch):
    t = pd.concat([TEACHER.assign(g="ok"),
                   TEACHER.assign(g="slow", yi=[0.0, 3.0, -3.0])], ignore_index=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ma = meta_analysis(t, by="g", control={"maxiter": 1})
    messages = " ".join(str(w.message) for w in caught)
    assert "'slow'" in messages
    slow = ma.pooled.set_index("g").loc["slow"]
    assert not slow["converged"] and np.isnan(slow["estimate"])


# ------------------------------------------------------------------ drawing into an Axes


def test_forest_into_a_given_axes():
    host = plt.figure(figsize=(14, 10))
    try:
        ax = host.add_subplot(2, 1, 1)
        fig = meta_analysis(TEACHER).forest(ax=ax, title="Teaching example (invented numbers)")
        assert fig is host and "Teaching example (invented numbers)" in strings(host)
    finally:
        plt.close(host)


# ------------------------------------------------------------------ the forest table


def test_to_frame_has_study_rows_totals_and_the_subgroup_test():
    t = pd.concat([TEACHER.assign(s="a"), TEACHER.assign(s="b", study=TEACHER["study"] + "b")],
                  ignore_index=True)
    frame = meta_analysis(t, by="s").to_frame()
    assert list(frame["row_type"]) == ["study"] * 6 + ["subtotal"] * 2 + [
        "subgroup_difference_test"]
    assert list(frame.columns[:3]) == ["row_type", "subgroup", "study"]


def test_studies_of_a_subgroup_whose_tau2_did_not_converge_are_shown_with_a_note():
    import warnings

    from analysis.pooling import ConvergenceWarning

    table = pd.DataFrame({"study": list("ABCDE"), "yi": [0.1, 0.9, -0.5, 1.4, 0.3],
                          "vi": [0.04, 0.05, 0.06, 0.03, 0.05], "g": ["x", "x", "x", "y", "y"]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ma = meta_analysis(table, by="g", control={"maxiter": 1})  # one REML step: not converged
    assert any(issubclass(w.category, ConvergenceWarning) and "'x'" in str(w.message) for w in caught)
    rows = ma.to_frame()
    rows = rows[rows["row_type"] == "study"].set_index("study")
    for s in "ABC":
        assert not rows.at[s, "estimable"]
        assert rows.at[s, "note"] == "Not pooled: the REML estimator of \u03c4\u00b2 did not converge"
        assert np.isfinite(rows.at[s, "estimate"])  # the trial's own estimate stays
    assert rows.loc[["D", "E"], "estimable"].all() and np.isfinite(rows.loc[["D", "E"], "weight"]).all()
