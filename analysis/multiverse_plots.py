"""The specification curve of a multiverse (Simonsohn, Simmons & Nelson 2020).

:func:`specification_curve` is a pure function of the specifications table of
:class:`analysis.multiverse.Multiverse` (and its table of factor levels): it computes no
statistic, it sorts, places and colours. Top: every specification's pooled estimate with
its 95% CI, sorted by the estimate, coloured by its conclusion
(:func:`analysis.conventions.verdict`), one panel per window and scale (SMD; a mean
difference on its instrument's scale beside it, never on the SMD axis). Bottom, aligned
column by column: the choices behind each estimate (a row per factor level, grouped by
factor, "which data" above "how to analyse"), each cell in the colour of that
specification's conclusion, light grey where the choice does not apply. The project's
default analysis is marked by a diamond and a dashed line through both panels.

Thousands of specifications are drawn as thin CI segments and as an image for the choices
(one pixel column per specification, blended when there are more specifications than
pixels), so the figure stays readable; the table returned with the figure holds every
plotted specification with its panel, position and colour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis import conventions
from analysis.conventions import WINDOW_LABELS, WINDOWS
from analysis.plots import COLOURS, figure_style

__all__ = ["CONCLUSION_COLOURS", "NOT_APPLICABLE_COLOUR", "specification_curve",
           "PLOTTED_COLUMNS"]

#: Colour of each conclusion: the project's treatment blue, a light grey, and a light
#: tint of its control vermilion, so that they stay apart in greyscale too (luminance
#: about 87, 196 and 153 of 255).
CONCLUSION_COLOURS = {
    conventions.FAVOURS_TREATMENT: COLOURS["treatment"],
    conventions.NO_CLEAR_DIFFERENCE: "#C4C4C4",
    conventions.FAVOURS_CONTROL: "#E8804A",
}
#: Cells of a choice that does not apply to a specification.
NOT_APPLICABLE_COLOUR = "#EBEBEB"
DEFAULT_MARKER_COLOUR = "#000000"

#: Columns of the table returned with the figure, before ``bin`` and the factor columns.
PLOTTED_COLUMNS = ["panel", "window", "scale", "x", "spec_id", "estimate", "ci_lb", "ci_ub",
                   "conclusion", "colour", "is_default"]

SMD_LABEL = "SMD, Hedges' g (95% CI)\npositive favours dexamethasone"

#: Short words for a conclusion in panel titles.
CONCLUSION_WORDS = {
    conventions.FAVOURS_TREATMENT: conventions.FAVOURS_TREATMENT.replace("favours", "favour"),
    conventions.NO_CLEAR_DIFFERENCE: conventions.NO_CLEAR_DIFFERENCE,
    conventions.FAVOURS_CONTROL: conventions.FAVOURS_CONTROL.replace("favours", "favour"),
}


def _wrap(text: str, width: int = 18) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}")


def _printed(values: pd.Series) -> pd.Series:
    """``values`` rounded to the 10 significant digits the figures' CSVs print."""
    return values.map(lambda x: float(f"{x:.10g}") if pd.notna(x) else x)


def _panels(specs: pd.DataFrame, windows) -> list[tuple[str, str, pd.DataFrame]]:
    """(window, scale, rows sorted for plotting) per panel: SMD first, then each MD scale."""
    out = []
    order = {c: i for i, c in enumerate(CONCLUSION_COLOURS)}
    for w in windows:
        sw = specs[specs["window"] == w]
        scales = list(dict.fromkeys(sw["scale"]))
        scales.sort(key=lambda s: (s != "SMD", s))
        for scale in scales:
            # ranked by the numbers as the figure's CSV prints them (10 significant
            # digits): estimates that agree there (several estimators with tau2 = 0) are
            # ordered by conclusion, CI width and specification, not by rounding noise
            rows = sw[sw["scale"] == scale].assign(
                _e=lambda d: _printed(d["estimate"]),
                _c=lambda d: d["conclusion"].map(order),
                _width=lambda d: _printed(d["ci_ub"] - d["ci_lb"]))
            rows = rows.sort_values(["_e", "_c", "_width", "spec_id"], kind="stable")
            out.append((w, scale,
                        rows.drop(columns=["_e", "_c", "_width"]).reset_index(drop=True)))
    return out


def _matrix_layout(levels: pd.DataFrame):
    """Row position of each level (gaps between factors and between the two groups) and
    the blocks of rows per factor and per group."""
    y = 0.0
    pos, factor_blocks, stage_blocks = {}, [], []
    stage_start = None
    previous_stage = None
    for factor, rows in levels.groupby("factor", sort=False):
        stage = rows["stage"].iloc[0]
        if previous_stage is not None and stage != previous_stage:
            stage_blocks.append((previous_stage, stage_start, y - 1.0))
            y += 0.8
            stage_start = None
        if stage_start is None:
            stage_start = y
        start = y
        for level in rows["level"]:
            pos[(factor, level)] = y
            y += 1.0
        factor_blocks.append((factor, start, y - 1.0))
        y += 0.45
        previous_stage = stage
    if previous_stage is not None:
        stage_blocks.append((previous_stage, stage_start, y - 1.45))
    return pos, factor_blocks, stage_blocks, y - 0.45


def _bins(n: int, max_columns: int) -> np.ndarray:
    """Edges of the matrix columns: one per specification, or near-equal bins of
    neighbouring specifications when there are more than ``max_columns``."""
    if n <= max_columns:
        return np.arange(n + 1)
    return np.unique(np.round(np.linspace(0, n, max_columns + 1)).astype(int))


def _block_image(values: np.ndarray, block_levels, rgba: np.ndarray,
                 edges: np.ndarray) -> np.ndarray:
    """RGBA image of one factor's rows: for each column (bin) and level, the share of the
    bin's specifications with that level shown as the strength of their mean conclusion
    colour (strength = share ** 0.5, so that a level chosen by one in seven stays
    visible); light grey where the choice does not apply, in proportion."""
    starts = edges[:-1]
    size = np.diff(edges).astype(float)
    na = pd.isna(values)
    img = np.ones((len(block_levels), len(starts), 4))
    na_share = np.add.reduceat(na.astype(float), starts) / size
    grey = np.array(to_rgba(NOT_APPLICABLE_COLOUR))
    img[:, :, :3] = 1.0 - na_share[None, :, None] * (1.0 - grey[None, None, :3])
    for r, level in enumerate(block_levels):
        hit = ((values == level) & ~na).astype(float)
        count = np.add.reduceat(hit, starts)
        share = count / size
        with np.errstate(invalid="ignore", divide="ignore"):
            colour = np.add.reduceat(hit[:, None] * rgba[:, :3], starts) / count[:, None]
        strength = np.sqrt(share)[:, None]
        paint = np.where(count[:, None] > 0, colour, 1.0)
        img[r, :, :3] = img[r, :, :3] * (1.0 - strength) + paint * strength
    return img


def _tally(ax, conclusions: pd.Series) -> None:
    """A stacked bar of the panel's conclusions, with the counts where they fit."""
    counts = conclusions.value_counts()
    total = float(len(conclusions))
    left = 0.0
    for name, colour in CONCLUSION_COLOURS.items():
        c = int(counts.get(name, 0))
        if not c:
            continue
        width = c / total
        ax.barh(0, width, left=left, height=1.0, color=colour, edgecolor="white", lw=0.6,
                gid="conclusion_tally")
        text = "white" if name != conventions.NO_CLEAR_DIFFERENCE else "#000000"
        ax.text(left + width / 2, 0, f"{c:,}", ha="center", va="center", fontsize=7,
                color=text, clip_on=True)
        left += width
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, 0.5)
    ax.set_axis_off()


def specification_curve(specifications: pd.DataFrame, levels: pd.DataFrame, *,
                        windows=WINDOWS, smd_label: str = SMD_LABEL,
                        title: str | None = None,
                        columns_per_inch: float = 50.0) -> tuple[Figure, pd.DataFrame]:
    """Draw the specification curve; return ``(Figure, table of what is plotted)``.

    ``specifications``: one row per specification with ``spec_id, window, scale,
    estimate, ci_lb, ci_ub, conclusion, is_default`` and a column per factor holding its
    level (empty where the choice does not apply), as
    :attr:`analysis.multiverse.Multiverse.specifications`. ``levels``: the factor levels
    in display order with ``stage, stage_label, factor, factor_label, level,
    level_label`` (:meth:`analysis.multiverse.Multiverse.levels`). ``windows``: the
    windows drawn, in order. ``columns_per_inch``: above this many specifications per
    inch of a panel, the matrix shows bins of neighbouring specifications (the shade of
    a cell is the share of the bin with that choice). The table has
    :data:`PLOTTED_COLUMNS`, ``bin`` (the matrix column) and the factor columns, one row
    per plotted specification in plotting order.
    """
    _require(specifications, ["spec_id", "window", "scale", "estimate", "ci_lb", "ci_ub",
                              "conclusion", "is_default"], "specifications")
    _require(levels, ["stage", "stage_label", "factor", "factor_label", "level",
                      "level_label"], "levels")
    factors = list(dict.fromkeys(levels["factor"]))
    _require(specifications, factors, "specifications (a column per factor)")
    unknown = sorted(set(specifications["conclusion"]) - set(CONCLUSION_COLOURS))
    if unknown:
        raise ValueError(f"unknown conclusion(s) {unknown}; expected {list(CONCLUSION_COLOURS)}")
    specs = specifications[specifications["window"].isin(list(windows))
                           & np.isfinite(specifications["estimate"].to_numpy(float))]
    if specs.empty:
        raise ValueError("no specification with an estimate in the windows drawn")
    panels = _panels(specs, windows)
    pos, factor_blocks, stage_blocks, height = _matrix_layout(levels)
    n_rows = height + 1.0

    # widths: the SMD panels share 7 inches in proportion to their specifications (at
    # least 1.6 inches each); every other scale gets a narrow panel
    fig_width, left_margin, right_margin = 11.5, 0.235, 0.035
    smd_total = sum(len(r) for _, s, r in panels if s == "SMD")
    widths = [max(1.6, 7.0 * len(r) / smd_total) if s == "SMD" and smd_total else 0.95
              for _, s, r in panels]
    gaps = [0.12 if panels[i][0] == panels[i - 1][0] else 0.75 for i in range(1, len(panels))]
    ratios = []
    for i, wd in enumerate(widths):
        if i:
            ratios.append(gaps[i - 1])
        ratios.append(wd)
    panel_inches = [wd / sum(ratios) * fig_width * (1 - left_margin - right_margin)
                    for wd in widths]

    matrix_height = 0.145 * n_rows
    records = []
    with figure_style():
        fig = Figure(figsize=(fig_width, 1.25 + 0.2 + 3.0 + 0.12 + matrix_height + 0.3))
        total_h = fig.get_figheight()
        grid = fig.add_gridspec(4, len(ratios), width_ratios=ratios,
                                height_ratios=[0.2, 3.0, 0.12, matrix_height], hspace=0.0,
                                wspace=0.0, left=left_margin, right=1 - right_margin,
                                top=1 - 1.25 / total_h, bottom=0.3 / total_h)
        smd_axes, first_curve, first_matrix = [], None, None
        smd_values = specs.loc[specs["scale"] == "SMD", ["ci_lb", "ci_ub", "estimate"]]
        smd_lim = None
        if len(smd_values):
            lo = float(np.nanmin(smd_values.to_numpy(float)))
            hi = float(np.nanmax(smd_values.to_numpy(float)))
            pad = 0.05 * (hi - lo or 1.0)
            smd_lim = (min(lo, 0.0) - pad, max(hi, 0.0) + pad)
        for i, (w, scale, rows) in enumerate(panels):
            col = 2 * i
            tx = fig.add_subplot(grid[0, col])
            ax = fig.add_subplot(grid[1, col], sharey=smd_axes[0] if (scale == "SMD"
                                                                         and smd_axes) else None)
            mx = fig.add_subplot(grid[3, col], sharex=ax)
            if scale == "SMD":
                smd_axes.append(ax)
            n = len(rows)
            x = np.arange(n, dtype=float)
            colours = rows["conclusion"].map(CONCLUSION_COLOURS).to_numpy(object)
            rgba = np.array([to_rgba(c) for c in colours])
            est = rows["estimate"].to_numpy(float)
            lb = rows["ci_lb"].to_numpy(float)
            ub = rows["ci_ub"].to_numpy(float)

            # headings and the tally of conclusions
            _tally(tx, rows["conclusion"])
            plural = "s" if n != 1 else ""
            if scale == "SMD":
                tx.annotate(WINDOW_LABELS.get(w, w), xy=(0, 1), xycoords="axes fraction",
                            xytext=(0, 17), textcoords="offset points", ha="left",
                            va="bottom", fontsize=9.5, fontweight="bold", gid="window_label")
                tx.annotate(f"SMD: {n:,} specification{plural}", xy=(0, 1),
                            xycoords="axes fraction", xytext=(0, 3), textcoords="offset points",
                            ha="left", va="bottom", fontsize=7.5)
            else:
                tx.annotate(f"MD: {n:,}", xy=(0, 1), xycoords="axes fraction", xytext=(0, 3),
                            textcoords="offset points", ha="left", va="bottom", fontsize=7.5)

            # the curve
            lw = float(np.clip(0.6 * 72.0 * panel_inches[i] / max(n, 1), 0.3, 2.5))
            segs = np.stack([np.column_stack([x, lb]), np.column_stack([x, ub])], axis=1)
            # narrow CIs drawn on top; widths equal as printed keep the curve's order
            widths = _printed(pd.Series(ub - lb)).to_numpy()
            wide_first = np.argsort(-widths, kind="stable")
            ax.add_collection(LineCollection(segs[wide_first], colors=rgba[wide_first],
                                             linewidths=lw, gid="specification_ci", zorder=2))
            ax.plot(x, est, ls="none", marker="o", ms=max(0.6, min(3.0, 90.0 / max(n, 1))),
                    color="#000000", gid="specification_estimate", zorder=3)
            ax.axhline(0.0, color=COLOURS["rule"], lw=0.8, zorder=1)
            ax.set_xlim(-0.5 - 0.01 * n, n - 0.5 + 0.01 * n)
            if scale == "SMD" and smd_lim is not None:
                ax.set_ylim(*smd_lim)
            else:
                vals = np.concatenate([lb, ub, [0.0]])
                pad = 0.05 * (np.nanmax(vals) - np.nanmin(vals) or 1.0)
                ax.set_ylim(np.nanmin(vals) - pad, np.nanmax(vals) + pad)
            for d in np.flatnonzero(rows["is_default"].to_numpy(bool)):
                for a in (ax, mx):
                    a.axvline(x[d], color=DEFAULT_MARKER_COLOUR, lw=0.8, ls=(0, (3, 2)),
                              zorder=4, gid="default_line")
                ax.plot([x[d]], [est[d]], marker="D", ms=7, mfc="white",
                        mec=DEFAULT_MARKER_COLOUR, mew=1.4, ls="none", zorder=5,
                        gid="default_marker")
            ax.tick_params(axis="x", bottom=False, labelbottom=False)
            ax.spines["bottom"].set_visible(False)
            if scale == "SMD":
                if first_curve is None:
                    ax.set_ylabel(smd_label)
                    first_curve = ax
                else:
                    ax.tick_params(axis="y", labelleft=False)
            else:
                ax.yaxis.tick_right()
                ax.yaxis.set_label_position("right")
                ax.spines["left"].set_visible(False)
                ax.spines["right"].set_visible(True)
                ax.set_ylabel(scale, fontsize=7.5, labelpad=2)
                ax.tick_params(axis="y", labelsize=7)

            # the matrix of choices, a column per specification or per bin of them
            edges = _bins(n, max(1, int(columns_per_inch * panel_inches[i])))
            for f, start, end in factor_blocks:
                block_levels = list(levels.loc[levels["factor"] == f, "level"])
                img = _block_image(rows[f].to_numpy(object), block_levels, rgba, edges)
                mx.imshow(img, aspect="auto", interpolation="nearest",
                          extent=(-0.5, n - 0.5, end + 0.5, start - 0.5),
                          gid=f"choice_matrix:{f}", zorder=1)
            mx.set_ylim(n_rows - 0.5, -0.5)
            mx.tick_params(axis="x", bottom=False, labelbottom=False)
            for side in ("top", "right", "bottom", "left"):
                mx.spines[side].set_visible(False)
            if first_matrix is None:
                first_matrix = mx
                mx.set_yticks([pos[(f, lv)] for f, lv in zip(levels["factor"], levels["level"])])
                mx.set_yticklabels(levels["level_label"], fontsize=7)
                mx.tick_params(axis="y", length=0, pad=2)
                labels = levels.drop_duplicates("factor").set_index("factor")
                level_width = 6 + 3.9 * max(len(str(t)) for t in levels["level_label"])
                factor_width = 4.3 * max(len(str(t)) for t in labels["factor_label"])
                for f, start, end in factor_blocks:
                    mx.annotate(labels.at[f, "factor_label"], xy=(0, (start + end) / 2),
                                xycoords=("axes fraction", "data"), xytext=(-level_width, 0),
                                textcoords="offset points", ha="right", va="center",
                                fontsize=7.5, fontweight="bold", gid="factor_label")
                stage_label = dict(zip(levels["stage"], levels["stage_label"]))
                for stage, start, end in stage_blocks:
                    mx.annotate(stage_label[stage], xy=(0, (start + end) / 2),
                                xycoords=("axes fraction", "data"),
                                xytext=(-level_width - factor_width - 12, 0),
                                textcoords="offset points", ha="center", va="center",
                                rotation=90, fontsize=8.5, fontweight="bold",
                                color=COLOURS["secondary_line"], gid="stage_label")
            else:
                mx.set_yticks([])
            binned = len(edges) - 1 < n
            if scale == "SMD":
                note = "sorted by estimate"
                if binned:
                    note += f"; matrix: {len(edges) - 1} bins of ~{n / (len(edges) - 1):.0f}"
                mx.set_xlabel(note, fontsize=7, color=COLOURS["secondary_line"], labelpad=2)

            bin_of = np.searchsorted(edges, x, side="right") - 1
            part = rows.assign(panel=f"{w} | {scale}", x=x, colour=colours, bin=bin_of)
            records.append(part[PLOTTED_COLUMNS + ["bin"] + factors])

        handles = [Line2D([], [], color=c, lw=3, label=name)
                   for name, c in CONCLUSION_COLOURS.items()]
        handles.append(Line2D([], [], ls=(0, (3, 2)), color=DEFAULT_MARKER_COLOUR, marker="D",
                              mfc="white", mec=DEFAULT_MARKER_COLOUR, ms=6,
                              label="the project's default analysis"))
        handles.append(Patch(facecolor=NOT_APPLICABLE_COLOUR, edgecolor="#CCCCCC", lw=0.5,
                             label="choice does not apply"))
        fig.legend(handles=handles, loc="upper left",
                   bbox_to_anchor=(left_margin, 1 - 0.3 / total_h), ncol=len(handles),
                   frameon=False, fontsize=7.5, handlelength=1.8, columnspacing=1.2,
                   title="Each specification's pooled estimate with its 95% CI, coloured by "
                   "the conclusion the CI supports (the bar counts them);\nbelow it, in the "
                   "same column, the choices behind it (shade: the share of a bin of "
                   "neighbouring specifications)", title_fontsize=7.5)
        legend = fig.legends[-1]
        legend._legend_box.align = "left"
        if title:
            fig.suptitle(title, x=left_margin, y=1 - 0.08 / total_h, ha="left", va="top",
                         fontsize=10, fontweight="bold")
    table = pd.concat(records, ignore_index=True)
    return fig, table
