"""Where every number comes from: the data package as a ledger of values.

Each value field ``X`` of a table has the columns ``X``, ``X_status``, ``X_source`` and
``X_note`` (see ``data/datapackage.json``). :func:`value_ledger` turns them into one
long table, one line per value (present or missing), so a reader can see at a glance
what is reported, secondary, inferred or missing, and from where.
"""

from __future__ import annotations

import pandas as pd

from analysis.data import STATUS_VALUES as STATUSES

#: The key columns that identify a row of each table.
KEYS = {
    "studies": ["study_id"],
    "arms": ["study_id", "arm_id"],
    "outcomes": ["study_id", "arm_id", "outcome_id", "timepoint_id"],
    "between_group": ["study_id", "outcome_id", "timepoint_id", "treatment_arm", "control_arm"],
    "findings": ["study_id", "finding_id"],
}


def value_fields(table: pd.DataFrame) -> list[str]:
    """The value fields of a table: every ``X`` that has an ``X_status`` column."""
    return [c[: -len("_status")] for c in table.columns
            if c.endswith("_status") and c[: -len("_status")] in table.columns]


def value_ledger(pkg) -> pd.DataFrame:
    """One row per value field of every row of every table that has value fields.

    Columns: ``table, study_id, row, field, value, status, source, note``; ``row`` joins
    the row's key columns (``dexamethasone / maryland_foot_score / end_of_treatment``).
    Fields whose status is empty (not applicable to that row) are left out.
    """
    parts = []
    for name, keys in KEYS.items():
        table = getattr(pkg, name)
        label = table[keys[1:]].astype(str).agg(" / ".join, axis=1) if len(keys) > 1 \
            else pd.Series("", index=table.index)
        for f in value_fields(table):
            part = pd.DataFrame({
                "table": name, "study_id": table["study_id"], "row": label, "field": f,
                "value": table[f], "status": table[f"{f}_status"],
                "source": table[f"{f}_source"], "note": table.get(f"{f}_note"),
            })
            parts.append(part[part["status"].notna()])
    return pd.concat(parts, ignore_index=True)


def status_counts(ledger: pd.DataFrame, table: str = "outcomes") -> pd.DataFrame:
    """Counts of values by trial and status in one table (default: the outcome values)."""
    sub = ledger[ledger["table"] == table]
    counts = pd.crosstab(sub["study_id"], sub["status"]).reindex(columns=list(STATUSES),
                                                                  fill_value=0)
    counts.columns.name = None
    return counts
