"""RevMan-style forest plot: a tidy table of trials and pooled results in, a Figure out.

The contract follows the Python ``forestplot`` package (a tidy DataFrame in, matplotlib
out) and the layout follows the forest plot of Cochrane's RevMan 5, the one readers of
systematic reviews know: a table on the left ("Study or Subgroup", the per-arm Mean,
SD and Total, "Weight", the effect with its 95% CI) and the plot on the right, with per
subgroup a subtotal diamond, the heterogeneity line and the test for overall effect.

Nothing here computes a statistic. Every number drawn comes from the two tables the
caller passes, so a reviewer's own results or a teacher's invented example can be
plotted exactly like the project's pipeline output.

Public API
----------
``forest_plot(rows, summaries=None, *, ...)``
    the figure (see its docstring for the table columns).
``favours_labels(direction, treatment="dexamethasone", control="placebo")``
    the "Favours ..." labels for the left and right of the null line.
``format_p_value``, ``format_heterogeneity``, ``format_overall_effect``,
``format_subgroup_test``
    the footer texts, in RevMan 5's wording and rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from matplotlib.path import Path
from matplotlib.ticker import MaxNLocator

from analysis.conventions import favours_labels
from analysis.plots import COLOURS, FONT_FAMILY

__all__ = [
    "forest_plot",
    "favours_labels",
    "format_p_value",
    "format_heterogeneity",
    "format_overall_effect",
    "format_subgroup_test",
    "FOREST_ROW_COLUMNS",
    "FOREST_SUMMARY_COLUMNS",
]

#: Columns ``rows`` must have. ``subgroup`` (default: no subgrouping), ``note``
#: (default "Not estimable"), ``marker`` and the arm columns are optional.
FOREST_ROW_COLUMNS = ("study", "estimate", "ci_lb", "ci_ub", "weight", "estimable")
ARM_COLUMNS = ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")
#: Columns ``summaries`` must have once any of its estimates is finite (a table of
#: only not-estimable summaries needs the first five). ``pi_lb``, ``pi_ub``, ``n_t``,
#: ``n_c`` and ``stat_df`` (needed only where ``stat_name`` is "t") are optional.
FOREST_SUMMARY_COLUMNS = (
    "subgroup", "label", "estimate", "ci_lb", "ci_ub", "weight",
    "k", "tau2", "q", "q_df", "q_pval", "i2", "stat_name", "stat", "pval", "method",
)
SUBGROUP_TEST_KEYS = ("q", "df", "pval", "i2")

MINUS = "\u2212"
EM_DASH = "\u2014"
_SUPERSCRIPTS = dict(zip(
    "abcdefghijklmnoprstuvwxyz0123456789+-",
    "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻",
))

# Typography and geometry (inches unless named otherwise). The font and colours are the
# project's (analysis.plots), so forest plots match the other figures.
FONT_SIZE = 9.0          # table, headers, footers, favours labels (pt)
TICK_SIZE = 8.5          # axis tick labels (pt)
FOOTNOTE_SIZE = 8.5      # footnotes under the plot (pt)
TITLE_SIZE = 10.5
LINE = FONT_SIZE * 1.6 / 72          # height of one table line
GAP = 0.22                           # between table columns
GAP_IN_ARM = 0.14                    # between Mean, SD and Total of one arm
MARGIN = 0.18
NOTE_WIDTH = 2.0                     # italic notes wider than this wrap
STUDY_WIDTH = 2.6                    # study labels wider than this wrap
PLOT_MIN, PLOT_MAX = 2.8, 4.0        # width of the plot column
TARGET_WIDTH = 10.5                  # the plot column widens towards this figure width
SQUARE_MAX_PT = 11.0                 # side of the square of the largest weight
SQUARE_MIN_PT = 3.0                  # floor so that tiny weights stay visible
SQUARE_COLOUR = COLOURS["treatment"]   # Okabe-Ito blue
LINE_COLOUR = COLOURS["line"]
PI_COLOUR = COLOURS["secondary_line"]
RULE_COLOUR = COLOURS["rule"]


# ----------------------------------------------------------------------------------
# Labels and footer texts
# ----------------------------------------------------------------------------------

def format_p_value(p: float) -> str:
    """Format a P value as RevMan 5 does: ``"P = 0.27"``, ``"P = 0.004"``, ``"P < 0.00001"``.

    Two decimals from 0.01 upwards, one significant digit below, and
    ``"P < 0.00001"`` under 0.00001.
    """
    p = float(p)
    if not math.isfinite(p) or p < 0 or p > 1:
        raise ValueError(f"a P value must lie in [0, 1], got {p!r}")
    if p < 0.00001:
        return "P < 0.00001"
    if p >= 0.00995:
        return f"P = {p:.2f}"
    decimals = -math.floor(math.log10(p))
    text = f"{p:.{decimals}f}"
    if float(text) >= 0.01:       # rounding carried into the next decade
        text = "0.01"
    return f"P = {text}"


def format_heterogeneity(tau2: float, q: float, q_df: float, q_pval: float,
                         i2: float, k: int) -> str:
    """Heterogeneity line as RevMan 5 writes it.

    ``"Heterogeneity: Tau² = 0.00; Chi² = 1.23, df = 1 (P = 0.27); I² = 19%"``, where
    Chi² is Cochran's Q on ``q_df`` = k − 1 degrees of freedom, Tau² and Chi² have two
    decimals and I² (a percent) is rounded to a whole number. With fewer than two
    trials (``k`` < 2) heterogeneity cannot be estimated: ``"Heterogeneity: Not
    applicable"`` (RevMan's wording).
    """
    if not _finite_number(k) or int(k) < 2:
        return "Heterogeneity: Not applicable"
    return (
        f"Heterogeneity: Tau² = {_fixed(tau2, 2)}; Chi² = {_fixed(q, 2)}, "
        f"df = {_int_text(q_df)} ({format_p_value(q_pval)}); I² = {_fixed(i2, 0)}%"
    )


def format_overall_effect(stat_name: str, stat: float, stat_df: float,
                          pval: float) -> str:
    """Test-for-overall-effect line as RevMan 5 writes it.

    ``"Test for overall effect: Z = 2.10 (P = 0.04)"`` for a Wald-type (normal) test,
    ``"Test for overall effect: t = 2.10, df = 4 (P = 0.10)"`` for a t test (e.g. the
    Hartung–Knapp method). Like RevMan, the statistic is shown as its absolute value;
    the direction is read from the diamond. A missing statistic gives ``"Test for
    overall effect: Not applicable"``.
    """
    if stat_name not in ("Z", "t"):
        raise ValueError(f"stat_name must be 'Z' or 't', got {stat_name!r}")
    if not (_finite_number(stat) and _finite_number(pval)):
        return "Test for overall effect: Not applicable"
    text = f"Test for overall effect: {stat_name} = {_fixed(abs(float(stat)), 2)}"
    if stat_name == "t":
        if not _finite_number(stat_df):
            raise ValueError("stat_df is required (finite) when stat_name is 't'")
        text += f", df = {_int_text(stat_df)}"
    return f"{text} ({format_p_value(pval)})"


def format_subgroup_test(q: float, df: float, pval: float, i2: float) -> str:
    """Test for subgroup differences as RevMan 5 writes it.

    ``"Test for subgroup differences: Chi² = 0.50, df = 1 (P = 0.48), I² = 0%"``:
    Chi² is the between-subgroup Q on ``df`` = (number of subgroups − 1) degrees of
    freedom and I² = max(0, (Q − df) / Q) as a whole percent, both as given by the caller.
    """
    return (
        f"Test for subgroup differences: Chi² = {_fixed(q, 2)}, df = {_int_text(df)} "
        f"({format_p_value(pval)}), I² = {_fixed(i2, 0)}%"
    )


# ----------------------------------------------------------------------------------
# Small formatting helpers
# ----------------------------------------------------------------------------------

def _finite_number(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _fixed(x: float, digits: int) -> str:
    """Fixed decimals with a typographic minus; "−0.00" becomes "0.00"."""
    text = f"{float(x):.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else MINUS + text[1:]
    return text


def _int_text(x: float) -> str:
    x = float(x)
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:.2f}"


def _decimals(x, cap: int = 2) -> int:
    """Decimals needed to show ``x`` exactly, at most ``cap`` (0 for unknown values)."""
    if not _finite_number(x):
        return 0
    text = _fixed(float(x), cap)
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _arm_values(t, c) -> tuple[str, str]:
    """One statistic (mean or SD) of both arms of a trial, "—" where unknown.

    Both arms get the decimals of the more precise one, at most two, so a trial that
    printed 5.6 ± 8.0 against 7.4 ± 6.3 reads "8.0", not "8"; a value recovered by a
    formula is rounded to two decimals.
    """
    digits = max(_decimals(t), _decimals(c))
    return tuple(_fixed(float(x), digits) if _finite_number(x) else EM_DASH for x in (t, c))


def _count(x) -> str:
    return _fixed(round(float(x)), 0) if _finite_number(x) else EM_DASH


def _effect_text(est, lb, ub, digits: int) -> str:
    return f"{_fixed(est, digits)} [{_fixed(lb, digits)}, {_fixed(ub, digits)}]"


def _superscript(marker: str) -> str:
    marker = str(marker)
    if all(ch in _SUPERSCRIPTS for ch in marker.lower()):
        return "".join(_SUPERSCRIPTS[ch] for ch in marker.lower())
    return f" ({marker})"


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------

#: Longest study label, note, title or footnote accepted (characters). Longer texts
#: would make the figure grow without bound (a 100,000-character label exhausts memory).
MAX_TEXT_CHARS = 2000


def _check_text_lengths(rows, summaries, title, footnotes, effect_label) -> None:
    def check(text, where):
        if not _is_missing(text) and len(str(text)) > MAX_TEXT_CHARS:
            raise ValueError(f"{where} has {len(str(text))} characters; a forest plot accepts "
                             f"at most {MAX_TEXT_CHARS}")

    for col in ("study", "note", "subgroup"):
        if col in rows.columns:
            for i, text in enumerate(rows[col]):
                check(text, f"rows column {col!r}, row {i}")
    if summaries is not None and "label" in summaries.columns:
        for i, text in enumerate(summaries["label"]):
            check(text, f"summaries column 'label', row {i}")
    check(title, "the title")
    check(effect_label, "effect_label")
    for i, text in enumerate(footnotes):
        check(text, f"footnote {i}")

def _require_columns(df, required: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is missing required column(s): {', '.join(missing)} "
            f"(has: {', '.join(map(str, df.columns))})"
        )


def _numeric(df: pd.DataFrame, col: str, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(df[col], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} column {col!r} must be numeric: {exc}") from None


def _validate_rows(rows: pd.DataFrame) -> pd.DataFrame:
    _require_columns(rows, FOREST_ROW_COLUMNS, "rows")
    if len(rows) == 0:
        raise ValueError("rows is empty: a forest plot needs at least one trial")
    out = rows.reset_index(drop=True).copy()
    for col in ("estimate", "ci_lb", "ci_ub", "weight"):
        out[col] = _numeric(out, col, "rows")
    for col in ARM_COLUMNS:
        if col in out.columns:
            out[col] = _numeric(out, col, "rows")
    estimable = []
    for i, v in enumerate(out["estimable"]):
        if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
            estimable.append(bool(v))
        else:
            raise ValueError(
                f"rows column 'estimable' must be True or False; row {i} "
                f"({out.at[i, 'study']!r}) has {v!r}"
            )
    out["estimable"] = estimable
    for i, r in out.iterrows():
        if _is_missing(r["study"]):
            raise ValueError(f"rows column 'study' is empty in row {i}")
        if not r["estimable"]:
            continue
        for col in ("estimate", "ci_lb", "ci_ub", "weight"):
            if not _finite_number(r[col]):
                raise ValueError(
                    f"rows column {col!r} must be finite for the estimable trial "
                    f"{r['study']!r} (row {i}); mark it estimable=False with a note instead"
                )
        if not r["ci_lb"] <= r["estimate"] <= r["ci_ub"]:
            raise ValueError(
                f"rows: trial {r['study']!r} (row {i}) needs ci_lb <= estimate <= ci_ub, "
                f"got {r['ci_lb']}, {r['estimate']}, {r['ci_ub']}"
            )
        if r["weight"] < 0:
            raise ValueError(f"rows column 'weight' is negative for trial {r['study']!r}")
    return out


def _validate_summaries(summaries, subgroups: list) -> pd.DataFrame:
    _require_columns(summaries, FOREST_SUMMARY_COLUMNS[:5], "summaries")
    estimates = _numeric(summaries, "estimate", "summaries")
    if np.isfinite(estimates).any():
        _require_columns(summaries, FOREST_SUMMARY_COLUMNS, "summaries")
    out = summaries.reset_index(drop=True).copy()
    for col in FOREST_SUMMARY_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    numeric = ["estimate", "ci_lb", "ci_ub", "weight", "k", "tau2", "q", "q_df",
               "q_pval", "i2", "stat", "pval"]
    for col in ("pi_lb", "pi_ub", "n_t", "n_c", "stat_df"):
        if col in out.columns:
            numeric.append(col)
        else:
            out[col] = np.nan
    for col in numeric:
        out[col] = _numeric(out, col, "summaries")
    # kept as a Python list: a DataFrame column would turn None into NaN
    groups = [None if _is_missing(v) else v for v in out["subgroup"]]
    for i, r in out.iterrows():
        if groups[i] is not None and groups[i] not in subgroups:
            raise ValueError(
                f"summaries row {i} names subgroup {groups[i]!r}, which no trial in "
                f"rows belongs to (subgroups: {subgroups})"
            )
        if not _finite_number(r["estimate"]):
            continue    # "Not estimable": its other fields are not shown
        if r["stat_name"] not in ("Z", "t"):
            raise ValueError(
                f"summaries column 'stat_name' must be 'Z' or 't'; row {i} has "
                f"{r['stat_name']!r}"
            )
        if not (_finite_number(r["ci_lb"]) and _finite_number(r["ci_ub"])
                and r["ci_lb"] <= r["estimate"] <= r["ci_ub"]):
            raise ValueError(
                f"summaries row {i} ({r['label']!r}) needs finite "
                f"ci_lb <= estimate <= ci_ub"
            )
        if r["stat_name"] == "t" and _finite_number(r["stat"]) and not _finite_number(r["stat_df"]):
            raise ValueError(
                f"summaries column 'stat_df' must be finite where stat_name is 't' "
                f"(row {i}, {r['label']!r})"
            )
        if _finite_number(r["pi_lb"]) != _finite_number(r["pi_ub"]):
            raise ValueError(
                f"summaries row {i} ({r['label']!r}) has only one of pi_lb, pi_ub"
            )
    return out, groups


def _validate_subgroup_test(test) -> dict | None:
    if test is None:
        return None
    if not isinstance(test, Mapping):
        raise ValueError(f"subgroup_test must be a mapping, got {type(test).__name__}")
    missing = [k for k in SUBGROUP_TEST_KEYS if k not in test]
    if missing:
        raise ValueError(f"subgroup_test is missing key(s): {', '.join(missing)}")
    return {k: test[k] for k in SUBGROUP_TEST_KEYS}


# ----------------------------------------------------------------------------------
# Layout model: table rows of cells, measured with the Agg renderer
# ----------------------------------------------------------------------------------

@dataclass
class _Cell:
    text: str
    ha: str = "left"          # alignment inside its column: left | right | center
    bold: bool = False
    italic: bool = False
    gid: str | None = None


@dataclass
class _Row:
    kind: str                              # header | heading | trial | summary | pi | footer | spacer
    cells: dict = field(default_factory=dict)   # column key -> _Cell
    span: _Cell | None = None              # text running across the whole table block
    lines: int = 1
    draw: dict = field(default_factory=dict)


def _font(bold=False, italic=False, size=FONT_SIZE) -> FontProperties:
    return FontProperties(family=FONT_FAMILY, size=size,
                          weight="bold" if bold else "normal",
                          style="italic" if italic else "normal")


#: Text widths in inches measured so far in this process, shared by every forest plot
#: (a figure's labels recur in the next one): key (line, bold, italic, size, font file,
#: dpi and the rcParams that shape text), so a changed font or setting measures again.
_WIDTHS: dict = {}
_WIDTHS_LIMIT = 100_000


class _Measure:
    """Text widths in inches from the Agg renderer of the figure being built."""

    def __init__(self, fig: Figure):
        import matplotlib as mpl

        self.renderer = fig.canvas.get_renderer()
        self.dpi = fig.dpi
        self._setting = (self.dpi, mpl.rcParams["text.hinting"],
                         mpl.rcParams.get("text.hinting_factor"))
        self._fonts: dict = {}

    def _font_key(self, bold, italic, size):
        key = (bold, italic, size)
        if key not in self._fonts:
            from matplotlib.font_manager import findfont

            self._fonts[key] = (findfont(_font(bold, italic, size)),) + self._setting
        return self._fonts[key]

    def width(self, text: str, bold=False, italic=False, size=FONT_SIZE) -> float:
        widest = 0.0
        font = None
        for line in str(text).split("\n"):
            if line:
                if font is None:
                    font = self._font_key(bold, italic, size)
                key = (line, bold, italic, size, font)
                if key not in _WIDTHS:
                    if len(_WIDTHS) >= _WIDTHS_LIMIT:
                        _WIDTHS.clear()
                    w, _, _ = self.renderer.get_text_width_height_descent(
                        line, _font(bold, italic, size), ismath=False)
                    _WIDTHS[key] = w / self.dpi
                widest = max(widest, _WIDTHS[key])
        return widest

    def _pieces(self, word: str, max_width: float, **font) -> list[str]:
        """``word`` cut into pieces no wider than ``max_width`` (most as wide as fits);
        ``[word]`` when it fits whole."""
        pieces = []
        while word and self.width(word, **font) > max_width:
            lo, hi = 1, len(word)  # longest prefix that fits, at least one character
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.width(word[:mid], **font) <= max_width:
                    lo = mid
                else:
                    hi = mid - 1
            pieces.append(word[:lo])
            word = word[lo:]
        return pieces + [word]

    def wrap(self, text: str, max_width: float, **font) -> str:
        """Greedy word wrap to ``max_width`` inches; a word wider than a whole line (a long
        DOI, an identifier) is broken between characters so that no line is wider."""
        out = []
        for paragraph in str(text).split("\n"):
            line = ""
            for word in (p for w in paragraph.split(" ") for p in self._pieces(w, max_width, **font)):
                trial = f"{line} {word}" if line else word
                if line and self.width(trial, **font) > max_width:
                    out.append(line)
                    line = word
                else:
                    line = trial
            out.append(line)
        return "\n".join(out)

    def wrap_balanced(self, text: str, max_width: float, **font) -> str:
        """Wrap to ``max_width`` in as few lines as greedy wrapping needs, then even out
        the line lengths (narrowest width that keeps that number of lines)."""
        greedy = self.wrap(text, max_width, **font)
        n = greedy.count("\n") + 1
        if n == 1:
            return greedy
        widest_word = max(self.width(w, **font) for w in text.replace("\n", " ").split(" "))
        lo = max(self.width(text.replace("\n", " "), **font) / n, min(widest_word, max_width))
        hi = max_width
        for _ in range(20):
            mid = (lo + hi) / 2
            if self.wrap(text, mid, **font).count("\n") + 1 <= n:
                hi = mid
            else:
                lo = mid
        return self.wrap(text, hi, **font)


def _default_xlim(values: np.ndarray, null: float) -> tuple[float, float]:
    """Symmetric limits around ``null`` covering ``values``, at a nice half-width.

    The half-width is the smallest of 1, 2, 4, 5 × 10^k that covers every value, so the
    ticks at null ± half-width/2 and ± half-width read as RevMan's (e.g. −2 −1 0 1 2).
    """
    values = values[np.isfinite(values)]
    reach = float(np.max(np.abs(values - null))) if values.size else 1.0
    if reach <= 0:
        reach = 1.0
    exponent = math.floor(math.log10(reach))
    for e in (exponent, exponent + 1):
        for m in (1, 2, 4, 5):
            half = m * 10.0 ** e
            if half >= reach * (1 - 1e-12):
                return null - half, null + half
    raise AssertionError("unreachable")


def _ticks(xlim: tuple[float, float], null: float) -> list[float]:
    lo, hi = xlim
    if math.isclose(null - lo, hi - null, rel_tol=1e-9):
        half = hi - null
        return [null - half, null - half / 2, null, null + half / 2, null + half]
    locator = MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10])
    return [t for t in locator.tick_values(lo, hi) if lo - 1e-12 <= t <= hi + 1e-12]


def _tick_text(t: float) -> str:
    t = 0.0 if abs(t) < 1e-12 else t
    text = f"{t:g}"
    return MINUS + text[1:] if text.startswith("-") else text


# ----------------------------------------------------------------------------------
# The figure
# ----------------------------------------------------------------------------------

def forest_plot(rows: pd.DataFrame, summaries: pd.DataFrame | None = None, *,
                subgroup_test: Mapping | None = None,
                effect_label: str = "Estimate\n95% CI",
                favours_left: str = "",
                favours_right: str = "",
                arm_labels: tuple[str, str] | None = ("Treatment", "Control"),
                null_value: float = 0.0, xlim: tuple[float, float] | None = None,
                title: str | None = None, footnotes: Sequence[str] = (),
                digits: int = 2, ax=None) -> Figure:
    """Draw a RevMan 5-style forest plot and return the matplotlib Figure.

    Parameters
    ----------
    rows
        One row per trial, in display order. Required columns: ``study`` (label with
        year), ``estimate``, ``ci_lb``, ``ci_ub``, ``weight`` (percent within its
        analysis), ``estimable`` (bool). Optional: ``subgroup`` (trials are grouped
        under a bold heading per subgroup, in order of first appearance; missing or
        all-None means no subgrouping), ``note`` (italic text shown instead of the
        effect for a not-estimable trial; default "Not estimable"), ``marker`` (a
        footnote letter appended to the study label as a superscript) and the arm
        columns ``mean_t, sd_t, n_t, mean_c, sd_c, n_c`` (NaN shown as "—").
    summaries
        One row per pooled estimate. ``subgroup`` names the subgroup it pools, or is
        None for the overall line. Required columns: ``subgroup``, ``label``,
        ``estimate``, ``ci_lb``, ``ci_ub``, ``weight``, ``k``, ``tau2``, ``q``,
        ``q_df``, ``q_pval``, ``i2`` (percent), ``stat_name`` ("Z" or "t"), ``stat``,
        ``pval``, ``method``. Optional: ``pi_lb``, ``pi_ub`` (prediction interval,
        drawn as a thin bar through the diamond where both are finite), ``n_t``,
        ``n_c`` (totals), ``stat_df`` (required for "t"). A NaN estimate is shown as
        "Not estimable" without a diamond.
    subgroup_test
        Mapping with ``q``, ``df``, ``pval``, ``i2`` for the test for subgroup
        differences, or None to omit that line.
    effect_label, favours_left, favours_right
        Header of the effect column (repeated over the plot) and the labels under
        the axis, left and right of the null line (none by default: which side favours
        whom depends on the outcome; see :func:`favours_labels`).
    arm_labels
        Names over the two arms' Mean/SD/Total columns (default "Treatment",
        "Control"), or None to leave those columns out. They are also left out when
        ``rows`` has none of the arm columns.
    null_value, xlim
        The line of no effect and the axis limits. By default the limits are
        symmetric around the null, cover every estimable CI and diamond, and end at a
        nice number; a CI running past the limits ends in an arrow head.
    title, footnotes
        Optional title above the table and footnote lines under the plot. Where all
        summaries share one ``method``, it is named once as the first footnote;
        otherwise each summary names its own under its test for overall effect.
    digits
        Decimals of the effect estimates and CIs (RevMan uses 2).
    ax
        Draw inside the area of this Axes (of any figure) instead of a new figure: the
        plot keeps its proportions and is scaled, fonts and lines included, to fit the
        area, centred in it; the Axes itself is hidden. The figure returned is
        ``ax.figure``. Study labels, notes and titles longer than
        :data:`MAX_TEXT_CHARS` characters are refused either way.

    Returns
    -------
    matplotlib.figure.Figure
        With an Agg canvas, about 10–11 in wide for the usual columns, its height
        growing with the number of rows. Drawn artists carry gids for inspection:
        "square", "whisker", "arrow", "diamond", "prediction_interval", "null_line".
        Squares have area proportional to weight (largest weight in the figure: side
        11 pt; floor 3 pt so tiny weights stay visible).
    """
    rows = _validate_rows(rows)
    _check_text_lengths(rows, summaries, title, footnotes, effect_label)
    row_groups = ([None if _is_missing(v) else v for v in rows["subgroup"]]
                  if "subgroup" in rows.columns else [None] * len(rows))
    subgroups = list(dict.fromkeys(row_groups))
    use_subgroups = not (len(subgroups) == 1 and subgroups[0] is None)
    if use_subgroups and None in subgroups:
        raise ValueError(
            "rows column 'subgroup': either every trial has a subgroup or none has; "
            f"found trials without one among subgroups {[s for s in subgroups if s]}"
        )
    if summaries is None:
        summaries = pd.DataFrame(columns=list(FOREST_SUMMARY_COLUMNS))
    summaries, summary_groups = _validate_summaries(summaries,
                                                    subgroups if use_subgroups else [])
    test = _validate_subgroup_test(subgroup_test)
    null_value = float(null_value)
    if not math.isfinite(null_value):
        raise ValueError("null_value must be finite")
    show_arms = arm_labels is not None and any(c in rows.columns for c in ARM_COLUMNS)
    if show_arms and len(arm_labels) != 2:
        raise ValueError("arm_labels must be two names (treatment, control) or None")
    for col in ARM_COLUMNS:
        if col not in rows.columns:
            rows[col] = np.nan
    if "note" not in rows.columns:
        rows["note"] = None
    if "marker" not in rows.columns:
        rows["marker"] = None

    # x limits
    est = rows.loc[rows["estimable"].to_numpy(dtype=bool)]
    fin = summaries.loc[np.array([_finite_number(v) for v in summaries["estimate"]], dtype=bool)]
    covered = np.concatenate([est[["ci_lb", "ci_ub"]].to_numpy(float).ravel(),
                              fin[["ci_lb", "ci_ub"]].to_numpy(float).ravel()])
    if xlim is None:
        xlim = _default_xlim(covered, null_value)
    else:
        xlim = (float(xlim[0]), float(xlim[1]))
        if not (all(map(math.isfinite, xlim)) and xlim[0] < xlim[1]):
            raise ValueError(f"xlim must be two finite numbers, low < high; got {xlim}")
        if not xlim[0] < null_value < xlim[1]:
            raise ValueError(f"null_value {null_value} must lie inside xlim {xlim}")

    methods = [m for m in dict.fromkeys(summaries["method"]) if not _is_missing(m)]
    one_method = len(methods) <= 1

    # ------------------------------------------------------------------ table rows
    body: list[_Row] = []

    def add_summary(s) -> None:
        cells = {"study": _Cell(str(s["label"]), bold=True)}
        if show_arms:
            if _finite_number(s["n_t"]):
                cells["n_t"] = _Cell(_count(s["n_t"]), "right", bold=True)
            if _finite_number(s["n_c"]):
                cells["n_c"] = _Cell(_count(s["n_c"]), "right", bold=True)
        if _finite_number(s["weight"]):
            cells["weight"] = _Cell(f"{_fixed(s['weight'], 1)}%", "right", bold=True)
        estimable = _finite_number(s["estimate"])
        if estimable:
            cells["effect"] = _Cell(_effect_text(s["estimate"], s["ci_lb"], s["ci_ub"],
                                                 digits), "center", bold=True)
            draw = {"diamond": (s["estimate"], s["ci_lb"], s["ci_ub"])}
            if _finite_number(s["pi_lb"]):
                draw["pi"] = (s["pi_lb"], s["pi_ub"])
        else:
            cells["effect"] = _Cell("Not estimable", "center", bold=True)
            draw = {}
        body.append(_Row("summary", cells, draw=draw))
        if estimable and _finite_number(s["pi_lb"]):
            body.append(_Row("pi", {
                "study": _Cell("95% prediction interval"),
                "effect": _Cell(f"[{_fixed(s['pi_lb'], digits)}, {_fixed(s['pi_ub'], digits)}]",
                                "center")}))
        if estimable:
            het = format_heterogeneity(s["tau2"], s["q"], s["q_df"], s["q_pval"],
                                       s["i2"], s["k"])
            overall = format_overall_effect(s["stat_name"], s["stat"], s["stat_df"],
                                            s["pval"])
        else:
            het = "Heterogeneity: Not applicable"
            overall = "Test for overall effect: Not applicable"
        body.append(_Row("footer", span=_Cell(het, gid="heterogeneity")))
        body.append(_Row("footer", span=_Cell(overall, gid="overall_effect")))
        if not one_method and not _is_missing(s["method"]):
            body.append(_Row("footer", span=_Cell(f"Method: {s['method']}")))

    for g_index, group in enumerate(subgroups):
        if use_subgroups:
            if g_index:
                body.append(_Row("spacer"))
            body.append(_Row("heading", span=_Cell(str(group), bold=True, gid="subgroup")))
        for _, r in rows.loc[np.array([g == group for g in row_groups], dtype=bool)].iterrows():
            label = str(r["study"])
            if not _is_missing(r["marker"]):
                label += _superscript(r["marker"])
            cells = {"study": _Cell(label, gid="study")}
            if show_arms:
                for stat in ("mean", "sd"):
                    pair = _arm_values(r.get(f"{stat}_t"), r.get(f"{stat}_c"))
                    for col, text in zip((f"{stat}_t", f"{stat}_c"), pair):
                        cells[col] = _Cell(text, "right")
                for col in ("n_t", "n_c"):
                    cells[col] = _Cell(_count(r.get(col)), "right")
            draw = {}
            if r["estimable"]:
                cells["weight"] = _Cell(f"{_fixed(r['weight'], 1)}%", "right")
                cells["effect"] = _Cell(_effect_text(r["estimate"], r["ci_lb"], r["ci_ub"],
                                                     digits), "center")
                draw = {"square": (r["estimate"], r["ci_lb"], r["ci_ub"], r["weight"])}
            else:
                note = "Not estimable" if _is_missing(r["note"]) else str(r["note"])
                cells["effect"] = _Cell(note, "center", italic=True, gid="note")
            body.append(_Row("trial", cells, draw=draw))
        if use_subgroups:
            for _, s in summaries.loc[np.array([g == group for g in summary_groups], dtype=bool)].iterrows():
                add_summary(s)

    overall_rows = summaries.loc[np.array([g is None for g in summary_groups], dtype=bool)]
    if len(overall_rows) or test is not None:
        body.append(_Row("spacer"))
    for _, s in overall_rows.iterrows():
        add_summary(s)
    if test is not None:
        body.append(_Row("footer", span=_Cell(
            format_subgroup_test(test["q"], test["df"], test["pval"], test["i2"]),
            gid="subgroup_test")))

    notes = list(footnotes)
    if one_method and methods:
        notes.insert(0, f"Method: {methods[0]}")

    # ------------------------------------------------------------------ measuring
    measuring = Figure(dpi=100)
    FigureCanvasAgg(measuring)
    measure = _Measure(measuring)

    cols = ["study"] + (list(ARM_COLUMNS) if show_arms else []) + ["weight", "effect"]
    header_names = {"study": "Study or Subgroup", "mean_t": "Mean", "sd_t": "SD",
                    "n_t": "Total", "mean_c": "Mean", "sd_c": "SD", "n_c": "Total",
                    "weight": "Weight", "effect": effect_label}

    # Long study labels wrap; notes of not-estimable trials wrap to a width the other
    # effect texts set.
    for row in body:
        label = row.cells.get("study")
        if label is not None and label.gid == "study":
            label.text = measure.wrap_balanced(label.text, STUDY_WIDTH)
            row.lines = max(row.lines, label.text.count("\n") + 1)
    widths = {c: measure.width(header_names[c], bold=True) for c in cols}
    for row in body:
        for c, cell in row.cells.items():
            if cell.gid != "note":
                widths[c] = max(widths[c], measure.width(cell.text, cell.bold, cell.italic))
    note_cap = max(widths["effect"], NOTE_WIDTH)
    for row in body:
        note = row.cells.get("effect")
        if note is not None and note.gid == "note":
            note.text = measure.wrap_balanced(note.text, note_cap, italic=True)
            row.lines = max(row.lines, note.text.count("\n") + 1)
            widths["effect"] = max(widths["effect"], measure.width(note.text, italic=True))

    if show_arms:   # an arm label must fit over its three columns
        for arm, label in zip(("t", "c"), arm_labels):
            group = [f"mean_{arm}", f"sd_{arm}", f"n_{arm}"]
            need = measure.width(str(label), bold=True)
            have = sum(widths[c] for c in group) + 2 * GAP_IN_ARM
            if need > have:
                widths[f"mean_{arm}"] += need - have

    gaps = {c: GAP for c in cols}      # gap before each column
    if show_arms:
        gaps["sd_t"] = gaps["n_t"] = gaps["sd_c"] = gaps["n_c"] = GAP_IN_ARM
    left = {}
    x = MARGIN
    for i, c in enumerate(cols):
        x += gaps[c] if i else 0.0
        left[c] = x
        x += widths[c]
    # Spanning texts run from the study column to the end of the effect column.
    span_need = max([measure.width(r.span.text, r.span.bold) for r in body if r.span]
                    + [0.0])
    block = x - MARGIN
    if span_need > block:
        extra = span_need - block
        widths["study"] += extra
        for c in cols[1:]:
            left[c] += extra
        x += extra
    table_right = x

    fav_w = max(measure.width(favours_left), measure.width(favours_right))
    plot_header_w = measure.width(effect_label, bold=True)
    plot_w = min(max(TARGET_WIDTH - MARGIN - (table_right + GAP), PLOT_MIN), PLOT_MAX)
    null_frac = (null_value - xlim[0]) / (xlim[1] - xlim[0])
    # with the null in the middle, each favours label fits on its side of it; an
    # off-centre null lets a label run further (the figure widens if needed)
    plot_w = max(plot_w, plot_header_w + 0.1, 2 * (fav_w + 0.12))
    plot_left = table_right + GAP
    null_x = plot_left + null_frac * plot_w
    ticks = _ticks(xlim, null_value)
    tick_half = measure.width(_tick_text(ticks[-1]), size=TICK_SIZE) / 2
    tick_pos = plot_left + (ticks[-1] - xlim[0]) / (xlim[1] - xlim[0]) * plot_w
    right_edge = max(plot_left + plot_w, tick_pos + tick_half,
                     null_x + 0.08 + measure.width(favours_right))
    width = right_edge + MARGIN

    notes_wrapped = [measure.wrap(n, width - 2 * MARGIN, size=FOOTNOTE_SIZE) for n in notes]

    # ------------------------------------------------------------------ vertical layout
    y = MARGIN
    title_y = None
    if title:
        title = measure.wrap(str(title), width - 2 * MARGIN, bold=True, size=TITLE_SIZE)
        title_y = y
        y += (title.count("\n") + 1) * TITLE_SIZE * 1.35 / 72 + 0.08
    header_lines = max(2 if show_arms else 1, effect_label.count("\n") + 1)
    y += header_lines * LINE
    header_bottom = y
    y += 0.06
    for row in body:
        height = (0.6 if row.kind == "spacer" else row.lines) * LINE
        row.draw["top"] = y
        row.draw["center"] = y + height / 2
        y += height
    plot_bottom = y + 0.06
    tick_block = (3.5 + 3.5 + TICK_SIZE * 1.25) / 72      # tick, pad, label
    favours_top = plot_bottom + tick_block + 0.06
    y = favours_top + LINE
    notes_top = y + 0.06
    for n in notes_wrapped:
        y += (n.count("\n") + 1) * FOOTNOTE_SIZE * 1.45 / 72
    height = y + MARGIN

    if ax is None:
        fig = measuring
        fig.set_size_inches(width, height)
        scale, origin, fig_size = 1.0, (0.0, 0.0), (width, height)
    else:
        fig = ax.figure
        fig_size = tuple(fig.get_size_inches())
        box = ax.get_position()
        area = (box.width * fig_size[0], box.height * fig_size[1])
        scale = min(area[0] / width, area[1] / height)
        origin = (box.x0 * fig_size[0] + (area[0] - scale * width) / 2,
                  box.y0 * fig_size[1] + (area[1] - scale * height) / 2)
        ax.set_axis_off()

    def rect(x, y_top, w, h):
        """Figure-fraction rectangle of a box given in layout inches (y from the top)."""
        return ((origin[0] + scale * x) / fig_size[0],
                (origin[1] + scale * (height - y_top - h)) / fig_size[1],
                scale * w / fig_size[0], scale * h / fig_size[1])

    tab = fig.add_axes(rect(0.0, 0.0, width, height), label="table")
    tab.set_axis_off()
    tab.set_xlim(0, width)
    tab.set_ylim(height, 0)

    def put(xpos, ypos, text, *, ha="left", va="center", bold=False, italic=False,
            size=FONT_SIZE, gid=None):
        t = tab.text(xpos, ypos, text, ha=ha, va=va, fontproperties=_font(bold, italic, size * scale),
                     parse_math=False, linespacing=1.25, multialignment=ha)
        if gid:
            t.set_gid(gid)
        return t

    def put_cell(c, cell: _Cell, ypos):
        if cell.ha == "left":
            xpos = left[c]
        elif cell.ha == "right":
            xpos = left[c] + widths[c]
        else:
            xpos = left[c] + widths[c] / 2
        put(xpos, ypos, cell.text, ha=cell.ha, bold=cell.bold, italic=cell.italic,
            gid=cell.gid)

    if title_y is not None:
        put(MARGIN, title_y, str(title), va="top", bold=True, size=TITLE_SIZE, gid="title")

    # header: the last line of every header cell sits on the header's last line
    last_line = header_bottom - LINE / 2
    put(left["study"], last_line, "Study or Subgroup", bold=True)
    put(left["weight"] + widths["weight"], last_line, "Weight", ha="right", bold=True)
    for j, line in enumerate(reversed(effect_label.split("\n"))):
        for xc in (left["effect"] + widths["effect"] / 2, plot_left + plot_w / 2):
            put(xc, last_line - j * LINE, line, ha="center", bold=True, gid="effect_header")
    if show_arms:
        for arm, label in zip(("t", "c"), arm_labels):
            g0, g1 = left[f"mean_{arm}"], left[f"n_{arm}"] + widths[f"n_{arm}"]
            put((g0 + g1) / 2, last_line - LINE, str(label), ha="center", bold=True,
                gid="arm_label")
            tab.add_line(Line2D([g0, g1], [last_line - LINE / 2] * 2, lw=0.6 * scale,
                                color=RULE_COLOUR))
            for c in (f"mean_{arm}", f"sd_{arm}", f"n_{arm}"):
                put(left[c] + widths[c], last_line, header_names[c], ha="right", bold=True)
    tab.add_line(Line2D([MARGIN, plot_left + plot_w], [header_bottom + 0.03] * 2, lw=0.6 * scale,
                        color=RULE_COLOUR))

    for row in body:
        yc = row.draw["center"]
        if row.span is not None:
            put(left["study"], yc, row.span.text, bold=row.span.bold, gid=row.span.gid)
        for c, cell in row.cells.items():
            put_cell(c, cell, yc)

    # ------------------------------------------------------------------ the plot column
    plot_top = header_bottom + 0.06
    ax = fig.add_axes(rect(plot_left, plot_top, plot_w, plot_bottom - plot_top),
                      label="forest")
    ax.set_xlim(*xlim)
    ax.set_ylim(plot_bottom, plot_top)
    ax.patch.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.8 * scale)
    ax.set_yticks([])
    ax.set_xticks(ticks)
    ax.set_xticklabels([_tick_text(t) for t in ticks], fontproperties=_font(size=TICK_SIZE * scale))
    ax.tick_params(axis="x", length=3.5 * scale, width=0.8 * scale, pad=3.5 * scale)
    null_line = ax.axvline(null_value, color=LINE_COLOUR, lw=0.8 * scale, zorder=1)
    null_line.set_gid("null_line")

    weights = [r.draw["square"][3] for r in body if "square" in r.draw]
    w_max = max(weights) if weights and max(weights) > 0 else 1.0
    lo, hi = xlim
    arrow_right = Path([(0, 0), (-1, 0.5), (-1, -0.5), (0, 0)], closed=True)
    arrow_left = Path([(0, 0), (1, 0.5), (1, -0.5), (0, 0)], closed=True)

    def whisker(a, b, yc, gid, colour=LINE_COLOUR, lw=1.0, zorder=2):
        a_c, b_c = max(a, lo), min(b, hi)
        if a_c < b_c:
            ln = ax.add_line(Line2D([a_c, b_c], [yc, yc], color=colour, lw=lw * scale,
                                    zorder=zorder, solid_capstyle="butt"))
            ln.set_gid(gid)
        for beyond, edge, path in ((a < lo, lo, arrow_left), (b > hi, hi, arrow_right)):
            if beyond:
                ar = ax.add_line(Line2D([edge], [yc], marker=path, markersize=7 * scale,
                                        color=colour, markeredgewidth=0, clip_on=False,
                                        zorder=zorder + 1))
                ar.set_gid("arrow")

    for row in body:
        yc = row.draw["center"]
        if "square" in row.draw:
            e, a, b, w = row.draw["square"]
            whisker(a, b, yc, "whisker")
            if lo <= e <= hi:
                side = max(SQUARE_MAX_PT * math.sqrt(max(w, 0) / w_max), SQUARE_MIN_PT)
                sq = ax.add_line(Line2D([e], [yc], marker="s", markersize=side * scale,
                                        markerfacecolor=SQUARE_COLOUR,
                                        markeredgecolor=SQUARE_COLOUR, markeredgewidth=0,
                                        linestyle="none", zorder=3))
                sq.set_gid("square")
        if "diamond" in row.draw:
            e, a, b = row.draw["diamond"]
            half = 0.36 * LINE
            if "pi" in row.draw:
                p0, p1 = row.draw["pi"]
                whisker(p0, p1, yc, "prediction_interval", colour=PI_COLOUR, lw=1.0,
                        zorder=2)
                for end in (p0, p1):
                    if lo <= end <= hi:
                        cap = ax.add_line(Line2D([end, end], [yc - half * 0.6, yc + half * 0.6],
                                                 color=PI_COLOUR, lw=1.0 * scale, zorder=2))
                        cap.set_gid("prediction_interval_cap")
            for beyond, edge, path in ((a < lo, lo, arrow_left), (b > hi, hi, arrow_right)):
                if beyond:      # the diamond is clipped at the axis: say so
                    ar = ax.add_line(Line2D([edge], [yc], marker=path, markersize=7 * scale,
                                            color=LINE_COLOUR, markeredgewidth=0,
                                            clip_on=False, zorder=5))
                    ar.set_gid("arrow")
            dm = ax.add_patch(Polygon([(a, yc), (e, yc - half), (b, yc), (e, yc + half)],
                                      closed=True, facecolor="black", edgecolor="black",
                                      lw=0.5 * scale, zorder=4))
            dm.set_gid("diamond")

    # one shared baseline, so labels with and without descenders line up
    baseline = favours_top + FONT_SIZE * 0.95 / 72
    put(null_x - 0.08, baseline, favours_left, ha="right", va="baseline", gid="favours_left")
    put(null_x + 0.08, baseline, favours_right, ha="left", va="baseline", gid="favours_right")
    y = notes_top
    for n in notes_wrapped:
        put(MARGIN, y, n, va="top", size=FOOTNOTE_SIZE, gid="footnote")
        y += (n.count("\n") + 1) * FOOTNOTE_SIZE * 1.45 / 72
    return fig
