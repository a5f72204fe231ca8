"""analysis.pooling against statsmodels 0.15 ``statsmodels.stats.meta_analysis``.

statsmodels implements the common effect, DerSimonian-Laird (method_re="chi2") and
Paule-Mandel (method_re="iterated", ``_fit_tau_iterative``), plus the HKSJ variance.
These tests run both on the same data, one meta-analysis at a time and many at once
through pool_batch, and require agreement.

Known differences, handled explicitly below:
* statsmodels' I2 is a fraction from Q, (Q - df) / Q truncated at 0: our
  ``i2_method="q"`` divided by 100.
* ``combine_effects(method_re="chi2")`` does not truncate the DerSimonian-Laird tau2
  at 0: a negative tau2 enters its random-effects weights. DerSimonian & Laird (1986)
  and metafor truncate; where statsmodels' tau2 is negative we check that ours is 0
  and that our random-effects result equals statsmodels' common-effect result.
* statsmodels' Paule-Mandel (``_fit_tau_iterative``) stops when
  |Q(tau2) - (k - 1)| < atol (1e-5 by default); metafor and we stop on the tau2
  interval (uniroot tol eps^0.25). If one of its Newton steps overshoots the root
  (seen here with atol=1e-12, not with the default) it returns tau2 = 0 with
  converged = 0 even though Q(0) > k - 1; we always check that our estimate solves
  Q(tau2) = k - 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import _fit_tau_iterative, _fit_tau_mm, combine_effects

from analysis.pooling import pool, pool_batch

# statsmodels' own sqrt of a negative HKSJ variance when its DL tau2 is negative
pytestmark = pytest.mark.filterwarnings(
    "ignore:invalid value encountered in sqrt:RuntimeWarning:statsmodels"
)


def _random_sets(seed, m=40):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(m):
        k = int(rng.integers(2, 15))
        v = rng.uniform(0.005, 0.5, k)
        tau2 = rng.choice([0.0, 0.02, 0.2, 1.0])
        y = rng.normal(rng.normal(0, 0.5), np.sqrt(v + tau2))
        out.append((y, v))
    return out


SETS = _random_sets(20240601)


@pytest.mark.parametrize("i", range(len(SETS)))
def test_dl_and_common_effect_match_combine_effects(i):
    y, v = SETS[i]
    k = y.size
    sm = combine_effects(y, v, method_re="chi2")
    dl = pool(y, v, method="DL", i2_method="q", tau2_ci=False)
    fe = pool(y, v, method="FE", tau2_ci=False)
    if sm.tau2 < 0:  # untruncated in statsmodels: compare with its common effect
        assert dl.tau2 == 0.0
        assert dl.estimate == pytest.approx(sm.mean_effect_fe, rel=1e-10)
        assert dl.se == pytest.approx(sm.sd_eff_w_fe, rel=1e-10)
        assert dl.q == pytest.approx(sm.q, rel=1e-10)
        return
    assert dl.tau2 == pytest.approx(sm.tau2, rel=1e-10, abs=1e-14)
    assert dl.estimate == pytest.approx(sm.mean_effect_re, rel=1e-10)
    assert dl.se == pytest.approx(sm.sd_eff_w_re, rel=1e-10)
    assert fe.estimate == pytest.approx(sm.mean_effect_fe, rel=1e-10)
    assert fe.se == pytest.approx(sm.sd_eff_w_fe, rel=1e-10)
    assert dl.q == pytest.approx(sm.q, rel=1e-10)
    assert dl.i2 / 100 == pytest.approx(sm.i2, rel=1e-10, abs=1e-14)
    assert dl.h2 == pytest.approx(sm.h2, rel=1e-10)
    ci_fe, ci_re, _, ci_re_hksj = sm.conf_int(alpha=0.05, use_t=False)
    np.testing.assert_allclose([dl.ci_lb, dl.ci_ub], ci_re, rtol=1e-10)
    np.testing.assert_allclose([fe.ci_lb, fe.ci_ub], ci_fe, rtol=1e-10)
    np.testing.assert_allclose(dl.weights, sm.weights_rel_re, rtol=1e-10)
    # Hartung-Knapp: statsmodels' "wls" interval with t, k - 1 df
    hk = pool(y, v, method="DL", knha=True, tau2_ci=False)
    assert hk.se == pytest.approx(np.sqrt(sm.var_hksj_re), rel=1e-10)
    _, _, _, ci_re_hksj_t = sm.conf_int(alpha=0.05, use_t=True)
    np.testing.assert_allclose([hk.ci_lb, hk.ci_ub], ci_re_hksj_t, rtol=1e-10)
    assert hk.df == k - 1


@pytest.mark.parametrize("i", range(len(SETS)))
def test_dl_tau2_matches_fit_tau_mm(i):
    y, v = SETS[i]
    tau2_sm = _fit_tau_mm(y, v, 1 / v)  # untruncated, see the module docstring
    assert pool(y, v, method="DL").tau2 == pytest.approx(max(tau2_sm, 0.0), rel=1e-10, abs=1e-14)


def _generalised_q(y, v, tau2):
    w = 1 / (v + tau2)
    mu = (w * y).sum() / w.sum()
    return (w * (y - mu) ** 2).sum()


@pytest.mark.parametrize("i", range(len(SETS)))
def test_pm_matches_fit_tau_iterative(i):
    y, v = SETS[i]
    k = y.size
    tau2_sm, converged = _fit_tau_iterative(y, v)  # statsmodels' defaults
    tight = pool(y, v, method="PM", control={"tol": 1e-12})
    default = pool(y, v, method="PM")
    if _generalised_q(y, v, 0.0) < k - 1:
        assert tau2_sm == 0 and tight.tau2 == 0.0 and default.tau2 == 0.0
        return
    assert _generalised_q(y, v, tight.tau2) == pytest.approx(k - 1, rel=1e-9)
    if converged:
        assert abs(_generalised_q(y, v, tau2_sm) - (k - 1)) < 1e-5
        assert tight.tau2 == pytest.approx(tau2_sm, rel=1e-4)
        assert default.tau2 == pytest.approx(tau2_sm, rel=1e-3)
        sm = combine_effects(y, v, method_re="iterated")
        assert default.estimate == pytest.approx(sm.mean_effect_re, rel=1e-3, abs=1e-6)
    else:
        assert tau2_sm == 0  # statsmodels' overshoot exit, see the module docstring


def test_batch_matches_a_loop_of_combine_effects():
    """All the sets in one pool_batch call against a loop of combine_effects."""
    y = np.concatenate([s[0] for s in SETS])
    v = np.concatenate([s[1] for s in SETS])
    g = np.concatenate([[i] * s[0].size for i, s in enumerate(SETS)])
    out = pool_batch(y, v, g, method="DL").summary
    for i, (yy, vv) in enumerate(SETS):
        sm = combine_effects(yy, vv, method_re="chi2")
        row = out.iloc[i]
        assert row["group"] == i
        if sm.tau2 < 0:
            assert row["tau2"] == 0.0
            assert row["estimate"] == pytest.approx(sm.mean_effect_fe, rel=1e-10)
            continue
        assert row["estimate"] == pytest.approx(sm.mean_effect_re, rel=1e-10)
        assert row["se"] == pytest.approx(sm.sd_eff_w_re, rel=1e-10)
        assert row["tau2"] == pytest.approx(sm.tau2, rel=1e-10, abs=1e-14)


def test_q_pvalue_matches_statsmodels_homogeneity_test():
    y, v = SETS[0]
    sm = combine_effects(y, v, method_re="chi2")
    res = pool(y, v, method="DL")
    assert res.q_pval == pytest.approx(stats.chi2.sf(sm.q, y.size - 1), rel=1e-10)
    assert res.q_pval == pytest.approx(sm.test_homogeneity().pvalue, rel=1e-10)
