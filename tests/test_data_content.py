"""Content of data/: the numbers the public record gives, with their status, and nothing else.

The allow-list below is the complete set of numbers in the value fields of the data
package. A number that is added, changed or given another status without updating this
file fails the suite; so does a pinned number that disappears.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats


ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


# --------------------------------------------------------------------------- allow-list

G, NI = "gudeman1997", "nirschl2003"
MFS, VAS, GLOBAL = "maryland_foot_score", "pain_vas", "global_improvement"
EOT, M1, D2 = "end_of_treatment", "one_month_after", "day_2_after"
DEX, PLA = "dexamethasone", "placebo"

#: (file, key columns..., value column) -> (value, status). Keys follow each file's primary key.
ALLOWED = {
    # Gudeman 1997: Maryland Foot Score change; means reported, "±" read as SD (inferred)
    ("outcomes.csv", G, DEX, MFS, EOT, "mean"): (6.8, "reported"),
    ("outcomes.csv", G, DEX, MFS, EOT, "sd"): (5.6, "inferred"),
    ("outcomes.csv", G, PLA, MFS, EOT, "mean"): (3.1, "reported"),
    ("outcomes.csv", G, PLA, MFS, EOT, "sd"): (4.1, "inferred"),
    ("outcomes.csv", G, DEX, MFS, M1, "mean"): (7.4, "reported"),
    ("outcomes.csv", G, DEX, MFS, M1, "sd"): (6.3, "inferred"),
    ("outcomes.csv", G, PLA, MFS, M1, "mean"): (5.6, "reported"),
    ("outcomes.csv", G, PLA, MFS, M1, "sd"): (8.0, "inferred"),
    # Nirschl 2003: VAS mean improvement (mm) and global improvement (%), reported
    ("outcomes.csv", NI, DEX, VAS, D2, "mean"): (23, "reported"),
    ("outcomes.csv", NI, PLA, VAS, D2, "mean"): (14, "reported"),
    ("outcomes.csv", NI, DEX, VAS, M1, "mean"): (24, "reported"),
    ("outcomes.csv", NI, PLA, VAS, M1, "mean"): (19, "reported"),
    ("outcomes.csv", NI, DEX, GLOBAL, D2, "percent"): (52, "reported"),
    ("outcomes.csv", NI, PLA, GLOBAL, D2, "percent"): (33, "reported"),
    ("outcomes.csv", NI, DEX, GLOBAL, M1, "percent"): (54, "reported"),
    ("outcomes.csv", NI, PLA, GLOBAL, M1, "percent"): (49, "reported"),
    # between-group: Cochrane WMD for Gudeman; Nirschl p-values from the conference abstract
    ("between_group.csv", G, MFS, EOT, DEX, PLA, "estimate"): (3.80, "secondary"),
    ("between_group.csv", G, MFS, EOT, DEX, PLA, "ci_lower"): (0.76, "secondary"),
    ("between_group.csv", G, MFS, EOT, DEX, PLA, "ci_upper"): (6.84, "secondary"),
    ("between_group.csv", NI, VAS, D2, DEX, PLA, "p_value"): (0.012, "secondary"),
    ("between_group.csv", NI, VAS, M1, DEX, PLA, "p_value"): (0.249, "secondary"),
    ("between_group.csv", NI, GLOBAL, D2, DEX, PLA, "p_value"): (0.013, "secondary"),
    ("between_group.csv", NI, GLOBAL, M1, DEX, PLA, "p_value"): (0.650, "secondary"),
    # group sizes
    ("arms.csv", G, DEX, "n_randomised"): (20, "inferred"),
    ("arms.csv", G, DEX, "n_analysed"): (20, "inferred"),
    ("arms.csv", G, PLA, "n_randomised"): (20, "inferred"),
    ("arms.csv", G, PLA, "n_analysed"): (20, "inferred"),
    ("arms.csv", "neeter2003", DEX, "n_randomised"): (14, "reported"),
    ("arms.csv", "neeter2003", PLA, "n_randomised"): (11, "reported"),
    ("arms.csv", NI, DEX, "n_randomised"): (99, "secondary"),
    ("arms.csv", NI, PLA, "n_randomised"): (100, "secondary"),
    ("arms.csv", "hendriks1992", DEX, "n_randomised"): (14, "secondary"),
    ("arms.csv", "hendriks1992", PLA, "n_randomised"): (8, "secondary"),
    ("arms.csv", "patellar_mendonca2020", "wireless", "n_randomised"): (10, "secondary"),
    ("arms.csv", "patellar_mendonca2020", "wired", "n_randomised"): (11, "secondary"),
    ("arms.csv", "patellar_mendonca2020", "sham", "n_randomised"): (10, "secondary"),
    # study level
    ("studies.csv", G, "patients_n"): (39, "secondary"),
    ("studies.csv", G, "units_randomised_n"): (40, "reported"),
    ("studies.csv", G, "units_analysed_n"): (40, "inferred"),
    ("studies.csv", G, "weeks_of_treatment"): (2, "reported"),
    ("studies.csv", "neeter2003", "patients_n"): (25, "reported"),
    ("studies.csv", "neeter2003", "units_randomised_n"): (25, "reported"),
    ("studies.csv", "neeter2003", "weeks_of_treatment"): (2, "reported"),
    ("studies.csv", "osborne2006", "patients_n"): (31, "reported"),
    ("studies.csv", "osborne2006", "units_analysed_n"): (42, "reported"),
    ("studies.csv", "osborne2006", "weeks_of_treatment"): (2, "reported"),
    ("studies.csv", NI, "patients_n"): (199, "reported"),
    ("studies.csv", NI, "units_randomised_n"): (199, "reported"),
    ("studies.csv", NI, "weeks_of_treatment"): (2.14, "inferred"),
    ("studies.csv", "runeson2002", "patients_n"): (64, "reported"),
    ("studies.csv", "runeson2002", "weeks_of_treatment"): (2, "reported"),
    # findings
    ("findings.csv", "hendriks1992", "all_outcomes_between", "p_value"): (0.05, "secondary"),
    ("findings.csv", "osborne2006", "morning_stiffness_week_4_acetic_acid_vs_placebo", "p_value"): (0.031, "reported"),
    # appraisal: PEDro totals (PEDro records 11438 and 2729); the MCID of a 100 mm pain VAS
    ("pedro_ratings.csv", NI, "total_score", "score"): (7, "secondary"),
    ("pedro_ratings.csv", "hendriks1992", "total_score", "score"): (10, "secondary"),
    ("minimal_important_differences.csv", NI, VAS, "mid_lower"): (15, "secondary"),
    ("minimal_important_differences.csv", NI, VAS, "mid_upper"): (20, "secondary"),
}

PRIMARY_KEYS = {
    "studies.csv": ["study_id"],
    "arms.csv": ["study_id", "arm_id"],
    "outcomes.csv": ["study_id", "arm_id", "outcome_id", "timepoint_id"],
    "between_group.csv": ["study_id", "outcome_id", "timepoint_id", "treatment_arm", "control_arm"],
    "findings.csv": ["study_id", "finding_id"],
    "pedro_ratings.csv": ["study_id", "item"],
    "minimal_important_differences.csv": ["study_id", "outcome_id"],
}


def _read(file: str) -> list[dict[str, str]]:
    with open(DATA / file, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


#: (file, column) -> whether the schema types the column as a number (text value fields,
#: such as a PEDro answer, are not numbers and are not allow-listed here).
_NUMERIC = {(r["path"], f["name"]): f["type"] in ("number", "integer")
            for r in json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))["resources"]
            for f in r["schema"]["fields"]}


def _stored_values() -> dict[tuple, tuple[float, str]]:
    """Every non-empty value of every value field, read from the CSV text itself."""
    found = {}
    for file, key in PRIMARY_KEYS.items():
        rows = _read(file)
        columns = list(rows[0])
        value_fields = [c for c in columns if f"{c}_status" in columns and f"{c}_note" in columns
                        and _NUMERIC.get((file, c), True)]
        for row in rows:
            for x in value_fields:
                if row[x] != "":
                    found[(file, *[row[k] for k in key], x)] = (float(row[x]), row[f"{x}_status"])
    return found


def test_no_number_outside_the_allow_list():
    stored = _stored_values()
    extra = {k: v for k, v in stored.items() if k not in ALLOWED}
    assert not extra, f"numbers in data/ that the allow-list does not contain: {extra}"


def test_every_allowed_number_is_stored_with_its_status():
    stored = _stored_values()
    for key, (value, status) in ALLOWED.items():
        assert key in stored, f"missing from data/: {key}"
        assert stored[key][0] == pytest.approx(value, abs=1e-12), key
        assert stored[key][1] == status, key


def test_other_tables_hold_no_value_fields():
    # timepoints and outcome definitions carry design facts, not extracted results
    for file in ("timepoints.csv", "outcome_definitions.csv"):
        columns = list(_read(file)[0])
        assert not any(c.endswith("_status") for c in columns)


# --------------------------------------------------------------------------- Gudeman 1997


def _splits_reproducing_cochrane_ci(sd_t: float, sd_c: float) -> list[tuple[int, int]]:
    """Splits n1 + n2 = 40 for which 3.80 ± z·sqrt(sd_t²/n1 + sd_c²/n2) rounds to 0.76, 6.84."""
    z = stats.norm.ppf(0.975)
    matches = []
    for n1 in range(2, 39):
        n2 = 40 - n1
        half = z * math.sqrt(sd_t ** 2 / n1 + sd_c ** 2 / n2)
        if (round(3.80 - half, 2), round(3.80 + half, 2)) == (0.76, 6.84):
            matches.append((n1, n2))
    return matches


def test_gudeman_back_calculation_behind_the_inferred_values():
    """Why the 20/20 split and the SD reading of "±" are 'inferred' (and how firmly).

    Read as SDs, 5.6 and 4.1 reproduce the Cochrane 95% CI of the WMD (0.76 to 6.84,
    normal quantile, SE = sqrt(s1²/n1 + s2²/n2)) for the balanced 20/20 split of the 40
    feet and, to two decimals, also for the unbalanced 26/14 split; the data take the
    balanced one and say so. Read as SEs, they reproduce the interval for no split.
    """
    rows = _read("outcomes.csv")
    sd = {r["arm_id"]: float(r["sd"]) for r in rows
          if r["study_id"] == G and r["timepoint_id"] == EOT}
    assert _splits_reproducing_cochrane_ci(sd[DEX], sd[PLA]) == [(20, 20), (26, 14)]
    for n1 in range(2, 39):  # "±" as SE: SD = SE·sqrt(n)
        n2 = 40 - n1
        as_se = _splits_reproducing_cochrane_ci(sd[DEX] * math.sqrt(n1), sd[PLA] * math.sqrt(n2))
        assert (n1, n2) not in as_se
    arms = [r for r in _read("arms.csv") if r["study_id"] == G]
    assert all("26/14" in r["n_analysed_note"] for r in arms)


def test_gudeman_rows(pkg):
    out = pkg.outcomes[pkg.outcomes["study_id"] == G]
    assert len(out) == 4
    assert set(zip(out["arm_id"], out["timepoint_id"])) == {(DEX, EOT), (PLA, EOT), (DEX, M1), (PLA, M1)}
    assert (out["n_status"] == "missing").all() and out["n"].isna().all()
    assert out["sd_note"].notna().all()
    definition = pkg.outcome_definitions.set_index(["study_id", "outcome_id"]).loc[(G, MFS)]
    assert definition["kind"] == "change_from_baseline"
    assert definition["direction"] == "higher_is_better"
    arms = pkg.arms[pkg.arms["study_id"] == G].set_index("arm_id")
    assert arms.loc[DEX, "role"] == "treatment" and arms.loc[PLA, "role"] == "control"
    assert "Cochrane" in arms.loc[DEX, "n_analysed_source"]
    study = pkg.studies.set_index("study_id").loc[G]
    assert study["unit_of_randomisation"] == "foot" and study["unit_of_analysis"] == "foot"


def test_gudeman_between_group(pkg):
    bg = pkg.between_group[pkg.between_group["study_id"] == G].set_index("timepoint_id")
    eot = bg.loc[EOT]
    assert eot["measure"] == "MD"
    assert "Cochrane" in eot["estimate_source"] and "3.7" in eot["estimate_note"]
    assert eot["p_value_status"] == "missing" and np.isnan(eot["p_value"])
    assert eot["favours"] == "treatment"
    one_month = bg.loc[M1]
    assert one_month["measure"] == "none" and np.isnan(one_month["estimate"])
    assert one_month["p_value_status"] == "missing"
    assert one_month["significance_as_reported"] == "no significant difference"


# --------------------------------------------------------------------------- Nirschl 2003


def test_nirschl_rows(pkg):
    out = pkg.outcomes[pkg.outcomes["study_id"] == NI]
    vas = out[out["outcome_id"] == VAS]
    assert len(vas) == 4
    assert (vas["sd_status"] == "missing").all() and vas["sd"].isna().all()
    glob = out[out["outcome_id"] == GLOBAL]
    assert len(glob) == 4
    assert (glob["events_status"] == "missing").all() and glob["events"].isna().all()
    assert glob["mean"].isna().all() and glob["mean_status"].isna().all()
    assert (out["n_status"] == "missing").all()
    bg = pkg.between_group[pkg.between_group["study_id"] == NI]
    assert (bg["p_relation"] == "=").all()
    assert (bg["p_value_source"] == "conference-abstract version of the trial").all()
    assert (pkg.arms[pkg.arms["study_id"] == NI]["n_randomised_source"]
            == "American Family Physician 2003 journal-club summary").all()
    kinds = pkg.outcome_definitions.set_index(["study_id", "outcome_id"])["kind"]
    assert kinds[(NI, VAS)] == "change_from_baseline" and kinds[(NI, GLOBAL)] == "proportion"


# --------------------------------------------------------------------------- Neeter 2003

NEETER_OUTCOMES = {"range_of_motion", "toe_raise", "pain_activity", "pain_walking", "pain_stairs",
                   "morning_stiffness", "tendon_swelling"}
NEETER_TIMEPOINTS = {"baseline": 0, "end_of_treatment": 2, "week_6": 6, "month_3": 13.05, "month_6": 26.1,
                     "year_1": 52.18}


def test_neeter_every_value_missing(pkg):
    out = pkg.outcomes[pkg.outcomes["study_id"] == "neeter2003"]
    assert len(out) == 2 * 7 * 6
    assert set(out["outcome_id"]) == NEETER_OUTCOMES
    assert set(out["timepoint_id"]) == set(NEETER_TIMEPOINTS)
    for x in ("mean", "sd", "n"):
        assert (out[f"{x}_status"] == "missing").all() and out[x].isna().all()
    for x in ("se", "ci_lower", "ci_upper", "events", "percent"):
        assert out[x].isna().all() and out[f"{x}_status"].isna().all()


def test_neeter_design(pkg):
    arms = pkg.arms[pkg.arms["study_id"] == "neeter2003"].set_index("arm_id")
    assert arms.loc[DEX, "n_randomised"] == 14 and arms.loc[PLA, "n_randomised"] == 11
    # drop-outs are not public, so the numbers analysed are missing, not copied from 14/11
    assert (arms["n_analysed_status"] == "missing").all() and arms["n_analysed"].isna().all()
    study = pkg.studies.set_index("study_id").loc["neeter2003"]
    assert study["units_analysed_n_status"] == "missing" and pd.isna(study["units_analysed_n"])


def test_group_sizes_not_stated_as_analysed_stay_missing(pkg):
    arms = pkg.arms[pkg.arms["study_id"].isin(["nirschl2003", "hendriks1992",
                                               "patellar_mendonca2020"])]
    assert arms["n_randomised"].notna().all()
    assert (arms["n_analysed_status"] == "missing").all() and arms["n_analysed"].isna().all()
    tps = pkg.timepoints[pkg.timepoints["study_id"] == "neeter2003"].set_index("timepoint_id")
    assert tps["weeks_from_start"].to_dict() == pytest.approx(NEETER_TIMEPOINTS)
    assert tps.loc["week_6", "window"] == "about_one_month"
    defs = pkg.outcome_definitions[pkg.outcome_definitions["study_id"] == "neeter2003"]
    assert set(defs["outcome_id"]) == NEETER_OUTCOMES
    assert (defs["kind"] == "final_value").all()
    assert "palpation" in pkg.studies.set_index("study_id").loc["neeter2003", "notes"]


def test_neeter_findings(pkg):
    f = pkg.findings[pkg.findings["study_id"] == "neeter2003"]
    assert f["timepoint_id"].isna().all()
    toe = f[f["outcome_id"] == "toe_raise"]
    assert (toe["direction"] == "no_difference").all() and (toe["significant"] == "no").all()
    assert set(toe["comparison"]) == {"within_group", "between_group"}
    others = f[f["outcome_id"] != "toe_raise"]
    assert len(others) == 12 and (others["comparison"] == "within_group").all()
    dexa = others[others["arm_id"] == DEX]
    assert (dexa["significant"] == "yes").all() and (dexa["direction"] == "better").all()
    assert (others[others["arm_id"] == PLA]["significant"] == "no").all()
    assert f["p_value"].isna().all()


# --------------------------------------------------------------------------- Osborne & Allison 2006


def test_osborne(pkg):
    out = pkg.outcomes[pkg.outcomes["study_id"] == "osborne2006"]
    assert len(out) == 3 * 3 * 3
    for x in ("mean", "sd", "n"):
        assert (out[f"{x}_status"] == "missing").all() and out[x].isna().all()
    arms = pkg.arms[pkg.arms["study_id"] == "osborne2006"].set_index("arm_id")
    assert arms["role"].to_dict() == {DEX: "treatment", PLA: "control", "acetic_acid": "other"}
    assert (arms["n_analysed_status"] == "missing").all()
    tps = pkg.timepoints[pkg.timepoints["study_id"] == "osborne2006"].set_index("timepoint_id")
    assert tps["window"].to_dict() == {"first_session": "baseline", "end_of_treatment": "end_of_treatment",
                                       "week_4": "about_one_month"}
    defs = pkg.outcome_definitions[pkg.outcome_definitions["study_id"] == "osborne2006"]
    assert set(defs["outcome_id"]) == {"morning_pain", "average_pain", "morning_stiffness"}
    assert (defs["scale_min"] == 0).all() and (defs["scale_max"] == 10).all()
    assert (defs["direction"] == "higher_is_worse").all()
    assert defs["source"].str.contains("secondary news report").all()
    study = pkg.studies.set_index("study_id").loc["osborne2006"]
    assert study["pmcid"] == "PMC2465091" and study["unit_of_analysis"] == "foot"
    f = pkg.findings.set_index(["study_id", "finding_id"])
    dex_stiff = f.loc[("osborne2006", "morning_stiffness_week_4_dexamethasone_vs_placebo")]
    assert dex_stiff["significant"] == "no"
    assert f.loc[("osborne2006", "pain_week_4_dexamethasone_vs_placebo"), "significant"] == "yes"


# --------------------------------------------------------------------------- whole package


def test_trials_scopes_and_no_animal_studies(pkg):
    scope = pkg.studies.set_index("study_id")["scope"].to_dict()
    assert scope == {
        "gudeman1997": "running_injury", "neeter2003": "running_injury", "osborne2006": "running_injury",
        "nirschl2003": "other_tendinopathy", "hendriks1992": "unspecified_tendinopathy",
        "runeson2002": "other_tendinopathy", "patellar_mendonca2020": "other_tendinopathy",
    }
    descriptor = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    assert "Martin 1999" in descriptor["description"] and "Hugate 2004" in descriptor["description"]


def test_windows(pkg):
    w = pkg.timepoints.set_index(["study_id", "timepoint_id"])["window"]
    assert w[(G, EOT)] == "end_of_treatment" and w[(G, M1)] == "about_one_month"
    assert w[(NI, D2)] == "end_of_treatment" and w[(NI, M1)] == "about_one_month"
    approx = pkg.timepoints[pkg.timepoints["weeks_approximate"]]
    assert approx["weeks_note"].notna().all()
    assert w.index.is_unique


def test_one_primary_outcome_per_trial_with_outcome_rows(pkg):
    defs = pkg.outcome_definitions
    primary = defs[defs["review_role"] == "primary"].set_index("study_id")["outcome_id"]
    assert primary[G] == MFS and primary[NI] == VAS
    assert primary["osborne2006"] == "morning_pain" and primary["neeter2003"] == "pain_activity"
    assert primary.index.is_unique
    assert defs[defs["review_role"] == "primary"]["notes"].notna().all()


def test_descriptor_metadata():
    d = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    assert d["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    assert [lic["name"] for lic in d["licenses"]] == ["CC-BY-4.0"]
    paths = " ".join(s["path"] for s in d["sources"])
    for doi in ("10.1177/036354659702500307", "10.1046/j.1600-0838.2003.00305.x",
                "10.1136/bjsm.2005.021758", "10.1177/03635465030310020601"):
        assert doi in paths
    for res in d["resources"]:
        assert res["schema"]["primaryKey"]
        assert all(f.get("description") for f in res["schema"]["fields"]), res["name"]
