"""Every committed figure, built from the data package alone.

Each figure is a function ``(pkg, choices) -> FigureSpec`` holding the matplotlib
Figure and the table of exactly the numbers it plots; :func:`write_figures` saves
``figures/<name>.png`` (300 dpi), ``.svg`` and ``.csv``. The notebooks call the same
functions, so a figure in a notebook and in ``figures/`` cannot differ.

Analytic choices (estimator, CI method, SMD variance) are a :class:`Choices` value;
the committed figures use the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.forest import favours_labels, forest_plot
from analysis.plots import catchup_chart, figure_style, save_figure
from analysis.pooling import pool_batch
from analysis.timecourse import (
    SCOPE_LABELS,
    WINDOW_LABELS,
    arm_time_course,
    pooled_by_window,
    primary_effects,
)
from analysis.trial_effects import continuous_effects, reported_between_group

#: Trials in the forest plots' subgroups; pooling across them is not defensible
#: (different condition), so no overall line is drawn, only the subgroup test.
FOREST_SCOPES = ("running_injury", "other_tendinopathy")


@dataclass(frozen=True)
class Choices:
    """Analytic choices; the defaults are the review's primary analysis."""

    method: str = "REML"
    knha: bool = False
    smd_vtype: str = "LS"
    p_dist: str = "t"

    @property
    def common_effect(self) -> bool:
        return self.method.upper() in {"FE", "EE", "CE"}

    def model_text(self) -> str:
        """RevMan's column heading: inverse variance, fixed or random, 95% CI."""
        return f"IV, {'Fixed' if self.common_effect else 'Random'}, 95% CI"

    def method_text(self) -> str:
        ci = "Hartung\u2013Knapp CI" if self.knha else "Wald-type CI"
        if self.common_effect:
            return f"Common effect (inverse variance), {ci}"
        return f"{self.method} \u03c4\u00b2, {ci}"


@dataclass
class FigureSpec:
    name: str
    figure: Figure
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _not_shown_note(pkg, shown: set[str]) -> str:
    studies = pkg.studies
    rest = studies[~studies["study_id"].isin(shown)]
    if rest.empty:
        return ""
    labels = ", ".join(rest["label"])
    return (f"Not shown (no outcome at these time points in the public record): {labels}; "
            "see the effect-direction table.")


def forest_tables(sel: pd.DataFrame, *, choices: Choices, by: str = "scope",
                  order=FOREST_SCOPES, labels=SCOPE_LABELS):
    """Rows, subtotal summaries and the subgroup test for one forest plot.

    ``sel`` holds the effect rows to show (one per trial, already filtered to one
    measure, outcome choice and window); ``by`` names the column that defines the
    subgroups, shown in ``order`` with ``labels``. Pools the estimable trials of each
    subgroup (one batch call), then tests the difference between subgroup estimates
    with the common-effect Q across subtotals (RevMan 5's test for subgroup
    differences).
    """
    sel = sel[sel[by].isin(order)]
    sel = sel.assign(_order=sel[by].map({s: i for i, s in enumerate(order)}))
    sel = sel.sort_values(["_order", "year", "study"]).drop(columns="_order")
    ok = sel[sel["estimable"]]
    summary = pd.DataFrame(columns=["group"])
    weights = pd.Series(np.nan, index=sel.index)
    if len(ok):
        res = pool_batch(ok["yi"].to_numpy(float), ok["vi"].to_numpy(float),
                         ok[by].to_numpy(), method=choices.method, knha=choices.knha)
        summary = res.summary
        weights.loc[ok.index] = 100.0 * res.weights
    markers, footnotes = _markers(sel)
    # a subgroup whose tau2 estimator did not converge has no weights (pool_batch gives NaN):
    # its trials are shown with a note, their estimates stay in the table
    unpooled = sel["estimable"].astype(bool) & weights.isna()
    rows = pd.DataFrame({
        "subgroup": sel[by].map(labels),
        "study": sel["study"],
        "mean_t": sel["mean_t"], "sd_t": sel["sd_t"], "n_t": sel["n_t"],
        "mean_c": sel["mean_c"], "sd_c": sel["sd_c"], "n_c": sel["n_c"],
        "estimate": sel["yi"], "ci_lb": sel["ci_lb"], "ci_ub": sel["ci_ub"],
        "weight": weights, "estimable": sel["estimable"].astype(bool) & ~unpooled,
        "note": sel["reason"].where(~unpooled, f"Not pooled: the {choices.method} estimator of "
                                               "\u03c4\u00b2 did not converge"),
        "marker": markers, "outcome": sel["outcome"],
        "timepoint": sel["timepoint"], "weeks": sel["weeks"], "how": sel["how"],
    }).reset_index(drop=True)
    summaries = []
    for key in order:
        members = sel[sel[by] == key]
        if members.empty:
            continue
        est = members[members["estimable"]]
        rec = {"subgroup": labels[key], "label": "Subtotal (95% CI)",
               "n_t": est["n_t"].sum() if len(est) else np.nan,
               "n_c": est["n_c"].sum() if len(est) else np.nan,
               "method": choices.method_text()}
        s = summary[summary["group"] == key]
        if len(s):
            r = s.iloc[0]
            rec.update({
                "estimate": r["estimate"], "se": r["se"], "ci_lb": r["ci_lb"],
                "ci_ub": r["ci_ub"], "pi_lb": r["pi_lb"], "pi_ub": r["pi_ub"],
                "weight": 100.0, "k": int(r["k"]),
                "tau2": np.nan if choices.common_effect else r["tau2"], "q": r["q"],
                "q_df": r["q_df"], "q_pval": r["q_pval"], "i2": r["i2"],
                "stat_name": "t" if choices.knha else "Z", "stat": r["stat"],
                "stat_df": r["df"] if choices.knha else np.nan, "pval": r["pval"],
            })
        else:
            rec.update({"estimate": np.nan, "se": np.nan, "ci_lb": np.nan, "ci_ub": np.nan,
                        "pi_lb": np.nan, "pi_ub": np.nan, "weight": np.nan, "k": 0})
        summaries.append(rec)
    summaries = pd.DataFrame.from_records(summaries)
    subgroup_test = None
    est = summaries.dropna(subset=["estimate"]) if len(summaries) else summaries
    if len(est) >= 2:
        test = pool_batch(est["estimate"].to_numpy(float), est["se"].to_numpy(float) ** 2,
                          method="FE", i2_method="q").summary.iloc[0]
        subgroup_test = {"q": test["q"], "df": int(test["q_df"]), "pval": test["q_pval"],
                         "i2": test["i2"]}
    return rows, summaries, subgroup_test, footnotes


def _markers(sel: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Footnote letters for rows whose numbers were recovered or inferred."""
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    markers, notes = [], []
    seen: dict[tuple[str, str], str] = {}
    for _, r in sel.iterrows():
        text = ""
        if r["estimable"] and r["sd_recovered"]:
            text = ("SD not reported: pooled SD recovered from the between-group p-value "
                    "and group sizes (Cochrane Handbook 6.5.2.3)")
        elif r["estimable"] and "inferred" in str(r["how"]):
            text = ("SDs and group sizes inferred, not printed: '\u00b1' read as SD and a "
                    "20/20 split of the 40 feet, which reproduces the Cochrane review's CI "
                    "(so would 26/14)")
        key = (r["study"], text)
        if text and key not in seen:
            seen[key] = next(letters)
            notes.append(f"{seen[key]} {r['study']}: {text}.")
        markers.append(seen.get(key, ""))
    return markers, notes


def forest_figure(pkg, effects: pd.DataFrame, *, window: str, measure: str = "SMD",
                  choices: Choices = Choices()) -> FigureSpec | None:
    """Forest plot of the review's primary outcome in one time window (None: no trial in it)."""
    sel = effects[(effects["measure"] == measure) & (effects["window"] == window)
                  & (effects["review_role"] == "primary")]
    rows, summaries, sg_test, footnotes = forest_tables(sel, choices=choices)
    if rows.empty:
        return None
    direction = "higher_is_better"  # SMDs are oriented so that positive favours treatment
    left, right = favours_labels(direction)
    label = f"{'Std. mean' if measure == 'SMD' else 'Mean'} difference\n{choices.model_text()}"
    footnotes = list(footnotes)
    note = _not_shown_note(pkg, set(rows_study_ids(effects, rows)))
    if note:
        footnotes.append(note)
    footnotes.append("Pooling across subgroups is not defensible (different conditions): "
                     "no overall estimate; the test for subgroup differences is shown.")
    title = (f"Dexamethasone vs placebo iontophoresis: primary outcome, "
             f"{WINDOW_LABELS[window].lower()} (SMD, positive favours dexamethasone)")
    with figure_style():
        fig = forest_plot(rows, summaries, subgroup_test=sg_test, effect_label=label,
                          favours_left=left, favours_right=right, title=title,
                          footnotes=footnotes)
    table = _forest_csv(rows, summaries, sg_test)
    return FigureSpec(f"forest_{measure.lower()}_{window}", fig, table)


def rows_study_ids(effects: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    return list(effects.loc[effects["study"].isin(rows["study"]), "study_id"].unique())


def _forest_csv(rows, summaries, sg_test) -> pd.DataFrame:
    a = rows.drop(columns=["how"]).assign(row_type="study")
    b = summaries.assign(row_type="subtotal", study=summaries.get("label"))
    parts = [a, b]
    if sg_test:
        parts.append(pd.DataFrame([{"row_type": "subgroup_difference_test",
                                    "q": sg_test["q"], "q_df": sg_test["df"],
                                    "q_pval": sg_test["pval"], "i2": sg_test["i2"]}]))
    out = pd.concat(parts, ignore_index=True, sort=False)
    first = ["row_type", "subgroup", "study"]
    return out[first + [c for c in out.columns if c not in first]]


def md_forest_figure(pkg, effects: pd.DataFrame, *, outcome_id: str = "maryland_foot_score",
                     choices: Choices = Choices()) -> FigureSpec | None:
    """MD forest plot on one shared scale (the Maryland Foot Score), both windows as
    subgroups; the Cochrane review's re-analysed WMD is in a footnote beside it (None: no
    trial has the outcome in either window)."""
    sel = effects[(effects["measure"] == "MD") & (effects["outcome_id"] == outcome_id)
                  & effects["window"].isin(WINDOW_LABELS)]
    rows, summaries, _, footnotes = forest_tables(
        sel, choices=choices, by="window", order=tuple(WINDOW_LABELS), labels=WINDOW_LABELS)
    if rows.empty:
        return None
    outcome = sel["outcome"].iloc[0]
    direction = sel["direction"].iloc[0]
    left, right = favours_labels(direction)
    cochrane = reported_between_group(pkg)
    cochrane = cochrane[cochrane["outcome_id"] == outcome_id]
    for _, r in cochrane.iterrows():
        mine = sel[(sel["study_id"] == r["study_id"]) & (sel["timepoint_id"] == r["timepoint_id"])]
        computed = (f"; the abstract's means give {float(mine['yi'].iloc[0]):.2f}"
                    if len(mine) and mine["estimable"].iloc[0] else "")
        footnotes.append(
            f"{r['estimate_source']}: WMD {r['estimate']:.2f} [{r['ci_lower']:.2f}, "
            f"{r['ci_upper']:.2f}] ({r['estimate_status']}) for {r['study']}, "
            f"{mine['timepoint'].iloc[0] if len(mine) else r['timepoint_id']}{computed}. "
            "Unresolved, so both are reported.")
    footnotes.append("Only Gudeman 1997 reports this scale; the other running-injury trials "
                     "used other instruments (see the SMD forest plots).")
    with figure_style():
        fig = forest_plot(rows, summaries, effect_label=f"Mean difference\n{choices.model_text()}",
                          favours_left=left, favours_right=right,
                          title=f"{outcome}: mean difference, dexamethasone vs placebo",
                          footnotes=footnotes)
    return FigureSpec(f"forest_md_{outcome_id}", fig, _forest_csv(rows, summaries, None))


def catchup_figure(pkg, effects: pd.DataFrame, choices: Choices = Choices()) -> FigureSpec:
    """The catch-up-at-one-month chart (panels A and B) and its numbers."""
    arms = arm_time_course(pkg)
    prim = primary_effects(effects, "SMD")
    est = prim[prim["estimable"]]
    eff = pd.DataFrame({
        "study": est["study"], "group": est["scope"].map(_short_scope),
        "weeks": est["weeks"], "weeks_approximate": est["weeks_approximate"],
        "estimate": est["yi"], "ci_lb": est["ci_lb"], "ci_ub": est["ci_ub"],
        "separated": est["scope"] != "running_injury",
    })
    pooled = pooled_by_window(effects, measure="SMD", method=choices.method, knha=choices.knha)
    pooled = pooled[(pooled["scope"] == "running_injury") & pooled["estimate"].notna()]
    ne_all = effects[(effects["measure"] == "SMD") & (effects["review_role"] == "primary")
                     & ~effects["estimable"] & (effects["window"] != "baseline")]
    ne = ne_all.drop_duplicates(["study", "weeks"]).rename(columns={"timepoint": "label"})[
        ["study", "weeks", "weeks_approximate", "label"]]
    fig = catchup_chart(arms, eff, pooled[["window", "weeks", "estimate", "ci_lb", "ci_ub", "k"]],
                        ne)
    table = pd.concat([
        arms.assign(panel="A", quantity="mean change from baseline")[
            ["panel", "quantity", "study", "arm", "weeks", "weeks_approximate", "mean",
             "ci_lb", "ci_ub", "n"]].rename(columns={"mean": "estimate"}),
        eff.assign(panel="B", quantity="SMD (Hedges' g)"),
        pooled.assign(panel="B", quantity="pooled SMD, running injuries",
                      study="Pooled (" + pooled["k"].astype(int).astype(str) + " trial(s))")[
            ["panel", "quantity", "study", "window", "weeks", "estimate", "ci_lb", "ci_ub", "k"]],
        ne.assign(panel="B", quantity="not estimable (time point measured, no public numbers)"),
    ], ignore_index=True, sort=False)
    return FigureSpec("catchup_one_month", fig, table)


def _short_scope(scope: str) -> str:
    return {"running_injury": "running injury", "other_tendinopathy": "elbow, comparison"}.get(
        scope, scope)


def all_figures(pkg, choices: Choices = Choices()) -> list[FigureSpec]:
    """Every figure of the review, in reading order; a forest plot with no trial to show
    (the data place none in its window) is left out."""
    effects = continuous_effects(pkg, smd_vtype=choices.smd_vtype, p_dist=choices.p_dist)
    specs = [
        forest_figure(pkg, effects, window="end_of_treatment", choices=choices),
        forest_figure(pkg, effects, window="about_one_month", choices=choices),
        md_forest_figure(pkg, effects, choices=choices),
        catchup_figure(pkg, effects, choices=choices),
    ]
    return [s for s in specs if s is not None]


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """CSV with a fixed float format, so regenerated files compare byte for byte."""
    table.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
    return path


def write_figures(pkg, out_dir: Path | str = "figures", choices: Choices = Choices()) -> list[Path]:
    """Build every figure and write PNG, SVG and the CSV of its numbers; return the paths."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for spec in all_figures(pkg, choices):
        written += save_figure(spec.figure, out_dir / spec.name)
        written.append(write_table(spec.table, out_dir / f"{spec.name}.csv"))
        plt.close(spec.figure)
    return written
