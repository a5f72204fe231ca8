"""Risk of bias (Cochrane RoB 2) as data: the table's rules, the overall algorithm, tidy tables.

``data/risk_of_bias.csv`` holds one row per trial × result assessed (the review's primary
outcome at each time point) × RoB 2 domain, plus the overall judgement:

* D1 bias arising from the randomisation process,
* D2 bias due to deviations from intended interventions (effect of assignment),
* D3 bias due to missing outcome data,
* D4 bias in measurement of the outcome,
* D5 bias in selection of the reported result,

each judged ``low``, ``some_concerns``, ``high`` or ``no_information`` by the review
(``judgement_by = review``), with the RoB 2 signalling questions that lead there
(``rationale``) and a one-line ``support`` quoting or paraphrasing the public record, with
its own status and source (a value field, like every number in ``data/``). Where the
record does not answer a domain's deciding signalling question the judgement is
``no_information``, never a guess. PEDro ratings, where public, are stored beside the
assessment in ``data/pedro_ratings.csv``, not used in its place.

The overall judgement is computed by :func:`rob2_overall` (Sterne et al. 2019, BMJ
366:l4898, and the RoB 2 guidance on the overall risk-of-bias judgement), and the CSV's
overall rows must agree with it, or validation fails (rule ``rob-overall``).

Public API: :func:`rob2_overall`, :func:`overall_reason`, :func:`assessment_wide`,
:func:`trial_overall`, :func:`trial_sizes`, :func:`traffic_light_table`,
:func:`summary_table`, :func:`judgements_by_trial`, :func:`pedro_scores`,
:func:`check_tables`, and the constants
:data:`DOMAINS`, :data:`DOMAIN_NAMES`, :data:`JUDGEMENTS`, :data:`JUDGEMENT_LABELS`,
:data:`RULES`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "DOMAINS",
    "DOMAIN_NAMES",
    "DOMAIN_SHORT",
    "JUDGEMENTS",
    "JUDGEMENT_LABELS",
    "MULTIPLE_CONCERNS_HIGH",
    "OVERALL",
    "PEDRO_ITEMS",
    "RULES",
    "assessment_wide",
    "check_tables",
    "judgements_by_trial",
    "overall_reason",
    "pedro_scores",
    "rob2_overall",
    "summary_table",
    "traffic_light_table",
    "trial_overall",
    "trial_sizes",
]

DOMAINS = ("D1", "D2", "D3", "D4", "D5")
OVERALL = "overall"
DOMAIN_NAMES = {
    "D1": "Bias arising from the randomisation process",
    "D2": "Bias due to deviations from intended interventions",
    "D3": "Bias due to missing outcome data",
    "D4": "Bias in measurement of the outcome",
    "D5": "Bias in selection of the reported result",
    OVERALL: "Overall risk of bias",
}
#: Short names for sentences ("high in D1 (randomisation)").
DOMAIN_SHORT = {
    "D1": "randomisation",
    "D2": "deviations from intended interventions",
    "D3": "missing outcome data",
    "D4": "measurement of the outcome",
    "D5": "selection of the reported result",
}
#: The table's vocabulary, from best to worst; ``no_information`` last.
JUDGEMENTS = ("low", "some_concerns", "high", "no_information")
JUDGEMENT_LABELS = {
    "low": "Low",
    "some_concerns": "Some concerns",
    "high": "High",
    "no_information": "No information",
}
#: The review's reading of RoB 2's "some concerns in multiple domains" rule: this many
#: domains with some concerns (counting "no information" as some concerns) make the
#: overall judgement high. RoB 2 leaves the number to the review team.
MULTIPLE_CONCERNS_HIGH = 3

#: PEDro scale items in the scale's order; items 2 to 11 are scored (total out of 10).
PEDRO_ITEMS = (
    "eligibility_criteria",
    "random_allocation",
    "concealed_allocation",
    "baseline_comparability",
    "blind_subjects",
    "blind_therapists",
    "blind_assessors",
    "adequate_follow_up",
    "intention_to_treat",
    "between_group_comparisons",
    "point_estimates_and_variability",
)
PEDRO_SCORED = PEDRO_ITEMS[1:]
PEDRO_TOTAL = "total_score"

#: Validation rules of the appraisal tables (added to :data:`analysis.data.RULES`).
RULES = {
    "rob-domains-complete": "every trial × result in risk_of_bias.csv has D1 to D5 and the overall judgement",
    "rob-overall": "the overall judgement is what the RoB 2 algorithm (rob2_overall) gives from D1 to D5",
    "support-required": "a domain judgement has a support (what the public record says) with status and source",
    "rationale-required": "a domain judgement says which RoB 2 signalling questions lead to it",
    "pedro-total": "a PEDro total agrees with the item answers (items 2 to 11, one point per 'yes')",
    "mid-order": "mid_lower <= mid_upper",
}


# --------------------------------------------------------------------------- algorithm


def _overall(domains: Mapping[str, str], no_information_as: str,
             multiple_concerns_high: int | None) -> tuple[str, str]:
    if no_information_as not in ("some_concerns", "high"):
        raise ValueError("no_information_as must be 'some_concerns' or 'high', "
                         f"got {no_information_as!r}")
    if multiple_concerns_high is not None and (
            isinstance(multiple_concerns_high, bool) or not isinstance(multiple_concerns_high, int)
            or not 2 <= multiple_concerns_high <= len(DOMAINS)):
        raise ValueError("multiple_concerns_high must be None or a whole number of domains "
                         f"from 2 to {len(DOMAINS)}, got {multiple_concerns_high!r}")
    missing = [d for d in DOMAINS if d not in domains]
    if missing:
        raise ValueError(f"RoB 2 overall judgement needs all five domains; missing {missing}")
    unknown = {d: j for d, j in domains.items() if d in DOMAINS and j not in JUDGEMENTS}
    if unknown:
        raise ValueError(f"unknown judgement(s) {unknown}; expected one of {list(JUDGEMENTS)}")
    as_rated = {d: (no_information_as if domains[d] == "no_information" else domains[d])
                for d in DOMAINS}
    high = [d for d in DOMAINS if as_rated[d] == "high"]
    concerns = [d for d in DOMAINS if as_rated[d] == "some_concerns"]
    ni = [d for d in DOMAINS if domains[d] == "no_information"]

    def named(ds):
        return ", ".join(f"{d} ({DOMAIN_SHORT[d]})" for d in ds)

    if high:
        judged = [d for d in high if domains[d] == "high"]
        words = f"high in {named(judged)}" if judged else ""
        if len(judged) < len(high):
            counted = [d for d in high if d not in judged]
            words += ("; " if words else "") + f"no information, counted as high, in {named(counted)}"
        return "high", words
    if not concerns:
        return "low", "low in all five domains"
    what = "some concerns or no information" if ni else "some concerns"
    if multiple_concerns_high is not None and len(concerns) >= multiple_concerns_high:
        return "high", (f"{what} in {len(concerns)} domains, {named(concerns)}: "
                        f"{multiple_concerns_high} or more make the result high risk")
    return "some_concerns", f"{what} in {named(concerns)}, high in none"


def rob2_overall(domains: Mapping[str, str], *, no_information_as: str = "some_concerns",
                 multiple_concerns_high: int | None = MULTIPLE_CONCERNS_HIGH) -> str:
    """Overall RoB 2 judgement of one result from its five domain judgements.

    The RoB 2 algorithm (Sterne et al. 2019, BMJ 366:l4898, the overall risk-of-bias
    judgement):

    1. **High** if any domain is at high risk of bias;
    2. **Low** if every domain is at low risk of bias;
    3. **High** if some concerns are raised in multiple domains "in a way that
       substantially lowers confidence in the result": RoB 2 leaves the number to the
       review; here ``multiple_concerns_high`` domains (default 3 of 5) or more.
       ``None`` switches this rule off (then step 4 applies);
    4. **Some concerns** otherwise (some concerns in at least one domain, high in none).

    "No information" is not a RoB 2 domain-level judgement but the state of a domain
    whose deciding signalling question the public record does not answer. It enters
    the algorithm as ``no_information_as``: ``"some_concerns"`` (default) is what the
    RoB 2 domain algorithms give when the key question is answered NI and nothing
    points to a problem (D1: 1.2 NI with 1.3 N/PN/NI; D5: 5.1 NI); ``"high"`` is the
    stricter reading that RoB 2 takes in D2 (2.7 NI) and D3 (3.4 NI), offered as a
    sensitivity analysis. So with the defaults, "no information" in three or more
    domains makes a result high risk.

    ``domains`` maps ``"D1"`` … ``"D5"`` to ``low``, ``some_concerns``, ``high`` or
    ``no_information``. Raises ValueError for a missing domain or an unknown judgement.
    """
    return _overall(domains, no_information_as, multiple_concerns_high)[0]


def overall_reason(domains: Mapping[str, str], *, no_information_as: str = "some_concerns",
                   multiple_concerns_high: int | None = MULTIPLE_CONCERNS_HIGH) -> str:
    """Which step of :func:`rob2_overall` decides, in words (e.g. 'high in D1
    (randomisation), D2 (deviations from intended interventions)')."""
    return _overall(domains, no_information_as, multiple_concerns_high)[1]


# --------------------------------------------------------------------------- tidy tables

_RESULT = ["study_id", "outcome_id", "timepoint_id"]


def assessment_wide(rob: pd.DataFrame, *, no_information_as: str = "some_concerns",
                    multiple_concerns_high: int | None = MULTIPLE_CONCERNS_HIGH) -> pd.DataFrame:
    """One row per trial × result: ``D1`` … ``D5``, the stored ``overall``, the
    ``overall_computed`` by :func:`rob2_overall` with the given options, its ``reason``,
    and ``n_high_domains`` (domains judged high as stored, before "no information" is
    mapped)."""
    rows = []
    for key, grp in rob.groupby(_RESULT, sort=False):
        j = dict(zip(grp["domain"], grp["judgement"]))
        domains = {d: j.get(d) for d in DOMAINS}
        judgement, reason = _overall(domains, no_information_as, multiple_concerns_high)
        rows.append(dict(zip(_RESULT, key), **domains, overall=j.get(OVERALL),
                         overall_computed=judgement, reason=reason,
                         n_high_domains=sum(v == "high" for v in domains.values())))
    return pd.DataFrame.from_records(
        rows, columns=_RESULT + list(DOMAINS) + ["overall", "overall_computed", "reason",
                                                 "n_high_domains"])


_WORST = {"low": 0, "some_concerns": 1, "no_information": 1, "high": 2}


def trial_overall(rob: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: its worst stored overall judgement across the results assessed
    (``overall``), and the results it covers. Used to colour a trial in figures that show
    several of its results at once (the effect-direction plot)."""
    ov = rob[rob["domain"] == OVERALL]
    rows = []
    for sid, grp in ov.groupby("study_id", sort=False):
        worst = max(grp["judgement"], key=lambda j: _WORST.get(j, 1))
        rows.append({"study_id": sid, "overall": worst, "results": len(grp)})
    return pd.DataFrame.from_records(rows, columns=["study_id", "overall", "results"])


def trial_sizes(studies: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """Sample size of each trial for weighting and arrow sizes, with the basis used.

    In order: the sum of ``n_randomised`` of the dexamethasone (treatment) and control
    arms when both are known; else the trial's ``units_randomised_n``; else its
    ``units_analysed_n`` (all arms); else ``patients_n``. Units are the trial's own
    (feet for Gudeman 1997 and Osborne & Allison 2006). Columns ``study_id, study, n,
    unit, basis``; ``n`` is NaN where nothing is known.
    """
    rows = []
    for _, s in studies.iterrows():
        sid = s["study_id"]
        a = arms[(arms["study_id"] == sid) & arms["role"].isin(["treatment", "control"])]
        unit = s["unit_of_randomisation"] if s["unit_of_randomisation"] != "not_reported" \
            else s["unit_of_analysis"]
        n, basis = np.nan, "not known"
        if len(a) >= 2 and a["n_randomised"].notna().all() and set(a["role"]) == {"treatment", "control"}:
            n, basis = float(a["n_randomised"].sum()), "n randomised to the dexamethasone and control arms"
        else:
            for field, words, field_unit in (
                    ("units_randomised_n", "units randomised (all arms)", s["unit_of_randomisation"]),
                    ("units_analysed_n", "units analysed (all arms)", s["unit_of_analysis"]),
                    ("patients_n", "patients (all arms)", "patient")):
                if pd.notna(s[field]):
                    n, basis, unit = float(s[field]), words, field_unit
                    break
        rows.append({"study_id": sid, "study": s["label"], "n": n,
                     "unit": unit if unit != "not_reported" else "participant",
                     "basis": basis})
    return pd.DataFrame.from_records(rows, columns=["study_id", "study", "n", "unit", "basis"])


def traffic_light_table(rob: pd.DataFrame, studies: pd.DataFrame,
                        timepoints: pd.DataFrame) -> pd.DataFrame:
    """Tidy table for the traffic-light plot: one row per trial × result × column.

    Columns ``row, study_id, study, outcome_id, timepoint_id, when, domain, judgement,
    label``; ``row`` numbers the trial × result rows top to bottom (trials in the order
    of ``studies``, time points in the order of ``timepoints``), ``domain`` runs D1 to
    D5 then ``overall``.
    """
    labels = studies.set_index("study_id")["label"]
    study_order = {s: i for i, s in enumerate(studies["study_id"])}
    tp = timepoints.set_index(["study_id", "timepoint_id"])
    tp_order = {k: i for i, k in enumerate(zip(timepoints["study_id"], timepoints["timepoint_id"]))}
    results = rob[_RESULT].drop_duplicates()
    results = results.assign(
        _s=results["study_id"].map(study_order),
        _t=[tp_order.get(k, len(tp_order)) for k in zip(results["study_id"], results["timepoint_id"])],
    ).sort_values(["_s", "_t", "outcome_id"]).drop(columns=["_s", "_t"]).reset_index(drop=True)
    columns = list(DOMAINS) + [OVERALL]
    judged = rob.set_index(_RESULT + ["domain"])["judgement"]
    rows = []
    for i, r in results.iterrows():
        key = (r["study_id"], r["outcome_id"], r["timepoint_id"])
        when = tp["as_reported"].get((r["study_id"], r["timepoint_id"]), r["timepoint_id"])
        for d in columns:
            j = judged.get(key + (d,))
            rows.append({"row": i, "study_id": key[0], "study": labels.get(key[0], key[0]),
                         "outcome_id": key[1], "timepoint_id": key[2], "when": when,
                         "domain": d, "judgement": j,
                         "label": JUDGEMENT_LABELS.get(j, "Not assessed")})
    return pd.DataFrame.from_records(rows, columns=[
        "row", "study_id", "study", "outcome_id", "timepoint_id", "when", "domain",
        "judgement", "label"])


def summary_table(rob: pd.DataFrame, sizes: pd.DataFrame, timepoints: pd.DataFrame, *,
                  window: str = "end_of_treatment", groups: Mapping[str, str] | None = None,
                  weighted: bool = True) -> pd.DataFrame:
    """Weighted summary of judgements per domain, robvis style: the share of
    information at each judgement.

    Uses each assessed result whose time point falls in ``window`` (one result per trial
    for the primary outcome), weighted by the trial's sample size from
    :func:`trial_sizes` (``weighted=False``: each trial counts once). ``groups`` maps
    ``study_id`` to a group label (e.g. the scope) to get one summary per group; default
    one group "All trials". Returns ``group, domain, judgement, weight, share, trials``
    with a row for every domain × judgement (share 0 where none); shares sum to 1 per
    group × domain.
    """
    win = timepoints.set_index(["study_id", "timepoint_id"])["window"]
    keep = [win.get((s, t)) == window for s, t in zip(rob["study_id"], rob["timepoint_id"])]
    sel = rob[keep]
    n = sizes.set_index("study_id")["n"]
    records = []
    group_of = (lambda s: groups.get(s, s)) if groups is not None else (lambda s: "All trials")
    sel = sel.assign(group=sel["study_id"].map(group_of),
                     weight=[float(n.get(s, np.nan)) if weighted else 1.0 for s in sel["study_id"]])
    if weighted and sel["weight"].isna().any():
        unknown = sorted(set(sel.loc[sel["weight"].isna(), "study_id"]))
        raise ValueError(f"summary_table: no sample size for {unknown}; pass weighted=False "
                         "or give their sizes")
    for group, g in sel.groupby("group", sort=False):
        for d in list(DOMAINS) + [OVERALL]:
            gd = g[g["domain"] == d]
            total = gd["weight"].sum()
            for j in JUDGEMENTS:
                part = gd[gd["judgement"] == j]
                w = float(part["weight"].sum())
                records.append({"group": group, "domain": d, "judgement": j, "weight": w,
                                "share": w / total if total > 0 else np.nan,
                                "trials": ", ".join(part["study_id"])})
    return pd.DataFrame.from_records(records, columns=["group", "domain", "judgement", "weight",
                                                       "share", "trials"])


def judgements_by_trial(rob: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Each trial's domain judgements in words, with the results they apply to.

    One row per trial × domain × (judgement, support): rows that are the same at every
    time point of a trial collapse into one, with the time points listed. Columns
    ``study, domain, domain_name, judgement, results, what_the_record_says,
    how_rob2_gets_there, support_status, support_source``; the overall rows follow each
    trial's domains, with the algorithm's reason in ``how_rob2_gets_there``.
    """
    labels = studies.set_index("study_id")["label"]
    order = {s: i for i, s in enumerate(studies["study_id"])}
    wide = assessment_wide(rob).set_index(_RESULT)
    rows = []
    for (sid, dom), grp in rob.groupby(["study_id", "domain"], sort=False):
        keys = ["judgement", "support", "rationale"] if dom != OVERALL else ["judgement"]
        for _, g in grp.fillna("").groupby(keys, sort=False):
            first = g.iloc[0]
            if dom == OVERALL:
                reasons = {wide.loc[(r["study_id"], r["outcome_id"], r["timepoint_id"]), "reason"]
                           for _, r in g.iterrows()}
                how, said, status, source = "; ".join(sorted(reasons)), "", "", ""
            else:
                how, said = first["rationale"], first["support"]
                status, source = first["support_status"], first["support_source"]
            rows.append({"_o": (order.get(sid, len(order)), (list(DOMAINS) + [OVERALL]).index(dom)),
                         "study": labels.get(sid, sid), "domain": dom, "domain_name": DOMAIN_NAMES[dom],
                         "judgement": JUDGEMENT_LABELS.get(first["judgement"], first["judgement"]),
                         "results": ", ".join(f"{o} at {t}" for o, t in zip(g["outcome_id"], g["timepoint_id"])),
                         "what_the_record_says": said, "how_rob2_gets_there": how,
                         "support_status": status, "support_source": source})
    out = pd.DataFrame.from_records(rows)
    return out.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def pedro_scores(pedro: pd.DataFrame) -> pd.DataFrame:
    """PEDro totals per trial: ``study_id, score, status, source, text`` (e.g. 'PEDro 7/10')."""
    tot = pedro[pedro["item"] == PEDRO_TOTAL]
    return pd.DataFrame({
        "study_id": tot["study_id"].to_numpy(),
        "score": tot["score"].to_numpy(float),
        "status": tot["score_status"].to_numpy(),
        "source": tot["score_source"].to_numpy(),
        "text": [f"PEDro {int(s)}/10" if pd.notna(s) else "PEDro not known" for s in tot["score"]],
    })


# --------------------------------------------------------------------------- validation


def _problem(file, line, column, rule, message):
    from analysis.data import Problem  # imported here: analysis.data calls this module

    return Problem(file, line, column, rule, message)


def _check_risk_of_bias(table, problems: list) -> None:
    results: dict[tuple[str, str, str], dict[str, tuple[int, dict]]] = {}
    for line, row in zip(table.lines, table.rows):
        key = (row["study_id"], row["outcome_id"], row["timepoint_id"])
        results.setdefault(key, {})[row["domain"]] = (line, row)
        if row["domain"] in DOMAINS:
            # a support with a status but no text, or text without a status, is reported
            # by the value-field rules (value-required, status-required)
            if row["support"] == "" and row["support_status"] in ("", "missing"):
                problems.append(_problem(
                    table.file, line, "support", "support-required",
                    f"{row['domain']} is judged {row['judgement']!r} without a support: say what "
                    "the public record says (or that it is silent), with support_status and "
                    "support_source"))
            if row["rationale"] == "":
                problems.append(_problem(
                    table.file, line, "rationale", "rationale-required",
                    f"{row['domain']}: say which RoB 2 signalling questions lead to {row['judgement']!r}"))
        elif row["domain"] == OVERALL:
            for col in ("support", "support_status", "support_source", "support_note"):
                if row[col] != "":
                    problems.append(_problem(
                        table.file, line, col, "applicability",
                        "the overall judgement is computed from D1 to D5: leave support, "
                        "support_status, support_source and support_note empty"))
                    break
    for key, found in results.items():
        first_line = min(line for line, _ in found.values())
        absent = [d for d in list(DOMAINS) + [OVERALL] if d not in found]
        if absent:
            problems.append(_problem(
                table.file, first_line, "domain", "rob-domains-complete",
                f"{' / '.join(key)}: no row for {', '.join(absent)}; every trial × result needs "
                "D1 to D5 and overall"))
            continue
        domains = {d: found[d][1]["judgement"] for d in DOMAINS}
        if any(j not in JUDGEMENTS for j in domains.values()):
            continue  # reported by the enum check
        expected, reason = _overall(domains, "some_concerns", MULTIPLE_CONCERNS_HIGH)
        line, row = found[OVERALL]
        if row["judgement"] in JUDGEMENTS and row["judgement"] != expected:
            problems.append(_problem(
                table.file, line, "judgement", "rob-overall",
                f"{' / '.join(key)}: overall is {row['judgement']!r} but the RoB 2 algorithm gives "
                f"{expected!r} ({reason})"))


def _check_pedro(table, problems: list) -> None:
    by_study: dict[str, dict[str, tuple[int, dict]]] = {}
    for line, row in zip(table.lines, table.rows):
        by_study.setdefault(row["study_id"], {})[row["item"]] = (line, row)
        total = row["item"] == PEDRO_TOTAL
        present, absent = ("score", "answer") if total else ("answer", "score")
        if row[f"{present}_status"] == "":
            problems.append(_problem(
                table.file, line, f"{present}_status", "applicability",
                f"{row['item']} needs {present}_status (use missing if the record gives no {present})"))
        filled = next((c for c in (absent, f"{absent}_status", f"{absent}_source", f"{absent}_note")
                       if row[c] != ""), None)
        if filled is not None:
            problems.append(_problem(
                table.file, line, filled, "applicability",
                f"{absent} does not apply to {row['item']}: leave {absent} and its status, source "
                "and note empty"))
    for sid, items in by_study.items():
        if PEDRO_TOTAL not in items:
            continue
        line, row = items[PEDRO_TOTAL]
        try:
            score = float(row["score"]) if row["score"] != "" else None
        except ValueError:
            continue  # reported by the type check
        if score is None:
            continue
        answers = [items[i][1]["answer"] if i in items else "" for i in PEDRO_SCORED]
        yes = sum(a == "yes" for a in answers)
        unknown = sum(a not in ("yes", "no") for a in answers)
        if not yes <= score <= yes + unknown:
            problems.append(_problem(
                table.file, line, "score", "pedro-total",
                f"{sid}: total {row['score']} does not fit the item answers ({yes} 'yes', "
                f"{unknown} not known among items 2 to 11: the total must be from {yes} to "
                f"{yes + unknown})"))


def _check_mid(table, problems: list) -> None:
    for line, row in zip(table.lines, table.rows):
        try:
            lo = float(row["mid_lower"]) if row["mid_lower"] != "" else None
            hi = float(row["mid_upper"]) if row["mid_upper"] != "" else None
        except ValueError:
            continue  # reported by the type check
        if lo is not None and hi is not None and lo > hi:
            problems.append(_problem(table.file, line, "mid_lower", "mid-order",
                                     f"mid_lower {row['mid_lower']} is above mid_upper {row['mid_upper']}"))


_CHECKS = {
    "risk_of_bias": _check_risk_of_bias,
    "pedro_ratings": _check_pedro,
    "minimal_important_differences": _check_mid,
}


def check_tables(tables: Mapping[str, object], problems: list) -> None:
    """Cross-row rules of the appraisal tables (see :data:`RULES`), for the loader.

    ``tables`` maps resource names to the loader's strictly read tables (objects with
    ``file``, ``rows`` (dicts of cell strings) and ``lines``); only well-formed tables
    are passed. Problems are appended as :class:`analysis.data.Problem`, located by
    file, line and column.
    """
    for name, check in _CHECKS.items():
        if name in tables:
            check(tables[name], problems)
