"""Recovering SDs, SEs, means and counts that trials did not print.

Checked against Cochrane Handbook (v6.5, section 6.5.2) formulas with printed-table
quantiles, round trips through scipy's t test, the Wan/Luo formulas written out in R
(tests/reference/metafor_escalc.R; metafor::conv.fivenum is not in metafor 3.8.1), and
limits the papers state.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.effect_sizes import (
    Derived,
    events_from_percent,
    mean_from_quantiles,
    pooled_sd_from_se_of_difference,
    sd_from_ci,
    sd_from_quantiles,
    sd_from_se,
    se_from_ci,
    se_of_difference_from_p,
)

REF = json.loads((Path(__file__).parent / "reference" / "metafor_escalc.json").read_text())


def test_sd_from_se():
    d = sd_from_se(2.0, 25)
    assert isinstance(d, Derived) and d.method == "sd_from_se"
    assert d.value == pytest.approx(10.0, rel=1e-15)
    assert d.how == "SD = SE × √n = 2 × √25 = 10"
    arr = sd_from_se(np.array([1.0, 2.0]), np.array([4, 9]))
    np.testing.assert_allclose(arr.value, [2.0, 6.0])
    assert len(arr.how) == 2


def test_se_from_ci_normal_uses_3_92_for_95_percent():
    d = se_from_ci(1.0, 4.92)
    assert d.value == pytest.approx(3.92 / 3.919927969, rel=1e-9)
    assert d.method == "se_from_ci_normal"
    assert "95% CI 1 to 4.92" in d.how


def test_sd_from_ci_t_matches_handbook_table_quantile():
    # 25 participants: Handbook 6.5.2.2 divides by 2 × t(0.975, 24) = 2 × 2.064 = 4.128
    d = sd_from_ci(30.0, 34.2, 25, dist="t")
    assert d.value == pytest.approx(math.sqrt(25) * 4.2 / 4.128, rel=2e-4)
    assert d.method == "sd_from_ci_t"
    n = sd_from_ci(30.0, 34.2, 25)
    assert n.value == pytest.approx(5 * 4.2 / 3.92, rel=1e-4)
    assert n.value > d.value


def test_se_from_ci_t_for_a_difference_takes_df():
    d = se_from_ci(-1.0, 3.0, dist="t", df=45)
    assert d.value == pytest.approx(4.0 / (2 * 2.014), rel=2e-4)  # t(0.975, 45) = 2.014
    assert "45 df" in d.how
    with pytest.raises(ValueError, match="exactly one of n"):
        se_from_ci(-1.0, 3.0, dist="t")


def test_se_of_difference_from_p_t_and_normal():
    t = se_of_difference_from_p(4.0, 0.05, 25, 22)
    assert t.value == pytest.approx(4.0 / 2.014, rel=2e-4)  # t(0.975, 45)
    assert t.method == "se_from_p_t"
    z = se_of_difference_from_p(4.0, 0.05, 25, 22, dist="normal")
    assert z.value == pytest.approx(4.0 / 1.959964, rel=1e-6)
    neg = se_of_difference_from_p(-4.0, 0.05, 25, 22)
    assert neg.value == pytest.approx(t.value)
    d = se_of_difference_from_p(3.2, 0.012, 99, 100)
    assert d.how.startswith("SE of the difference recovered from p = 0.012 (two-sided), t with 197 df, n = 99/100")


@settings(max_examples=100, deadline=None)
@given(m1=st.floats(-50, 50), m2=st.floats(-50, 50), s1=st.floats(0.5, 20), s2=st.floats(0.5, 20),
       n1=st.integers(3, 300), n2=st.integers(3, 300))
def test_p_value_round_trip_recovers_pooled_sd(m1, m2, s1, s2, n1, n2):
    """A two-sample t test's p value, fed back, gives the pooled SD it came from."""
    t, p = stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=True)
    if not (1e-12 < p < 1 - 1e-9) or abs(m1 - m2) < 1e-6:
        return
    se = se_of_difference_from_p(m1 - m2, p, n1, n2)
    sd = pooled_sd_from_se_of_difference(se.value, n1, n2)
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    assert sd.value == pytest.approx(sp, rel=1e-6)


def test_pooled_sd_from_se_of_difference():
    d = pooled_sd_from_se_of_difference(1.0, 25, 25)
    assert d.value == pytest.approx(1 / math.sqrt(2 / 25))
    assert "√(1/25 + 1/25)" in d.how


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sd_from_se(0, 10), "se is <= 0"),
        (lambda: sd_from_se(1, 0.5), "n is < 1"),
        (lambda: se_from_ci(3, 1), "upper limit is not above lower"),
        (lambda: se_from_ci(1, 3, level=95), "level must be between 0 and 1"),
        (lambda: se_from_ci(1, 3, dist="z"), "unknown dist 'z'"),
        (lambda: se_of_difference_from_p(1, 0.0, 10, 10), "strictly between 0 and 1"),
        (lambda: se_of_difference_from_p(1, 1.0, 10, 10), "strictly between 0 and 1"),
        (lambda: se_of_difference_from_p(0, 0.2, 10, 10), "mean difference of 0"),
        (lambda: se_of_difference_from_p(1, 0.2, 10, 10, dist="z"), "unknown dist"),
        (lambda: se_of_difference_from_p(1, np.nan, 10, 10), "p is missing or not finite"),
        (lambda: pooled_sd_from_se_of_difference(-1, 10, 10), "se is <= 0"),
    ],
)
def test_recoveries_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------- median, IQR, range

FIVE = REF["fivenum"]


def _five(i):
    inp = FIVE["inputs"]
    return {k: inp[k][i] for k in ("n", "min", "q1", "median", "q3", "max")}


SCENARIOS = {"S1": ("min", "median", "max"), "S2": ("min", "q1", "median", "q3", "max"),
             "S3": ("q1", "median", "q3")}


@pytest.mark.parametrize("key", sorted(FIVE["values"]))
def test_quantile_estimators_match_formulas_written_out_in_r(key):
    kind, method, scenario = key.split("_")
    expected = FIVE["values"][key]
    func = mean_from_quantiles if kind == "mean" else sd_from_quantiles
    for i, want in enumerate(expected):
        row = _five(i)
        kwargs = {k: row[k] for k in SCENARIOS[scenario]}
        got = func(row["n"], method=method, **kwargs)
        assert got.value == pytest.approx(want, rel=1e-10), (key, row)
        assert got.method == f"{kind}_{method}_{scenario}"
    vectorised = func(np.array(FIVE["inputs"]["n"]), method=method,
                      **{k: np.array(FIVE["inputs"][k]) for k in SCENARIOS[scenario]})
    np.testing.assert_allclose(vectorised.value, expected, rtol=1e-10)
    assert len(vectorised.how) == len(expected)


def test_symmetric_summaries_give_mean_equal_to_median():
    for method in ("luo2018", "wan2014"):
        for kw in ({"min": 0, "max": 10}, {"q1": 3, "q3": 7}, {"min": 0, "q1": 3, "q3": 7, "max": 10}):
            assert mean_from_quantiles(30, median=5, method=method, **kw).value == pytest.approx(5)


def test_iqr_divisor_tends_to_1_35_and_recovers_sigma_for_normal_quartiles():
    # Wan et al.: η(n) -> 2 Φ⁻¹(0.75) = 1.349, the Handbook's "IQR / 1.35".
    z = stats.norm.ppf(0.75)
    sd = sd_from_quantiles(10**7, q1=100 - 15 * z, q3=100 + 15 * z)
    assert sd.value == pytest.approx(15, rel=1e-5)
    # Range divisor ξ(n) = 2 Φ⁻¹((n - 0.375)/(n + 0.25)): ξ(100) ≈ 2 × 2.4522 (Blom).
    sd100 = sd_from_quantiles(100, min=0, max=2 * stats.norm.ppf(99.625 / 100.25))
    assert sd100.value == pytest.approx(1.0, rel=1e-12)


def test_quantile_how_records_scenario_and_reference():
    d = mean_from_quantiles(40, min=2, median=8, max=30)
    assert d.how == "mean 9.608 estimated from median 8, range 2 to 30, n = 40 (Luo et al. 2018, scenario S1)"
    s = sd_from_quantiles(40, q1=5, median=8, q3=12)
    assert "IQR 5 to 12" in s.how and "Wan et al. 2014, eq. 16" in s.how


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mean_from_quantiles(30, min=0, max=10), "median is required"),
        (lambda: mean_from_quantiles(30, median=5, q1=3), "give min and max"),
        (lambda: mean_from_quantiles(30, median=5, min=6, max=10), "not ordered"),
        (lambda: sd_from_quantiles(4, q1=1, q3=3), "n is < 5"),
        (lambda: sd_from_quantiles(30, q1=1, q3=3, method="shi2020"), "S2 .* only"),
        (lambda: mean_from_quantiles(30, median=5, q1=3, q3=7, method="hozo"), "unknown method"),
    ],
)
def test_quantile_estimators_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------- events from percent


def test_events_from_percent_rounds_and_says_so():
    d = events_from_percent(52, 99)
    assert d.value == 51 and d.method == "events_from_percent"
    assert d.how == "52% of 99 = 51.48, rounded to 51"
    assert d.inputs["consistent_counts"] == [51]


def test_events_from_percent_reads_precision_from_the_number():
    assert events_from_percent(51.5, 99).value == 51  # 51/99 = 51.52% -> 51.5%
    with pytest.raises(ValueError, match=r"52\.3% of 99 matches no whole count"):
        events_from_percent(52.3, 99)
    with pytest.raises(ValueError, match="matches no whole count at 1 decimal"):
        events_from_percent(52.0, 99, decimals=1)


def test_events_from_percent_large_n_lists_consistent_counts():
    d = events_from_percent(52, 1000)
    assert d.value == 520
    assert "counts 515 to 525 are all consistent" in d.how


def test_events_from_percent_refuses_to_guess_a_tie():
    # 50% of 201 = 100.5; both 100/201 = 49.75% and 101/201 = 50.25% round to 50%.
    with pytest.raises(ValueError, match="halfway between counts 100 and 101"):
        events_from_percent(50, 201)


@pytest.mark.parametrize("percent, n, message", [(101, 10, "between 0 and 100"),
                                                 (50, 10.5, "whole number"),
                                                 ([50, 60], 10, "one percentage")])
def test_events_from_percent_bad_input(percent, n, message):
    with pytest.raises(ValueError, match=message):
        events_from_percent(percent, n)
