"""analysis.pooling against R's metafor 3.8.1.

The reference values are in tests/reference/metafor_pooling.json, written by
tests/reference/metafor_pooling.R; each entry records the rma() call and the
predict()/confint() calls that produced it. R is not needed to run these tests.

Tolerances: 1e-6 relative on estimates, SEs, test statistics, p-values, CIs and
prediction intervals; 1e-5 relative on tau2 and its CI (iterative in metafor).
Documented divergences from metafor are asserted explicitly at the end.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from analysis.pooling import ConvergenceWarning, pool, pool_batch

REFERENCE = json.loads(
    (Path(__file__).parent / "reference" / "metafor_pooling.json").read_text()
)
DATASETS = REFERENCE["datasets"]
RESULTS = REFERENCE["results"]

TIGHT = ("estimate", "se", "ci_lb", "ci_ub", "stat", "pval", "q", "q_pval",
         "i2", "h2", "pi_lb", "pi_ub", "i2_ci_lb", "i2_ci_ub")
TAU2 = ("tau2", "tau2_se", "tau2_ci_lb", "tau2_ci_ub")

CONTROL = {"": None, ", control = list(maxiter = 1000)": {"maxiter": 1000}}


def _case_id(r):
    ctl = "-maxiter1000" if r.get("control") else ""
    return f"{r['dataset']}-{r['method']}-{'knha' if r['knha'] else 'z'}-{r['level']}{ctl}"


def _close(actual, expected, rtol, what):
    if expected is None:
        assert actual is None or math.isnan(actual), f"{what}: expected none, got {actual}"
        return
    assert actual is not None and not math.isnan(actual), f"{what}: got NaN, metafor {expected}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12, err_msg=what)


def _fit(r, **kw):
    ds = DATASETS[r["dataset"]]
    return pool(ds["yi"], ds["vi"], method=r["method"], knha=r["knha"], level=r["level"],
                control=CONTROL[r.get("control", "")], **kw)


def test_reference_file_is_metafor_3_8():
    assert REFERENCE["meta"]["metafor_version"] == "3.8.1"
    assert len(RESULTS) > 100


FITTED = [r for r in RESULTS if "error" not in r]
COMPARABLE = [r for r in FITTED if r["method"] != "FE" and len(DATASETS[r["dataset"]]["yi"]) > 1]


@pytest.mark.parametrize("r", FITTED, ids=_case_id)
def test_estimate_and_inference_match_metafor(r):
    res = _fit(r)
    ref = r["result"]
    assert res.converged
    assert res.k == len(DATASETS[r["dataset"]]["yi"])
    for key in ("estimate", "se", "ci_lb", "ci_ub", "stat", "pval"):
        _close(getattr(res, key), ref[key], 1e-6, f"{_case_id(r)} {key}")
    if r["knha"] and res.k > 1:
        assert res.df == ref["df"]
    else:
        assert res.df is None


@pytest.mark.parametrize("r", COMPARABLE, ids=_case_id)
def test_random_effects_heterogeneity_match_metafor(r):
    res = _fit(r)
    ref = r["result"]
    for key in TIGHT:
        _close(getattr(res, key), ref[key], 1e-6, f"{_case_id(r)} {key}")
    for key in TAU2:
        _close(getattr(res, key), ref[key], 1e-5, f"{_case_id(r)} {key}")
    assert res.q_df == ref["q_df"]


@pytest.mark.parametrize("r", [r for r in COMPARABLE if r["result"]["pi_riley_lb"] is not None],
                         ids=_case_id)
def test_higgins2009_prediction_interval_is_metafor_riley(r):
    res = _fit(r, pi_method="higgins2009")
    _close(res.pi_lb, r["result"]["pi_riley_lb"], 1e-6, "pi_lb")
    _close(res.pi_ub, r["result"]["pi_riley_ub"], 1e-6, "pi_ub")


@pytest.mark.parametrize(
    "r", [r for r in FITTED if r["method"] == "FE" and len(DATASETS[r["dataset"]]["yi"]) > 1],
    ids=_case_id,
)
def test_common_effect_heterogeneity_match_metafor(r):
    res = _fit(r)
    ref = r["result"]
    for key in ("q", "q_pval", "i2", "h2"):
        _close(getattr(res, key), ref[key], 1e-6, key)
    # common effect: tau2 = 0 by assumption (as metafor), no tau2 CI, no prediction interval
    assert res.tau2 == 0 == ref["tau2"] and res.tau2_se is None
    assert math.isnan(res.tau2_ci_lb) and math.isnan(res.pi_lb) and math.isnan(res.pi_ub)


@pytest.mark.parametrize("alias", ["EE", "CE", "fe"])
def test_common_effect_aliases(alias):
    ds = DATASETS["bcg"]
    a = pool(ds["yi"], ds["vi"], method="FE")
    b = pool(ds["yi"], ds["vi"], method=alias)
    assert b.estimate == a.estimate and b.se == a.se and b.q == a.q and b.i2 == a.i2


def test_batch_over_all_datasets_matches_metafor():
    """Every data set as one group of a single pool_batch call (padding, mixed k)."""
    names = [n for n in DATASETS if n != "fisher_nonconvergence"]
    yi = np.concatenate([DATASETS[n]["yi"] for n in names])
    vi = np.concatenate([DATASETS[n]["vi"] for n in names])
    groups = np.concatenate([[n] * len(DATASETS[n]["yi"]) for n in names])
    for method in ("REML", "ML", "DL", "PM", "HE", "SJ", "SJIT"):
        for knha in (False, True):
            if method == "PM":  # metafor stops on this one; we flag it and go on
                with pytest.warns(ConvergenceWarning, match="'pm_range_too_short'"):
                    out = pool_batch(yi, vi, groups, method=method, knha=knha, tau2_ci=True)
            else:
                out = pool_batch(yi, vi, groups, method=method, knha=knha, tau2_ci=True)
            s = out.summary.set_index("group")
            assert s["converged"].sum() == len(names) - (method == "PM")
            assert list(s.index) == names
            for r in FITTED:
                if (r["method"], r["knha"], r["level"]) != (method, knha, 0.95):
                    continue
                if r["dataset"] not in s.index or r.get("control"):
                    continue
                row = s.loc[r["dataset"]]
                for key in ("estimate", "se", "ci_lb", "ci_ub", "pval"):
                    _close(float(row[key]), r["result"][key], 1e-6, f"{r['dataset']} {key}")
                if row["k"] > 1:
                    for key in ("tau2", "tau2_ci_lb", "tau2_ci_ub"):
                        _close(float(row[key]), r["result"][key], 1e-5,
                               f"{r['dataset']} {method} {key}")
                    _close(float(row["pi_lb"]), r["result"]["pi_lb"], 1e-6, "pi_lb")


def test_i2_from_q_is_higgins_thompson():
    """i2_method='q': 100 max(0, (Q - df) / Q), H2 = Q / df, from metafor's Q."""
    for r in COMPARABLE:
        res = _fit(r, i2_method="q")
        q, df = r["result"]["q"], r["result"]["q_df"]
        np.testing.assert_allclose(res.i2, 100 * max(0.0, (q - df) / q), rtol=1e-9)
        np.testing.assert_allclose(res.h2, q / df, rtol=1e-9)


def test_dl_i2_equals_q_based_i2_when_tau2_positive():
    """For DL with tau2 > 0 the metafor I2 (tau2, vt) equals (Q - df)/Q: a cross-check of vt."""
    for r in COMPARABLE:
        if r["method"] == "DL" and r["result"]["tau2"] > 0:
            np.testing.assert_allclose(
                r["result"]["i2"], 100 * (r["result"]["q"] - r["result"]["q_df"]) / r["result"]["q"],
                rtol=1e-9,
            )
            assert _fit(r).i2 == pytest.approx(_fit(r, i2_method="q").i2, rel=1e-9)


@pytest.mark.parametrize("r", [r for r in RESULTS if "error" in r], ids=_case_id)
def test_nonconvergence_is_reported_where_metafor_stops(r):
    """metafor stops with an error; we return NaN, converged=False, a note and a warning."""
    ds = DATASETS[r["dataset"]]
    with pytest.warns(ConvergenceWarning, match="did not converge for group"):
        out = pool_batch(ds["yi"], ds["vi"], ["fisher"] * len(ds["yi"]), method=r["method"])
    row = out.summary.iloc[0]
    assert not row["converged"]
    assert "did not converge" in row["notes"]
    assert math.isnan(row["estimate"]) and math.isnan(row["tau2"])
    assert np.isnan(out.weights).all()


# ---- documented divergences from metafor -------------------------------------------


@pytest.mark.parametrize("r", [r for r in FITTED if r["dataset"] == "k1"], ids=_case_id)
def test_k1_divergence_no_heterogeneity_statistics(r):
    """k = 1: metafor reports Q = 0, p = 1, I2 = 0, H2 = 1; we report none, with a note."""
    ref = r["result"]
    assert (ref["q"], ref["q_pval"], ref["i2"], ref["h2"]) == (0, 1, 0, 1)
    assert r["knha"] is False or "Setting argument test=\"z\" since k=1." in r["warnings"]
    res = _fit(r)
    for key in ("q", "q_pval", "i2", "h2", "pi_lb", "pi_ub", "tau2_ci_lb"):
        assert math.isnan(getattr(res, key)), key
    assert any("k = 1" in n for n in res.notes)
    assert res.estimate == DATASETS["k1"]["yi"][0]
    assert res.se == pytest.approx(math.sqrt(DATASETS["k1"]["vi"][0]), rel=1e-15)
    if r["method"] != "FE":
        assert res.tau2 == 0.0


def test_metafor_warnings_recorded_for_knha_on_common_effect():
    r = next(r for r in FITTED if r["method"] == "FE" and r["knha"] and r["dataset"] == "bcg")
    assert any("not meant to be used" in w for w in r["warnings"])
    assert any("not meant for a common-effect model" in n for n in _fit(r).notes)


def test_silence_on_clean_fits():
    """No warning at all for an ordinary fit (RuntimeWarnings are errors in this suite)."""
    ds = DATASETS["bcg"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool(ds["yi"], ds["vi"], knha=True, pi_method="higgins2009")


def test_divergence_extreme_variance_ratio_is_worked_exactly_by_hand():
    """Two studies with variances 1e-24 and 1e24 (the corners of what `pool` accepts):
    Q, DerSimonian-Laird tau2 and the estimate as worked by hand in exact rational
    arithmetic from the same doubles. metafor 3.8.1 gives Q = 3 and tau2 = 2e24 here
    (Q from residuals about a rounded weighted mean, tr P as W - sum w^2 / W; recorded
    in tests/reference/metafor_control.json, case extreme_corners-DL); this engine fits
    about the most precise study and sums tr P from the other weights."""
    from fractions import Fraction as F

    yi, vi = [-1e12, 1e12], [1e-24, 1e24]
    y = [F(x) for x in yi]
    v = [F(x) for x in vi]
    w = [1 / x for x in v]
    q = w[0] * w[1] * (y[0] - y[1]) ** 2 / (w[0] + w[1])
    trp = 2 * w[0] * w[1] / (w[0] + w[1])
    tau2 = max(F(0), (q - 1) / trp)
    wt = [1 / (x + tau2) for x in v]
    estimate = (wt[0] * y[0] + wt[1] * y[1]) / (wt[0] + wt[1])
    se = math.sqrt(1 / (wt[0] + wt[1]))
    res = pool(yi, vi, method="DL")
    assert res.q == pytest.approx(float(q), rel=1e-12)  # 4
    assert res.tau2 == pytest.approx(float(tau2), rel=1e-12)  # 1.5e24
    assert res.estimate == pytest.approx(float(estimate), rel=1e-12)  # -2.5e11
    assert res.se == pytest.approx(se, rel=1e-12)
    # every estimator and test converges to finite results there (Hartung-Knapp's SE was
    # 0 and its p-value 0 / 0 when the rounding noise in Q made tau2 1.5e40; REML's
    # Fisher scoring did not converge, as metafor's does not)
    for method in ("REML", "ML", "DL", "PM", "HE", "SJ", "SJIT", "FE"):
        for knha in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = pool(yi, vi, method=method, knha=knha)
            assert r.converged, (method, knha)
            for name in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "q"):
                assert math.isfinite(getattr(r, name)), (method, knha, name)
    # for two studies REML's tau2 is (d^2 - v1 - v2) / 2 when positive, as DL's
    assert pool(yi, vi, method="REML").tau2 == pytest.approx(float((y[1] - y[0]) ** 2 - v[0] - v[1]) / 2,
                                                              rel=1e-12)
