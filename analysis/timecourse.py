"""The recovery time course: end of treatment against about one month.

Question: does dexamethasone iontophoresis speed recovery (an effect at the end of
treatment) and does the placebo group catch up by about one month (the effect shrinks
towards zero)? Everything here works on the tables of :mod:`analysis.trial_effects` and
the data package; nothing is read from disk.

Time windows come from ``timepoints.csv`` (column ``window``): ``end_of_treatment``
and ``about_one_month`` (Gudeman's "one month after the end of treatment", Nirschl's
"1 month", Osborne's 4-week follow-up, Neeter's 6 weeks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.pooling import pool_batch
from analysis.trial_effects import resolve_group_size

WINDOWS = ("end_of_treatment", "about_one_month")
WINDOW_LABELS = {
    "end_of_treatment": "End of treatment",
    "about_one_month": "About one month after treatment",
}
SCOPE_LABELS = {
    "running_injury": "Running injuries",
    "other_tendinopathy": "Other tendinopathy (elbow; separate comparison)",
    "unspecified_tendinopathy": "Tendinopathy, site not named",
}


def arm_time_course(pkg, *, level: float = 0.95) -> pd.DataFrame:
    """Mean change of each arm at each time point, with a t-based CI, where the record
    gives arm means, SDs and group sizes (the review's primary outcomes only).

    CI = mean ± t(1 − α/2, n − 1) · SD / √n, the usual CI of a single mean; n is the
    arm's n at that time point, else its n analysed, else n randomised (as
    :mod:`analysis.trial_effects`).
    """
    defs = pkg.outcome_definitions
    primary = defs[(defs["review_role"] == "primary") & (defs["kind"] == "change_from_baseline")]
    keys = ["study_id", "outcome_id"]
    obs = pkg.outcomes.merge(primary[keys + ["name"]], on=keys)
    obs = obs[obs["mean"].notna() & obs["sd"].notna()]
    obs = obs.merge(pkg.timepoints, on=["study_id", "timepoint_id"])
    arms = pkg.arms.set_index(["study_id", "arm_id"])
    labels = pkg.studies.set_index("study_id")["label"]
    records = []
    for _, r in obs.iterrows():
        arm = arms.loc[(r["study_id"], r["arm_id"])]
        n = resolve_group_size(r, arm)
        if n is None:
            continue
        half = stats.t.ppf(0.5 + level / 2, n.value - 1) * r["sd"] / np.sqrt(n.value)
        records.append({
            "study_id": r["study_id"], "study": labels[r["study_id"]],
            "outcome": r["name"], "arm": _arm_name(arm), "role": arm["role"],
            "timepoint_id": r["timepoint_id"], "window": r["window"],
            "weeks": float(r["weeks_from_start"]),
            "weeks_approximate": bool(r["weeks_approximate"]),
            "mean": float(r["mean"]), "sd": float(r["sd"]), "n": n.value,
            "ci_lb": float(r["mean"] - half), "ci_ub": float(r["mean"] + half),
        })
    return pd.DataFrame.from_records(records, columns=[
        "study_id", "study", "outcome", "arm", "role", "timepoint_id", "window", "weeks",
        "weeks_approximate", "mean", "sd", "n", "ci_lb", "ci_ub"])


def _arm_name(arm: pd.Series) -> str:
    return {"treatment": "dexamethasone", "control": "placebo"}.get(arm["role"], arm.name[1])


def primary_effects(effects: pd.DataFrame, measure: str = "SMD") -> pd.DataFrame:
    """The review's primary outcome of each trial, in the two windows, for ``measure``."""
    sel = effects[(effects["measure"] == measure) & (effects["review_role"] == "primary")
                  & effects["window"].isin(WINDOWS)]
    return sel.reset_index(drop=True)


def pooled_by_window(effects: pd.DataFrame, *, measure: str = "SMD", method: str = "REML",
                     knha: bool = False) -> pd.DataFrame:
    """Pool the estimable primary effects within each scope × window (one batch call).

    Returns one row per scope × window that has at least one estimable trial, with the
    pooling summary of :func:`analysis.pooling.pool_batch` and the counts of trials
    that were and were not estimable.
    """
    prim = primary_effects(effects, measure)
    ok = prim[prim["estimable"]]
    counts = prim.groupby(["scope", "window"]).agg(
        k_total=("study_id", "size"), k_estimable=("estimable", "sum")).reset_index()
    if ok.empty:  # the same columns, nothing pooled
        return counts.assign(estimate=np.nan, se=np.nan, ci_lb=np.nan, ci_ub=np.nan, k=np.nan,
                             tau2=np.nan, i2=np.nan, pval=np.nan, weeks=np.nan)
    keys = ok["scope"] + "|" + ok["window"]
    res = pool_batch(ok["yi"].to_numpy(float), ok["vi"].to_numpy(float), keys.to_numpy(),
                     method=method, knha=knha)
    summary = res.summary.copy()
    summary[["scope", "window"]] = summary["group"].str.split("|", expand=True)
    summary = summary.drop(columns="group")
    weeks = ok.groupby(["scope", "window"])["weeks"].mean().rename("weeks").reset_index()
    out = counts.merge(summary, on=["scope", "window"], how="left").merge(
        weeks, on=["scope", "window"], how="left")
    return out


def catch_up(effects: pd.DataFrame) -> pd.DataFrame:
    """How much of the end-of-treatment advantage is left at about one month.

    For each trial with an estimable primary MD in both windows: the MD and SMD at each,
    the share of the end-of-treatment MD gap closed by one month
    (1 − MD₁ₘ / MD_EoT), and for change-from-baseline outcomes the placebo arm's mean
    improvement as a share of the dexamethasone arm's (m_c / m_t) at each window.
    Descriptive: the two windows are the same patients, so the correlation needed for a
    test of the change is not reported (see :func:`change_in_effect`).
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


def change_in_effect(yi_1: float, vi_1: float, yi_2: float, vi_2: float,
                     correlations=(0.0, 0.5, 0.8), level: float = 0.95) -> pd.DataFrame:
    """Change of an effect between two time points of the same trial, under assumed
    correlations between the two estimates.

    Var(y₂ − y₁) = v₁ + v₂ − 2 r √(v₁ v₂); the trials do not report r, so this is a
    sensitivity table over ``correlations``, never a single answer. Normal CI.
    """
    r = np.asarray(correlations, dtype=float)
    diff = yi_2 - yi_1
    var = vi_1 + vi_2 - 2 * r * np.sqrt(vi_1 * vi_2)
    se = np.sqrt(var)
    z = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame({"assumed_correlation": r, "change": diff, "se": se,
                         "ci_lb": diff - z * se, "ci_ub": diff + z * se,
                         "pval": 2 * stats.norm.sf(np.abs(diff) / se)})


def summary_sentences(effects: pd.DataFrame, *, method: str = "REML") -> list[str]:
    """Plain-language statements of the pooled primary SMD per scope and window,
    written from the numbers (so they stay true when data are added)."""
    pooled = pooled_by_window(effects, measure="SMD", method=method)
    out = []
    for _, r in pooled.iterrows():
        where = f"{SCOPE_LABELS.get(r['scope'], r['scope'])}, {WINDOW_LABELS[r['window']].lower()}"
        missing = int(r["k_total"] - r["k_estimable"])
        tail = f" ({missing} more trial(s) not estimable from the public record)" if missing else ""
        if not np.isfinite(r["estimate"]):
            out.append(f"{where}: no trial estimable{tail}.")
            continue
        if r["ci_lb"] > 0:
            verdict = "favours dexamethasone"
        elif r["ci_ub"] < 0:
            verdict = "favours placebo"
        else:
            verdict = "no clear difference (the CI includes zero)"
        out.append(f"{where}: SMD {r['estimate']:.2f} [{r['ci_lb']:.2f}, {r['ci_ub']:.2f}] "
                   f"from {int(r['k_estimable'])} trial(s){tail}: {verdict}.")
    return out
