"""What can honestly be said about trials and choices the public record leaves open.

* :func:`threshold_analysis`: how large the effect of a trial without public numbers
  (Neeter 2003, Osborne & Allison 2006) would have to be, given its group sizes, to
  change the pooled conclusion at a time point.
* :func:`unit_of_analysis`: Gudeman 1997 randomised feet, not patients; how the
  result changes if feet of one patient are correlated (design effect).

Both take plain numbers and call :mod:`analysis.effect_sizes` and
:mod:`analysis.pooling`; no formula is repeated here. The functions that apply them to
the review take the plain tables of :mod:`analysis.trial_effects` (the effects table and
the study table), never the data package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import conventions
from analysis import effect_sizes as es
from analysis.pooling import pool_batch


def threshold_analysis(yi, vi, n_t: float, n_c: float, *, method: str = "FE",
                       smd_vtype: str = "LS", d_grid=None) -> pd.DataFrame:
    """Pooled conclusion as a function of the SMD of one added trial of size n_t / n_c.

    For every SMD on a fine grid, the hypothetical trial gets Hedges' g and its
    sampling variance from :func:`analysis.effect_sizes.hedges_g` (``smd_vtype``) at
    the given group sizes; it is pooled with the estimable trials (``yi``, ``vi``)
    by ``method``, all grid points in one batch. Returns one row per stretch of the
    grid with the same conclusion (pooled 95% CI above 0, below 0, or spanning 0):
    ``g_from``, ``g_to`` (the hypothetical trial's g at the ends of the stretch),
    ``conclusion``, and ``g_from_is_grid_end`` / ``g_to_is_grid_end``, true where the
    stretch runs to the end of the explored grid (SMD −3 to 3 by default): that end is
    where the search stopped, not a threshold, and the conclusion beyond it is unknown.
    The boundaries between stretches are the thresholds (to the grid's resolution).
    """
    yi = np.atleast_1d(np.asarray(yi, float))
    vi = np.atleast_1d(np.asarray(vi, float))
    d = np.round(np.arange(-3.0, 3.0 + 1e-9, 0.0025), 6) if d_grid is None else np.asarray(d_grid)
    ones = np.ones_like(d)
    hyp = es.hedges_g(d, ones, n_t * ones, 0 * ones, ones, n_c * ones, vtype=smd_vtype)
    m, k = d.size, yi.size
    all_y = np.column_stack([np.tile(yi, (m, 1)), np.ravel(hyp.yi)]).ravel()
    all_v = np.column_stack([np.tile(vi, (m, 1)), np.ravel(hyp.vi)]).ravel()
    groups = np.repeat(np.arange(m), k + 1)
    res = pool_batch(all_y, all_v, groups, method=method).summary
    g = np.ravel(hyp.yi)
    concl = conventions.verdict(res["ci_lb"].to_numpy(), res["ci_ub"].to_numpy())
    change = np.flatnonzero(concl[1:] != concl[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [m - 1]])
    return pd.DataFrame({"g_from": g[starts], "g_to": g[ends], "conclusion": concl[starts],
                         "g_from_is_grid_end": starts == 0, "g_to_is_grid_end": ends == m - 1,
                         "method": method, "n_t": n_t, "n_c": n_c})


def unit_of_analysis(m1, sd1, n1, m2, sd2, n2, *, n_units: float, n_patients,
                     icc=(0.0, 0.25, 0.5, 0.75, 1.0), smd_vtype: str = "LS") -> pd.DataFrame:
    """SMD when feet of one patient are correlated: effective sample sizes by design effect.

    Design effect DE = 1 + (M − 1) · ICC with M = n_units / n_patients the mean number
    of feet per patient (Cochrane Handbook 23.1.4, the approximate analysis of
    cluster-randomised trials); each arm's n is divided by DE and Hedges' g recomputed.
    ``n_patients`` and ``icc`` are scenarios: the trials do not report the ICC.
    """
    rows = []
    for patients in np.atleast_1d(n_patients):
        cluster = n_units / float(patients)
        for r in icc:
            de = 1.0 + (cluster - 1.0) * r
            eff = es.hedges_g(m1, sd1, n1 / de, m2, sd2, n2 / de, vtype=smd_vtype)
            y, v = float(np.ravel(eff.yi)[0]), float(np.ravel(eff.vi)[0])
            se = np.sqrt(v)
            z = conventions.z_quantile(0.95)
            rows.append({"patients": float(patients), "feet_per_patient": cluster, "icc": r,
                         "design_effect": de, "n_t_effective": n1 / de,
                         "n_c_effective": n2 / de, "yi": y, "se": se,
                         "ci_lb": y - z * se, "ci_ub": y + z * se})
    return pd.DataFrame.from_records(rows)


def estimator_sensitivity(effects: pd.DataFrame, *, methods=("FE", "DL", "REML", "PM", "SJ"),
                          knha=(False, True)) -> pd.DataFrame:
    """Pooled primary SMD per scope × window under each τ² estimator and CI method.

    The model is fitted once (:func:`analysis.timecourse.window_meta_analysis`) and
    refitted under each choice; the rows say how many trials were estimable and how many
    were not.
    """
    from analysis.timecourse import window_meta_analysis

    base = window_meta_analysis(effects, measure="SMD")
    parts = []
    for method in methods:
        for hk in knha:
            if method == "FE" and hk:
                continue
            res = base.refit(method=method, knha=hk).pooled
            parts.append(res.assign(method=method, knha=hk, k_estimable=res["k"]))
    cols = ["scope", "window", "method", "knha", "k_estimable", "k_total", "estimate",
            "ci_lb", "ci_ub", "tau2", "i2", "pval"]
    return pd.concat(parts, ignore_index=True)[cols]


def thresholds_for_missing_trials(effects: pd.DataFrame, studies: pd.DataFrame, *,
                                  methods=("FE", "REML")) -> pd.DataFrame:
    """Threshold analysis for each running-injury trial that is not estimable.

    For each such trial and window, its group sizes are the randomised n of its
    treatment and control arms (``studies``: the study table of
    :func:`analysis.trial_effects.study_table`, columns ``n_t``, ``n_c`` with their
    status). Where they are missing (Osborne & Allison 2006: 42 feet in
    three arms, split not public), an equal split of the analysed units across the arms
    is used and the row says it is an assumption. The output lists the stretches of
    the hypothetical SMD over which the pooled conclusion holds
    (:func:`threshold_analysis`).
    """
    from analysis.timecourse import primary_effects

    prim = primary_effects(effects, "SMD")
    prim = prim[prim["scope"] == "running_injury"]
    studies = studies.set_index("study_id")
    rows = []
    for (study_id, window), grp in prim.groupby(["study_id", "window"], sort=False):
        if grp["estimable"].any():
            continue
        others = prim[(prim["window"] == window) & prim["estimable"]]
        if others.empty:
            continue
        s = studies.loc[study_id]
        if pd.notna(s["n_t"]) and pd.notna(s["n_c"]):
            n_t, n_c = float(s["n_t"]), float(s["n_c"])
            basis = f"n randomised {n_t:g}/{n_c:g} ({s['n_t_status']})"
        else:
            units = s["units_analysed_n"]
            if pd.isna(units) or not s["n_arms"]:
                continue
            arms_n = int(s["n_arms"])
            n_t = n_c = float(units) / arms_n
            unit = {"foot": "feet", "patient": "patients"}.get(s["unit_of_analysis"], "units")
            basis = (f"assumption: {units:g} {unit} "
                     f"split equally over {arms_n} arms ({n_t:g} each); the split is not public")
        for method in methods:
            res = threshold_analysis(others["yi"], others["vi"], n_t, n_c, method=method,
                                     smd_vtype=others["vtype"].iloc[0])
            rows.append(res.assign(study=s["label"], window=window, group_sizes=basis))
    cols = ["study", "window", "method", "group_sizes", "g_from", "g_to", "conclusion",
            "g_from_is_grid_end", "g_to_is_grid_end"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def foot_level_sensitivity(effects: pd.DataFrame, studies: pd.DataFrame, *,
                           icc=(0.0, 0.5, 1.0)) -> pd.DataFrame:
    """:func:`unit_of_analysis` for every trial that randomised feet and has arm data.

    Patient counts: the one in ``studies.csv`` where there is one (with its status), and
    the extreme of every patient contributing both feet (units / 2).
    """
    feet = studies[studies["unit_of_randomisation"] == "foot"]
    parts = []
    for _, s in feet.iterrows():
        sel = effects[(effects["study_id"] == s["study_id"]) & (effects["measure"] == "SMD")
                      & effects["estimable"] & (effects["review_role"] == "primary")
                      & ~effects["sd_recovered"]]
        units = s["units_randomised_n"]
        if sel.empty or pd.isna(units):
            continue
        patients = [units / 2.0]
        if pd.notna(s["patients_n"]):
            patients.insert(0, float(s["patients_n"]))
        for _, e in sel.iterrows():
            sign = conventions.smd_sign(e["direction"])
            res = unit_of_analysis(e["mean_t"], e["sd_t"], e["n_t"], e["mean_c"], e["sd_c"],
                                   e["n_c"], n_units=float(units), n_patients=patients, icc=icc,
                                   smd_vtype=e["vtype"])
            res[["yi", "ci_lb", "ci_ub"]] *= sign
            if sign < 0:
                res[["ci_lb", "ci_ub"]] = res[["ci_ub", "ci_lb"]].to_numpy()
            parts.append(res.assign(study=s["label"], timepoint=e["timepoint"]))
    out = pd.concat(parts, ignore_index=True)
    first = ["study", "timepoint"]
    return out[first + [c for c in out.columns if c not in first]]
