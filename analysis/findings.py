"""The README's results section, written from the results (never typed).

:func:`findings_markdown` writes the section "Results at a glance" from the review's
tables and the results computed from them: the pooled estimates per comparison and time
point with their GRADE certainty, what the catch-up analyses do and do not support
(the change in the effect and the correlation it needs; equivalence at one month or
the smallest margin that would show it; the share of the early difference left), the
thresholds for the unpublished trials, and how thin the evidence is. Every number it
prints is in a CSV under ``figures/`` or ``tables/`` (a test checks this), so a reader
can trace it. :func:`update_readme` replaces the section between its markers, and
``python -m analysis reproduce`` does so, so the README stays true when a trial's
numbers are added.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.conventions import (
    NO_CLEAR_DIFFERENCE,
    SCOPE_LABELS,
    SCOPE_SHORT,
    WINDOW_LABELS,
    WINDOWS,
)
from analysis.meta import ModelOptions
from analysis.narrative import join_names

START = "<!-- results: start (written by analysis.findings from the data; do not edit by hand) -->"
END = "<!-- results: end -->"

UNITS_WORDS = {"foot": "feet", "patient": "patients"}


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _thin_evidence(tables) -> str:
    """How much evidence there is: trials measured and with public numbers, and their units."""
    effects = tables.effects
    prim = effects[(effects["measure"] == "SMD") & (effects["review_role"] == "primary")
                   & effects["window"].isin(WINDOWS)]
    studies = tables.studies.set_index("study")
    parts = []
    for scope, rows in prim.groupby("scope", sort=False):
        measured = list(dict.fromkeys(rows["study"]))
        ok = rows.groupby("study", sort=False)["estimable"].any()
        public = [s for s in measured if ok[s]]
        hidden = [s for s in measured if not ok[s]]

        def size(study):
            s = studies.loc[study]
            bits = []
            units = s["units_randomised_n"] if pd.notna(s["units_randomised_n"]) \
                else s["units_analysed_n"]
            unit = s["unit_of_randomisation"] if s["unit_of_randomisation"] != "not_reported" \
                else s["unit_of_analysis"]
            if pd.notna(units):
                bits.append(f"{units:g} {UNITS_WORDS.get(unit, 'units')}")
            if unit == "foot" and pd.notna(s["patients_n"]):
                bits.append(f"{s['patients_n']:g} patients ({s['patients_n_status']})")
            elif unit != "foot" and pd.notna(s["patients_n"]) and not bits:
                bits.append(f"{s['patients_n']:g} patients")
            return f"{study} ({', '.join(bits)})" if bits else study

        text = (f"**{SCOPE_LABELS.get(scope, scope)}**: {len(measured)} trial(s) measured the "
                f"primary outcome; {len(public)} with public numbers"
                + (f": {join_names(size(s) for s in public)}" if public else ""))
        if hidden:
            text += f"; {len(hidden)} without: {join_names(size(s) for s in hidden)}"
        feet = [s for s in public if studies.loc[s, "unit_of_randomisation"] == "foot"]
        if feet:
            text += (f". {join_names(feet)} randomised feet, not patients, so its CI is too "
                     "narrow if patients gave both feet")
        parts.append(f"- {text}.")
    return "\n".join(parts)


def _pooled_lines(tables, options: ModelOptions, sof: pd.DataFrame) -> list[str]:
    from analysis.timecourse import summary_sentences

    sentences = summary_sentences(tables.effects, options=options)
    certainty = {(r["population"], str(r["time"]).lower()): r["certainty"]
                 for _, r in sof.iterrows()}
    out = []
    for sentence in sentences:
        key = next((k for k in certainty if sentence.startswith(f"{k[0]}, {k[1]}")), None)
        if key is not None:
            sentence = sentence[:-1] + f"; GRADE certainty: {certainty[key]}."
        out.append(f"- {sentence}")
    return out


def _catchup_lines(results) -> list[str]:
    out = []
    roots = results.roots[results.roots["measure"] == "MD"]
    for _, r in roots.iterrows():
        units = results.units.get(r["outcome_id"], "")
        scope = SCOPE_SHORT.get(r["scope"], r["scope"])
        out.append(
            f"- **Did the effect shrink beyond chance?** {r['study']} ({scope}): the mean "
            f"difference went from {_fmt(r['effect_end_of_treatment'], 1)} to "
            f"{_fmt(r['effect_one_month'], 1)} {units} (change {_fmt(r['change'], 1)}); no trial "
            f"reports the within-patient correlation rho between the time points, and the 95% CI "
            f"of the change excludes 0 {r['rho_statement']}.")
    for study, rows in results.shares.groupby("study", sort=False):
        sets = "; ".join(f"{r['interval'].replace(chr(0x2212), '-')} at rho = {r['rho']:g}"
                         for _, r in rows.iterrows())
        ratio = rows["ratio"].iloc[0]
        bounded = rows[rows["kind"] == "bounded"]
        all_none_to_all = len(bounded) == len(rows) and bool(
            ((bounded["lower"] < 0) & (bounded["upper"] > 1)).all())
        tail = (": at every assumed correlation the set includes both none (0) and all (1) of "
                "the early difference" if all_none_to_all else "")
        out.append(f"- **How much of the early difference is left?** {study}: "
                   f"{_fmt(ratio)} of it (Fieller 95% sets {sets}){tail}.")
    for _, r in results.equivalence.iterrows():
        units = r["units"] or ""
        head = (f"- **Is nothing left at one month?** {r['study']}: MD {_fmt(r['estimate'])} "
                f"{units}, 90% CI {_fmt(r['ci_lb'])} to {_fmt(r['ci_ub'])}")
        if pd.notna(r["margin"]):
            verdict = "equivalent" if bool(r["equivalent"]) else "equivalence not shown"
            out.append(f"{head}; against the sourced margin of \u00b1{_fmt(r['margin'], 1)} "
                       f"{units}: {verdict} (TOST p = {_fmt(r['p_tost'], 3)}).")
        else:
            out.append(f"{head}; no accepted margin exists, and equivalence would be shown only "
                       f"for a margin wider than \u00b1{_fmt(r['smallest_margin'])} {units}: a "
                       "non-significant difference is not evidence of no difference.")
    return out


def _threshold_lines(results, options: ModelOptions) -> list[str]:
    th = results.thresholds
    if th.baseline is None or not len(th.baseline):
        return []
    wald = th.stretches[~th.stretches["knha"].astype(bool)]
    out = []
    for (study, window), rows in wald.groupby(["study", "window"], sort=False):
        base = th.baseline[(th.baseline["study"] == study) & (th.baseline["window"] == window)
                           & ~th.baseline["knha"].astype(bool)].iloc[0]
        rows = rows.sort_values("g_from")
        if base["conclusion"] == NO_CLEAR_DIFFERENCE:
            sig = rows[rows["conclusion"] != NO_CLEAR_DIFFERENCE]
            what = ("no SMD between {lo} and {hi} would make the pooled result significant"
                    .format(lo=_fmt(base["g_low"], 0), hi=_fmt(base["g_high"], 0))
                    if sig.empty else "the pooled result would become significant for an SMD "
                    + " or ".join(f"between {_fmt(a, 3)} and {_fmt(b, 3)}"
                                  for a, b in zip(sig["g_from"], sig["g_to"])))
        else:
            keep = rows[rows["conclusion"] == base["conclusion"]]
            lo, hi = keep["g_from"].min(), keep["g_to"].max()
            what = (f"the pooled benefit would hold only if its SMD lay between {_fmt(lo, 3)} "
                    f"and {_fmt(hi, 3)}")
        out.append(f"- **{study}** (group sizes: {base['group_sizes']}), "
                   f"{WINDOW_LABELS[window].lower()}: {what} ({base['model']}).")
    return out


def _multiverse_lines(mv) -> list[str]:
    """How many defensible analyses support each conclusion (all, and the running-injury
    evidence alone), and which choice changes the conclusion most often."""
    summary = mv.summary()
    summary = summary[summary["scale"] == "all"].set_index("window")
    by_level = mv.by_level()
    out = []
    for window in WINDOWS:
        if window not in summary.index:
            continue
        s = summary.loc[window]
        text = (f"- **{WINDOW_LABELS[window]}**: {int(s['favours_treatment']):,} of "
                f"{int(s['specifications']):,} specifications favour dexamethasone, "
                f"{int(s['no_clear_difference']):,} show no clear difference and "
                f"{int(s['favours_control']):,} favour placebo")
        direct = by_level[(by_level["window"] == window) & (by_level["factor"] == "elbow_trial")
                          & (by_level["level"] == "out")]
        if len(direct):
            d = direct.iloc[0]
            text += (f"; with the running-injury evidence alone (elbow trial out): "
                     f"{int(d['favours_treatment']):,} of {int(d['specifications']):,}")
        out.append(text + ".")
    return out


def findings_markdown(tables, *, options: ModelOptions = ModelOptions(), results=None,
                      sof: pd.DataFrame | None = None, multiverse=None) -> str:
    """The results section (Markdown, between the README markers), written from the data."""
    from analysis.catchup import catchup_analysis
    from analysis.grade import summary_of_findings_for
    from analysis.timecourse import model_sentence

    results = catchup_analysis(tables, method=options.method, level=options.level) \
        if results is None else results
    sof = summary_of_findings_for(tables, options=options) if sof is None else sof
    lines = [START, "", f"{model_sentence(options)}", ""]
    lines += _pooled_lines(tables, options, sof)
    lines += ["", "**How thin the evidence is.**", "", _thin_evidence(tables), ""]
    lines += ["**Does the placebo group catch up by one month?** Three separate claims, each "
              "tested (notebook 4; `figures/catchup_inference`, `equivalence_one_month`):", ""]
    lines += _catchup_lines(results)
    threshold = _threshold_lines(results, options)
    if threshold:
        lines += ["", "**What the unpublished trials would have to show** (the SMD each would "
                  "need, at its group sizes, to change the pooled running-injury conclusion; "
                  "`figures/threshold_missing_trials`):", ""]
        lines += threshold
    if multiverse is not None:
        lines += ["", "**Every defensible analysis at once** (a multiverse of "
                  f"{len(multiverse.levels()['factor'].unique())} analytic choices, each level "
                  "with its reason, pooled in one batch; `figures/specification_curve`, "
                  "notebook 6). It maps choices; it adds no evidence, and the trials without "
                  "public numbers are in no specification:", ""]
        lines += _multiverse_lines(multiverse)
    lines += ["", END]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path | str, text: str) -> bool:
    """Replace the results section of ``readme`` (between :data:`START` and :data:`END`)
    with ``text``; return True if the file changed. Raises ValueError without markers."""
    path = Path(readme)
    current = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", re.S)
    if not pattern.search(current):
        raise ValueError(f"{path.name} has no results section between the markers {START!r} "
                         f"and {END!r}")
    new = pattern.sub(lambda _: text, current, count=1)
    if new == current:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def readme_section(readme: Path | str) -> str:
    """The results section currently in ``readme`` (markers included)."""
    current = Path(readme).read_text(encoding="utf-8")
    match = re.search(re.escape(START) + r".*?" + re.escape(END) + r"\n?", current, re.S)
    return match.group(0) if match else ""


def numbers_in(text: str) -> list[str]:
    """The decimal numbers a text states (e.g. '0.74', '-0.38', '12.15'), for tracing."""
    return re.findall(r"(?<![\w.])[-\u2212]?\d+\.\d+", text)


__all__ = ["START", "END", "findings_markdown", "update_readme", "readme_section",
           "numbers_in"]
