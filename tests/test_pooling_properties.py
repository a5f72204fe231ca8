"""Properties of analysis.pooling that must hold for any data (hypothesis), and input checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.pooling import (
    METHODS,
    SUMMARY_COLUMNS,
    ConvergenceWarning,
    PoolResult,
    pool,
    pool_batch,
)

RANDOM = ("REML", "ML", "DL", "PM", "HE", "SJ", "SJIT")

effects = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
variances = st.floats(1e-3, 5, allow_nan=False, allow_infinity=False)


@st.composite
def meta_analysis(draw, min_k=1, max_k=12):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(effects, min_size=k, max_size=k))
    vi = draw(st.lists(variances, min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


@st.composite
def batches(draw):
    n_groups = draw(st.integers(1, 6))
    ys, vs, gs = [], [], []
    for g in range(n_groups):
        y, v = draw(meta_analysis(max_k=8))
        ys.append(y)
        vs.append(v)
        gs.extend([f"g{g}"] * y.size)
    order = draw(st.permutations(range(len(gs))))  # interleave the groups' rows
    y, v, g = np.concatenate(ys), np.concatenate(vs), np.array(gs, dtype=object)
    return y[order], v[order], g[order]


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _quiet_pool(*args, **kw):
    """pool_batch, tolerating the (reported) rare Fisher-scoring non-convergence."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pool_batch(*args, **kw)


@SETTINGS
@given(y=effects, v=variances, method=st.sampled_from(METHODS), knha=st.booleans())
def test_one_study_pools_to_itself(y, v, method, knha):
    res = pool([y], [v], method=method, knha=knha)
    assert res.k == 1
    assert res.estimate == y
    assert res.se == pytest.approx(math.sqrt(v), rel=1e-15)
    assert res.df is None  # z interval even under knha, as metafor
    assert list(res.weights) == [1.0]
    assert math.isnan(res.q) and math.isnan(res.i2) and math.isnan(res.pi_lb)
    assert any(n.startswith("k = 1") for n in res.notes)


@SETTINGS
@given(data=batches(), method=st.sampled_from(METHODS), knha=st.booleans())
def test_weights_sum_to_one_per_group_and_ci_contains_estimate(data, method, knha):
    y, v, g = data
    out = _quiet_pool(y, v, g, method=method, knha=knha)
    s = out.summary
    ok = s.set_index("group")["converged"]
    sums = pd.Series(out.weights).groupby(g).sum()
    for label, total in sums.items():
        if ok[label]:
            assert total == pytest.approx(1.0, abs=1e-12)
    assert (out.weights[np.isin(g, ok[ok].index)] >= 0).all()
    good = s[s["converged"]]
    assert (good["ci_lb"] <= good["estimate"]).all()
    assert (good["estimate"] <= good["ci_ub"]).all()
    if method not in ("FE", "EE", "CE"):
        multi = good[good["k"] >= 2]
        assert (multi["pi_lb"] <= multi["ci_lb"] + 1e-12).all()
        assert (multi["tau2"] >= 0).all()


@SETTINGS
@given(data=meta_analysis(min_k=2), method=st.sampled_from(RANDOM), knha=st.booleans())
def test_random_equals_common_when_tau2_is_zero(data, method, knha):
    y, v = data
    re = _quiet_pool(y, v, method=method, knha=knha).summary.iloc[0]
    fe = pool_batch(y, v, method="FE", knha=knha).summary.iloc[0]
    if re["converged"] and re["tau2"] == 0.0:
        for key in ("estimate", "se", "ci_lb", "ci_ub", "pval", "q"):
            assert re[key] == pytest.approx(fe[key], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("method", RANDOM)
def test_identical_estimates_give_tau2_zero_and_the_common_effect(method):
    y = np.full(6, 0.4)
    v = np.array([0.1, 0.2, 0.05, 0.3, 0.15, 0.12])
    re = pool(y, v, method=method)
    fe = pool(y, v, method="FE")
    assert re.tau2 == 0.0
    assert re.estimate == pytest.approx(fe.estimate, rel=1e-15)
    assert re.se == pytest.approx(fe.se, rel=1e-15)
    assert re.i2 == 0.0 and re.h2 == 1.0


@SETTINGS
@given(data=batches(), method=st.sampled_from(METHODS), knha=st.booleans(),
       tau2_ci=st.booleans())
def test_batch_equals_loop_of_single_pools(data, method, knha, tau2_ci):
    y, v, g = data
    out = _quiet_pool(y, v, g, method=method, knha=knha, tau2_ci=tau2_ci).summary
    for _, row in out.iterrows():
        sel = g == row["group"]
        one = _quiet_pool(y[sel], v[sel], method=method, knha=knha, tau2_ci=tau2_ci)
        single = one.summary.iloc[0]
        for col in SUMMARY_COLUMNS[1:]:
            a, b = row[col], single[col]
            if isinstance(a, float) and math.isnan(a):
                assert math.isnan(b), col
            elif isinstance(a, float):
                # same formulas; only the summation order of numpy reductions differs
                assert a == pytest.approx(b, rel=1e-9, abs=1e-12), col
            else:
                assert a == b, col


@SETTINGS
@given(data=meta_analysis(min_k=2), method=st.sampled_from(METHODS), knha=st.booleans(),
       perm_seed=st.integers(0, 2**32 - 1))
def test_permuting_studies_changes_nothing(data, method, knha, perm_seed):
    y, v = data
    perm = np.random.default_rng(perm_seed).permutation(y.size)
    a = _quiet_pool(y, v, method=method, knha=knha, tau2_ci=True)
    b = _quiet_pool(y[perm], v[perm], method=method, knha=knha, tau2_ci=True)
    ra, rb = a.summary.iloc[0], b.summary.iloc[0]
    assert ra["converged"] == rb["converged"]
    for col in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "i2", "q", "pi_lb",
                "tau2_ci_lb", "tau2_ci_ub"):
        if math.isnan(ra[col]):
            assert math.isnan(rb[col])
        else:
            # iterative estimators stop at a tolerance; summation order changes rounding
            assert ra[col] == pytest.approx(rb[col], rel=1e-6, abs=1e-7), col
    np.testing.assert_allclose(a.weights[perm], b.weights, rtol=1e-6, atol=1e-9)


# ---- small k, options and notes ---------------------------------------------------


def test_k2_knha_uses_t_with_one_df_and_says_so():
    res = pool([0.1, 0.5], [0.02, 0.03], knha=True)
    assert res.df == 1.0
    assert any("k = 2" in n and "1 df" in n for n in res.notes)
    half = (res.ci_ub - res.ci_lb) / 2
    assert half == pytest.approx(12.706204736174705 * res.se, rel=1e-9)  # qt(0.975, 1)


def test_higgins2009_needs_three_studies():
    res = pool([0.1, 0.5], [0.02, 0.03], pi_method="higgins2009")
    assert math.isnan(res.pi_lb) and any("k >= 3" in n for n in res.notes)
    res3 = pool([0.1, 0.5, 0.9], [0.02, 0.03, 0.01], pi_method="higgins2009")
    ref3 = pool([0.1, 0.5, 0.9], [0.02, 0.03, 0.01])
    assert res3.pi_ub - res3.pi_lb > ref3.pi_ub - ref3.pi_lb  # t(1) wider than z


def test_common_effect_has_no_tau2_or_prediction_interval():
    res = pool([0.1, 0.5, 0.3], [0.02, 0.03, 0.05], method="FE")
    assert res.tau2 == 0 and res.tau2_se is None
    assert math.isnan(res.pi_lb) and math.isnan(res.tau2_ci_ub) and math.isnan(res.i2_ci_lb)
    assert not math.isnan(res.q) and not math.isnan(res.i2)


def test_level_changes_interval_width():
    y, v = [0.1, 0.5, 0.3, -0.2], [0.02, 0.03, 0.05, 0.04]
    r95, r80 = pool(y, v, level=0.95), pool(y, v, level=0.80)
    assert r80.estimate == r95.estimate
    assert r80.ci_ub - r80.ci_lb < r95.ci_ub - r95.ci_lb


def test_nonconvergence_names_the_group():
    y = [0.1, 0.9, -0.4, 0.5, 0.2, 1.3]
    v = [0.02, 0.03, 0.05, 0.04, 0.01, 0.06]
    g = ["ok"] * 3 + ["slow"] * 3
    with pytest.warns(ConvergenceWarning, match="'slow'") as rec:
        out = pool_batch(np.r_[[0.1, 0.1, 0.1], y[3:]], v, g, control={"maxiter": 1})
    assert "'ok'" not in str(rec[0].message)
    s = out.summary.set_index("group")
    assert s.loc["ok", "converged"] and not s.loc["slow", "converged"]
    assert "did not converge" in s.loc["slow", "notes"]
    assert math.isnan(s.loc["slow", "estimate"])
    assert not math.isnan(s.loc["ok", "estimate"])


def test_group_order_is_first_appearance_and_weights_align_with_rows():
    y = np.array([0.1, 0.9, 0.2, 1.1, 0.3])
    v = np.array([0.01, 0.02, 0.01, 0.02, 0.04])
    g = np.array(["b", "a", "b", "a", "b"])
    out = pool_batch(y, v, g, method="FE")
    assert list(out.summary["group"]) == ["b", "a"]
    assert list(out.summary.columns[:25]) == list(SUMMARY_COLUMNS[:25])
    w = 1 / v
    expected = np.where(g == "b", w / w[g == "b"].sum(), w / w[g == "a"].sum())
    np.testing.assert_allclose(out.weights, expected, rtol=1e-14)


def test_to_dict_is_json_safe():
    res = pool([0.2], [0.05])
    d = res.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["q"] is None
    assert d["weights"] == [1.0] and isinstance(d["notes"], list)
    assert isinstance(res, PoolResult)


# ---- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yi", "vi", "message"),
    [
        ([0.1, np.nan, 0.3], [0.1, 0.1, 0.1], r"yi .* row index\(es\) 1"),
        ([0.1, 0.2, 0.3], [0.1, np.inf, 0.1], r"vi .* row index\(es\) 1"),
        ([0.1, 0.2, 0.3], [0.1, 0.0, -1.0], r"vi must be > 0.* 1, 2"),
        ([], [], "empty"),
        ([0.1, 0.2], [0.1], "differ in length"),
        ([[0.1, 0.2]], [[0.1, 0.2]], "one-dimensional"),
        (["a", "b"], [0.1, 0.2], "numeric"),
    ],
)
def test_bad_input_raises_with_the_rows(yi, vi, message):
    with pytest.raises(ValueError, match=message):
        pool(yi, vi)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="REML, ML, DL, PM, HE, SJ, SJIT, FE, EE, CE"):
        pool([0.1, 0.2], [0.1, 0.1], method="BAYES")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"i2_method": "higgins"}, "i2_method"),
        ({"pi_method": "riley"}, "pi_method"),
        ({"level": 95}, "level"),
        ({"control": {"maxit": 5}}, "control"),
    ],
)
def test_unknown_options_raise(kw, message):
    with pytest.raises(ValueError, match=message):
        pool([0.1, 0.2], [0.1, 0.1], **kw)


def test_groups_must_align_and_be_present():
    with pytest.raises(ValueError, match="groups has 1 labels"):
        pool_batch([0.1, 0.2], [0.1, 0.1], ["a"])
    with pytest.raises(ValueError, match=r"groups is missing at row index\(es\) 1"):
        pool_batch([0.1, 0.2], [0.1, 0.1], ["a", None])


def test_joined_notes_split_back_into_the_notes():
    """Notes never contain "; ", so the summary's joined string splits unambiguously."""
    import warnings

    y = [0.1, 0.5, 0, 0.01, -0.01, 0.02, 1000, 0.3]
    v = [0.02, 0.03, 0.01, 0.01, 0.01, 0.01, 0.01, 1e-9]
    g = ["two", "two", "pm", "pm", "pm", "pm", "pm", "one"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for method in ("PM", "REML"):
            for kw in ({"knha": True, "tau2_ci": False},
                       {"pi_method": "higgins2009", "tau2_ci": True}):
                s = pool_batch(y, v, g, method=method, **kw).summary
                for label, text in zip(s["group"], s["notes"]):
                    sel = [i for i, x in enumerate(g) if x == label]
                    one = pool([y[i] for i in sel], [v[i] for i in sel], method=method, **kw)
                    assert text.split("; ") == list(one.notes) if text else not one.notes
