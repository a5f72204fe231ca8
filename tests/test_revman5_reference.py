"""Effect sizes and common-effect pooling against Cochrane's RevMan 5 (Fleiss 1993 examples).

The reference is RevMan 5.0.23's own output for the two examples of Fleiss (1993), as
shipped with R's meta package (tests/reference/revman5_fleiss1993.json says where each
number was printed). It checks the conventions RevMan readers know, independently of
metafor: the mean difference and its SE, inverse-variance weights in percent, the
common-effect (fixed) total, Cochran's Q with its chi-squared p-value, I² from Q
(``i2_method="q"``), the z test, and per-study odds ratios with their CIs.

RevMan's CSV export carries 8 to 9 significant digits, so everything is compared at 1e-6
relative (1e-6 absolute for percentages and numbers near zero).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.effect_sizes import mean_difference, odds_ratio
from analysis.pooling import pool

REF = json.loads((Path(__file__).parent / "reference" / "revman5_fleiss1993.json").read_text())
MD = REF["mental_health_md"]
OR = REF["aspirin_or"]
REPO = Path(__file__).resolve().parents[1]
Z975 = 1.959963984540054


def _close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7, err_msg=what)


def _md_studies() -> pd.DataFrame:
    return pd.DataFrame(MD["studies"])


def _md_effects():
    s = _md_studies()
    return mean_difference(s.m1i, s.sd1i, s.n1i, s.m2i, s.sd2i, s.n2i)


def test_mean_difference_and_se_per_study_match_revman():
    s = _md_studies()
    es = _md_effects()
    _close(es.yi, s.yi, "MD")
    _close(np.sqrt(es.vi), s.se, "SE of MD")
    _close(es.yi - Z975 * np.sqrt(es.vi), s.ci_lb, "CI start")
    _close(es.yi + Z975 * np.sqrt(es.vi), s.ci_ub, "CI end")


@pytest.mark.parametrize("i2_method", ["q", "tau2"])
def test_common_effect_total_matches_revman(i2_method):
    es = _md_effects()
    total = MD["total"]
    r = pool(es.yi, es.vi, method="FE", i2_method=i2_method)
    _close(r.estimate, total["estimate"], "pooled MD")
    _close(r.ci_lb, total["ci_lb"], "pooled CI start")
    _close(r.ci_ub, total["ci_ub"], "pooled CI end")
    _close(abs(r.stat), total["z"], "Z")
    _close(r.pval, total["pval"], "P(Z)")
    _close(r.q, total["q"], "Q")
    assert r.q_df == total["df"]
    _close(r.q_pval, total["q_pval"], "P(Q)")
    # RevMan's I² is (Q - df) / Q. With a common-effect model metafor computes it the
    # same way, so both I² conventions agree here; they differ under random effects.
    _close(r.i2, total["i2_pct"], "I²")
    assert r.tau2 == total["tau2"]
    _close(100 * r.weights, _md_studies().weight_pct, "weights (%)")


def test_i2_from_q_differs_from_metafor_i2_under_random_effects():
    """The named option changes what it says it changes, and only that.

    REML, not DL: with the DerSimonian-Laird tau² the two I² definitions coincide
    algebraically, so DL could not tell them apart.
    """
    es = _md_effects()
    by_q = pool(es.yi, es.vi, method="REML", i2_method="q")
    by_tau2 = pool(es.yi, es.vi, method="REML", i2_method="tau2")
    expected_q = 100 * max(0.0, (by_q.q - (len(es) - 1)) / by_q.q)
    _close(by_q.i2, expected_q, "I² from Q")
    assert by_q.estimate == by_tau2.estimate and by_q.tau2 == by_tau2.tau2
    assert abs(by_q.i2 - by_tau2.i2) > 1e-3


def test_command_line_common_effect_matches_revman(tmp_path):
    csv_path = tmp_path / "fleiss1993_md.csv"
    _md_studies()[["study", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"]].to_csv(csv_path, index=False)
    out = subprocess.run(
        [sys.executable, "-m", "analysis", "pool", str(csv_path), "--measure", "MD",
         "--method", "FE"],
        capture_output=True, text=True, cwd=REPO, check=True,
    )
    res = json.loads(out.stdout)
    total = MD["total"]
    for field in ("estimate", "ci_lb", "ci_ub", "q", "q_pval", "pval"):
        _close(res[field], total[field], field)
    _close(res["i2"], total["i2_pct"], "i2")
    assert res["pi_lb"] is None and res["pi_ub"] is None
    _close([100 * s["weight"] for s in res["studies"]], _md_studies().weight_pct, "weights")


def test_odds_ratio_per_study_matches_revman():
    s = pd.DataFrame(OR["studies"])
    es = odds_ratio(s.ai, s.n1i, s.ci, s.n2i)
    se = np.sqrt(es.vi)
    _close(np.exp(es.yi), s["or"], "OR")
    _close(se, s.se, "SE of log OR")
    _close(np.exp(es.yi - Z975 * se), s.ci_lb, "OR CI start")
    _close(np.exp(es.yi + Z975 * se), s.ci_ub, "OR CI end")
