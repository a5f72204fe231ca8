"""The recovery time course (analysis.timecourse) on the real data.

Expected values are computed here from the stored numbers with the formula written
out, or taken from tests/reference/metafor_trials.json (metafor 3.8).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.trial_effects import arm_time_course
from analysis.timecourse import (
    WINDOWS,
    catch_up,
    pooled_by_window,
    primary_effects,
    summary_sentences,
)

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "metafor_trials.json").read_text())


def _mean(pkg, study_id, arm_id, outcome_id, timepoint_id):
    o = pkg.outcomes
    sel = o[(o["study_id"] == study_id) & (o["arm_id"] == arm_id)
            & (o["outcome_id"] == outcome_id) & (o["timepoint_id"] == timepoint_id)]
    assert len(sel) == 1
    return float(sel.iloc[0]["mean"])


def _ref_smd(study_id, timepoint_id):
    return next(c for c in REF["continuous"] if c["study_id"] == study_id
                and c["timepoint_id"] == timepoint_id and c["measure"] == "SMD"
                and c["vtype"] == "LS" and c["p_dist"] in (None, "t"))


# --------------------------------------------------------------------- arm time course


def test_arm_time_course_ci_is_the_t_interval_of_a_single_mean(pkg):
    arms = arm_time_course(pkg)
    # only arms with a mean, an SD and a group size: Gudeman's two arms at two time points
    # (Nirschl's SDs are not in the record; Neeter's and Osborne's numbers are missing)
    assert len(arms) == 4
    assert set(arms["study_id"]) == {"gudeman1997"}
    o = pkg.outcomes
    for _, r in arms.iterrows():
        src = o[(o["study_id"] == r["study_id"]) & (o["timepoint_id"] == r["timepoint_id"])
                & (o["arm_id"] == ("dexamethasone" if r["role"] == "treatment" else "placebo"))
                & (o["outcome_id"] == "maryland_foot_score")].iloc[0]
        n = 20.0  # the arm's n analysed (arms.csv; no n at the time point)
        half = stats.t.ppf(0.975, n - 1) * src["sd"] / np.sqrt(n)
        assert r["mean"] == src["mean"] and r["sd"] == src["sd"] and r["n"] == n
        np.testing.assert_allclose([r["ci_lb"], r["ci_ub"]],
                                   [src["mean"] - half, src["mean"] + half], rtol=1e-12)
    assert set(arms["arm"]) == {"dexamethasone", "placebo"}


def test_arm_time_course_level_changes_the_quantile(pkg):
    a95 = arm_time_course(pkg)
    a80 = arm_time_course(pkg, level=0.80)
    ratio = stats.t.ppf(0.90, 19) / stats.t.ppf(0.975, 19)
    np.testing.assert_allclose((a80["ci_ub"] - a80["mean"]) / (a95["ci_ub"] - a95["mean"]),
                               ratio, rtol=1e-12)


# --------------------------------------------------------------------- catch-up


def test_catch_up_gap_closed_and_placebo_share_from_the_data(pkg, effects):
    cu = catch_up(effects).set_index("study_id")
    # both trials with an estimable primary MD in both windows, and no other
    assert set(cu.index) == {"gudeman1997", "nirschl2003"}
    cases = {
        "gudeman1997": ("maryland_foot_score", "end_of_treatment", "one_month_after"),
        "nirschl2003": ("pain_vas", "day_2_after", "one_month_after"),
    }
    for sid, (outcome, eot, one) in cases.items():
        mt_e = _mean(pkg, sid, "dexamethasone", outcome, eot)
        mc_e = _mean(pkg, sid, "placebo", outcome, eot)
        mt_1 = _mean(pkg, sid, "dexamethasone", outcome, one)
        mc_1 = _mean(pkg, sid, "placebo", outcome, one)
        r = cu.loc[sid]
        # gap closed = 1 - MD_1m / MD_EoT, e.g. Gudeman 1 - 1.8 / 3.7
        np.testing.assert_allclose(r["gap_closed"], 1 - (mt_1 - mc_1) / (mt_e - mc_e),
                                   rtol=1e-12)
        np.testing.assert_allclose(r["md_end_of_treatment"], mt_e - mc_e, rtol=1e-12)
        np.testing.assert_allclose(r["md_one_month"], mt_1 - mc_1, rtol=1e-12)
        np.testing.assert_allclose(r["placebo_share_end_of_treatment"], mc_e / mt_e,
                                   rtol=1e-12)
        np.testing.assert_allclose(r["placebo_share_one_month"], mc_1 / mt_1, rtol=1e-12)
        np.testing.assert_allclose(r["smd_end_of_treatment"], _ref_smd(sid, eot)["yi"],
                                   rtol=1e-6)
        np.testing.assert_allclose(r["smd_one_month"], _ref_smd(sid, one)["yi"], rtol=1e-6)
    np.testing.assert_allclose(cu.loc["gudeman1997", "gap_closed"], 1 - 1.8 / 3.7,
                               rtol=1e-12)


def test_catch_up_skips_a_trial_estimable_in_one_window_only(effects):
    e = effects.copy()
    mask = (e["study_id"] == "gudeman1997") & (e["window"] == "about_one_month")
    e.loc[mask, "estimable"] = False
    assert set(catch_up(e)["study_id"]) == {"nirschl2003"}


# --------------------------------------------------------------------- pooled by window


def test_pooled_by_window_counts_every_trial_per_scope_and_window(pkg, effects):
    pooled = pooled_by_window(effects).set_index(["scope", "window"])
    # Expected counts from the data: trials with a primary continuous outcome measured in
    # each window, and those among them whose numbers are public.
    defs = pkg.outcome_definitions
    prim = defs[(defs["review_role"] == "primary")
                & defs["kind"].isin(["change_from_baseline", "final_value"])]
    tps = pkg.timepoints[pkg.timepoints["window"].isin(WINDOWS)]
    studies = pkg.studies.set_index("study_id")
    expected_total: dict = {}
    for sid in prim["study_id"]:
        for w in tps.loc[tps["study_id"] == sid, "window"]:
            key = (studies.loc[sid, "scope"], w)
            expected_total[key] = expected_total.get(key, 0) + 1
    assert expected_total == {("running_injury", "end_of_treatment"): 3,
                              ("running_injury", "about_one_month"): 3,
                              ("other_tendinopathy", "end_of_treatment"): 1,
                              ("other_tendinopathy", "about_one_month"): 1}
    assert set(pooled.index) == set(expected_total)
    for key, k in expected_total.items():
        assert pooled.loc[key, "k_total"] == k
        # only Gudeman (running injuries) and Nirschl (elbow) have public numbers
        assert pooled.loc[key, "k_estimable"] == 1
        assert pooled.loc[key, "k"] == 1


@pytest.mark.parametrize("ref", REF["subgroups"], ids=lambda r: r["window"])
def test_pooled_by_window_estimates_match_metafor(effects, ref):
    pooled = pooled_by_window(effects).set_index(["scope", "window"])
    for scope, key in (("running_injury", "subtotal_running_injury"),
                       ("other_tendinopathy", "subtotal_other_tendinopathy")):
        row, r = pooled.loc[(scope, ref["window"])], ref[key]
        for col in ("estimate", "se", "ci_lb", "ci_ub", "pval"):
            np.testing.assert_allclose(row[col], r[col], rtol=1e-6, err_msg=col)


def test_pooled_by_window_weeks_are_the_trials_weeks(effects):
    pooled = pooled_by_window(effects).set_index(["scope", "window"])
    assert pooled.loc[("running_injury", "end_of_treatment"), "weeks"] == 2.0
    assert pooled.loc[("running_injury", "about_one_month"), "weeks"] == 6.35


def test_primary_effects_selects_the_primary_outcome_in_the_two_windows(effects):
    prim = primary_effects(effects, "MD")
    assert (prim["measure"] == "MD").all() and (prim["review_role"] == "primary").all()
    assert set(prim["window"]) == set(WINDOWS)
    assert set(prim["outcome_id"]) == {"maryland_foot_score", "pain_activity", "morning_pain",
                                       "pain_vas"}


# --------------------------------------------------------------------- sentences


def test_summary_sentences_say_how_many_trials_were_not_estimable(effects):
    sentences = summary_sentences(effects)
    assert len(sentences) == 4
    running = [s for s in sentences if s.startswith("Running injuries")]
    assert len(running) == 2
    assert all("2 more trial(s) not estimable" in s for s in running)
    elbow = [s for s in sentences if s.startswith("Other tendinopathy")]
    assert all("not estimable" not in s for s in elbow)


@pytest.mark.parametrize("ref", REF["subgroups"], ids=lambda r: r["window"])
def test_summary_sentence_verdict_follows_the_ci(effects, ref):
    r = ref["subtotal_running_injury"]
    words = {"end_of_treatment": "end of treatment",
             "about_one_month": "about one month after treatment"}[ref["window"]]
    sentence = next(s for s in summary_sentences(effects)
                    if s.startswith(f"Running injuries, {words}"))
    assert f"SMD {r['estimate']:.2f} [{r['ci_lb']:.2f}, {r['ci_ub']:.2f}]" in sentence
    if r["ci_lb"] > 0:
        assert sentence.endswith("favours dexamethasone.")
    else:
        assert r["ci_lb"] <= 0 <= r["ci_ub"]
        assert "no clear difference" in sentence


def test_summary_sentence_when_no_trial_in_a_scope_is_estimable(effects):
    e = effects.copy()
    e.loc[e["study_id"] == "gudeman1997", "estimable"] = False
    running = [s for s in summary_sentences(e) if s.startswith("Running injuries")]
    assert len(running) == 2
    assert all("no trial estimable" in s and "3 more trial(s) not estimable" in s
               for s in running)


def test_pooled_by_window_with_no_estimable_trial_returns_counts_only(effects):
    e = effects.assign(estimable=False)
    out = pooled_by_window(e)
    assert isinstance(out, pd.DataFrame)
    assert (out["k_estimable"] == 0).all() and out["estimate"].isna().all()
