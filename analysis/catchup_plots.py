"""Figures for "does the placebo group catch up?" (:mod:`analysis.catchup`).

Each function is a pure function of the tables :mod:`analysis.catchup` returns and gives
``(Figure, table)``: a :class:`matplotlib.figure.Figure` made without pyplot (so no
backend is touched) and a DataFrame of exactly the numbers drawn. They compute no
statistic; they choose, place and label. Artists carry gids (``catchup:...``) so tests
and readers can find what was drawn.

* :func:`catchup_inference`: Δ (one month − end of treatment) with its 95% CI against
  the assumed within-patient correlation ρ; one MD panel per trial on its own scale and
  one SMD panel with every trial; the ρ range where the CI excludes 0 is shaded and its
  root marked.
* :func:`equivalence_one_month`: each trial's one-month estimate with its 90% and 95%
  CIs against the ±margin band, or the smallest margin that would show equivalence.
* :func:`threshold_missing_trials`: the pooled SMD and CI as a function of the
  hypothetical SMD of each trial without public numbers, one column per time point,
  thresholds marked and labelled.

Style: :data:`analysis.plots.STYLE` (via :func:`analysis.plots.figure_style`) and the
Okabe-Ito :data:`analysis.plots.COLOURS`; lines also differ by style and marker, and
shaded regions carry hatching, so the figures read in greyscale.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis.conventions import SCOPE_SHORT, WINDOW_LABELS
from analysis.plots import COLOURS, figure_style

__all__ = ["catchup_inference", "equivalence_one_month", "threshold_missing_trials"]

WINDOW_TITLES = WINDOW_LABELS
SCOPE_WORDS = {**SCOPE_SHORT, "other_tendinopathy": "elbow, separate comparison"}
#: Grey of the shading that marks where a conclusion holds.
SHADE = "#DADADA"
MINUS = "\u2212"


def _num(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}".replace("-", MINUS)


def _trial_colour(scope: str) -> str:
    return COLOURS["comparison"] if scope == "other_tendinopathy" else COLOURS["treatment"]


def _trial_style(scope: str) -> dict:
    if scope == "other_tendinopathy":
        return {"ls": "--", "marker": "D", "hatch": "\\\\\\"}
    return {"ls": "-", "marker": "s", "hatch": "///"}


def _require(table: pd.DataFrame, columns, argument: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{argument} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{argument} lacks the column(s) {', '.join(missing)}")
    if table.empty:
        raise ValueError(f"{argument} is empty: nothing to draw")


# --------------------------------------------------------------------------- Δ against ρ

_CURVE_COLUMNS = ("study_id", "study", "scope", "outcome_id", "outcome", "measure",
                  "covariance", "rho", "change", "ci_lb", "ci_ub", "level")
_ROOT_COLUMNS = ("study_id", "outcome_id", "measure", "rho_roots", "rho_excludes_zero",
                 "rho_statement")


def catchup_inference(curve: pd.DataFrame, roots: pd.DataFrame, *,
                      units: Mapping[str, str] | None = None) -> tuple[Figure, pd.DataFrame]:
    """Δ = effect at about one month − effect at the end of treatment, with its 95% CI,
    against the assumed within-patient correlation ρ.

    ``curve``: :func:`analysis.catchup.change_in_effect_table`; ``roots``:
    :func:`analysis.catchup.rho_thresholds` (same trials and covariance variants).
    One panel per trial for the MD (its own scale; ``units`` maps outcome_id → units
    for the axis label) and one SMD panel with every trial. The ρ range where the CI
    excludes 0 is shaded and hatched, each root marked on the zero line and labelled.
    Returns the figure and a table with one row per plotted point: ``panel, study,
    measure, covariance, element`` (``"change"`` for the curve, ``"root"`` for a root),
    ``rho, change, ci_lb, ci_ub`` (curve) and ``marker_y`` (0 for a root's marker).
    """
    _require(curve, _CURVE_COLUMNS, "curve")
    _require(roots, _ROOT_COLUMNS, "roots")
    units = dict(units or {})
    keys = ["study_id", "outcome_id"]
    trials = curve[keys + ["study", "scope", "outcome"]].drop_duplicates(keys)
    md_trials = [t for _, t in trials.iterrows()
                 if ((curve["study_id"] == t["study_id"]) & (curve["measure"] == "MD")).any()]
    has_smd = (curve["measure"] == "SMD").any()
    panels = [("MD", [t]) for t in md_trials]
    if has_smd:
        panels.append(("SMD", [t for _, t in trials.iterrows()]))
    n = len(panels)
    records = []
    with figure_style():
        fig = Figure(figsize=(3.8 * n + 0.4, 4.9))
        axes = fig.subplots(1, n, squeeze=False)[0]
        for i, (ax, (measure, members)) in enumerate(zip(axes, panels)):
            letter = chr(ord("A") + i)
            if measure == "MD":
                t = members[0]
                u = units.get(t["outcome_id"], "")
                scope = SCOPE_WORDS.get(t["scope"], t["scope"])
                panel = f"{letter}. {t['study']}: MD"
                outcome = str(t["outcome"]).split(",")[0]
                ax.set_title(f"{panel}\n{outcome} ({scope})", loc="left", fontweight="bold",
                             fontsize=9.5)
                ax.set_ylabel(f"Change in MD{f' ({u})' if u else ''}\n"
                              "one month \u2212 end of treatment")
            else:
                panel = f"{letter}. All trials: SMD"
                ax.set_title(f"{panel}\nHedges' g, positive favours dexamethasone",
                             loc="left", fontweight="bold", fontsize=9.5)
                ax.set_ylabel("Change in SMD\none month \u2212 end of treatment")
            ax.axhline(0, color="#333333", lw=0.9, zorder=2)
            handles = []
            for m_index, t in enumerate(members):
                sel = curve[(curve["study_id"] == t["study_id"])
                            & (curve["outcome_id"] == t["outcome_id"])
                            & (curve["measure"] == measure)].sort_values("rho")
                if sel.empty:
                    continue
                colour = _trial_colour(t["scope"])
                style = _trial_style(t["scope"])
                rho = sel["rho"].to_numpy(float)
                ax.fill_between(rho, sel["ci_lb"], sel["ci_ub"], color=colour, alpha=0.16,
                                lw=0, zorder=1, gid=f"catchup:band:{t['study_id']}:{measure}")
                for bound in ("ci_lb", "ci_ub"):
                    ax.plot(rho, sel[bound], color=colour, lw=1.1, ls=style["ls"], zorder=3,
                            gid=f"catchup:{bound}:{t['study_id']}:{measure}")
                ax.plot(rho, sel["change"], color=colour, lw=2.0, ls=style["ls"], zorder=3,
                        gid=f"catchup:change:{t['study_id']}:{measure}")
                level = float(sel["level"].iloc[0])
                for _, r in sel.iterrows():
                    records.append({"panel": panel, "study": t["study"], "measure": measure,
                                    "covariance": r["covariance"], "element": "change",
                                    "rho": r["rho"], "change": r["change"],
                                    "ci_lb": r["ci_lb"], "ci_ub": r["ci_ub"],
                                    "marker_y": np.nan})
                rt = roots[(roots["study_id"] == t["study_id"])
                           & (roots["outcome_id"] == t["outcome_id"])
                           & (roots["measure"] == measure)]
                label = t["study"] if measure == "SMD" else "change"
                handles.append(Line2D([], [], color=colour, lw=2.0, ls=style["ls"],
                                      label=f"{label} (line) with {level:.0%} CI (band)"))
                if rt.empty:
                    continue
                r0 = rt.iloc[0]
                for a, b in r0["rho_excludes_zero"]:
                    ax.axvspan(a, b, facecolor="none", edgecolor=colour, hatch=style["hatch"],
                               lw=0, alpha=0.45, zorder=0,
                               gid=f"catchup:excludes_zero:{t['study_id']}:{measure}")
                for x in r0["rho_roots"]:
                    ax.plot([x], [0.0], ls="none", marker="o", ms=7, mfc="white",
                            mec=colour, mew=1.8, zorder=5,
                            gid=f"catchup:root:{t['study_id']}:{measure}")
                    ax.axvline(x, color=colour, lw=0.9, ls=":", zorder=2)
                    up = m_index % 2 == 0
                    ax.annotate(f"\u03c1 = {x:.3f}", (x, 0.0),
                                xytext=(-7, 9) if up else (7, -11), textcoords="offset points",
                                ha="right" if up else "left", va="bottom" if up else "top",
                                fontsize=8, color="#222222",
                                bbox={"boxstyle": "round,pad=0.12", "fc": "white",
                                      "ec": "none", "alpha": 0.85}, zorder=6)
                    records.append({"panel": panel, "study": t["study"], "measure": measure,
                                    "covariance": r0.get("covariance", ""), "element": "root",
                                    "rho": float(x), "change": np.nan, "ci_lb": np.nan,
                                    "ci_ub": np.nan, "marker_y": 0.0})
                text = "CI excludes 0 " + str(r0["rho_statement"]).replace("rho", "\u03c1")
                label = text if measure == "MD" else f"{t['study']}: {text}"
                if len(r0["rho_excludes_zero"]):
                    handles.append(Patch(facecolor="white", edgecolor=colour,
                                         hatch=style["hatch"], label=label))
                else:
                    handles.append(Line2D([], [], ls="none", label=label))
            ax.set_xlim(0, 0.95)
            ax.set_xlabel("Assumed within-patient correlation \u03c1\nbetween the two time points")
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.26),
                      frameon=False, fontsize=7.8)
        fig.subplots_adjust(left=0.08, right=0.985, top=0.86, bottom=0.36, wspace=0.42)
    return fig, pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------- equivalence

_EQ_COLUMNS = ("study", "scope", "outcome", "units", "measure", "estimate", "ci_lb", "ci_ub",
               "ci95_lb", "ci95_ub", "margin", "margin_source", "p_tost", "equivalent",
               "smallest_margin", "alpha")


def equivalence_one_month(equivalence: pd.DataFrame) -> tuple[Figure, pd.DataFrame]:
    """Each trial's estimate at about one month with its 90% (thick) and 95% (thin) CIs,
    on the outcome's own scale, one panel per trial.

    ``equivalence``: :func:`analysis.catchup.equivalence_at_one_month`. Where a margin is
    given, the band −margin to +margin is shaded and the TOST result written beside it;
    where none is, the smallest margin that would show equivalence (the larger absolute
    bound of the 90% CI) is marked by two dashed lines. Returns the figure and a table of
    the plotted numbers: ``study, measure, units, estimate, ci_lb, ci_ub`` (1 − 2α),
    ``ci95_lb, ci95_ub, margin, smallest_margin, p_tost`` (written in the panel's note
    where a margin is given), ``shown`` (``"margin band"`` or
    ``"smallest margin"``).
    """
    _require(equivalence, _EQ_COLUMNS, "equivalence")
    rows = list(equivalence.iterrows())
    records = []
    with figure_style():
        fig = Figure(figsize=(7.4, 1.2 + 1.7 * len(rows)))
        axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
        for ax, (_, r) in zip(axes, rows):
            colour = _trial_colour(r["scope"])
            style = _trial_style(r["scope"])
            unit = r["units"] if r["measure"] == "MD" else "SD units"
            has_margin = pd.notna(r["margin"])
            half = float(r["margin"]) if has_margin else float(r["smallest_margin"])
            span = max(half, abs(r["ci95_lb"]), abs(r["ci95_ub"])) * 1.25
            ax.set_xlim(-span, span)
            ax.set_ylim(-0.8, 1.5)
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
            ax.axvline(0, ymin=0, ymax=0.72, color="#333333", lw=0.9, zorder=1)
            if has_margin:
                ax.axvspan(-half, half, ymin=0, ymax=0.72, facecolor=SHADE, edgecolor="#9A9A9A",
                           hatch="..", lw=0.6, zorder=0, gid=f"catchup:margin:{r['study']}")
                note = (f"margin \u00b1{_num(half, 1)} {unit} ({r['margin_source']}): "
                        f"{'equivalent' if bool(r['equivalent']) else 'not shown equivalent'}"
                        f", TOST p = {r['p_tost']:.3f}")
                shown = "margin band"
            else:
                for x in (-half, half):
                    ax.axvline(x, ymin=0, ymax=0.72, color="#555555", lw=1.2, ls=(0, (4, 2)),
                               zorder=1, gid=f"catchup:smallest_margin:{r['study']}")
                note = (f"no accepted margin; equivalence would need a margin wider than "
                        f"\u00b1{_num(half)} {unit} (dashed)")
                shown = "smallest margin"
            ax.plot([r["ci95_lb"], r["ci95_ub"]], [0, 0], color=colour, lw=1.2,
                    solid_capstyle="butt", zorder=3, gid=f"catchup:ci95:{r['study']}")
            for x in (r["ci95_lb"], r["ci95_ub"]):
                ax.plot([x, x], [-0.18, 0.18], color=colour, lw=1.2, zorder=3)
            ax.plot([r["ci_lb"], r["ci_ub"]], [0, 0], color=colour, lw=5.5,
                    solid_capstyle="butt", zorder=3, gid=f"catchup:ci90:{r['study']}")
            ax.plot([r["estimate"]], [0], ls="none", marker=style["marker"], ms=8, mfc="white",
                    mec=colour, mew=1.8, zorder=4, gid=f"catchup:estimate:{r['study']}")
            ax.set_title(f"{r['study']} ({SCOPE_WORDS.get(r['scope'], r['scope'])}): "
                         f"{r['outcome']}", loc="left", fontsize=9, fontweight="bold")
            ax.text(0.0, 0.97, note, transform=ax.transAxes, ha="left", va="top",
                    fontsize=7.8, color="#333333")
            ax.set_xlabel(f"{r['measure']} at about one month ({unit}); positive: larger "
                          "value with dexamethasone", fontsize=8, labelpad=3)
            records.append({"study": r["study"], "measure": r["measure"], "units": unit,
                            "estimate": r["estimate"], "ci_lb": r["ci_lb"], "ci_ub": r["ci_ub"],
                            "ci95_lb": r["ci95_lb"], "ci95_ub": r["ci95_ub"],
                            "margin": r["margin"], "smallest_margin": r["smallest_margin"],
                            "p_tost": r["p_tost"], "shown": shown})
        alpha = float(equivalence["alpha"].iloc[0])
        handles = [Line2D([], [], color="#444444", lw=5.5, label=f"{1 - 2 * alpha:.0%} CI (TOST)"),
                   Line2D([], [], color="#444444", lw=1.2, label="95% CI"),
                   Patch(facecolor=SHADE, edgecolor="#9A9A9A", hatch="..",
                         label="equivalence margin, where one is given"),
                   Line2D([], [], color="#555555", lw=1.2, ls=(0, (4, 2)),
                          label="smallest margin that would show equivalence")]
        fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8)
        fig.subplots_adjust(left=0.04, right=0.98, top=1 - 0.35 / fig.get_figheight(),
                            bottom=1.0 / fig.get_figheight(), hspace=0.95)
    return fig, pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------- thresholds

_TH_CURVE = ("study_id", "study", "window", "method", "knha", "model", "g", "estimate",
             "ci_lb", "ci_ub")
_TH_CROSS = ("study_id", "window", "method", "knha", "curve", "g")


def threshold_missing_trials(curve: pd.DataFrame, crossings: pd.DataFrame,
                             baseline: pd.DataFrame | None = None, *,
                             ylim: tuple[float, float] = (-2.0, 3.0)
                             ) -> tuple[Figure, pd.DataFrame]:
    """Pooled SMD and its CI as a function of the hypothetical SMD of each trial
    without public numbers; one row of panels per trial, one column per time point.

    ``curve``, ``crossings``, ``baseline``: the tables of
    :func:`analysis.catchup.thresholds_for_unpublished_trials`. The first model in the
    table (by default REML with a Wald-type CI) is drawn as a shaded band, a second one
    (Hartung–Knapp) as dashed bounds; the pooled estimate is the solid line. Crossings of
    the CI bounds (the conclusion changes) are marked ▼ on the zero line and labelled;
    crossings of the estimate (the direction reverses) ○. ``baseline`` (optional) adds the
    estimable trials' own pooled result as a note. The y-axis is clipped to ``ylim``
    (the Hartung–Knapp bounds with two trials leave it). Returns the figure and a table of
    the plotted numbers: ``study, window, model, element`` (``"curve"`` or
    ``"threshold"``), ``g, estimate, ci_lb, ci_ub, curve``.
    """
    _require(curve, _TH_CURVE, "curve")
    _require(crossings, list(_TH_CROSS) + ["model"], "crossings") if len(crossings) else None
    models = list(dict.fromkeys(zip(curve["method"], curve["knha"], curve["model"])))
    if len(models) > 2:
        raise ValueError(f"curve holds {len(models)} models; draw at most two (a band and "
                         "dashed bounds): filter the table first")
    studies = list(dict.fromkeys(zip(curve["study_id"], curve["study"])))
    windows = [w for w in WINDOW_TITLES if (curve["window"] == w).any()]
    records = []
    model_styles = [{"band": True, "ls": "-", "colour": COLOURS["treatment"]},
                    {"band": False, "ls": (0, (5, 2)), "colour": COLOURS["control"]}]
    with figure_style():
        fig = Figure(figsize=(4.1 * len(windows) + 0.6, 3.0 * len(studies) + 1.3))
        axes = fig.subplots(len(studies), len(windows), squeeze=False, sharex=True)
        for i, (sid, study) in enumerate(studies):
            for j, window in enumerate(windows):
                ax = axes[i, j]
                ax.axhline(0, color="#333333", lw=0.9, zorder=2)
                ax.axvline(0, color="#BBBBBB", lw=0.6, zorder=0)
                ax.set_ylim(*ylim)
                drawn_estimates: list[float] = []
                for (method, knha, model), ms in zip(models, model_styles):
                    sel = curve[(curve["study_id"] == sid) & (curve["window"] == window)
                                & (curve["method"] == method) & (curve["knha"] == knha)]
                    sel = sel.sort_values("g")
                    if sel.empty:
                        continue
                    g = sel["g"].to_numpy(float)
                    tag = f"{sid}:{window}:{method}:{'knha' if knha else 'wald'}"
                    if ms["band"]:
                        ax.fill_between(g, sel["ci_lb"], sel["ci_ub"], color=ms["colour"],
                                        alpha=0.18, lw=0, zorder=1, gid=f"catchup:band:{tag}")
                        ax.plot(g, sel["estimate"], color="#000000", lw=1.6, zorder=4,
                                gid=f"catchup:estimate:{tag}")
                    for bound in ("ci_lb", "ci_ub"):
                        ax.plot(g, sel[bound], color=ms["colour"], lw=1.2, ls=ms["ls"],
                                zorder=3, gid=f"catchup:{bound}:{tag}")
                    records += [{"study": study, "window": window, "model": model,
                                 "element": "curve", "g": gx, "estimate": est, "ci_lb": lb,
                                 "ci_ub": ub, "curve": ""}
                                for gx, est, lb, ub in zip(
                                    g.tolist(), sel["estimate"].tolist(),
                                    sel["ci_lb"].tolist(), sel["ci_ub"].tolist())]
                    cr = crossings[(crossings["study_id"] == sid)
                                   & (crossings["window"] == window)
                                   & (crossings["method"] == method)
                                   & (crossings["knha"] == knha)] if len(crossings) else crossings
                    _draw_thresholds(ax, cr, ms, tag, drawn_estimates, records,
                                     {"study": study, "window": window, "model": model})
                if baseline is not None and len(baseline):
                    b = baseline[(baseline["study_id"] == sid) & (baseline["window"] == window)]
                    if len(b):
                        b = b.iloc[0]
                        k = int(b["k"])
                        ax.text(0.02, 0.97, f"estimable trial{'s' if k > 1 else ''} alone "
                                f"(k = {k}): {_num(b['estimate'])} "
                                f"[{_num(b['ci_lb'])}, {_num(b['ci_ub'])}]",
                                transform=ax.transAxes, ha="left", va="top", fontsize=7.6,
                                color="#333333")
                if i == 0:
                    ax.set_title(WINDOW_TITLES[window], fontweight="bold")
                if j == 0:
                    ax.set_ylabel(f"{study}\n{_sizes_text(curve, sid)}\npooled SMD (95% CI)",
                                  fontsize=8.5)
                if i == len(studies) - 1:
                    ax.set_xlabel("SMD the trial would need (hypothetical Hedges' g)")
        handles = [Line2D([], [], color="#000000", lw=1.6, label="pooled estimate")]
        for (method, knha, model), ms in zip(models, model_styles):
            if ms["band"]:
                handles.append(Patch(facecolor=ms["colour"], alpha=0.3, edgecolor=ms["colour"],
                                     label=f"95% CI, {model}"))
            else:
                handles.append(Line2D([], [], color=ms["colour"], lw=1.2, ls=ms["ls"],
                                      label=f"95% CI, {model}"))
        handles += [Line2D([], [], ls="none", marker="v", color="#555555", ms=6.5,
                           label="a CI bound crosses 0: the conclusion changes"),
                    Line2D([], [], ls="none", marker="o", mfc="white", mec="#000000", ms=6.5,
                           label="the pooled estimate crosses 0: direction reverses")]
        fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8)
        fig.subplots_adjust(left=0.12, right=0.98, top=1 - 0.45 / fig.get_figheight(),
                            bottom=1.25 / fig.get_figheight(), hspace=0.18, wspace=0.22)
    return fig, pd.DataFrame.from_records(records)


def _sizes_text(curve: pd.DataFrame, study_id: str) -> str:
    """'n 14/11' or 'n 14/14, assumed split' from the curve table's own columns."""
    sel = curve[curve["study_id"] == study_id]
    if not {"n_t", "n_c"} <= set(sel.columns) or sel.empty:
        return ""
    r = sel.iloc[0]
    assumed = bool(r.get("group_sizes_assumed", False))
    return f"n {r['n_t']:g}/{r['n_c']:g}{', assumed split' if assumed else ''}"


def _draw_thresholds(ax, cr: pd.DataFrame, ms: dict, tag: str, drawn_estimates: list,
                     records: list, ids: dict) -> None:
    """Markers on the zero line at each crossing, with labels; crossings of one model
    closer than 0.3 on the g axis share one label ("0.21 to 0.29"). A crossing of the
    pooled estimate already drawn for another model (the estimate does not depend on
    the CI method) is not drawn twice."""
    rows = []
    for _, c in cr.sort_values("g").iterrows():
        if c["curve"] == "estimate":
            if any(abs(c["g"] - x) < 1e-9 for x in drawn_estimates):
                continue
            drawn_estimates.append(float(c["g"]))
        rows.append(c)
    for c in rows:
        is_estimate = c["curve"] == "estimate"
        ax.plot([c["g"]], [0.0], ls="none", marker="o" if is_estimate else "v", ms=6.5,
                mfc="white" if is_estimate else ms["colour"],
                mec="#000000" if is_estimate else ms["colour"], mew=1.3, zorder=6,
                gid=f"catchup:threshold:{tag}:{c['curve']}")
        records.append({**ids, "element": "threshold", "g": c["g"], "estimate": np.nan,
                        "ci_lb": np.nan, "ci_ub": np.nan, "curve": c["curve"]})
    # labels: estimate crossings below, CI crossings above (band model) or below
    groups: list[list] = []
    for c in rows:
        kind = "estimate" if c["curve"] == "estimate" else "ci"
        if groups and groups[-1][0] == kind and c["g"] - groups[-1][-1]["g"] < 0.3:
            groups[-1].append(c)
        else:
            groups.append([kind, c])
    for kind, *members in groups:
        gs = [m["g"] for m in members]
        text = _num(gs[0]) if len(gs) == 1 else f"{_num(gs[0])} to {_num(gs[-1])}"
        if kind == "ci" and ms["band"]:
            offset, ha, va = (0, 9), "center", "bottom"
        elif kind == "ci":
            offset, ha, va = (4, -10), "left", "top"
        else:
            offset, ha, va = (-4, -10), "right", "top"
        ax.annotate(text, (float(np.mean(gs)), 0.0), xytext=offset,
                    textcoords="offset points", ha=ha, va=va,
                    fontsize=7.3, color="#000000" if kind == "estimate" else ms["colour"],
                    bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none",
                          "alpha": 0.85}, zorder=7)
