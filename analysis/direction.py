"""Effect-direction table: synthesis without meta-analysis (SWiM, Campbell et al. 2020).

Every trial contributes what it honestly can: a computed effect where numbers exist,
a reported between-group direction where only that is public, and a within-group
direction (marked as such: it is not a comparison with placebo) for Neeter 2003.
"""

from __future__ import annotations

import pandas as pd

from analysis import conventions

SYMBOLS = {
    conventions.FAVOURS_TREATMENT: "\u25b2",
    conventions.FAVOURS_COMPARATOR: "\u25bc",
    conventions.NO_CLEAR_DIFFERENCE: "\u25c6",
    "improved": "\u2191",
    "no clear change": "\u2194",
    "not stated": "?",
    "other comparison": "\u2013",
}


def effect_direction_table(effects: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """One row per trial × outcome × time window (or finding), with its direction.

    ``effects`` is the table of :func:`analysis.trial_effects.continuous_effects`
    (SMD rows are used: they are oriented so that positive favours dexamethasone);
    ``findings`` the table of :func:`analysis.trial_effects.findings_table` (results
    reported only in words, with the names of trials, outcomes, time points and arms).
    Columns: ``study, scope, outcome, when, comparison, direction, symbol, significant,
    basis, source``.
    """
    rows = []
    smd = effects[(effects["measure"] == "SMD") & effects["estimable"]]
    for _, e in smd.iterrows():
        direction = conventions.verdict(e["ci_lb"], e["ci_ub"], against="comparator")
        sig = direction != conventions.NO_CLEAR_DIFFERENCE
        rows.append({"study": e["study"], "scope": e["scope"], "outcome": e["outcome"],
                     "when": e["timepoint"], "comparison": "dexamethasone vs placebo",
                     "direction": direction, "significant": "yes" if sig else "no",
                     "basis": "computed from the extracted numbers (95% CI of the SMD)",
                     "source": e["how"]})
    for _, f in findings.iterrows():
        if f["comparison"] == "within_group":
            direction = {"better": "improved", "no_difference": "no clear change"}.get(
                f["direction"], "not stated" if f["direction"] == "not_stated" else "worse")
            comparison = f"within {f['arm_label']} only (not a comparison with placebo)"
        else:
            has_versus = pd.notna(f["versus_role"])
            first_is_dex = f["arm_role"] == "treatment"
            better = {"better": first_is_dex, "worse": not first_is_dex}.get(f["direction"])
            if f["direction"] == "no_difference":
                direction = conventions.NO_CLEAR_DIFFERENCE
            elif f["direction"] == "not_stated":
                direction = "not stated"
            elif f["arm_role"] != "treatment" and (not has_versus
                                                   or f["versus_role"] != "treatment"):
                direction = "other comparison"
            else:
                direction = (conventions.FAVOURS_TREATMENT if better
                             else conventions.FAVOURS_COMPARATOR)
            comparison = f"{f['arm_label']} vs {f['versus_label'] if has_versus else '?'}"
        rows.append({"study": f["study"], "scope": f["scope"], "outcome": f["outcome"],
                     "when": f["when"], "comparison": comparison, "direction": direction,
                     "significant": str(f["significant"]).replace("_", " "),
                     "basis": f"reported direction ({f['status']})",
                     "source": f["source"]})
    out = pd.DataFrame.from_records(rows)
    out.insert(out.columns.get_loc("direction") + 1, "symbol", out["direction"].map(SYMBOLS))
    return out
