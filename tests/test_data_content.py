"""Content of data/: the numbers the public record gives, with their status, and nothing else.

The allow-list below is the complete set of numbers in the value fields of the data
package. A number that is added, changed or given another status without updating this
file fails the suite; so does a pinned number that disappears. The other tests pin what
the public record says about each trial (which values are missing, which are inferred).

These tests fail on purpose when someone adds a trial's numbers: every failure is a
sentence naming the value, its file, line and column, and what to do (for a new number,
the ALLOWED entry to add, in the same commit as the data). They read the package that
``analysis.paths.data_dir()`` names, so ``DEXA_MA_DATA=/path/to/copy pytest
tests/test_data_content.py`` checks a copy of data/ before it replaces the original.
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


from analysis.data import load_package
from analysis.paths import data_dir

ROOT = Path(__file__).resolve().parents[1]
DATA = data_dir()
THIS = "tests/test_data_content.py"


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
    # appraisal: PEDro totals (PEDro records 11438 and 2729); the MID of a 100 mm pain VAS
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

#: (file, column) -> whether the schema types the column as a number (text value fields,
#: such as a PEDro answer, are not numbers and are not allow-listed here).
_NUMERIC = {(r["path"], f["name"]): f["type"] in ("number", "integer")
            for r in json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))["resources"]
            for f in r["schema"]["fields"]}


def _shown(file: str) -> str:
    """A data file as the reader finds it: ``data/outcomes.csv``, or the copy's full path."""
    path = DATA / file
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _read(file: str) -> list[dict[str, str]]:
    with open(DATA / file, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _header(file: str) -> list[str]:
    with open(DATA / file, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def _stored_values() -> dict[tuple, tuple[float, str, int]]:
    """Every non-empty value of every value field, read from the CSV text itself:
    key -> (value, status, line)."""
    found = {}
    for file, key in PRIMARY_KEYS.items():
        columns = _header(file)
        value_fields = [c for c in columns if f"{c}_status" in columns and f"{c}_note" in columns
                        and _NUMERIC.get((file, c), True)]
        for line, row in enumerate(_read(file), start=2):
            for x in value_fields:
                if row[x] != "":
                    found[(file, *[row[k] for k in key], x)] = (float(row[x]), row[f"{x}_status"], line)
    return found


def _where(key: tuple) -> str:
    return " / ".join(key[1:-1])


def unexpected_numbers() -> list[str]:
    """A sentence for every number in the data that ALLOWED does not pin."""
    out = []
    for key, (value, status, line) in _stored_values().items():
        if key not in ALLOWED:
            out.append(
                f"a new number at {_shown(key[0])} line {line}, column {key[-1]} ({_where(key)}): {value:g} "
                f"({status}). If it is from the trial's text, add it to ALLOWED in {THIS} with its status, "
                f"in the same commit:\n      {key!r}: ({value:g}, {status!r}),")
    return out


def changed_numbers() -> list[str]:
    """A sentence for every pinned number that is gone or has another value or status."""
    stored = _stored_values()
    out = []
    for key, (value, status) in ALLOWED.items():
        if key not in stored:
            out.append(
                f"a pinned number is gone: ALLOWED in {THIS} holds {value:g} ({status}) for {_shown(key[0])}, "
                f"column {key[-1]} ({_where(key)}), but that cell is empty or its row is gone. If the "
                f"record no longer supports it, remove it from ALLOWED in the same commit and say why")
            continue
        found, found_status, line = stored[key]
        if found != pytest.approx(value, abs=1e-12) or found_status != status:
            out.append(
                f"a pinned number changed at {_shown(key[0])} line {line}, column {key[-1]} ({_where(key)}): "
                f"ALLOWED in {THIS} holds {value:g} ({status}), the file has {found:g} ({found_status}). If the "
                f"trial's text supports the new one, change its ALLOWED entry in the same commit:\n"
                f"      {key!r}: ({found:g}, {found_status!r}),")
    return out


def _fail_with(messages: list[str], head: str) -> None:
    if messages:
        pytest.fail(f"{head}\n" + "\n".join(f"  - {m}" for m in messages), pytrace=False)


def pinned(ok: bool, fact: str, found: str, test: str) -> None:
    """Fail, unless ``ok``, with a sentence: what the test pins, what the data have, what to do."""
    if not ok:
        pytest.fail(
            f"{fact}; but {found}. If the data are right (from the trial's text, with its source), "
            f"update {test} in {THIS} in the same commit; otherwise correct the data.", pytrace=False)


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v))


def cells(frame: pd.DataFrame, file: str, columns, rows=None, *, empty: bool = False) -> str:
    """The offending cells, as ``data/outcomes.csv line 37, column mean = 3 (reported, source)``.

    ``rows`` (a boolean mask over ``frame``) defaults to all rows; the cells listed are the
    filled ones (``empty=True``: the empty ones). Line = index + 2 (the frames come from a
    valid package, one row per line after the header).
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    sub = frame if rows is None else frame[np.asarray(rows, dtype=bool)]
    parts = []
    for index, row in sub.iterrows():
        for c in columns:
            v = row[c]
            if _present(v) == empty:
                continue
            text = f"{_shown(file)} line {index + 2}, column {c}" + ("" if empty else f" = {v!r}")
            if not empty and f"{c}_status" in frame.columns:
                text += f" ({row[f'{c}_status']}, {row[f'{c}_source']})"
            parts.append(text)
    shown = "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")
    return shown or "no such cell"


def rows_of(frame: pd.DataFrame, file: str, rows=None) -> str:
    sub = frame if rows is None else frame[np.asarray(rows, dtype=bool)]
    lines = [str(i + 2) for i in sub.index]
    return f"{_shown(file)} line(s) {', '.join(lines[:10])}" if lines else f"no row of {_shown(file)}"


@pytest.fixture(scope="module")
def pkg():
    """The package these tests pin (``analysis.paths.data_dir()``)."""
    return load_package(DATA)


def test_no_number_outside_the_allow_list():
    found = unexpected_numbers()
    _fail_with(found, f"{len(found)} number(s) in {DATA} that ALLOWED in {THIS} does not pin:")


def test_every_allowed_number_is_stored_with_its_status():
    found = changed_numbers()
    _fail_with(found, f"{len(found)} number(s) pinned in ALLOWED ({THIS}) differ from {DATA}:")


def test_other_tables_hold_no_value_fields():
    # timepoints and outcome definitions carry design facts, not extracted results
    for file in ("timepoints.csv", "outcome_definitions.csv"):
        status = [c for c in _header(file) if c.endswith("_status")]
        pinned(not status, f"{file} holds design facts, not extracted results",
               f"{_shown(file)} has the value column(s) {status}", "test_other_tables_hold_no_value_fields")


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
    test = "test_gudeman_back_calculation_behind_the_inferred_values"
    rows = [(line, r) for line, r in enumerate(_read("outcomes.csv"), start=2)
            if r["study_id"] == G and r["timepoint_id"] == EOT]
    sd = {r["arm_id"]: float(r["sd"]) for _, r in rows}
    where = ", ".join(f"{_shown('outcomes.csv')} line {line}, column sd = {r['sd']}" for line, r in rows)
    splits = _splits_reproducing_cochrane_ci(sd[DEX], sd[PLA])
    pinned(splits == [(20, 20), (26, 14)],
           "Gudeman 1997's end-of-treatment SDs, read as SDs, reproduce the Cochrane CI 0.76 to 6.84 for "
           "the splits 20/20 and 26/14 (which is why the SDs and the 20/20 split are 'inferred')",
           f"{where} reproduce it for {splits}", test)
    for n1 in range(2, 39):  # "±" as SE: SD = SE·sqrt(n)
        n2 = 40 - n1
        as_se = _splits_reproducing_cochrane_ci(sd[DEX] * math.sqrt(n1), sd[PLA] * math.sqrt(n2))
        pinned((n1, n2) not in as_se,
               "read as SEs, Gudeman 1997's '±' values reproduce the Cochrane CI for no split",
               f"{where} read as SEs reproduce it for {n1}/{n2}", test)
    arms = [(line, r) for line, r in enumerate(_read("arms.csv"), start=2) if r["study_id"] == G]
    lacking = [f"{_shown('arms.csv')} line {line}, column n_analysed_note" for line, r in arms
               if "26/14" not in r["n_analysed_note"]]
    pinned(arms and not lacking, "the notes of Gudeman 1997's n analysed name the other split that fits, 26/14",
           f"{'; '.join(lacking) or 'Gudeman 1997 has no arms'} does not", test)


def test_gudeman_rows(pkg):
    test = "test_gudeman_rows"
    o = pkg.outcomes
    mask = o["study_id"] == G
    out = o[mask]
    pinned(len(out) == 4 and set(zip(out["arm_id"], out["timepoint_id"])) == {(DEX, EOT), (PLA, EOT), (DEX, M1),
                                                                              (PLA, M1)},
           "Gudeman 1997 has four outcome rows: both arms at the end of treatment and one month after",
           f"it has {rows_of(o, 'outcomes.csv', mask)} for {sorted(zip(out['arm_id'], out['timepoint_id']))}",
           test)
    pinned((out["n_status"] == "missing").all() and out["n"].isna().all(),
           "Gudeman 1997's group sizes at each time point are missing (the abstract gives none)",
           "filled: " + cells(o, "outcomes.csv", "n", mask), test)
    pinned(out["sd_note"].notna().all(), "Gudeman 1997's SDs say in sd_note why '±' is read as SD",
           "empty: " + cells(o, "outcomes.csv", "sd_note", mask, empty=True), test)
    definition = pkg.outcome_definitions.set_index(["study_id", "outcome_id"]).loc[(G, MFS)]
    pinned((definition["kind"], definition["direction"]) == ("change_from_baseline", "higher_is_better"),
           "Gudeman 1997's Maryland Foot Score is a change from baseline, higher is better",
           f"outcome_definitions.csv gives {definition['kind']}, {definition['direction']}", test)
    arms = pkg.arms[pkg.arms["study_id"] == G].set_index("arm_id")
    pinned(arms["role"].get(DEX) == "treatment" and arms["role"].get(PLA) == "control",
           "Gudeman 1997's arms are dexamethasone (treatment) and placebo (control)",
           f"arms.csv gives roles {arms['role'].to_dict()}", test)
    pinned("Cochrane" in str(arms["n_analysed_source"].get(DEX)),
           "Gudeman 1997's n analysed comes from the Cochrane review's back-calculation",
           f"arms.csv gives the source {arms['n_analysed_source'].get(DEX)!r}", test)
    study = pkg.studies.set_index("study_id").loc[G]
    pinned(study["unit_of_randomisation"] == "foot" and study["unit_of_analysis"] == "foot",
           "Gudeman 1997 randomised and analysed feet",
           f"studies.csv gives {study['unit_of_randomisation']} / {study['unit_of_analysis']}", test)


def test_gudeman_between_group(pkg):
    test = "test_gudeman_between_group"
    bg = pkg.between_group[pkg.between_group["study_id"] == G].set_index("timepoint_id")
    eot = bg.loc[EOT]
    pinned(eot["measure"] == "MD" and "Cochrane" in str(eot["estimate_source"]) and "3.7" in str(eot["estimate_note"]),
           "Gudeman 1997's between-group result at the end of treatment is the Cochrane WMD, with a note on "
           "the abstract's 3.7", f"between_group.csv gives {eot['measure']}, source {eot['estimate_source']!r}, "
                                 f"note {eot['estimate_note']!r}", test)
    pinned(eot["p_value_status"] == "missing" and np.isnan(eot["p_value"]) and eot["favours"] == "treatment",
           "its p-value is missing and it favours treatment",
           f"between_group.csv gives p = {eot['p_value']} ({eot['p_value_status']}), favours {eot['favours']}",
           test)
    one_month = bg.loc[M1]
    pinned(one_month["measure"] == "none" and np.isnan(one_month["estimate"])
           and one_month["p_value_status"] == "missing"
           and one_month["significance_as_reported"] == "no significant difference",
           "one month after treatment Gudeman 1997 reports only 'no significant difference'",
           f"between_group.csv gives measure {one_month['measure']}, estimate {one_month['estimate']}, "
           f"p {one_month['p_value_status']}, {one_month['significance_as_reported']!r}", test)


# --------------------------------------------------------------------------- Nirschl 2003


def test_nirschl_rows(pkg):
    test = "test_nirschl_rows"
    o = pkg.outcomes
    vas_mask = (o["study_id"] == NI) & (o["outcome_id"] == VAS)
    glob_mask = (o["study_id"] == NI) & (o["outcome_id"] == GLOBAL)
    vas, glob = o[vas_mask], o[glob_mask]
    pinned(len(vas) == 4 and len(glob) == 4, "Nirschl 2003 has four VAS rows and four global-improvement rows",
           f"it has {rows_of(o, 'outcomes.csv', vas_mask)} (VAS) and {rows_of(o, 'outcomes.csv', glob_mask)}",
           test)
    pinned((vas["sd_status"] == "missing").all() and vas["sd"].isna().all(),
           "Nirschl 2003 never published SDs of the VAS (they are recovered from p-values)",
           "filled: " + cells(o, "outcomes.csv", "sd", vas_mask), test)
    pinned((glob["events_status"] == "missing").all() and glob["events"].isna().all(),
           "Nirschl 2003 gives percentages, not counts, of global improvement",
           "filled: " + cells(o, "outcomes.csv", "events", glob_mask), test)
    pinned(glob["mean"].isna().all() and glob["mean_status"].isna().all(),
           "a proportion has no mean", "filled: " + cells(o, "outcomes.csv", "mean", glob_mask), test)
    ni = o["study_id"] == NI
    pinned((o.loc[ni, "n_status"] == "missing").all(), "Nirschl 2003's group sizes per time point are missing",
           "filled: " + cells(o, "outcomes.csv", "n", ni), test)
    bg = pkg.between_group[pkg.between_group["study_id"] == NI]
    pinned((bg["p_relation"] == "=").all()
           and (bg["p_value_source"] == "conference-abstract version of the trial").all(),
           "Nirschl 2003's p-values are exact, from the conference abstract",
           f"between_group.csv gives {sorted(set(zip(bg['p_relation'], bg['p_value_source'])))}", test)
    arms = pkg.arms[pkg.arms["study_id"] == NI]
    pinned((arms["n_randomised_source"] == "American Family Physician 2003 journal-club summary").all(),
           "Nirschl 2003's n randomised come from the American Family Physician journal-club summary",
           f"arms.csv gives {sorted(set(arms['n_randomised_source']))}", test)
    kinds = pkg.outcome_definitions.set_index(["study_id", "outcome_id"])["kind"]
    pinned(kinds[(NI, VAS)] == "change_from_baseline" and kinds[(NI, GLOBAL)] == "proportion",
           "Nirschl 2003's VAS is a change from baseline and global improvement a proportion",
           f"outcome_definitions.csv gives {kinds[(NI, VAS)]} and {kinds[(NI, GLOBAL)]}", test)


# --------------------------------------------------------------------------- Neeter 2003

NEETER_OUTCOMES = {"range_of_motion", "toe_raise", "pain_activity", "pain_walking", "pain_stairs",
                   "morning_stiffness", "tendon_swelling"}
NEETER_TIMEPOINTS = {"baseline": 0, "end_of_treatment": 2, "week_6": 6, "month_3": 13.05, "month_6": 26.1,
                     "year_1": 52.18}


def test_neeter_every_value_missing(pkg):
    test = "test_neeter_every_value_missing"
    o = pkg.outcomes
    mask = o["study_id"] == "neeter2003"
    out = o[mask]
    pinned(len(out) == 2 * 7 * 6 and set(out["outcome_id"]) == NEETER_OUTCOMES
           and set(out["timepoint_id"]) == set(NEETER_TIMEPOINTS),
           "Neeter 2003 has a row for each of its 2 arms x 7 outcomes x 6 time points",
           f"it has {len(out)} rows ({rows_of(o, 'outcomes.csv', mask)})", test)
    for x in ("mean", "sd", "n"):
        pinned((out[f"{x}_status"] == "missing").all() and out[x].isna().all(),
               f"Neeter 2003's {x} values are missing from the public record (its abstract gives none)",
               "filled: " + cells(o, "outcomes.csv", x, mask), test)
    for x in ("se", "ci_lower", "ci_upper", "events", "percent"):
        pinned(out[x].isna().all() and out[f"{x}_status"].isna().all(),
               f"Neeter 2003's rows leave {x} empty",
               "filled: " + cells(o, "outcomes.csv", [x, f"{x}_status"], mask), test)


def test_neeter_design(pkg):
    test = "test_neeter_design"
    a = pkg.arms
    mask = a["study_id"] == "neeter2003"
    arms = a[mask].set_index("arm_id")
    pinned(arms["n_randomised"].get(DEX) == 14 and arms["n_randomised"].get(PLA) == 11,
           "Neeter 2003 randomised 14 to dexamethasone and 11 to placebo",
           f"arms.csv gives {arms['n_randomised'].to_dict()}", test)
    # drop-outs are not public, so the numbers analysed are missing, not copied from 14/11
    pinned((arms["n_analysed_status"] == "missing").all() and arms["n_analysed"].isna().all(),
           "Neeter 2003's numbers analysed are missing (drop-outs are not public), not copied from 14/11",
           "filled: " + cells(a, "arms.csv", "n_analysed", mask), test)
    study = pkg.studies.set_index("study_id").loc["neeter2003"]
    pinned(study["units_analysed_n_status"] == "missing" and pd.isna(study["units_analysed_n"]),
           "Neeter 2003's units analysed are missing",
           f"studies.csv gives {study['units_analysed_n']} ({study['units_analysed_n_status']})", test)


def test_group_sizes_not_stated_as_analysed_stay_missing(pkg):
    test = "test_group_sizes_not_stated_as_analysed_stay_missing"
    a = pkg.arms
    mask = a["study_id"].isin(["nirschl2003", "hendriks1992", "patellar_mendonca2020"])
    arms = a[mask]
    pinned(arms["n_randomised"].notna().all(),
           "Nirschl 2003, Hendriks 1992 and the patellar trial give n randomised for every arm",
           "empty: " + cells(a, "arms.csv", "n_randomised", mask, empty=True), test)
    pinned((arms["n_analysed_status"] == "missing").all() and arms["n_analysed"].isna().all(),
           "their numbers analysed are missing (not stated as analysed)",
           "filled: " + cells(a, "arms.csv", "n_analysed", mask), test)
    tps = pkg.timepoints[pkg.timepoints["study_id"] == "neeter2003"].set_index("timepoint_id")
    weeks = tps["weeks_from_start"].to_dict()
    pinned(weeks == pytest.approx(NEETER_TIMEPOINTS) and tps["window"].get("week_6") == "about_one_month",
           f"Neeter 2003's time points are at weeks {NEETER_TIMEPOINTS}, week 6 in the one-month window",
           f"timepoints.csv gives {weeks}, week 6 in {tps['window'].get('week_6')}", test)
    defs = pkg.outcome_definitions[pkg.outcome_definitions["study_id"] == "neeter2003"]
    pinned(set(defs["outcome_id"]) == NEETER_OUTCOMES and (defs["kind"] == "final_value").all(),
           f"Neeter 2003's outcomes are {sorted(NEETER_OUTCOMES)}, all final values",
           f"outcome_definitions.csv gives {sorted(zip(defs['outcome_id'], defs['kind']))}", test)
    notes = pkg.studies.set_index("study_id").loc["neeter2003", "notes"]
    pinned("palpation" in str(notes), "Neeter 2003's notes mention the palpation outcome",
           f"studies.csv notes are {notes!r}", test)


def test_neeter_findings(pkg):
    test = "test_neeter_findings"
    fi = pkg.findings
    f = fi[fi["study_id"] == "neeter2003"]
    pinned(f["timepoint_id"].isna().all(), "Neeter 2003's findings name no time point",
           "filled: " + cells(fi, "findings.csv", "timepoint_id", fi["study_id"] == "neeter2003"), test)
    toe = f[f["outcome_id"] == "toe_raise"]
    pinned((toe["direction"] == "no_difference").all() and (toe["significant"] == "no").all()
           and set(toe["comparison"]) == {"within_group", "between_group"},
           "Neeter 2003's toe-raise findings, within and between groups, show no significant difference",
           f"findings.csv gives {sorted(set(zip(toe['comparison'], toe['direction'], toe['significant'])))}", test)
    others = f[f["outcome_id"] != "toe_raise"]
    dexa = others[others["arm_id"] == DEX]
    pinned(len(others) == 12 and (others["comparison"] == "within_group").all()
           and (dexa["significant"] == "yes").all() and (dexa["direction"] == "better").all()
           and (others[others["arm_id"] == PLA]["significant"] == "no").all(),
           "Neeter 2003's other 12 findings are within-group: significantly better with dexamethasone, "
           "not significant with placebo",
           f"findings.csv has {len(others)}: {sorted(set(zip(others['arm_id'], others['comparison'], others['significant'])))}",
           test)
    pinned(f["p_value"].isna().all(), "Neeter 2003's findings give no p-values",
           "filled: " + cells(fi, "findings.csv", "p_value", fi["study_id"] == "neeter2003"), test)


# --------------------------------------------------------------------------- Osborne & Allison 2006


def test_osborne(pkg):
    test = "test_osborne"
    o = pkg.outcomes
    mask = o["study_id"] == "osborne2006"
    out = o[mask]
    pinned(len(out) == 3 * 3 * 3, "Osborne & Allison 2006 has a row for each of 3 arms x 3 outcomes x 3 time points",
           f"it has {len(out)} rows ({rows_of(o, 'outcomes.csv', mask)})", test)
    for x in ("mean", "sd", "n"):
        pinned((out[f"{x}_status"] == "missing").all() and out[x].isna().all(),
               f"Osborne & Allison 2006's {x} values are missing from the public record",
               "filled: " + cells(o, "outcomes.csv", x, mask), test)
    a = pkg.arms
    arms = a[a["study_id"] == "osborne2006"].set_index("arm_id")
    pinned(arms["role"].to_dict() == {DEX: "treatment", PLA: "control", "acetic_acid": "other"}
           and (arms["n_analysed_status"] == "missing").all(),
           "Osborne & Allison 2006's arms are dexamethasone, placebo and acetic acid, numbers analysed missing",
           f"arms.csv gives {arms['role'].to_dict()}, "
           + cells(a, "arms.csv", "n_analysed", a["study_id"] == "osborne2006"), test)
    tps = pkg.timepoints[pkg.timepoints["study_id"] == "osborne2006"].set_index("timepoint_id")
    windows = tps["window"].to_dict()
    pinned(windows == {"first_session": "baseline", "end_of_treatment": "end_of_treatment",
                       "week_4": "about_one_month"},
           "Osborne & Allison 2006's time points are the first session, the end of treatment and week 4",
           f"timepoints.csv gives {windows}", test)
    defs = pkg.outcome_definitions[pkg.outcome_definitions["study_id"] == "osborne2006"]
    pinned(set(defs["outcome_id"]) == {"morning_pain", "average_pain", "morning_stiffness"}
           and (defs["scale_min"] == 0).all() and (defs["scale_max"] == 10).all()
           and (defs["direction"] == "higher_is_worse").all()
           and defs["source"].str.contains("secondary news report").all(),
           "Osborne & Allison 2006's outcomes are morning pain, average pain and morning stiffness on 0-10 "
           "scales, higher is worse, from a secondary news report",
           f"outcome_definitions.csv gives "
           f"{sorted(zip(defs['outcome_id'], defs['scale_min'], defs['scale_max'], defs['direction']))}", test)
    study = pkg.studies.set_index("study_id").loc["osborne2006"]
    pinned(study["pmcid"] == "PMC2465091" and study["unit_of_analysis"] == "foot",
           "Osborne & Allison 2006 is PMC2465091 and analysed feet",
           f"studies.csv gives {study['pmcid']}, {study['unit_of_analysis']}", test)
    f = pkg.findings.set_index(["study_id", "finding_id"])
    stiff = f.loc[("osborne2006", "morning_stiffness_week_4_dexamethasone_vs_placebo"), "significant"]
    pain = f.loc[("osborne2006", "pain_week_4_dexamethasone_vs_placebo"), "significant"]
    pinned(stiff == "no" and pain == "yes",
           "at week 4 Osborne & Allison 2006 report pain, not morning stiffness, significantly better with "
           "dexamethasone than placebo", f"findings.csv gives stiffness {stiff}, pain {pain}", test)


# --------------------------------------------------------------------------- whole package


def test_trials_scopes_and_no_animal_studies(pkg):
    test = "test_trials_scopes_and_no_animal_studies"
    scope = pkg.studies.set_index("study_id")["scope"].to_dict()
    expected = {
        "gudeman1997": "running_injury", "neeter2003": "running_injury", "osborne2006": "running_injury",
        "nirschl2003": "other_tendinopathy", "hendriks1992": "unspecified_tendinopathy",
        "runeson2002": "other_tendinopathy", "patellar_mendonca2020": "other_tendinopathy",
    }
    pinned(scope == expected, f"the trials and their scopes are {expected}",
           f"{_shown('studies.csv')} gives {scope}; a new trial needs its scope here too", test)
    descriptor = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    pinned("Martin 1999" in descriptor["description"] and "Hugate 2004" in descriptor["description"],
           "the package description names the animal studies Martin 1999 and Hugate 2004 as context, not data",
           f"{_shown('datapackage.json')} does not", test)


def test_windows(pkg):
    test = "test_windows"
    w = pkg.timepoints.set_index(["study_id", "timepoint_id"])["window"]
    found = {k: w.get(k) for k in ((G, EOT), (G, M1), (NI, D2), (NI, M1))}
    pinned(found == {(G, EOT): "end_of_treatment", (G, M1): "about_one_month", (NI, D2): "end_of_treatment",
                     (NI, M1): "about_one_month"},
           "Gudeman's and Nirschl's time points fall in the end-of-treatment and one-month windows",
           f"timepoints.csv gives {found}", test)
    t = pkg.timepoints
    pinned(t.loc[t["weeks_approximate"], "weeks_note"].notna().all(),
           "an approximate week says how it was obtained",
           "empty: " + cells(t, "timepoints.csv", "weeks_note", t["weeks_approximate"], empty=True), test)
    pinned(w.index.is_unique, "each trial's time points are unique",
           f"timepoints.csv repeats {sorted(set(w.index[w.index.duplicated()]))}", test)


def test_one_primary_outcome_per_trial_with_outcome_rows(pkg):
    test = "test_one_primary_outcome_per_trial_with_outcome_rows"
    defs = pkg.outcome_definitions
    is_primary = defs["review_role"] == "primary"
    primary = defs[is_primary].set_index("study_id")["outcome_id"]
    expected = {G: MFS, NI: VAS, "osborne2006": "morning_pain", "neeter2003": "pain_activity"}
    pinned(primary.index.is_unique and {k: primary.get(k) for k in expected} == expected,
           f"each trial has one primary outcome: {expected}",
           f"outcome_definitions.csv marks {sorted(zip(primary.index, primary))}", test)
    pinned(defs.loc[is_primary, "notes"].notna().all(), "a primary outcome's notes say why it was chosen",
           "empty: " + cells(defs, "outcome_definitions.csv", "notes", is_primary, empty=True), test)


def test_descriptor_metadata():
    test = "test_descriptor_metadata"
    d = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    where = _shown("datapackage.json")
    pinned(d["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
           and [lic["name"] for lic in d["licenses"]] == ["CC-BY-4.0"],
           "the package follows the Data Package v2 profile under CC-BY-4.0",
           f"{where} gives {d.get('$schema')}, {[lic.get('name') for lic in d.get('licenses', [])]}", test)
    paths = " ".join(s["path"] for s in d["sources"])
    for doi in ("10.1177/036354659702500307", "10.1046/j.1600-0838.2003.00305.x",
                "10.1136/bjsm.2005.021758", "10.1177/03635465030310020601"):
        pinned(doi in paths, f"the package's sources include doi:{doi}", f"{where} does not list it", test)
    for res in d["resources"]:
        undescribed = [f["name"] for f in res["schema"]["fields"] if not f.get("description")]
        pinned(bool(res["schema"].get("primaryKey")) and not undescribed,
               f"table {res['name']} has a primary key and a description of every column",
               f"{where} leaves {undescribed or 'the primary key'} without", test)
