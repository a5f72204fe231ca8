"""Every committed figure: which result goes in which figure, in the project's words.

Each figure is a function ``(tables, options) -> FigureSpec`` holding the matplotlib
Figure and the table of exactly the numbers it plots; :func:`write_figures` saves
``figures/<name>.png`` (300 dpi), ``.svg`` and ``.csv``. The notebooks call the same
functions, so a figure in a notebook and in ``figures/`` cannot differ.

``tables`` is the :class:`analysis.trial_effects.ReviewTables` built once from the data
package; ``options`` the model (:class:`analysis.meta.ModelOptions`; the committed
figures use the defaults: REML, Wald-type 95% CI). The statistics come from
:func:`analysis.meta.meta_analysis`; this module selects rows, orders them, and writes
titles, labels and footnotes, each computed from the tables so that it stays true
when a trial's numbers are added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import conventions
from analysis.conventions import SCOPE_LABELS, SCOPE_SHORT, WINDOW_LABELS
from analysis.meta import MEASURE_LABELS, ModelOptions, meta_analysis
from analysis.forest import MAX_TEXT_CHARS
from analysis.plots import catchup_chart, figure_style, literal_texts, save_figure
from analysis.timecourse import pooled_by_window, primary_effects

#: Trials in the forest plots' subgroups; pooling across them is not defensible
#: (different condition), so no overall line is drawn, only the subgroup test.
FOREST_SCOPES = ("running_injury", "other_tendinopathy")
#: The arms' names over the forest plots' per-arm columns.
ARM_LABELS = (conventions.TREATMENT.capitalize(), conventions.CONTROL.capitalize())

DEFAULT_OPTIONS = ModelOptions()

#: Footnote for an SD recovered by the analysis (the code's method, not a data value).
SD_FROM_P_NOTE = ("SD not reported: pooled SD recovered from the between-group p-value and "
                  "group sizes (Cochrane Handbook 6.5.2.3)")


@dataclass
class FigureSpec:
    """A figure, its file name (without suffix) and the table of what it plots."""

    name: str
    figure: Figure
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        literal_texts(self.figure)

    def _repr_png_(self):  # pragma: no cover - shown in notebooks
        import io

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight",
                            facecolor="white")
        return buffer.getvalue()


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


#: Longest data note quoted whole in a figure footnote (characters; the longest note in
#: the data has about 400). A longer note is cut at a word and points to the data.
QUOTED_NOTE_CHARS = 600


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a space where there is one."""
    tail = " \u2026 (in full in the data package)"
    if len(text) <= limit:
        return text
    head = text[:max(limit - len(tail), 0)]
    cut = head.rsplit(" ", 1)[0] if " " in head[len(head) // 2:] else head
    return cut + tail


def footnote_markers(sel: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Footnote letters for rows whose numbers were recovered or rest on inferred values.

    The footnote of a row quotes the data's own ``_note`` of every inferred value the
    row uses (column ``inferred`` of the effects table); an SD recovered from a p-value
    gets the method's name. Returns (a marker per row, the footnote lines).
    """
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    markers, notes = [], []
    seen: dict[tuple[str, str], str] = {}
    for _, r in sel.iterrows():
        parts = []
        if r["estimable"] and r["sd_recovered"]:
            parts.append(SD_FROM_P_NOTE)
        if r["estimable"] and len(r["inferred"]):
            parts.append("inferred, not printed: " + " ".join(
                _sentence(f"{what[:1].upper()}{what[1:]}: {_clip(str(note), QUOTED_NOTE_CHARS)}")
                for what, note in r["inferred"]))
        text = "; ".join(parts)
        key = (r["study"], text)
        if text and key not in seen:
            seen[key] = next(letters)
            notes.append(f"{seen[key]} {r['study']}: {_sentence(text)}")
        markers.append(seen.get(key, ""))
    return markers, notes


def _forest_input(sel: pd.DataFrame, by: str, order, labels) -> pd.DataFrame:
    """The effect rows of one forest plot, ordered, with their subgroup heading and markers."""
    sel = sel[sel[by].isin(order)]
    sel = sel.assign(_order=sel[by].map({s: i for i, s in enumerate(order)}))
    sel = sel.sort_values(["_order", "year", "study"]).drop(columns="_order")
    markers, notes = footnote_markers(sel)
    table = pd.DataFrame({
        "subgroup": pd.Categorical(sel[by].map(labels),
                                   categories=[labels[k] for k in order]),
        "study": sel["study"], "yi": sel["yi"], "vi": sel["vi"],
        "estimable": sel["estimable"].astype(bool), "reason": sel["reason"],
        "mean_t": sel["mean_t"], "sd_t": sel["sd_t"], "n_t": sel["n_t"],
        "mean_c": sel["mean_c"], "sd_c": sel["sd_c"], "n_c": sel["n_c"],
        "marker": markers, "outcome": sel["outcome"], "timepoint": sel["timepoint"],
        "weeks": sel["weeks"], "vtype": sel["vtype"], "how": sel["how"],
    }).reset_index(drop=True)
    return table, notes


FOREST_CARRY = ["outcome", "timepoint", "weeks"]


def forest_analysis(effects: pd.DataFrame, *, window: str, measure: str = "SMD",
                    options: ModelOptions = DEFAULT_OPTIONS):
    """The meta-analysis behind a forest figure (the review's primary outcome in one
    window, running injuries and the elbow trial as subgroups) and its footnotes."""
    sel = effects[(effects["measure"] == measure) & (effects["window"] == window)
                  & (effects["review_role"] == "primary")]
    table, notes = _forest_input(sel, "scope", FOREST_SCOPES, SCOPE_LABELS)
    if table.empty:  # no trial has the outcome in this window: nothing to draw
        return None, notes
    ma = meta_analysis(table, by="subgroup", measure=measure, carry=FOREST_CARRY,
                       **options.as_dict())
    return ma, notes


def _not_shown_note(studies: pd.DataFrame, shown: set[str]) -> str:
    rest = studies[~studies["study"].isin(shown)]
    if rest.empty:
        return ""
    return (f"Not shown (no outcome at these time points in the public record): "
            f"{', '.join(rest['study'])}; see the effect-direction table.")


def forest_figure(tables, *, window: str, measure: str = "SMD",
                  options: ModelOptions = DEFAULT_OPTIONS) -> FigureSpec | None:
    """Forest plot of the review's primary outcome in one time window (None when no trial
    has it there)."""
    ma, footnotes = forest_analysis(tables.effects, window=window, measure=measure,
                                    options=options)
    if ma is None:
        return None
    note = _not_shown_note(tables.studies, set(ma.studies["study"]))
    if note:
        footnotes.append(note)
    footnotes.append("Pooling across subgroups is not defensible (different conditions): "
                     "no overall estimate; the test for subgroup differences is shown.")
    title = (f"Dexamethasone vs placebo iontophoresis: primary outcome, "
             f"{WINDOW_LABELS[window].lower()} (SMD, positive favours dexamethasone)")
    with figure_style():
        fig = ma.forest(title=title, footnotes=[_clip(f, MAX_TEXT_CHARS) for f in footnotes],
                        effect_label=f"{MEASURE_LABELS[measure]}\n{options.model_text()}",
                        favours=conventions.favours_labels(conventions.HIGHER_IS_BETTER),
                        arm_labels=ARM_LABELS)
    return FigureSpec(f"forest_{measure.lower()}_{window}", fig, ma.to_frame())


def _scale_note(outcomes: pd.DataFrame, instrument: str, scope: str) -> str:
    """Which trials of a scope report an instrument, computed from the outcome table."""
    in_scope = outcomes[outcomes["scope"] == scope]
    using = list(dict.fromkeys(in_scope.loc[in_scope["instrument"] == instrument, "study"]))
    others = [s for s in dict.fromkeys(in_scope["study"]) if s not in using]
    who = " and ".join(using) if len(using) <= 2 else ", ".join(using)
    if len(using) == 1:
        text = f"Only {who} reports this scale"
    else:
        text = f"{who} report this scale"
    if others:
        text += (f"; the other {SCOPE_SHORT.get(scope, scope)} trials "
                 f"({', '.join(others)}) used other instruments (see the SMD forest plots)")
    return text + "."


def md_forest_analysis(effects: pd.DataFrame, outcomes: pd.DataFrame, *,
                       outcome_id: str = "maryland_foot_score",
                       options: ModelOptions = DEFAULT_OPTIONS):
    """The MD meta-analysis on one instrument's own scale (the instrument of
    ``outcome_id``), both windows as subgroups, with its footnotes."""
    instrument = outcomes.loc[outcomes["outcome_id"] == outcome_id, "instrument"].iloc[0]
    same = outcomes.loc[outcomes["instrument"] == instrument, ["study_id", "outcome_id"]]
    keys = set(map(tuple, same.to_numpy()))
    is_scale = [(s, o) in keys for s, o in zip(effects["study_id"], effects["outcome_id"])]
    sel = effects[(effects["measure"] == "MD") & np.array(is_scale, dtype=bool)
                  & effects["window"].isin(list(WINDOW_LABELS))]
    table, notes = _forest_input(sel, "window", tuple(WINDOW_LABELS), WINDOW_LABELS)
    if table.empty:  # no trial has this instrument in either window
        return None, notes, sel, instrument
    ma = meta_analysis(table, by="subgroup", measure="MD", carry=FOREST_CARRY,
                       **options.as_dict())
    return ma, notes, sel, instrument


def md_forest_figure(tables, *, outcome_id: str = "maryland_foot_score",
                     options: ModelOptions = DEFAULT_OPTIONS) -> FigureSpec | None:
    """MD forest plot on one shared scale (the Maryland Foot Score), both windows as
    subgroups; printed between-group estimates (the Cochrane review's WMD) in footnotes
    (None when no trial has the instrument in either window)."""
    if outcome_id not in set(tables.outcomes["outcome_id"]):
        return None
    ma, footnotes, sel, instrument = md_forest_analysis(
        tables.effects, tables.outcomes, outcome_id=outcome_id, options=options)
    if ma is None:
        return None
    outcome = sel["outcome"].iloc[0]
    direction = sel["direction"].iloc[0]
    reported = tables.reported[tables.reported["outcome_id"].isin(sel["outcome_id"])]
    for _, r in reported.iterrows():
        mine = sel[(sel["study_id"] == r["study_id"]) & (sel["timepoint_id"] == r["timepoint_id"])]
        computed = (f"; the abstract's means give {float(mine['yi'].iloc[0]):.2f}"
                    if len(mine) and mine["estimable"].iloc[0] else "")
        footnotes.append(
            f"{_clip(str(r['estimate_source']), QUOTED_NOTE_CHARS)}: WMD {r['estimate']:.2f} [{r['ci_lower']:.2f}, "
            f"{r['ci_upper']:.2f}] ({r['estimate_status']}) for {r['study']}, "
            f"{mine['timepoint'].iloc[0] if len(mine) else r['timepoint_id']}{computed}. "
            "Unresolved, so both are reported.")
    scopes = list(dict.fromkeys(sel["scope"]))
    for scope in scopes:
        footnotes.append(_scale_note(tables.outcomes, instrument, scope))
    with figure_style():
        fig = ma.forest(title=f"{outcome}: mean difference, dexamethasone vs placebo",
                        footnotes=[_clip(f, MAX_TEXT_CHARS) for f in footnotes],
                        effect_label=f"Mean difference\n{options.model_text()}",
                        favours=conventions.favours_labels(direction), arm_labels=ARM_LABELS)
    return FigureSpec(f"forest_md_{outcome_id}", fig, ma.to_frame())


#: The meta-analysis behind each committed forest figure, by figure name.
FOREST_ANALYSES = {
    "forest_smd_end_of_treatment":
        lambda tables, options=DEFAULT_OPTIONS: forest_analysis(
            tables.effects, window="end_of_treatment", options=options)[0],
    "forest_smd_about_one_month":
        lambda tables, options=DEFAULT_OPTIONS: forest_analysis(
            tables.effects, window="about_one_month", options=options)[0],
    "forest_md_maryland_foot_score":
        lambda tables, options=DEFAULT_OPTIONS: md_forest_analysis(
            tables.effects, tables.outcomes, options=options)[0],
}


def catchup_figure(tables, options: ModelOptions = DEFAULT_OPTIONS) -> FigureSpec:
    """The catch-up-at-one-month chart (panels A and B) and its numbers."""
    effects = tables.effects
    arms = tables.arm_course
    prim = primary_effects(effects, "SMD")
    est = prim[prim["estimable"]]
    eff = pd.DataFrame({
        "study": est["study"], "group": est["scope"].map(SCOPE_SHORT),
        "weeks": est["weeks"], "weeks_approximate": est["weeks_approximate"],
        "estimate": est["yi"], "ci_lb": est["ci_lb"], "ci_ub": est["ci_ub"],
        "separated": est["scope"] != "running_injury",
    })
    pooled = pooled_by_window(effects, measure="SMD", options=options)
    pooled = pooled[(pooled["scope"] == "running_injury") & pooled["estimate"].notna()]
    ne_all = effects[(effects["measure"] == "SMD") & (effects["review_role"] == "primary")
                     & ~effects["estimable"] & (effects["window"] != "baseline")]
    ne = ne_all.drop_duplicates(["study", "weeks"]).rename(columns={"timepoint": "label"})[
        ["study", "weeks", "weeks_approximate", "label"]]
    studies = tables.studies.set_index("study")["weeks_of_treatment"]
    drawn_b = list(dict.fromkeys(list(eff["study"]) + list(ne["study"])))
    bands = {"A": studies.reindex(list(dict.fromkeys(arms["study"]))).dropna().tolist(),
             "B": studies.reindex(drawn_b).dropna().tolist()}
    fig = catchup_chart(arms, eff, pooled[["window", "weeks", "estimate", "ci_lb", "ci_ub", "k"]],
                        ne, treatment_weeks=bands)
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


def catchup_inference_figure(results) -> FigureSpec | None:
    """The change in the effect (one month minus end of treatment) against the assumed
    within-patient correlation, per trial (:func:`analysis.catchup.catchup_analysis`);
    None when no trial has numbers at both time points."""
    from analysis.catchup_plots import catchup_inference

    if results.curve.empty:
        return None

    fig, table = catchup_inference(results.curve, results.roots, units=results.units)
    return FigureSpec("catchup_inference", fig, table)


def equivalence_figure(results) -> FigureSpec | None:
    """Each trial's one-month difference against an equivalence margin where the data give
    one, else the smallest margin that would show equivalence; None when no trial has a
    one-month difference."""
    from analysis.catchup_plots import equivalence_one_month

    if results.equivalence.empty:
        return None

    fig, table = equivalence_one_month(results.equivalence)
    return FigureSpec("equivalence_one_month", fig, table)


def threshold_figure(results) -> FigureSpec | None:
    """The pooled running-injury SMD as a function of the SMD an unpublished trial would
    have, thresholds marked, one panel per time point."""
    from analysis.catchup_plots import threshold_missing_trials

    th = results.thresholds
    if th.curve.empty:  # no trial without numbers has estimable trials to be pooled with
        return None
    fig, table = threshold_missing_trials(display_grid(th.curve), th.crossings, th.baseline)
    return FigureSpec("threshold_missing_trials", fig, table)


def display_grid(curve: pd.DataFrame, step: float = 0.01) -> pd.DataFrame:
    """The rows of a threshold curve on a coarser grid of the hypothetical g, for drawing.

    The search runs on a fine grid (its thresholds are then found exactly); a line drawn
    through every 0.01 of g looks the same and keeps the figure's files small. The
    ends of the searched range are kept.
    """
    if curve.empty:
        return curve
    g = curve["g"].to_numpy(float)
    on_grid = np.isclose(g / step, np.round(g / step), rtol=0, atol=1e-6)
    ends = np.isin(g, [g.min(), g.max()])
    return curve[on_grid | ends]


NO_INFORMATION_NOTE = (
    "No information: the public record does not answer the domain's deciding signalling "
    "question. The overall judgement counts it as some concerns; some concerns in {n} or more "
    "domains make a result high risk (RoB 2's multiple-domains rule, as this review applies it).")


def risk_of_bias_figures(tables, *, window: str = "end_of_treatment") -> list[FigureSpec]:
    """The RoB 2 traffic-light plot and the summary bars weighted by trial size (at
    ``window``), from the risk-of-bias table (robvis style)."""
    return [risk_of_bias_traffic_light_figure(tables),
            risk_of_bias_summary_figure(tables, window=window)]


def risk_of_bias_traffic_light_figure(tables) -> FigureSpec:
    """The RoB 2 traffic-light plot: each trial's judgement per domain and overall."""
    from analysis.certainty_plots import traffic_light_plot
    from analysis.risk_of_bias import MULTIPLE_CONCERNS_HIGH, traffic_light_table

    fig, table = traffic_light_plot(
        traffic_light_table(tables.risk_of_bias, tables.studies, tables.timepoints),
        note=NO_INFORMATION_NOTE.format(n=MULTIPLE_CONCERNS_HIGH))
    return FigureSpec("risk_of_bias_traffic_light", fig, table)


def risk_of_bias_summary_figure(tables, *, window: str = "end_of_treatment") -> FigureSpec:
    """The RoB 2 summary bars: per domain, the share of information (trials weighted by
    their sample size) at each judgement, at ``window``."""
    from analysis.certainty_plots import summary_bar_plot
    from analysis.risk_of_bias import summary_table, trial_sizes

    rob, studies = tables.risk_of_bias, tables.studies
    sizes = trial_sizes(studies, tables.arms)
    scopes = dict(zip(studies["study_id"], studies["scope"]))
    summ = summary_table(rob, sizes, tables.timepoints, window=window, groups=scopes)
    used = sizes[sizes["study_id"].isin(rob["study_id"])]
    units = {"foot": "feet", "patient": "patients"}
    weights_note = ("Weights: each trial's sample size (" + "; ".join(
        f"{r['study']} {r['n']:g} {units.get(r['unit'], r['unit'])}, {r['basis']}"
        for _, r in used.iterrows()) + f"). Results at: {WINDOW_LABELS.get(window, window).lower()}.")
    fig, table = summary_bar_plot(summ, group_labels=SCOPE_LABELS, weights_note=weights_note)
    return FigureSpec("risk_of_bias_summary", fig, table)


def summary_of_findings_figure(sof) -> FigureSpec:
    """The GRADE summary of findings as a table figure (for slides)."""
    from analysis.certainty_plots import summary_of_findings_figure as draw

    fig, table = draw(sof)
    return FigureSpec("summary_of_findings", fig, table)


def effect_direction_figure(tables) -> FigureSpec:
    """The effect-direction plot (Boon & Thomson 2021) with the sign test per domain."""
    from analysis.certainty_plots import effect_direction_plot
    from analysis.direction import effect_direction_table
    from analysis.grade import effect_direction_cells, sign_tests
    from analysis.risk_of_bias import pedro_scores, trial_overall, trial_sizes

    cells = effect_direction_cells(
        effect_direction_table(tables.effects, tables.findings), tables.studies,
        tables.timepoints, tables.arms, trial_overall(tables.risk_of_bias),
        trial_sizes(tables.studies, tables.arms), pedro=pedro_scores(tables.pedro_ratings))
    hidden = cells[~cells["drawn"]]
    note = ("Directions of computed effects follow their 95% CI (no clear difference when it "
            "includes zero). Hollow arrows: the dexamethasone arm improved from baseline and the "
            "control arm is not reported to have (or both did: \u25c4\u25ba); not a comparison "
            "with placebo.")
    if len(hidden):
        note += " Not drawn (no comparison with placebo): " + "; ".join(
            f"{r['study']}, {r['outcomes']} ({WINDOW_LABELS.get(r['window'], r['window']).lower()})"
            for _, r in hidden.iterrows()) + "."
    fig, table = effect_direction_plot(cells, sign_tests(cells), note=note)
    return FigureSpec("effect_direction", fig, table)


def specification_curve_figure(result) -> FigureSpec | None:
    """The specification curve of a :class:`analysis.multiverse.Multiverse`: every
    defensible analysis of the primary outcome, sorted, with the choices behind it (None
    when the data leave no analysis to run)."""
    from analysis.multiverse_plots import specification_curve

    if result.specifications.empty:
        return None

    fig, table = specification_curve(
        result.specifications, result.levels(),
        title="Every defensible analysis: the multiverse of choices for the primary outcome")
    return FigureSpec("specification_curve", fig, table, notes=result.sentences())


@dataclass
class Results:
    """What the committed figures and tables are drawn from, computed once: the review's
    tables, the model options, the catch-up results, the summary of findings and (where
    given) the multiverse."""

    tables: object
    options: ModelOptions = DEFAULT_OPTIONS
    multiverse: object = None
    catchup: object = None
    sof: pd.DataFrame | None = None

    def __post_init__(self):
        from analysis.catchup import catchup_analysis
        from analysis.grade import summary_of_findings_for

        if self.catchup is None:
            self.catchup = catchup_analysis(self.tables, method=self.options.method,
                                            level=self.options.level)
        if self.sof is None:
            self.sof = summary_of_findings_for(self.tables, options=self.options)


#: Every committed figure in reading order: (name, builder of its FigureSpec from Results).
FIGURES: list[tuple[str, object]] = [
    ("forest_smd_end_of_treatment",
     lambda r: forest_figure(r.tables, window="end_of_treatment", options=r.options)),
    ("forest_smd_about_one_month",
     lambda r: forest_figure(r.tables, window="about_one_month", options=r.options)),
    ("forest_md_maryland_foot_score", lambda r: md_forest_figure(r.tables, options=r.options)),
    ("catchup_one_month", lambda r: catchup_figure(r.tables, options=r.options)),
    ("catchup_inference", lambda r: catchup_inference_figure(r.catchup)),
    ("equivalence_one_month", lambda r: equivalence_figure(r.catchup)),
    ("threshold_missing_trials", lambda r: threshold_figure(r.catchup)),
    ("risk_of_bias_traffic_light", lambda r: risk_of_bias_traffic_light_figure(r.tables)),
    ("risk_of_bias_summary", lambda r: risk_of_bias_summary_figure(r.tables)),
    ("summary_of_findings", lambda r: summary_of_findings_figure(r.sof)),
    ("effect_direction", lambda r: effect_direction_figure(r.tables)),
    ("specification_curve", lambda r: specification_curve_figure(r.multiverse)),
]


def figure_names(results: Results) -> list[str]:
    """The names of the figures ``results`` can draw (the specification curve needs the
    multiverse)."""
    return [name for name, _ in FIGURES
            if name != "specification_curve" or results.multiverse is not None]


def build_figure(name: str, results: Results) -> FigureSpec | None:
    """One committed figure by name (None when the data give it nothing to show)."""
    builder = dict(FIGURES)[name]
    spec = builder(results)
    if spec is None:
        return None
    if spec.name != name:  # pragma: no cover - a registry entry that lies
        raise RuntimeError(f"figure {name!r} built as {spec.name!r}")
    return spec


def all_figures(tables, options: ModelOptions = DEFAULT_OPTIONS,
                multiverse=None) -> list[FigureSpec]:
    """Every figure of the review, in reading order; the specification curve where the
    multiverse (:func:`analysis.multiverse.multiverse`, built from the data package by
    the effects step) is given."""
    results = Results(tables, options, multiverse)
    specs = [build_figure(name, results) for name in figure_names(results)]
    return [spec for spec in specs if spec is not None]


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """CSV with a fixed float format, so regenerated files compare byte for byte, and text
    cells that a spreadsheet would run as a formula neutralised
    (:func:`analysis.outputs.neutralise_frame`)."""
    from analysis.outputs import neutralise_frame

    neutralise_frame(table).to_csv(path, index=False, float_format="%.10g",
                                   lineterminator="\n")
    return path


def write_review_tables(tables, out_dir: Path | str = "tables",
                        options: ModelOptions = DEFAULT_OPTIONS,
                        multiverse=None, results: Results | None = None) -> list[Path]:
    """Write the committed tables: the GRADE summary of findings (CSV and Markdown), the
    share of the early difference left at one month with its Fieller sets (CSV), and the
    multiverse's summary and per-level counts where it is given (CSV). ``results``
    (computed once by the caller) replaces ``tables``, ``options`` and ``multiverse``."""
    from analysis.grade import write_sof_csv, write_sof_markdown

    r = results if results is not None else Results(tables, options, multiverse)
    out_dir = Path(out_dir)
    written = [write_sof_csv(r.sof, out_dir), write_sof_markdown(r.sof, out_dir)]
    written.append(write_table(r.catchup.shares, out_dir / "catchup_share_remaining.csv"))
    if r.multiverse is not None:
        written.append(write_table(r.multiverse.summary(), out_dir / "multiverse_summary.csv"))
        written.append(write_table(r.multiverse.by_level(), out_dir / "multiverse_by_level.csv"))
    return written


def write_figure(name: str, results: Results, out_dir: Path | str) -> list[Path]:
    """Build one committed figure and write its PNG (300 dpi), SVG and CSV. Where the data
    give the figure nothing to show, its files from an earlier run are removed (they
    would show another package's numbers) and nothing is written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = build_figure(name, results)
    if spec is None:
        for suffix in (".png", ".svg", ".csv"):
            (out_dir / f"{name}{suffix}").unlink(missing_ok=True)
        return []
    return save_figure(spec.figure, out_dir / name) + [
        write_table(spec.table, out_dir / f"{name}.csv")]


def write_figures(tables, out_dir: Path | str = "figures",
                  options: ModelOptions = DEFAULT_OPTIONS, multiverse=None) -> list[Path]:
    """Build every figure and write PNG, SVG and the CSV of its numbers; return the paths."""
    results = Results(tables, options, multiverse)
    written: list[Path] = []
    for name in figure_names(results):
        written += write_figure(name, results, out_dir)
    return written
