"""Sensitivity analyses (analysis.sensitivity): threshold analysis for the trials
without public numbers, and the unit-of-analysis (feet, not patients) correction.

Threshold boundaries are checked by pooling again, outside the function: the existing
trial plus a hypothetical trial just on either side of each boundary must give the two
conclusions the function reports. Hedges' g and its variance for the hypothetical
trial and for the design-effect scenarios are written out here from their formulas.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from analysis.pooling import pool_batch
from analysis.sensitivity import (
    estimator_sensitivity,
    foot_level_sensitivity,
    threshold_analysis,
    thresholds_for_missing_trials,
    unit_of_analysis,
)
from analysis.trial_effects import continuous_effects, effect_size_variants, study_table

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "metafor_trials.json").read_text())
GUDEMAN = {c["timepoint_id"]: c for c in REF["continuous"]
           if c["study_id"] == "gudeman1997" and c["measure"] == "SMD" and c["vtype"] == "LS"}


def _j(m):
    """Hedges' exact correction J(m) = Γ(m/2) / (√(m/2) Γ((m-1)/2))."""
    return np.exp(special.gammaln(m / 2) - special.gammaln((m - 1) / 2)) / np.sqrt(m / 2)


def _g_ls(m1, s1, n1, m2, s2, n2):
    """Hedges' g (exact J) and metafor's LS variance 1/n1 + 1/n2 + g²/(2N)."""
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    g = _j(n1 + n2 - 2) * (m1 - m2) / sp
    return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def _hypothetical_vi(g, n_t, n_c):
    return 1 / n_t + 1 / n_c + g**2 / (2 * (n_t + n_c))


def _conclusion(yi, vi, method):
    s = pool_batch(np.asarray(yi, float), np.asarray(vi, float), method=method).summary.iloc[0]
    if s["ci_lb"] > 0:
        return "favours dexamethasone"
    if s["ci_ub"] < 0:
        return "favours placebo"
    return "no clear difference"


def test_helpers_reproduce_metafor():
    c = GUDEMAN["end_of_treatment"]
    i = c["inputs"]
    g, v = _g_ls(i["m1i"], i["sd1i"], i["n1i"], i["m2i"], i["sd2i"], i["n2i"])
    np.testing.assert_allclose([g, v], [c["yi"], c["vi"]], rtol=1e-10)


# --------------------------------------------------------------------- threshold analysis


@pytest.mark.parametrize("method", ["FE", "REML"])
@pytest.mark.parametrize("tp", ["end_of_treatment", "one_month_after"])
@pytest.mark.parametrize("n_t, n_c", [(14, 11), (14, 14)])
def test_threshold_boundaries_reproduce_when_pooled_again(tp, method, n_t, n_c):
    y, v = GUDEMAN[tp]["yi"], GUDEMAN[tp]["vi"]
    res = threshold_analysis([y], [v], n_t, n_c, method=method)
    assert list(res.columns) == ["g_from", "g_to", "conclusion", "g_from_is_grid_end",
                                 "g_to_is_grid_end", "method", "n_t", "n_c"]
    # Only the outer ends of the first and last stretch are the grid's ends.
    assert res["g_from_is_grid_end"].tolist() == [True] + [False] * (len(res) - 1)
    assert res["g_to_is_grid_end"].tolist() == [False] * (len(res) - 1) + [True]
    # stretches cover the grid in order and alternate conclusions
    assert (res["g_from"] <= res["g_to"]).all()
    assert (res["g_from"].iloc[1:].to_numpy() > res["g_to"].iloc[:-1].to_numpy()).all()
    assert (res["conclusion"].iloc[1:].to_numpy() != res["conclusion"].iloc[:-1].to_numpy()).all()
    # every stretch's two ends give its conclusion when pooled outside the function
    for _, s in res.iterrows():
        for g in (s["g_from"], s["g_to"]):
            got = _conclusion([y, g], [v, _hypothetical_vi(g, n_t, n_c)], method)
            assert got == s["conclusion"], (g, s["conclusion"], got)
    # and the boundaries are tight: adjacent grid points on either side disagree
    for (_, a), (_, b) in zip(res.iloc[:-1].iterrows(), res.iloc[1:].iterrows()):
        inside = _conclusion([y, a["g_to"]], [v, _hypothetical_vi(a["g_to"], n_t, n_c)], method)
        outside = _conclusion([y, b["g_from"]], [v, _hypothetical_vi(b["g_from"], n_t, n_c)],
                              method)
        assert inside != outside
        # one grid step of 0.0025 in d, i.e. J·0.0025 in g
        assert b["g_from"] - a["g_to"] == pytest.approx(_j(n_t + n_c - 2) * 0.0025, rel=1e-6)


def test_threshold_fe_end_of_treatment_has_the_expected_shape():
    """With Gudeman's positive end-of-treatment SMD alone, a small or negative trial makes
    the FE CI include 0 and a larger positive one keeps it above 0."""
    c = GUDEMAN["end_of_treatment"]
    res = threshold_analysis([c["yi"]], [c["vi"]], 14, 11, method="FE")
    assert list(res["conclusion"]) == ["no clear difference", "favours dexamethasone"]
    # the FE boundary: the g at which the pooled CI lower limit is 0, solved here by
    # bisection on the inverse-variance formula
    z = stats.norm.ppf(0.975)

    def lower(g):
        w = np.array([1 / c["vi"], 1 / _hypothetical_vi(g, 14, 11)])
        est = (w[0] * c["yi"] + w[1] * g) / w.sum()
        return est - z / np.sqrt(w.sum())

    lo, hi = -1.0, 2.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if lower(mid) < 0 else (lo, mid)
    assert res["g_to"].iloc[0] < hi <= res["g_from"].iloc[1]


def test_threshold_analysis_accepts_a_grid():
    c = GUDEMAN["end_of_treatment"]
    res = threshold_analysis([c["yi"]], [c["vi"]], 14, 11, d_grid=np.array([-1.0, 0.0, 1.0]))
    assert res["g_from"].iloc[0] == pytest.approx(-_j(23.0))
    assert res["g_to"].iloc[-1] == pytest.approx(_j(23.0))


# --------------------------------------------------------------------- missing trials


def test_thresholds_for_missing_trials_use_neeter_sizes_and_flag_osborne_assumption(pkg, effects):
    out = thresholds_for_missing_trials(effects, study_table(pkg))
    assert set(out["study"]) == {"Neeter 2003", "Osborne & Allison 2006"}
    assert set(out["window"]) == {"end_of_treatment", "about_one_month"}
    assert set(out["method"]) == {"FE", "REML"}
    neeter = out[out["study"] == "Neeter 2003"]
    assert neeter["group_sizes"].str.contains("14/11").all()
    assert neeter["group_sizes"].str.contains("reported").all()
    assert not neeter["group_sizes"].str.contains("assumption").any()
    osborne = out[out["study"] == "Osborne & Allison 2006"]
    assert osborne["group_sizes"].str.startswith("assumption").all()
    assert osborne["group_sizes"].str.contains("42").all()
    assert osborne["group_sizes"].str.contains("3 arms").all()
    assert osborne["group_sizes"].str.contains("14 each").all()
    assert osborne["group_sizes"].str.contains("not public").all()


def test_thresholds_for_missing_trials_equal_a_direct_threshold_analysis(pkg, effects):
    out = thresholds_for_missing_trials(effects, study_table(pkg))
    for window, tp in (("end_of_treatment", "end_of_treatment"),
                       ("about_one_month", "one_month_after")):
        c = GUDEMAN[tp]
        for study, (n_t, n_c) in (("Neeter 2003", (14, 11)),
                                  ("Osborne & Allison 2006", (14, 14))):
            for method in ("FE", "REML"):
                mine = out[(out["study"] == study) & (out["window"] == window)
                           & (out["method"] == method)]
                direct = threshold_analysis([c["yi"]], [c["vi"]], n_t, n_c, method=method)
                np.testing.assert_allclose(mine["g_from"], direct["g_from"], rtol=1e-6)
                np.testing.assert_allclose(mine["g_to"], direct["g_to"], rtol=1e-6)
                assert list(mine["conclusion"]) == list(direct["conclusion"])


def test_osborne_assumption_names_the_units_in_plain_english(pkg, effects):
    out = thresholds_for_missing_trials(effects, study_table(pkg))
    text = out.loc[out["study"] == "Osborne & Allison 2006", "group_sizes"].iloc[0]
    assert "42 feet" in text


# --------------------------------------------------------------------- unit of analysis


@pytest.mark.parametrize("tp", ["end_of_treatment", "one_month_after"])
def test_unit_of_analysis_design_effect_and_effective_sizes(tp):
    c = GUDEMAN[tp]
    i = c["inputs"]
    iccs = (0.0, 0.25, 0.5, 1.0)
    res = unit_of_analysis(i["m1i"], i["sd1i"], i["n1i"], i["m2i"], i["sd2i"], i["n2i"],
                           n_units=40, n_patients=[39, 20], icc=iccs)
    assert len(res) == 2 * len(iccs)
    for _, r in res.iterrows():
        m = 40 / r["patients"]  # mean number of feet per patient
        de = 1 + (m - 1) * r["icc"]
        assert r["feet_per_patient"] == pytest.approx(m)
        assert r["design_effect"] == pytest.approx(de)
        assert r["n_t_effective"] == pytest.approx(20 / de)
        assert r["n_c_effective"] == pytest.approx(20 / de)
        g, v = _g_ls(i["m1i"], i["sd1i"], 20 / de, i["m2i"], i["sd2i"], 20 / de)
        np.testing.assert_allclose([r["yi"], r["se"]], [g, np.sqrt(v)], rtol=1e-10)
        z = stats.norm.ppf(0.975)
        np.testing.assert_allclose([r["ci_lb"], r["ci_ub"]],
                                   [g - z * np.sqrt(v), g + z * np.sqrt(v)], rtol=1e-10)
    # ICC = 0: no design effect, the unadjusted g of metafor
    zero = res[res["icc"] == 0.0]
    np.testing.assert_allclose(zero["yi"], c["yi"], rtol=1e-6)
    np.testing.assert_allclose(zero["se"] ** 2, c["vi"], rtol=1e-6)
    # two feet per patient and ICC = 1: the design effect is 2, every patient counts once
    worst = res[(res["patients"] == 20) & (res["icc"] == 1.0)].iloc[0]
    assert worst["design_effect"] == pytest.approx(2.0)
    assert worst["se"] > zero["se"].max()


def test_foot_level_sensitivity_includes_39_patients_and_the_two_feet_extreme(pkg, effects):
    out = foot_level_sensitivity(effects, study_table(pkg))
    assert set(out["study"]) == {"Gudeman 1997"}  # the only foot-randomised trial with data
    assert set(out["patients"]) == {39.0, 20.0}   # studies.csv (secondary) and 40 / 2
    assert set(out["icc"]) == {0.0, 0.5, 1.0}
    assert out["timepoint"].nunique() == 2
    assert len(out) == 2 * 2 * 3
    assert list(out.columns[:2]) == ["study", "timepoint"]
    for tp, label in (("end_of_treatment", "end of treatment (about 2 weeks)"),
                      ("one_month_after", "one month after the end of treatment")):
        zero = out[(out["timepoint"] == label) & (out["icc"] == 0.0)]
        np.testing.assert_allclose(zero["yi"], GUDEMAN[tp]["yi"], rtol=1e-6)


def test_foot_level_sensitivity_keeps_the_orientation_of_the_effects(pkg):
    """For an outcome stored as higher_is_worse the effects table reverses the SMD; the
    foot-level rows must be on the same orientation, with the CI limits in order."""
    defs = pkg.outcome_definitions.copy()
    defs.loc[defs["outcome_id"] == "maryland_foot_score", "direction"] = "higher_is_worse"
    flipped_pkg = dataclasses.replace(pkg, outcome_definitions=defs)
    eff = continuous_effects(flipped_pkg)
    out = foot_level_sensitivity(eff, study_table(flipped_pkg))
    zero = out[(out["icc"] == 0.0) & (out["patients"] == 39.0)].sort_values("timepoint")
    smd = eff[(eff["study_id"] == "gudeman1997") & (eff["measure"] == "SMD")
              & eff["window"].isin(["end_of_treatment", "about_one_month"])
              ].sort_values("timepoint")
    np.testing.assert_allclose(zero["yi"], smd["yi"], rtol=1e-10)
    np.testing.assert_allclose(zero["ci_lb"], smd["ci_lb"], rtol=1e-10)
    np.testing.assert_allclose(zero["ci_ub"], smd["ci_ub"], rtol=1e-10)
    assert (out["ci_lb"] < out["yi"]).all() and (out["yi"] < out["ci_ub"]).all()


# --------------------------------------------------------------------- other choices


def test_effect_size_variants_name_every_choice(pkg):
    out = effect_size_variants(pkg)
    gud = out[out["study"] == "Gudeman 1997"]
    # the p-value distribution only matters for a recovered SD
    assert set(gud["p_to_se"]) == {"t"}
    assert set(gud["smd_variance"]) == {"LS", "UB", "RevMan5"}
    nir = out[out["study"] == "Nirschl 2003"]
    assert set(nir["p_to_se"]) == {"t", "normal"}
    for c in REF["continuous"]:
        if c["measure"] != "SMD":
            continue
        label = {"gudeman1997": "Gudeman 1997", "nirschl2003": "Nirschl 2003"}[c["study_id"]]
        sel = out[(out["study"] == label) & (out["smd_variance"] == c["vtype"])
                  & (out["p_to_se"] == (c["p_dist"] or "t"))]
        sel = sel[np.isclose(sel["yi"], c["yi"], rtol=1e-6)]
        assert len(sel) == 1, c["call"]
        np.testing.assert_allclose(sel["vi"], c["vi"], rtol=1e-6)


def test_estimator_sensitivity_counts_and_skips_fe_with_knha(effects):
    out = estimator_sensitivity(effects)
    assert not ((out["method"] == "FE") & out["knha"]).any()
    run = out[out["scope"] == "running_injury"]
    assert (run["k_total"] == 3).all() and (run["k_estimable"] == 1).all()
    # k = 1 per scope and window: every estimator returns the trial's own estimate
    eot = run[run["window"] == "end_of_treatment"]
    np.testing.assert_allclose(eot["estimate"], GUDEMAN["end_of_treatment"]["yi"], rtol=1e-6)


# --------------------------------------------------------------------- variance variant


def test_foot_level_sensitivity_keeps_the_smd_variance_variant(pkg):
    eff = continuous_effects(pkg, smd_vtype="UB")
    out = foot_level_sensitivity(eff, study_table(pkg))
    zero = out[(out["icc"] == 0.0) & (out["patients"] == 39.0)].sort_values("timepoint")
    smd = eff[(eff["study_id"] == "gudeman1997") & (eff["measure"] == "SMD")
              & eff["window"].isin(["end_of_treatment", "about_one_month"])
              ].sort_values("timepoint")
    assert (smd["vtype"] == "UB").all()
    np.testing.assert_allclose(zero["se"] ** 2, smd["vi"], rtol=1e-10)


def test_thresholds_for_missing_trials_keep_the_smd_variance_variant(pkg):
    eff = continuous_effects(pkg, smd_vtype="UB")
    out = thresholds_for_missing_trials(eff, study_table(pkg), methods=("REML",))
    c = eff[(eff["study_id"] == "gudeman1997") & (eff["measure"] == "SMD")
            & (eff["timepoint_id"] == "end_of_treatment")]
    direct = threshold_analysis(c["yi"], c["vi"], 14, 11, method="REML", smd_vtype="UB")
    mine = out[(out["study"] == "Neeter 2003") & (out["window"] == "end_of_treatment")]
    np.testing.assert_allclose(mine["g_to"], direct["g_to"], rtol=1e-6)
