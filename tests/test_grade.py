"""GRADE rules branch by branch, the summary of findings from the committed data and
with a synthetic extra trial, the writers, and the effect-direction synthesis.

Numbers typed into the rule tests are synthetic (chosen to reach each branch). R's
power.t.test, binom.test and metafor's rma weights are the references for the OIS, the
sign test and the weights (tests/reference/grade_reference.R and its JSON).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.data import load_package
from analysis.direction import effect_direction_table
from analysis.grade import (
    CERTAINTY_LEVELS,
    GRADE_DOMAINS,
    Rating,
    certainty_level,
    effect_direction_cells,
    optimal_information_size,
    outcome_domain,
    random_effects_weights,
    rate_imprecision,
    rate_inconsistency,
    rate_indirectness,
    rate_publication_bias,
    rate_risk_of_bias,
    sign_tests,
    sof_footnotes,
    sof_markdown,
    summary_of_findings,
    summary_of_findings_for,
    write_sof_csv,
    write_sof_markdown,
)
from analysis.pooling import pool_batch
from analysis.risk_of_bias import pedro_scores, trial_overall, trial_sizes
from analysis.timecourse import pooled_by_window, primary_effects
from analysis.trial_effects import findings_table, review_tables

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "grade_reference.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- certainty


@pytest.mark.parametrize("changes, start, level", [
    ([0, 0, 0, 0, 0], 4, 4),
    ([-1, 0, 0, 0, 0], 4, 3),
    ([-1, 0, 0, -1, 0], 4, 2),
    ([-2, 0, -1, 0, 0], 4, 1),
    ([-1, 0, 0, -2, -1], 4, 1),     # several reasons together, floored at very low
    ([-2, -2, -2, -2, -2], 4, 1),
    ([0, 0, 0, 0, 0], 2, 2),        # observational evidence starts low
    ([-1, 0, 0, 0, 0], 2, 1),
])
def test_certainty_level(changes, start, level):
    assert certainty_level(changes, start=start) == level
    assert CERTAINTY_LEVELS[level] in {"high", "moderate", "low", "very low"}


def test_certainty_level_rejects_a_bad_start():
    with pytest.raises(ValueError, match="start must be one of"):
        certainty_level([0], start=5)


def test_rating_accepts_only_grade_changes():
    assert Rating("imprecision", -2, "x").seriousness == "very serious"
    with pytest.raises(ValueError, match="0, -1 or -2"):
        Rating("imprecision", -3, "x")
    with pytest.raises(ValueError, match="unknown GRADE domain"):
        Rating("precision", 0, "x")


# --------------------------------------------------------------------------- risk of bias


def _trials(rows):
    return pd.DataFrame.from_records(
        [dict(zip(("study", "weight", "overall", "n_high_domains"), r), reason="synthetic") for r in rows])


@pytest.mark.parametrize("rows, change", [
    ([("A", 0.7, "low", 0), ("B", 0.3, "high", 2)], 0),               # most weight at low risk
    ([("A", 0.5, "low", 0), ("B", 0.5, "some_concerns", 0)], 0),      # exactly half is not "most"
    ([("A", 0.4, "low", 0), ("B", 0.6, "some_concerns", 0)], -1),
    ([("A", 1.0, "high", 0)], -1),                                    # high by accumulated concerns
    ([("A", 1.0, "high", 1)], -1),                                    # one crucial limitation
    ([("A", 0.3, "low", 0), ("B", 0.7, "no_information", 0)], -1),    # not assessed counts against
    ([("A", 1.0, "high", 2)], -2),                                    # two crucial limitations
    ([("A", 0.45, "high", 3), ("B", 0.55, "high", 2)], -2),
    ([("A", 0.45, "high", 3), ("B", 0.55, "high", 1)], -1),
])
def test_rate_risk_of_bias(rows, change):
    r = rate_risk_of_bias(_trials(rows))
    assert r.change == change
    assert all(f"{name} ({100 * w:.0f}% of the weight)" in r.reason for name, w, *_ in rows)


def test_rate_risk_of_bias_threshold_of_very_serious_is_an_option():
    t = _trials([("A", 1.0, "high", 2)])
    assert rate_risk_of_bias(t, very_serious_high_domains=3).change == -1
    assert "not assessed" in rate_risk_of_bias(_trials([("A", 1.0, "no_information", 0)])).reason


# --------------------------------------------------------------------------- inconsistency


@pytest.mark.parametrize("k, i2, q_p, change, words", [
    (1, np.nan, np.nan, 0, "Not assessable: one trial"),
    (0, np.nan, np.nan, 0, "Not assessable"),
    (3, 30.0, 0.30, 0, "Not serious: I\u00b2 = 30%"),
    (3, 55.0, 0.20, -1, "Serious: substantial"),
    (3, 40.0, 0.05, -1, "Serious: substantial"),
    (4, 80.0, 0.20, -1, "Serious"),
    (4, 80.0, 0.01, -2, "Very serious: considerable"),
    (4, 75.0, 0.0999, -2, "Very serious"),
])
def test_rate_inconsistency(k, i2, q_p, change, words):
    r = rate_inconsistency(k, i2, q_p)
    assert r.change == change and r.reason.startswith(words)


# --------------------------------------------------------------------------- indirectness


def _direct(**over):
    base = dict(study="A", weight=1.0, scope="running_injury", condition="plantar fasciitis",
                drug="dexamethasone", unit_of_randomisation="patient")
    return pd.DataFrame([dict(base, **over)])


def test_rate_indirectness_branches():
    assert rate_indirectness(_direct()).change == 0
    elbow = rate_indirectness(_direct(scope="other_tendinopathy", condition="elbow epicondylitis"))
    assert elbow.change == -1 and "A treated elbow epicondylitis, outside the review question" in elbow.reason
    both = rate_indirectness(_direct(scope="other_tendinopathy", condition="elbow epicondylitis",
                                     drug="corticosteroid (not named)"))
    assert both.change == -2 and "population" in both.reason and "intervention" in both.reason
    # the same trial judged against its own population is direct
    assert rate_indirectness(_direct(scope="other_tendinopathy"), question_scope="other_tendinopathy").change == 0


def test_rate_indirectness_counts_a_source_only_for_most_of_the_weight():
    t = pd.concat([_direct(study="A", weight=0.6), _direct(study="B", weight=0.4, scope="other_tendinopathy")])
    assert rate_indirectness(t).change == 0
    t["weight"] = [0.4, 0.6]
    assert rate_indirectness(t).change == -1


def test_feet_are_named_but_not_rated_as_indirectness():
    r = rate_indirectness(_direct(unit_of_randomisation="foot"))
    assert r.change == 0
    assert "A randomised feet, not patients: a unit-of-analysis problem" in r.reason


# --------------------------------------------------------------------------- imprecision


def test_optimal_information_size_matches_r_power_t_test():
    from statsmodels.stats.power import TTestIndPower

    for case in REF["power"]:
        per_arm = TTestIndPower().solve_power(effect_size=case["delta"], alpha=0.05,
                                              power=case["power"], ratio=1.0)
        # R solves with uniroot(tol = eps^0.25), so agreement is to about 1e-6, not machine precision
        assert per_arm == pytest.approx(case["n_per_arm"], rel=1e-6), case["call"]
        assert optimal_information_size(case["delta"], power=case["power"]) == \
            2 * math.ceil(case["n_per_arm"]) == 2 * math.ceil(case["n_per_arm_upper_tail"])
    # by hand, the normal approximation 2 (z_.975 + z_.80)^2 / 0.5^2 = 62.8 per arm is a
    # little below the t-based 63.77
    assert optimal_information_size(0.5) == 128


@pytest.mark.parametrize("bad", [dict(smd=0), dict(smd=0.5, alpha=1.2), dict(smd=0.5, power=0)])
def test_optimal_information_size_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        optimal_information_size(**bad)


@pytest.mark.parametrize("ci, n, change, words", [
    ((0.10, 1.38), 200, 0, "Not serious: The 95% CI of the SMD (0.10 to 1.38) excludes no effect"),
    ((-0.20, 0.40), 200, -1, "Serious: The 95% CI of the SMD (-0.20 to 0.40) includes no effect"),
    ((0.10, 1.38), 40, -1, "Serious: The 95% CI of the SMD (0.10 to 1.38) excludes"),
    ((-0.38, 0.87), 40, -2, "Very serious: the CI and the information size both fail"),
    ((-0.60, 0.70), 400, -2, "Very serious: the CI includes an appreciable benefit and an appreciable harm"),
    ((0.0, 0.5), 200, 0, "Not serious"),   # touching zero is not crossing it
])
def test_rate_imprecision_without_a_mid(ci, n, change, words):
    r = rate_imprecision(ci, n, 128)
    assert r.change == change and r.reason.startswith(words)
    assert ("below" if n < 128 else "reach") + " the optimal information size of 128" in r.reason


@pytest.mark.parametrize("md_ci, change, words", [
    ((-3.5, 13.5), 0, "does not cross the minimal important difference of 15 mm"),   # CI crosses 0, not the MID
    ((2.0, 16.0), -1, "crosses the minimal important difference of 15 mm"),
    ((-16.0, -2.0), -1, "crosses"),
    ((-20.0, 22.0), -2, "appreciable benefit and an appreciable harm"),
])
def test_rate_imprecision_with_a_sourced_mid(md_ci, change, words):
    r = rate_imprecision((0.0, 1.0), 199, 128, md_ci=md_ci, mid=15.0, units="mm")
    assert r.change == change and words in r.reason


def test_rate_imprecision_mid_needs_its_ci():
    with pytest.raises(ValueError, match="a MID needs md_ci"):
        rate_imprecision((0.1, 0.5), 200, 128, mid=15.0)


# --------------------------------------------------------------------------- publication bias


@pytest.mark.parametrize("args, change, words", [
    ((3, 3, 100, 0, []), 0, "Not serious: every trial known to have measured the outcome at this time (3)"),
    ((3, 1, 40, 25, ["B", "C"]), -1, "Serious: 2 of 3 trials"),
    ((3, 2, 40, 60, ["C"]), -1, "Serious: 1 of 3"),        # more participants, but a minority of trials
    ((3, 1, 40, 60, ["B", "C"]), -2, "Very serious: 2 of 3"),
    ((2, 1, 40, 60, ["B"]), -1, "Serious: 1 of 2"),        # exactly half is not more than half
])
def test_rate_publication_bias(args, change, words):
    r = rate_publication_bias(*args)
    assert r.change == change and r.reason.startswith(words)
    if change:
        assert ", ".join(args[4]) in r.reason


# --------------------------------------------------------------------------- weights


def test_random_effects_weights_match_metafor():
    case = REF["weights"]
    w = random_effects_weights(case["vi"], case["tau2"])
    np.testing.assert_allclose(w, case["weights"], rtol=1e-8)
    assert random_effects_weights([0.1], np.nan).tolist() == [1.0]


def test_random_effects_weights_match_the_pooling_engine():
    yi = np.array([0.74, 0.10, 0.45, 0.2])
    vi = np.array([0.107, 0.035, 0.060, 0.09])
    res = pool_batch(yi, vi, np.array(["g"] * 4), method="REML")
    tau2 = float(res.summary["tau2"].iloc[0])
    np.testing.assert_allclose(random_effects_weights(vi, tau2), res.weights, rtol=1e-10)


# --------------------------------------------------------------------------- summary of findings


@pytest.fixture(scope="module")
def sof(tables):
    return summary_of_findings_for(tables)


def test_sof_rows_and_counts(sof):
    assert list(zip(sof["scope"], sof["window"])) == [
        ("running_injury", "end_of_treatment"), ("running_injury", "about_one_month"),
        ("other_tendinopathy", "end_of_treatment"), ("other_tendinopathy", "about_one_month")]
    run = sof[sof["scope"] == "running_injury"]
    assert (run["k_total"] == 3).all() and (run["k_with_results"] == 1).all()
    assert set(run["trials_with_results"]) == {"Gudeman 1997"}
    assert set(run["trials_without_results"]) == {"Neeter 2003, Osborne & Allison 2006"}
    assert (run["participants_with_results"] == 40).all() and set(run["participants_unit"]) == {"foot"}
    assert (run["participants"] == "40 feet with results; without public results: Neeter 2003, 25 "
                                   "patients; Osborne & Allison 2006, size for this comparison not known "
                                   "(42 feet over all arms)").all()
    elbow = sof[sof["scope"] == "other_tendinopathy"]
    assert (elbow["participants_with_results"] == 199).all() and (elbow["k_total"] == 1).all()


def test_sof_effects_are_the_pooled_ones(sof, effects):
    for measure, cols in (("SMD", ("smd", "smd_ci_lb", "smd_ci_ub")), ("MD", ("md", "md_ci_lb", "md_ci_ub"))):
        pooled = pooled_by_window(effects, measure=measure).set_index(["scope", "window"])
        for _, r in sof.iterrows():
            p = pooled.loc[(r["scope"], r["window"])]
            assert [r[c] for c in cols] == pytest.approx([p["estimate"], p["ci_lb"], p["ci_ub"]], rel=1e-12)
    row = sof.iloc[0]
    assert row["effect"].startswith("SMD 0.74 (0.10 to 1.38); MD 3.7 points (0.7 to 6.7), Maryland Foot Score")
    assert sof.iloc[2]["md_units"] == "mm"


def test_sof_ratings_on_the_committed_data(sof):
    got = {(r["scope"], r["window"]): ([int(r[d]) for d in GRADE_DOMAINS], r["certainty"],
                                       r["certainty_own_population"])
           for _, r in sof.iterrows()}
    assert got == {
        ("running_injury", "end_of_treatment"): ([-1, 0, 0, -1, -1], "very low", "very low"),
        ("running_injury", "about_one_month"): ([-1, 0, 0, -2, -1], "very low", "very low"),
        ("other_tendinopathy", "end_of_treatment"): ([-2, 0, -1, -1, 0], "very low", "very low"),
        ("other_tendinopathy", "about_one_month"): ([-2, 0, -1, 0, 0], "very low", "low"),
    }
    assert set(sof["start"]) == {"high"}
    assert set(sof["certainty_symbols"]) == {"\u2295\u25ef\u25ef\u25ef"}


def test_sof_reasons_are_written_from_the_data(sof):
    run_eot, run_1m, elbow_eot, elbow_1m = (sof.iloc[i] for i in range(4))
    assert "Gudeman 1997 (100% of the weight): high risk of bias overall" in run_eot["risk_of_bias_reason"]
    assert "4 domains" in run_eot["risk_of_bias_reason"]
    assert run_eot["inconsistency_reason"].startswith("Not assessable: one trial")
    assert "Gudeman 1997 randomised feet" in run_eot["indirectness_reason"]
    assert "40 feet below the optimal information size of 128" in run_eot["imprecision_reason"]
    assert "CI treats the feet of Gudeman 1997 as independent" in run_eot["imprecision_reason"]
    assert "(-0.38 to 0.87) includes no effect" in run_1m["imprecision_reason"]
    assert ("2 of 3 trials measured the outcome at this time but their results are not public "
            "(Neeter 2003, Osborne & Allison 2006); 25 known participants") in run_eot["publication_bias_reason"]
    assert "high in D1 (randomisation), D2" in elbow_eot["risk_of_bias_reason"]
    assert "elbow epicondylitis, outside the review question (running injuries)" in elbow_eot["indirectness_reason"]
    assert "(2.0 to 16.0 mm) crosses the minimal important difference of 15 mm" in elbow_eot["imprecision_reason"]
    assert "(-3.5 to 13.5 mm) does not cross" in elbow_1m["imprecision_reason"]
    assert "199 patients reach the optimal information size" in elbow_1m["imprecision_reason"]


def test_sof_options_change_the_ratings(pkg, effects):
    lenient = summary_of_findings_for(review_tables(pkg), very_serious_high_domains=3,
                                               question_scope="other_tendinopathy")
    elbow = lenient[lenient["scope"] == "other_tendinopathy"]
    assert list(elbow["risk_of_bias"]) == [-1, -1] and list(elbow["indirectness"]) == [0, 0]
    assert list(elbow["certainty"]) == ["low", "moderate"]
    bigger = summary_of_findings_for(review_tables(pkg), ois_smd=0.8)
    assert (bigger["ois"] == 2 * math.ceil([c for c in REF["power"] if c["delta"] == 0.8
                                            and c["power"] == 0.8][0]["n_per_arm"])).all()


def test_sof_refuses_tables_from_different_data(pkg, effects):
    pooled = pooled_by_window(effects)
    pooled.loc[pooled.index[0], "k_total"] = 5
    with pytest.raises(ValueError, match="the pooled table says .* build both from the same data"):
        summary_of_findings(pooled, effects, pkg.risk_of_bias, pkg.studies)


def test_sof_row_without_results_is_not_rated(pkg, effects):
    """Synthetic: Gudeman's numbers removed, so no running-injury trial has results."""
    eff = effects.copy()
    eff.loc[eff["study_id"] == "gudeman1997", ["estimable", "yi", "vi", "ci_lb", "ci_ub"]] = \
        [False, np.nan, np.nan, np.nan, np.nan]
    eff["estimable"] = eff["estimable"].astype(bool)
    sof = summary_of_findings(pooled_by_window(eff), eff, pkg.risk_of_bias, pkg.studies)
    run = sof[sof["scope"] == "running_injury"]
    assert (run["certainty"] == "not rated").all() and (run["k_with_results"] == 0).all()
    assert run["effect"].str.startswith("no estimate").all()


def test_an_estimable_trial_without_an_assessment_counts_as_not_assessed(pkg, effects):
    rob = pkg.risk_of_bias[pkg.risk_of_bias["study_id"] != "gudeman1997"]
    out = summary_of_findings(pooled_by_window(effects), effects, rob, pkg.studies)
    row = out.iloc[0]
    assert row["risk_of_bias"] == -1
    assert "Gudeman 1997 (100% of the weight): not assessed (no RoB 2 assessment" in row["risk_of_bias_reason"]


# a synthetic extra estimable trial: Neeter 2003 with made-up numbers -------------------

@pytest.fixture(scope="module")
def with_neeter(tmp_path_factory):
    from datacopy import fill_neeter_synthetic

    data_dir = tmp_path_factory.mktemp("synthetic") / "data"
    shutil.copytree(ROOT / "data", data_dir)
    fill_neeter_synthetic(data_dir)
    pkg = load_package(data_dir)
    tables = review_tables(pkg)
    return pkg, tables.effects, summary_of_findings_for(tables)


def test_counts_and_footnotes_follow_an_added_trial(with_neeter):
    pkg, eff, sof = with_neeter
    run = sof[sof["scope"] == "running_injury"]
    assert (run["k_with_results"] == 2).all() and (run["k_total"] == 3).all()
    assert set(run["trials_with_results"]) == {"Gudeman 1997, Neeter 2003"}
    assert set(run["trials_without_results"]) == {"Osborne & Allison 2006"}
    # feet and patients together: counted as participants
    assert (run["participants_with_results"] == 40 + 25).all() and set(run["participants_unit"]) == {"participant"}
    assert run["participants"].str.startswith("65 participants with results; without public results: "
                                              "Osborne & Allison 2006").all()
    # no MD: the two trials measure different outcomes
    assert run["md"].isna().all()
    # inconsistency is now assessable, from the pooled I² and Q
    pooled = pooled_by_window(eff).set_index(["scope", "window"])
    for _, r in run.iterrows():
        p = pooled.loc[(r["scope"], r["window"])]
        assert int(p["k"]) == 2
        assert f"I\u00b2 = {p['i2']:.0f}%, Q test p = {p['q_pval']:.2g}, 2 trials" in r["inconsistency_reason"]
        assert r["inconsistency"] == rate_inconsistency(2, p["i2"], p["q_pval"]).change
    # the weights in the risk-of-bias footnote are the random-effects weights
    prim = primary_effects(eff)
    ok = prim[(prim["scope"] == "running_injury") & (prim["window"] == "end_of_treatment") & prim["estimable"]]
    w = random_effects_weights(ok["vi"], pooled.loc[("running_injury", "end_of_treatment"), "tau2"])
    eot = run[run["window"] == "end_of_treatment"].iloc[0]
    for study, share in zip(ok["study"], w):
        assert f"{study} ({100 * share:.0f}% of the weight)" in eot["risk_of_bias_reason"]
    assert ("1 of 3 trials measured the outcome at this time but their results are not public "
            "(Osborne & Allison 2006); 0 known participants") in eot["publication_bias_reason"]
    assert "65 participants below the optimal information size of 128" in eot["imprecision_reason"]


# --------------------------------------------------------------------------- writers


def test_footnotes_letters_are_shared_and_only_for_reasons(sof):
    marks, notes = sof_footnotes(sof)
    letters = [letter for letter, _ in notes]
    assert letters == [chr(97 + i) for i in range(len(letters))]
    texts = [t for _, t in notes]
    assert len(set(texts)) == len(texts)
    # the running-injury risk-of-bias footnote is the same at both time points: one letter
    assert marks[0]["risk_of_bias"] == marks[1]["risk_of_bias"]
    # a domain without a downgrade has no footnote, except "not assessable" inconsistency
    assert "indirectness" not in marks[0] and "publication_bias" not in marks[2]
    assert marks[0]["inconsistency"] == marks[3]["inconsistency"]
    assert all(t.split(": ", 1)[0] in {"Risk of bias", "Inconsistency", "Indirectness", "Imprecision",
                                       "Publication and reporting bias"} for t in texts)


def test_writers(sof, tmp_path):
    csv_path = write_sof_csv(sof, tmp_path / "tables")
    md_path = write_sof_markdown(sof, tmp_path / "tables")
    assert csv_path == tmp_path / "tables" / "summary_of_findings.csv"
    back = pd.read_csv(csv_path)
    assert list(back.columns) == list(sof.columns) and len(back) == 4
    assert back["certainty"].tolist() == sof["certainty"].tolist()
    text = md_path.read_text(encoding="utf-8")
    assert text == sof_markdown(sof)
    assert text.count("\n| ") == 1 + 4  # header + four rows
    assert "| Running injuries | End of treatment | 3 trials, 1 with results; 40 feet with results" in text
    assert "\u2295\u25ef\u25ef\u25ef very low |" in text
    for letter, note in sof_footnotes(sof)[1]:
        assert f"\n{letter}. {note}" in text
    # regenerating gives the same bytes
    assert write_sof_csv(sof, tmp_path / "again").read_bytes() == csv_path.read_bytes()


# --------------------------------------------------------------------------- effect direction


@pytest.mark.parametrize("name, domain", [
    ("patient pain VAS, mean improvement", "pain"),
    ("pain during and after activity", "pain"),
    ("Maryland Foot Score, change from baseline", "function"),
    ("toe-raise test (muscular endurance)", "function"),
    ("range of motion", "function"),
    ("investigator global improvement, moderate or better", "global improvement"),
    ("morning stiffness", "other"),
    ("tendon swelling", "other"),
    ("outcome not specified", "not specified"),
    ("all outcomes (not named)", "not specified"),
])
def test_outcome_domain(name, domain):
    assert outcome_domain(name) == domain


@pytest.fixture(scope="module")
def cells(pkg, effects):
    return effect_direction_cells(
        effect_direction_table(effects, findings_table(pkg)), pkg.studies, pkg.timepoints,
        pkg.arms,
        trial_overall(pkg.risk_of_bias), trial_sizes(pkg.studies, pkg.arms),
        pedro=pedro_scores(pkg.pedro_ratings))


def test_effect_direction_cells(cells):
    c = cells.set_index(["study", "window", "domain"])
    assert c.loc[("Gudeman 1997", "end_of_treatment", "function"), "arrow"] == "up"
    assert c.loc[("Gudeman 1997", "about_one_month", "function"), "arrow"] == "sideways"
    assert c.loc[("Nirschl 2003", "end_of_treatment", "pain"), "size"] == "medium"
    # Neeter: within-group only for pain (dexamethasone improved, placebo not reported to)
    neeter_pain = c.loc[("Neeter 2003", "not_stated", "pain")]
    assert (neeter_pain["arrow"], neeter_pain["basis"], neeter_pain["in_vote"]) == ("up", "within-group only", False)
    assert neeter_pain["n_outcomes"] == 3
    # Neeter's function cell rests on its one between-group finding (toe-raise: no difference)
    assert c.loc[("Neeter 2003", "not_stated", "function"), "basis"] == "between-group"
    assert c.loc[("Neeter 2003", "not_stated", "function"), "arrow"] == "sideways"
    # Osborne at the end of treatment: every arm improved, so within-group it is sideways
    assert c.loc[("Osborne & Allison 2006", "end_of_treatment", "not specified"), "arrow"] == "sideways"
    # acetic acid versus dexamethasone is not a comparison with placebo: kept, not drawn
    acetic = c.loc[("Osborne & Allison 2006", "end_of_treatment", "pain")]
    assert (acetic["drawn"], acetic["basis"]) == (False, "no comparison with placebo")
    assert c.loc[("Osborne & Allison 2006", "about_one_month", "other"), "arrow"] == "unknown"
    assert c.loc[("Hendriks 1992", "not_stated", "not specified"), "risk_of_bias"] == "not_assessed"
    assert c.loc[("Hendriks 1992", "not_stated", "not specified"), "pedro"] == "PEDro 10/10"
    assert set(cells.loc[cells["study"] != "Hendriks 1992", "risk_of_bias"]) == {"high"}
    # only between-group up/down cells vote
    votes = cells[cells["in_vote"]]
    assert (votes["basis"] == "between-group").all() and votes["arrow"].isin(["up", "down"]).all()


def test_within_study_agreement_rule(pkg, effects):
    """Synthetic direction rows: one trial, three pain outcomes between groups."""
    direction = pd.DataFrame({
        "study": ["Gudeman 1997"] * 3, "outcome": ["pain a", "pain b", "pain c"],
        "when": ["end of treatment (about 2 weeks)"] * 3,
        "comparison": ["dexamethasone vs placebo"] * 3,
        "direction": ["favours dexamethasone", "favours dexamethasone", "no clear difference"],
    })
    args = (pkg.studies, pkg.timepoints, pkg.arms, trial_overall(pkg.risk_of_bias),
            trial_sizes(pkg.studies, pkg.arms))
    # 2 of 3 agree (67%): below 70%, conflicting -> sideways
    assert effect_direction_cells(direction, *args)["arrow"].tolist() == ["sideways"]
    assert effect_direction_cells(direction, *args, agreement=0.6)["arrow"].tolist() == ["up"]
    direction.loc[2, "direction"] = "not stated"  # unknown directions do not count
    assert effect_direction_cells(direction, *args)["arrow"].tolist() == ["up"]


def test_effect_direction_cells_name_what_they_cannot_place(pkg, effects):
    table = effect_direction_table(effects, findings_table(pkg))
    args = (pkg.studies, pkg.timepoints, pkg.arms, trial_overall(pkg.risk_of_bias),
            trial_sizes(pkg.studies, pkg.arms))
    bad = table.copy()
    bad.loc[0, "when"] = "week 9"
    with pytest.raises(ValueError, match="time point 'week 9' of Gudeman 1997"):
        effect_direction_cells(bad, *args)
    bad = table.copy()
    bad.loc[bad.index[-1], "comparison"] = "laser vs placebo"
    with pytest.raises(ValueError, match="cannot tell the arms of 'Osborne & Allison 2006'"):
        effect_direction_cells(bad, *args)


def _vote_cells(ups, downs, sideways=0):
    n = ups + downs + sideways
    return pd.DataFrame({
        "scope": "running_injury", "window": "end_of_treatment", "domain": "pain",
        "arrow": ["up"] * ups + ["down"] * downs + ["sideways"] * sideways,
        "drawn": True, "in_vote": [True] * (ups + downs) + [False] * sideways,
        "study": [f"synthetic {i}" for i in range(n)]})


def test_sign_tests_match_r_binom_test():
    ref = {(c["x"], c["n"]): c["p_value"] for c in REF["sign"]}
    t = sign_tests(_vote_cells(6, 0, sideways=2)).iloc[0]
    assert (t["up"], t["down"], t["votes"], t["trials"]) == (6, 0, 6, 8)
    assert t["p_value"] == pytest.approx(ref[(6, 6)], rel=1e-12)
    assert t["p_value"] == pytest.approx(2 * 0.5 ** 6)  # by hand
    t = sign_tests(_vote_cells(5, 1)).iloc[0]
    assert t["p_value"] == pytest.approx(ref[(5, 6)], rel=1e-12) and t["note"] == "5 of 6 favour dexamethasone"
    t = sign_tests(_vote_cells(7, 3)).iloc[0]
    assert t["p_value"] == pytest.approx(ref[(7, 10)], rel=1e-12)


def test_sign_tests_say_when_too_few_trials():
    t = sign_tests(_vote_cells(5, 0)).iloc[0]
    assert np.isnan(t["p_value"])
    assert t["note"] == "too few trials for a sign test: 5 vote(s), the smallest possible two-sided p is 0.062"
    t = sign_tests(_vote_cells(0, 0, sideways=2)).iloc[0]
    assert np.isnan(t["p_value"]) and t["note"] == "no trial with a between-group direction"


def test_sign_tests_on_the_committed_data(cells):
    t = sign_tests(cells)
    assert t["p_value"].isna().all()  # no domain has enough trials
    assert (t["votes"] <= 1).all()
    assert not (t["scope"] + t["window"] + t["domain"]).duplicated().any()


def test_certainty_sentences(sof):
    from analysis.grade import certainty_sentences

    s = certainty_sentences(sof)
    assert len(s) == len(sof)
    assert s[0] == ("Running injuries, end of treatment: very low certainty (\u2295\u25ef\u25ef\u25ef), "
                    "starting from high for randomised trials; rated down one level for risk of bias, one "
                    "level for imprecision, one level for publication and reporting bias; not rated down "
                    "for inconsistency, indirectness.")
    assert "two levels for imprecision" in s[1]
    assert s[3].endswith("For the trials' own population the certainty would be low.")
    not_rated = sof.iloc[:1].assign(certainty="not rated")
    assert certainty_sentences(not_rated) == [
        "Running injuries, end of treatment: not rated, because no trial has public numbers for it."]
