"""Per-trial effects of the review (analysis.trial_effects) and the forest-plot tables
(analysis.figures.forest_analysis: the meta-analysis behind each forest plot) on the real
data, against metafor 3.8.

Reference values come from tests/reference/metafor_trials.R (output committed as
tests/reference/metafor_trials.json, each result beside the R call that made it).
The data package is read from data/ of the repository.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis.figures import forest_analysis, md_forest_analysis
from analysis.trial_effects import (
    EFFECT_COLUMNS,
    NO_PUBLIC_NUMBERS,
    binary_effects,
    continuous_effects,
    reported_between_group,
)

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "metafor_trials.json").read_text())
RTOL = 1e-6


def _row(table, study_id, timepoint_id, measure, outcome_id=None):
    sel = table[(table["study_id"] == study_id) & (table["timepoint_id"] == timepoint_id)
                & (table["measure"] == measure)]
    if outcome_id is not None:
        sel = sel[sel["outcome_id"] == outcome_id]
    assert len(sel) == 1, (study_id, timepoint_id, measure, len(sel))
    return sel.iloc[0]


def _case_id(case):
    return "-".join(str(case[k]) for k in ("study_id", "timepoint_id", "measure", "vtype",
                                             "p_dist"))


# --------------------------------------------------------------------- metafor


def test_reference_was_made_by_metafor_3_8():
    assert REF["metafor_version"].startswith("3.8")
    assert all("escalc(" in c["call"] for c in REF["continuous"] + REF["binary"])


@pytest.mark.parametrize("case", REF["continuous"], ids=_case_id)
def test_continuous_effect_matches_metafor(pkg, case):
    vtype = case["vtype"] if case["measure"] == "SMD" else "LS"
    p_dist = case["p_dist"] or "t"
    eff = continuous_effects(pkg, smd_vtype=vtype, p_dist=p_dist)
    row = _row(eff, case["study_id"], case["timepoint_id"], case["measure"],
               case["outcome_id"])
    assert row["estimable"]
    # Both outcomes are stored with higher_is_better, so no sign reversal applies.
    assert row["direction"] == "higher_is_better"
    np.testing.assert_allclose(row["yi"], case["yi"], rtol=RTOL)
    np.testing.assert_allclose(row["vi"], case["vi"], rtol=RTOL)
    np.testing.assert_allclose(row["se"], np.sqrt(case["vi"]), rtol=RTOL)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose([row["ci_lb"], row["ci_ub"]],
                               [case["yi"] - z * np.sqrt(case["vi"]),
                                case["yi"] + z * np.sqrt(case["vi"])], rtol=RTOL)
    i = case["inputs"]
    assert (row["n_t"], row["n_c"]) == (i["n1i"], i["n2i"])
    if "sd" in case:  # SD recovered from the p-value: the same pooled SD in both arms
        assert row["sd_recovered"]
        np.testing.assert_allclose([row["sd_t"], row["sd_c"]], case["sd"], rtol=RTOL)
    else:
        assert not row["sd_recovered"]
        assert (row["sd_t"], row["sd_c"]) == (i["sd1i"], i["sd2i"])


def test_nirschl_md_variance_is_the_squared_se_from_p(effects):
    """MD row of Nirschl: vi = SE², SE = 9 / qt(1 - 0.012/2, 197) (R's se_call)."""
    case = next(c for c in REF["continuous"] if c["study_id"] == "nirschl2003"
                and c["measure"] == "MD" and c["p_dist"] == "t"
                and c["timepoint_id"] == "day_2_after")
    row = _row(effects, "nirschl2003", "day_2_after", "MD")
    np.testing.assert_allclose(row["se"], case["se"], rtol=RTOL)
    assert row["yi"] == 23 - 14


@pytest.mark.parametrize("case", REF["binary"], ids=lambda c: c["timepoint_id"])
def test_risk_ratio_matches_metafor(pkg, case):
    b = binary_effects(pkg)
    tp = pkg.timepoints.set_index(["study_id", "timepoint_id"]).loc[
        (case["study_id"], case["timepoint_id"]), "as_reported"]
    row = b[(b["study"] == "Nirschl 2003") & (b["timepoint"] == tp)]
    assert len(row) == 1
    row = row.iloc[0]
    i = case["inputs"]
    assert (row["events_t"], row["n_t"], row["events_c"], row["n_c"]) == (
        i["ai"], i["n1i"], i["ci"], i["n2i"])
    np.testing.assert_allclose([row["yi"], row["vi"]], [case["yi"], case["vi"]], rtol=RTOL)
    np.testing.assert_allclose([row["ci_lb"], row["ci_ub"]],
                               np.exp([case["ci_lb_log"], case["ci_ub_log"]]), rtol=RTOL)
    np.testing.assert_allclose(row["estimate"], np.exp(case["yi"]), rtol=RTOL)
    np.testing.assert_allclose(row["pval"], case["pval"], rtol=RTOL)
    assert "derived" in row["how"] or "rounded" in row["how"]


def test_binary_effects_rejects_unknown_measure(pkg):
    with pytest.raises(ValueError, match="measure must be one of"):
        binary_effects(pkg, measure="HR")


@pytest.mark.parametrize("ref", REF["subgroups"], ids=lambda r: r["window"])
def test_forest_tables_subtotals_and_subgroup_test_match_metafor(effects, ref):
    ma, footnotes = forest_analysis(effects, window=ref["window"])
    rows, summaries, sg_test = ma.studies, ma.pooled, ma.subgroup_test
    for key, label in (("subtotal_running_injury", "Running injuries"),
                       ("subtotal_other_tendinopathy", "Other tendinopathy")):
        s = summaries[summaries["subgroup"].str.startswith(label)]
        assert len(s) == 1
        s, r = s.iloc[0], ref[key]
        assert s["k"] == r["k"]
        for mine, theirs in (("estimate", "estimate"), ("se", "se"), ("ci_lb", "ci_lb"),
                             ("ci_ub", "ci_ub"), ("stat", "zval"), ("pval", "pval")):
            np.testing.assert_allclose(s[mine], r[theirs], rtol=RTOL,
                                       err_msg=mine)
    fe, qm = ref["fe_on_subtotals"], ref["mods_fe"]
    # the two R formulations of the test agree with each other ...
    np.testing.assert_allclose(fe["q"], qm["qm"], rtol=1e-10)
    # ... and with the model layer's test
    np.testing.assert_allclose(sg_test["q"], fe["q"], rtol=RTOL)
    np.testing.assert_allclose(sg_test["pval"], fe["q_pval"], rtol=RTOL)
    assert sg_test["df"] == fe["q_df"] == qm["qm_df"] == 1
    np.testing.assert_allclose(sg_test["i2"], fe["i2"], rtol=RTOL, atol=1e-12)
    # one row per trial in the subgroups, the trials without numbers kept and labelled
    assert set(rows["study"]) == {"Gudeman 1997", "Neeter 2003", "Osborne & Allison 2006",
                                  "Nirschl 2003"}
    assert (rows.loc[~rows["estimable"], "note"] == NO_PUBLIC_NUMBERS).all()
    assert rows.loc[~rows["estimable"], "weight"].isna().all()
    # every estimable trial is alone in its subgroup here: 100% weight
    np.testing.assert_allclose(rows.loc[rows["estimable"], "weight"], 100.0)
    # both recoveries carry a footnote
    assert any("Nirschl 2003" in f and "p-value" in f for f in footnotes)
    assert any("Gudeman 1997" in f and "inferred" in f for f in footnotes)


def test_md_forest_table_matches_metafor(tables):
    ma, _, _, _ = md_forest_analysis(tables.effects, tables.outcomes)
    rows = ma.studies.rename(columns={"yi": "estimate"})
    assert ma.subgroup_test is None  # the same trial at two time points: not independent
    ref = {c["timepoint_id"]: c for c in REF["continuous"]
           if c["study_id"] == "gudeman1997" and c["measure"] == "MD"}
    np.testing.assert_allclose(rows["estimate"],
                               [ref["end_of_treatment"]["yi"], ref["one_month_after"]["yi"]],
                               rtol=RTOL)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(
        rows["ci_lb"], [ref[t]["yi"] - z * np.sqrt(ref[t]["vi"])
                        for t in ("end_of_treatment", "one_month_after")], rtol=RTOL)


# --------------------------------------------------------------------- not estimable


@pytest.mark.parametrize("study_id", ["neeter2003", "osborne2006"])
def test_trials_without_public_numbers_have_a_row_for_every_outcome_and_timepoint(
        pkg, effects, study_id):
    defs = pkg.outcome_definitions
    outcomes = set(defs.loc[defs["study_id"] == study_id, "outcome_id"])
    tps = set(pkg.timepoints.loc[pkg.timepoints["study_id"] == study_id, "timepoint_id"])
    assert outcomes and tps
    mine = effects[effects["study_id"] == study_id]
    expected = {(o, t, m) for o in outcomes for t in tps for m in ("MD", "SMD")}
    assert set(zip(mine["outcome_id"], mine["timepoint_id"], mine["measure"])) == expected
    assert len(mine) == len(expected)
    assert not mine["estimable"].any()
    assert (mine["reason"] == NO_PUBLIC_NUMBERS).all()
    assert NO_PUBLIC_NUMBERS == "Not estimable \u2014 no numbers in the public record"
    assert mine[["yi", "vi", "se", "ci_lb", "ci_ub"]].isna().all().all()


def test_group_sizes_of_not_estimable_trials_are_kept_where_known(effects):
    neeter = effects[effects["study_id"] == "neeter2003"]
    assert (neeter["n_t"] == 14).all() and (neeter["n_c"] == 11).all()
    osborne = effects[effects["study_id"] == "osborne2006"]
    assert osborne[["n_t", "n_c"]].isna().all().all()


def test_columns_and_one_row_per_trial_outcome_timepoint_measure(effects):
    assert list(effects.columns) == EFFECT_COLUMNS
    key = ["study_id", "outcome_id", "timepoint_id", "measure"]
    assert not effects.duplicated(key).any()


# --------------------------------------------------------------------- audit trail


def test_how_names_the_p_value_recovery_for_nirschl(effects):
    rows = effects[(effects["study_id"] == "nirschl2003") & effects["estimable"]]
    assert len(rows) == 4
    for _, r in rows.iterrows():
        p = {"day_2_after": "0.012", "one_month_after": "0.249"}[r["timepoint_id"]]
        assert r["sd_recovered"]
        assert f"p = {p}" in r["how"]
        assert "t with 197 df" in r["how"]
        assert "pooled SD" in r["how"]
        assert "SD not reported" in r["how"]


def test_how_names_the_inferred_statuses_for_gudeman(effects):
    rows = effects[(effects["study_id"] == "gudeman1997") & effects["estimable"]]
    assert len(rows) == 4
    for _, r in rows.iterrows():
        assert "SD inferred" in r["how"]
        assert "n analysed of the arm (inferred" in r["how"]
        assert "means reported" in r["how"]
        assert "Cochrane" in r["how"]
    smd = rows[rows["measure"] == "SMD"]
    assert smd["how"].str.contains("vtype LS").all()
    assert not smd["how"].str.contains("sign reversed").any()


def test_reported_between_group_keeps_cochrane_wmd_beside_the_computed_md(pkg, effects):
    rep = reported_between_group(pkg)
    g = rep[rep["study_id"] == "gudeman1997"]
    assert len(g) == 1 and g.iloc[0]["study"] == "Gudeman 1997"
    computed = _row(effects, "gudeman1997", "end_of_treatment", "MD")["yi"]
    # the printed WMD and the difference of the abstract's means are different numbers
    assert g.iloc[0]["estimate"] != pytest.approx(computed)
    np.testing.assert_allclose(computed, 6.8 - 3.1)


# --------------------------------------------------------------------- choices


def _with_direction(pkg, study_id, outcome_id, direction):
    defs = pkg.outcome_definitions.copy()
    mask = (defs["study_id"] == study_id) & (defs["outcome_id"] == outcome_id)
    assert mask.sum() == 1
    defs.loc[mask, "direction"] = direction
    return dataclasses.replace(pkg, outcome_definitions=defs)


def test_smd_sign_follows_direction_and_md_does_not(pkg, effects):
    flipped = continuous_effects(
        _with_direction(pkg, "gudeman1997", "maryland_foot_score", "higher_is_worse"))
    for tp in ("end_of_treatment", "one_month_after"):
        a, b = _row(effects, "gudeman1997", tp, "SMD"), _row(flipped, "gudeman1997", tp, "SMD")
        assert a["yi"] > 0
        np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-12)
        np.testing.assert_allclose(b["vi"], a["vi"], rtol=1e-12)
        np.testing.assert_allclose([b["ci_lb"], b["ci_ub"]], [-a["ci_ub"], -a["ci_lb"]],
                                   rtol=1e-12)
        assert "sign reversed" in b["how"]
        a, b = _row(effects, "gudeman1997", tp, "MD"), _row(flipped, "gudeman1997", tp, "MD")
        assert b["yi"] == a["yi"] and b["vi"] == a["vi"]
        assert "sign reversed" not in b["how"]


@pytest.mark.parametrize("tp, p", [("day_2_after", 0.012), ("one_month_after", 0.249)])
def test_p_dist_normal_versus_t_changes_the_se_by_the_quantile_ratio(pkg, effects, tp, p):
    """SE = |MD| / q: so SE_normal / SE_t = qt(1 - p/2, 197) / qnorm(1 - p/2)."""
    normal = continuous_effects(pkg, p_dist="normal")
    se_t = _row(effects, "nirschl2003", tp, "MD")["se"]
    se_n = _row(normal, "nirschl2003", tp, "MD")["se"]
    ratio = stats.t.ppf(1 - p / 2, 99 + 100 - 2) / stats.norm.ppf(1 - p / 2)
    assert ratio > 1
    np.testing.assert_allclose(se_n / se_t, ratio, rtol=1e-10)
    md = {"day_2_after": 23 - 14, "one_month_after": 24 - 19}[tp]
    np.testing.assert_allclose(se_n, md / stats.norm.ppf(1 - p / 2), rtol=1e-10)
    assert "normal" in _row(normal, "nirschl2003", tp, "MD")["how"]
    # Gudeman has its SDs: p_dist must not touch it
    for m in ("MD", "SMD"):
        assert (_row(normal, "gudeman1997", "end_of_treatment", m)["vi"]
                == _row(effects, "gudeman1997", "end_of_treatment", m)["vi"])


def test_unknown_p_dist_is_rejected(pkg):
    with pytest.raises(ValueError, match="dist"):
        continuous_effects(pkg, p_dist="cauchy")


def test_unknown_smd_vtype_is_rejected(pkg):
    with pytest.raises(ValueError):
        continuous_effects(pkg, smd_vtype="XX")


@pytest.mark.parametrize("relation", ["<", ">"])
def test_p_value_given_only_as_a_bound_makes_the_row_not_estimable(pkg, relation):
    bg = pkg.between_group.copy()
    mask = ((bg["study_id"] == "nirschl2003") & (bg["outcome_id"] == "pain_vas")
            & (bg["timepoint_id"] == "day_2_after"))
    assert mask.sum() == 1
    bg.loc[mask, "p_relation"] = relation
    eff = continuous_effects(dataclasses.replace(pkg, between_group=bg))
    for m in ("MD", "SMD"):
        row = _row(eff, "nirschl2003", "day_2_after", m)
        assert not row["estimable"]
        assert "no exact p-value" in row["reason"]
        assert np.isnan(row["yi"])
    # the other time point keeps its exact p and stays estimable
    assert _row(eff, "nirschl2003", "one_month_after", "SMD")["estimable"]


def test_equal_means_with_a_p_value_are_not_estimable_rather_than_an_error(pkg):
    import dataclasses

    outcomes = pkg.outcomes.copy()
    nirschl = (outcomes["study_id"] == "nirschl2003") & (outcomes["outcome_id"] == outcomes.loc[
        outcomes["study_id"] == "nirschl2003", "outcome_id"].iloc[0])
    outcomes.loc[nirschl, "mean"] = 20.0
    eff = continuous_effects(dataclasses.replace(pkg, outcomes=outcomes))
    rows = eff[(eff["study_id"] == "nirschl2003") & (eff["kind"] != "proportion")
               & eff["reason"].str.contains("mean difference of 0", na=False)]
    assert len(rows) and not rows["estimable"].any()
