"""Effect-direction table (analysis.direction) and the value ledger (analysis.provenance).

The ledger is checked against the CSV files read here with the csv module, not
through the package loader.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from analysis.data import load_package
from analysis.direction import SYMBOLS, effect_direction_table
from analysis.trial_effects import findings_table
from analysis.provenance import KEYS, STATUSES, status_counts, value_fields, value_ledger

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="module")
def table(pkg, effects):
    return effect_direction_table(effects, findings_table(pkg))


def _raw(name):
    with open(DATA / f"{name}.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------- direction


def test_every_study_with_findings_or_estimable_effects_has_a_row(pkg, effects, table):
    labels = pkg.studies.set_index("study_id")["label"]
    with_findings = set(pkg.findings["study_id"])
    with_effects = set(effects.loc[effects["estimable"], "study_id"])
    expected = {labels[s] for s in with_findings | with_effects}
    assert expected == {"Gudeman 1997", "Nirschl 2003", "Neeter 2003", "Hendriks 1992",
                        "Osborne & Allison 2006"}
    assert set(table["study"]) == expected


def test_one_row_per_estimable_smd_and_per_finding(pkg, effects, table):
    n_smd = int(((effects["measure"] == "SMD") & effects["estimable"]).sum())
    assert len(table) == n_smd + len(pkg.findings)
    computed = table[table["basis"].str.startswith("computed")]
    assert len(computed) == n_smd


def test_neeter_rows_are_within_group_only_except_its_one_between_group_finding(pkg, table):
    neeter = table[table["study"] == "Neeter 2003"].reset_index(drop=True)
    f = pkg.findings[pkg.findings["study_id"] == "neeter2003"].reset_index(drop=True)
    assert len(neeter) == len(f)
    for i, finding in f.iterrows():
        row = neeter.iloc[i]
        if finding["comparison"] == "within_group":
            assert row["comparison"].startswith("within ")
            assert row["comparison"].endswith("only (not a comparison with placebo)")
            assert row["direction"] in {"improved", "no clear change", "not stated"}
        else:
            assert " vs " in row["comparison"]
    # no Neeter row may claim a between-group advantage
    assert not neeter["direction"].isin(["favours dexamethasone", "favours comparator"]).any()
    assert not neeter["basis"].str.startswith("computed").any()


def test_computed_rows_follow_the_ci_of_the_smd(effects, table):
    smd = effects[(effects["measure"] == "SMD") & effects["estimable"]]
    computed = table[table["basis"].str.startswith("computed")].reset_index(drop=True)
    for (_, e), (_, r) in zip(smd.iterrows(), computed.iterrows()):
        assert r["study"] == e["study"] and r["when"] == e["timepoint"]
        if e["ci_lb"] > 0:
            assert (r["direction"], r["significant"]) == ("favours dexamethasone", "yes")
        elif e["ci_ub"] < 0:
            assert (r["direction"], r["significant"]) == ("favours comparator", "yes")
        else:
            assert (r["direction"], r["significant"]) == ("no clear difference", "no")
    # Gudeman at the end of treatment: CI of g above zero; at one month it spans zero
    gud = computed[computed["study"] == "Gudeman 1997"]
    assert list(gud["direction"]) == ["favours dexamethasone", "no clear difference"]


def test_between_group_directions_of_osborne_and_hendriks(table):
    osb = table[table["study"] == "Osborne & Allison 2006"]
    acetic_vs_dex = osb[osb["comparison"] == "5% acetic acid vs 0.4% dexamethasone"]
    # acetic acid beat dexamethasone: the comparator is favoured
    assert list(acetic_vs_dex["direction"]) == ["favours comparator"]
    # acetic acid vs placebo does not involve dexamethasone
    assert (osb.loc[osb["comparison"] == "5% acetic acid vs 0.9% saline placebo",
                    "direction"] == "other comparison").all()
    hen = table[table["study"] == "Hendriks 1992"]
    assert list(hen["direction"]) == ["favours dexamethasone"]
    assert hen["basis"].iloc[0] == "reported direction (secondary)"


def test_every_direction_has_a_symbol(table):
    assert table["direction"].isin(list(SYMBOLS)).all()
    assert table["symbol"].notna().all()
    assert (table["symbol"] == table["direction"].map(SYMBOLS)).all()


def test_every_row_names_its_outcome(table):
    assert table["outcome"].notna().all()
    assert (table["outcome"].astype(str).str.strip() != "").all()


# --------------------------------------------------------------------- provenance


def test_value_ledger_has_one_line_per_non_empty_status(pkg):
    ledger = value_ledger(pkg)
    expected = Counter()
    for name in KEYS:
        rows = _raw(name)
        header = list(rows[0].keys())
        fields = [c[: -len("_status")] for c in header
                  if c.endswith("_status") and c[: -len("_status")] in header]
        assert fields == value_fields(getattr(pkg, name))
        for r in rows:
            for f in fields:
                if r[f"{f}_status"] != "":
                    expected[(name, r["study_id"], f, r[f"{f}_status"])] += 1
    got = Counter(zip(ledger["table"], ledger["study_id"], ledger["field"], ledger["status"]))
    assert got == expected
    assert len(ledger) == sum(expected.values())
    assert set(ledger["status"]) <= set(STATUSES)


def test_value_ledger_values_and_sources_follow_the_status(pkg):
    ledger = value_ledger(pkg)
    missing = ledger[ledger["status"] == "missing"]
    assert missing["value"].isna().all()
    given = ledger[ledger["status"] != "missing"]
    assert given["value"].notna().all()
    assert given["source"].notna().all()
    gud = ledger[(ledger["table"] == "outcomes") & (ledger["study_id"] == "gudeman1997")
                 & (ledger["row"] == "dexamethasone / maryland_foot_score / end_of_treatment")]
    assert dict(zip(gud["field"], gud["status"])) == {"mean": "reported", "sd": "inferred",
                                                      "n": "missing"}
    assert gud.set_index("field").loc["mean", "value"] == 6.8


def test_status_counts_sum_to_the_ledger(pkg):
    ledger = value_ledger(pkg)
    for name in KEYS:
        counts = status_counts(ledger, name)
        assert list(counts.columns) == list(STATUSES)
        sub = ledger[ledger["table"] == name]
        assert int(counts.to_numpy().sum()) == len(sub)
        per_study = sub.groupby("study_id").size()
        pd.testing.assert_series_equal(counts.sum(axis=1).sort_index(),
                                       per_study.sort_index(), check_names=False)


def test_status_counts_of_outcomes_match_the_csv():
    rows = _raw("outcomes")
    header = list(rows[0].keys())
    fields = [c[: -len("_status")] for c in header if c.endswith("_status")]
    expected = Counter((r["study_id"], r[f"{f}_status"]) for r in rows for f in fields
                       if r[f"{f}_status"] != "")
    counts = status_counts(value_ledger(load_package(DATA)))
    for (study, status), n in expected.items():
        assert counts.loc[study, status] == n
    assert int(counts.to_numpy().sum()) == sum(expected.values())
    # the trials with no public numbers have nothing but missing outcome values
    for study in ("neeter2003", "osborne2006"):
        assert counts.loc[study, ["reported", "secondary", "inferred"]].sum() == 0
        assert counts.loc[study, "missing"] > 0
