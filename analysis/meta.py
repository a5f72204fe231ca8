"""A meta-analysis as a result object: fit once, then summarise, refit, draw and export.

:func:`meta_analysis` takes any table with one row per study (an effects table of this
project, a reviewer's own yi/vi, a teacher's invented example) and the names of its
columns, pools every group in one :func:`analysis.pooling.pool_batch` call, and returns
an immutable :class:`MetaAnalysis`, the counterpart of metafor's ``rma`` object and
statsmodels' ``CombineResults``:

``.options``
    the model it was fitted with (:class:`ModelOptions`: estimator, CI method, level,
    I² and prediction-interval conventions, iteration controls).
``.studies``
    one row per study in display order (grouped by subgroup, in order of first
    appearance), with its estimate, CI, weight in percent within its group, and the
    rows that are not estimable, kept with their reason.
``.pooled``
    one row per group with metafor's field names (``estimate, se, ci_lb, ci_ub, pval,
    tau2, i2, h2, q, q_pval, pi_lb, pi_ub, ...``), ``k`` (estimable studies) and
    ``k_total`` (all studies, estimable or not).
``.subgroup_test``
    RevMan 5's test for subgroup differences: Cochran's Q of the subgroup totals,
    each weighted by 1 / SE², with (number of subgroups - 1) df, its p-value and
    I² = max(0, (Q - df) / Q) (Deeks & Higgins 2010); None with fewer than two
    estimable subgroups, or when a study appears in more than one subgroup (the test
    assumes independent subgroups). The SEs are those of the chosen CI method (Hartung-Knapp SEs
    under ``knha=True``), and ``se_from`` says so.
``.summary()``, ``.refit(**options)``, ``.forest(...)``, ``.to_frame()``, ``.to_r()``
    a tidy table (with an HTML view in Jupyter), the same studies under other options,
    a RevMan 5 forest plot, the table written beside each forest figure, and a
    self-contained R script that reproduces every pooled number with metafor.

Every number comes from :mod:`analysis.pooling` (metafor's formulas; see its
docstring); this module only arranges inputs and outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from analysis import conventions
from analysis.pooling import COMMON_EFFECT_METHODS, I2_METHODS, METHODS, PI_METHODS, pool_batch

__all__ = ["ModelOptions", "MetaAnalysis", "meta_analysis", "ARM_COLUMNS", "METAFOR_ARM_COLUMNS"]

#: Per-arm columns shown in a forest plot (treatment first), as this project names them ...
ARM_COLUMNS = ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")
#: ... and as metafor names them (group 1 = treatment); either set is recognised.
METAFOR_ARM_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")

#: Headings of the effect column by measure (RevMan's wording).
MEASURE_LABELS = {
    "SMD": "Std. mean difference",
    "MD": "Mean difference",
    "RR": "Risk ratio (log)",
    "OR": "Odds ratio (log)",
    "RD": "Risk difference",
}

#: The columns of :meth:`MetaAnalysis.studies` before any carried column.
STUDY_COLUMNS = ("study", "yi", "vi", "se", "ci_lb", "ci_ub", "weight", "estimable", "note")

#: Study labels longer than this are refused (a forest plot must stay a readable size).
MAX_LABEL_CHARS = 200

NOT_ESTIMABLE = "Not estimable"


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class ModelOptions:
    """How a meta-analysis is fitted (the arguments of metafor's ``rma()`` that matter here).

    ``method``: the τ² estimator (``REML`` default, ``ML``, ``DL``, ``PM``, ``HE``,
    ``SJ``, ``SJIT``) or a common-effect model (``FE``, aliases ``EE``, ``CE``);
    ``knha``: Hartung-Knapp(-Sidik-Jonkman) SEs with t on k - 1 df (metafor's
    ``test="knha"``), else Wald-type (z) intervals; ``level``: confidence level;
    ``i2_method``: I² from τ² (``"tau2"``, metafor) or from Q (``"q"``, RevMan 5);
    ``pi_method``: prediction interval as ``predict.rma`` (``"metafor"``) or with t on
    k - 2 df (``"higgins2009"``); ``tau2_ci``: Q-profile CI for τ² and I²;
    ``control``: iteration settings passed to the engine (see
    :data:`analysis.pooling.DEFAULT_CONTROL`).
    """

    method: str = "REML"
    knha: bool = False
    level: float = 0.95
    i2_method: str = "tau2"
    pi_method: str = "metafor"
    tau2_ci: bool = False
    control: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if not isinstance(self.method, str) or self.method.upper() not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid methods: {', '.join(METHODS)}")
        object.__setattr__(self, "method", self.method.upper())
        if not isinstance(self.knha, (bool, np.bool_)):
            raise ValueError(f"knha must be True or False, got {self.knha!r}")
        object.__setattr__(self, "knha", bool(self.knha))
        conventions.z_quantile(self.level)  # validates the level
        object.__setattr__(self, "level", float(self.level))
        if self.i2_method not in I2_METHODS:
            raise ValueError(f"unknown i2_method {self.i2_method!r}; valid: {', '.join(I2_METHODS)}")
        if self.pi_method not in PI_METHODS:
            raise ValueError(f"unknown pi_method {self.pi_method!r}; valid: {', '.join(PI_METHODS)}")
        control = self.control
        if isinstance(control, Mapping):
            control = tuple(sorted(control.items()))
        object.__setattr__(self, "control", tuple(control or ()))

    @property
    def common_effect(self) -> bool:
        """True for a common-effect (fixed-effect) model."""
        return self.method in COMMON_EFFECT_METHODS

    @property
    def ci_method(self) -> str:
        """``"Hartung\u2013Knapp"`` or ``"Wald-type"``."""
        return "Hartung\u2013Knapp" if self.knha else "Wald-type"

    @property
    def level_text(self) -> str:
        """The level as readers see it: ``"95%"``."""
        return f"{100 * self.level:g}%"

    def model_text(self) -> str:
        """RevMan's column heading: ``"IV, Random, 95% CI"`` or ``"IV, Fixed, 95% CI"``."""
        return f"IV, {'Fixed' if self.common_effect else 'Random'}, {self.level_text} CI"

    def method_text(self) -> str:
        """One line naming the model: ``"REML τ², Wald-type CI"``."""
        ci = f"{self.ci_method} CI"
        if self.common_effect:
            return f"Common effect (inverse variance), {ci}"
        return f"{self.method} \u03c4\u00b2, {ci}"

    def as_dict(self) -> dict[str, Any]:
        """The options as keyword arguments of :func:`meta_analysis` (and of ``pool_batch``)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["control"] = dict(self.control) or None
        return out


# --------------------------------------------------------------------------- the result


class MetaSummary(pd.DataFrame):
    """A DataFrame of pooled results that shows its model as a caption in Jupyter."""

    _metadata = ["caption"]

    @property
    def _constructor(self):
        return MetaSummary

    def _repr_html_(self):  # pragma: no cover - exercised in notebooks
        frame = pd.DataFrame(self)
        styler = frame.style.format(precision=3, na_rep="\u2014").hide(axis="index")
        caption = getattr(self, "caption", None)
        if caption:
            styler = styler.set_caption(caption)
        return styler.to_html()


@dataclass(frozen=True, eq=False)
class _Spec:
    """What :func:`meta_analysis` was given, so that :meth:`MetaAnalysis.refit` can redo it."""

    table: pd.DataFrame
    columns: dict
    measure: str | None


@dataclass(frozen=True, eq=False)
class MetaAnalysis:
    """A fitted meta-analysis (see the module docstring); build it with :func:`meta_analysis`.

    The tables are returned as copies, so the result cannot be changed after fitting.
    """

    options: ModelOptions
    measure: str | None
    by: tuple[str, ...]
    _studies: pd.DataFrame = field(repr=False)
    _pooled: pd.DataFrame = field(repr=False)
    _subgroup_test: dict | None = field(repr=False)
    _spec: _Spec = field(repr=False)
    arm_columns: bool = False

    # ------------------------------------------------------------------ tables
    @property
    def studies(self) -> pd.DataFrame:
        """One row per study, display order; weight in percent within its group."""
        return self._studies.copy()

    @property
    def pooled(self) -> pd.DataFrame:
        """One row per group (metafor's field names); ``k`` estimable, ``k_total`` all."""
        return self._pooled.copy()

    @property
    def subgroup_test(self) -> dict | None:
        """RevMan 5's test for subgroup differences (``q, df, pval, i2, se_from``), or None."""
        return None if self._subgroup_test is None else dict(self._subgroup_test)

    @property
    def grouped(self) -> bool:
        """True when the studies were pooled by subgroup (``by`` given)."""
        return bool(self.by)

    def summary(self) -> MetaSummary:
        """The pooled results as a tidy table: one row per group.

        Columns: the ``by`` columns (or ``subgroup``), ``k``, ``k_total``,
        ``estimate, se, ci_lb, ci_ub, pval``, ``tau2, i2, q, q_pval``, ``pi_lb, pi_ub``,
        ``converged``, ``notes``. Its caption names the model.
        """
        cols = list(self.by) or ["subgroup"]
        cols += ["k", "k_total", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2", "q",
                 "q_pval", "pi_lb", "pi_ub", "converged", "notes"]
        out = MetaSummary(self._pooled[cols].copy())
        measure = f"{self.measure}, " if self.measure else ""
        out.caption = f"{measure}{self.options.method_text()}, {self.options.level_text} CI"
        return out

    def _repr_html_(self):  # pragma: no cover - exercised in notebooks
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        k = int(self._pooled["k"].sum())
        groups = len(self._pooled)
        return (f"MetaAnalysis({self.measure or 'effect'}, {self.options.method_text()}, "
                f"{k} estimable studies in {groups} group(s))")

    # ------------------------------------------------------------------ refit
    def refit(self, **options) -> "MetaAnalysis":
        """The same studies under other model options (any field of :class:`ModelOptions`)."""
        names = {f.name for f in fields(ModelOptions)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise TypeError(f"refit() got unknown option(s) {unknown}; valid: {sorted(names)}")
        new = replace(self.options, **options).as_dict()
        return meta_analysis(self._spec.table, measure=self._spec.measure, **self._spec.columns,
                             **new)

    # ------------------------------------------------------------------ presentation
    def _summary_rows(self) -> pd.DataFrame:
        """One forest-plot summary row per group (the columns ``forest_plot`` wants)."""
        opts = self.options
        label = f"{'Subtotal' if self.grouped else 'Total'} ({opts.level_text} CI)"
        records = []
        for _, p in self._pooled.iterrows():
            rec = {"subgroup": p["subgroup"] if self.grouped else None, "label": label,
                   "n_t": p.get("n_t", np.nan), "n_c": p.get("n_c", np.nan),
                   "method": opts.method_text()}
            if math.isfinite(p["estimate"]):
                use_t = math.isfinite(p["df"])
                rec.update({
                    "estimate": p["estimate"], "se": p["se"], "ci_lb": p["ci_lb"],
                    "ci_ub": p["ci_ub"], "pi_lb": p["pi_lb"], "pi_ub": p["pi_ub"],
                    "weight": 100.0, "k": int(p["k"]),
                    "tau2": np.nan if opts.common_effect else p["tau2"], "q": p["q"],
                    "q_df": p["q_df"], "q_pval": p["q_pval"], "i2": p["i2"],
                    "stat_name": "t" if use_t else "Z", "stat": p["stat"],
                    "stat_df": p["df"] if use_t else np.nan, "pval": p["pval"],
                })
            else:
                rec.update({"estimate": np.nan, "se": np.nan, "ci_lb": np.nan, "ci_ub": np.nan,
                            "pi_lb": np.nan, "pi_ub": np.nan, "weight": np.nan, "k": 0})
            records.append(rec)
        columns = ["subgroup", "label", "n_t", "n_c", "method", "estimate", "se", "ci_lb",
                   "ci_ub", "pi_lb", "pi_ub", "weight", "k", "tau2", "q", "q_df", "q_pval",
                   "i2", "stat_name", "stat", "stat_df", "pval"]
        return pd.DataFrame.from_records(records, columns=columns)

    def _study_rows(self) -> pd.DataFrame:
        s = self._studies
        rows = pd.DataFrame({"subgroup": s["subgroup"] if self.grouped else None,
                             "study": s["study"]})
        for col in ARM_COLUMNS:
            if self.arm_columns:
                rows[col] = s[col]
        rows["estimate"] = s["yi"]
        rows["ci_lb"] = s["ci_lb"]
        rows["ci_ub"] = s["ci_ub"]
        rows["weight"] = s["weight"]
        # a study of a group whose tau2 estimator did not converge has no weight: it is
        # shown with a note, not as a square without a weight (its estimate stays)
        unpooled = s["estimable"].astype(bool).to_numpy() & s["weight"].isna().to_numpy()
        rows["estimable"] = s["estimable"].astype(bool).to_numpy() & ~unpooled
        rows["note"] = np.where(unpooled, f"Not pooled: the {self.options.method} estimator "
                                "of \u03c4\u00b2 did not converge", s["note"])
        rows["marker"] = s["marker"] if "marker" in s.columns else None
        for col in self._carried():
            rows[col] = s[col]
        return rows.reset_index(drop=True)

    def _carried(self) -> list[str]:
        skip = (set(STUDY_COLUMNS) | set(ARM_COLUMNS) | set(self.by)
                | {"subgroup", "marker", "vtype", "how"})
        return [c for c in self._studies.columns if c not in skip]

    def to_frame(self) -> pd.DataFrame:
        """The table written beside a forest figure: its study rows, its subtotal rows and
        the test for subgroup differences, one row each (``row_type``)."""
        parts = [self._study_rows().assign(row_type="study")]
        summaries = self._summary_rows()
        parts.append(summaries.assign(row_type="subtotal" if self.grouped else "total",
                                      study=summaries["label"]))
        test = self._subgroup_test
        if test is not None:
            parts.append(pd.DataFrame([{"row_type": "subgroup_difference_test", "q": test["q"],
                                        "q_df": test["df"], "q_pval": test["pval"],
                                        "i2": test["i2"]}]))
        out = pd.concat(parts, ignore_index=True, sort=False)
        first = ["row_type", "subgroup", "study"]
        return out[first + [c for c in out.columns if c not in first]]

    def forest(self, *, title: str | None = None, footnotes: Sequence[str] = (),
               effect_label: str | None = None, favours: tuple[str, str] | None = None,
               arm_labels: tuple[str, str] | None = ("Treatment", "Control"),
               null_value: float = 0.0, xlim: tuple[float, float] | None = None,
               digits: int = 2, show_subgroup_test: bool = True, ax=None):
        """A RevMan 5 forest plot of this meta-analysis (:func:`analysis.forest.forest_plot`).

        ``effect_label`` defaults to the measure's name and the model
        (``"Std. mean difference\\nIV, Random, 95% CI"``); ``favours`` is the pair of
        labels left and right of the null line (none by default: which side favours whom
        depends on the outcome; see :func:`analysis.conventions.favours_labels`);
        ``arm_labels`` name the per-arm columns where the table has them. A study table
        column ``marker`` adds footnote letters to study labels. With ``ax``, the plot is
        drawn inside that Axes' area of its figure (scaled to fit) instead of a new figure.
        Returns the matplotlib Figure.
        """
        from analysis.forest import forest_plot

        if effect_label is None:
            name = MEASURE_LABELS.get(self.measure, "Estimate")
            effect_label = f"{name}\n{self.options.model_text()}"
        left, right = favours if favours is not None else ("", "")
        rows = self._study_rows()
        return forest_plot(
            rows, self._summary_rows(),
            subgroup_test=self._subgroup_test if show_subgroup_test else None,
            effect_label=effect_label, favours_left=left, favours_right=right,
            arm_labels=arm_labels if self.arm_columns else None, null_value=null_value,
            xlim=xlim, title=title, footnotes=footnotes, digits=digits, ax=ax)

    def to_r(self, *, title: str | None = None) -> str:
        """A self-contained R script that reproduces every pooled number with metafor.

        The data are inline; where the table has arm columns and ``measure`` is ``MD`` or
        ``SMD`` and metafor's ``escalc()`` reproduces a study's yi and vi, the script
        computes them with ``escalc`` (orienting the SMD where the table's sign is
        reversed); otherwise it gives yi and vi directly and says why. Each group is fitted
        with ``rma()`` with the same method, test and level, and the script prints one CSV
        line per group with the fields of :attr:`pooled`, then the test for subgroup
        differences. See :mod:`analysis.rexport`.
        """
        from analysis.rexport import meta_analysis_script

        return meta_analysis_script(self, title=title)


# --------------------------------------------------------------------------- fitting


def _as_list(by) -> tuple[str, ...]:
    if by is None:
        return ()
    if isinstance(by, str):
        return (by,)
    return tuple(by)


def _require(table: pd.DataFrame, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"{what}: column(s) {missing} not in the table "
                         f"(it has: {', '.join(map(str, table.columns))})")


def _numeric(table: pd.DataFrame, col: str) -> np.ndarray:
    try:
        return pd.to_numeric(table[col], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {col!r} must be numeric: {exc}") from None


def _bool_column(table: pd.DataFrame, col: str) -> np.ndarray:
    values = table[col].to_numpy(dtype=object)
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
            out[i] = bool(v)
        else:
            raise ValueError(f"column {col!r} must be True or False; row {i} has {v!r}")
    return out


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def meta_analysis(table: pd.DataFrame, *, yi: str = "yi", vi: str = "vi", study: str = "study",
                  by: str | Sequence[str] | None = None, estimable: str | None = None,
                  note: str | None = None, measure: str | None = None,
                  carry: Sequence[str] | None = None, method: str = "REML", knha: bool = False,
                  level: float = 0.95, i2_method: str = "tau2", pi_method: str = "metafor",
                  tau2_ci: bool = False, control: Mapping | None = None) -> MetaAnalysis:
    """Fit a meta-analysis of the studies in ``table`` (one row per study) by name.

    Parameters
    ----------
    table
        A DataFrame, one row per study (per subgroup, when ``by`` is given).
    yi, vi, study
        Names of the columns with the effect estimates, their sampling variances and the
        study labels (non-empty, at most 200 characters, unique within a group).
    by
        A column, or several, defining subgroups, each pooled separately (all in one
        batch call); groups appear in order of first appearance (for a categorical
        column, in the order of its categories).
    estimable
        A boolean column: rows marked False are kept and shown as not estimable. By
        default the column ``estimable`` if the table has one, else every row with a
        finite yi and a positive finite vi is estimable and the rest are not.
    note
        The column with the reason a row is not estimable (default ``reason`` or
        ``note`` if present; else "Not estimable").
    measure
        The effect measure's name (``"SMD"``, ``"MD"``, ...), for labels and the R export.
    carry
        Other columns to keep in :attr:`MetaAnalysis.studies` (and the forest table);
        by default every column not used otherwise. Arm columns (``mean_t, sd_t, n_t,
        mean_c, sd_c, n_c``, or metafor's ``m1i, sd1i, n1i, m2i, sd2i, n2i``) and
        ``marker`` (footnote letters) are recognised and shown in forest plots; ``vtype``
        (the SMD variance variant) and ``how`` (how a study's numbers were obtained) are
        kept for the R export.
    method, knha, level, i2_method, pi_method, tau2_ci, control
        The model (:class:`ModelOptions`).

    Raises
    ------
    ValueError
        A column that does not exist or is not numeric, an estimable row without a finite
        yi or a positive vi, an empty or over-long study label, a study repeated within a
        group, an unknown option.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if table.columns.duplicated().any():
        dup = sorted(set(table.columns[table.columns.duplicated()]))
        raise ValueError(f"the table has repeated column name(s) {dup}")
    options = ModelOptions(method=method, knha=knha, level=level, i2_method=i2_method,
                           pi_method=pi_method, tau2_ci=tau2_ci, control=control or ())
    by_cols = _as_list(by)
    _require(table, [yi, vi, study, *by_cols], "meta_analysis")
    if len(table) == 0:
        raise ValueError("the table has no rows: nothing to pool")
    if estimable is None and "estimable" in table.columns:
        estimable = "estimable"
    if note is None:
        note = next((c for c in ("reason", "note") if c in table.columns), None)
    for col, what in ((estimable, "estimable"), (note, "note")):
        if col is not None:
            _require(table, [col], f"meta_analysis({what}=...)")
    spec_columns = {"yi": yi, "vi": vi, "study": study, "by": by, "estimable": estimable,
                    "note": note, "carry": carry}

    src = table.reset_index(drop=True)
    y = _numeric(src, yi)
    v = _numeric(src, vi)
    usable = np.isfinite(y) & np.isfinite(v) & (v > 0)
    if estimable is not None:
        ok = _bool_column(src, estimable)
        bad = np.flatnonzero(ok & ~usable)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"row {i} ({_text(src.at[i, study])!r}) is marked estimable but has yi = "
                f"{src.at[i, yi]!r}, vi = {src.at[i, vi]!r}; vi must be > 0 and both finite "
                f"(mark it not estimable instead)")
    else:
        ok = usable

    labels = [_text(s).strip() for s in src[study]]
    for i, text in enumerate(labels):
        if not text:
            raise ValueError(f"column {study!r} is empty in row {i}: every study needs a label")
        if len(text) > MAX_LABEL_CHARS:
            raise ValueError(f"the study label in row {i} has {len(text)} characters; the limit "
                             f"is {MAX_LABEL_CHARS}")

    # groups, in order of first appearance (categories first for categorical columns)
    if by_cols:
        keys = src[list(by_cols)]
        for col in by_cols:
            if keys[col].isna().any():
                i = int(np.flatnonzero(keys[col].isna().to_numpy())[0])
                raise ValueError(f"column {col!r} (by) is empty in row {i}")
        group_label = keys.astype(str).agg(" / ".join, axis=1).to_numpy(dtype=object)
        first = pd.unique(pd.Series(group_label))
        cats = [c for c in by_cols if isinstance(src[c].dtype, pd.CategoricalDtype)]
        if len(by_cols) == 1 and cats:
            present = set(group_label)
            order = [str(c) for c in src[by_cols[0]].cat.categories if str(c) in present]
        else:
            order = list(first)
        code_of = {g: i for i, g in enumerate(order)}
        codes = np.array([code_of[g] for g in group_label], dtype=np.intp)
    else:
        order = ["all"]
        group_label = np.full(len(src), "all", dtype=object)
        codes = np.zeros(len(src), dtype=np.intp)

    seen: dict[tuple[int, str], int] = {}
    for i, (c, text) in enumerate(zip(codes, labels)):
        if (c, text) in seen:
            where = f" in group {order[c]!r}" if by_cols else ""
            raise ValueError(f"study {text!r} appears twice{where} (rows {seen[(c, text)]} and "
                             f"{i}): each study may be pooled once per meta-analysis")
        seen[(c, text)] = i

    display = np.argsort(codes, kind="stable")
    src = src.iloc[display].reset_index(drop=True)
    y, v, ok = y[display], v[display], ok[display]
    codes, group_label = codes[display], group_label[display]
    labels = [labels[i] for i in display]

    # pool every group with an estimable study in one batch call
    weight = np.full(len(src), np.nan)
    summary = None
    if ok.any():
        res = pool_batch(y[ok], v[ok], np.asarray(order, dtype=object)[codes[ok]],
                         **{k: val for k, val in options.as_dict().items()})
        summary = res.summary.set_index("group")
        weight[ok] = 100.0 * res.weights

    z = conventions.z_quantile(options.level)
    se = np.where(ok, np.sqrt(np.where(ok, v, np.nan)), np.nan)
    notes_col = (src[note].map(_text) if note is not None
                 else pd.Series([""] * len(src)))
    studies = pd.DataFrame({
        "study": labels,
        "yi": np.where(ok, y, np.nan),
        "vi": np.where(ok, v, np.nan),
        "se": se,
        "ci_lb": np.where(ok, y - z * se, np.nan),
        "ci_ub": np.where(ok, y + z * se, np.nan),
        "weight": weight,
        "estimable": ok,
        "note": np.where(ok, "", np.where(notes_col == "", NOT_ESTIMABLE, notes_col)),
    })
    studies.insert(0, "subgroup", group_label)
    for col in reversed(by_cols):
        if col not in ("subgroup",) + STUDY_COLUMNS:
            studies.insert(0, col, src[col].to_numpy())
    used = {yi, vi, study, *by_cols, *(c for c in (estimable, note) if c)}
    arm_source = None
    if all(c in src.columns for c in ARM_COLUMNS):
        arm_source = ARM_COLUMNS
    elif all(c in src.columns for c in METAFOR_ARM_COLUMNS):
        arm_source = METAFOR_ARM_COLUMNS
    if arm_source is not None:
        for name, col in zip(ARM_COLUMNS, arm_source):
            studies[name] = pd.to_numeric(src[col], errors="coerce").to_numpy(dtype=float)
        used |= set(arm_source)
    if carry is None:
        carry = [c for c in src.columns if c not in used and c not in studies.columns
                 and c not in {"ci_lb", "ci_ub", "se", "weight"}]
    else:
        _require(src, list(carry), "meta_analysis(carry=...)")
    for known in ("marker", "vtype", "how"):
        if known in src.columns and known not in studies.columns:
            studies[known] = src[known].to_numpy()
    for col in carry:
        if col not in studies.columns:
            studies[col] = src[col].to_numpy()

    pooled = _pooled_table(order, by_cols, src, codes, ok, summary, studies,
                           arm_source is not None)
    test = _subgroup_test(pooled, studies, options) if by_cols else None
    spec = _Spec(table=table.copy(), columns=spec_columns, measure=measure)
    return MetaAnalysis(options=options, measure=measure, by=by_cols, _studies=studies,
                        _pooled=pooled, _subgroup_test=test, _spec=spec,
                        arm_columns=arm_source is not None)


_POOL_FIELDS = ("estimate", "se", "ci_lb", "ci_ub", "stat", "pval", "df", "tau2", "tau2_se",
                "tau2_ci_lb", "tau2_ci_ub", "i2", "i2_ci_lb", "i2_ci_ub", "h2", "q", "q_df",
                "q_pval", "pi_lb", "pi_ub", "converged", "notes")


def _pooled_table(order, by_cols, src, codes, ok, summary, studies, arms) -> pd.DataFrame:
    records = []
    for c, label in enumerate(order):
        members = codes == c
        rec: dict[str, Any] = {}
        first = int(np.flatnonzero(members)[0])
        for col in by_cols:
            rec[col] = src.at[first, col]
        rec["subgroup"] = label
        rec["k"] = int((members & ok).sum())
        rec["k_total"] = int(members.sum())
        if summary is not None and label in summary.index:
            row = summary.loc[label]
            for f in _POOL_FIELDS:
                rec[f] = row[f]
        else:
            rec.update({f: np.nan for f in _POOL_FIELDS})
            rec.update(q_df=0, converged=True, notes="no estimable study")
        if arms:
            est = members & ok
            rec["n_t"] = float(studies.loc[est, "n_t"].sum()) if est.any() else np.nan
            rec["n_c"] = float(studies.loc[est, "n_c"].sum()) if est.any() else np.nan
        records.append(rec)
    out = pd.DataFrame.from_records(records)
    out["k"] = out["k"].astype(int)
    out["k_total"] = out["k_total"].astype(int)
    out["q_df"] = out["q_df"].astype(int)
    out["converged"] = out["converged"].astype(bool)
    return out


def _subgroup_test(pooled: pd.DataFrame, studies: pd.DataFrame,
                   options: ModelOptions) -> dict | None:
    """RevMan 5's test for subgroup differences on the subgroup totals (common-effect Q).

    The test assumes independent subgroups, so it is not given when a study appears in
    more than one subgroup (for example the same trial at two time points).
    """
    shared = studies[studies["estimable"]].groupby("study")["subgroup"].nunique()
    if (shared > 1).any():
        return None
    est = pooled[np.isfinite(pooled["estimate"].to_numpy(float))
                 & (pooled["se"].to_numpy(float) > 0)]
    if len(est) < 2:
        return None
    test = pool_batch(est["estimate"].to_numpy(float), est["se"].to_numpy(float) ** 2,
                      method="FE", i2_method="q").summary.iloc[0]
    return {"q": float(test["q"]), "df": int(test["q_df"]), "pval": float(test["q_pval"]),
            "i2": float(test["i2"]),
            "se_from": f"{options.ci_method} SEs of the subgroup totals"}
