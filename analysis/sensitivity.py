"""What can honestly be said about choices the public record leaves open.

* :func:`unit_of_analysis`: Gudeman 1997 randomised feet, not patients; how the result
  changes if feet of one patient are correlated (design effect);
  :func:`foot_level_sensitivity` applies it to every trial that randomised feet.
* :func:`estimator_sensitivity`: the pooled primary SMD under each τ² estimator, with
  and without Hartung–Knapp (refits of one model).

How large the effect of a trial without public numbers would have to be to change a
conclusion is :mod:`analysis.catchup`'s threshold analysis (exact, by root-finding).
The functions take plain numbers or the tables of :mod:`analysis.trial_effects` (the
effects table and the study table), never the data package, and call
:mod:`analysis.effect_sizes` and :mod:`analysis.meta`; no formula is repeated here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import conventions
from analysis import effect_sizes as es


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
