"""Does the placebo group catch up? (analysis.catchup)

Every formula is checked against something outside the module: metafor's vcalc() and its
worked example of Gleser & Olkin (2009) (tests/reference/catchup_reference.R and .json),
cases worked by hand here, a simulation with a fixed seed, statsmodels' TOST functions,
a brute-force grid for Fieller's sets, and re-pooling just either side of every threshold.
Numbers marked "synthetic" are invented for a test and appear nowhere in data/.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind

from analysis import catchup as cu
from analysis.pooling import pool_batch

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "catchup_reference.json").read_text())
Z95 = stats.norm.ppf(0.975)

#: Level whose normal quantile is exactly 2 (for hand-worked Fieller cases: z² = 4).
LEVEL_Z2 = 1 - 2 * stats.norm.sf(2.0)


def _j(m):
    """Hedges' exact correction J(m) = Γ(m/2) / (√(m/2) Γ((m-1)/2))."""
    return np.exp(special.gammaln(m / 2) - special.gammaln((m - 1) / 2)) / np.sqrt(m / 2)


def _row(effects, study_id, window, measure):
    sel = effects[(effects["study_id"] == study_id) & (effects["window"] == window)
                  & (effects["measure"] == measure) & (effects["review_role"] == "primary")]
    assert len(sel) == 1
    return sel.iloc[0]


# --------------------------------------------------------------------- covariances by hand


def test_covariance_md_arm_level_by_hand():
    # Gudeman 1997: SDs 5.6 / 4.1 at the end of treatment, 6.3 / 8.0 one month after, n 20/20
    cov = cu.covariance_md(5.6, 4.1, 6.3, 8.0, 20, 20, 0.5)
    assert cov == pytest.approx(0.5 * (5.6 * 6.3 / 20 + 4.1 * 8.0 / 20), rel=1e-14)
    assert cov == pytest.approx(1.702, rel=1e-12)
    # Var(MD2 - MD1) = v1 + v2 - 2 cov = 2.4085 + 5.1845 - 3.404
    res = cu.change_in_effect(3.7, 2.4085, 1.8, 5.1845, cov)
    assert res["var"] == pytest.approx(4.189, rel=1e-12)
    assert res["change"] == pytest.approx(-1.9, rel=1e-12)
    assert res["ci_lb"] == pytest.approx(-1.9 - Z95 * math.sqrt(4.189), rel=1e-12)
    assert res["pval"] == pytest.approx(2 * stats.norm.sf(1.9 / math.sqrt(4.189)), rel=1e-12)


def test_covariance_md_correlated_estimates_by_hand():
    cov = cu.covariance_md(5.6, 4.1, 6.3, 8.0, 20, 20, 0.5, variant="correlated_estimates")
    assert cov == pytest.approx(0.5 * math.sqrt(2.4085 * 5.1845), rel=1e-12)


def test_covariance_md_variants_agree_when_the_sd_ratio_is_the_same():
    # synthetic: sd_t / sd_c is 2 at both time points
    a = cu.covariance_md(4.0, 2.0, 6.0, 3.0, 15, 12, 0.7)
    b = cu.covariance_md(4.0, 2.0, 6.0, 3.0, 15, 12, 0.7, variant="correlated_estimates")
    assert a == pytest.approx(b, rel=1e-13)


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.floats(0.1, 50)] * 4), st.integers(2, 300), st.integers(2, 300),
       st.floats(0, 1))
def test_arm_level_covariance_never_exceeds_the_correlated_estimates_one(sds, n_t, n_c, rho):
    """Cauchy-Schwarz: ρ(a1 a2 + b1 b2) <= ρ √((a1² + b1²)(a2² + b2²)) for ρ >= 0."""
    a = cu.covariance_md(*sds, n_t, n_c, rho)
    b = cu.covariance_md(*sds, n_t, n_c, rho, variant="correlated_estimates")
    assert a <= b * (1 + 1e-12)


def test_covariance_smd_gleser_olkin_by_hand():
    # synthetic: g 0.5 and 0.3, n 10/10, rho 0.5: 0.5 (0.1 + 0.1) + 0.25 * 0.15 / 40
    assert cu.covariance_smd(0.5, 0.3, 10, 10, 0.5) == pytest.approx(0.1009375, rel=1e-14)
    # at rho = 1 and g1 = g2 it is metafor's LS variance 1/n_t + 1/n_c + g²/(2N)
    assert cu.covariance_smd(0.7, 0.7, 14, 11, 1.0) == pytest.approx(
        1 / 14 + 1 / 11 + 0.49 / 50, rel=1e-14)


def test_covariance_smd_reproduces_metafor_gleser_olkin_example_and_the_chapter_qe():
    """Gleser & Olkin (2009), multiple-endpoint example as in metafor's own test: the
    covariance per school, then the multivariate common-effect model's QE (19.62 on page
    371 of the chapter) computed here by generalised least squares."""
    go = REF["gleser_olkin"]
    n1, n2, r = (np.array(go[k], float) for k in ("n1i", "n2i", "ri"))
    y1, y2 = np.array(go["yi_math"]), np.array(go["yi_reading"])
    cov = cu.covariance_smd(y1, y2, n1, n2, r)
    np.testing.assert_allclose(cov, go["covi_exact"], rtol=1e-12)
    # the model on the rounded values, as metafor's test
    cov_r = np.round(cov, 4)
    y = np.column_stack([y1, y2]).ravel()
    v_blocks = [np.array([[a, c], [c, b]])
                for a, b, c in zip(go["vi_math"], go["vi_reading"], cov_r)]
    big_v = np.zeros((14, 14))
    for i, block in enumerate(v_blocks):
        big_v[2 * i:2 * i + 2, 2 * i:2 * i + 2] = block
    x = np.tile(np.eye(2), (7, 1))
    w = np.linalg.inv(big_v)
    beta = np.linalg.solve(x.T @ w @ x, x.T @ w @ y)
    resid = y - x @ beta
    qe = resid @ w @ resid
    np.testing.assert_allclose(beta, go["coef"], rtol=1e-8)
    np.testing.assert_allclose(qe, go["QE"], rtol=1e-10)
    # the chapter prints 19.62 (metafor's test notes the same); agreement to its last digit
    assert abs(qe - go["QE_chapter"]) < 0.01


@pytest.mark.parametrize("n_t, n_c, d1, d2, rho", [(40, 40, 1.5, 1.5, 0.8),
                                                   (40, 40, 1.5, 1.0, 0.5)])
def test_covariance_smd_matches_a_simulation(n_t, n_c, d1, d2, rho):
    """Second check of Gleser-Olkin: 40,000 simulated trials (synthetic, fixed seed) with
    bivariate normal outcomes correlating rho within each arm. The simulated covariance of
    Hedges' g at the two time points agrees with the formula within 3 Monte Carlo SEs,
    and the formula without its rho² term is rejected (so the test can fail)."""
    rng = np.random.default_rng(20240611)
    reps = 40_000
    chol = np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]]))
    xt = rng.standard_normal((reps, n_t, 2)) @ chol.T + np.array([d1, d2])
    xc = rng.standard_normal((reps, n_c, 2)) @ chol.T
    sp = np.sqrt(((n_t - 1) * xt.var(1, ddof=1) + (n_c - 1) * xc.var(1, ddof=1))
                 / (n_t + n_c - 2))
    g = _j(n_t + n_c - 2) * (xt.mean(1) - xc.mean(1)) / sp
    prod = (g[:, 0] - g[:, 0].mean()) * (g[:, 1] - g[:, 1].mean())
    simulated, mc_se = prod.mean() * reps / (reps - 1), prod.std(ddof=1) / math.sqrt(reps)
    formula = cu.covariance_smd(d1, d2, n_t, n_c, rho)
    without_rho2 = rho * (1 / n_t + 1 / n_c)
    assert abs(simulated - formula) < 3 * mc_se
    assert abs(simulated - without_rho2) > 5 * mc_se


# --------------------------------------------------------------------- against vcalc()


def _vcalc_cases():
    return [(c["study_id"], c["measure"], c["covariance"], c["rho"]) for c in REF["vcalc"]]


@pytest.mark.parametrize("study_id, measure, covariance, rho", _vcalc_cases())
def test_change_in_effect_table_matches_metafor_vcalc(effects, study_id, measure,
                                                     covariance, rho):
    case = next(c for c in REF["vcalc"] if (c["study_id"], c["measure"], c["covariance"],
                                            c["rho"]) == (study_id, measure, covariance, rho))
    kw = ({"md_covariance": covariance} if measure == "MD"
          else {"smd_covariance": covariance})
    tab = cu.change_in_effect_table(effects, rho=[rho], **kw)
    r = tab[(tab["study_id"] == study_id) & (tab["measure"] == measure)].iloc[0]
    assert r["covariance"] == covariance
    np.testing.assert_allclose([r["effect_end_of_treatment"], r["effect_one_month"]],
                               case["yi"], rtol=1e-10)
    np.testing.assert_allclose(r["cov"], case["v12"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(r["se"] ** 2, case["var_change"], rtol=1e-10)
    np.testing.assert_allclose([r["ci_lb"], r["ci_ub"]], [case["ci_lb"], case["ci_ub"]],
                               rtol=1e-10)


def test_change_in_effect_table_is_a_curve_over_the_working_range(effects):
    tab = cu.change_in_effect_table(effects)
    assert set(tab["study_id"]) == {"gudeman1997", "nirschl2003"}
    for _, grp in tab.groupby(["study_id", "measure"]):
        np.testing.assert_allclose(grp["rho"], np.linspace(0, 0.95, 96), atol=1e-12)
        # a larger within-patient correlation narrows the CI of the change here
        assert grp["se"].is_monotonic_decreasing
        assert (grp["excludes_zero"] == ((grp["ci_lb"] > 0) | (grp["ci_ub"] < 0))).all()
    assert set(tab.loc[tab["measure"] == "MD", "covariance"]) == {"arm_level"}
    assert set(tab.loc[tab["measure"] == "SMD", "covariance"]) == {"gleser_olkin"}


def test_change_in_effect_table_smd_uses_gleser_olkin_with_the_table_variances(effects):
    e = _row(effects, "gudeman1997", "end_of_treatment", "SMD")
    o = _row(effects, "gudeman1997", "about_one_month", "SMD")
    tab = cu.change_in_effect_table(effects, rho=[0.6])
    r = tab[(tab["study_id"] == "gudeman1997") & (tab["measure"] == "SMD")].iloc[0]
    cov = 0.6 * (1 / 20 + 1 / 20) + 0.36 * e["yi"] * o["yi"] / 80
    assert r["cov"] == pytest.approx(cov, rel=1e-13)
    assert r["se"] == pytest.approx(math.sqrt(e["vi"] + o["vi"] - 2 * cov), rel=1e-13)


def test_arm_level_falls_back_to_correlated_estimates_without_arm_sds(effects):
    e = effects.copy()
    e.loc[e["study_id"] == "gudeman1997", ["sd_t", "sd_c"]] = np.nan
    tab = cu.change_in_effect_table(e, rho=[0.5])
    r = tab[(tab["study_id"] == "gudeman1997") & (tab["measure"] == "MD")].iloc[0]
    assert r["covariance"] == "correlated_estimates"
    assert "arm SDs not available" in r["note"]
    assert r["cov"] == pytest.approx(0.5 * math.sqrt(2.4085 * 5.1845), rel=1e-12)


def test_differing_group_sizes_use_the_larger_n_and_say_so(effects):
    e = effects.copy()
    mask = (e["study_id"] == "gudeman1997") & (e["window"] == "about_one_month")
    e.loc[mask, "n_t"] = 18.0  # synthetic drop-out
    tab = cu.change_in_effect_table(e, rho=[0.5])
    r = tab[(tab["study_id"] == "gudeman1997") & (tab["measure"] == "MD")].iloc[0]
    assert r["cov"] == pytest.approx(0.5 * (5.6 * 6.3 / 20 + 4.1 * 8.0 / 20), rel=1e-12)
    assert "n differs between time points" in r["note"]


# --------------------------------------------------------------------- roots in rho


def test_rho_roots_md_closed_form():
    # Var linear in rho: the root solves v1 + v2 - 2 rho c = (change / z)²
    d, v1, v2, c = -4.0, 12.598, 18.701, 15.3
    root = cu.rho_roots(d, v1, v2, c)
    assert root.size == 1
    assert root[0] == pytest.approx((v1 + v2 - (d / Z95) ** 2) / (2 * c), abs=1e-11)


def test_rho_roots_smd_closed_form_quadratic():
    d, v1, v2, c1, c2 = -0.5, 0.107, 0.101, 0.1, 0.0023
    root = cu.rho_roots(d, v1, v2, c1, c2)
    # c2 rho² + c1 rho - (v1 + v2 - (d/z)²) / 2 = 0
    expected = (-c1 + math.sqrt(c1**2 + 2 * c2 * (v1 + v2 - (d / Z95) ** 2))) / (2 * c2)
    assert root.size == 1
    assert root[0] == pytest.approx(expected, abs=1e-11)


def test_rho_roots_two_roots_by_hand():
    # synthetic: v1 = v2 = 0.5, Cov(rho) = rho - rho², so Var = 1 - 2 rho + 2 rho², and
    # (change / z)² = 0.7: the CI excludes 0 where 2 rho² - 2 rho + 0.3 < 0
    d = math.sqrt(0.7) * Z95
    roots = cu.rho_roots(d, 0.5, 0.5, 1.0, -1.0)
    np.testing.assert_allclose(roots, [(2 - math.sqrt(1.6)) / 4, (2 + math.sqrt(1.6)) / 4],
                               atol=1e-11)


def test_rho_thresholds_on_the_trials(effects):
    tab = cu.rho_thresholds(effects).set_index(["study_id", "measure"])
    g = tab.loc[("gudeman1997", "MD")]
    assert np.isnan(g["rho_root"]) and g["n_roots"] == 0
    assert not g["excludes_zero_at_low"] and not g["excludes_zero_at_high"]
    assert g["statement"] == "the 95% CI of the change excludes 0 for no rho in [0, 0.95]"
    # closed form for the arm-level MD root: Var = v1 + v2 - 2 rho c1
    c1 = 5.6 * 6.3 / 20 + 4.1 * 8.0 / 20
    assert (2.4085 + 5.1845 - (1.9 / Z95) ** 2) / (2 * c1) > 0.95
    n = tab.loc[("nirschl2003", "MD")]
    e, o = (_row(effects, "nirschl2003", w, "MD") for w in cu.WINDOWS)
    c1 = math.sqrt(e["vi"] * o["vi"])  # equal SDs in both arms: the two variants agree
    assert n["rho_root"] == pytest.approx((e["vi"] + o["vi"] - (4 / Z95) ** 2) / (2 * c1),
                                          abs=1e-10)
    assert n["statement"] == (f"the 95% CI of the change excludes 0 for rho above "
                              f"{n['rho_root']:.3f}")
    assert n["excludes_zero_at_high"] and not n["excludes_zero_at_low"]
    # SMD root: the quadratic of Gleser-Olkin
    e, o = (_row(effects, "gudeman1997", w, "SMD") for w in cu.WINDOWS)
    c1, c2 = 0.1, e["yi"] * o["yi"] / 80
    a = e["vi"] + o["vi"] - ((o["yi"] - e["yi"]) / Z95) ** 2
    expected = (-c1 + math.sqrt(c1**2 + 2 * c2 * a)) / (2 * c2)
    assert tab.loc[("gudeman1997", "SMD"), "rho_root"] == pytest.approx(expected, abs=1e-10)


def test_rho_thresholds_depend_on_the_named_md_variant(effects):
    arm = cu.rho_thresholds(effects).set_index(["study_id", "measure"])
    est = cu.rho_thresholds(effects, md_covariance="correlated_estimates").set_index(
        ["study_id", "measure"])
    # Gudeman's SDs differ between arms and times: the variants disagree
    assert np.isnan(arm.loc[("gudeman1997", "MD"), "rho_root"])
    root = (2.4085 + 5.1845 - (1.9 / Z95) ** 2) / (2 * math.sqrt(2.4085 * 5.1845))
    assert est.loc[("gudeman1997", "MD"), "rho_root"] == pytest.approx(root, abs=1e-10)
    assert est.loc[("gudeman1997", "MD"), "covariance"] == "correlated_estimates"


# --------------------------------------------------------------------- Fieller


def test_fieller_bounded_by_hand():
    # a = 2, b = 4, v_a = v_b = 1, c = 0, z² = 4: A = 12, B = 8, C = 0 → [0, 4/3]
    fi = cu.fieller_ratio(2, 4, 1, 1, 0, level=LEVEL_Z2)
    assert fi.kind == "bounded" and fi.ratio == 0.5
    assert fi.lower == pytest.approx(0, abs=1e-12)
    assert fi.upper == pytest.approx(4 / 3, rel=1e-12)
    # with covariance 0.5: B = 8 - 2 = 6 → [0, 1]
    fi = cu.fieller_ratio(2, 4, 1, 1, 0.5, level=LEVEL_Z2)
    assert (fi.lower, fi.upper) == (pytest.approx(0, abs=1e-12), pytest.approx(1, rel=1e-12))


def test_fieller_exclusive_by_hand():
    # a = 3, b = 1, v_a = v_b = 1, c = 0, z² = 4: A = -3, B = 3, C = 5:
    # the set is 3R² + 6R - 5 >= 0, R <= -1 - 2√6/3 or R >= -1 + 2√6/3
    fi = cu.fieller_ratio(3, 1, 1, 1, 0, level=LEVEL_Z2)
    assert fi.kind == "exclusive"
    assert fi.lower == pytest.approx(-1 - 2 * math.sqrt(6) / 3, rel=1e-12)
    assert fi.upper == pytest.approx(-1 + 2 * math.sqrt(6) / 3, rel=1e-12)
    assert fi.ratio >= fi.upper  # the estimate lies in the right half-line
    assert fi.text.startswith("(\u2212\u221e, \u22122.63] \u222a [0.633, \u221e)")


def test_fieller_unbounded_by_hand():
    # a = 1, b = 1, v_a = v_b = 1, c = 0, z² = 4: A = -3, B = 1, C = -3, D = -8 < 0
    fi = cu.fieller_ratio(1, 1, 1, 1, 0, level=LEVEL_Z2)
    assert fi.kind == "unbounded"
    assert fi.lower == -math.inf and fi.upper == math.inf
    assert fi.text == "(\u2212\u221e, \u221e)"


def test_fieller_half_line_when_b_is_exactly_on_the_edge():
    # b² = z² v_b: A = 0, with a = 1, b = 2, v_a = 1, v_b = 1, c = 0, z = 2:
    # -2 B R + C <= 0 with B = 2, C = -3 → R >= -3/4
    fi = cu.fieller_ratio(1, 2, 1, 1, 0, level=LEVEL_Z2)
    assert fi.kind == "half-line"
    assert fi.lower == pytest.approx(-0.75, rel=1e-9) and fi.upper == math.inf


def _in_fieller_set(r, a, b, va, vb, c, z):
    return (a - r * b) ** 2 <= z**2 * (va - 2 * r * c + r * r * vb)


@pytest.mark.parametrize("args", [(1.8, 3.7, 5.1845, 2.4085, 0.0),
                                  (1.8, 3.7, 5.1845, 2.4085, 3.0),
                                  (3.0, 1.0, 1.0, 1.0, 0.2),
                                  (1.0, 1.0, 1.0, 1.0, -0.5)])
def test_fieller_sets_agree_with_a_brute_force_grid(args):
    a, b, va, vb, c = args
    fi = cu.fieller_ratio(a, b, va, vb, c)
    grid = np.linspace(-20, 20, 40001)
    inside = _in_fieller_set(grid, a, b, va, vb, c, Z95)
    if fi.kind == "bounded":
        claimed = (grid >= fi.lower) & (grid <= fi.upper)
    elif fi.kind == "exclusive":
        claimed = (grid <= fi.lower) | (grid >= fi.upper)
    else:
        claimed = np.ones_like(grid, dtype=bool)
    near_edge = np.minimum(np.abs(grid - fi.lower), np.abs(grid - fi.upper)) < 1e-9
    assert np.array_equal(inside[~near_edge], claimed[~near_edge])


def test_share_remaining_on_the_trials(effects):
    tab = cu.share_remaining(effects, rho=(0.0, 0.5))
    g = tab[(tab["study_id"] == "gudeman1997") & (tab["rho"] == 0.5)].iloc[0]
    assert g["ratio"] == pytest.approx(1.8 / 3.7, rel=1e-12)
    fi = cu.fieller_ratio(1.8, 3.7, 5.1845, 2.4085, 0.5 * (5.6 * 6.3 + 4.1 * 8.0) / 20)
    assert (g["lower"], g["upper"], g["kind"]) == (pytest.approx(fi.lower, rel=1e-12),
                                                   pytest.approx(fi.upper, rel=1e-12),
                                                   "bounded")
    assert g["interval"] == fi.text
    assert set(tab["study_id"]) == {"gudeman1997", "nirschl2003"}


# --------------------------------------------------------------------- bad input


@pytest.mark.parametrize("rho", [1.2, -1.5])
def test_rho_outside_minus_one_to_one_is_refused(rho):
    with pytest.raises(ValueError, match="rho is a correlation"):
        cu.covariance_md(1, 1, 1, 1, 10, 10, rho)
    with pytest.raises(ValueError, match="rho is a correlation"):
        cu.covariance_smd(0.5, 0.5, 10, 10, rho)


def test_negative_rho_is_allowed_in_formulas_but_not_in_curves(effects):
    assert cu.covariance_smd(0.5, 0.5, 10, 10, -0.3) == pytest.approx(
        -0.3 * 0.2 + 0.09 * 0.25 / 40, rel=1e-14)
    with pytest.raises(ValueError, match=r"working range \[0, 0.95\]"):
        cu.change_in_effect_table(effects, rho=[-0.1, 0.5])
    with pytest.raises(ValueError, match=r"working range \[0, 0.95\]"):
        cu.change_in_effect_table(effects, rho=[0.99])
    with pytest.raises(ValueError, match=r"working range"):
        cu.share_remaining(effects, rho=[0.97])
    with pytest.raises(ValueError, match="rho_range must have low < high"):
        cu.rho_roots(-1.0, 1.0, 1.0, 0.5, rho_range=(0.9, 0.1))


@pytest.mark.parametrize("kwargs, name", [({"v1": 0.0}, "v1"), ({"v2": -1.0}, "v2")])
def test_non_positive_variances_are_refused(kwargs, name):
    args = {"y1": 1.0, "v1": 1.0, "y2": 0.5, "v2": 1.0, "cov": 0.2} | kwargs
    with pytest.raises(ValueError, match=f"{name} must be > 0"):
        cu.change_in_effect(**args)


def test_a_covariance_leaving_no_variance_is_refused():
    with pytest.raises(ValueError, match="non-positive variance"):
        cu.change_in_effect(1.0, 1.0, 0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="sd_t2 must be > 0"):
        cu.covariance_md(1, 1, 0, 1, 10, 10, 0.5)
    with pytest.raises(ValueError, match="variant must be one of"):
        cu.covariance_md(1, 1, 1, 1, 10, 10, 0.5, variant="pooled")


def test_fieller_bad_input():
    with pytest.raises(ValueError, match="b \\(the denominator\\) is 0"):
        cu.fieller_ratio(1, 0, 1, 1, 0)
    with pytest.raises(ValueError, match="cov_ab = 2 is impossible"):
        cu.fieller_ratio(1, 1, 1, 1, 2)
    with pytest.raises(ValueError, match="v_b must be > 0"):
        cu.fieller_ratio(1, 1, 1, 0, 0)


def test_a_trial_without_both_time_points_is_named(effects):
    e = effects.copy()
    e.loc[(e["study_id"] == "gudeman1997") & (e["window"] == "about_one_month"),
          "estimable"] = False
    with pytest.raises(ValueError, match="'gudeman1997' has no estimable MD at about_one_month"):
        cu.change_in_effect_table(e, study_ids=["gudeman1997"])
    with pytest.raises(ValueError, match="'neeter2003' has no estimable MD at "
                                         "end_of_treatment and about_one_month"):
        cu.rho_thresholds(effects, study_ids=["neeter2003"])
    # without study_ids, the trial is left out
    assert set(cu.change_in_effect_table(e)["study_id"]) == {"nirschl2003"}


def test_bad_rows_of_the_effects_table_are_named(effects):
    e = effects.copy()
    idx = e.index[(e["study_id"] == "nirschl2003") & (e["window"] == "about_one_month")
                  & (e["measure"] == "MD")][0]
    e.loc[idx, "vi"] = 0.0
    with pytest.raises(ValueError, match=rf"effects row {idx} \(Nirschl 2003, "
                                         r"about_one_month, MD\): vi must be finite and > 0"):
        cu.change_in_effect_table(e)
    with pytest.raises(ValueError, match="effects lacks the column\\(s\\) vi"):
        cu.change_in_effect_table(effects.drop(columns="vi"))
    with pytest.raises(ValueError, match="md_covariance must be one of"):
        cu.rho_thresholds(effects, md_covariance="arm")


# --------------------------------------------------------------------- TOST


def _sample(mean, sd, n):
    """Synthetic raw data with exactly this mean and SD (ddof 1)."""
    x = np.linspace(-1, 1, int(n))
    x = (x - x.mean()) / x.std(ddof=1)
    return mean + sd * x


def test_tost_normal_matches_statsmodels_ztost_on_data_with_gudemans_summary():
    # one month: 7.4 (6.3) vs 5.6 (8.0), n 20/20; equal n, so the pooled-variance z test
    # of statsmodels has the same SE as the unpooled MD variance of the effects table
    x1, x2 = _sample(7.4, 6.3, 20), _sample(5.6, 8.0, 20)
    se = math.sqrt(6.3**2 / 20 + 8.0**2 / 20)
    cm = CompareMeans(DescrStatsW(x1), DescrStatsW(x2))
    for margin in (2.0, 3.0, 6.0):  # synthetic margins
        p, lower, upper = cm.ztost_ind(-margin, margin, usevar="pooled")
        res = cu.tost(1.8, se, margin)
        assert res["p_tost"] == pytest.approx(p, rel=1e-9)
        assert res["p_lower"] == pytest.approx(lower[1], rel=1e-9)
        assert res["p_upper"] == pytest.approx(upper[1], rel=1e-9)
        assert res["equivalent"] == (p < 0.05)
        assert res["dist"] == "normal"


def test_tost_t_matches_statsmodels_ttost_ind_on_data_with_nirschls_summary(effects):
    r = _row(effects, "nirschl2003", "about_one_month", "MD")
    x1, x2 = _sample(24, r["sd_t"], 99), _sample(19, r["sd_c"], 100)
    for margin in (15.0, 20.0):  # the journal-club summary's 15 to 20 mm (secondary)
        p, lower, upper = ttost_ind(x1, x2, -margin, margin, usevar="pooled")
        res = cu.tost(r["yi"], math.sqrt(r["vi"]), margin, df=197)
        assert res["p_tost"] == pytest.approx(p, rel=1e-8)
        assert res["p_lower"] == pytest.approx(lower[1], rel=1e-8)
        assert res["p_upper"] == pytest.approx(upper[1], rel=1e-8)
        assert lower[2] == upper[2] == 197


@pytest.mark.parametrize("case", REF["tost"], ids=lambda c: f"{c['study_id']}-{c['margin']}")
def test_tost_matches_r(case):
    df = case["df"]
    res = cu.tost(case["estimate"], case["se"], case["margin"], df=df)
    v = case["value"]
    for key in ("p_lower", "p_upper", "p_tost", "ci_lb", "ci_ub"):
        assert res[key] == pytest.approx(v[key], rel=1e-9), key
    assert cu.smallest_equivalence_margin(case["estimate"], case["se"], df=df) == (
        pytest.approx(v["smallest_margin"], rel=1e-12))


def test_smallest_margin_is_where_equivalence_starts():
    est, se = 1.8, math.sqrt(5.1845)
    m = cu.smallest_equivalence_margin(est, se)
    assert m == pytest.approx(1.8 + stats.norm.ppf(0.95) * se, rel=1e-12)
    assert not cu.tost(est, se, m * (1 - 1e-9))["equivalent"]
    assert cu.tost(est, se, m * (1 + 1e-9))["equivalent"]
    assert cu.tost(est, se, m)["p_tost"] == pytest.approx(0.05, rel=1e-9)


@pytest.mark.parametrize("margin", [0.0, -2.0])
def test_tost_refuses_a_non_positive_margin(margin):
    with pytest.raises(ValueError, match="margin must be > 0"):
        cu.tost(1.0, 1.0, margin)


def test_tost_refuses_bad_se_alpha_df():
    with pytest.raises(ValueError, match="se must be > 0"):
        cu.tost(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="alpha must lie in"):
        cu.tost(1.0, 1.0, 1.0, alpha=0.5)
    with pytest.raises(ValueError, match="df must be a positive number"):
        cu.tost(1.0, 1.0, 1.0, df=0)


def test_equivalence_table_on_the_trials(effects):
    tab = cu.equivalence_at_one_month(
        effects, units={"maryland_foot_score": "points", "pain_vas": "mm"},
        margins={"pain_vas": (15.0, "journal-club summary, secondary")}).set_index("study_id")
    g, n = tab.loc["gudeman1997"], tab.loc["nirschl2003"]
    # Gudeman: no margin, normal; smallest margin = upper bound of the 90% CI
    assert g["dist"] == "normal" and np.isnan(g["df"]) and pd.isna(g["equivalent"])
    assert g["smallest_margin"] == pytest.approx(1.8 + stats.norm.ppf(0.95) * math.sqrt(5.1845))
    assert g["units"] == "points"
    assert g["ci95_ub"] == pytest.approx(1.8 + Z95 * math.sqrt(5.1845), rel=1e-12)
    # Nirschl: SE recovered from p with t, so t with 197 df
    assert n["dist"] == "t" and n["df"] == 197
    case = REF["tost"][0]["value"]
    assert n["p_tost"] == pytest.approx(case["p_tost"], rel=1e-9)
    assert bool(n["equivalent"]) and n["margin"] == 15.0
    assert n["margin_source"] == "journal-club summary, secondary"
    assert n["ci95_lb"] == pytest.approx(5 - stats.t.ppf(0.975, 197) * n["se"], rel=1e-12)


def test_equivalence_table_in_smd_units_is_normal(effects):
    tab = cu.equivalence_at_one_month(effects, measure="SMD",
                                      margins={"pain_vas": (0.5, "synthetic SMD margin")})
    n = tab.set_index("study_id").loc["nirschl2003"]
    assert n["dist"] == "normal" and n["units"] == "SD"
    assert n["p_tost"] == pytest.approx(cu.tost(n["estimate"], n["se"], 0.5)["p_tost"])


def test_equivalence_table_bad_margins(effects):
    with pytest.raises(ValueError, match=r"margins\['pain_vas'\]: the margin must be a number > 0"):
        cu.equivalence_at_one_month(effects, margins={"pain_vas": (0.0, "x")})
    with pytest.raises(ValueError, match="margins: no outcome_id 'pain_vass'"):
        cu.equivalence_at_one_month(effects, margins={"pain_vass": (15.0, "x")})
    with pytest.raises(ValueError, match=r"margins\['pain_vas'\] must be \(margin, source text\)"):
        cu.equivalence_at_one_month(effects, margins={"pain_vas": 15.0})


# --------------------------------------------------------------------- thresholds


def _hyp_vi(g, n_t, n_c):
    return 1 / n_t + 1 / n_c + g**2 / (2 * (n_t + n_c))


def _pooled(y, v, g, n_t, n_c, method, knha):
    s = pool_batch(np.array([y, g]), np.array([v, _hyp_vi(g, n_t, n_c)]), method=method,
                   knha=knha).summary.iloc[0]
    return s


def _state(s, curve):
    return float(s[curve]) > 0


@pytest.fixture(scope="module")
def unpublished(effects):
    from analysis.data import load_package
    from analysis.paths import DATA_DIR
    pkg = load_package(DATA_DIR)
    return cu.thresholds_for_unpublished_trials(
        effects, pkg.arms, pkg.studies, models=(("FE", False), ("REML", False), ("REML", True)))


def test_unpublished_trials_and_their_group_sizes(unpublished):
    base = unpublished.baseline
    assert set(base["study_id"]) == {"neeter2003", "osborne2006"}
    assert set(base["window"]) == set(cu.WINDOWS)
    neeter = base[base["study_id"] == "neeter2003"]
    assert (neeter[["n_t", "n_c"]].to_numpy() == [14, 11]).all()
    assert neeter["group_sizes"].str.contains("n randomised 14/11, reported").all()
    assert not neeter["group_sizes_assumed"].any()
    osb = base[base["study_id"] == "osborne2006"]
    assert (osb[["n_t", "n_c"]].to_numpy() == [14, 14]).all()
    assert osb["group_sizes_assumed"].all()
    assert osb["group_sizes"].str.startswith("assumption: 42 feet split equally over 3 arms").all()
    assert len(base) == 2 * 2 * 3


def test_thresholds_match_an_independent_r_implementation(unpublished):
    cr = unpublished.crossings
    for case in REF["thresholds"]:
        sel = cr[(cr["study_id"] == case["study_id"]) & (cr["window"] == case["window"])
                 & (cr["method"] == case["method"]) & (cr["knha"] == case["knha"])]
        ours = sorted(zip(sel["curve"], sel["g"]), key=lambda x: (x[0], x[1]))
        theirs = sorted(((r["curve"], r["g"]) for r in case["roots"]), key=lambda x: (x[0], x[1]))
        assert [c for c, _ in ours] == [c for c, _ in theirs], case["call"]
        np.testing.assert_allclose([g for _, g in ours], [g for _, g in theirs], atol=1e-6)


def test_threshold_curve_matches_metafor_at_fixed_points(effects):
    for case in REF["thresholds"]:
        res = cu.threshold_crossings([case["yi"]], [case["vi"]], case["n_t"], case["n_c"],
                                     method=case["method"], knha=case["knha"], step=0.25)
        curve = res.curve.set_index(res.curve["g"].round(6))
        at = case["curve_at"]
        for i, g in enumerate(at["g"]):
            r = curve.loc[round(g, 6)]
            np.testing.assert_allclose([r["estimate"], r["ci_lb"], r["ci_ub"]],
                                       [at["estimate"][i], at["ci_lb"][i], at["ci_ub"][i]],
                                       rtol=1e-5, atol=1e-6)


def test_every_threshold_flips_the_conclusion_when_pooled_again(effects, unpublished):
    """Outside the function: pool Gudeman with a trial of g = threshold ± 1e-6; the
    curve that crossed must be on opposite sides of 0, and the reported conclusions must
    be the ones found."""
    for _, c in unpublished.crossings.iterrows():
        e = _row(effects, "gudeman1997", c["window"], "SMD")
        lo = _pooled(e["yi"], e["vi"], c["g"] - 1e-6, c["n_t"], c["n_c"], c["method"], c["knha"])
        hi = _pooled(e["yi"], e["vi"], c["g"] + 1e-6, c["n_t"], c["n_c"], c["method"], c["knha"])
        assert _state(lo, c["curve"]) != _state(hi, c["curve"]), c.to_dict()
        for s, side in ((lo, "below"), (hi, "above")):
            got = ("favours dexamethasone" if s["ci_lb"] > 0 else
                   "favours placebo" if s["ci_ub"] < 0 else "no clear difference")
            assert got == c[f"conclusion_{side}"], c.to_dict()


def test_fe_threshold_by_hand():
    """Common effect: the pooled lower bound is (w1 y1 + w2 g) / W − z / √W; its root in
    g by bisection on the formula written out here."""
    e = next(c for c in REF["thresholds"] if c["method"] == "FE"
             and c["window"] == "end_of_treatment" and c["study_id"] == "neeter2003")
    y, v = e["yi"], e["vi"]

    def lower(g):
        w = np.array([1 / v, 1 / _hyp_vi(g, 14, 11)])
        return (w[0] * y + w[1] * g) / w.sum() - Z95 / math.sqrt(w.sum())

    lo, hi = -1.0, 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if lower(mid) < 0 else (lo, mid)
    res = cu.threshold_crossings([y], [v], 14, 11, method="FE")
    ci_lb = res.crossings[res.crossings["curve"] == "ci_lb"]
    assert len(ci_lb) == 1
    assert ci_lb["g"].iloc[0] == pytest.approx(lo, abs=1e-9)
    # Gudeman alone is significant; a trial below the threshold removes that
    assert res.baseline["conclusion"].iloc[0] == "favours dexamethasone"
    assert (ci_lb["change"].iloc[0], ci_lb["side"].iloc[0]) == ("loses significance", "below")


def test_threshold_stretches_cover_the_search_range(unpublished):
    for _, grp in unpublished.stretches.groupby(["study_id", "window", "method", "knha"]):
        grp = grp.sort_values("g_from")
        assert grp["g_from"].iloc[0] == -3.0 and grp["g_to"].iloc[-1] == 3.0
        assert np.array_equal(grp["g_from"].to_numpy()[1:], grp["g_to"].to_numpy()[:-1])
        assert grp["g_from_is_search_end"].tolist() == [True] + [False] * (len(grp) - 1)
        assert grp["g_to_is_search_end"].tolist() == [False] * (len(grp) - 1) + [True]


def test_no_crossing_in_the_searched_range_says_so(effects, unpublished):
    # REML with a Wald-type CI at one month: no SMD of Neeter makes the pooled result
    # significant (τ² grows with the disagreement); only the estimate changes sign
    sel = unpublished.crossings
    sel = sel[(sel["study_id"] == "neeter2003") & (sel["window"] == "about_one_month")
              & (sel["method"] == "REML") & ~sel["knha"]]
    assert list(sel["curve"]) == ["estimate"]
    # a narrow synthetic search range with no crossing at all
    e = _row(effects, "gudeman1997", "about_one_month", "SMD")
    res = cu.threshold_crossings([e["yi"]], [e["vi"]], 14, 11, g_range=(0.0, 0.1))
    assert res.crossings.empty
    assert len(res.stretches) == 1
    s = res.stretches.iloc[0]
    assert s["g_from_is_search_end"] and s["g_to_is_search_end"]
    assert s["conclusion"] == "no clear difference"
    res.baseline["study"], res.baseline["window"] = "Synthetic", "about_one_month"
    res.baseline["study_id"], res.baseline["group_sizes"] = "synthetic", "14/11"
    stretches = res.stretches.assign(study_id="synthetic", window="about_one_month")
    text = cu._threshold_sentences(cu.ThresholdResult(res.baseline, res.crossings, stretches,
                                                      res.curve))
    assert "not make the pooled result significant at any SMD searched" in text[0]
    assert "not reverse the direction of the pooled estimate at any SMD searched" in text[0]
    assert "SMDs from 0.0 to 0.1 searched" in text[0]


def test_threshold_curve_is_the_pooled_result_on_the_grid(effects):
    e = _row(effects, "gudeman1997", "end_of_treatment", "SMD")
    res = cu.threshold_crossings([e["yi"]], [e["vi"]], 14, 11, step=0.5)
    np.testing.assert_allclose(res.curve["g"], np.arange(-3, 3.01, 0.5), atol=1e-12)
    r = res.curve.iloc[3]
    s = _pooled(e["yi"], e["vi"], r["g"], 14, 11, "REML", False)
    np.testing.assert_allclose([r["estimate"], r["ci_lb"], r["ci_ub"]],
                               [s["estimate"], s["ci_lb"], s["ci_ub"]], rtol=1e-12)
    np.testing.assert_allclose(res.curve["vi_hypothetical"], _hyp_vi(res.curve["g"], 14, 11),
                               rtol=1e-12)


def test_threshold_keeps_the_smd_variance_variant(effects):
    e = _row(effects, "gudeman1997", "end_of_treatment", "SMD")
    res = cu.threshold_crossings([e["yi"]], [e["vi"]], 14, 11, smd_vtype="UB", step=0.5)
    m = 23
    j = _j(m)
    g = res.curve["g"].to_numpy()
    np.testing.assert_allclose(res.curve["vi_hypothetical"],
                               1 / 14 + 1 / 11 + (1 - (m - 2) / (m * j**2)) * g**2, rtol=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    ({"smd_vtype": "AV"}, "'AV' is refused"),
    ({"g_range": (1, -1)}, "g_range must be finite with low < high"),
    ({"step": 0}, "step must be > 0"),
    ({"xtol": 1e-6}, "xtol must be at most 1e-8"),
    ({"n_t": 1}, "n_t and n_c must be >= 2"),
    ({"vi": [0.0]}, "vi must be > 0"),
])
def test_threshold_bad_input(kwargs, message):
    args = {"yi": [0.5], "vi": [0.1], "n_t": 14, "n_c": 11} | kwargs
    with pytest.raises(ValueError, match=message):
        cu.threshold_crossings(**args)


# --------------------------------------------------------------------- findings


def _synthetic_second_trial(effects: pd.DataFrame) -> pd.DataFrame:
    """A synthetic running-injury trial with numbers at both windows, built from
    Gudeman's rows with different (invented) means; labelled synthetic."""
    rows = effects[effects["study_id"] == "gudeman1997"].copy()
    rows["study_id"] = "synthetic2024"
    rows["study"] = "Synthetic 2024"
    rows["year"] = 2024
    from analysis import effect_sizes as es
    new = []
    for _, r in rows.iterrows():
        m_t = 9.0 if r["window"] == "end_of_treatment" else 8.0  # synthetic
        m_c = 3.0 if r["window"] == "end_of_treatment" else 6.5  # synthetic
        func = es.mean_difference if r["measure"] == "MD" else es.hedges_g
        eff = func(m_t, r["sd_t"], 30, m_c, r["sd_c"], 30)
        y, v = float(np.ravel(eff.yi)[0]), float(np.ravel(eff.vi)[0])
        new.append(r.to_dict() | {"mean_t": m_t, "mean_c": m_c, "n_t": 30.0, "n_c": 30.0,
                                  "yi": y, "vi": v, "se": math.sqrt(v),
                                  "ci_lb": y - Z95 * math.sqrt(v), "ci_ub": y + Z95 * math.sqrt(v)})
    return pd.concat([effects, pd.DataFrame(new)], ignore_index=True)


def test_findings_on_the_trials_come_from_the_tables(pkg, effects, unpublished):
    units = {"maryland_foot_score": "points", "pain_vas": "mm"}
    rt = cu.rho_thresholds(effects)
    eq = cu.equivalence_at_one_month(effects, units=units)
    text = cu.catchup_findings(rt, cu.share_remaining(effects), eq, unpublished, units=units)
    joined = "\n".join(text)
    assert ("Gudeman 1997 (Maryland Foot Score, change from baseline): the mean difference "
            "went from 3.7 points at the end of treatment to 1.8 points") in joined
    assert "excludes 0 for no rho in [0, 0.95]" in joined
    nir = rt[(rt["study_id"] == "nirschl2003") & (rt["measure"] == "MD")].iloc[0]
    assert f"for rho above {nir['rho_root']:.3f}" in joined
    g_eq = eq.set_index("study_id").loc["gudeman1997"]
    assert f"wider than \u00b1{g_eq['smallest_margin']:.2f} points" in joined
    # one sentence per unpublished trial × window × model
    assert sum(s.startswith(("Neeter 2003 at", "Osborne & Allison 2006 at")) for s in text) == 12
    assert any("Osborne & Allison 2006 at the end of treatment" in s and "assumption: 42 feet"
               in s for s in text)
    # the REML Hartung-Knapp window of significance at one month, from the stretches
    st_ = unpublished.stretches
    hk = st_[(st_["study_id"] == "neeter2003") & (st_["window"] == "about_one_month")
             & (st_["method"] == "REML") & st_["knha"]
             & (st_["conclusion"] == "favours dexamethasone")].iloc[0]
    assert (f"significant (favours dexamethasone) if its SMD were between "
            f"{hk['g_from']:.3f} and {hk['g_to']:.3f}") in joined


def test_findings_stay_true_with_a_second_estimable_running_injury_trial(pkg):
    """Synthetic: a second running-injury trial with numbers at both windows. The
    sentences must name it, the thresholds must pool with two trials, and nothing typed
    about Gudeman alone may remain."""
    from analysis.trial_effects import continuous_effects
    effects = _synthetic_second_trial(continuous_effects(pkg))
    rt = cu.rho_thresholds(effects)
    assert set(rt["study_id"]) == {"gudeman1997", "nirschl2003", "synthetic2024"}
    th = cu.thresholds_for_unpublished_trials(effects, pkg.arms, pkg.studies, step=0.01)
    assert (th.baseline["k"] == 2).all()
    text = cu.catchup_findings(rt, cu.share_remaining(effects),
                               cu.equivalence_at_one_month(effects), th)
    syn = rt[(rt["study_id"] == "synthetic2024") & (rt["measure"] == "MD")].iloc[0]
    assert any(s.startswith("Synthetic 2024 (Maryland Foot Score") and syn["statement"] in s
               for s in text)
    assert any(s.startswith("Synthetic 2024 at about one month: MD 1.50") for s in text)
    for _, b in th.baseline.iterrows():
        assert any(f"pooled SMD of {b['estimate']:.2f}".replace("-", "\u2212") in s
                   for s in text)
    # re-pool the two estimable trials outside: the baseline is their REML pool
    eot = effects[(effects["measure"] == "SMD") & (effects["window"] == "end_of_treatment")
                  & effects["estimable"] & (effects["scope"] == "running_injury")]
    s = pool_batch(eot["yi"].to_numpy(), eot["vi"].to_numpy(), method="REML").summary.iloc[0]
    b = th.baseline[(th.baseline["window"] == "end_of_treatment") & ~th.baseline["knha"]].iloc[0]
    assert b["estimate"] == pytest.approx(s["estimate"], rel=1e-12)


def test_a_trial_whose_numbers_are_added_gets_no_threshold(pkg):
    """Synthetic Neeter numbers make it estimable: it leaves the threshold analysis."""
    from analysis.trial_effects import continuous_effects
    effects = continuous_effects(pkg)
    e = effects.copy()
    mask = (e["study_id"] == "neeter2003") & (e["measure"] == "SMD") & e["window"].isin(cu.WINDOWS)
    e.loc[mask, ["yi", "vi", "estimable"]] = [0.4, 0.17, True]  # synthetic
    th = cu.thresholds_for_unpublished_trials(e, pkg.arms, pkg.studies, step=0.01)
    assert set(th.baseline["study_id"]) == {"osborne2006"}
    assert (th.baseline["k"] == 2).all()
