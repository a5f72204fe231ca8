"""Live explorers for class: change an assumption, watch the diamond move.

Two explorers, each a pure "scenario → figure" function with sliders around it:

* :func:`forest_explorer`: the running-injury forest plot of one time window with
  Neeter 2003 given a **hypothetical** SMD (its numbers are not public; its group sizes
  are), a choice of τ² estimator and CI method (Wald-type or Hartung-Knapp), and the
  intra-patient correlation (ICC) of feet for the trials that randomised feet.
* :func:`catchup_explorer`: the change in the effect between the end of treatment and
  about one month against the assumed within-patient correlation ρ
  (:func:`analysis.catchup_plots.catchup_inference`), with the chosen ρ marked and the
  ICC of feet.

Every number comes from the package: the design effect and effective sample sizes as
:func:`analysis.sensitivity.unit_of_analysis` (:func:`feet_adjusted_effects`), pooling
through :func:`analysis.meta.meta_analysis`, the change in the effect through
:func:`analysis.catchup.change_in_effect_table` and :func:`analysis.catchup.rho_thresholds`.

Live or static, decided explicitly (:func:`static_mode`): when the environment variable
``DEXA_MA_STATIC_EXPLORERS`` is set to anything but ``""``, ``0``, ``false`` or ``no``
(``make reproduce`` sets it for the notebooks it executes headless), or when ipywidgets
cannot be imported, an explorer returns a static small-multiples figure of the same
thing (:func:`forest_small_multiples`, :func:`catchup_small_multiples`) as a
:class:`analysis.figures.FigureSpec`. Otherwise it returns a :class:`LiveExplorer`:
ipywidgets controls over an image of the figure, redrawn when a control is released.
Its display bundle also carries the current figure as ``image/png``, so a front end
without widgets (or an HTML export) shows that figure rather than an empty widget.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import conventions
from analysis import effect_sizes as es

__all__ = [
    "STATIC_ENV",
    "static_mode",
    "feet_adjusted_effects",
    "hypothetical_forest_table",
    "forest_scenario",
    "forest_scenario_figure",
    "forest_small_multiples",
    "catchup_scenario",
    "catchup_scenario_figure",
    "catchup_small_multiples",
    "LiveExplorer",
    "forest_explorer",
    "catchup_explorer",
    "ESTIMATORS",
]

#: The environment variable that asks for static figures instead of widgets.
STATIC_ENV = "DEXA_MA_STATIC_EXPLORERS"
_OFF = ("", "0", "false", "no", "off")

#: The trial given a hypothetical SMD (its group sizes are public, its outcomes are not).
HYPOTHETICAL_TRIAL = "neeter2003"
#: Feet per patient in the design effect: every patient gave both feet (the extreme; the
#: trials do not say how many did).
FEET_PER_PATIENT = 2.0
#: τ² estimators offered (metafor's names), and the common-effect model.
ESTIMATORS = ("REML", "DL", "PM", "ML", "SJ", "HE", "FE")
#: The effect axis of the explorer's forest plot, fixed so that the plot does not jump.
FOREST_XLIM = (-3.0, 3.0)
#: Resolution of the live image.
EXPLORER_DPI = 96


def static_mode() -> bool:
    """True when explorers should draw static figures: ``DEXA_MA_STATIC_EXPLORERS`` is
    set (to anything but "", 0, false, no, off) or ipywidgets is not importable."""
    if os.environ.get(STATIC_ENV, "").strip().lower() not in _OFF:
        return True
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return True
    return False


# --------------------------------------------------------------------------- scenarios


def _check_unit(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}") from None
    if not (np.isfinite(x) and low <= x <= high):
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return x


def feet_adjusted_effects(effects: pd.DataFrame, studies: pd.DataFrame, *, icc: float,
                          feet_per_patient: float = FEET_PER_PATIENT) -> pd.DataFrame:
    """The effects table with every trial that randomised feet analysed at its effective
    sample size.

    Design effect DE = 1 + (M − 1)·ICC, M = ``feet_per_patient`` (Cochrane Handbook
    23.1.4, as :func:`analysis.sensitivity.unit_of_analysis`); each arm's n becomes n / DE
    and the MD (:func:`analysis.effect_sizes.mean_difference`) or Hedges' g
    (:func:`analysis.effect_sizes.hedges_g`, the row's ``vtype``, oriented as the row)
    is recomputed, with its SE and 95% CI. Trials randomising patients, rows that are
    not estimable and rows whose SD was recovered from a p-value are unchanged. Columns
    ``design_effect`` and ``icc`` are added.
    """
    icc = _check_unit(icc, "icc")
    m = _check_unit(feet_per_patient, "feet_per_patient", 1.0, 10.0)
    de = 1.0 + (m - 1.0) * icc
    feet = set(studies.loc[studies["unit_of_randomisation"] == "foot", "study_id"])
    out = effects.copy()
    out["design_effect"] = 1.0
    out["icc"] = icc
    rows = (out["study_id"].isin(feet) & out["estimable"].astype(bool)
            & ~out["sd_recovered"].astype(bool) & out["measure"].isin(["MD", "SMD"]))
    z = conventions.z_quantile(0.95)
    for idx in out.index[rows]:
        r = out.loc[idx]
        n_t, n_c = float(r["n_t"]) / de, float(r["n_c"]) / de
        args = (r["mean_t"], r["sd_t"], n_t, r["mean_c"], r["sd_c"], n_c)
        if r["measure"] == "MD":
            eff = es.mean_difference(*args)
            yi = float(np.ravel(eff.yi)[0])
        else:
            eff = es.hedges_g(*args, vtype=r["vtype"])
            yi = conventions.oriented_smd(float(np.ravel(eff.yi)[0]), r["direction"])
        vi = float(np.ravel(eff.vi)[0])
        se = float(np.sqrt(vi))
        out.loc[idx, ["n_t", "n_c", "yi", "vi", "se", "ci_lb", "ci_ub", "design_effect"]] = (
            n_t, n_c, yi, vi, se, yi - z * se, yi + z * se, de)
    return out


def _hypothetical_row(n_t: float, n_c: float, g: float, vtype: str) -> tuple[float, float]:
    """Hedges' g = ``g`` and its sampling variance for a trial of n_t / n_c:
    :func:`analysis.effect_sizes.hedges_g` at d = g / J(N − 2), SD 1 in both arms."""
    j = float(np.ravel(es.hedges_g(1.0, 1.0, n_t, 0.0, 1.0, n_c, vtype=vtype).yi)[0])
    eff = es.hedges_g(g / j, 1.0, n_t, 0.0, 1.0, n_c, vtype=vtype)
    return float(np.ravel(eff.yi)[0]), float(np.ravel(eff.vi)[0])


def hypothetical_forest_table(effects: pd.DataFrame, *, window: str, neeter_smd: float,
                              hypothetical: str = HYPOTHETICAL_TRIAL,
                              scope: str = "running_injury") -> tuple[pd.DataFrame, list[str]]:
    """The forest table (one row per trial of ``scope``: the review's primary SMD at
    ``window``) with the trial ``hypothetical`` given Hedges' g = ``neeter_smd`` at its
    known group sizes, marked with a footnote letter. Returns the table and footnotes.

    The hypothetical value is not data: the footnote says so. Raises ``ValueError`` when
    the trial is not in the table or its group sizes are unknown.
    """
    g = _check_unit(neeter_smd, "neeter_smd", -5.0, 5.0)
    if window not in conventions.WINDOWS:
        raise ValueError(f"window must be one of {', '.join(conventions.WINDOWS)}, got {window!r}")
    sel = effects[(effects["measure"] == "SMD") & (effects["window"] == window)
                  & (effects["review_role"] == "primary") & (effects["scope"] == scope)]
    sel = sel.sort_values(["year", "study"]).reset_index(drop=True)
    hyp = sel.index[sel["study_id"] == hypothetical]
    if len(hyp) != 1:
        raise ValueError(f"{hypothetical!r} has no primary SMD row at {window} in scope {scope!r}")
    i = int(hyp[0])
    n_t, n_c = float(sel.at[i, "n_t"]), float(sel.at[i, "n_c"])
    if not (n_t >= 2 and n_c >= 2):
        raise ValueError(f"{hypothetical!r}: group sizes unknown; no hypothetical SMD possible")
    if bool(sel.at[i, "estimable"]):
        raise ValueError(f"{hypothetical!r} has public numbers at {window}: nothing to assume")
    vtypes = set(sel.loc[sel["estimable"].astype(bool), "vtype"]) or {"LS"}
    vtype = vtypes.pop()
    yi, vi = _hypothetical_row(n_t, n_c, g, vtype)
    table = pd.DataFrame({
        "study": sel["study"], "yi": sel["yi"], "vi": sel["vi"],
        "estimable": sel["estimable"].astype(bool), "reason": sel["reason"].fillna(""),
        "mean_t": sel["mean_t"], "sd_t": sel["sd_t"], "n_t": sel["n_t"],
        "mean_c": sel["mean_c"], "sd_c": sel["sd_c"], "n_c": sel["n_c"],
        "marker": "", "design_effect": sel.get("design_effect", pd.Series(1.0, index=sel.index)),
    })
    table.loc[i, ["yi", "vi", "estimable", "reason", "marker"]] = (yi, vi, True, "", "h")
    notes = [f"h {sel.at[i, 'study']}: hypothetical SMD {g:.2f} set with the explorer, at its "
             f"known group sizes {n_t:g}/{n_c:g}; its outcome numbers are not public. Not data."]
    adjusted = table["design_effect"].astype(float) > 1.0
    for j in table.index[adjusted]:
        table.loc[j, "marker"] = "f"
        de = float(table.at[j, "design_effect"])
        notes.append(f"f {table.at[j, 'study']}: feet, not patients; n per arm divided by the "
                     f"design effect {de:.2f} (assumed ICC {float(sel.at[j, 'icc']):.2f}, every "
                     "patient both feet); the arm columns show the trial's n.")
        table.loc[j, ["n_t", "n_c"]] = (float(table.at[j, "n_t"]) * de,
                                        float(table.at[j, "n_c"]) * de)
    return table.drop(columns="design_effect"), notes


def forest_scenario(tables, *, neeter_smd: float = 0.0, window: str = "end_of_treatment",
                    method: str = "REML", knha: bool = False, icc: float = 0.0,
                    feet_per_patient: float = FEET_PER_PATIENT):
    """The meta-analysis of one explorer setting: the running-injury trials at ``window``
    (foot trials at their effective n for ``icc``), Neeter 2003 at ``neeter_smd``,
    pooled with ``method`` and ``knha``. Returns ``(MetaAnalysis, footnotes)``."""
    from analysis.meta import meta_analysis

    e = tables.effects
    rows = e[(e["measure"] == "SMD") & (e["window"] == window) & (e["review_role"] == "primary")]
    effects = feet_adjusted_effects(rows, tables.studies, icc=icc,
                                    feet_per_patient=feet_per_patient)
    table, notes = hypothetical_forest_table(effects, window=window, neeter_smd=neeter_smd)
    ma = meta_analysis(table, measure="SMD", method=method, knha=knha)
    return ma, notes


def _pooled_text(ma) -> str:
    p = ma.pooled.iloc[0]
    return (f"pooled SMD {p['estimate']:.2f} [{p['ci_lb']:.2f}, {p['ci_ub']:.2f}], "
            f"{conventions.verdict(p['ci_lb'], p['ci_ub'])}; \u03c4\u00b2 = {p['tau2']:.3f}"
            ).replace("-", "\u2212")


def forest_scenario_figure(tables, **scenario) -> tuple[Figure, str]:
    """The RevMan 5 forest plot of :func:`forest_scenario` (fixed axis
    :data:`FOREST_XLIM`) and a one-line summary of the pooled result."""
    from analysis.plots import figure_style

    ma, notes = forest_scenario(tables, **scenario)
    window = scenario.get("window", "end_of_treatment")
    title = (f"What if? Running injuries, {conventions.WINDOW_LABELS[window].lower()} "
             "(SMD, positive favours dexamethasone)")
    with figure_style():
        fig = ma.forest(title=title, footnotes=notes, xlim=FOREST_XLIM,
                        favours=conventions.favours_labels(conventions.HIGHER_IS_BETTER),
                        arm_labels=(conventions.TREATMENT.capitalize(),
                                    conventions.CONTROL.capitalize()))
    return fig, _pooled_text(ma)


def forest_small_multiples(tables, *, neeter_smds: Sequence[float] = (-0.5, 0.0, 0.5, 1.0, 2.0),
                           window: str = "end_of_treatment", method: str = "REML",
                           icc: float = 0.0):
    """The explorer's forest plot as small multiples: one column per hypothetical SMD of
    Neeter 2003, one row per CI method (Wald-type, Hartung-Knapp), ``method`` τ². Each
    panel shows every estimable trial (squares sized by weight, the hypothetical trial
    hollow) and the pooled diamond with its estimate and CI. Returns a
    :class:`analysis.figures.FigureSpec` whose table holds every pooled result drawn."""
    from analysis.figures import FigureSpec
    from analysis.plots import COLOURS, figure_style

    smds = [float(g) for g in neeter_smds]
    if not smds:
        raise ValueError("neeter_smds must hold at least one SMD")
    records = []
    with figure_style():
        fig = Figure(figsize=(2.25 * len(smds) + 1.6, 5.2))
        axes = fig.subplots(2, len(smds), squeeze=False, sharex=True)
        for row, knha in enumerate((False, True)):
            for col, g in enumerate(smds):
                ax = axes[row, col]
                ma, _ = forest_scenario(tables, neeter_smd=g, window=window, method=method,
                                        knha=knha, icc=icc)
                st = ma.studies
                est = st[st["estimable"]].reset_index(drop=True)
                p = ma.pooled.iloc[0]
                ys = np.arange(len(est), 0, -1, dtype=float)
                wmax = float(est["weight"].max())
                for y, (_, r) in zip(ys, est.iterrows()):
                    hypothetical = r.get("marker", "") == "h"
                    ax.plot([r["ci_lb"], r["ci_ub"]], [y, y], color=COLOURS["line"], lw=1,
                            gid="whisker")
                    size = 4 + 6 * np.sqrt(r["weight"] / wmax)
                    ax.plot([r["yi"]], [y], marker="s", ms=size, ls="none",
                            mfc="white" if hypothetical else COLOURS["treatment"],
                            mec=COLOURS["treatment"], mew=1.3, gid="square")
                    records.append({"ci": ma.options.ci_method, "neeter_smd": g,
                                    "row": r["study"], "estimate": r["yi"], "ci_lb": r["ci_lb"],
                                    "ci_ub": r["ci_ub"], "weight": r["weight"],
                                    "hypothetical": hypothetical})
                xs = [p["ci_lb"], p["estimate"], p["ci_ub"], p["estimate"]]
                ax.fill(xs, [0, 0.22, 0, -0.22], color=COLOURS["pooled"], gid="diamond")
                records.append({"ci": ma.options.ci_method, "neeter_smd": g, "row": "pooled",
                                "estimate": p["estimate"], "ci_lb": p["ci_lb"],
                                "ci_ub": p["ci_ub"], "weight": 100.0, "hypothetical": False,
                                "tau2": p["tau2"],
                                "conclusion": conventions.verdict(p["ci_lb"], p["ci_ub"])})
                ax.axvline(0, color="#333333", lw=0.8)
                ax.set_xlim(-2.0, 3.5)
                ax.set_ylim(-0.9, len(est) + 0.6)
                ax.set_yticks(list(ys) + [0])
                ax.set_yticklabels(list(est["study"].str.replace(" ", "\n", n=1)) + ["Pooled"]
                                   if col == 0 else [""] * (len(est) + 1), fontsize=7.5)
                text = f"{p['estimate']:.2f} [{p['ci_lb']:.2f}, {p['ci_ub']:.2f}]"
                ax.text(0.98, 0.02, text.replace("-", "\u2212"), transform=ax.transAxes,
                        ha="right", va="bottom", fontsize=7.5)
                if row == 0:
                    ax.set_title(f"Neeter SMD = {g:g}".replace("-", "\u2212"), fontsize=8.5)
                if col == 0:
                    ax.set_ylabel(ma.options.ci_method + " CI", fontsize=8.5)
                if row == 1:
                    ax.set_xlabel("SMD", fontsize=8)
        fig.suptitle(f"What if Neeter 2003 had found \u2026 (hypothetical SMDs, not data): "
                     f"running injuries, {conventions.WINDOW_LABELS[window].lower()}, "
                     f"{method} \u03c4\u00b2; hollow square: the hypothetical trial",
                     fontsize=9)
        fig.subplots_adjust(left=0.1, right=0.99, top=0.86, bottom=0.11, wspace=0.12,
                            hspace=0.18)
    return FigureSpec(f"teaching_forest_small_multiples_{window}", fig,
                      pd.DataFrame.from_records(records))


def catchup_scenario(tables, *, rho: float | Sequence[float] = 0.5, icc: float = 0.0,
                     feet_per_patient: float = FEET_PER_PATIENT) -> dict[str, pd.DataFrame]:
    """The change in the effect (about one month − end of treatment) for one explorer
    setting, from the effects with foot trials at their effective n for ``icc``
    (:func:`feet_adjusted_effects`): ``curve`` (:func:`analysis.catchup.
    change_in_effect_table` over ρ from 0 to 0.95 and the chosen ρ), ``at_rho`` (its
    rows at the chosen ``rho``, one value or several) and ``roots``
    (:func:`analysis.catchup.rho_thresholds`)."""
    from analysis.catchup import DEFAULT_RHO, change_in_effect_table, rho_thresholds

    values = rho if isinstance(rho, (list, tuple, np.ndarray)) else [rho]
    chosen = np.array([_check_unit(r, "rho", 0.0, 0.95) for r in values], dtype=float)
    e = tables.effects
    pairs = e[(e["review_role"] == "primary") & e["window"].isin(conventions.WINDOWS)
              & e["estimable"].astype(bool)]
    effects = feet_adjusted_effects(pairs, tables.studies, icc=icc,
                                    feet_per_patient=feet_per_patient)
    grid = np.union1d(DEFAULT_RHO, chosen)
    curve = change_in_effect_table(effects, rho=grid)
    at = curve[np.isin(curve["rho"].to_numpy(float), chosen)].reset_index(drop=True)
    return {"curve": curve, "at_rho": at, "roots": rho_thresholds(effects)}


def _trial_look(scope: str) -> dict:
    from analysis.plots import COLOURS

    if scope == "running_injury":
        return {"color": COLOURS["treatment"], "ls": "-"}
    return {"color": COLOURS["comparison"], "ls": "--"}


def _change_panels(curve: pd.DataFrame) -> list[tuple[str, str, list[str]]]:
    """The panels of the catch-up figures, as :func:`analysis.catchup_plots.
    catchup_inference` orders them: each trial's MD on its own scale, then every
    trial's SMD. Returns ``(title, measure, study_ids)``."""
    trials = curve.drop_duplicates("study_id")
    panels = [(f"{r['study']}: MD", "MD", [r["study_id"]])
              for _, r in trials.iterrows()
              if ((curve["study_id"] == r["study_id"]) & (curve["measure"] == "MD")).any()]
    smd = [r["study_id"] for _, r in trials.iterrows()
           if ((curve["study_id"] == r["study_id"]) & (curve["measure"] == "SMD")).any()]
    if smd:
        panels.append(("All trials: SMD", "SMD", smd))
    return panels


def _change_panel(ax, scenario: Mapping, measure: str, study_ids: Sequence[str],
                  records: list, **ids) -> None:
    """One panel: per trial the change Δ with its 95% CI against ρ (band), the roots
    where the CI starts to exclude 0 (circles on the zero line, unlabelled: the notebook
    asks for one of them as an exercise), and the CI at the chosen ρ (black bars); every
    marked CI is appended to ``records``."""
    from analysis.plots import COLOURS

    curve, at, roots = scenario["curve"], scenario["at_rho"], scenario["roots"]
    shift = 0.014 if len(study_ids) > 1 else 0.0
    for index, sid in enumerate(study_ids):
        cur = curve[(curve["study_id"] == sid) & (curve["measure"] == measure)]
        cur = cur.sort_values("rho")
        look = _trial_look(cur["scope"].iloc[0])
        ax.fill_between(cur["rho"], cur["ci_lb"], cur["ci_ub"], color=look["color"],
                        alpha=0.18, lw=0, gid=f"explorer:band:{sid}:{measure}")
        ax.plot(cur["rho"], cur["change"], lw=1.6, label=cur["study"].iloc[0],
                gid=f"explorer:change:{sid}:{measure}", **look)
        rt = roots[(roots["study_id"] == sid) & (roots["measure"] == measure)]
        for x in (rt["rho_roots"].iloc[0] if len(rt) else ()):
            ax.plot([x], [0.0], marker="o", ms=6, mfc="white", mec=look["color"], mew=1.6,
                    ls="none", zorder=5, gid=f"explorer:root:{sid}:{measure}")
        mk = at[(at["study_id"] == sid) & (at["measure"] == measure)]
        offset = shift * (index - (len(study_ids) - 1) / 2)
        ax.errorbar(mk["rho"] + offset, mk["change"],
                    yerr=[mk["change"] - mk["ci_lb"], mk["ci_ub"] - mk["change"]],
                    fmt="o", ms=4, color=COLOURS["pooled"], capsize=3, lw=1.2, zorder=6,
                    gid=f"explorer:at_rho:{sid}:{measure}")
        for _, r in mk.iterrows():
            records.append({**ids, "study": r["study"], "measure": measure,
                            "rho": float(r["rho"]), "change": float(r["change"]),
                            "ci_lb": float(r["ci_lb"]), "ci_ub": float(r["ci_ub"]),
                            "excludes_zero": bool(r["excludes_zero"])})
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xlim(-0.03, 0.98)


def _panel_title(title: str, measure: str, study_ids, tables) -> str:
    if measure != "MD":
        return f"{title} (Hedges' g)"
    oid = tables.effects.loc[tables.effects["study_id"] == study_ids[0], "outcome_id"].iloc[0]
    unit = _units(tables).get(oid, "")
    studies = tables.studies.set_index("study_id")
    randomised = {"foot": "feet", "patient": "patients"}.get(
        studies.loc[study_ids[0], "unit_of_randomisation"], "")
    parts = [p for p in (unit, f"randomised {randomised}" if randomised else "") if p]
    return f"{title} ({'; '.join(parts)})" if parts else title


def _units(tables) -> dict[str, str]:
    return {r["outcome_id"]: r["units"] for _, r in tables.outcomes.iterrows()
            if isinstance(r.get("units"), str)}


def _feet_note(tables, icc: float, feet_per_patient: float) -> str:
    feet = tables.studies.loc[tables.studies["unit_of_randomisation"] == "foot", "study"]
    de = 1.0 + (feet_per_patient - 1.0) * float(icc)
    return (f"ICC of feet {float(icc):.2f}: design effect {de:.2f} for "
            f"{', '.join(feet)} (randomised feet; every patient both feet assumed)")


def catchup_scenario_figure(tables, *, rho: float = 0.5, icc: float = 0.0,
                            feet_per_patient: float = FEET_PER_PATIENT) -> tuple[Figure, str]:
    """The change in the effect against ρ for one explorer setting
    (:func:`catchup_scenario`): one panel per trial's MD and one with every trial's SMD,
    as :func:`analysis.catchup_plots.catchup_inference`, with the CI at the chosen ρ
    drawn as a black bar. Returns the figure and a one-line summary."""
    from analysis.plots import figure_style

    sc = catchup_scenario(tables, rho=rho, icc=icc, feet_per_patient=feet_per_patient)
    panels = _change_panels(sc["curve"])
    records: list = []
    with figure_style():
        fig = Figure(figsize=(3.5 * len(panels) + 0.4, 3.6))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (title, measure, ids) in zip(axes, panels):
            _change_panel(ax, sc, measure, ids, records)
            ax.set_title(_panel_title(title, measure, ids, tables), loc="left", fontsize=9)
            ax.set_xlabel("Assumed correlation \u03c1 between the time points")
        axes[0].set_ylabel("\u0394 = one month \u2212 end of treatment")
        axes[-1].legend(loc="lower left", fontsize=7.5, frameon=False)
        fig.suptitle(f"Black bar: the 95% CI of \u0394 at \u03c1 = {float(rho):.2f}; circle: "
                     "where the CI starts to exclude 0.\n"
                     + _feet_note(tables, icc, feet_per_patient), fontsize=8.5)
        fig.subplots_adjust(left=0.07, right=0.99, top=0.83, bottom=0.16, wspace=0.28)
    summary = "; ".join(
        f"{r['study']} {r['measure']}: \u0394 {r['change']:.2f} [{r['ci_lb']:.2f}, "
        f"{r['ci_ub']:.2f}]" for r in records).replace("-", "\u2212")
    return fig, summary


def catchup_small_multiples(tables, *, iccs: Sequence[float] = (0.0, 0.5, 1.0),
                            rhos: Sequence[float] = (0.0, 0.5, 0.8),
                            feet_per_patient: float = FEET_PER_PATIENT):
    """The catch-up explorer as small multiples: one row per ICC of feet, the panels of
    :func:`catchup_scenario_figure` across (each trial's MD, then every trial's SMD),
    the 95% CI of Δ marked at each of ``rhos``; the y axis is shared down each column.
    Returns a :class:`analysis.figures.FigureSpec` whose table holds the marked CIs."""
    from analysis.figures import FigureSpec
    from analysis.plots import figure_style

    iccs = [float(x) for x in iccs]
    if not iccs:
        raise ValueError("iccs must hold at least one value")
    scenarios = [catchup_scenario(tables, rho=list(rhos), icc=icc,
                                  feet_per_patient=feet_per_patient) for icc in iccs]
    panels = _change_panels(scenarios[0]["curve"])
    records: list = []
    with figure_style():
        fig = Figure(figsize=(3.4 * len(panels) + 0.8, 2.25 * len(iccs) + 1.1))
        axes = fig.subplots(len(iccs), len(panels), squeeze=False, sharey="col", sharex=True)
        for i, (icc, sc) in enumerate(zip(iccs, scenarios)):
            for j, (title, measure, ids) in enumerate(panels):
                ax = axes[i, j]
                _change_panel(ax, sc, measure, ids, records, icc=icc)
                if i == 0:
                    ax.set_title(_panel_title(title, measure, ids, tables), loc="left",
                                 fontsize=9)
                if j == 0:
                    de = 1.0 + (feet_per_patient - 1.0) * icc
                    ax.set_ylabel(f"ICC of feet {icc:g} (DE {de:.2f})\n\u0394, one month "
                                  "\u2212 end", fontsize=8)
                if i == len(iccs) - 1:
                    ax.set_xlabel("Assumed correlation \u03c1", fontsize=8)
        axes[0, -1].legend(loc="lower left", fontsize=7.5, frameon=False)
        marks = ", ".join(f"{r:g}" for r in rhos)
        fig.suptitle("Does the effect shrink beyond chance? \u0394 with its 95% CI against "
                     f"\u03c1 (black bars at \u03c1 = {marks}; circles where the CI starts to "
                     "exclude 0), by the ICC of feet (assumed values, not data)", fontsize=9)
        fig.subplots_adjust(left=0.09, right=0.99, top=0.9, bottom=0.09, wspace=0.25,
                            hspace=0.25)
    return FigureSpec("teaching_catchup_small_multiples", fig, pd.DataFrame.from_records(records))


# --------------------------------------------------------------------------- live


def _png(fig: Figure, dpi: int = EXPLORER_DPI) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


class LiveExplorer:
    """ipywidgets controls over an image of a figure, redrawn when a control changes.

    ``draw(**values)`` returns ``(Figure, summary)``; ``controls`` maps each keyword of
    ``draw`` to its widget. :meth:`update` sets values and redraws once (what a slider
    does in class); ``last_redraw_seconds`` holds how long the last redraw took (the
    scenario, the figure and its PNG). In Jupyter the explorer shows itself as the
    widget; its display bundle also holds the current figure as ``image/png`` for front
    ends without widgets.
    """

    def __init__(self, title: str, controls: Mapping[str, object],
                 draw: Callable[..., tuple[Figure, str]]):
        import ipywidgets as widgets

        self.title = title
        self.controls = dict(controls)
        self._draw = draw
        self._busy = False
        self.png = b""
        self.summary = ""
        self.last_redraw_seconds = float("nan")
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        rows = [widgets.HBox(list(self.controls.values())[i:i + 3])
                for i in range(0, len(self.controls), 3)]
        self.widget = widgets.VBox([widgets.HTML(f"<b>{title}</b>"), *rows, self.status,
                                    self.image])
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.redraw()

    def values(self) -> dict:
        """The current value of every control, by keyword."""
        return {name: c.value for name, c in self.controls.items()}

    def _changed(self, _change) -> None:
        if not self._busy:
            self.redraw()

    def redraw(self) -> float:
        """Draw the figure for the current values; return the seconds it took."""
        start = time.perf_counter()
        fig, summary = self._draw(**self.values())
        self.png = _png(fig)
        self.image.value = self.png
        self.last_redraw_seconds = time.perf_counter() - start
        self.summary = summary
        self.status.value = (f"{summary} <span style='color:#666'>(redrawn in "
                             f"{self.last_redraw_seconds:.2f} s)</span>")
        return self.last_redraw_seconds

    def update(self, **values) -> float:
        """Set controls by keyword (as a student moving them) and redraw once; return the
        seconds the redraw took. Raises ``ValueError`` for an unknown keyword or a value
        the control does not accept."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; the controls are "
                             f"{sorted(self.controls)}")
        self._busy = True
        try:
            for name, value in values.items():
                control = self.controls[name]
                options = getattr(control, "options", None)
                if options is not None:
                    allowed = [o[1] if isinstance(o, tuple) else o for o in options]
                    if value not in allowed:
                        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
                else:
                    low, high = control.min, control.max
                    if not (isinstance(value, (int, float)) and low <= value <= high):
                        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], "
                                         f"got {value!r}")
                control.value = value
        finally:
            self._busy = False
        return self.redraw()

    def _repr_mimebundle_(self, include=None, exclude=None):  # pragma: no cover - Jupyter
        import base64

        bundle = self.widget._repr_mimebundle_()
        bundle["text/plain"] = f"{self.title} (live explorer): {self.summary}"
        bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle

    def __repr__(self) -> str:
        return f"LiveExplorer({self.title!r}, {self.values()})"


def _decide(static: bool | None) -> bool:
    return static_mode() if static is None else bool(static)


def forest_explorer(tables, *, static: bool | None = None):
    """Neeter 2003's hypothetical SMD, the time window, the τ² estimator, the CI method
    and the ICC of feet, with the forest plot redrawn (:func:`forest_scenario_figure`).

    ``static=None`` decides by :func:`static_mode`; static gives
    :func:`forest_small_multiples` (end of treatment, REML, no ICC), live a
    :class:`LiveExplorer`.
    """
    if _decide(static):
        return forest_small_multiples(tables)
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    controls = {
        "neeter_smd": widgets.FloatSlider(value=0.0, min=-1.5, max=3.0, step=0.05,
                                          description="Neeter SMD (hypothetical)",
                                          continuous_update=False, style=style),
        "window": widgets.Dropdown(options=[(conventions.WINDOW_LABELS[w], w)
                                            for w in conventions.WINDOWS],
                                   value="end_of_treatment", description="Time", style=style),
        "method": widgets.Dropdown(options=list(ESTIMATORS), value="REML",
                                   description="\u03c4\u00b2 estimator", style=style),
        "knha": widgets.Dropdown(options=[("Wald-type (z)", False),
                                          ("Hartung\u2013Knapp (t)", True)],
                                 value=False, description="CI", style=style),
        "icc": widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05,
                                   description="ICC of feet", continuous_update=False,
                                   style=style),
    }
    return LiveExplorer("What if Neeter 2003 had found \u2026?", controls,
                        lambda **v: forest_scenario_figure(tables, **v))


def catchup_explorer(tables, *, static: bool | None = None):
    """The assumed correlation ρ between the two time points and the ICC of feet, with
    the change-in-effect panel redrawn (:func:`catchup_scenario_figure`).

    ``static=None`` decides by :func:`static_mode`; static gives
    :func:`catchup_small_multiples`, live a :class:`LiveExplorer`.
    """
    if _decide(static):
        return catchup_small_multiples(tables)
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    controls = {
        "rho": widgets.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.01,
                                   description="\u03c1 between time points",
                                   continuous_update=False, style=style),
        "icc": widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05,
                                   description="ICC of feet", continuous_update=False,
                                   style=style),
    }
    return LiveExplorer("Does the effect shrink beyond chance?", controls,
                        lambda **v: catchup_scenario_figure(tables, **v))
