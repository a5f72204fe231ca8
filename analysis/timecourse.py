"""The recovery time course: end of treatment against about one month.

Question: does dexamethasone iontophoresis speed recovery (an effect at the end of
treatment) and does the placebo group catch up by about one month (the effect shrinks
towards zero)? Everything here works on the tables of :mod:`analysis.trial_effects`
(never on the data package) and pools with :func:`analysis.meta.meta_analysis`.

Time windows come from ``timepoints.csv`` (column ``window``): ``end_of_treatment``
and ``about_one_month`` (Gudeman's "one month after the end of treatment", Nirschl's
"1 month", Osborne's 4-week follow-up, Neeter's 6 weeks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import conventions
from analysis.conventions import SCOPE_LABELS, WINDOW_LABELS, WINDOWS
from analysis.meta import MetaAnalysis, ModelOptions, meta_analysis

__all__ = ["WINDOWS", "WINDOW_LABELS", "SCOPE_LABELS", "primary_effects",
           "window_meta_analysis", "pooled_by_window", "catch_up",
           "summary_sentences", "model_sentence"]


def primary_effects(effects: pd.DataFrame, measure: str = "SMD") -> pd.DataFrame:
    """The review's primary outcome of each trial, in the two windows, for ``measure``."""
    sel = effects[(effects["measure"] == measure) & (effects["review_role"] == "primary")
                  & effects["window"].isin(WINDOWS)]
    return sel.reset_index(drop=True)


def window_meta_analysis(effects: pd.DataFrame, *, measure: str = "SMD",
                         options: ModelOptions = ModelOptions()) -> MetaAnalysis:
    """The primary effects pooled within each scope × window (one batch call).

    Trials that are not estimable are kept (``k_total`` counts them, ``k`` does not).
    """
    prim = primary_effects(effects, measure)
    if prim.empty:
        raise ValueError(f"no primary {measure} rows in the windows {WINDOWS}")
    return meta_analysis(prim, by=["scope", "window"], note="reason", measure=measure,
                         carry=["study_id", "weeks"], **options.as_dict())


def pooled_by_window(effects: pd.DataFrame, *, measure: str = "SMD",
                     options: ModelOptions = ModelOptions()) -> pd.DataFrame:
    """:meth:`window_meta_analysis`'s pooled table, one row per scope × window, with
    ``k_estimable`` (= ``k``), ``k_total`` and ``weeks`` (the mean time point of the
    estimable trials, for placing the pooled estimate on a time axis)."""
    prim = primary_effects(effects, measure)
    if prim.empty:  # no trial has the primary outcome in a window: the columns, no rows
        return pd.DataFrame(columns=["scope", "window", "subgroup", "k", "k_total",
                                     "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2",
                                     "i2", "q", "q_pval", "pi_lb", "pi_ub", "weeks",
                                     "k_estimable"])
    ma = window_meta_analysis(effects, measure=measure, options=options)
    pooled = ma.pooled
    studies = ma.studies
    est = studies[studies["estimable"]]
    weeks = est.groupby(["scope", "window"])["weeks"].mean()
    keys = list(zip(pooled["scope"], pooled["window"]))
    pooled["weeks"] = [weeks.get(k, np.nan) for k in keys]
    pooled["k_estimable"] = pooled["k"]
    return pooled


def catch_up(effects: pd.DataFrame) -> pd.DataFrame:
    """How much of the end-of-treatment advantage is left at about one month.

    For each trial with an estimable primary MD in both windows: the MD and SMD at each,
    the share of the end-of-treatment MD gap closed by one month
    (1 − MD₁ₘ / MD_EoT), and for change-from-baseline outcomes the placebo arm's mean
    improvement as a share of the dexamethasone arm's (m_c / m_t) at each window.
    Descriptive: the two windows are the same patients, so a test of the change needs
    their correlation, which no trial reports (see :mod:`analysis.catchup`, where the
    change and the share remaining are given with CIs as functions of it).
    """
    rows = []
    md = primary_effects(effects, "MD")
    smd = primary_effects(effects, "SMD")
    for study_id, grp in md.groupby("study_id", sort=False):
        if not grp["estimable"].all() or set(grp["window"]) != set(WINDOWS):
            continue
        g = grp.set_index("window")
        s = smd[smd["study_id"] == study_id].set_index("window")
        eot, one = g.loc["end_of_treatment"], g.loc["about_one_month"]
        rec = {
            "study_id": study_id, "study": eot["study"], "scope": eot["scope"],
            "outcome": eot["outcome"],
            "md_end_of_treatment": eot["yi"], "md_one_month": one["yi"],
            "smd_end_of_treatment": s.loc["end_of_treatment", "yi"],
            "smd_one_month": s.loc["about_one_month", "yi"],
            "gap_closed": 1.0 - one["yi"] / eot["yi"],
        }
        if eot["kind"] == "change_from_baseline":
            rec["placebo_share_end_of_treatment"] = eot["mean_c"] / eot["mean_t"]
            rec["placebo_share_one_month"] = one["mean_c"] / one["mean_t"]
        rows.append(rec)
    return pd.DataFrame.from_records(rows)


def model_sentence(options: ModelOptions = ModelOptions()) -> str:
    """The model behind the summary sentences, in words (for the README's results)."""
    model = ("common effect (inverse variance)" if options.common_effect
             else f"random effects, \u03c4\u00b2 by {options.method}")
    return (f"SMD = Hedges' g, positive favours {conventions.TREATMENT}; {model}, "
            f"{options.ci_method} {options.level_text} CI.")


def summary_sentences(effects: pd.DataFrame, *,
                      options: ModelOptions = ModelOptions()) -> list[str]:
    """Plain-language statements of the pooled primary SMD per scope and window,
    written from the numbers (so they stay true when data are added)."""
    pooled = pooled_by_window(effects, measure="SMD", options=options)
    out = []
    for _, r in pooled.iterrows():
        where = f"{SCOPE_LABELS.get(r['scope'], r['scope'])}, {WINDOW_LABELS[r['window']].lower()}"
        missing = int(r["k_total"] - r["k_estimable"])
        tail = f" ({missing} more trial(s) not estimable from the public record)" if missing else ""
        if not np.isfinite(r["estimate"]):
            out.append(f"{where}: no trial estimable{tail}.")
            continue
        verdict = conventions.verdict(r["ci_lb"], r["ci_ub"])
        if verdict == conventions.NO_CLEAR_DIFFERENCE:
            verdict += " (the CI includes zero)"
        out.append(f"{where}: SMD {r['estimate']:.2f} [{r['ci_lb']:.2f}, {r['ci_ub']:.2f}] "
                   f"from {int(r['k_estimable'])} trial(s){tail}: {verdict}.")
    return out
