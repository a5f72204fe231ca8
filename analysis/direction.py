"""Effect-direction table: synthesis without meta-analysis (SWiM, Campbell et al. 2020).

Every trial contributes what it honestly can: a computed effect where numbers exist,
a reported between-group direction where only that is public, and a within-group
direction (marked as such: it is not a comparison with placebo) for Neeter 2003.
"""

from __future__ import annotations

import pandas as pd

SYMBOLS = {
    "favours dexamethasone": "\u25b2",
    "favours comparator": "\u25bc",
    "no clear difference": "\u25c6",
    "improved": "\u2191",
    "no clear change": "\u2194",
    "not stated": "?",
    "other comparison": "\u2013",
}


def effect_direction_table(pkg, effects: pd.DataFrame) -> pd.DataFrame:
    """One row per trial × outcome × time window (or finding), with its direction.

    ``effects`` is the table of :func:`analysis.trial_effects.continuous_effects`
    (SMD rows are used: they are oriented so that positive favours dexamethasone).
    Columns: ``study, scope, outcome, when, comparison, direction, symbol, significant,
    basis, source``.
    """
    labels = pkg.studies.set_index("study_id")
    defs = pkg.outcome_definitions.set_index(["study_id", "outcome_id"])["name"]
    tps = pkg.timepoints.set_index(["study_id", "timepoint_id"])["as_reported"]
    rows = []
    smd = effects[(effects["measure"] == "SMD") & effects["estimable"]]
    for _, e in smd.iterrows():
        sig = e["ci_lb"] > 0 or e["ci_ub"] < 0
        direction = ("favours dexamethasone" if e["yi"] > 0 and sig else
                     "favours comparator" if e["yi"] < 0 and sig else "no clear difference")
        rows.append({"study": e["study"], "scope": e["scope"], "outcome": e["outcome"],
                     "when": e["timepoint"], "comparison": "dexamethasone vs placebo",
                     "direction": direction, "significant": "yes" if sig else "no",
                     "basis": "computed from the extracted numbers (95% CI of the SMD)",
                     "source": e["how"]})
    arms = pkg.arms.set_index(["study_id", "arm_id"])
    for _, f in pkg.findings.iterrows():
        sid = f["study_id"]
        arm = arms.loc[(sid, f["arm_id"])]
        if f["comparison"] == "within_group":
            direction = {"better": "improved", "no_difference": "no clear change"}.get(
                f["direction"], "not stated" if f["direction"] == "not_stated" else "worse")
            comparison = f"within {arm['label']} only (not a comparison with placebo)"
        else:
            versus = arms.loc[(sid, f["versus_arm_id"])] if pd.notna(f["versus_arm_id"]) else None
            first_is_dex = arm["role"] == "treatment"
            better = {"better": first_is_dex, "worse": not first_is_dex}.get(f["direction"])
            if f["direction"] == "no_difference":
                direction = "no clear difference"
            elif f["direction"] == "not_stated":
                direction = "not stated"
            elif arm["role"] != "treatment" and (versus is None or versus["role"] != "treatment"):
                direction = "other comparison"
            else:
                direction = "favours dexamethasone" if better else "favours comparator"
            comparison = f"{arm['label']} vs {versus['label'] if versus is not None else '?'}"
        when = tps.get((sid, f["timepoint_id"]), "time point not stated") \
            if pd.notna(f["timepoint_id"]) else "time point not stated"
        rows.append({"study": labels.loc[sid, "label"], "scope": labels.loc[sid, "scope"],
                     "outcome": (defs.get((sid, f["outcome_id"]), f["outcome_id"])
                                 if pd.notna(f["outcome_id"]) else "outcome not specified"),
                     "when": when, "comparison": comparison, "direction": direction,
                     "significant": str(f["significant"]).replace("_", " "),
                     "basis": f"reported direction ({f['status']})",
                     "source": f["source"]})
    out = pd.DataFrame.from_records(rows)
    out.insert(out.columns.get_loc("direction") + 1, "symbol", out["direction"].map(SYMBOLS))
    return out
