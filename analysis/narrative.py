"""Sentences about the data, computed from the tables, for notebooks and reports.

Text that states a fact about the data (which trial reports what, which numbers are
inferred or recovered, how large the unpublished trials are) is written here from the
tables of :mod:`analysis.trial_effects`, so it stays true when a user adds a trial's
numbers and reruns one command. Each function returns plain text (Markdown).
"""

from __future__ import annotations

import pandas as pd

from analysis.conventions import SCOPE_LABELS, WINDOW_LABELS, WINDOWS


def join_names(names) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    names = [str(n) for n in dict.fromkeys(names)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _primary(effects: pd.DataFrame, measure: str = "SMD") -> pd.DataFrame:
    return effects[(effects["measure"] == measure) & (effects["review_role"] == "primary")
                   & effects["window"].isin(WINDOWS)]


def estimability(effects: pd.DataFrame) -> str:
    """Which trials have a primary effect that can be computed, and which do not (why)."""
    prim = _primary(effects)
    lines = []
    for scope, rows in prim.groupby("scope", sort=False):
        ok = rows.groupby("study", sort=False)["estimable"].any()
        have = list(ok[ok].index)
        lacking = rows[~rows["study"].isin(have)].drop_duplicates("study")
        where = SCOPE_LABELS.get(scope, scope)
        text = f"**{where}**: "
        text += (f"{join_names(have)} {'has' if len(have) == 1 else 'have'} numbers for the "
                 "primary outcome" if have else "no trial has numbers for the primary outcome")
        if len(lacking):
            reasons = "; ".join(f"{r['study']}: {r['reason'].split(chr(0x2014))[-1].strip()}"
                                for _, r in lacking.iterrows())
            text += f"; not estimable: {reasons}"
        lines.append(f"- {text}.")
    return "\n".join(lines)


def how_numbers_were_obtained(effects: pd.DataFrame) -> str:
    """For each trial with an estimable effect: what rests on inferred values (with the
    data's own notes) and what the analysis recovered."""
    lines = []
    est = effects[effects["estimable"]]
    for study, rows in est.groupby("study", sort=False):
        parts = []
        inferred = list(dict.fromkeys(what for pairs in rows["inferred"] for what, _ in pairs))
        if inferred:
            parts.append(f"inferred (not printed): {join_names(inferred)}")
        if rows["sd_recovered"].any():
            parts.append("SD not published: the pooled SD is recovered from the between-group "
                         "p-value and the group sizes")
        if not parts:
            parts.append("every number used is printed in the record")
        lines.append(f"- **{study}**: {'; '.join(parts)}.")
    return "\n".join(lines)


def unpublished_trials(effects: pd.DataFrame, studies: pd.DataFrame,
                       scope: str = "running_injury") -> str:
    """The trials of ``scope`` with no estimable primary effect, with what is known of
    their size (the basis of a threshold analysis)."""
    prim = _primary(effects)
    prim = prim[prim["scope"] == scope]
    lacking = [s for s, ok in prim.groupby("study", sort=False)["estimable"].any().items()
               if not ok]
    if not lacking:
        return (f"Every {SCOPE_LABELS.get(scope, scope).lower()} trial has numbers for the "
                "primary outcome: there is no unpublished trial to run a threshold analysis on.")
    info = studies.set_index("study")
    lines = []
    for study in lacking:
        s = info.loc[study]
        if pd.notna(s["n_t"]) and pd.notna(s["n_c"]):
            size = (f"randomised {s['n_t']:g} to dexamethasone and {s['n_c']:g} to placebo "
                    f"({s['n_t_status']})")
        elif pd.notna(s["units_analysed_n"]):
            unit = {"foot": "feet", "patient": "patients"}.get(s["unit_of_analysis"], "units")
            size = (f"analysed {s['units_analysed_n']:g} {unit} over {int(s['n_arms'])} arms; "
                    "the split per arm is not public")
        else:
            size = "its group sizes are not public"
        lines.append(f"- **{study}** {size}; its outcome numbers are not public.")
    return "\n".join(lines)


def feet_not_patients(studies: pd.DataFrame) -> str:
    """The trials that randomised or analysed feet, with their numbers of feet and patients."""
    feet = studies[(studies["unit_of_randomisation"] == "foot")
                   | (studies["unit_of_analysis"] == "foot")]
    if feet.empty:
        return "No trial randomised or analysed feet."
    lines = []
    for _, s in feet.iterrows():
        units = s["units_randomised_n"] if pd.notna(s["units_randomised_n"]) \
            else s["units_analysed_n"]
        unit_text = f"{units:g} feet" if pd.notna(units) else "feet"
        pts = (f"{s['patients_n']:g} patients ({s['patients_n_status']})"
               if pd.notna(s["patients_n"]) else "patients not reported")
        lines.append(f"- **{s['study']}**: {unit_text}, {pts}.")
    return "\n".join(lines)


def outcome_values_public(ledger: pd.DataFrame) -> str:
    """Which trials have outcome values in the record and which have none (all missing)."""
    out = ledger[ledger["table"] == "outcomes"]
    present = out[out["status"] != "missing"].groupby("study_id").size()
    lines = []
    for study_id, rows in out.groupby("study_id", sort=False):
        n = int(present.get(study_id, 0))
        total = len(rows)
        if n == 0:
            lines.append(f"- `{study_id}`: all {total} outcome values it measured are missing "
                         "from the public record.")
        else:
            lines.append(f"- `{study_id}`: {n} of {total} outcome values are public.")
    return "\n".join(lines)


def windows_text() -> str:
    """The analysis windows, as readers see them."""
    return join_names(label.lower() for label in WINDOW_LABELS.values())
