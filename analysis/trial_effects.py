"""From the extracted data to one effect per trial × outcome × time point.

Takes a :class:`analysis.data.DataPackage` and returns plain tables. Every row says how
its numbers were obtained (column ``how``), and a trial whose numbers are not in the
public record stays in the table as ``estimable = False`` with the reason, so every
later step (forest plots, time course, thresholds) can show it instead of dropping it.

Conventions, stated once:

* The comparison is the arm with role ``treatment`` (dexamethasone) against the arm
  with role ``control`` (placebo). Other arms (e.g. acetic acid) are not compared here.
* ``MD`` is treatment minus control on the outcome's own scale, as stored.
* ``SMD`` is Hedges' g (metafor's ``escalc(measure="SMD")``, variance ``vtype`` as
  chosen), **oriented so that a positive value favours dexamethasone**: g is multiplied
  by −1 for outcomes stored with ``higher_is_worse``. Trials on different scales and
  directions can then be pooled.
* Group sizes: n at the outcome row where the record gives it; otherwise the arm's n
  analysed; otherwise the arm's n randomised. The choice is written into ``how``.
* A missing SD is recovered, in this order, from the arm's SE, from the arm's 95% CI,
  or from the reported two-sided p-value of the between-group difference (Cochrane
  Handbook 6.5.2.3: SE of the MD from p, then pooled SD = SE / sqrt(1/n1 + 1/n2)).
  A p-value reported only as a bound (p < 0.05) gives no SD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import conventions
from analysis import effect_sizes as es
from analysis.distributions import StudentT, norm

#: Reason shown for a trial with no usable number.
NO_PUBLIC_NUMBERS = "Not estimable \u2014 no numbers in the public record"

EFFECT_COLUMNS = [
    "study_id", "study", "year", "scope", "outcome_id", "outcome", "review_role",
    "direction", "kind", "timepoint_id", "timepoint", "window", "weeks",
    "weeks_approximate", "measure", "vtype", "mean_t", "sd_t", "n_t", "mean_c", "sd_c",
    "n_c", "yi", "vi", "se", "ci_lb", "ci_ub", "estimable", "sd_recovered", "how",
    "reason", "inferred",
]


@dataclass(frozen=True)
class _Resolved:
    value: float
    how: str
    inferred: tuple[tuple[str, str], ...] = ()


def _present(x) -> bool:
    return x is not None and not (isinstance(x, float) and np.isnan(x)) and pd.notna(x)


def _inferred(row: pd.Series, field: str, what: str) -> tuple[tuple[str, str], ...]:
    """``((what, note),)`` when the row's ``field`` is inferred, with the data's own note."""
    if row.get(f"{field}_status") == "inferred":
        note = row.get(f"{field}_note")
        return ((what, str(note) if _present(note) else ""),)
    return ()


def _status_phrase(row: pd.Series, field: str) -> str:
    status = row.get(f"{field}_status")
    source = row.get(f"{field}_source")
    parts = [str(status)] if _present(status) else []
    if _present(source):
        parts.append(str(source))
    return ", ".join(parts)


def _comparison_arms(arms: pd.DataFrame, study_id: str) -> tuple[pd.Series, pd.Series] | None:
    rows = arms[arms["study_id"] == study_id]
    treat = rows[rows["role"] == "treatment"]
    ctrl = rows[rows["role"] == "control"]
    if len(treat) != 1 or len(ctrl) != 1:
        return None
    return treat.iloc[0], ctrl.iloc[0]


def resolve_group_size(outcome_row: pd.Series | None, arm_row: pd.Series) -> _Resolved | None:
    """Group size at a time point: outcome n, else arm n analysed, else n randomised."""
    if outcome_row is not None and _present(outcome_row.get("n")):
        return _Resolved(float(outcome_row["n"]),
                         f"n at this time point ({_status_phrase(outcome_row, 'n')})",
                         _inferred(outcome_row, "n", "group sizes"))
    for field, words in (("n_analysed", "n analysed"), ("n_randomised", "n randomised")):
        if _present(arm_row.get(field)):
            return _Resolved(float(arm_row[field]),
                             f"{words} of the arm ({_status_phrase(arm_row, field)})",
                             _inferred(arm_row, field, f"group sizes ({words})"))
    return None


def _arm_sd(row: pd.Series, n: float) -> tuple[float, str, tuple] | None:
    """The arm's SD as reported, or recovered from its SE or 95% CI; with the notes of
    any inferred value it rests on."""
    if _present(row.get("sd")):
        return float(row["sd"]), f"SD {_status_phrase(row, 'sd')}", _inferred(row, "sd", "SD")
    if _present(row.get("se")):
        d = es.sd_from_se(float(row["se"]), n)
        return float(d.value), d.how, _inferred(row, "se", "SE")
    if _present(row.get("ci_lower")) and _present(row.get("ci_upper")):
        se = es.se_from_ci(float(row["ci_lower"]), float(row["ci_upper"]), level=0.95,
                           dist="t", n=n)
        sd = es.sd_from_se(float(se.value), n)
        return (float(sd.value), f"{se.how}; {sd.how}",
                _inferred(row, "ci_lower", "CI") + _inferred(row, "ci_upper", "CI"))
    return None


def _p_value_row(between: pd.DataFrame, study_id, outcome_id, timepoint_id, t_arm, c_arm):
    rows = between[
        (between["study_id"] == study_id)
        & (between["outcome_id"] == outcome_id)
        & (between["timepoint_id"] == timepoint_id)
        & (between["treatment_arm"] == t_arm)
        & (between["control_arm"] == c_arm)
    ]
    return rows.iloc[0] if len(rows) else None


def continuous_effects(pkg, *, smd_vtype: str = "LS", p_dist: str = "t") -> pd.DataFrame:
    """MD and SMD rows for every continuous outcome × time point of every trial.

    Returns one row per trial × outcome × time point × measure (``MD`` and ``SMD``),
    columns :data:`EFFECT_COLUMNS`. ``p_dist`` chooses the distribution used to turn a
    p-value into a standard error (``"t"`` with n1 + n2 − 2 df, or ``"normal"``).
    """
    defs = pkg.outcome_definitions
    cont = defs[defs["kind"].isin(["change_from_baseline", "final_value"])]
    records: list[dict] = []
    for _, d in cont.iterrows():
        pair = _comparison_arms(pkg.arms, d["study_id"])
        if pair is None:
            continue
        t_arm, c_arm = pair
        study = pkg.studies.set_index("study_id").loc[d["study_id"]]
        tps = pkg.timepoints[pkg.timepoints["study_id"] == d["study_id"]]
        obs = pkg.outcomes[(pkg.outcomes["study_id"] == d["study_id"])
                           & (pkg.outcomes["outcome_id"] == d["outcome_id"])]
        for _, tp in tps.iterrows():
            at_tp = obs[obs["timepoint_id"] == tp["timepoint_id"]]
            if at_tp.empty:
                continue
            t_row = at_tp[at_tp["arm_id"] == t_arm["arm_id"]]
            c_row = at_tp[at_tp["arm_id"] == c_arm["arm_id"]]
            t_row = t_row.iloc[0] if len(t_row) else None
            c_row = c_row.iloc[0] if len(c_row) else None
            base = {
                "study_id": d["study_id"], "study": study["label"], "year": study["year"],
                "scope": study["scope"], "outcome_id": d["outcome_id"], "outcome": d["name"],
                "review_role": d["review_role"], "direction": d["direction"],
                "kind": d["kind"], "timepoint_id": tp["timepoint_id"],
                "timepoint": tp["as_reported"], "window": tp["window"],
                "weeks": float(tp["weeks_from_start"]),
                "weeks_approximate": bool(tp["weeks_approximate"]),
            }
            bg = _p_value_row(pkg.between_group, d["study_id"], d["outcome_id"],
                              tp["timepoint_id"], t_arm["arm_id"], c_arm["arm_id"])
            for measure in ("MD", "SMD"):
                rec = dict(base, measure=measure,
                           vtype=smd_vtype if measure == "SMD" else "LS")
                rec.update(_one_effect(measure, t_row, c_row, t_arm, c_arm, bg, d,
                                       smd_vtype, p_dist))
                records.append(rec)
    out = pd.DataFrame.from_records(records, columns=EFFECT_COLUMNS)
    return out


def _not_estimable(reason: str, **known) -> dict:
    return dict({"estimable": False, "reason": reason, "how": "", "sd_recovered": False,
                 "yi": np.nan, "vi": np.nan, "se": np.nan, "ci_lb": np.nan,
                 "ci_ub": np.nan, "inferred": ()}, **known)


def _unique(pairs) -> tuple[tuple[str, str], ...]:
    """Inferred-value notes without repeats, in order (the same note of both arms once)."""
    return tuple(dict.fromkeys(pairs))


def _exact_p(bg: pd.Series | None) -> bool:
    """True when a between-group p-value is given exactly (not only as a bound)."""
    if bg is None or not _present(bg.get("p_value")):
        return False
    relation = bg.get("p_relation")
    return not _present(relation) or relation == "="


def _one_effect(measure, t_row, c_row, t_arm, c_arm, bg, definition, smd_vtype, p_dist):
    if t_row is None or c_row is None:
        return _not_estimable("Not estimable \u2014 one arm has no row at this time point")
    n_t = resolve_group_size(t_row, t_arm)
    n_c = resolve_group_size(c_row, c_arm)
    known = {"n_t": n_t.value if n_t else np.nan, "n_c": n_c.value if n_c else np.nan,
             "mean_t": t_row.get("mean"), "mean_c": c_row.get("mean"),
             "sd_t": np.nan, "sd_c": np.nan}
    known = {k: (float(v) if _present(v) else np.nan) for k, v in known.items()}
    if not (_present(t_row.get("mean")) and _present(c_row.get("mean"))):
        all_missing = all(
            not _present(r.get(f)) for r in (t_row, c_row) for f in ("mean", "sd", "se", "n")
        )
        reason = NO_PUBLIC_NUMBERS if all_missing else "Not estimable \u2014 a mean is missing"
        return _not_estimable(reason, **known)
    if n_t is None or n_c is None:
        return _not_estimable("Not estimable \u2014 group sizes not in the public record",
                              **known)
    m1, m2 = float(t_row["mean"]), float(c_row["mean"])
    n1, n2 = n_t.value, n_c.value
    inferred = list(_inferred(t_row, "mean", "means") + _inferred(c_row, "mean", "means"))
    how = [f"means {_status_phrase(t_row, 'mean')}",
           f"n = {n1:g}/{n2:g}: {n_t.how}" + ("" if n_t.how == n_c.how else f"; {n_c.how}")]
    sd1 = _arm_sd(t_row, n1)
    sd2 = _arm_sd(c_row, n2)
    sd_recovered = False
    if sd1 is not None and sd2 is not None:
        s1, s2 = sd1[0], sd2[0]
        how.append(sd1[1] if sd1[1] == sd2[1] else f"{sd1[1]} / {sd2[1]}")
        inferred += list(sd1[2] + sd2[2])
        if measure == "MD":
            eff = es.mean_difference(m1, s1, n1, m2, s2, n2, vtype="LS")
        else:
            eff = es.hedges_g(m1, s1, n1, m2, s2, n2, vtype=smd_vtype)
        known.update(sd_t=s1, sd_c=s2)
        yi, vi = float(np.ravel(eff.yi)[0]), float(np.ravel(eff.vi)[0])
        how.append(eff.description)
    elif _exact_p(bg) and m1 == m2:
        return _not_estimable("Not estimable \u2014 SD missing, and a p-value cannot give the "
                              "SE of a mean difference of 0", **known)
    elif _exact_p(bg) and float(bg["p_value"]) >= 1:
        return _not_estimable("Not estimable \u2014 SD missing, and p = 1 gives no SE", **known)
    elif _exact_p(bg):
        p = float(bg["p_value"])
        md = m1 - m2
        inferred += list(_inferred(bg, "p_value", "p-value"))
        se_d = es.se_of_difference_from_p(md, p, n1, n2, dist=p_dist)
        sd_p = es.pooled_sd_from_se_of_difference(float(se_d.value), n1, n2)
        sd_recovered = True
        how.append(f"SD not reported; p = {p:g} ({_status_phrase(bg, 'p_value')}); "
                   f"{se_d.how}; {sd_p.how}")
        s = float(sd_p.value)
        known.update(sd_t=s, sd_c=s)
        if measure == "MD":
            yi, vi = md, float(se_d.value) ** 2
            how.append("MD with SE recovered from the p-value")
        else:
            eff = es.hedges_g(m1, s, n1, m2, s, n2, vtype=smd_vtype)
            yi = float(np.ravel(eff.yi)[0])
            vi = float(np.ravel(eff.vi)[0])
            how.append(eff.description + ", with the recovered pooled SD in both arms")
    else:
        reason = "Not estimable \u2014 SD missing and no exact p-value to recover it"
        return _not_estimable(reason, **known)
    if measure == "SMD" and conventions.smd_sign(definition["direction"]) < 0:
        yi = conventions.oriented_smd(yi, definition["direction"])
        how.append(f"sign reversed so that positive favours {conventions.TREATMENT} "
                   "(higher is worse)")
    inferred += list(n_t.inferred + n_c.inferred)
    se = float(np.sqrt(vi))
    z = conventions.z_quantile(0.95)
    return dict(known, estimable=True, reason="", sd_recovered=sd_recovered, yi=yi, vi=vi,
                se=se, ci_lb=yi - z * se, ci_ub=yi + z * se, how="; ".join(how),
                inferred=_unique(inferred))


def reported_between_group(pkg) -> pd.DataFrame:
    """Between-group estimates printed by a trial or a secondary source, as stored.

    These are shown beside the effects computed from arm data (for example the
    Cochrane review's WMD for Gudeman 1997 next to the MD from the abstract's means),
    never pooled with them.
    """
    bg = pkg.between_group
    rows = bg[bg["estimate"].notna()].copy()
    studies = pkg.studies.set_index("study_id")["label"]
    rows.insert(1, "study", rows["study_id"].map(studies))
    return rows.reset_index(drop=True)


def binary_effects(pkg, *, measure: str = "RR") -> pd.DataFrame:
    """Risk ratio (or OR, RD) for outcomes reported as percentages of each arm.

    Event counts are not data here: they are derived as percentage × n, rounded
    (:func:`analysis.effect_sizes.events_from_percent`), and the ``how`` column says so.
    RR and OR are on the log scale (``yi``) with the back-transformed estimate and 95% CI
    beside them; the trial's own p-value, where reported, is shown for comparison.
    """
    functions = {"RR": es.risk_ratio, "OR": es.odds_ratio, "RD": es.risk_difference}
    if measure not in functions:
        raise ValueError(f"measure must be one of {sorted(functions)}, got {measure!r}")
    defs = pkg.outcome_definitions[pkg.outcome_definitions["kind"] == "proportion"]
    labels = pkg.studies.set_index("study_id")["label"]
    records = []
    for _, d in defs.iterrows():
        pair = _comparison_arms(pkg.arms, d["study_id"])
        if pair is None:
            continue
        t_arm, c_arm = pair
        obs = pkg.outcomes[(pkg.outcomes["study_id"] == d["study_id"])
                           & (pkg.outcomes["outcome_id"] == d["outcome_id"])]
        tps = pkg.timepoints[pkg.timepoints["study_id"] == d["study_id"]]
        for _, tp in tps.iterrows():
            t_row = obs[(obs["timepoint_id"] == tp["timepoint_id"]) & (obs["arm_id"] == t_arm["arm_id"])]
            c_row = obs[(obs["timepoint_id"] == tp["timepoint_id"]) & (obs["arm_id"] == c_arm["arm_id"])]
            if t_row.empty or c_row.empty:
                continue
            t_row, c_row = t_row.iloc[0], c_row.iloc[0]
            rec = {"study": labels[d["study_id"]], "outcome": d["name"],
                   "timepoint": tp["as_reported"], "window": tp["window"], "measure": measure}
            n_t, n_c = resolve_group_size(t_row, t_arm), resolve_group_size(c_row, c_arm)
            events = []
            for row, n in ((t_row, n_t), (c_row, n_c)):
                if _present(row.get("events")) and n is not None:
                    events.append((float(row["events"]), f"events {_status_phrase(row, 'events')}"))
                elif _present(row.get("percent")) and n is not None:
                    derived = es.events_from_percent(float(row["percent"]), n.value)
                    events.append((float(derived.value), derived.how))
                else:
                    events.append(None)
            bg = _p_value_row(pkg.between_group, d["study_id"], d["outcome_id"],
                              tp["timepoint_id"], t_arm["arm_id"], c_arm["arm_id"])
            rec["reported_p"] = float(bg["p_value"]) if bg is not None and _present(bg.get("p_value")) else np.nan
            if None in events:
                rec.update(estimable=False, how="", reason=NO_PUBLIC_NUMBERS)
                records.append(rec)
                continue
            (a, how_a), (c, how_c) = events
            eff = functions[measure](a, n_t.value, c, n_c.value)
            yi, vi = float(np.ravel(eff.yi)[0]), float(np.ravel(eff.vi)[0])
            se = np.sqrt(vi)
            z = conventions.z_quantile(0.95)
            back = np.exp if measure in {"RR", "OR"} else (lambda x: x)
            rec.update(percent_t=t_row.get("percent"), n_t=n_t.value, events_t=a,
                       percent_c=c_row.get("percent"), n_c=n_c.value, events_c=c,
                       yi=yi, vi=vi, estimate=back(yi), ci_lb=back(yi - z * se),
                       ci_ub=back(yi + z * se), pval=2 * norm.sf(abs(yi) / se),
                       estimable=True, reason="",
                       how=f"{how_a}; {how_c}; n: {n_t.how}; {eff.description}")
            records.append(rec)
    return pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------- the tables
# Everything later steps need from the data package is built here, once, as plain
# tables; no function after this step takes the package.


def study_table(pkg) -> pd.DataFrame:
    """One row per trial: the columns of ``studies.csv`` with the label also as ``study``,
    the number of arms, and the randomised size of the treatment and control arms
    (``n_t``, ``n_c``, with their status), where the record gives them."""
    studies = pkg.studies.copy()
    studies.insert(1, "study", studies["label"])
    arms = pkg.arms
    studies["n_arms"] = studies["study_id"].map(arms.groupby("study_id").size()).fillna(0)
    for role, col in (("treatment", "n_t"), ("control", "n_c")):
        sel = arms[arms["role"] == role].drop_duplicates("study_id").set_index("study_id")
        studies[col] = studies["study_id"].map(sel["n_randomised"])
        studies[f"{col}_status"] = studies["study_id"].map(sel["n_randomised_status"])
    return studies


def arm_table(pkg) -> pd.DataFrame:
    """``arms.csv`` with each trial's label as ``study``."""
    labels = pkg.studies.set_index("study_id")["label"]
    arms = pkg.arms.copy()
    arms.insert(1, "study", arms["study_id"].map(labels))
    return arms


def outcome_table(pkg) -> pd.DataFrame:
    """``outcome_definitions.csv`` with each trial's label (``study``) and scope."""
    studies = pkg.studies.set_index("study_id")
    out = pkg.outcome_definitions.copy()
    out.insert(1, "study", out["study_id"].map(studies["label"]))
    out.insert(2, "scope", out["study_id"].map(studies["scope"]))
    return out


def arm_time_course(pkg, *, level: float = 0.95) -> pd.DataFrame:
    """Mean change of each arm at each time point, with a t-based CI, where the record
    gives arm means, SDs and group sizes (the review's primary outcomes only).

    CI = mean ± t(1 − α/2, n − 1) · SD / √n, the usual CI of a single mean; n is the
    arm's n at that time point, else its n analysed, else n randomised
    (:func:`resolve_group_size`). ``weeks_of_treatment`` is the trial's treatment period.
    """
    defs = pkg.outcome_definitions
    primary = defs[(defs["review_role"] == "primary") & (defs["kind"] == "change_from_baseline")]
    keys = ["study_id", "outcome_id"]
    obs = pkg.outcomes.merge(primary[keys + ["name"]], on=keys)
    obs = obs[obs["mean"].notna() & obs["sd"].notna()]
    obs = obs.merge(pkg.timepoints, on=["study_id", "timepoint_id"])
    arms = pkg.arms.set_index(["study_id", "arm_id"])
    studies = pkg.studies.set_index("study_id")
    records = []
    for _, r in obs.iterrows():
        arm = arms.loc[(r["study_id"], r["arm_id"])]
        n = resolve_group_size(r, arm)
        if n is None:
            continue
        half = StudentT(n.value - 1).ppf(0.5 + level / 2) * r["sd"] / np.sqrt(n.value)
        records.append({
            "study_id": r["study_id"], "study": studies.loc[r["study_id"], "label"],
            "outcome": r["name"], "arm": _arm_name(arm), "role": arm["role"],
            "timepoint_id": r["timepoint_id"], "window": r["window"],
            "weeks": float(r["weeks_from_start"]),
            "weeks_approximate": bool(r["weeks_approximate"]),
            "weeks_of_treatment": float(studies.loc[r["study_id"], "weeks_of_treatment"]),
            "mean": float(r["mean"]), "sd": float(r["sd"]), "n": n.value,
            "ci_lb": float(r["mean"] - half), "ci_ub": float(r["mean"] + half),
        })
    columns = ["study_id", "study", "outcome", "arm", "role", "timepoint_id", "window", "weeks",
               "weeks_approximate", "weeks_of_treatment", "mean", "sd", "n", "ci_lb", "ci_ub"]
    return pd.DataFrame.from_records(records, columns=columns)


def _arm_name(arm: pd.Series) -> str:
    return {"treatment": conventions.TREATMENT, "control": conventions.CONTROL}.get(
        arm["role"], arm.name[1])


def findings_table(pkg) -> pd.DataFrame:
    """``findings.csv`` (results reported only in words) with the names a reader needs:
    the trial's label and scope, the outcome's name, the time point as reported, and the
    label and role of the arm and of the arm it is compared with."""
    studies = pkg.studies.set_index("study_id")
    defs = pkg.outcome_definitions.set_index(["study_id", "outcome_id"])["name"]
    tps = pkg.timepoints.set_index(["study_id", "timepoint_id"])["as_reported"]
    arms = pkg.arms.set_index(["study_id", "arm_id"])
    f = pkg.findings.copy()

    def lookup(series, keys, missing):
        return [series.get(k, k[1]) if pd.notna(k[1]) else missing for k in keys]

    pairs = list(zip(f["study_id"], f["outcome_id"]))
    f["study"] = f["study_id"].map(studies["label"])
    f["scope"] = f["study_id"].map(studies["scope"])
    f["outcome"] = lookup(defs, pairs, "outcome not specified")
    f["when"] = lookup(tps, list(zip(f["study_id"], f["timepoint_id"])), "time point not stated")
    arm_keys = list(zip(f["study_id"], f["arm_id"]))
    f["arm_label"] = [arms.loc[k, "label"] for k in arm_keys]
    f["arm_role"] = [arms.loc[k, "role"] for k in arm_keys]
    versus = list(zip(f["study_id"], f["versus_arm_id"]))
    f["versus_label"] = [arms.loc[k, "label"] if pd.notna(k[1]) else None for k in versus]
    f["versus_role"] = [arms.loc[k, "role"] if pd.notna(k[1]) else None for k in versus]
    return f


def effect_size_variants(pkg, *, vtypes=("LS", "UB", "RevMan5"), p_dists=("t", "normal")):
    """The review's primary SMDs under each named SMD-variance formula and p-value
    distribution, side by side (one row per trial × time point × choice)."""
    parts = []
    for vtype in vtypes:
        for p_dist in p_dists:
            eff = continuous_effects(pkg, smd_vtype=vtype, p_dist=p_dist)
            eff = eff[(eff["measure"] == "SMD") & eff["estimable"]
                      & (eff["review_role"] == "primary")]
            if p_dist != p_dists[0] and not eff["sd_recovered"].any():
                continue
            parts.append(eff.assign(smd_variance=vtype, p_to_se=p_dist)[
                ["study", "timepoint", "smd_variance", "p_to_se", "sd_recovered", "yi", "vi",
                 "ci_lb", "ci_ub"]])
    out = pd.concat(parts, ignore_index=True)
    # the p-value distribution only matters where an SD was recovered from a p-value
    keep = out["sd_recovered"] | (out["p_to_se"] == p_dists[0])
    return out[keep].sort_values(["study", "timepoint", "smd_variance", "p_to_se"]).reset_index(
        drop=True)


@dataclass(frozen=True, eq=False)
class ReviewTables:
    """Every table the later steps need, built once from the data package.

    ``effects`` (:func:`continuous_effects`), ``binary`` (:func:`binary_effects`, risk
    ratios), ``studies`` (:func:`study_table`), ``arms`` (:func:`arm_table`),
    ``outcomes`` (:func:`outcome_table`), ``arm_course`` (:func:`arm_time_course`),
    ``reported`` (:func:`reported_between_group`), ``findings`` (:func:`findings_table`),
    ``timepoints`` (as in the data), the appraisal tables as in the data
    (``risk_of_bias``, ``pedro_ratings``, ``minimal_important_differences``), and the
    effect-size choices they were built with.
    """

    effects: pd.DataFrame
    binary: pd.DataFrame
    studies: pd.DataFrame
    arms: pd.DataFrame
    outcomes: pd.DataFrame
    arm_course: pd.DataFrame
    reported: pd.DataFrame
    findings: pd.DataFrame
    timepoints: pd.DataFrame
    risk_of_bias: pd.DataFrame
    pedro_ratings: pd.DataFrame
    minimal_important_differences: pd.DataFrame
    smd_vtype: str = "LS"
    p_dist: str = "t"


def review_tables(pkg, *, smd_vtype: str = "LS", p_dist: str = "t") -> ReviewTables:
    """Build every table of :class:`ReviewTables` from a validated data package."""
    return ReviewTables(
        effects=continuous_effects(pkg, smd_vtype=smd_vtype, p_dist=p_dist),
        binary=binary_effects(pkg),
        studies=study_table(pkg),
        arms=arm_table(pkg),
        outcomes=outcome_table(pkg),
        arm_course=arm_time_course(pkg),
        reported=reported_between_group(pkg),
        findings=findings_table(pkg),
        timepoints=pkg.timepoints.copy(),
        risk_of_bias=pkg.risk_of_bias.copy(),
        pedro_ratings=pkg.pedro_ratings.copy(),
        minimal_important_differences=pkg.minimal_important_differences.copy(),
        smd_vtype=smd_vtype,
        p_dist=p_dist,
    )
