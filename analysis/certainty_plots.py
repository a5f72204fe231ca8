"""Figures of how sure anyone can be: RoB 2 traffic light and summary bars, the GRADE
summary-of-findings table, the effect-direction plot.

Each plotting function takes a plain table (built by :mod:`analysis.risk_of_bias` or
:mod:`analysis.grade`) and returns ``(matplotlib Figure, table of exactly what is
plotted)``; none computes a statistic. Figures are :class:`matplotlib.figure.Figure`
objects made without pyplot (no backend is touched, and a notebook shows each once).
Save with :func:`analysis.plots.save_figure` (PNG 300 dpi + SVG) and write the table
beside it; :mod:`analysis.figures` says which table goes into which committed figure.

Colours: the RoB 2 key of the Cochrane tool as robvis draws it (low green ``#02C100``,
some concerns yellow ``#E2DF07``, high red ``#BF0000``, no information blue
``#4EA1F7``), with a glyph on every mark so the figures read in greyscale: ``+`` low,
``!`` some concerns, ``−`` high, ``?`` no information (robvis itself uses + − × ?).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from analysis.plots import figure_style
from analysis.risk_of_bias import DOMAIN_NAMES, DOMAINS, JUDGEMENT_LABELS, OVERALL

__all__ = [
    "ROB_COLOURS",
    "ROB_GLYPHS",
    "effect_direction_plot",
    "summary_bar_plot",
    "summary_of_findings_figure",
    "traffic_light_plot",
]

ROB_COLOURS = {
    "low": "#02C100",
    "some_concerns": "#E2DF07",
    "high": "#BF0000",
    "no_information": "#4EA1F7",
    "not_assessed": "#CCCCCC",
}
ROB_GLYPHS = {"low": "+", "some_concerns": "!", "high": "\u2212", "no_information": "?",
              "not_assessed": ""}
_GLYPH_COLOUR = {"high": "white"}
_LEGEND_ORDER = ("low", "some_concerns", "high", "no_information")


def _key(j) -> str:
    return j if isinstance(j, str) and j in ROB_COLOURS else "not_assessed"


_MATH_GLYPHS = {"low": "$+$", "some_concerns": "$!$", "high": "$-$", "no_information": "$?$"}


def _rob_handles(present) -> tuple[list, list[str]]:
    """Legend handles: the coloured circle with its glyph on top, and the labels."""
    handles, labels = [], []
    for j in _LEGEND_ORDER:
        if j in present:
            circle = Line2D([], [], ls="none", marker="o", ms=14, mfc=ROB_COLOURS[j], mec="#333333")
            glyph = Line2D([], [], ls="none", marker=_MATH_GLYPHS[j], ms=7,
                           color=_GLYPH_COLOUR.get(j, "black"))
            handles.append((circle, glyph))
            labels.append(JUDGEMENT_LABELS[j])
    if "not_assessed" in present:
        handles.append(Line2D([], [], ls="none", marker="o", ms=14, mfc=ROB_COLOURS["not_assessed"],
                              mec="#333333"))
        labels.append("Not assessed (RoB 2)")
    return handles, labels


# --------------------------------------------------------------------------- traffic light


def traffic_light_plot(table: pd.DataFrame, *, title: str = "Risk of bias (RoB 2), per result",
                       note: str = "") -> tuple[Figure, pd.DataFrame]:
    """RoB 2 traffic-light plot: trial × result rows, D1 to D5 and Overall columns.

    ``table`` is :func:`analysis.risk_of_bias.traffic_light_table` (``row, study, when,
    domain, judgement, label``). Each cell is a circle in the RoB 2 colour with its glyph;
    the Overall column sits on grey, as in robvis. ``note`` is printed under the domain
    key (e.g. how "no information" enters the overall judgement).
    """
    columns = list(DOMAINS) + [OVERALL]
    rows = table.sort_values(["row"]).drop_duplicates("row")
    n = len(rows)
    with figure_style():
        fig = Figure(figsize=(8.8, 2.7 + 0.34 * n))
        top_in, bottom_in = 0.85, 1.95
        height = fig.get_figheight()
        ax = fig.add_axes([0.0, bottom_in / height, 1.0, 1 - (top_in + bottom_in) / height])
        ax.set_xlim(0, 10.75)
        ax.set_ylim(n - 0.5, -0.5)
        ax.axis("off")
        x_study, x_when = 0.15, 2.2
        x_cols = {c: 5.85 + 0.8 * i for i, c in enumerate(columns)}
        x_cols[OVERALL] += 0.3
        ax.add_patch(Rectangle((x_cols[OVERALL] - 0.45, -0.5), 0.9, n, color="#D9D9D9", lw=0, zorder=0))
        head = -0.5 - 0.35
        ax.text(x_study, head, "Trial", fontweight="bold", va="bottom")
        ax.text(x_when, head, "Result: primary outcome at", fontweight="bold", va="bottom")
        for c in columns:
            ax.text(x_cols[c], head, "Overall" if c == OVERALL else c, ha="center", va="bottom",
                    fontweight="bold")
        previous = None
        for _, r in rows.iterrows():
            y = r["row"]
            if r["study"] != previous:
                ax.text(x_study, y, r["study"], va="center")
                if previous is not None:
                    ax.axhline(y - 0.5, xmin=0.01, xmax=0.99, color="#BBBBBB", lw=0.6)
                previous = r["study"]
            ax.text(x_when, y, str(r["when"]), va="center", fontsize=8.5)
        for _, r in table.iterrows():
            key = _key(r["judgement"])
            x, y = x_cols[r["domain"]], r["row"]
            ax.plot([x], [y], ls="none", marker="o", ms=15, mfc=ROB_COLOURS[key], mec="#333333",
                    mew=0.6, zorder=2, gid=f"rob_{r['domain']}_{key}")
            ax.text(x, y, ROB_GLYPHS[key], ha="center", va="center", fontsize=11, fontweight="bold",
                    color=_GLYPH_COLOUR.get(key, "black"), zorder=3)
        fig.text(0.5, 1 - 0.25 / height, title, ha="center", va="top", fontsize=10.5,
                 fontweight="bold")
        handles, labels = _rob_handles({_key(j) for j in table["judgement"]})
        fig.legend(handles, labels, title="Judgement", loc="lower right", handler_map={tuple: HandlerTuple(ndivide=1)},
                   bbox_to_anchor=(0.99, 0.02), frameon=True, fontsize=8.5, title_fontsize=8.5,
                   labelspacing=0.9)
        key_text = "Domains:\n" + "\n".join(f"{d}: {DOMAIN_NAMES[d]}." for d in DOMAINS)
        if note:
            key_text += "\n" + "\n".join(textwrap.wrap(note, 78))
        fig.text(0.02, 0.03, key_text, ha="left", va="bottom", fontsize=8, linespacing=1.35)
    shown = table[["row", "study", "when", "domain", "judgement", "label"]].copy()
    shown["glyph"] = [ROB_GLYPHS[_key(j)] for j in table["judgement"]]
    shown["colour"] = [ROB_COLOURS[_key(j)] for j in table["judgement"]]
    return fig, shown.reset_index(drop=True)


# --------------------------------------------------------------------------- summary bars


def summary_bar_plot(table: pd.DataFrame, *, group_labels: dict | None = None,
                     title: str = "Risk of bias (RoB 2), share of information per judgement",
                     weights_note: str = "") -> tuple[Figure, pd.DataFrame]:
    """Weighted summary bars, robvis style: per domain, the share of information at each
    judgement, one panel per group.

    ``table`` is :func:`analysis.risk_of_bias.summary_table` (``group, domain, judgement,
    share``). ``weights_note`` says what the weights are (printed under the bars).
    """
    groups = list(dict.fromkeys(table["group"]))
    labels = group_labels or {}
    order = [OVERALL] + list(DOMAINS)[::-1]
    note_lines = textwrap.wrap(weights_note, 125) if weights_note else []
    top_in, panel_in, gap_in = 0.8, 1.75, 0.55
    bottom_in = 0.55 + 0.45 + 0.15 * len(note_lines)
    height = top_in + len(groups) * panel_in + (len(groups) - 1) * gap_in + bottom_in
    with figure_style():
        fig = Figure(figsize=(8.6, height))
        axes = fig.subplots(len(groups), 1, squeeze=False)
        fig.subplots_adjust(left=0.42, right=0.97, top=1 - top_in / height, bottom=bottom_in / height,
                            hspace=gap_in / panel_in)
        for ax, group in zip(axes[:, 0], groups):
            g = table[table["group"] == group]
            for i, d in enumerate(order):
                left = 0.0
                for j in _LEGEND_ORDER:
                    share = g[(g["domain"] == d) & (g["judgement"] == j)]["share"]
                    share = float(share.iloc[0]) if len(share) else 0.0
                    if share <= 0:
                        continue
                    ax.barh(i, share, left=left, height=0.68, color=ROB_COLOURS[j], edgecolor="#333333",
                            lw=0.6, gid=f"bar_{d}_{j}")
                    if share >= 0.06:
                        ax.text(left + share / 2, i, f"{ROB_GLYPHS[j]} {100 * share:.0f}%", ha="center",
                                va="center", fontsize=8, fontweight="bold",
                                color=_GLYPH_COLOUR.get(j, "black"))
                    left += share
            ax.set_yticks(range(len(order)))
            ax.set_yticklabels([("Overall risk of bias" if d == OVERALL else f"{d}: {DOMAIN_NAMES[d]}")
                                for d in order])
            ax.get_yticklabels()[0].set_fontweight("bold")
            ax.set_ylim(-0.6, len(order) - 0.4)
            ax.set_xlim(0, 1)
            ax.set_xticks(np.linspace(0, 1, 5))
            ax.set_xticklabels([f"{int(v * 100)}%" for v in np.linspace(0, 1, 5)])
            ax.tick_params(axis="y", length=0)
            ax.spines["left"].set_visible(False)
            ax.set_title(labels.get(group, group), loc="left", fontsize=9.5, fontweight="bold")
        axes[-1, 0].set_xlabel("Share of information (weighted)")
        fig.text(0.02, 1 - 0.18 / height, title, fontsize=10.5, fontweight="bold", va="top")
        present = {j for j in table.loc[table["share"] > 0, "judgement"]}
        fig.legend(handles=[Patch(facecolor=ROB_COLOURS[j], edgecolor="#333333",
                                  label=f"{ROB_GLYPHS[j]}  {JUDGEMENT_LABELS[j]}")
                            for j in _LEGEND_ORDER if j in present],
                   loc="lower center", ncol=4, frameon=False,
                   bbox_to_anchor=(0.5, (0.1 + 0.15 * len(note_lines)) / height))
        if note_lines:
            fig.text(0.02, 0.08 / height, "\n".join(note_lines), fontsize=7.8, va="bottom", color="#333333")
    shown = table[["group", "domain", "judgement", "share"]].copy()
    shown["label"] = shown["judgement"].map(JUDGEMENT_LABELS)
    return fig, shown.reset_index(drop=True)


# --------------------------------------------------------------------------- summary of findings


def summary_of_findings_figure(sof: pd.DataFrame, *, title: str = "Summary of findings: "
                               "dexamethasone iontophoresis vs placebo iontophoresis") -> tuple[Figure, pd.DataFrame]:
    """The GRADE summary of findings as a table figure for slides.

    ``sof`` is :func:`analysis.grade.summary_of_findings`. One row per population ×
    time: trials (with results / known to have measured), participants, effect, the
    five GRADE domains (no / −1 / −2 with footnote letters) and the certainty with its
    ⊕ symbols; the footnotes below.
    """
    from analysis.grade import DOMAIN_TITLES, GRADE_DOMAINS, sof_footnotes

    marks, notes = sof_footnotes(sof)
    short = {"risk_of_bias": "Risk of\nbias", "inconsistency": "Incon-\nsistency",
             "indirectness": "Indirect-\nness", "imprecision": "Impre-\ncision",
             "publication_bias": "Publication\nbias"}
    cols = [("population", "Population\nand time", 1.95), ("trials", "Trials\n(participants)", 2.55),
            ("effect", "Effect (95% CI)\npositive favours dexamethasone", 2.55)] + \
           [(d, short[d], 0.82) for d in GRADE_DOMAINS] + [("certainty", "Certainty", 1.25)]
    wraps = {"population": 26, "trials": 44, "effect": 42}
    shown_rows = []
    for (_, r), m in zip(sof.iterrows(), marks):
        cell = {"population": f"{r['population']}\n{r['time']}",
                "trials": f"{r['k_total']} trial{'s' if r['k_total'] != 1 else ''}, {r['k_with_results']} with results; {r['participants']}",
                "effect": r["effect"].replace("; positive favours dexamethasone", ""),
                "certainty": f"{r['certainty_symbols']}\n{r['certainty']}".strip()}
        own = r.get("certainty_own_population")
        if isinstance(own, str) and own not in ("", r["certainty"], "not rated"):
            cell["certainty"] += f"\n({own} for its\nown population)"
        for d in GRADE_DOMAINS:
            v = r[d]
            text = "" if pd.isna(v) else {0: "no", -1: "\u22121", -2: "\u22122"}[int(v)]
            cell[d] = text + (f" {m[d]}" if d in m else "")
        shown_rows.append(cell)
    wrapped = [{k: "\n".join("\n".join(textwrap.wrap(part, wraps[k])) if k in wraps else part
                             for part in str(v).split("\n")) for k, v in c.items()} for c in shown_rows]
    heights = [max(v.count("\n") + 1 for v in c.values()) for c in wrapped]
    foot_lines = []
    for letter, text in notes:
        lines = textwrap.wrap(f"{letter}. {text}", 190)
        foot_lines += lines
    line_h = 0.165
    body_h = sum(h * line_h + 0.16 for h in heights)
    head_h = 0.55
    foot_h = len(foot_lines) * 0.145 + 0.5
    width = sum(w for *_, w in cols) + 0.3
    height = 0.45 + head_h + body_h + foot_h
    with figure_style():
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes([0, 0, 1, 1])
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")
        ax.text(0.15, 0.3, title, fontsize=10.5, fontweight="bold", va="center")
        y = 0.45
        x = 0.15
        xs = {}
        for key, label, w in cols:
            xs[key] = (x, w)
            ax.text(x + (0.04 if key in wraps else w / 2), y + head_h / 2, label, fontweight="bold",
                    fontsize=8.2, va="center", ha="left" if key in wraps else "center")
            x += w
        ax.plot([0.15, width - 0.15], [y, y], color="black", lw=1.0)
        y += head_h
        ax.plot([0.15, width - 0.15], [y, y], color="black", lw=0.6)
        for i, (c, h) in enumerate(zip(wrapped, heights)):
            row_h = h * line_h + 0.16
            if i % 2:
                ax.add_patch(Rectangle((0.15, y), width - 0.3, row_h, color="#F2F2F2", lw=0, zorder=0))
            for key, label, w in cols:
                x0, w0 = xs[key]
                left = key in wraps
                ax.text(x0 + (0.04 if left else w0 / 2), y + 0.08, c[key], fontsize=8 if key != "certainty" else 8.5,
                        va="top", ha="left" if left else "center", linespacing=1.25,
                        fontweight="bold" if key == "certainty" else "normal", gid=f"sof_{key}")
            y += row_h
        ax.plot([0.15, width - 0.15], [y, y], color="black", lw=1.0)
        y += 0.15
        ax.text(0.15, y, "GRADE: randomised trials start at high certainty; each domain rates down "
                "by 0 (no), 1 or 2 levels; \u2295\u2295\u2295\u2295 high, \u2295\u2295\u2295\u25ef "
                "moderate, \u2295\u2295\u25ef\u25ef low, \u2295\u25ef\u25ef\u25ef very low.",
                fontsize=7.6, va="top")
        y += 0.22
        for line in foot_lines:
            ax.text(0.15, y, line, fontsize=7.2, va="top", color="#222222")
            y += 0.145
    table = pd.DataFrame(shown_rows)
    table["footnotes"] = ["; ".join(f"{m[d]}. {dict(notes)[m[d]]}" for d in GRADE_DOMAINS if d in m)
                          for m in marks]
    table.insert(0, "scope", sof["scope"].to_numpy())
    table.insert(1, "window", sof["window"].to_numpy())
    table = table.rename(columns={d: DOMAIN_TITLES[d] for d in GRADE_DOMAINS})
    return fig, table


# --------------------------------------------------------------------------- effect direction

_WINDOW_TITLES = {"end_of_treatment": "End of treatment", "about_one_month": "About one month after",
                  "later": "Later (3 months to 1 year)", "not_stated": "Time not stated"}
_SCOPE_TITLES = {"running_injury": "Running injuries",
                 "other_tendinopathy": "Elbow (separate comparison)",
                 "unspecified_tendinopathy": "Tendon not named"}
_SIZES = {"small": 10.0, "medium": 15.0, "large": 20.0, "unknown": 10.0}


def _arrow(ax, x, y, arrow, size, colour, hollow, gid):
    face = "white" if hollow else colour
    edge = colour if hollow else "#222222"
    kw = dict(ls="none", ms=_SIZES[size], mfc=face, mec=edge, mew=1.6 if hollow else 0.7, zorder=3, gid=gid)
    if arrow == "up":
        ax.plot([x], [y], marker="^", **kw)
    elif arrow == "down":
        ax.plot([x], [y], marker="v", **kw)
    elif arrow == "sideways":
        d = 0.11 * _SIZES[size] / 12
        ax.plot([x - d], [y], marker="<", **kw)
        ax.plot([x + d], [y], marker=">", **dict(kw, gid=None))
    else:
        ax.text(x, y, "?", ha="center", va="center", fontsize=11, fontweight="bold", color="#333333", gid=gid)


def effect_direction_plot(cells: pd.DataFrame, tests: pd.DataFrame, *,
                          title: str = "Effect direction: dexamethasone vs placebo iontophoresis",
                          note: str = "") -> tuple[Figure, pd.DataFrame]:
    """Effect-direction plot (Boon & Thomson 2021): trials × (time window, outcome domain).

    ``cells`` is :func:`analysis.grade.effect_direction_cells` (only ``drawn`` cells are
    shown), ``tests`` is :func:`analysis.grade.sign_tests` (one line per scope under its
    trials). Arrow: up favours dexamethasone, down favours placebo, ◄► no clear
    difference or conflicting, ? direction not stated; size by sample size class; colour
    by the trial's overall RoB 2 judgement (grey: not assessed); hollow arrows are
    within-group findings only (not a comparison with placebo; never voted).
    """
    drawn = cells[cells["drawn"]].copy()
    from analysis.grade import OUTCOME_DOMAINS

    windows = [w for w in _WINDOW_TITLES if w in set(drawn["window"])] + \
        [w for w in dict.fromkeys(drawn["window"]) if w not in _WINDOW_TITLES]
    columns = [(w, d) for w in windows for d in OUTCOME_DOMAINS
               if ((drawn["window"] == w) & (drawn["domain"] == d)).any()]
    scopes = [s for s in _SCOPE_TITLES if s in set(drawn["scope"])] + \
        [s for s in dict.fromkeys(drawn["scope"]) if s not in _SCOPE_TITLES]
    layout = []  # (kind, scope, study)
    for s in scopes:
        layout.append(("scope", s, None))
        for study in dict.fromkeys(drawn.loc[drawn["scope"] == s, "study"]):
            layout.append(("trial", s, study))
        layout.append(("test", s, None))
    n_rows = len(layout)
    col_w, label_w = 1.02, 2.5
    width = label_w + col_w * len(columns) + 0.4
    with figure_style():
        fig = Figure(figsize=(max(width, 8.6), 1.6 + 0.42 * n_rows + 2.0))
        height = fig.get_figheight()
        ax = fig.add_axes([0.0, 2.05 / height, 1.0, 1 - 3.25 / height])
        ax.set_xlim(0, max(width, 8.6))
        ax.set_ylim(n_rows - 0.5, -0.5)
        ax.axis("off")
        xcol = {c: label_w + col_w * (i + 0.5) for i, c in enumerate(columns)}
        for w in windows:
            xs = [xcol[c] for c in columns if c[0] == w]
            ax.text((min(xs) + max(xs)) / 2, -1.55, _WINDOW_TITLES.get(w, w.replace("_", " ")), ha="center", va="bottom",
                    fontweight="bold", fontsize=8.8)
            ax.plot([min(xs) - col_w * 0.45, max(xs) + col_w * 0.45], [-1.4, -1.4], color="#555555", lw=0.8,
                    clip_on=False)
        for c, x in xcol.items():
            ax.text(x, -0.75, c[1].replace(" ", "\n", 1) if c[1] == "global improvement" else c[1],
                    ha="center", va="bottom", fontsize=8.2)
        shown = []
        trial_row = {}
        for i, (kind, s, study) in enumerate(layout):
            if kind == "scope":
                ax.text(0.12, i, _SCOPE_TITLES.get(s, s), fontweight="bold", va="center", fontsize=9)
                ax.axhline(i - 0.5, color="#999999", lw=0.6)
            elif kind == "trial":
                trial_row[(s, study)] = i
                t = drawn[(drawn["scope"] == s) & (drawn["study"] == study)].iloc[0]
                n_text = (f"{t['n']:g} {dict(foot='feet', patient='patients').get(t['unit'], 'participants')}"
                          if np.isfinite(t["n"]) else "n not known")
                extra = f", {t['pedro']}" if t["pedro"] else ""
                ax.text(0.3, i, f"{study}", va="center", fontsize=8.8)
                ax.text(0.3, i + 0.3, f"{n_text}{extra}", va="center", fontsize=7.2, color="#555555")
            else:
                sub = tests[tests["scope"] == s]
                ax.text(0.3, i, "Sign test", va="center", fontsize=7.8, style="italic", color="#333333")
                for c, x in xcol.items():
                    hit = sub[(sub["window"] == c[0]) & (sub["domain"] == c[1])]
                    if not len(hit):
                        continue
                    h = hit.iloc[0]
                    if np.isfinite(h["p_value"]):
                        text = f"{int(h['up'])}\u2191 {int(h['down'])}\u2193\np = {h['p_value']:.2g}"
                    elif h["votes"] == 0:
                        text = "no votes"
                    else:
                        text = f"{int(h['up'])}\u2191 {int(h['down'])}\u2193\ntoo few"
                    ax.text(x, i, text, ha="center", va="center", fontsize=7, color="#333333", style="italic")
                    shown.append({"row": "sign test", "scope": s, "study": "", "window": c[0], "domain": c[1],
                                  "arrow": "", "basis": "", "size": "", "risk_of_bias": "",
                                  "in_vote": False, "text": text.replace("\n", " ")})
        for _, c in drawn.iterrows():
            y = trial_row[(c["scope"], c["study"])]
            x = xcol[(c["window"], c["domain"])]
            colour = ROB_COLOURS[_key(c["risk_of_bias"])]
            hollow = c["basis"] == "within-group only"
            _arrow(ax, x, y, c["arrow"], c["size"], colour, hollow, gid=f"ed_{c['arrow']}")
            shown.append({"row": "trial", "scope": c["scope"], "study": c["study"], "window": c["window"],
                          "domain": c["domain"], "arrow": c["arrow"], "basis": c["basis"], "size": c["size"],
                          "risk_of_bias": c["risk_of_bias"], "in_vote": bool(c["in_vote"]),
                          "text": c["outcomes"]})
        fig.text(0.02, 1 - 0.22 / height, title, fontsize=10.5, fontweight="bold", va="top")
        grey = "#888888"
        arrow_labels = ["favours dexamethasone", "favours placebo", "no clear difference or conflicting",
                        "direction not stated", "hollow: within-group only (not voted)"]
        arrows = [
            Line2D([], [], ls="none", marker="^", ms=9, mfc=grey, mec="#222222"),
            Line2D([], [], ls="none", marker="v", ms=9, mfc=grey, mec="#222222"),
            (Line2D([], [], ls="none", marker="<", ms=9, mfc=grey, mec="#222222"),
             Line2D([], [], ls="none", marker=">", ms=9, mfc=grey, mec="#222222")),
            Line2D([], [], ls="none", marker=r"$?$", ms=9, color="#333333"),
            Line2D([], [], ls="none", marker="^", ms=9, mfc="white", mec=grey, mew=1.6),
        ]
        sizes = [Line2D([], [], ls="none", marker="^", ms=_SIZES[k], mfc="white", mec="#222222",
                        label=lab) for k, lab in (("small", "n < 50"), ("medium", "n 50\u2013300"),
                                                  ("large", "n > 300"))]
        rob = [Line2D([], [], ls="none", marker="s", ms=10, mfc=ROB_COLOURS[_key(j)], mec="#222222",
                      label=("RoB 2 " + JUDGEMENT_LABELS[j].lower()) if j in JUDGEMENT_LABELS else "RoB 2 not assessed")
               for j in dict.fromkeys(_key(j) for j in drawn["risk_of_bias"])]
        legend_top = 1.95 / height
        common = dict(loc="upper left", frameon=False, fontsize=7.8, title_fontsize=8, alignment="left")
        fig.legend(arrows, arrow_labels, bbox_to_anchor=(0.01, legend_top), title="Arrow",
                   handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)}, **common)
        fig.legend(handles=sizes, bbox_to_anchor=(0.36, legend_top), title="Size: trial sample",
                   labelspacing=1.0, **common)
        fig.legend(handles=rob, bbox_to_anchor=(0.58, legend_top), title="Colour: overall risk of bias",
                   **common)
        if note:
            fig.text(0.02, 0.08 / height, "\n".join(textwrap.wrap(note, 150)), fontsize=7.2, va="bottom",
                     color="#333333")
    return fig, pd.DataFrame.from_records(shown, columns=[
        "row", "scope", "study", "window", "domain", "arrow", "basis", "size", "risk_of_bias",
        "in_vote", "text"])
