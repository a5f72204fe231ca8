"""GRADE certainty of evidence and the summary-of-findings table; effect direction (SWiM).

**GRADE.** Evidence from randomised trials starts at *high* certainty and is rated down
one level (serious) or two (very serious) in each of five domains (GRADE Handbook,
Schünemann et al. 2013, section 5; GRADE guidelines 4 to 8, J Clin Epidemiol 2011;64:
407-415, 1277-1282, 1283-1293, 1294-1302, 1303-1310). The floor is *very low*. Each
domain is a small named function of plain numbers or tables, returning a
:class:`Rating` (change 0, −1 or −2, and the footnote text, written from the data):

* :func:`rate_risk_of_bias`: the RoB 2 overall judgements of the trials that carry the
  estimate, combined by their meta-analysis weights (GRADE guideline 4: judge the body of
  evidence by where most of the information comes from). −1 when more than half of the
  weight comes from trials with some concerns or at high risk; −2 when more than half
  comes from trials at high risk in at least ``very_serious_high_domains`` (default 2)
  RoB 2 domains, i.e. more than one crucial limitation.
* :func:`rate_inconsistency`: not assessable with one trial (said, no downgrade);
  otherwise −1 when I² ≥ 50% or the Q test has p < 0.10, −2 when I² ≥ 75% and
  p < 0.10 (the overlapping I² bands of the Cochrane Handbook, section 10.10.2).
* :func:`rate_indirectness`: counts the serious sources of indirectness that apply to
  more than half of the weight: a population other than the review's question (the
  elbow trial for running injuries), an intervention other than dexamethasone. One
  source −1, two or more −2. Feet randomised instead of patients is recorded but not
  rated here: it is a unit-of-analysis problem that makes the CI too narrow, and is
  named in the imprecision footnote.
* :func:`rate_imprecision`: two criteria (GRADE guideline 6). (a) The 95% CI: it
  crosses the minimal important difference (either sign) where one is sourced, else the
  line of no effect. (b) The optimal information size (OIS) from a power calculation
  (:func:`optimal_information_size`), against the participants in the estimate. −1
  when one fails; −2 when both fail, or when the CI includes both an appreciable benefit
  and an appreciable harm (beyond ± the MID, or ± ``appreciable_smd`` without one).
* :func:`rate_publication_bias`: trials known to have measured the outcome at that time
  whose results are not public count here (known non-reporting). −1 when any such trial
  exists; −2 when they are more than half of the trials and hold more of the known
  participants than the trials with results. With no missing trial: no downgrade, and
  the footnote says that fewer than 10 trials do not allow a funnel-plot assessment.

:func:`summary_of_findings` puts them together per scope × time window from plain
tables (the pooled results of :func:`analysis.timecourse.pooled_by_window`, the effects
of :func:`analysis.trial_effects.continuous_effects`, the risk-of-bias table and the
study table), and :func:`write_sof_csv` / :func:`write_sof_markdown` write it.

**Effect direction** (synthesis without meta-analysis; Campbell et al. 2020, BMJ
368:l6890; Boon & Thomson 2021, Res Synth Methods 12:29-33): :func:`effect_direction_cells`
turns the effect-direction table of :func:`analysis.direction.effect_direction_table`
into one cell per trial × time window × outcome domain, and :func:`sign_tests` gives the
sign test per scope × window × domain where it can say anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.risk_of_bias import (
    JUDGEMENT_LABELS,
    MULTIPLE_CONCERNS_HIGH,
    assessment_wide,
)

__all__ = [
    "CERTAINTY_LEVELS",
    "CERTAINTY_SYMBOLS",
    "GRADE_DOMAINS",
    "OUTCOME_DOMAINS",
    "Rating",
    "certainty_level",
    "certainty_sentences",
    "effect_direction_cells",
    "optimal_information_size",
    "outcome_domain",
    "rate_imprecision",
    "rate_inconsistency",
    "rate_indirectness",
    "rate_publication_bias",
    "rate_risk_of_bias",
    "random_effects_weights",
    "sign_tests",
    "sof_footnotes",
    "sof_markdown",
    "summary_of_findings",
    "summary_of_findings_for",
    "write_sof_csv",
    "write_sof_markdown",
]

CERTAINTY_LEVELS = {4: "high", 3: "moderate", 2: "low", 1: "very low"}
CERTAINTY_SYMBOLS = {4: "\u2295\u2295\u2295\u2295", 3: "\u2295\u2295\u2295\u25ef",
                     2: "\u2295\u2295\u25ef\u25ef", 1: "\u2295\u25ef\u25ef\u25ef"}
GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_TITLES = {
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication and reporting bias",
}
SERIOUSNESS = {0: "not serious", -1: "serious", -2: "very serious"}


@dataclass(frozen=True)
class Rating:
    """One GRADE domain's verdict: ``change`` 0, −1 or −2 and the ``reason`` in words."""

    domain: str
    change: int
    reason: str

    def __post_init__(self):
        if self.domain not in GRADE_DOMAINS:
            raise ValueError(f"unknown GRADE domain {self.domain!r}")
        if self.change not in (0, -1, -2):
            raise ValueError(f"a GRADE domain changes certainty by 0, -1 or -2, got {self.change}")

    @property
    def seriousness(self) -> str:
        return SERIOUSNESS[self.change]


def certainty_level(changes: Sequence[int], *, start: int = 4) -> int:
    """Certainty after rating down: ``start`` (4 = high, for randomised trials; 2 = low
    for observational studies) plus the changes, floored at 1 (very low) and capped at
    4. Returns the level; :data:`CERTAINTY_LEVELS` names it."""
    if start not in CERTAINTY_LEVELS:
        raise ValueError(f"start must be one of {sorted(CERTAINTY_LEVELS)}, got {start}")
    return int(min(4, max(1, start + sum(changes))))


# --------------------------------------------------------------------------- the rules


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def rate_risk_of_bias(trials: pd.DataFrame, *, very_serious_high_domains: int = 2) -> Rating:
    """Risk of bias of the body of evidence from the trials that carry the estimate.

    ``trials``: one row per contributing trial with ``study``, ``weight`` (its share of
    the meta-analysis weight, summing to 1), ``overall`` (RoB 2 overall: low,
    some_concerns, high; ``no_information`` for a result not assessed),
    ``n_high_domains`` and ``reason`` (:func:`analysis.risk_of_bias.overall_reason`).

    * −2 (very serious): trials at high risk in at least ``very_serious_high_domains``
      domains carry more than half of the weight;
    * −1 (serious): trials with some concerns or at high risk (or not assessed) carry
      more than half of the weight;
    * 0 otherwise (most of the information from trials at low risk of bias).
    """
    w = trials["weight"].to_numpy(float)
    concerns = trials["overall"].isin(["some_concerns", "high", "no_information"]).to_numpy()
    very = ((trials["overall"] == "high") & (trials["n_high_domains"] >= very_serious_high_domains)).to_numpy()
    parts = []
    for _, t in trials.iterrows():
        what = ("not assessed" if t["overall"] == "no_information"
                else f"{JUDGEMENT_LABELS[t['overall']].lower()} risk of bias overall")
        parts.append(f"{t['study']} ({_pct(t['weight'])} of the weight): {what} ({t['reason']})")
    detail = "; ".join(parts)
    if w[very].sum() > 0.5:
        return Rating("risk_of_bias", -2,
                      f"Very serious: more than half of the weight comes from trials at high risk of "
                      f"bias in {very_serious_high_domains} or more RoB 2 domains. {detail}.")
    if w[concerns].sum() > 0.5:
        return Rating("risk_of_bias", -1,
                      f"Serious: more than half of the weight comes from trials with some concerns or "
                      f"at high risk of bias. {detail}.")
    return Rating("risk_of_bias", 0, f"Not serious: most of the weight comes from trials at low risk "
                                     f"of bias. {detail}.")


def rate_inconsistency(k: int, i2: float, q_pval: float, *, substantial_i2: float = 50.0,
                       considerable_i2: float = 75.0, q_alpha: float = 0.10) -> Rating:
    """Inconsistency from the heterogeneity statistics of the pooled estimate.

    ``k`` trials in the estimate, ``i2`` in percent, ``q_pval`` of Cochran's Q. With
    fewer than two trials inconsistency cannot be assessed: no downgrade, and the reason
    says so. Otherwise −2 when I² ≥ ``considerable_i2`` and p < ``q_alpha``; −1 when
    I² ≥ ``substantial_i2`` or p < ``q_alpha``; else 0.
    """
    if k < 2:
        return Rating("inconsistency", 0,
                      "Not assessable: one trial carries the estimate, so there is no between-trial "
                      "variation to judge; not rated down.")
    stat = f"I\u00b2 = {i2:.0f}%, Q test p = {q_pval:.2g}, {k} trials"
    if i2 >= considerable_i2 and q_pval < q_alpha:
        return Rating("inconsistency", -2, f"Very serious: considerable heterogeneity ({stat}).")
    if i2 >= substantial_i2 or q_pval < q_alpha:
        return Rating("inconsistency", -1, f"Serious: substantial heterogeneity ({stat}).")
    return Rating("inconsistency", 0, f"Not serious: {stat}.")


def rate_indirectness(trials: pd.DataFrame, *, question_scope: str = "running_injury",
                      scope_labels: Mapping[str, str] | None = None) -> Rating:
    """Indirectness of the trials that carry the estimate, against the review question.

    ``trials``: ``study, weight, scope, condition, drug, unit_of_randomisation``. Serious
    sources, each counted when it applies to more than half of the weight:

    * population: ``scope`` is not ``question_scope`` (e.g. elbow epicondylitis as
      evidence about running injuries);
    * intervention: ``drug`` does not name dexamethasone.

    One source −1, two or more −2. Randomising feet (``unit_of_randomisation`` foot) is
    named but not rated: it does not change the question answered, it makes the CI too
    narrow (see :func:`rate_imprecision`).
    """
    labels = scope_labels or {}
    w = trials["weight"].to_numpy(float)
    sources, notes = [], []
    other = (trials["scope"] != question_scope).to_numpy()
    if w[other].sum() > 0.5:
        who = trials[other]
        sources.append("population: " + "; ".join(
            f"{t['study']} treated {t['condition']}, outside the review question "
            f"({labels.get(question_scope, question_scope).lower()})"
            for _, t in who.iterrows()))
    not_dex = (~trials["drug"].astype(str).str.contains("dexamethasone", case=False)).to_numpy()
    if w[not_dex].sum() > 0.5:
        sources.append("intervention: " + "; ".join(
            f"{t['study']} gave {t['drug']}, not dexamethasone" for _, t in trials[not_dex].iterrows()))
    feet = trials[trials["unit_of_randomisation"] == "foot"]
    if len(feet):
        notes.append(f"{', '.join(feet['study'])} randomised feet, not patients: a unit-of-analysis "
                     "problem (the CI is too narrow), not indirectness; not rated down here")
    tail = (" Considered, not rated down: " + "; ".join(notes) + ".") if notes else ""
    if len(sources) >= 2:
        return Rating("indirectness", -2, "Very serious: " + " | ".join(sources) + "." + tail)
    if len(sources) == 1:
        return Rating("indirectness", -1, "Serious: " + sources[0] + "." + tail)
    return Rating("indirectness", 0, "Not serious: the trials answer the review question directly." + tail)


def optimal_information_size(smd: float = 0.5, *, alpha: float = 0.05, power: float = 0.80) -> int:
    """Optimal information size: total participants (two equal arms) that a single trial
    would need to detect a standardised difference ``smd`` with a two-sided test at
    ``alpha`` and the given ``power`` (GRADE guideline 6, section on the OIS).

    The two-sample t-test power calculation of statsmodels' ``TTestIndPower``, whose
    power counts both rejection tails (R's ``power.t.test(strict = TRUE)``; R's default
    counts the upper tail only, a difference far below one participant), n per arm
    rounded up, times two. For SMD 0.5, α 0.05 and 80% power: 63.77 per arm, so 128.
    """
    from statsmodels.stats.power import TTestIndPower

    if not smd > 0:
        raise ValueError(f"smd must be > 0, got {smd}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha}, {power}")
    per_arm = TTestIndPower().solve_power(effect_size=smd, alpha=alpha, power=power, ratio=1.0,
                                          alternative="two-sided")
    return 2 * int(math.ceil(per_arm - 1e-9))


def rate_imprecision(smd_ci: tuple[float, float], participants: float, ois: int, *,
                     md_ci: tuple[float, float] | None = None, mid: float | None = None,
                     units: str = "", appreciable_smd: float = 0.5, ois_smd: float = 0.5,
                     participant_words: str = "participants", feet_note: str = "") -> Rating:
    """Imprecision from the 95% CI and the optimal information size.

    Threshold: where a minimal important difference ``mid`` is sourced (on the scale of
    ``md_ci``), the CI is a problem when it crosses +mid or −mid (it includes effects on
    both sides of an important one); without a MID, when it crosses zero (the SMD CI).
    The OIS (:func:`optimal_information_size`) is a problem when ``participants`` <
    ``ois``. −1 when one of the two is a problem; −2 when both are, or when the CI
    includes an appreciable benefit and an appreciable harm (beyond ±mid, or beyond
    ±``appreciable_smd`` on the SMD scale without a MID).
    """
    lo, hi = smd_ci
    if mid is not None:
        if md_ci is None:
            raise ValueError("rate_imprecision: a MID needs md_ci, the CI on the MID's scale")
        mlo, mhi = md_ci
        crosses = (mlo < mid < mhi) or (mlo < -mid < mhi)
        both_ways = mlo < -mid and mhi > mid
        ci_text = (f"the 95% CI of the mean difference ({mlo:.1f} to {mhi:.1f} {units}) "
                   + ("crosses" if crosses else "does not cross")
                   + f" the minimal important difference of {mid:g} {units} (either way)")
    else:
        crosses = lo < 0 < hi
        both_ways = lo < -appreciable_smd and hi > appreciable_smd
        ci_text = (f"the 95% CI of the SMD ({lo:.2f} to {hi:.2f}) "
                   + ("includes" if crosses else "excludes") + " no effect")
    small = participants < ois
    size_text = (f"{participants:g} {participant_words} "
                 + ("below" if small else "reach")
                 + f" the optimal information size of {ois} (two arms of {ois // 2} to detect an "
                 f"SMD of {ois_smd:g}, two-sided \u03b1 0.05, power 80%)")
    detail = f"{ci_text[0].upper()}{ci_text[1:]}; {size_text}." + (f" {feet_note}." if feet_note else "")
    if both_ways:
        return Rating("imprecision", -2, "Very serious: the CI includes an appreciable benefit and an "
                                         "appreciable harm. " + detail)
    if crosses and small:
        return Rating("imprecision", -2, "Very serious: the CI and the information size both fail. " + detail)
    if crosses or small:
        return Rating("imprecision", -1, "Serious: " + detail)
    return Rating("imprecision", 0, "Not serious: " + detail)


def rate_publication_bias(k_total: int, k_with_results: int, n_with_results: float,
                          n_without_results_known: float, without_results: Sequence[str] = ()) -> Rating:
    """Publication and reporting bias from trials whose results are not public.

    ``k_total`` trials are known to have measured the outcome at this time,
    ``k_with_results`` of them have public results (``n_with_results`` participants);
    the others (``without_results``, their known participants summed in
    ``n_without_results_known``) are known non-reporting. −2 when the trials without
    results are more than half of the trials and hold more of the known participants
    than those with results; −1 when there is any; else 0 (with fewer than 10 trials a
    funnel plot cannot be assessed, which the reason says).
    """
    missing = k_total - k_with_results
    names = ", ".join(without_results)
    if missing <= 0:
        return Rating("publication_bias", 0,
                      f"Not serious: every trial known to have measured the outcome at this time "
                      f"({k_total}) has public results; with fewer than 10 trials a funnel plot "
                      "cannot be assessed.")
    known = (f"{n_without_results_known:g} known participants in them against "
             f"{n_with_results:g} in the trials with results")
    if missing > k_total / 2 and n_without_results_known > n_with_results:
        return Rating("publication_bias", -2,
                      f"Very serious: {missing} of {k_total} trials measured the outcome at this time "
                      f"but their results are not public ({names}); {known}.")
    return Rating("publication_bias", -1,
                  f"Serious: {missing} of {k_total} trials measured the outcome at this time but "
                  f"their results are not public ({names}); {known}.")


# --------------------------------------------------------------------------- summary of findings


def random_effects_weights(vi: Sequence[float], tau2: float) -> np.ndarray:
    """Normalised inverse-variance weights w_i = 1 / (v_i + τ²), as metafor's ``rma``
    (τ² = 0: common-effect weights). Sum to 1."""
    vi = np.asarray(vi, dtype=float)
    tau2 = 0.0 if not np.isfinite(tau2) else float(tau2)
    w = 1.0 / (vi + tau2)
    return w / w.sum()


def _is_randomised(design) -> bool:
    text = str(design).lower()
    return "randomised" in text or "randomized" in text


def _participants_phrase(n: float, unit: str) -> str:
    word = {"foot": "feet", "patient": "patients"}.get(unit, "participants")
    return f"{n:g} {word}"


SOF_COLUMNS = [
    "scope", "population", "window", "time", "outcome", "k_total", "k_with_results",
    "trials_with_results", "trials_without_results", "participants_with_results",
    "participants_unit", "participants", "smd", "smd_ci_lb", "smd_ci_ub", "md", "md_ci_lb",
    "md_ci_ub", "md_units", "effect", "start", "risk_of_bias", "inconsistency", "indirectness",
    "imprecision", "publication_bias", "certainty_level", "certainty", "certainty_symbols",
    "certainty_own_population", "risk_of_bias_reason", "inconsistency_reason", "indirectness_reason", "imprecision_reason",
    "publication_bias_reason", "ois",
]


def summary_of_findings(pooled: pd.DataFrame, effects: pd.DataFrame, risk_of_bias: pd.DataFrame,
                        studies: pd.DataFrame, *, pooled_md: pd.DataFrame | None = None,
                        outcome_definitions: pd.DataFrame | None = None,
                        minimal_important_differences: pd.DataFrame | None = None,
                        question_scope: str = "running_injury", ois_smd: float = 0.5,
                        alpha: float = 0.05, power: float = 0.80, appreciable_smd: float = 0.5,
                        multiple_concerns_high: int | None = MULTIPLE_CONCERNS_HIGH,
                        no_information_as: str = "some_concerns",
                        very_serious_high_domains: int = 2) -> pd.DataFrame:
    """GRADE summary of findings, one row per scope × time window of ``pooled`` (running
    injuries first, then the elbow comparison; end of treatment before one month).

    Inputs are plain tables: ``pooled`` from :func:`analysis.timecourse.pooled_by_window`
    (SMD; columns ``scope, window, k_total, k_estimable, estimate, ci_lb, ci_ub, tau2,
    i2, q_pval``), ``effects`` from :func:`analysis.trial_effects.continuous_effects`,
    the risk-of-bias table (``data/risk_of_bias.csv``) and the study table. Optional:
    ``pooled_md`` (the same pooling of the MD; shown when every trial with results uses
    the same outcome), ``outcome_definitions`` (units of the MD),
    ``minimal_important_differences`` (used for imprecision when every trial with
    results has the same one). The RoB 2 options are passed to
    :func:`analysis.risk_of_bias.assessment_wide`.

    Every count, participant number and footnote is computed from these tables. Columns
    :data:`SOF_COLUMNS`; the five domain columns hold 0, −1 or −2, the ``*_reason``
    columns the footnote text. ``certainty_own_population`` is the certainty for the
    trials' own population (indirectness judged against the row's scope instead of
    ``question_scope``): for the elbow trial, the certainty about elbow epicondylitis.
    A row without any trial with results is kept, with certainty "not rated".
    """
    from analysis.timecourse import SCOPE_LABELS, WINDOW_LABELS, primary_effects

    smd = primary_effects(effects, "SMD")
    study = studies.set_index("study_id")
    wide = assessment_wide(risk_of_bias, no_information_as=no_information_as,
                           multiple_concerns_high=multiple_concerns_high)
    rob = wide.set_index(["study_id", "outcome_id", "timepoint_id"])
    units = (outcome_definitions.set_index(["study_id", "outcome_id"])["units"]
             if outcome_definitions is not None else pd.Series(dtype=object))
    mids = (minimal_important_differences.set_index(["study_id", "outcome_id"])
            if minimal_important_differences is not None else None)
    ois = optimal_information_size(ois_smd, alpha=alpha, power=power)
    records = []
    for _, p in pooled.iterrows():
        members = smd[(smd["scope"] == p["scope"]) & (smd["window"] == p["window"])]
        ok = members[members["estimable"].astype(bool)]
        not_ok = members[~members["estimable"].astype(bool)]
        if len(ok) != int(p["k_estimable"]) or len(members) != int(p["k_total"]):
            raise ValueError(
                f"summary_of_findings: the pooled table says {int(p['k_estimable'])} of "
                f"{int(p['k_total'])} trials for {p['scope']} / {p['window']}, the effects table "
                f"has {len(ok)} of {len(members)}; build both from the same data")
        rec = {"scope": p["scope"], "population": SCOPE_LABELS.get(p["scope"], p["scope"]),
               "window": p["window"], "time": WINDOW_LABELS.get(p["window"], p["window"]),
               "outcome": "; ".join(f"{r['outcome']} ({r['study']})" for _, r in members.iterrows()),
               "k_total": len(members), "k_with_results": len(ok),
               "trials_with_results": ", ".join(ok["study"]),
               "trials_without_results": ", ".join(not_ok["study"]), "ois": ois}
        # participants
        ok_units = {study.loc[s, "unit_of_analysis"] for s in ok["study_id"]}
        unit = ok_units.pop() if len(ok_units) == 1 else "participant"
        n_ok = float((ok["n_t"] + ok["n_c"]).sum())
        phrases = []
        n_missing_known = 0.0
        for _, r in not_ok.iterrows():
            s = study.loc[r["study_id"]]
            if np.isfinite(r["n_t"]) and np.isfinite(r["n_c"]):
                n = float(r["n_t"] + r["n_c"])
                n_missing_known += n
                unit_r = (s["unit_of_randomisation"] if s["unit_of_randomisation"] != "not_reported"
                          else s["unit_of_analysis"])
                phrases.append(f"{r['study']}, {_participants_phrase(n, unit_r)}")
            else:
                total = s["units_analysed_n"] if pd.notna(s["units_analysed_n"]) else s["patients_n"]
                what = (_participants_phrase(float(total), s["unit_of_analysis"]) + " over all arms"
                        if pd.notna(total) else "size not known")
                phrases.append(f"{r['study']}, size for this comparison not known ({what})")
        rec.update(participants_with_results=n_ok if len(ok) else np.nan, participants_unit=unit)
        text = f"{_participants_phrase(n_ok, unit)} with results" if len(ok) else "none with results"
        if phrases:
            text += "; without public results: " + "; ".join(phrases)
        rec["participants"] = text
        if not len(ok):
            rec.update(smd=np.nan, smd_ci_lb=np.nan, smd_ci_ub=np.nan, md=np.nan, md_ci_lb=np.nan,
                       md_ci_ub=np.nan, md_units="", effect="no estimate: no trial with public numbers",
                       start="", certainty_level=np.nan, certainty="not rated", certainty_symbols="",
                       certainty_own_population="not rated",
                       **{d: np.nan for d in GRADE_DOMAINS},
                       **{f"{d}_reason": "" for d in GRADE_DOMAINS})
            records.append(rec)
            continue
        rec.update(smd=p["estimate"], smd_ci_lb=p["ci_lb"], smd_ci_ub=p["ci_ub"])
        # mean difference, where every trial with results uses the same outcome
        md_row, md_units = None, ""
        same_outcome = ok["outcome"].nunique() == 1
        if pooled_md is not None and same_outcome:
            hit = pooled_md[(pooled_md["scope"] == p["scope"]) & (pooled_md["window"] == p["window"])]
            if len(hit) and np.isfinite(hit["estimate"].iloc[0]):
                md_row = hit.iloc[0]
                md_units = str(units.get((ok["study_id"].iloc[0], ok["outcome_id"].iloc[0]), "") or "")
        rec.update(md=md_row["estimate"] if md_row is not None else np.nan,
                   md_ci_lb=md_row["ci_lb"] if md_row is not None else np.nan,
                   md_ci_ub=md_row["ci_ub"] if md_row is not None else np.nan, md_units=md_units)
        effect = f"SMD {p['estimate']:.2f} ({p['ci_lb']:.2f} to {p['ci_ub']:.2f})"
        if md_row is not None:
            effect += (f"; MD {md_row['estimate']:.1f} {md_units} ({md_row['ci_lb']:.1f} to "
                       f"{md_row['ci_ub']:.1f}), {ok['outcome'].iloc[0]}")
        rec["effect"] = effect + "; positive favours dexamethasone"
        # weights and the trials that carry the estimate
        weights = random_effects_weights(ok["vi"].to_numpy(float), p.get("tau2", 0.0))
        trials = []
        for (_, r), wgt in zip(ok.iterrows(), weights):
            s = study.loc[r["study_id"]]
            key = (r["study_id"], r["outcome_id"], r["timepoint_id"])
            if key in rob.index:
                a = rob.loc[key]
                overall, n_high, reason = a["overall_computed"], int(a["n_high_domains"]), a["reason"]
            else:
                overall, n_high, reason = "no_information", 0, "no RoB 2 assessment in risk_of_bias.csv"
            trials.append({"study": r["study"], "weight": wgt, "overall": overall,
                           "n_high_domains": n_high, "reason": reason, "scope": r["scope"],
                           "condition": s["condition"], "drug": s["drug"],
                           "unit_of_randomisation": s["unit_of_randomisation"]})
        trials = pd.DataFrame.from_records(trials)
        # MID: the same sourced value for every trial with results
        mid = None
        if mids is not None and md_row is not None:
            vals = [mids["mid_lower"].get((s, o)) for s, o in zip(ok["study_id"], ok["outcome_id"])]
            if all(v is not None and np.isfinite(v) for v in vals) and len(set(vals)) == 1:
                mid = float(vals[0])
        feet = trials[trials["unit_of_randomisation"] == "foot"]
        feet_note = (f"The CI treats the feet of {', '.join(feet['study'])} as independent, so it is "
                     "too narrow if patients gave both feet" if len(feet) else "")
        ratings = [
            rate_risk_of_bias(trials, very_serious_high_domains=very_serious_high_domains),
            rate_inconsistency(len(ok), float(p.get("i2", np.nan)), float(p.get("q_pval", np.nan))),
            rate_indirectness(trials, question_scope=question_scope, scope_labels=SCOPE_LABELS),
            rate_imprecision((p["ci_lb"], p["ci_ub"]), n_ok, ois,
                             md_ci=(md_row["ci_lb"], md_row["ci_ub"]) if md_row is not None else None,
                             mid=mid, units=md_units, appreciable_smd=appreciable_smd, ois_smd=ois_smd,
                             participant_words=_participants_phrase(n_ok, unit).split(" ", 1)[1],
                             feet_note=feet_note),
            rate_publication_bias(len(members), len(ok), n_ok, n_missing_known, list(not_ok["study"])),
        ]
        start = 4 if all(_is_randomised(study.loc[s, "design"]) for s in ok["study_id"]) else 2
        level = certainty_level([r.change for r in ratings], start=start)
        # the same evidence judged for the trials' own population (e.g. elbow epicondylitis)
        own = rate_indirectness(trials, question_scope=p["scope"], scope_labels=SCOPE_LABELS)
        own_level = certainty_level([r.change for r in ratings if r.domain != "indirectness"]
                                    + [own.change], start=start)
        rec.update(start=CERTAINTY_LEVELS[start], certainty_level=level,
                   certainty=CERTAINTY_LEVELS[level], certainty_symbols=CERTAINTY_SYMBOLS[level],
                   certainty_own_population=CERTAINTY_LEVELS[own_level])
        for r in ratings:
            rec[r.domain] = r.change
            rec[f"{r.domain}_reason"] = r.reason
        records.append(rec)
    return _ordered(pd.DataFrame.from_records(records, columns=SOF_COLUMNS))


def summary_of_findings_for(tables, *, options=None, **sof_options) -> pd.DataFrame:
    """:func:`summary_of_findings` for the review's tables
    (:class:`analysis.trial_effects.ReviewTables`): the SMD and MD pooled per scope ×
    window under ``options`` (:class:`analysis.meta.ModelOptions`, default REML with a
    Wald-type CI), the risk-of-bias, study, outcome and MID tables. ``sof_options`` go to
    :func:`summary_of_findings`."""
    from analysis.meta import ModelOptions
    from analysis.timecourse import pooled_by_window

    options = ModelOptions() if options is None else options
    eff = tables.effects
    return summary_of_findings(
        pooled_by_window(eff, measure="SMD", options=options), eff, tables.risk_of_bias,
        tables.studies, pooled_md=pooled_by_window(eff, measure="MD", options=options),
        outcome_definitions=tables.outcomes,
        minimal_important_differences=tables.minimal_important_differences, **sof_options)


def certainty_sentences(sof: pd.DataFrame) -> list[str]:
    """One plain-language sentence per row of the summary of findings, written from it:
    the certainty and, domain by domain, by how much and why it was rated down."""
    words = {-1: "one level", -2: "two levels"}
    out = []
    for _, r in sof.iterrows():
        where = f"{r['population']}, {str(r['time']).lower()}"
        if r["certainty"] == "not rated":
            out.append(f"{where}: not rated, because no trial has public numbers for it.")
            continue
        down = [f"{words[int(r[d])]} for {DOMAIN_TITLES[d].lower()}" for d in GRADE_DOMAINS if r[d] < 0]
        kept = [DOMAIN_TITLES[d].lower() for d in GRADE_DOMAINS if r[d] == 0]
        text = (f"{where}: {r['certainty']} certainty ({r['certainty_symbols']}), starting from "
                f"{r['start']} for randomised trials")
        if down:
            text += "; rated down " + ", ".join(down)
        if kept:
            text += "; not rated down for " + ", ".join(kept)
        if r.get("certainty_own_population") not in (None, "", r["certainty"], "not rated"):
            text += (f". For the trials' own population the certainty would be "
                     f"{r['certainty_own_population']}")
        out.append(text + ".")
    return out


# --------------------------------------------------------------------------- writers

_ORDER = {"running_injury": 0, "other_tendinopathy": 1, "unspecified_tendinopathy": 2}
_WINDOW_ORDER = {"end_of_treatment": 0, "about_one_month": 1, "later": 2}


def _ordered(sof: pd.DataFrame) -> pd.DataFrame:
    key = sof["scope"].map(_ORDER).fillna(9) * 10 + sof["window"].map(_WINDOW_ORDER).fillna(9)
    return sof.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)


def sof_footnotes(sof: pd.DataFrame) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    """Footnote letters for the rows of ``sof`` (in the order given).

    Every domain that rates down gets a footnote, and so does inconsistency when it
    could not be assessed. Identical texts share one letter. Returns, per row, a dict
    domain -> letter(s), and the list of (letter, text).
    """
    letters: dict[str, str] = {}
    notes: list[tuple[str, str]] = []
    marks = []
    for _, r in sof.iterrows():
        row_marks = {}
        for d in GRADE_DOMAINS:
            text = r.get(f"{d}_reason") or ""
            change = r.get(d)
            if not text or (pd.isna(change)) or (change == 0 and not text.startswith("Not assessable")):
                continue
            full = f"{DOMAIN_TITLES[d]}: {text}"
            if full not in letters:
                letters[full] = _letter(len(letters))
                notes.append((letters[full], full))
            row_marks[d] = letters[full]
        marks.append(row_marks)
    return marks, notes


def _letter(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        out = chr(97 + rem) + out
    return out


def _change_text(change) -> str:
    if pd.isna(change):
        return ""
    return {0: "no", -1: "\u22121", -2: "\u22122"}[int(change)]


def sof_markdown(sof: pd.DataFrame, *, title: str = "Summary of findings: dexamethasone "
                 "iontophoresis versus placebo iontophoresis") -> str:
    """The summary of findings as a Markdown table with lettered footnotes."""
    sof = _ordered(sof)
    marks, notes = sof_footnotes(sof)
    lines = [f"## {title}", "",
             "| Population | Time | Trials (participants) | Effect (95% CI) | "
             + " | ".join(DOMAIN_TITLES[d] for d in GRADE_DOMAINS) + " | Certainty |",
             "|" + "---|" * (5 + len(GRADE_DOMAINS))]
    for (_, r), m in zip(sof.iterrows(), marks):
        cells = [r["population"], r["time"],
                 f"{r['k_total']} trial{'s' if r['k_total'] != 1 else ''}, {r['k_with_results']} with results; {r['participants']}",
                 r["effect"]]
        for d in GRADE_DOMAINS:
            mark = m.get(d)
            cells.append(_change_text(r[d]) + (f" ^{mark}^" if mark else ""))
        cells.append(f"{r['certainty_symbols']} {r['certainty']}".strip())
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    lines += ["", "Certainty starts at high for randomised trials; each domain rates it down by 0, "
              "1 or 2 levels (GRADE). SMD: Hedges' g; positive favours dexamethasone.", ""]
    lines += [f"{letter}. {text}" for letter, text in notes]
    return "\n".join(lines) + "\n"


def write_sof_csv(sof: pd.DataFrame, tables_dir: str | Path,
                  name: str = "summary_of_findings") -> Path:
    """Write ``tables_dir/name.csv`` (fixed float format, so regenerated files compare)."""
    path = Path(tables_dir) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    from analysis.outputs import neutralise_frame

    neutralise_frame(_ordered(sof)).to_csv(path, index=False, float_format="%.10g",
                                           lineterminator="\n")
    return path


def write_sof_markdown(sof: pd.DataFrame, tables_dir: str | Path,
                       name: str = "summary_of_findings") -> Path:
    """Write ``tables_dir/name.md`` (:func:`sof_markdown`)."""
    path = Path(tables_dir) / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sof_markdown(sof), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- effect direction

#: The review's outcome domains for the effect-direction plot, in column order.
OUTCOME_DOMAINS = ("pain", "function", "global improvement", "other", "not specified")
_FUNCTION_WORDS = ("foot score", "range of motion", "toe-raise", "function", "kujala")


def outcome_domain(name: str) -> str:
    """Outcome domain of an outcome name, by these rules in order:

    * 'global' in the name: global improvement (e.g. investigator global improvement);
    * 'pain': pain (patient pain VAS, pain during activity, walking, on stairs, morning pain);
    * a foot or function score, range of motion, the toe-raise test: function;
    * 'not specified' / 'not named': not specified (Hendriks' "all outcomes", Osborne's
      findings whose outcome the record does not name);
    * anything else (morning stiffness, tendon swelling): other.
    """
    text = str(name).lower()
    if "global" in text:
        return "global improvement"
    if "pain" in text:
        return "pain"
    if any(w in text for w in _FUNCTION_WORDS):
        return "function"
    if "not specified" in text or "not named" in text:
        return "not specified"
    return "other"


_ARROWS = {
    "favours dexamethasone": "up", "favours comparator": "down", "no clear difference": "sideways",
    "improved": "up", "no clear change": "sideways", "worse": "down", "not stated": "unknown",
    "other comparison": "unknown",
}
SIZE_BREAKS = (50, 300)


def _within_arm(comparison: str) -> str:
    """The arm label of a within-group row: 'within <label> only (not a comparison ...)'."""
    body = comparison[len("within "):]
    return body.split(" only (", 1)[0]


def _within_arrow(dex: set[str], control: set[str]) -> str:
    """Direction of one outcome's within-group findings, dexamethasone arm against the
    control arm: up when the dexamethasone arm improved and the control arm is not
    reported to have improved, down the other way round, sideways when both or neither
    improved, unknown when the dexamethasone arm's direction is not stated."""
    if not dex or dex <= {"unknown"}:
        return "unknown"
    d_up, c_up = "up" in dex, "up" in control
    if d_up and c_up:
        return "sideways"
    if d_up:
        return "up"
    if c_up:
        return "down"
    return "sideways"


def _comparison_kind(comparison: str, study_id: str, study: str,
                     roles: Mapping[tuple[str, str], str]) -> str:
    """within_group, vs_placebo, vs_active (dexamethasone against another active arm) or
    other (no dexamethasone arm), from the comparison text of the direction table."""
    comp = str(comparison)
    if comp.startswith("within "):
        return "within_group"
    if comp == "dexamethasone vs placebo":
        return "vs_placebo"
    first, _, second = comp.partition(" vs ")
    pair = {roles.get((study_id, first)), roles.get((study_id, second))}
    if None in pair:
        raise ValueError(f"effect_direction_cells: cannot tell the arms of {study!r} in "
                         f"comparison {comp!r}; arm labels must match arms.csv")
    if pair == {"treatment", "control"}:
        return "vs_placebo"
    if "treatment" in pair:
        return "vs_active"
    return "other"


def effect_direction_cells(direction: pd.DataFrame, studies: pd.DataFrame, timepoints: pd.DataFrame,
                           arms: pd.DataFrame, trial_rob: pd.DataFrame, sizes: pd.DataFrame, *,
                           pedro: pd.DataFrame | None = None, agreement: float = 0.70,
                           size_breaks: tuple[int, int] = SIZE_BREAKS) -> pd.DataFrame:
    """One cell per trial × time window × outcome domain, for the effect-direction plot.

    ``direction`` is the table of :func:`analysis.direction.effect_direction_table`;
    ``studies``, ``timepoints`` and ``arms`` come from the data package (to find each
    row's trial, time window and which arms it compares); ``trial_rob`` is
    :func:`analysis.risk_of_bias.trial_overall`; ``sizes`` is
    :func:`analysis.risk_of_bias.trial_sizes`; ``pedro`` (optional) is
    :func:`analysis.risk_of_bias.pedro_scores`.

    Rules (Boon & Thomson 2021):

    * Only dexamethasone versus placebo is drawn. Comparisons with an active comparator
      (acetic acid) or without dexamethasone are kept in the table with
      ``drawn = False``.
    * A cell uses the trial's between-group findings in that window and domain; only if
      there are none does it use within-group findings (basis "within-group only",
      drawn distinctly and never counted in the vote). A within-group outcome points up
      when the dexamethasone arm improved and the control arm is not reported to have
      improved, sideways when both (or neither) did: a pattern of within-group results,
      not a comparison of the arms.
    * Findings at baseline describe the groups before treatment, not an effect of it:
      they are kept with ``drawn = False``.
    * Several outcomes in one cell: the direction shared by at least ``agreement`` (70%)
      of those with a known direction, else sideways (conflicting).
    * Arrows: up favours dexamethasone (or, within-group, improved), down favours
      placebo, sideways no clear difference or conflicting, unknown where the record
      gives no direction. Only between-group up or down cells enter the vote
      (:func:`sign_tests`).
    * Size class from the trial's sample size: small below ``size_breaks[0]``, medium up
      to ``size_breaks[1]``, large above (the three arrow sizes of the effect direction
      plot; Thomson & Thomas 2013).

    The input table classifies the computed effects by their 95% CI (no clear
    difference when it includes zero), not by the point estimate as Boon & Thomson
    advise; the sideways arrows of Gudeman 1997 and Nirschl 2003 at about one month
    have positive point estimates.
    """
    sid_of = dict(zip(studies["label"], studies["study_id"]))
    scope_of = dict(zip(studies["study_id"], studies["scope"]))
    win = {(s, a): w for s, a, w in zip(timepoints["study_id"], timepoints["as_reported"], timepoints["window"])}
    roles = {}
    for _, a in arms.iterrows():
        roles[(a["study_id"], a["label"])] = a["role"]
    rob = dict(zip(trial_rob["study_id"], trial_rob["overall"]))
    n_of = dict(zip(sizes["study_id"], sizes["n"]))
    unit_of = dict(zip(sizes["study_id"], sizes["unit"]))
    pedro_of = dict(zip(pedro["study_id"], pedro["text"])) if pedro is not None else {}
    rows = []
    for _, r in direction.iterrows():
        if r["study"] not in sid_of:
            raise ValueError(f"effect_direction_cells: study {r['study']!r} is not in the study table")
        sid = sid_of[r["study"]]
        if r["when"] == "time point not stated":
            window = "not_stated"
        elif (sid, r["when"]) in win:
            window = win[(sid, r["when"])]
        else:
            raise ValueError(f"effect_direction_cells: time point {r['when']!r} of {r['study']} is "
                             "not in the time point table")
        kind = _comparison_kind(r["comparison"], sid, r["study"], roles)
        role = roles.get((sid, _within_arm(r["comparison"]))) if kind == "within_group" else None
        if kind == "within_group" and role is None:
            raise ValueError(f"effect_direction_cells: cannot tell the arm of {r['study']!r} in "
                             f"{r['comparison']!r}; arm labels must match arms.csv")
        rows.append({"study_id": sid, "study": r["study"], "scope": scope_of[sid], "window": window,
                     "domain": outcome_domain(r["outcome"]), "outcome": r["outcome"], "kind": kind,
                     "role": role, "arrow": _ARROWS.get(r["direction"], "unknown")})
    long = pd.DataFrame.from_records(rows)
    cells = []
    for (sid, window, domain), g in long.groupby(["study_id", "window", "domain"], sort=False):
        between = g[g["kind"] == "vs_placebo"]
        within = g[g["kind"] == "within_group"]
        use, basis = (between, "between-group") if len(between) else (within, "within-group only")
        drawn = len(use) > 0 and window != "baseline"
        if window == "baseline":
            use, basis = g, "baseline (before treatment, not an effect)"
        elif not drawn:
            use, basis = g, "no comparison with placebo"
        if basis == "within-group only":
            per_outcome = [_within_arrow(set(o.loc[o["role"] == "treatment", "arrow"]),
                                         set(o.loc[o["role"] == "control", "arrow"]))
                           for _, o in use.groupby("outcome", sort=False)]
        else:
            per_outcome = list(use["arrow"])
        known = pd.Series([a for a in per_outcome if a != "unknown"], dtype=object)
        if len(known) == 0:
            arrow = "unknown"
        else:
            shares = known.value_counts(normalize=True)
            arrow = shares.index[0] if shares.iloc[0] >= agreement - 1e-12 else "sideways"
        n = n_of.get(sid, np.nan)
        size = ("unknown" if not np.isfinite(n) else "small" if n < size_breaks[0]
                else "medium" if n <= size_breaks[1] else "large")
        cells.append({
            "scope": g["scope"].iloc[0], "study_id": sid, "study": g["study"].iloc[0],
            "window": window, "domain": domain, "arrow": arrow, "basis": basis, "drawn": drawn,
            "in_vote": drawn and basis == "between-group" and arrow in ("up", "down"),
            "n_outcomes": len(per_outcome), "outcomes": "; ".join(dict.fromkeys(use["outcome"])),
            "n": n, "unit": unit_of.get(sid, ""), "size": size,
            "risk_of_bias": rob.get(sid, "not_assessed"),
            "pedro": pedro_of.get(sid, ""),
        })
    return pd.DataFrame.from_records(cells, columns=[
        "scope", "study_id", "study", "window", "domain", "arrow", "basis", "drawn", "in_vote",
        "n_outcomes", "outcomes", "n", "unit", "size", "risk_of_bias", "pedro"])


def sign_tests(cells: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Sign test per scope × time window × outcome domain over the voting cells.

    The number of trials whose between-group direction favours dexamethasone against
    the number favouring placebo, two-sided exact binomial test of p = 0.5 (scipy's
    ``binomtest``; Cochrane Handbook chapter 12, vote counting based on the direction of
    effect). Trials with no clear difference, conflicting or unknown directions, and
    within-group findings, do not vote. When even a unanimous vote could not give
    p < ``alpha`` (fewer than 6 votes at 0.05) the test is not meaningful: ``p_value``
    is left empty and ``note`` says so, with the smallest p the votes could give.
    """
    from scipy.stats import binomtest  # only here: scipy.stats takes half a second to import

    rows = []
    for (scope, window, domain), g in cells[cells["drawn"]].groupby(["scope", "window", "domain"], sort=False):
        votes = g[g["in_vote"]]
        up, down = int((votes["arrow"] == "up").sum()), int((votes["arrow"] == "down").sum())
        n = up + down
        p, note = np.nan, ""
        if n == 0:
            note = "no trial with a between-group direction"
        else:
            best = binomtest(n, n, 0.5).pvalue
            if best >= alpha:
                note = (f"too few trials for a sign test: {n} vote(s), the smallest possible "
                        f"two-sided p is {best:.2g}")
            else:
                p = binomtest(up, n, 0.5).pvalue
                note = f"{up} of {n} favour dexamethasone"
        rows.append({"scope": scope, "window": window, "domain": domain, "up": up, "down": down,
                     "votes": n, "trials": len(g), "p_value": p, "note": note})
    return pd.DataFrame.from_records(rows, columns=["scope", "window", "domain", "up", "down",
                                                    "votes", "trials", "p_value", "note"])
