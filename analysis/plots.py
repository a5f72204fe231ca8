"""Figure style, deterministic saving, and the catch-up-at-one-month chart.

The forest plot lives in :mod:`analysis.forest`; this module holds what every figure
shares (one fixed style, so regeneration is byte-stable for a given matplotlib) and
the time-course chart. Both plotting functions take plain tables and return a
matplotlib Figure, so a notebook can compose, restyle or save them.

Importing this module never chooses matplotlib's backend (``make`` sets
``MPLBACKEND=Agg`` for headless runs). In a Jupyter kernel whose backend is the inline one
(Jupyter's default), it loads that backend at once, so that every Figure a cell returns is
shown as an image: matplotlib loads its backend lazily, on the first pyplot figure, and
these functions build :class:`matplotlib.figure.Figure` objects without pyplot (so a
notebook shows each one once, where it is displayed).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

INLINE_BACKENDS = ("inline", "module://matplotlib_inline.backend_inline")


def show_figures_inline_in_jupyter() -> bool:
    """In an IPython kernel configured for the inline backend, load that backend now so
    that a Figure returned by a cell is displayed as an image. Returns True if it did.

    Nothing happens outside IPython or with any other backend (Agg, widget, ...).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    backend = (mpl.get_backend(auto_select=False) if mpl.__version_info__ >= (3, 10)
               else mpl.rcParams._get("backend"))
    if backend not in INLINE_BACKENDS:
        return False
    importlib.import_module("matplotlib_inline.backend_inline")
    return True


show_figures_inline_in_jupyter()


#: The font of every figure: one matplotlib ships, so every machine renders the same glyphs.
FONT_FAMILY = "DejaVu Sans"

#: One style for every figure: that font, sizes legible at journal print size, no
#: timestamps in SVG.
STYLE: dict[str, object] = {
    "font.family": FONT_FAMILY,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "dexamethasone-iontophoresis-ma",
    "svg.fonttype": "path",
    "path.simplify": False,
    "figure.dpi": 100,
    "savefig.dpi": 300,
}

#: Colours (Okabe–Ito, safe for colour-blind readers).
COLOURS = {
    "treatment": "#0072B2",
    "control": "#D55E00",
    "pooled": "#000000",
    "comparison": "#009E73",
    "not_estimable": "#7F7F7F",
    "line": "#000000",
    "secondary_line": "#555555",
    "rule": "#999999",
}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Context in which figures are drawn with :data:`STYLE`."""
    with mpl.rc_context(STYLE):
        yield


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` (300 dpi) and ``stem.svg`` without timestamps; return the paths.

    PNG and SVG metadata carry no date and no software version, so the same inputs
    give the same files.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    with mpl.rc_context(STYLE):
        fig.savefig(paths[0], dpi=300, metadata={"Software": None}, bbox_inches="tight",
                    pad_inches=0.08, facecolor="white")
        fig.savefig(paths[1], metadata={"Date": None, "Creator": None},
                    bbox_inches="tight", pad_inches=0.08, facecolor="white")
    return paths


def catchup_chart(
    arm_course: pd.DataFrame,
    effects: pd.DataFrame,
    pooled: pd.DataFrame,
    not_estimable: pd.DataFrame,
    *,
    arm_outcome_label: str = "Improvement in Maryland Foot Score (points)",
    effect_label: str = "SMD, Hedges' g (95% CI)\npositive favours dexamethasone",
    xmax: float = 8.0,
    treatment_weeks: dict | None = None,
) -> Figure:
    """Two-panel chart: does the placebo group catch up by about one month?

    Panel A (``arm_course``): mean change of each arm over time with 95% CIs; columns
    ``study, arm, role, weeks, weeks_approximate, mean, ci_lb, ci_ub``. Baseline
    (week 0, change 0 by definition) is drawn as the start of each line.

    Panel B (``effects``): between-group SMD per trial and time point; columns
    ``study, group, weeks, weeks_approximate, estimate, ci_lb, ci_ub, separated``
    (``separated`` True for a comparison trial drawn apart, e.g. the elbow trial).
    ``pooled``: ``window, weeks, estimate, ci_lb, ci_ub, k`` for the pooled effect per
    time window. ``not_estimable``: ``study, weeks, weeks_approximate, label`` for time
    points that a trial measured but whose numbers are not public (``label``: the time
    point as reported); points beyond ``xmax`` are named in the legend instead of being
    drawn off the axis. ``treatment_weeks``: for panel ``"A"`` and ``"B"``, the treatment
    periods (weeks) of the trials drawn there; the shaded band runs to the longest and
    its label gives the range (default: 2 weeks, unlabelled by trial).
    """
    bands = treatment_weeks or {}
    with figure_style():
        fig = Figure(figsize=(10.5, 4.6))
        ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25], "wspace": 0.32})
        _draw_arm_course(ax_a, arm_course, arm_outcome_label, xmax, bands.get("A"))
        _draw_effect_course(ax_b, effects, pooled, not_estimable, effect_label, xmax,
                            bands.get("B"))
        fig.subplots_adjust(bottom=0.30, top=0.88, left=0.07, right=0.985)
    return fig


def treatment_band_label(weeks) -> tuple[float, str]:
    """Where the treatment band ends and its label, from the trials' treatment periods."""
    weeks = sorted({round(float(w), 2) for w in (weeks or []) if np.isfinite(w)})
    if not weeks:
        return 2.0, "treatment"
    if len(weeks) == 1:
        return weeks[0], f"treatment\n({weeks[0]:g} weeks)"
    return weeks[-1], f"treatment\n({weeks[0]:g}\u2013{weeks[-1]:g} weeks)"


def _time_axis(ax, xmax: float, treatment_weeks=None) -> None:
    ax.set_xlim(-0.3, xmax)
    ax.set_xticks(np.arange(0, xmax + 0.01, 1))
    ax.set_xlabel("Weeks from the start of treatment")
    end, label = treatment_band_label(treatment_weeks)
    ax.axvspan(0, end, color="#E8E8E8", zorder=0, lw=0)
    ax.text(end / 2, 1.0, label, transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=7.5, color="#555555")


def _mark_approximate(ax, weeks) -> None:
    """One '≈' just above the time axis at each approximately placed time point on the
    axis (text is not clipped, so a mark beyond the axis would widen the figure)."""
    lo, hi = ax.get_xlim()
    for x in sorted(set(np.round(np.asarray(weeks, float), 6))):
        if not lo <= x <= hi:
            continue
        ax.text(x, 0.015, "\u2248", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=10, color="#333333")


APPROX_HANDLE_LABEL = "\u2248 on the axis: approximate timing"


def _approx_handle() -> Line2D:
    return Line2D([], [], ls="none", marker=r"$\approx$", ms=9, color="#333333",
                  label=APPROX_HANDLE_LABEL)


def _literal(legend) -> None:
    """Legend entries carry trial labels from the data: a "$" there is a dollar sign, not
    the start of TeX (an unbalanced "$x^{$" would stop the drawing)."""
    for text in legend.get_texts():
        text.set_parse_math(False)


def literal_texts(fig: Figure) -> Figure:
    """Every text of ``fig`` drawn as written: the figures print labels, notes and sources
    from the data, where "$" is a dollar sign, not the start of TeX (an unbalanced
    "$x^{$" would stop the drawing). Markers drawn from TeX (such as "$?$") are paths,
    not texts, and keep their shape. Returns ``fig``."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


def _draw_arm_course(ax, arm_course: pd.DataFrame, ylabel: str, xmax: float,
                     treatment_weeks=None) -> None:
    _time_axis(ax, xmax, treatment_weeks)
    ax.set_title("A. Mean improvement in each arm", loc="left", fontweight="bold")
    nudge = {"treatment": -0.06, "control": 0.06}
    for (study, arm, role), rows in arm_course.groupby(["study", "arm", "role"], sort=False):
        rows = rows.sort_values("weeks")
        colour = COLOURS.get(role, "#333333")
        weeks = rows["weeks"].to_numpy(float) + nudge.get(role, 0.0)
        x = np.concatenate([[0.0], weeks])
        y = np.concatenate([[0.0], rows["mean"].to_numpy(float)])
        ax.plot(x, y, color=colour, lw=1.6, marker="o", ms=5, label=f"{study}: {arm}",
                markevery=list(range(1, len(x))))
        ax.plot([0], [0], marker="o", ms=4, mfc="white", color=colour)
        err = np.vstack([rows["mean"] - rows["ci_lb"], rows["ci_ub"] - rows["mean"]])
        ax.errorbar(weeks, rows["mean"], yerr=err, fmt="none", ecolor=colour,
                    elinewidth=1.2, capsize=3)
    ax.axhline(0, color="#444444", lw=0.8)
    _mark_approximate(ax, arm_course.loc[arm_course["weeks_approximate"].astype(bool), "weeks"])
    ax.set_ylabel(ylabel)
    handles, _ = ax.get_legend_handles_labels()
    legend = ax.legend(handles=handles + [Line2D([], [], ls="none", marker="o", mfc="white",
                                                 color="#333333", label="baseline: change 0 by definition"),
                                          _approx_handle()],
                       loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=1, frameon=False)
    _literal(legend)


def _draw_effect_course(ax, effects, pooled, not_estimable, ylabel, xmax,
                        treatment_weeks=None) -> None:
    _time_axis(ax, xmax, treatment_weeks)
    ax.set_title("B. Between-group effect over time", loc="left", fontweight="bold")
    ax.axhline(0, color="#444444", lw=0.9)
    handles: list[Line2D] = []
    for study in dict.fromkeys(effects["study"]):
        rows = effects[effects["study"] == study].sort_values("weeks")
        separated = bool(rows["separated"].iloc[0])
        colour = COLOURS["comparison"] if separated else COLOURS["treatment"]
        x = rows["weeks"].to_numpy(float)
        style = dict(fmt="D", mfc="white") if separated else dict(fmt="s", mfc=colour)
        ax.plot(x, rows["estimate"], color=colour, lw=1.0, ls="--" if separated else "-",
                alpha=0.8)
        err = np.vstack([rows["estimate"] - rows["ci_lb"], rows["ci_ub"] - rows["estimate"]])
        ax.errorbar(x, rows["estimate"], yerr=err, color=colour, ms=5, capsize=3,
                    elinewidth=1.2, **style)
        approx = "; timing \u2248" if rows["weeks_approximate"].astype(bool).any() else ""
        handles.append(Line2D([], [], color=colour, marker=style["fmt"], mfc=style["mfc"],
                              ls="--" if separated else "-",
                              label=f"{study} ({rows['group'].iloc[0]}{approx})"))
    drawn = pooled[np.isfinite(pooled["estimate"].to_numpy(float))] if len(pooled) else pooled
    for _, r in drawn.iterrows():
        x = float(r["weeks"]) - 0.3
        ax.fill([x - 0.07, x, x + 0.07, x], [r["estimate"], r["ci_ub"], r["estimate"], r["ci_lb"]],
                color=COLOURS["pooled"], zorder=3)
    if len(drawn):
        ks = ", ".join(sorted({str(int(k)) for k in drawn["k"]}))
        handles.append(Line2D([], [], color=COLOURS["pooled"], marker="D", ls="none", ms=6,
                              label=f"Pooled, running injuries (k = {ks}; diamond spans the 95% CI)"))
    ylo, yhi = ax.get_ylim()
    span = max(abs(ylo), abs(yhi), 1.0)
    ax.set_ylim(-span * 1.05, span * 1.05)
    if len(not_estimable):
        studies = list(dict.fromkeys(not_estimable["study"]))
        top = -span * (0.92 - 0.16 * (len(studies) - 1)) + 0.09 * span
        ax.axhspan(-span * 1.05, top, color="#F2F2F2", zorder=0, lw=0)
        ax.set_yticks([t for t in ax.get_yticks() if top < t <= span * 1.05])
        ax.text(xmax - 0.05, top - 0.01 * span, "not estimable", ha="right", va="top",
                fontsize=7.5, color="#555555", style="italic")
        later = []
        for i, study in enumerate(studies):
            rows = not_estimable[not_estimable["study"] == study]
            inside = rows[rows["weeks"] <= xmax]
            beyond = rows[rows["weeks"] > xmax]
            y_mark = -span * (0.92 - 0.16 * i)
            ax.plot(inside["weeks"], np.full(len(inside), y_mark), ls="none", marker="x",
                    color=COLOURS["not_estimable"], ms=6, mew=1.4)
            ax.text(float(inside["weeks"].max()) + 0.2 if len(inside) else 0.2, y_mark, study,
                    va="center", ha="left", fontsize=7.5, color="#555555", parse_math=False)
            if len(beyond):
                later.append(f"{study} also at {', '.join(beyond['label'])}")
        text = "Measured, not estimable (no public numbers)"
        if later:
            text += ";\n" + "; ".join(later)
        handles.append(Line2D([], [], color=COLOURS["not_estimable"], marker="x", ls="none",
                              mew=1.4, label=text))
    handles.append(Line2D([], [], ls="none", label="\u2248 timing: a time point placed "
                          "approximately on the weeks axis"))
    ax.set_ylabel(ylabel)
    _literal(ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=1,
                       frameon=False))
