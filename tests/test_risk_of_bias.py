"""Risk of bias (RoB 2) as data: the overall algorithm path by path, the table's
validation rules on broken copies of data/, the committed judgements, the tidy tables.

Domain judgements in the algorithm tests are synthetic (typed here to reach each path);
the content tests read the committed data/risk_of_bias.csv and data/pedro_ratings.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.data import RULES, validate_main, validate_package
from analysis.risk_of_bias import (
    DOMAINS,
    JUDGEMENTS,
    OVERALL,
    PEDRO_SCORED,
    assessment_wide,
    overall_reason,
    pedro_scores,
    rob2_overall,
    summary_table,
    traffic_light_table,
    trial_overall,
    trial_sizes,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
ROB = "risk_of_bias.csv"
PEDRO = "pedro_ratings.csv"
MID = "minimal_important_differences.csv"


def five(d1="low", d2="low", d3="low", d4="low", d5="low"):
    return dict(zip(DOMAINS, (d1, d2, d3, d4, d5)))


# --------------------------------------------------------------------------- the algorithm


def test_all_low_is_low():
    assert rob2_overall(five()) == "low"
    assert overall_reason(five()) == "low in all five domains"


@pytest.mark.parametrize("domain", DOMAINS)
def test_one_high_domain_is_high(domain):
    d = five(**{domain.replace("D", "d"): "high"})
    assert rob2_overall(d) == "high"
    assert overall_reason(d).startswith(f"high in {domain} (")
    # whatever the others are, and whatever the multiple-concerns rule
    d = dict(five("some_concerns", "no_information"), **{domain: "high"})
    assert rob2_overall(d, multiple_concerns_high=None) == "high"


@pytest.mark.parametrize("n_concerns", [1, 2])
def test_some_concerns_in_fewer_domains_than_the_threshold_is_some_concerns(n_concerns):
    d = five(*(["some_concerns"] * n_concerns + ["low"] * (5 - n_concerns)))
    assert rob2_overall(d) == "some_concerns"
    assert overall_reason(d).startswith("some concerns in D1 (randomisation)")
    assert overall_reason(d).endswith("high in none")


@pytest.mark.parametrize("n_concerns", [3, 4, 5])
def test_some_concerns_in_multiple_domains_is_high(n_concerns):
    d = five(*(["some_concerns"] * n_concerns + ["low"] * (5 - n_concerns)))
    assert rob2_overall(d) == "high"
    assert overall_reason(d).startswith(f"some concerns in {n_concerns} domains, D1 (randomisation)")
    assert overall_reason(d).endswith("3 or more make the result high risk")


def test_the_multiple_concerns_rule_is_an_option():
    d = five("some_concerns", "some_concerns")
    assert rob2_overall(d) == "some_concerns"
    assert rob2_overall(d, multiple_concerns_high=2) == "high"
    all_concerns = five(*["some_concerns"] * 5)
    assert rob2_overall(all_concerns, multiple_concerns_high=None) == "some_concerns"


def test_no_information_counts_as_some_concerns_by_default():
    two = five("no_information", "no_information")
    assert rob2_overall(two) == "some_concerns"
    assert overall_reason(two) == ("some concerns or no information in D1 (randomisation), "
                                   "D2 (deviations from intended interventions), high in none")
    # the committed running-injury pattern: no information in D1, D2, D3, D5; D4 low
    four = five("no_information", "no_information", "no_information", "low", "no_information")
    assert rob2_overall(four) == "high"
    assert overall_reason(four).startswith("some concerns or no information in 4 domains, D1 ")
    assert "D4" not in overall_reason(four)
    assert rob2_overall(four, multiple_concerns_high=None) == "some_concerns"


def test_no_information_as_high_is_the_stricter_reading():
    d = five(d3="no_information")
    assert rob2_overall(d) == "some_concerns"
    assert rob2_overall(d, no_information_as="high") == "high"
    assert overall_reason(d, no_information_as="high") == \
        "no information, counted as high, in D3 (missing outcome data)"
    mixed = five("high", d3="no_information")
    assert overall_reason(mixed, no_information_as="high") == (
        "high in D1 (randomisation); no information, counted as high, in D3 (missing outcome data)")


def test_mixed_concerns_and_no_information_are_counted_together():
    d = five("some_concerns", "no_information", "low", "some_concerns", "low")
    assert rob2_overall(d) == "high"
    assert rob2_overall(d, multiple_concerns_high=4) == "some_concerns"


@pytest.mark.parametrize("bad, message", [
    ({"D1": "low", "D2": "low", "D3": "low", "D4": "low"}, r"missing \['D5'\]"),
    (five(d2="unclear"), r"unknown judgement\(s\) \{'D2': 'unclear'\}"),
])
def test_bad_domains_raise_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        rob2_overall(bad)


@pytest.mark.parametrize("option, message", [
    (dict(no_information_as="low"), "no_information_as must be"),
    (dict(multiple_concerns_high=1), "multiple_concerns_high must be"),
    (dict(multiple_concerns_high=6), "multiple_concerns_high must be"),
    (dict(multiple_concerns_high=2.5), "multiple_concerns_high must be"),
    (dict(multiple_concerns_high=True), "multiple_concerns_high must be"),
])
def test_bad_options_raise_a_clear_error(option, message):
    with pytest.raises(ValueError, match=message):
        rob2_overall(five(), **option)


_RANK = {"low": 0, "some_concerns": 1, "high": 2}
judgements = st.sampled_from(JUDGEMENTS)


@settings(max_examples=300, deadline=None)
@given(st.lists(judgements, min_size=5, max_size=5), st.integers(0, 4), judgements,
       st.sampled_from([None, 2, 3, 4, 5]), st.sampled_from(["some_concerns", "high"]))
def test_overall_is_never_better_than_a_domain_and_worsening_a_domain_never_helps(
        values, i, new, threshold, ni_as):
    d = dict(zip(DOMAINS, values))
    opts = dict(multiple_concerns_high=threshold, no_information_as=ni_as)
    overall = rob2_overall(d, **opts)
    as_rated = [ni_as if v == "no_information" else v for v in values]
    assert _RANK[overall] >= max(_RANK[v] for v in as_rated)
    worse = dict(d, **{DOMAINS[i]: new})
    new_rated = ni_as if new == "no_information" else new
    if _RANK[new_rated] >= _RANK[as_rated[i]]:
        assert _RANK[rob2_overall(worse, **opts)] >= _RANK[overall]


# --------------------------------------------------------------------------- the committed table


EXPECTED = {
    # (study, domain) -> the review's judgement, the same at every time point assessed
    ("gudeman1997", "D1"): "no_information", ("gudeman1997", "D2"): "no_information",
    ("gudeman1997", "D3"): "no_information", ("gudeman1997", "D4"): "low",
    ("gudeman1997", "D5"): "no_information",
    ("neeter2003", "D1"): "no_information", ("neeter2003", "D2"): "no_information",
    ("neeter2003", "D3"): "no_information", ("neeter2003", "D4"): "low",
    ("neeter2003", "D5"): "no_information",
    ("osborne2006", "D1"): "no_information", ("osborne2006", "D2"): "no_information",
    ("osborne2006", "D3"): "no_information", ("osborne2006", "D4"): "low",
    ("osborne2006", "D5"): "no_information",
    ("nirschl2003", "D1"): "high", ("nirschl2003", "D2"): "high",
    ("nirschl2003", "D3"): "no_information", ("nirschl2003", "D4"): "low",
    ("nirschl2003", "D5"): "no_information",
}


def test_the_review_judgements(pkg):
    rob = pkg.risk_of_bias
    dom = rob[rob["domain"] != OVERALL]
    got = {(s, d): set(g["judgement"]) for (s, d), g in dom.groupby(["study_id", "domain"])}
    assert got == {k: {v} for k, v in EXPECTED.items()}
    assert (rob["judgement_by"] == "review").all()
    assert set(rob.loc[rob["domain"] == OVERALL, "judgement"]) == {"high"}


def test_every_primary_result_of_the_compared_trials_is_assessed(pkg):
    """The primary outcome at every time point after baseline, for every trial in the
    running-injury and elbow comparisons."""
    defs = pkg.outcome_definitions
    primary = defs[defs["review_role"] == "primary"]
    trials = pkg.studies[pkg.studies["scope"].isin(["running_injury", "other_tendinopathy"])]
    tps = pkg.timepoints[pkg.timepoints["window"] != "baseline"]
    expected = set()
    for _, p in primary[primary["study_id"].isin(trials["study_id"])].iterrows():
        measured = pkg.outcomes[(pkg.outcomes["study_id"] == p["study_id"])
                                & (pkg.outcomes["outcome_id"] == p["outcome_id"])]["timepoint_id"]
        for t in set(measured) & set(tps.loc[tps["study_id"] == p["study_id"], "timepoint_id"]):
            expected.add((p["study_id"], p["outcome_id"], t))
    assessed = set(zip(pkg.risk_of_bias["study_id"], pkg.risk_of_bias["outcome_id"],
                       pkg.risk_of_bias["timepoint_id"]))
    assert expected == assessed
    assert len(expected) == 11  # Gudeman 2, Neeter 5, Osborne 2, Nirschl 2
    assert len(pkg.risk_of_bias) == 11 * 6


def test_stored_overall_is_the_algorithm(pkg):
    wide = assessment_wide(pkg.risk_of_bias)
    assert len(wide) == 11
    assert (wide["overall"] == wide["overall_computed"]).all()
    nirschl = wide[wide["study_id"] == "nirschl2003"]
    assert set(nirschl["reason"]) == {
        "high in D1 (randomisation), D2 (deviations from intended interventions)"}
    assert (nirschl["n_high_domains"] == 2).all()
    # without the multiple-concerns rule the running-injury trials would be "some concerns"
    lenient = assessment_wide(pkg.risk_of_bias, multiple_concerns_high=None)
    assert dict(zip(lenient["study_id"], lenient["overall_computed"])) == {
        "gudeman1997": "some_concerns", "neeter2003": "some_concerns",
        "osborne2006": "some_concerns", "nirschl2003": "high"}


def test_supports_cite_only_the_trials_records_and_pedro(pkg):
    rob = pkg.risk_of_bias
    dom = rob[rob["domain"] != OVERALL]
    trial_source = {"gudeman1997": "PMID 9167809, abstract", "neeter2003": "PMID 14617059, abstract",
                    "osborne2006": "PMID 16488901, abstract", "nirschl2003": "PMID 12642251, abstract"}
    for _, r in dom.iterrows():
        parts = set(r["support_source"].split("; "))
        nirschl_secondary = {"PEDro record 11438", "conference-abstract version of the trial"}
        allowed = {trial_source[r["study_id"]]} | (nirschl_secondary if r["study_id"] == "nirschl2003" else set())
        assert parts <= allowed, (r["study_id"], r["domain"], r["support_source"])
        # a support that draws on a secondary record cites it and is not "reported"
        if "conference abstract" in r["support"] or "PEDro" in r["support"]:
            assert parts & nirschl_secondary and r["support_status"] != "reported", (
                r["study_id"], r["domain"], r["support_status"], r["support_source"])
        assert r["support"] and r["rationale"]
        assert r["support_status"] in {"reported", "secondary", "inferred"}
        if r["support_status"] == "inferred":
            assert r["support_note"]
    overall = rob[rob["domain"] == OVERALL]
    assert overall["support"].isna().all() and overall["support_status"].isna().all()


def test_judgements_that_rest_on_pedro_agree_with_the_pedro_table(pkg):
    answers = pkg.pedro_ratings.set_index(["study_id", "item"])["answer"]
    rob = pkg.risk_of_bias
    for domain, item in (("D1", "concealed_allocation"), ("D2", "intention_to_treat")):
        row = rob[(rob["study_id"] == "nirschl2003") & (rob["domain"] == domain)]
        assert set(row["judgement"]) == {"high"}
        assert row["support"].str.contains("PEDro rates").all()
        assert answers[("nirschl2003", item)] == "no"


def test_no_information_where_the_record_is_silent(pkg):
    """A 'no information' row says what the record does not give; a judged row does not
    rest on silence alone."""
    rob = pkg.risk_of_bias
    ni = rob[rob["judgement"] == "no_information"]
    assert ni["rationale"].str.contains("NI").all()
    assert ni["support"].str.contains("not in|not printed|not public|no trial registration").all()


def test_pedro_ratings(pkg):
    pedro = pkg.pedro_ratings
    scores = pedro_scores(pedro).set_index("study_id")
    assert scores.loc["nirschl2003", "text"] == "PEDro 7/10"
    assert scores.loc["hendriks1992", "text"] == "PEDro 10/10"
    assert set(scores["status"]) == {"secondary"}
    for sid in ("nirschl2003", "hendriks1992"):
        items = pedro[(pedro["study_id"] == sid) & pedro["item"].isin(PEDRO_SCORED)]
        assert len(items) == 10
        assert (items["answer"] == "yes").sum() == scores.loc[sid, "score"]
        inferred = items[items["answer_status"] == "inferred"]
        assert inferred["answer_note"].notna().all() and (inferred["answer"] == "yes").all()
    secondary = pedro[(pedro["study_id"] == "nirschl2003") & (pedro["answer_status"] == "secondary")]
    assert dict(zip(secondary["item"], secondary["answer"])) == {
        "concealed_allocation": "no", "intention_to_treat": "no",
        "between_group_comparisons": "yes", "point_estimates_and_variability": "no"}


def test_minimal_important_difference(pkg):
    mid = pkg.minimal_important_differences
    assert len(mid) == 1
    row = mid.iloc[0]
    assert (row["study_id"], row["outcome_id"], row["mid_lower"], row["mid_upper"]) == \
        ("nirschl2003", "pain_vas", 15.0, 20.0)
    assert row["mid_lower_status"] == row["mid_upper_status"] == "secondary"


# --------------------------------------------------------------------------- tidy tables


def test_trial_sizes(pkg):
    sizes = trial_sizes(pkg.studies, pkg.arms).set_index("study_id")
    assert sizes.loc["gudeman1997", "n"] == 40 and sizes.loc["gudeman1997", "unit"] == "foot"
    assert sizes.loc["neeter2003", "n"] == 25
    assert sizes.loc["nirschl2003", "n"] == 199
    assert sizes.loc["hendriks1992", "n"] == 22
    # Osborne: arm sizes are not public, so the 42 feet analysed over all three arms
    assert sizes.loc["osborne2006", "n"] == 42
    assert sizes.loc["osborne2006", "basis"] == "units analysed (all arms)"
    assert sizes.loc["runeson2002", "n"] == 64 and sizes.loc["runeson2002", "unit"] == "patient"


def test_traffic_light_table(pkg):
    t = traffic_light_table(pkg.risk_of_bias, pkg.studies, pkg.timepoints)
    assert len(t) == 66 and t["row"].nunique() == 11
    first = t[t["row"] == 0]
    assert list(first["domain"]) == list(DOMAINS) + [OVERALL]
    assert first["study"].iloc[0] == "Gudeman 1997"
    assert first["when"].iloc[0] == "end of treatment (about 2 weeks)"
    neeter = t[(t["study"] == "Neeter 2003") & (t["domain"] == OVERALL)]
    assert list(neeter["when"]) == ["after the 2 weeks of treatment", "6 weeks", "3 months",
                                    "6 months", "1 year"]
    assert set(t["label"]) == {"Low", "High", "No information"}


def test_summary_table_weights_by_sample_size(pkg):
    sizes = trial_sizes(pkg.studies, pkg.arms)
    s = summary_table(pkg.risk_of_bias, sizes, pkg.timepoints)
    total = 40 + 25 + 42 + 199  # Gudeman, Neeter, Osborne, Nirschl at the end of treatment
    d1 = s[s["domain"] == "D1"].set_index("judgement")
    assert d1.loc["no_information", "share"] == pytest.approx((40 + 25 + 42) / total, abs=1e-12)
    assert d1.loc["high", "share"] == pytest.approx(199 / total, abs=1e-12)
    assert d1.loc["low", "share"] == 0
    d4 = s[s["domain"] == "D4"].set_index("judgement")
    assert d4.loc["low", "share"] == pytest.approx(1.0)
    sums = s.groupby(["group", "domain"])["share"].sum()
    assert np.allclose(sums, 1.0)
    # unweighted: each trial counts once
    u = summary_table(pkg.risk_of_bias, sizes, pkg.timepoints, weighted=False)
    assert u[(u["domain"] == "D1") & (u["judgement"] == "high")]["share"].iloc[0] == pytest.approx(0.25)
    # one summary per scope, at about one month (Neeter's 6 weeks, Osborne's 4 weeks)
    scopes = dict(zip(pkg.studies["study_id"], pkg.studies["scope"]))
    g = summary_table(pkg.risk_of_bias, sizes, pkg.timepoints, window="about_one_month", groups=scopes)
    assert set(g["group"]) == {"running_injury", "other_tendinopathy"}
    run_d1 = g[(g["group"] == "running_injury") & (g["domain"] == "D1")].set_index("judgement")
    assert run_d1.loc["no_information", "trials"] == "gudeman1997, neeter2003, osborne2006"


def test_summary_table_refuses_unknown_sizes(pkg):
    sizes = trial_sizes(pkg.studies, pkg.arms)
    sizes.loc[sizes["study_id"] == "neeter2003", "n"] = np.nan
    with pytest.raises(ValueError, match=r"no sample size for \['neeter2003'\]"):
        summary_table(pkg.risk_of_bias, sizes, pkg.timepoints)


def test_trial_overall_takes_the_worst_result(pkg):
    rob = pkg.risk_of_bias.copy()
    ov = trial_overall(rob).set_index("study_id")
    assert ov.loc["neeter2003", "results"] == 5 and set(ov["overall"]) == {"high"}
    # synthetic: one Gudeman result made low, the other stays high -> worst is high
    mask = (rob["study_id"] == "gudeman1997") & (rob["domain"] == OVERALL) \
        & (rob["timepoint_id"] == "end_of_treatment")
    rob.loc[mask, "judgement"] = "low"
    assert trial_overall(rob).set_index("study_id").loc["gudeman1997", "overall"] == "high"


# --------------------------------------------------------------------------- validation


from datacopy import line_of as _line, read_rows as _rows, set_cells as _set, write_rows as _write  # noqa: E402,E501


def _expect(problems, file, line, column, rule):
    hits = [p for p in problems if (p.file, p.row, p.column, p.rule) == (file, line, column, rule)]
    assert hits, f"expected {file}, line {line}, column {column} [rule: {rule}] among:\n" + \
        "\n".join(map(str, problems))
    assert rule in RULES
    return hits[0]


GUD_EOT = dict(study_id="gudeman1997", outcome_id="maryland_foot_score", timepoint_id="end_of_treatment")


def test_committed_tables_are_valid():
    assert validate_package(DATA) == []


def test_judgement_outside_the_vocabulary(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain="D4")
    _set(data_dir, ROB, line, judgement="unclear")
    p = _expect(validate_package(data_dir), ROB, line, "judgement", "enum")
    assert "low, some_concerns, high, no_information" in p.message and "'unclear'" in p.message


def test_a_domain_missing_for_a_trial_result(data_dir):
    rows = _rows(data_dir / ROB)
    first = _line(data_dir, ROB, **GUD_EOT, domain="D1")
    d3 = _line(data_dir, ROB, **GUD_EOT, domain="D3")
    _write(data_dir / ROB, rows[: d3 - 1] + rows[d3:])
    p = _expect(validate_package(data_dir), ROB, first, "domain", "rob-domains-complete")
    assert "gudeman1997 / maryland_foot_score / end_of_treatment: no row for D3" in p.message


def test_a_support_without_a_source(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain="D2")
    _set(data_dir, ROB, line, support_source="")
    p = _expect(validate_package(data_dir), ROB, line, "support_source", "source-required")
    assert p.message.startswith("support = 'double-blind")


def test_a_domain_without_a_support(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain="D2")
    _set(data_dir, ROB, line, support="", support_status="", support_source="")
    p = _expect(validate_package(data_dir), ROB, line, "support", "support-required")
    assert "D2 is judged 'no_information' without a support" in p.message


def test_a_domain_without_a_rationale(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain="D5")
    _set(data_dir, ROB, line, rationale="")
    _expect(validate_package(data_dir), ROB, line, "rationale", "rationale-required")


def test_an_overall_judgement_that_contradicts_the_algorithm(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain=OVERALL)
    _set(data_dir, ROB, line, judgement="some_concerns")
    p = _expect(validate_package(data_dir), ROB, line, "judgement", "rob-overall")
    assert "overall is 'some_concerns' but the RoB 2 algorithm gives 'high'" in p.message
    assert "some concerns or no information in 4 domains" in p.message


def test_changing_a_domain_without_the_overall_is_caught(data_dir):
    for domain in ("D1", "D2"):
        line = _line(data_dir, ROB, study_id="nirschl2003", outcome_id="pain_vas",
                     timepoint_id="day_2_after", domain=domain)
        _set(data_dir, ROB, line, judgement="low")
    for domain in ("D3", "D5"):
        line = _line(data_dir, ROB, study_id="nirschl2003", outcome_id="pain_vas",
                     timepoint_id="day_2_after", domain=domain)
        _set(data_dir, ROB, line, judgement="low")
    overall = _line(data_dir, ROB, study_id="nirschl2003", outcome_id="pain_vas",
                    timepoint_id="day_2_after", domain=OVERALL)
    p = _expect(validate_package(data_dir), ROB, overall, "judgement", "rob-overall")
    assert "gives 'low'" in p.message


def test_an_overall_row_with_a_support(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain=OVERALL)
    _set(data_dir, ROB, line, support="looks fine", support_status="reported",
         support_source="PMID 9167809, abstract")
    _expect(validate_package(data_dir), ROB, line, "support", "applicability")


def test_an_unknown_time_point(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain="D1")
    _set(data_dir, ROB, line, timepoint_id="week_52")
    problems = validate_package(data_dir)
    _expect(problems, ROB, line, "timepoint_id", "unknown-id")


def test_judgement_by_is_the_review(data_dir):
    line = _line(data_dir, ROB, **GUD_EOT, domain="D1")
    _set(data_dir, ROB, line, judgement_by="trial")
    _expect(validate_package(data_dir), ROB, line, "judgement_by", "enum")


def test_a_pedro_total_that_does_not_fit_the_items(data_dir):
    line = _line(data_dir, PEDRO, study_id="nirschl2003", item="total_score")
    _set(data_dir, PEDRO, line, score="9")
    p = _expect(validate_package(data_dir), PEDRO, line, "score", "pedro-total")
    assert "7 'yes', 0 not known" in p.message
    # with one answer unknown the total may be 7 or 8, not 9
    item = _line(data_dir, PEDRO, study_id="nirschl2003", item="blind_assessors")
    _set(data_dir, PEDRO, item, answer="", answer_status="missing", answer_source="", answer_note="")
    p = _expect(validate_package(data_dir), PEDRO, line, "score", "pedro-total")
    assert "must be from 6 to 7" in p.message


def test_pedro_answers_and_scores_in_their_own_rows(data_dir):
    item = _line(data_dir, PEDRO, study_id="nirschl2003", item="concealed_allocation")
    _set(data_dir, PEDRO, item, answer="maybe")
    total = _line(data_dir, PEDRO, study_id="hendriks1992", item="total_score")
    _set(data_dir, PEDRO, total, answer="yes", answer_status="secondary", answer_source="PEDro record 2729")
    problems = validate_package(data_dir)
    _expect(problems, PEDRO, item, "answer", "enum")
    _expect(problems, PEDRO, total, "answer", "applicability")


def test_a_minimal_important_difference_out_of_order(data_dir):
    line = _line(data_dir, MID, study_id="nirschl2003", outcome_id="pain_vas")
    _set(data_dir, MID, line, mid_lower="25")
    _expect(validate_package(data_dir), MID, line, "mid_lower", "mid-order")


def test_the_command_line_reports_located_problems_without_a_traceback(data_dir, capsys):
    line = _line(data_dir, ROB, **GUD_EOT, domain=OVERALL)
    _set(data_dir, ROB, line, judgement="low")
    assert validate_main([str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert f"risk_of_bias.csv, line {line}, column judgement: " in err
    assert "[rule: rob-overall]" in err and "Traceback" not in err


def test_judgements_by_trial_collapses_identical_time_points(pkg):
    from analysis.risk_of_bias import judgements_by_trial

    j = judgements_by_trial(pkg.risk_of_bias, pkg.studies)
    # four trials x (five domains + overall): every judgement is the same at each time point
    assert len(j) == 4 * 6
    assert list(dict.fromkeys(j["study"])) == ["Gudeman 1997", "Neeter 2003", "Osborne & Allison 2006",
                                               "Nirschl 2003"]
    neeter_d1 = j[(j["study"] == "Neeter 2003") & (j["domain"] == "D1")].iloc[0]
    assert neeter_d1["results"].count("pain_activity at") == 5
    assert neeter_d1["judgement"] == "No information"
    nirschl = j[j["study"] == "Nirschl 2003"].set_index("domain")
    assert nirschl.loc["D1", "what_the_record_says"].endswith("PEDro rates concealed allocation 'No'")
    assert nirschl.loc["overall", "how_rob2_gets_there"] == \
        "high in D1 (randomisation), D2 (deviations from intended interventions)"
    # a judgement that differs at one time point gets its own row (synthetic change)
    rob = pkg.risk_of_bias.copy()
    rob.loc[(rob["study_id"] == "gudeman1997") & (rob["timepoint_id"] == "one_month_after")
            & (rob["domain"] == "D3"), "support"] = "synthetic support"
    assert len(judgements_by_trial(rob, pkg.studies)) == 4 * 6 + 1
