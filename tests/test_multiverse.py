"""The multiverse of analytic choices (analysis.multiverse).

Checked against: metafor (tests/reference/metafor_multiverse.R: every data choice's effect
sizes and the pooled two-trial specifications under every model); separate pool() calls
for every specification; a small grid worked by hand from the data's numbers with the
effect-size formulas and pool(); the design effect of analysis.sensitivity; and the rules,
counted from the grid's levels. Every factors-file error is exercised through the command
line (exit 2, the line named, nothing written, no traceback).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import conventions
from analysis import effect_sizes as es
from analysis import multiverse as mv
from analysis.paths import DATA_DIR
from analysis.pooling import pool, pool_batch
from analysis.sensitivity import unit_of_analysis
from analysis.timecourse import pooled_by_window
from analysis.trial_effects import continuous_effects

REFERENCE = json.loads((Path(__file__).parent / "reference" / "metafor_multiverse.json")
                       .read_text(encoding="utf-8"))
FACTORS = mv.DEFAULT_FACTORS_FILE.read_text(encoding="utf-8")
EOT, ONE = "end_of_treatment", "about_one_month"


@pytest.fixture(scope="module")
def result(pkg):
    return mv.multiverse(pkg)


@pytest.fixture(scope="module")
def specs(result):
    return result.specifications


def _write(tmp_path, text, name="factors.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _drop_table(text: str, header: str) -> str:
    """The factors text without the table [header] and its [header.levels]."""
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            name = line.strip().strip("[]")
            skip = name == header or name == f"{header}.levels"
        if not skip:
            out.append(line)
    return "".join(out)


def _small_grid(*factors: str) -> str:
    """The default factors file reduced to the named factors."""
    text = FACTORS
    for f in mv.FACTOR_KINDS:
        if f not in factors:
            text = _drop_table(text, f"{mv.FACTOR_KINDS[f].stage}.{f}")
    return text


# --------------------------------------------------------------------------- the factors


def test_the_default_grid_holds_the_reviews_choices_with_reasons():
    grid = mv.read_factors()
    assert grid.names == ("elbow_trial", "mean_difference_source", "feet_split", "feet_icc",
                          "patients", "smd_variance", "p_to_se", "measure", "tau2_estimator",
                          "ci_method")
    assert [f.stage for f in grid.factors] == ["which_data"] * 7 + ["how_to_analyse"] * 3
    defaults = {f.name: f.default for f in grid.factors}
    assert defaults == {"elbow_trial": "out", "mean_difference_source": "arm means",
                        "feet_split": "as recorded", "feet_icc": "0", "patients": "recorded",
                        "smd_variance": "LS", "p_to_se": "t", "measure": "SMD",
                        "tau2_estimator": "REML", "ci_method": "Wald"}
    table = grid.table()
    assert table["reason"].str.len().min() > 20 and table["level_reason"].str.len().min() > 10
    assert grid.n_combinations == math.prod(len(f.levels) for f in grid.factors) == 13440
    # the line of each level is the line of the file that declares it
    lines = FACTORS.splitlines()
    for _, r in table.iterrows():
        assert r["level"].lower() in lines[r["line"] - 1].lower().replace('"', "")


def test_levels_are_spelled_as_the_code_spells_them(tmp_path):
    text = FACTORS.replace('REML = "restricted', 'reml = "restricted').replace(
        'default = "REML"', 'default = "reml"')
    grid = mv.read_factors(_write(tmp_path, text))
    assert grid["tau2_estimator"].levels[0] == "REML"
    assert grid["tau2_estimator"].default == "REML"


# --------------------------------------------------------------------------- effects


def test_the_restricted_package_gives_the_effects_steps_own_rows(pkg, effects):
    small = mv._primary_package(pkg)
    got = continuous_effects(small)
    want = effects[(effects["review_role"] == "primary") & effects["window"].isin(mv.WINDOWS)]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


def _effects_at_defaults(result):
    e = result.effects
    g = result.grid
    keep = np.ones(len(e), dtype=bool)
    for f in ("mean_difference_source", "feet_split", "feet_icc", "patients", "smd_variance",
              "p_to_se"):
        keep &= (e[f] == g.default_of(f)).to_numpy()
    return e[keep]


def test_at_the_default_choices_the_effects_are_the_effects_steps_exactly(result, effects):
    got = _effects_at_defaults(result)
    want = effects[(effects["review_role"] == "primary") & effects["window"].isin(mv.WINDOWS)]
    got = got.sort_values(["study_id", "window", "measure"]).reset_index(drop=True)
    want = want.sort_values(["study_id", "window", "measure"]).reset_index(drop=True)
    for col in ("yi", "vi", "n_t", "n_c"):
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float), col)
    assert got["how"].tolist() == want["how"].tolist()
    assert (got["design_effect"] == 1).all()


def test_every_effect_of_every_data_choice_matches_metafor(result):
    e = result.effects
    e = e[e["estimable"].astype(bool)]
    checked = 0
    for ref in REFERENCE["effects"]:
        sel = (e["study_id"] == ref["study_id"]) & (e["window"] == ref["window"]) & (
            e["measure"] == ref["measure"])
        if ref["measure"] == "SMD":
            sel &= e["smd_variance"] == ref["smd_variance"]
        if ref["study_id"] == "gudeman1997":
            for f in ("mean_difference_source", "feet_split", "feet_icc", "patients"):
                sel &= e[f] == ref[f]
        else:
            sel &= e["p_to_se"] == ref["p_to_se"]
        rows = e[sel]
        assert len(rows), ref
        np.testing.assert_allclose(rows["yi"], ref["yi"], rtol=1e-10, err_msg=str(ref))
        np.testing.assert_allclose(rows["vi"], ref["vi"], rtol=1e-10, err_msg=str(ref))
        checked += len(rows)
    assert checked == len(e)  # every estimable effect row is checked against R


def test_the_design_effect_is_the_sensitivity_modules(result, pkg):
    """ICC 0.5 with every patient contributing both feet: DE = 1 + (40/20 - 1) 0.5 = 1.5."""
    e = result.effects
    row = e[(e["study_id"] == "gudeman1997") & (e["window"] == EOT) & (e["measure"] == "SMD")
            & (e["feet_icc"] == "0.5") & (e["patients"] == "both feet")
            & (e["feet_split"] == "as recorded") & (e["mean_difference_source"] == "arm means")
            & (e["smd_variance"] == "LS")].iloc[0]
    studies = pkg.studies.set_index("study_id")
    feet = studies.at["gudeman1997", "units_randomised_n"]
    assert row["design_effect"] == pytest.approx(1 + (feet / (feet / 2) - 1) * 0.5) == 1.5
    assert row["n_t"] == pytest.approx(20 / 1.5) and row["n_c"] == pytest.approx(20 / 1.5)
    ref = unit_of_analysis(row["mean_t"], row["sd_t"], 20, row["mean_c"], row["sd_c"], 20,
                           n_units=feet, n_patients=[feet / 2], icc=[0.5])
    assert row["yi"] == pytest.approx(ref["yi"].iloc[0], rel=1e-12)
    assert math.sqrt(row["vi"]) == pytest.approx(ref["se"].iloc[0], rel=1e-12)
    assert "design effect" in row["how"] and "Cochrane Handbook 23.1.4" in row["how"]


def test_both_feet_splits_reproduce_the_cochrane_interval_and_the_reverse_does_not(pkg):
    """The 26/14 level: 26 feet dexamethasone, 14 placebo (arms.csv notes); computed."""
    o = pkg.outcomes
    arm = o[(o["study_id"] == "gudeman1997") & (o["timepoint_id"] == "end_of_treatment")]
    sd_t = float(arm.loc[arm["arm_id"] == "dexamethasone", "sd"].iloc[0])
    sd_c = float(arm.loc[arm["arm_id"] == "placebo", "sd"].iloc[0])
    bg = pkg.between_group
    cochrane = bg[(bg["study_id"] == "gudeman1997") & bg["estimate"].notna()].iloc[0]
    z = conventions.z_quantile(0.95)

    def interval(n_t, n_c):
        half = z * math.sqrt(sd_t ** 2 / n_t + sd_c ** 2 / n_c)
        return (round(cochrane["estimate"] - half, 2), round(cochrane["estimate"] + half, 2))

    printed = (cochrane["ci_lower"], cochrane["ci_upper"])
    assert interval(20, 20) == printed
    assert interval(26, 14) == printed
    assert interval(14, 26) != printed


def test_the_printed_mean_difference_replaces_the_arm_means_and_says_so(result, pkg):
    e = result.effects
    base = (e["study_id"] == "gudeman1997") & (e["window"] == EOT) & (e["feet_icc"] == "0") & (
        e["feet_split"] == "as recorded") & (e["smd_variance"] == "LS")
    printed = e[base & (e["mean_difference_source"] == "printed")]
    arms = e[base & (e["mean_difference_source"] == "arm means")]
    md_p = printed[printed["measure"] == "MD"].iloc[0]
    md_a = arms[arms["measure"] == "MD"].iloc[0]
    bg = pkg.between_group
    est = float(bg.loc[(bg["study_id"] == "gudeman1997") & bg["estimate"].notna(),
                       "estimate"].iloc[0])
    assert md_p["yi"] == est and md_a["yi"] == pytest.approx(md_a["mean_t"] - md_a["mean_c"])
    assert md_p["vi"] == pytest.approx(md_a["vi"], rel=1e-12)  # same SDs and group sizes
    smd_p = printed[printed["measure"] == "SMD"].iloc[0]
    g = es.hedges_g(est, smd_p["sd_t"], 20, 0.0, smd_p["sd_c"], 20)
    assert smd_p["yi"] == pytest.approx(float(g.yi), rel=1e-12)
    assert "as printed by Crawford & Thomson 2003" in md_p["how"]
    # at one month nothing is printed, so the choice changes nothing there
    one = e[(e["study_id"] == "gudeman1997") & (e["window"] == ONE)]
    by_source = one.groupby("mean_difference_source")["yi"].apply(list)
    assert by_source["printed"] == by_source["arm means"]


def test_data_choices_never_write_to_the_data_folder(pkg):
    def digest():
        h = hashlib.sha256()
        for path in sorted(DATA_DIR.iterdir()):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        return h.hexdigest()

    before = digest()
    mv.multiverse(pkg)
    assert digest() == before


# --------------------------------------------------------------------------- rules and counts


def test_the_number_of_specifications_follows_from_the_rules(result, specs):
    """Counted from the grid: with the elbow trial out only Gudeman is pooled (k = 1, so
    the model does not apply, nor p-to-SE); with it in, only the SMD (two instruments)."""
    g = result.grid
    n = {f.name: len(f.levels) for f in g.factors}
    icc_patients = 1 + (n["feet_icc"] - 1) * n["patients"]  # patients moot at ICC 0
    models = n["tau2_estimator"] * n["ci_method"] - 1  # no Hartung-Knapp with FE
    for window, sources in ((EOT, n["mean_difference_source"]), (ONE, 1)):
        gudeman = sources * n["feet_split"] * icc_patients
        out = gudeman * n["smd_variance"] + gudeman  # SMD + MD
        elbow_in = gudeman * n["smd_variance"] * n["p_to_se"] * models
        assert (specs["window"] == window).sum() == out + elbow_in
    assert (specs["window"] == EOT).sum() >= 1000 and (specs["window"] == ONE).sum() >= 1000


def test_every_combination_of_choices_is_accounted_for(result, specs):
    counts = result.counts()
    assert (counts["combinations"] == result.grid.n_combinations).all()
    assert (counts["combinations"] == counts["invalid"] + counts["represented"]).all()
    full = result.expanded()
    for w in mv.WINDOWS:
        assert (full["window"] == w).sum() == specs.loc[specs["window"] == w,
                                                         "combinations"].sum()
    # the expanded grid has no repeated combination of choices
    assert not full.duplicated(["window", *mv.FACTOR_KINDS]).any()


def test_the_rules_hold_in_every_specification(specs):
    k1 = specs["k"] == 1
    assert specs.loc[k1, ["tau2_estimator", "ci_method"]].isna().all().all()
    assert specs.loc[~k1, ["tau2_estimator", "ci_method"]].notna().all().all()
    assert not ((specs["tau2_estimator"] == "FE") & (specs["ci_method"] == "Hartung-Knapp")).any()
    md = specs[specs["measure"] == "MD"]
    assert (md["k"] == 1).all() and md["smd_variance"].isna().all()
    assert (md["scale"] == "MD, Maryland Foot Score (points)").all()
    out = specs[specs["elbow_trial"] == "out"]
    assert out["p_to_se"].isna().all() and (out["studies"] == "Gudeman 1997").all()
    assert specs.loc[specs["elbow_trial"] == "in", "p_to_se"].notna().all()
    assert specs.loc[specs["window"] == ONE, "mean_difference_source"].isna().all()
    assert specs.loc[specs["window"] == EOT, "mean_difference_source"].notna().all()
    assert specs.loc[specs["feet_icc"] == "0", "patients"].isna().all()
    assert specs.loc[specs["feet_icc"] != "0", "patients"].notna().all()
    # no two specifications make the same choices
    assert not specs.duplicated(["window", *mv.FACTOR_KINDS]).any()


def test_the_exclusions_say_how_many_and_why(result):
    e = result.exclusions
    assert set(e["kind"]) == {"invalid", "redundant"}
    assert e["reason"].str.len().min() > 20
    invalid = e[e["kind"] == "invalid"].set_index(["window", "rule"])["combinations"]
    g = result.grid
    data = math.prod(len(g.levels_of(f)) for f in mv.DATA_FACTORS if f != "elbow_trial")
    models = len(g.levels_of("tau2_estimator")) * len(g.levels_of("ci_method"))
    for w in mv.WINDOWS:
        assert invalid[(w, "md_across_instruments")] == data * models  # MD with the elbow in
        # FE with Hartung-Knapp: every data choice x measure x elbow level, less the MD
        # specifications with the elbow in (already removed)
        assert invalid[(w, "hartung_knapp_common_effect")] == data * 3


def test_trials_without_public_numbers_are_in_no_specification(result, specs):
    ne = result.not_estimable
    assert set(ne["study"]) == {"Neeter 2003", "Osborne & Allison 2006"}
    assert set(ne["window"]) == set(mv.WINDOWS)
    pooled = set("; ".join(specs["studies"]).split("; "))
    assert pooled == {"Gudeman 1997", "Nirschl 2003"}
    assert any("does not add evidence" in s for s in result.sentences())


# --------------------------------------------------------------------------- pooling


def test_every_specification_is_pooled_in_one_pool_batch_call(pkg, monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return pool_batch(*args, **kwargs)

    monkeypatch.setattr(mv, "pool_batch", counting)
    res = mv.multiverse(pkg)
    assert len(calls) == 1
    assert set(calls[0]["method"]) == {"REML", "DL", "PM", "ML", "HE", "SJ", "FE"}
    assert len(res.specifications) == res.specifications["spec_id"].nunique() > 4000


def test_every_specification_equals_its_own_pool_call(result, specs):
    e = result.effects
    est = e[e["estimable"].astype(bool)]
    for _, s in specs.sample(200, random_state=1).iterrows():
        rows = est[(est["window"] == s["window"]) & (est["measure"] == s["measure"])]
        for f in ("mean_difference_source", "feet_split", "feet_icc", "patients",
                  "smd_variance", "p_to_se"):
            level = s[f] if pd.notna(s[f]) else result.grid.default_of(f)
            rows = rows[rows[f] == level]
        scopes = ["running_injury"] + (["other_tendinopathy"] if s["elbow_trial"] == "in"
                                       else [])
        rows = rows[rows["scope"].isin(scopes)].sort_values("year")
        assert "; ".join(rows["study"]) == s["studies"]
        method = s["tau2_estimator"] if pd.notna(s["tau2_estimator"]) else "REML"
        ref = pool(rows["yi"], rows["vi"], method=method,
                   knha=s["ci_method"] == "Hartung-Knapp", tau2_ci=False)
        for col in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2"):
            assert s[col] == pytest.approx(getattr(ref, col), rel=1e-12, abs=1e-15), col


def test_the_two_trial_specifications_match_metafor(specs):
    smd_in = specs[(specs["elbow_trial"] == "in") & (specs["measure"] == "SMD")]
    for ref in REFERENCE["pooled"]:
        sel = (smd_in["window"] == ref["window"]) & (
            smd_in["smd_variance"] == ref["smd_variance"]) & (
            smd_in["p_to_se"] == ref["p_to_se"]) & (
            smd_in["tau2_estimator"] == ref["tau2_estimator"]) & (
            smd_in["ci_method"] == ref["ci_method"]) & (
            smd_in["feet_split"] == ref["feet_split"]) & (
            smd_in["feet_icc"] == ref["feet_icc"])
        if ref["feet_icc"] != "0":
            sel &= smd_in["patients"] == ref["patients"]
        if ref["window"] == EOT:
            sel &= smd_in["mean_difference_source"] == ref["mean_difference_source"]
        row = smd_in[sel]
        assert len(row) == 1, ref
        row = row.iloc[0]
        for col in ("estimate", "se", "ci_lb", "ci_ub", "pval"):
            assert row[col] == pytest.approx(ref[col], rel=1e-6), (col, ref["call"])
        assert row["tau2"] == pytest.approx(ref["tau2"], rel=1e-5, abs=1e-8), ref["call"]


def test_the_default_specification_is_the_projects_own_analysis(result, effects):
    d = result.default()
    assert list(d["window"]) == list(mv.WINDOWS)
    pooled = pooled_by_window(effects).set_index(["scope", "window"])
    for _, r in d.iterrows():
        ref = pooled.loc[("running_injury", r["window"])]
        assert r["estimate"] == ref["estimate"] and r["ci_lb"] == ref["ci_lb"]
        assert r["ci_ub"] == ref["ci_ub"]
        assert r["conclusion"] == conventions.verdict(ref["ci_lb"], ref["ci_ub"])


def test_conclusions_are_the_conventions_verdicts(specs):
    assert (specs["conclusion"] == conventions.verdict(specs["ci_lb"], specs["ci_ub"])).all()


def test_a_mean_difference_on_a_higher_is_worse_scale_is_judged_the_right_way_round():
    """Synthetic numbers: an MD of -2 on a pain scale (lower is better) favours the treatment."""
    assert mv.conclusion(-3.0, -1.0, measure="MD", direction="higher_is_worse") == (
        conventions.FAVOURS_TREATMENT)
    assert mv.conclusion(1.0, 3.0, measure="MD", direction="higher_is_worse") == (
        conventions.FAVOURS_CONTROL)
    assert mv.conclusion(-3.0, -1.0, measure="SMD", direction="higher_is_worse") == (
        conventions.FAVOURS_CONTROL)  # an SMD is already oriented
    assert mv.conclusion(-1.0, 1.0, measure="MD", direction="higher_is_worse") == (
        conventions.NO_CLEAR_DIFFERENCE)


# --------------------------------------------------------------------------- summaries


def _hand_worked(pkg):
    """The primary SMDs of Gudeman 1997 and Nirschl 2003 at the default data choices,
    from the stored numbers with the effect-size formulas (Cochrane Handbook 6.5.2.3 for
    Nirschl's SD)."""
    o, bg = pkg.outcomes, pkg.between_group
    out = {}
    for window, g_tp, n_tp in ((EOT, "end_of_treatment", "day_2_after"),
                               (ONE, "one_month_after", "one_month_after")):
        g = o[(o["study_id"] == "gudeman1997") & (o["timepoint_id"] == g_tp)].set_index("arm_id")
        gud = es.hedges_g(g.at["dexamethasone", "mean"], g.at["dexamethasone", "sd"], 20,
                          g.at["placebo", "mean"], g.at["placebo", "sd"], 20)
        n = o[(o["study_id"] == "nirschl2003") & (o["outcome_id"] == "pain_vas")
              & (o["timepoint_id"] == n_tp)].set_index("arm_id")
        p = float(bg.loc[(bg["study_id"] == "nirschl2003") & (bg["outcome_id"] == "pain_vas")
                         & (bg["timepoint_id"] == n_tp), "p_value"].iloc[0])
        md = n.at["dexamethasone", "mean"] - n.at["placebo", "mean"]
        from scipy import stats
        se = abs(md) / stats.t.ppf(1 - p / 2, 99 + 100 - 2)
        sd = se / math.sqrt(1 / 99 + 1 / 100)
        nir = es.hedges_g(n.at["dexamethasone", "mean"], sd, 99, n.at["placebo", "mean"], sd, 100)
        out[window] = (float(gud.yi), float(gud.vi), float(nir.yi), float(nir.vi))
    return out


def test_the_summary_counts_a_small_grid_worked_by_hand(pkg, tmp_path):
    """Three factors (elbow trial in/out, REML/DL, Wald/Hartung-Knapp): per window one
    specification with Gudeman alone and four with both trials, each pooled here with
    pool() and judged from its CI."""
    grid = mv.read_factors(_write(tmp_path, _small_grid("elbow_trial", "tau2_estimator",
                                                        "ci_method")))
    grid = mv.FactorGrid(tuple(
        dataclasses.replace(f, levels=f.levels[:2], level_reasons=f.level_reasons[:2],
                               level_lines=f.level_lines[:2])
        if f.name == "tau2_estimator" else f for f in grid.factors), source=grid.source)
    assert grid["tau2_estimator"].levels == ("REML", "DL")
    res = mv.multiverse(pkg, grid)
    hand = _hand_worked(pkg)
    summ = res.summary().set_index(["window", "scale"])
    for window, (gy, gv, ny, nv) in hand.items():
        fits = [pool([gy], [gv])]
        fits += [pool([gy, ny], [gv, nv], method=m, knha=k, tau2_ci=False)
                 for m in ("REML", "DL") for k in (False, True)]
        verdicts = [conventions.verdict(f.ci_lb, f.ci_ub) for f in fits]
        estimates = np.array([f.estimate for f in fits])
        row = summ.loc[(window, "all")]
        assert row["specifications"] == 5
        assert row["favours_treatment"] == verdicts.count(conventions.FAVOURS_TREATMENT)
        assert row["no_clear_difference"] == verdicts.count(conventions.NO_CLEAR_DIFFERENCE)
        assert row["favours_control"] == verdicts.count(conventions.FAVOURS_CONTROL)
        smd = summ.loc[(window, "SMD")]
        assert smd["median"] == pytest.approx(np.median(estimates), rel=1e-12)
        assert smd["min"] == pytest.approx(estimates.min(), rel=1e-12)
        assert smd["max"] == pytest.approx(estimates.max(), rel=1e-12)
        assert smd["default_estimate"] == pytest.approx(gy, rel=1e-12)
    # by hand, the numbers behind this test's expectations differ between the windows
    eot = summ.loc[(EOT, "all")]
    assert eot["favours_treatment"] == 3 and eot["no_clear_difference"] == 2
    assert summ.loc[(ONE, "all"), "no_clear_difference"] == 5

    # which choice moves the estimate: with the elbow trial in or out, by hand
    infl = res.influence().set_index(["window", "factor"])
    for window, (gy, gv, ny, nv) in hand.items():
        shifts = [abs(gy - pool([gy, ny], [gv, nv], method=m, knha=k, tau2_ci=False).estimate)
                  for m in ("REML", "DL") for k in (False, True)]
        elbow = infl.loc[(window, "elbow_trial")]
        assert elbow["sibling_sets"] == 4
        assert elbow["median_shift"] == pytest.approx(np.median(shifts), rel=1e-12)
        assert elbow["max_shift"] == pytest.approx(max(shifts), rel=1e-12)
        ci = infl.loc[(window, "ci_method")]
        assert ci["sibling_sets"] == 2 and ci["median_shift"] == 0.0
    assert infl.loc[(EOT, "ci_method"), "conclusion_changes"] == 1.0
    assert infl.loc[(ONE, "ci_method"), "conclusion_changes"] == 0.0
    levels = res.by_level().set_index(["window", "factor", "level"])
    assert levels.loc[(EOT, "elbow_trial", "in"), "specifications"] == 4
    assert levels.loc[(EOT, "ci_method", "(does not apply)"), "specifications"] == 1


def test_sentences_state_the_counts_of_the_table(result):
    summ = result.summary()
    text = " ".join(result.sentences())
    for w in mv.WINDOWS:
        row = summ[(summ["window"] == w) & (summ["scale"] == "all")].iloc[0]
        assert f"{int(row['specifications']):,} specifications" in text
        assert f"in {int(row['favours_treatment']):,} (" in text


def test_the_report_is_json_with_every_part(result):
    report = json.loads(json.dumps(result.report(), allow_nan=False))
    assert set(report) >= {"factors", "counts", "exclusions", "not_in_any_specification",
                           "summary", "influence", "by_level", "sentences", "specifications"}
    assert len(report["specifications"]) == len(result.specifications)


# --------------------------------------------------------------------------- the engine option


def test_pool_batch_with_a_model_per_group_equals_one_call_per_model():
    """Synthetic data: 200 meta-analyses, k = 1 to 5, each with its own model."""
    rng = np.random.default_rng(7)
    m = 200
    k = rng.integers(1, 6, m)
    g = np.repeat(np.arange(m), k)
    y = rng.normal(0.3, 0.5, g.size)
    v = rng.uniform(0.02, 0.3, g.size)
    methods = np.array(["REML", "DL", "PM", "FE", "SJ", "HE", "ML"])
    gm = methods[rng.integers(0, methods.size, m)]
    gk = rng.integers(0, 2, m).astype(bool) & (gm != "FE")
    labels = np.array([f"meta {i}" for i in range(m)], dtype=object)[g]
    res = pool_batch(y, v, labels, method=gm[g], knha=gk[g])
    assert list(res.summary["group"]) == list(dict.fromkeys(labels))
    got = res.summary.set_index("group")
    for meth in methods:
        for hk in (False, True):
            rows = ((gm == meth) & (gk == hk))[g]
            if not rows.any():
                continue
            ref = pool_batch(y[rows], v[rows], labels[rows], method=meth, knha=hk)
            sub = got.loc[ref.summary["group"]]
            for col in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2", "pi_lb"):
                np.testing.assert_array_equal(sub[col].to_numpy(float),
                                              ref.summary[col].to_numpy(float))
            np.testing.assert_array_equal(res.weights[rows], ref.weights)
            assert (sub["method"] == meth).all() and (sub["knha"] == hk).all()


@pytest.mark.parametrize("method, knha, message", [
    (["REML", "DL", "DL"], False, "the same within a group"),
    (["REML", "XX", "REML"], False, r"method: 'XX' at row index\(es\) 1 is not valid"),
    ("REML", [True, "yes", True], r"knha: 'yes' at row index\(es\) 1 is not valid"),
    (["REML", None, "REML"], False, r"method is missing at row index\(es\) 1"),
    (["REML", "REML"], False, "one value per row"),
])
def test_pool_batch_refuses_inconsistent_models(method, knha, message):
    with pytest.raises(ValueError, match=message):
        pool_batch([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], ["a", "a", "b"], method=method, knha=knha)


# --------------------------------------------------------------------------- command line


def _line_of(text: str, fragment: str) -> int:
    """1-based number of the first line of ``text`` containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def _run(argv, capsys):
    rc = mv.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_command_writes_every_specification_as_csv(tmp_path, capsys, specs):
    target = tmp_path / "multiverse.csv"
    rc, out, err = _run(["--output", target], capsys)
    assert rc == 0 and out == ""
    table = pd.read_csv(target, keep_default_na=False, na_values=[""])
    assert list(table.columns) == mv.SPEC_COLUMNS
    assert len(table) == len(specs)
    np.testing.assert_allclose(table["estimate"], specs["estimate"], rtol=1e-14)
    assert table["tau2_estimator"].isna().sum() == specs["tau2_estimator"].isna().sum()
    assert "note: End of treatment:" in err and "md_across_instruments" in err
    assert "Neeter 2003" in err


def test_the_command_writes_json_to_standard_output(capsys, result):
    rc, out, err = _run(["--format", "json"], capsys)
    assert rc == 0
    report = json.loads(out)
    assert report["counts"] == json.loads(result.counts().to_json(orient="records"))
    assert report["sentences"] == result.sentences()


def test_the_command_reads_another_data_folder(tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    path = data / "studies.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Gudeman 1997,1997",
                                                             "Relabelled 1997,1997", 1),
                    encoding="utf-8")
    rc, out, err = _run(["--data", data], capsys)
    assert rc == 0 and "Relabelled 1997" in out


def test_dropping_a_factor_fixes_it_at_the_projects_default(tmp_path, capsys):
    text = _drop_table(FACTORS, "how_to_analyse.tau2_estimator")
    target = tmp_path / "out.csv"
    rc, _, _ = _run(["--factors", _write(tmp_path, text), "--output", target], capsys)
    assert rc == 0
    table = pd.read_csv(target, keep_default_na=False, na_values=[""])
    assert set(table["tau2_estimator"].dropna()) == {"REML"}
    assert (table["k"] == 2).sum() == (table["tau2_estimator"] == "REML").sum()


def _bad_factors(text):
    """(label, factors text, line expected in the message, words expected)."""
    f = FACTORS
    cases = [
        ("malformed TOML", f.replace('default = "out"', 'default = out', 1),
         _line_of(f, 'default = "out"'), "not valid TOML"),
        ("unknown section", f + '\n[which_analysis.measure]\nreason = "x"\n',
         len(f.splitlines()) + 2, "unknown section [which_analysis]"),
        ("unknown factor", f.replace("[which_data.p_to_se]", "[which_data.p_to_sd]").replace(
            "[which_data.p_to_se.levels]", "[which_data.p_to_sd.levels]"),
         _line_of(f, "[which_data.p_to_se]"), "unknown factor 'p_to_sd'"),
        ("factor in the wrong group",
         f.replace("[how_to_analyse.measure]", "[which_data.measure]").replace(
             "[how_to_analyse.measure.levels]", "[which_data.measure.levels]"),
         _line_of(f, "[how_to_analyse.measure]"), "'measure' is a how_to_analyse factor"),
        ("unknown level", f.replace('PM = "Paule', 'PMX = "Paule'),
         _line_of(f, 'PM = "Paule'), "no level 'PMX'"),
        ("ICC out of range", f.replace('"0.75" = "strongly', '"1.5" = "strongly'),
         _line_of(f, '"0.75" = "strongly'), "an ICC is a number from 0 to 1"),
        ("split not T/C", f.replace('"26/14" = "the unbalanced', '"26-14" = "the unbalanced'),
         _line_of(f, '"26/14" = "the unbalanced'), "no level '26-14'"),
        ("default not a level", f.replace('default = "REML"', 'default = "DL2"'),
         _line_of(f, 'default = "REML"'), "default 'DL2' is not one of its levels"),
        ("missing default", f.replace('default = "Wald"\n', ""),
         _line_of(f, "[how_to_analyse.ci_method]"), "needs default"),
        ("missing reason", f.replace(
            'reason = "Several named formulas', 'rationale = "Several named formulas'),
         _line_of(f, 'reason = "Several named formulas'), "unknown key 'rationale'"),
        ("empty level reason", f.replace('t = "t with n1', 't = "" # "t with n1'),
         _line_of(f, 't = "t with n1'), "give the reason it is defensible"),
        ("repeated level", f.replace('DL = "DerSimonian', 'reml = "DerSimonian'),
         _line_of(f, 'DL = "DerSimonian'), "repeats level 'REML'"),
        ("levels not a table", f.replace(
            '[how_to_analyse.ci_method.levels]\nWald = "normal (Wald-type) interval, the default '
            'of metafor and RevMan 5"\n"Hartung-Knapp" = "Hartung-Knapp-Sidik-Jonkman t interval '
            'with k - 1 df (IntHout et al. 2014)"\n', "").replace(
            'default = "Wald"', 'default = "Wald"\nlevels = ["Wald"]'),
         _line_of(f, 'default = "Wald"') + 1, "needs a table of levels"),
        ("empty levels: an empty grid", f.replace(
            'out = "running injuries only: the review\'s question, never silently pooled with '
            'the elbow"\nin = "pooled with the running injuries as indirect evidence on the same '
            'intervention"\n', ""),
         _line_of(f, "[which_data.elbow_trial.levels]"), "has no levels, so the grid is empty"),
        ("no factor: an empty grid", "# nothing declared\n", 1, "the grid is empty"),
        ("a section that is not a table", 'which_data = 3\n', 1, "must be a table of factors"),
        ("missing study", f.replace('study = "gudeman1997"\n', ""),
         _line_of(f, "[which_data.feet_split]"), "needs study"),
    ]
    return cases


@pytest.mark.parametrize("label, text, line, words",
                         _bad_factors(FACTORS), ids=[c[0] for c in _bad_factors(FACTORS)])
def test_a_bad_factors_file_is_named_by_line_and_nothing_is_written(
        tmp_path, capsys, label, text, line, words):
    path = _write(tmp_path, text)
    target = tmp_path / "out.csv"
    rc, out, err = _run(["--factors", path, "--output", target], capsys)
    assert rc == 2, err
    assert f"factors.toml line {line}:" in err, err
    assert words in err, err
    assert "Traceback" not in err and out == ""
    assert not target.exists() and not list(tmp_path.glob(".out.csv.*"))


@pytest.mark.parametrize("label, edit, fragment, words", [
    ("a split that does not add up", ('"26/14" = "the unbalanced', '"26/15" = "the unbalanced'),
     '"26/14" = "the unbalanced', "adds up to 41, but Gudeman 1997 randomised 40"),
    ("an unknown study", ('study = "gudeman1997"', 'study = "gudeman1998"'),
     'study = "gudeman1997"', "study 'gudeman1998' is not in studies.csv"),
    ("every combination removed", None, "[which_data.elbow_trial]",
     f"removed by the rules (md_across_instruments), so the grid is empty; widen the levels "
     f"of elbow_trial (line {_line_of(FACTORS, '[which_data.elbow_trial]')}) and measure "
     f"(line {_line_of(FACTORS, '[how_to_analyse.measure]')})"),
])
def test_factors_that_do_not_fit_the_data_are_named_by_line(tmp_path, capsys, label, edit,
                                                             fragment, words):
    if edit is None:  # only MD, and only with the elbow trial: two instruments, no MD
        text = FACTORS.replace('SMD = "Hedges', '# SMD = "Hedges').replace(
            'default = "SMD"', 'default = "MD"').replace(
            'out = "running injuries', '# out = "running injuries').replace(
            'default = "out"', 'default = "in"')
    else:
        text = FACTORS.replace(*edit)
    target = tmp_path / "out.csv"
    rc, out, err = _run(["--factors", _write(tmp_path, text), "--output", target], capsys)
    assert rc == 2
    assert f"factors.toml line {_line_of(FACTORS, fragment)}:" in err, err
    assert words in err and "Traceback" not in err and not target.exists()


@pytest.mark.parametrize("label, make, words", [
    ("missing file", lambda tmp: tmp / "nope.toml", "nope.toml: file not found"),
    ("a directory", lambda tmp: tmp, "is a directory"),
    ("not UTF-8", lambda tmp: (tmp / "latin.toml", (tmp / "latin.toml").write_bytes(
        FACTORS.encode("utf-8").replace("τ".encode(), "\xe9".encode("latin-1"))))[0],
     "latin.toml line"),
])
def test_an_unreadable_factors_file_exits_2(tmp_path, capsys, label, make, words):
    rc, out, err = _run(["--factors", make(tmp_path)], capsys)
    assert rc == 2 and words in err and "Traceback" not in err and out == ""


def test_a_bad_data_folder_or_output_exits_2_without_output(tmp_path, capsys):
    rc, out, err = _run(["--data", tmp_path / "missing"], capsys)
    assert rc == 2 and "error:" in err and out == "" and "Traceback" not in err
    data = tmp_path / "data"
    import shutil

    shutil.copytree(DATA_DIR, data)
    (data / "arms.csv").write_text("study_id\n", encoding="utf-8")
    rc, out, err = _run(["--data", data], capsys)
    assert rc == 2 and "arms.csv" in err and out == ""
    rc, out, err = _run(["--output", tmp_path / "no" / "such" / "dir.csv"], capsys)
    assert rc == 2 and "cannot write" in err and out == ""
    rc, out, err = _run(["--format", "xml"], capsys)
    assert rc == 2 and "invalid choice" in err


def test_add_arguments_mounts_on_any_parser_and_help_lists_the_factors(capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m analysis")
    sub = parser.add_subparsers(dest="command")
    mv.add_arguments(sub.add_parser("multiverse"))
    args = parser.parse_args(["multiverse", "--format", "json"])
    assert (args.format, args.data, args.factors, args.output) == ("json", None, None, None)
    assert mv.main(["--help"]) == 0
    out = capsys.readouterr().out
    for kind in mv.FACTOR_KINDS.values():
        assert f"{kind.stage}.{kind.name}" in out


def test_influence_compares_each_choice_with_all_others_held_equal(result):
    """Counted from the expanded grid: every set of a factor with two levels that always
    applies has both levels, so there are half as many sets as SMD combinations."""
    full = result.expanded()
    infl = result.influence().set_index(["window", "factor"])
    for w in mv.WINDOWS:
        smd = full[(full["window"] == w) & (full["scale"] == "SMD")]
        assert infl.loc[(w, "feet_split"), "sibling_sets"] == len(smd) // 2
        applies = smd[smd["feet_icc"] != "0"]
        assert infl.loc[(w, "patients"), "sibling_sets"] == len(applies) // 2
    top = infl.loc[mv.WINDOWS[0]].sort_values("median_shift", ascending=False).index[0]
    assert top == result.influence().iloc[0]["factor"]
