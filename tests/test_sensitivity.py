"""Sensitivity analyses (analysis.sensitivity): the unit-of-analysis (feet, not
patients) correction, estimators and effect-size variants. Hedges' g and its variance
for the design-effect scenarios are written out here from their formulas. (The
threshold analysis for the trials without public numbers is tested with
analysis.catchup, in tests/test_catchup.py.)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from analysis.sensitivity import (
    estimator_sensitivity,
    foot_level_sensitivity,
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


def test_helpers_reproduce_metafor():
    c = GUDEMAN["end_of_treatment"]
    i = c["inputs"]
    g, v = _g_ls(i["m1i"], i["sd1i"], i["n1i"], i["m2i"], i["sd2i"], i["n2i"])
    np.testing.assert_allclose([g, v], [c["yi"], c["vi"]], rtol=1e-10)


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
