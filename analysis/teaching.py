"""Teaching: the exercises of notebook 7, their self-checks and worked answers, the
two-trial coverage simulation, and the student and teacher versions of the notebook.

Notebook ``07_teaching_from_abstract_to_forest_plot.ipynb`` walks a class from the trials'
abstracts to the pooled estimates and the catch-up question. Each section ends with
exercises; this module holds what they need:

* :data:`EXERCISES` and :func:`exercise_table`: every exercise by id (``exercise-1a`` to
  ``exercise-8b``; the number is the notebook's section, the letter the exercise within
  it), its question and the form of its answer.
* :func:`check`: a student's answer is ``right``, ``close`` (with what is usually wrong at
  that point: "you used the normal instead of t"), ``wrong`` (with where to look) or
  ``invalid`` (an unknown id, or a value that is not an answer); the message never shows
  the expected answer.
* :func:`answer_for` and :func:`hint_values`: the expected answer and the values each
  close hint recognises, **computed from the data package at call time** with the
  package's own functions (effect sizes, recoveries, design effect, catch-up inference,
  threshold analysis, risk of bias); no answer is a typed constant. The package is read
  once per data folder and kept while its files are unchanged.
* :func:`worked_answer`: what a worked-answer cell shows: the value computed by hand in
  the cell beside the package's own result (its output carries both in its metadata,
  so a test can confirm that every worked answer matches the package).
* :func:`two_trial_coverage` and :func:`coverage_figure`: a seeded simulation of many
  two-trial random-effects meta-analyses under a known τ², with the coverage of the
  Wald-type CI and of the Hartung-Knapp CI (through :func:`analysis.pooling.pool_batch`).
* :func:`build_versions`: from the executed notebook, a student version without the
  cells tagged ``answer`` and a teacher version without the cells tagged ``student``
  (the empty "your turn" cells), each as ``.ipynb`` and ``.html``, both made with
  nbconvert's ``TagRemovePreprocessor`` from the one source.

Exercises that need numbers not in the data (an assumed intra-patient correlation, the
true effect and τ² of a simulation) say in the notebook that the numbers are invented;
nothing here reads or writes ``data/`` except through :func:`analysis.data.load_package`.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import conventions
from analysis import effect_sizes as es
from analysis.distributions import StudentT

__all__ = [
    "ANSWER_TAG",
    "STUDENT_TAG",
    "TEACHING_NOTEBOOK",
    "METADATA_KEY",
    "VERDICTS",
    "Exercise",
    "Hint",
    "CheckResult",
    "WorkedAnswer",
    "EXERCISES",
    "exercise_table",
    "check",
    "answer_for",
    "hint_values",
    "worked_answer",
    "teaching_context",
    "TeachingContext",
    "SIMULATION_SEED",
    "SIMULATION_TAU2",
    "SIMULATION_MU",
    "SIMULATION_N",
    "EXERCISE_TAU2",
    "ASSUMED_ICC",
    "two_trial_variances",
    "simulate_two_trial_draws",
    "two_trial_coverage",
    "coverage_figure",
    "build_versions",
    "judgement_label",
]

#: The notebook this module serves (in ``notebooks/``).
TEACHING_NOTEBOOK = "07_teaching_from_abstract_to_forest_plot.ipynb"
#: Cell tag of a worked answer: kept in the teacher version, removed from the student's.
ANSWER_TAG = "answer"
#: Cell tag of an empty "your turn" cell: kept in the student version, removed from the
#: teacher's (which shows the worked answer in its place).
STUDENT_TAG = "student"
#: Key of the output metadata a worked answer writes (exercise, value, expected).
METADATA_KEY = "dexa_ma_teaching"

#: The trials the exercises are about (ids of ``studies.csv``).
GUDEMAN = "gudeman1997"
NIRSCHL = "nirschl2003"
NEETER = "neeter2003"

#: Invented for exercise 4 (say so in the notebook): the intra-patient correlation of the
#: two feet of one patient, which no trial reports.
ASSUMED_ICC = 0.5

#: The two-trial simulation (invented numbers, said so in the notebook): seed, true
#: pooled effect (SMD), the between-trial variances τ² simulated, and the number of
#: meta-analyses per τ².
SIMULATION_SEED = 1997
SIMULATION_MU = 0.5
SIMULATION_TAU2 = (0.0, 0.05, 0.1, 0.2, 0.4)
SIMULATION_N = 10_000
#: The τ² of exercise 5b.
EXERCISE_TAU2 = 0.1

CI_WALD = "Wald-type (z)"
CI_HK = "Hartung\u2013Knapp (t, k \u2212 1 df)"

#: What :func:`check` can say.
VERDICTS = ("right", "close", "wrong", "unanswered", "invalid")


# --------------------------------------------------------------------------- the context


def _signature(folder: Path) -> tuple:
    """What identifies a data folder's content: each file's name, size and mtime."""
    if not folder.is_dir():
        return (str(folder), "missing")
    return (str(folder),) + tuple(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())
        if p.is_file())


class TeachingContext:
    """The data package of one folder and every number the exercises derive from it.

    Built by :func:`teaching_context`; each quantity is computed on first use with the
    package's functions and then kept (``cached_property``).
    """

    def __init__(self, folder: Path):
        from analysis.data import load_package
        from analysis.trial_effects import review_tables

        self.folder = Path(folder)
        self.pkg = load_package(self.folder)
        self.tables = review_tables(self.pkg)

    # ------------------------------------------------------------------ rows
    def effect(self, study_id: str, measure: str, window: str) -> pd.Series:
        """The primary effect row of a trial (``tables.effects``)."""
        e = self.tables.effects
        sel = e[(e["study_id"] == study_id) & (e["measure"] == measure)
                & (e["window"] == window) & (e["review_role"] == "primary")]
        if len(sel) != 1:
            raise ValueError(f"the data have {len(sel)} primary {measure} rows for {study_id} "
                             f"at {window}; the exercise needs exactly one")
        return sel.iloc[0]

    def p_value(self, study_id: str, window: str) -> float:
        """The exact between-group p-value of a trial's primary outcome at ``window``."""
        row = self.effect(study_id, "MD", window)
        bg = self.pkg.between_group
        sel = bg[(bg["study_id"] == study_id) & (bg["outcome_id"] == row["outcome_id"])
                 & (bg["timepoint_id"] == row["timepoint_id"]) & bg["p_value"].notna()]
        if len(sel) != 1:
            raise ValueError(f"no single exact p-value for {study_id} at {window} in the data")
        return float(sel["p_value"].iloc[0])

    def reported(self, study_id: str, window: str) -> pd.Series:
        """A between-group estimate printed by a source (the Cochrane review's WMD)."""
        row = self.effect(study_id, "MD", window)
        rep = self.tables.reported
        sel = rep[(rep["study_id"] == study_id) & (rep["timepoint_id"] == row["timepoint_id"])]
        if len(sel) != 1:
            raise ValueError(f"no single printed estimate for {study_id} at {window}")
        return sel.iloc[0]

    @staticmethod
    def arms(row: pd.Series) -> tuple[float, float, float, float, float, float]:
        """``(m_t, sd_t, n_t, m_c, sd_c, n_c)`` of an effects row."""
        return tuple(float(row[c]) for c in ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"))

    # ------------------------------------------------------------------ section 1
    @cached_property
    def gudeman_splits(self) -> pd.DataFrame:
        """Every split n_t / N − n_t of Gudeman's feet, the half-width z·SE of the MD's
        95% CI with ± read as the SD (:func:`analysis.effect_sizes.mean_difference`), and
        whether the printed Cochrane interval (its centre ± that half-width, to two
        decimals) is reproduced."""
        row = self.effect(GUDEMAN, "MD", "end_of_treatment")
        m_t, sd_t, n_t, m_c, sd_c, n_c = self.arms(row)
        total = n_t + n_c
        rep = self.reported(GUDEMAN, "end_of_treatment")
        n1 = np.arange(2.0, total - 1.0)
        md = es.mean_difference(m_t, sd_t, n1, m_c, sd_c, total - n1)
        half = conventions.z_quantile(0.95) * np.sqrt(md.vi)
        centre = float(rep["estimate"])
        lower, upper = float(rep["ci_lower"]), float(rep["ci_upper"])
        fits = ((np.abs(centre - half - lower) <= 0.005 + 1e-9)
                & (np.abs(centre + half - upper) <= 0.005 + 1e-9))
        return pd.DataFrame({"n_t": n1, "n_c": total - n1, "half_width": half,
                             "reproduces_cochrane": fits})

    @cached_property
    def other_split(self) -> float:
        """The dexamethasone arm's feet in the split, other than the review's, that also
        reproduces the Cochrane interval."""
        s = self.gudeman_splits
        n_t = self.arms(self.effect(GUDEMAN, "MD", "end_of_treatment"))[2]
        other = s.loc[s["reproduces_cochrane"] & (s["n_t"] != n_t), "n_t"]
        if len(other) != 1:
            raise ValueError(f"{len(other)} other splits reproduce the Cochrane interval; "
                             "exercise 1b expects exactly one")
        return float(other.iloc[0])

    # ------------------------------------------------------------------ section 4
    @cached_property
    def feet(self) -> dict[str, float]:
        """Gudeman's feet and patients: units randomised, the patients if every patient
        gave both feet (units / 2), and the patient count of the record."""
        s = self.tables.studies.set_index("study_id").loc[GUDEMAN]
        units = float(s["units_randomised_n"])
        return {"units": units, "both_feet_patients": units / 2.0,
                "record_patients": float(s["patients_n"])}

    def unit_of_analysis(self, patients: float, icc: float) -> pd.Series:
        """:func:`analysis.sensitivity.unit_of_analysis` for Gudeman's SMD at the end of
        treatment, one scenario."""
        from analysis.sensitivity import unit_of_analysis

        m_t, sd_t, n_t, m_c, sd_c, n_c = self.arms(self.effect(GUDEMAN, "SMD",
                                                                "end_of_treatment"))
        return unit_of_analysis(m_t, sd_t, n_t, m_c, sd_c, n_c, n_units=self.feet["units"],
                                n_patients=[patients], icc=(icc,)).iloc[0]

    # ------------------------------------------------------------------ section 5
    @cached_property
    def simulation(self) -> pd.DataFrame:
        """:func:`two_trial_coverage` with the notebook's settings."""
        return two_trial_coverage(two_trial_variances(self.tables))

    # ------------------------------------------------------------------ section 6
    @cached_property
    def rho(self) -> pd.DataFrame:
        from analysis.catchup import rho_thresholds

        return rho_thresholds(self.tables.effects)

    @cached_property
    def rho_correlated_estimates(self) -> pd.DataFrame:
        from analysis.catchup import rho_thresholds

        return rho_thresholds(self.tables.effects, smd_covariance="correlated_estimates")

    @cached_property
    def equivalence(self) -> pd.DataFrame:
        from analysis.catchup import equivalence_at_one_month, sourced_margins

        units = {r["outcome_id"]: r["units"] for _, r in self.tables.outcomes.iterrows()
                 if isinstance(r.get("units"), str)}
        return equivalence_at_one_month(
            self.tables.effects, units=units, recovered_dist=self.tables.p_dist,
            margins=sourced_margins(self.tables.minimal_important_differences))

    def equivalence_row(self, study_id: str) -> pd.Series:
        eq = self.equivalence
        return eq[eq["study_id"] == study_id].iloc[0]

    # ------------------------------------------------------------------ section 7
    @cached_property
    def thresholds(self) -> pd.DataFrame:
        """The crossings of :func:`analysis.catchup.thresholds_for_unpublished_trials` for
        Neeter 2003 under REML (Wald and Hartung-Knapp) and a common-effect model."""
        from analysis.catchup import thresholds_for_unpublished_trials

        res = thresholds_for_unpublished_trials(
            self.tables.effects, self.tables.arms, self.tables.studies,
            models=(("REML", False), ("REML", True), ("FE", False)))
        cr = res.crossings
        return cr[cr["study_id"] == NEETER].reset_index(drop=True)

    def threshold(self, window: str, method: str, knha: bool, change: str,
                  side: str) -> float | None:
        """The one threshold g with this change on this side, or None if there is none."""
        cr = self.thresholds
        sel = cr[(cr["window"] == window) & (cr["method"] == method) & (cr["knha"] == knha)
                 & cr["change"].str.startswith(change) & (cr["side"] == side)]
        return float(sel["g"].iloc[0]) if len(sel) == 1 else None

    # ------------------------------------------------------------------ section 8
    def judgement(self, study_id: str, domain: str) -> str:
        """The review's RoB 2 judgement of a domain (the same at every time point)."""
        rob = self.tables.risk_of_bias
        j = set(rob.loc[(rob["study_id"] == study_id) & (rob["domain"] == domain),
                        "judgement"])
        if len(j) != 1:
            raise ValueError(f"risk_of_bias.csv has {sorted(j)} for {study_id} {domain}; "
                             "exercise 8 expects one judgement")
        return j.pop()


_CONTEXTS: dict[tuple, TeachingContext] = {}
#: Data folders kept at once (a class uses one; tests use a few copies).
_KEEP_CONTEXTS = 4


def teaching_context(data_dir: Path | str | None = None) -> TeachingContext:
    """The :class:`TeachingContext` of a data folder (default: :func:`analysis.paths.data_dir`),
    built once and rebuilt when a file in the folder changes (its name, size or
    modification time)."""
    from analysis.paths import data_dir as default_dir

    folder = Path(data_dir) if data_dir is not None else default_dir()
    key = _signature(folder.resolve())
    if key not in _CONTEXTS:
        stale = [k for k in _CONTEXTS if k[0] == key[0]]
        for k in stale + list(_CONTEXTS)[:max(0, len(_CONTEXTS) - _KEEP_CONTEXTS + 1)]:
            _CONTEXTS.pop(k, None)
        _CONTEXTS[key] = TeachingContext(folder)
    return _CONTEXTS[key]


# --------------------------------------------------------------------------- exercises


@dataclass(frozen=True)
class Hint:
    """A usual mistake: the answer it gives (computed; None where it does not apply) and
    what to say, without the expected answer."""

    name: str
    message: str
    value: Callable[[TeachingContext], Any]


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``kind`` is ``"number"`` (checked to ``tolerance``, absolute) or
    ``"judgement"`` (a RoB 2 judgement word); ``expected`` computes the answer."""

    id: str
    section: int
    title: str
    question: str
    answer_format: str
    kind: str
    tolerance: float
    digits: int
    expected: Callable[[TeachingContext], Any]
    hints: tuple[Hint, ...]
    wrong: str


def _z() -> float:
    return conventions.z_quantile(0.95)


def _md_eot(c: TeachingContext):
    return es.mean_difference(*c.arms(c.effect(GUDEMAN, "MD", "end_of_treatment")))


def _g_eot(c: TeachingContext, vtype: str = "LS"):
    return es.hedges_g(*c.arms(c.effect(GUDEMAN, "SMD", "end_of_treatment")), vtype=vtype)


def _scalar(x) -> float:
    return float(np.ravel(x)[0])


def _half_width_1a(c: TeachingContext) -> float:
    return _z() * math.sqrt(_scalar(_md_eot(c).vi))


def _half_width_se_reading(c: TeachingContext) -> float:
    m_t, sd_t, n_t, m_c, sd_c, n_c = c.arms(c.effect(GUDEMAN, "MD", "end_of_treatment"))
    sd_t_from_se = es.sd_from_se(sd_t, n_t).value
    sd_c_from_se = es.sd_from_se(sd_c, n_c).value
    md = es.mean_difference(m_t, sd_t_from_se, n_t, m_c, sd_c_from_se, n_c)
    return _z() * math.sqrt(_scalar(md.vi))


def _half_width_t(c: TeachingContext) -> float:
    m_t, sd_t, n_t, m_c, sd_c, n_c = c.arms(c.effect(GUDEMAN, "MD", "end_of_treatment"))
    return float(StudentT(n_t + n_c - 2).ppf(0.975)) * math.sqrt(_scalar(_md_eot(c).vi))


def _half_width_total_n(c: TeachingContext) -> float:
    m_t, sd_t, n_t, m_c, sd_c, n_c = c.arms(c.effect(GUDEMAN, "MD", "end_of_treatment"))
    md = es.mean_difference(m_t, sd_t, n_t + n_c, m_c, sd_c, n_t + n_c)
    return _z() * math.sqrt(_scalar(md.vi))


def _nirschl(c: TeachingContext):
    row = c.effect(NIRSCHL, "MD", "end_of_treatment")
    md = float(row["mean_t"] - row["mean_c"])
    return md, c.p_value(NIRSCHL, "end_of_treatment"), float(row["n_t"]), float(row["n_c"])


def _se_from_p(c: TeachingContext, dist: str, p_factor: float = 1.0) -> float:
    md, p, n1, n2 = _nirschl(c)
    return float(es.se_of_difference_from_p(md, p * p_factor, n1, n2, dist=dist).value)


def _pooled_sd(c: TeachingContext, dist: str) -> float:
    _, _, n1, n2 = _nirschl(c)
    return float(es.pooled_sd_from_se_of_difference(_se_from_p(c, dist), n1, n2).value)


def _se_change_percent(c: TeachingContext) -> float:
    return 100.0 * (_se_from_p(c, "normal") / _se_from_p(c, "t") - 1.0)


def _design_effect(c: TeachingContext, patients: float) -> float:
    return float(c.unit_of_analysis(patients, ASSUMED_ICC)["design_effect"])


def _ci_lb_multiplied(c: TeachingContext) -> float:
    m_t, sd_t, n_t, m_c, sd_c, n_c = c.arms(c.effect(GUDEMAN, "SMD", "end_of_treatment"))
    de = _design_effect(c, c.feet["both_feet_patients"])
    g = es.hedges_g(m_t, sd_t, n_t * de, m_c, sd_c, n_c * de)
    return _scalar(g.yi) - _z() * math.sqrt(_scalar(g.vi))


def _sim(c: TeachingContext, ci: str, tau2: float) -> float:
    s = c.simulation
    sel = s[(s["ci"] == ci) & np.isclose(s["tau2"], tau2)]
    return float(100.0 * sel["coverage"].iloc[0])


def _rho_root(table: pd.DataFrame, study_id: str, measure: str) -> float:
    r = table[(table["study_id"] == study_id) & (table["measure"] == measure)].iloc[0]
    return float(r["rho_root"])


def _change(c: TeachingContext) -> float:
    r = c.rho[(c.rho["study_id"] == GUDEMAN) & (c.rho["measure"] == "MD")].iloc[0]
    return float(r["change"])


def _tost_normal(c: TeachingContext) -> float:
    from analysis.catchup import tost

    r = c.equivalence_row(NIRSCHL)
    return float(tost(r["estimate"], r["se"], r["margin"], alpha=r["alpha"])["p_tost"])


def _bound_95(c: TeachingContext) -> float:
    r = c.equivalence_row(GUDEMAN)
    return max(abs(r["ci95_lb"]), abs(r["ci95_ub"]))


def _bound_90_smaller(c: TeachingContext) -> float:
    r = c.equivalence_row(GUDEMAN)
    return min(abs(r["ci_lb"]), abs(r["ci_ub"]))


def _se_read_arms(c: TeachingContext):
    """Gudeman's arms with ± read as each arm mean's SE and turned into an SD."""
    m_t, sd_t, n_t, m_c, sd_c, n_c = c.arms(c.effect(GUDEMAN, "SMD", "end_of_treatment"))
    return (m_t, es.sd_from_se(sd_t, n_t).value, n_t, m_c, es.sd_from_se(sd_c, n_c).value, n_c)


def _gudeman_total(c: TeachingContext) -> float:
    """All of Gudeman's feet: n_t + n_c."""
    arms = c.arms(c.effect(GUDEMAN, "MD", "end_of_treatment"))
    return arms[2] + arms[5]


def _cohens_d(c: TeachingContext) -> float:
    """Gudeman's g without the small-sample correction: d = g / J(N - 2)."""
    return _scalar(_g_eot(c).yi) / float(es.hedges_correction_factor(_gudeman_total(c) - 2))


def _number(ex_id, section, title, question, answer_format, tolerance, digits, expected,
            hints, wrong) -> Exercise:
    return Exercise(ex_id, section, title, question, answer_format, "number", tolerance,
                    digits, expected, tuple(hints), wrong)


def _judgement(ex_id, section, title, question, expected, hints, wrong) -> Exercise:
    return Exercise(ex_id, section, title, question,
                    "a RoB 2 judgement: low, some concerns, high or no information",
                    "judgement", 0.0, 0, expected, tuple(hints), wrong)


_EXERCISE_LIST = [
    # ------------------------------------------------------------------ 1: SD or SE?
    _number(
        "exercise-1a", 1, "Is Gudeman's \u00b1 an SD or an SE?",
        "Read Gudeman's \u00b1 at the end of treatment as the SD, with the review's split of "
        "the feet. What is the half-width (z \u00d7 SE) of the 95% CI of the mean difference? "
        "Compare it with the Cochrane review's interval.",
        "a number, 2 decimals", 0.006, 2, _half_width_1a,
        [Hint("se_reading", "Close: that is the half-width if \u00b1 were each arm's standard "
              "error. The question reads \u00b1 as the SD: each arm's variance is SD\u00b2 / n.",
              _half_width_se_reading),
         Hint("t_quantile", "Close: you used Student's t. The Cochrane review's interval "
              "(RevMan) uses the normal quantile z.", _half_width_t),
         Hint("total_n", "Close: you used all the feet in each arm. The 40 feet are the total, "
              "split over two arms.", _half_width_total_n),
         Hint("full_width", "Close: that is the whole width of the interval; the half-width "
              "is half of it.", lambda c: 2 * _half_width_1a(c)),
         Hint("variance", "Close: you multiplied z by the variance of the difference; use "
              "its square root, the SE.", lambda c: _z() * _scalar(_md_eot(c).vi))],
        "Not yet. The SE of a difference of two means is \u221a(SD\u2081\u00b2/n\u2081 + "
        "SD\u2082\u00b2/n\u2082); the half-width is z times it."),
    _number(
        "exercise-1b", 1, "Is Gudeman's \u00b1 an SD or an SE?",
        "The review assumes a balanced split of the feet. One other split also reproduces the "
        "Cochrane interval to two decimals. How many feet are in its dexamethasone arm?",
        "a whole number", 0.5, 0, lambda c: c.other_split,
        [Hint("placebo_arm", "Close: that is the placebo arm of the split. The question asks "
              "for the dexamethasone arm.",
              lambda c: _gudeman_total(c) - c.other_split),
         Hint("review_split", "Close: that is the split the review uses. Find the other one "
              "that fits.", lambda c: c.arms(c.effect(GUDEMAN, "MD", "end_of_treatment"))[2])],
        "Not yet. Try every split n / (N \u2212 n) of the N feet, compute the half-width for "
        "each, and keep those that give the Cochrane bounds when rounded to two decimals."),
    # ------------------------------------------------------------------ 2: MD and g by hand
    _number(
        "exercise-2a", 2, "Gudeman's effect by hand",
        "The mean difference (dexamethasone minus placebo) at the end of treatment, from the "
        "abstract's means.",
        "a number, 1 decimal", 0.02, 1,
        lambda c: _scalar(_md_eot(c).yi),
        [Hint("sign", "Close: the sign is reversed. The convention is treatment minus control "
              "(dexamethasone minus placebo).", lambda c: -_scalar(_md_eot(c).yi)),
         Hint("cochrane", "Close: that is the Cochrane review's printed WMD. Compute it from "
              "the abstract's two means.",
              lambda c: float(c.reported(GUDEMAN, "end_of_treatment")["estimate"]))],
        "Not yet. Subtract the placebo arm's mean change from the dexamethasone arm's."),
    _number(
        "exercise-2b", 2, "Gudeman's effect by hand",
        "Hedges' g at the end of treatment (pooled SD, small-sample correction J).",
        "a number, 2 decimals", 0.006, 2, lambda c: _scalar(_g_eot(c).yi),
        [Hint("cohens_d", "Close: that is Cohen's d. Hedges' g multiplies it by the "
              "small-sample correction J(N \u2212 2), slightly below 1.",
              _cohens_d),
         Hint("glass", "Close: you divided by the placebo arm's SD (Glass's \u0394). Hedges' g "
              "divides by the SD pooled over both arms.",
              lambda c: _scalar(_md_eot(c).yi) / c.arms(c.effect(GUDEMAN, "SMD",
                                                                 "end_of_treatment"))[4]),
         Hint("se_as_sd", "Close: you read \u00b1 as the SE and turned it into an SD "
              "(SD = SE \u00d7 \u221an). The review reads \u00b1 as the SD (exercise 1).",
              lambda c: _scalar(es.hedges_g(*_se_read_arms(c)).yi)),
         Hint("z_statistic", "Close: you divided the mean difference by its standard error: "
              "that is a z statistic, not a standardised mean difference.",
              lambda c: _scalar(_md_eot(c).yi) / math.sqrt(_scalar(_md_eot(c).vi))),
         Hint("sign", "Close: the sign is reversed; the SMD here is dexamethasone minus "
              "placebo, positive favouring dexamethasone.", lambda c: -_scalar(_g_eot(c).yi))],
        "Not yet. Pool the two SDs (weighted by n \u2212 1), divide the mean difference by it, "
        "then multiply by J."),
    _number(
        "exercise-2c", 2, "Gudeman's effect by hand",
        "The standard error of that g, with the large-sample variance 1/n\u2081 + 1/n\u2082 + "
        "g\u00b2/(2N) (metafor's default).",
        "a number, 3 decimals", 0.0008, 3, lambda c: math.sqrt(_scalar(_g_eot(c).vi)),
        [Hint("no_g_term", "Close: you left out the g\u00b2/(2N) term of the variance.",
              lambda c: math.sqrt(_scalar(_g_eot(c).vi) - _scalar(_g_eot(c).yi) ** 2
                                  / (2 * _gudeman_total(c)))),
         Hint("variance", "Close: that is the variance; the SE is its square root.",
              lambda c: _scalar(_g_eot(c).vi)),
         Hint("other_formula", "Close: that is another variance formula (RevMan 5's, or the "
              "unbiased one). The question asks for metafor's large-sample formula.",
              lambda c: math.sqrt(_scalar(_g_eot(c, "RevMan5").vi)))],
        "Not yet. Add 1/n\u2081, 1/n\u2082 and g\u00b2/(2N), then take the square root."),
    # ------------------------------------------------------------------ 3: Nirschl from p
    _number(
        "exercise-3a", 3, "Nirschl's SE from a p-value",
        "Nirschl 2003 at 2 days: recover the SE of the mean difference (mm) from the two-sided "
        "p-value and the group sizes, with Student's t on n\u2081 + n\u2082 \u2212 2 df.",
        "a number, 2 decimals", 0.006, 2, lambda c: _se_from_p(c, "t"),
        [Hint("normal", "Close: you used the normal instead of t.",
              lambda c: _se_from_p(c, "normal")),
         Hint("one_sided", "Close: you used the p-value as if it were one-sided. It is "
              "two-sided: use the 1 \u2212 p/2 quantile.", lambda c: _se_from_p(c, "t", 2.0)),
         Hint("pooled_sd", "Close: that is the pooled SD behind the SE (exercise 3b), not "
              "the SE of the difference.", lambda c: _pooled_sd(c, "t"))],
        "Not yet. Find the t value whose two-sided p equals the reported p, then "
        "SE = |MD| / t."),
    _number(
        "exercise-3b", 3, "Nirschl's SE from a p-value",
        "The pooled SD (mm) behind that SE, used in both arms to compute Nirschl's SMD.",
        "a number, 1 decimal", 0.06, 1, lambda c: _pooled_sd(c, "t"),
        [Hint("normal", "Close: you started from the SE recovered with the normal instead "
              "of t.", lambda c: _pooled_sd(c, "normal")),
         Hint("one_group", "Close: you used the one-group formula SD = SE \u00d7 \u221an. For a "
              "difference of two means divide by \u221a(1/n\u2081 + 1/n\u2082).",
              lambda c: _se_from_p(c, "t") * math.sqrt(_nirschl(c)[3]))],
        "Not yet. SE of a difference = SD \u00d7 \u221a(1/n\u2081 + 1/n\u2082): solve for SD."),
    _number(
        "exercise-3c", 3, "Nirschl's SE from a p-value",
        "By how many percent does the recovered SE change when you use the normal instead of "
        "t (positive if it grows)?",
        "a number (percent), 2 decimals", 0.006, 2, _se_change_percent,
        [Hint("sign", "Close: check the direction. The normal quantile for the same p is "
              "smaller than t's, so the SE recovered from it is larger.",
              lambda c: -_se_change_percent(c)),
         Hint("ratio", "Close: that is the ratio of the two SEs; give the change in percent.",
              lambda c: _se_from_p(c, "normal") / _se_from_p(c, "t"))],
        "Not yet. Compute the SE both ways (exercise 3a) and compare them."),
    # ------------------------------------------------------------------ 4: feet
    _number(
        "exercise-4a", 4, "Feet, not patients",
        "Suppose every patient gave both feet (half as many patients as feet) and the two feet "
        f"of one patient correlate {ASSUMED_ICC:g} (an invented value). What is the design "
        "effect?",
        "a number, 2 decimals", 0.006, 2,
        lambda c: _design_effect(c, c.feet["both_feet_patients"]),
        [Hint("feet_per_patient", "Close: that is M, the number of feet per patient. The "
              "design effect is 1 + (M \u2212 1) \u00d7 ICC.",
              lambda c: c.feet["units"] / c.feet["both_feet_patients"]),
         Hint("record_patients", "Close: you used the patient count of the record (a "
              "secondary source). The question supposes every patient gave both feet.",
              lambda c: _design_effect(c, c.feet["record_patients"]))],
        "Not yet. Design effect = 1 + (M \u2212 1) \u00d7 ICC, with M the mean number of feet "
        "per patient."),
    _number(
        "exercise-4b", 4, "Feet, not patients",
        "With that design effect, divide each arm's n by it and recompute Hedges' g. What is "
        "the lower bound of its 95% CI at the end of treatment?",
        "a number, 2 decimals", 0.006, 2,
        lambda c: float(c.unit_of_analysis(c.feet["both_feet_patients"], ASSUMED_ICC)["ci_lb"]),
        [Hint("unadjusted", "Close: that is the interval without the design effect. Divide "
              "each arm's n by it first.",
              lambda c: float(c.effect(GUDEMAN, "SMD", "end_of_treatment")["ci_lb"])),
         Hint("multiplied", "Close: you multiplied the n by the design effect. Correlated "
              "feet carry less information: divide.", _ci_lb_multiplied)],
        "Not yet. Effective n per arm = n / design effect; recompute g and its variance "
        "with them."),
    # ------------------------------------------------------------------ 5: two trials
    _number(
        "exercise-5a", 5, "Two trials, one random-effects interval",
        "The Hartung\u2013Knapp 95% CI of two trials uses a t quantile. Which value is it?",
        "a number, 2 decimals", 0.006, 2, lambda c: float(StudentT(1).ppf(0.975)),
        [Hint("normal", "Close: that is the normal quantile of the Wald-type interval. "
              "Hartung\u2013Knapp uses t with k \u2212 1 df.", lambda c: _z()),
         Hint("two_df", "Close: that is t with 2 df. With k = 2 trials, k \u2212 1 = 1.",
              lambda c: float(StudentT(2).ppf(0.975))),
         Hint("one_sided", "Close: that is the 95% quantile; a two-sided 95% CI uses the "
              "97.5% quantile.", lambda c: float(StudentT(1).ppf(0.95)))],
        "Not yet. The quantile is t(0.975) with k \u2212 1 degrees of freedom."),
    _number(
        "exercise-5b", 5, "Two trials, one random-effects interval",
        f"In the simulation (its seed as in the notebook), what percentage of the Wald-type "
        f"95% CIs covered the true effect when \u03c4\u00b2 = {EXERCISE_TAU2:g}?",
        "a number (percent), 1 decimal", 0.06, 1, lambda c: _sim(c, CI_WALD, EXERCISE_TAU2),
        [Hint("hartung_knapp", "Close: that is the Hartung\u2013Knapp interval's coverage. "
              "The question asks about the Wald-type interval.",
              lambda c: _sim(c, CI_HK, EXERCISE_TAU2)),
         Hint("no_heterogeneity", "Close: that is the coverage when \u03c4\u00b2 = 0. Read the "
              "row of the question's \u03c4\u00b2.", lambda c: _sim(c, CI_WALD, 0.0))],
        "Not yet. Run the simulation cell unchanged and read the coverage table."),
    # ------------------------------------------------------------------ 6: catch-up
    _number(
        "exercise-6a", 6, "What does \"no significant difference at one month\" show?",
        "Gudeman: the change in the mean difference, \u0394 = MD at one month \u2212 MD at the "
        "end of treatment (Maryland Foot Score points).",
        "a number, 1 decimal", 0.02, 1, _change,
        [Hint("sign", "Close: the sign. \u0394 is one month minus the end of treatment; the "
              "difference shrank.", lambda c: -_change(c))],
        "Not yet. Compute each time point's mean difference, then subtract."),
    _number(
        "exercise-6b", 6, "What does \"no significant difference at one month\" show?",
        "Gudeman at one month: the smallest equivalence margin (points) for which two one-sided "
        "tests at \u03b1 = 0.05 would conclude equivalence.",
        "a number, 2 decimals", 0.006, 2,
        lambda c: float(c.equivalence_row(GUDEMAN)["smallest_margin"]),
        [Hint("ci95", "Close: you used the 95% CI. Two one-sided tests at \u03b1 = 0.05 "
              "correspond to the 90% CI.", _bound_95),
         Hint("smaller_bound", "Close: that is the bound nearer zero. The margin must cover "
              "the whole interval, so take the bound farther from zero.", _bound_90_smaller)],
        "Not yet. Compute the 90% CI of the one-month difference; the margin must contain it."),
    _number(
        "exercise-6c", 6, "What does \"no significant difference at one month\" show?",
        "Gudeman, as SMD: above which assumed within-patient correlation \u03c1 does the 95% "
        "CI of the change exclude zero (Gleser\u2013Olkin covariance)?",
        "a number, 3 decimals", 0.0015, 3, lambda c: _rho_root(c.rho, GUDEMAN, "SMD"),
        [Hint("correlated_estimates", "Close: you took the two estimates to correlate \u03c1 "
              "(Cov = \u03c1\u221a(v\u2081v\u2082)). The question asks for the Gleser\u2013Olkin "
              "covariance of two SMDs.",
              lambda c: _rho_root(c.rho_correlated_estimates, GUDEMAN, "SMD")),
         Hint("other_trial", "Close: that is Nirschl's threshold; the question is about "
              "Gudeman.", lambda c: _rho_root(c.rho, NIRSCHL, "SMD"))],
        "Not yet. Var(\u0394) = v\u2081 + v\u2082 \u2212 2 Cov(\u03c1); find the \u03c1 at which "
        "|\u0394| = z \u00d7 SE(\u0394)."),
    _number(
        "exercise-6d", 6, "What does \"no significant difference at one month\" show?",
        "Nirschl at one month, against the sourced minimal important difference as margin: the "
        "p-value of the two one-sided tests (t, as the SE was recovered with t).",
        "a number, 4 decimals", 0.00006, 4,
        lambda c: float(c.equivalence_row(NIRSCHL)["p_tost"]),
        [Hint("normal", "Close: you used the normal. The SE was recovered from a p-value "
              "with t, so the tests use the same t.", _tost_normal),
         Hint("smaller_p", "Close: that is the smaller of the two one-sided p-values. TOST "
              "reports the larger: both tests must reject.",
              lambda c: float(c.equivalence_row(NIRSCHL)["p_lower"]))],
        "Not yet. Test H\u2080: \u03b4 \u2264 \u2212margin and H\u2080: \u03b4 \u2265 margin "
        "separately; the TOST p-value is the larger of the two."),
    # ------------------------------------------------------------------ 7: thresholds
    _number(
        "exercise-7a", 7, "How large would Neeter's effect have to be?",
        "End of treatment, random effects (REML) with a Wald-type CI: below which SMD of "
        "Neeter 2003 (at its reported group sizes) would the pooled result lose significance?",
        "a number, 2 decimals", 0.006, 2,
        lambda c: c.threshold("end_of_treatment", "REML", False, "loses significance",
                              "below"),
        [Hint("hartung_knapp", "Close: that is the threshold with the Hartung\u2013Knapp CI. "
              "The question asks for the Wald-type CI.",
              lambda c: c.threshold("end_of_treatment", "REML", True, "loses significance",
                                    "below")),
         Hint("common_effect", "Close: that is the threshold of a common-effect model. The "
              "question asks for random effects (REML).",
              lambda c: c.threshold("end_of_treatment", "FE", False, "loses significance",
                                    "below"))],
        "Not yet. Pool Gudeman with a hypothetical Neeter of SMD g for many g (the threshold "
        "figure); find where the pooled CI's lower bound crosses zero."),
    _number(
        "exercise-7b", 7, "How large would Neeter's effect have to be?",
        "Same model: above which SMD of Neeter would the pooled result lose significance "
        "again (a very large effect)?",
        "a number, 2 decimals", 0.006, 2,
        lambda c: c.threshold("end_of_treatment", "REML", False, "loses significance",
                              "above"),
        [Hint("hartung_knapp", "Close: that is the upper threshold with the "
              "Hartung\u2013Knapp CI. The question asks for the Wald-type CI.",
              lambda c: c.threshold("end_of_treatment", "REML", True, "loses significance",
                                    "above")),
         Hint("lower", "Close: that is the lower threshold (exercise 7a). Look for the "
              "second crossing, at large SMDs.",
              lambda c: c.threshold("end_of_treatment", "REML", False, "loses significance",
                                    "below"))],
        "Not yet. A Neeter far from Gudeman raises the estimated \u03c4\u00b2: follow the "
        "pooled CI's lower bound to large SMDs."),
    _number(
        "exercise-7c", 7, "How large would Neeter's effect have to be?",
        "About one month, common-effect model: above which SMD of Neeter would the pooled "
        "result become significant?",
        "a number, 2 decimals", 0.006, 2,
        lambda c: c.threshold("about_one_month", "FE", False, "gains significance", "above"),
        [Hint("hartung_knapp", "Close: that is where the Hartung\u2013Knapp interval of the "
              "random-effects model starts to exclude zero. The question asks for the "
              "common-effect model.",
              lambda c: c.threshold("about_one_month", "REML", True, "gains significance",
                                    "above"))],
        "Not yet. In a common-effect model the pooled CI narrows as Neeter is added; find the "
        "SMD at which its lower bound reaches zero."),
    # ------------------------------------------------------------------ 8: risk of bias
    _judgement(
        "exercise-8a", 8, "Judge one risk-of-bias domain",
        "Gudeman 1997, domain D1 (bias arising from the randomisation process), from what the "
        "public record says.",
        lambda c: c.judgement(GUDEMAN, "D1"),
        [Hint("some_concerns", "Close: you are one step away. Which signalling question "
              "decides D1 (1.2, allocation concealment), and does the public record answer it "
              "at all?", lambda c: "some_concerns")],
        "Not what the review concluded. Re-read the record: what does it say about how the "
        "allocation sequence was generated and concealed?"),
    _judgement(
        "exercise-8b", 8, "Judge one risk-of-bias domain",
        "Nirschl 2003, domain D1, from the abstract and the PEDro record.",
        lambda c: c.judgement(NIRSCHL, "D1"),
        [Hint("some_concerns", "Close: you read PEDro's 'No' for concealed allocation as "
              "'not described'. That reading is defensible; which answer to signalling "
              "question 1.2 does PEDro's 'No' give if taken at its word?",
              lambda c: "some_concerns"),
         Hint("no_information", "Close: the record does say something about concealment "
              "(PEDro's item 3). Which answer to question 1.2 does it give?",
              lambda c: "no_information")],
        "Not what the review concluded. Look at PEDro's item on concealed allocation."),
]


#: Every exercise by id, in the notebook's order.
EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in _EXERCISE_LIST}


def exercise_table() -> pd.DataFrame:
    """One row per exercise: ``id, section, title, question, answer_format``."""
    return pd.DataFrame([{"id": ex.id, "section": ex.section, "title": ex.title,
                          "question": ex.question, "answer_format": ex.answer_format}
                         for ex in EXERCISES.values()])


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer (one of :data:`VERDICTS`: ``right``, ``close``, ``wrong``,
    ``unanswered`` for None, ``invalid``), with a message that never states the expected
    answer, and the name of the close hint recognised (``hint``, else None)."""

    exercise: str
    verdict: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.exercise}: {self.verdict.upper()}. {self.message}"

    def _repr_markdown_(self) -> str:  # pragma: no cover - shown in notebooks
        return f"**{self.exercise}: {self.verdict}.** {self.message}"


_JUDGEMENT_WORDS = {
    "low": "low", "low risk": "low",
    "some concerns": "some_concerns", "some_concerns": "some_concerns",
    "high": "high", "high risk": "high",
    "no information": "no_information", "no_information": "no_information",
}


def _exercise(exercise: str) -> Exercise | CheckResult:
    if not isinstance(exercise, str) or exercise not in EXERCISES:
        return CheckResult(str(exercise), "invalid",
                           f"There is no exercise {exercise!r} (argument 'exercise'). The "
                           f"exercises are: {', '.join(EXERCISES)}.")
    return EXERCISES[exercise]


def _as_number(answer) -> float | None:
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (Real, np.number)):
        if isinstance(answer, str):
            try:
                answer = float(answer.strip().replace("\u2212", "-"))
            except ValueError:
                return None
        else:
            return None
    value = float(answer)
    return value if math.isfinite(value) else None


def _as_judgement(answer) -> str | None:
    if not isinstance(answer, str):
        return None
    return _JUDGEMENT_WORDS.get(" ".join(answer.strip().lower().replace("-", " ").split()))


def _values(ex: Exercise, ctx: TeachingContext) -> tuple[Any, dict[str, Any]]:
    expected = ex.expected(ctx)
    if expected is None:
        raise ValueError(f"{ex.id}: the data give no answer to this exercise")
    hints = {}
    for h in ex.hints:
        v = h.value(ctx)
        if v is None:
            continue
        if ex.kind == "number":
            v = float(v)
            if not math.isfinite(v) or abs(v - float(expected)) <= ex.tolerance:
                continue
        elif v == expected:
            continue
        hints[h.name] = v
    return expected, hints


def answer_for(exercise: str, *, data_dir: Path | str | None = None):
    """The expected answer of an exercise, computed now from the data package (a float,
    or the RoB 2 judgement word). For teachers and tests; raises ``ValueError`` for an
    unknown id."""
    ex = _exercise(exercise)
    if isinstance(ex, CheckResult):
        raise ValueError(ex.message)
    expected = ex.expected(teaching_context(data_dir))
    return float(expected) if ex.kind == "number" else expected


def hint_values(exercise: str, *, data_dir: Path | str | None = None) -> dict[str, Any]:
    """The answers each close hint of an exercise recognises (hint name → value),
    computed now; a hint whose value does not apply or equals the expected answer is
    left out. For teachers and tests."""
    ex = _exercise(exercise)
    if isinstance(ex, CheckResult):
        raise ValueError(ex.message)
    return _values(ex, teaching_context(data_dir))[1]


def check(exercise: str, answer, *, data_dir: Path | str | None = None) -> CheckResult:
    """Check a student's answer to an exercise (ids: :data:`EXERCISES`).

    Number exercises: ``right`` within the exercise's tolerance of the expected answer
    (computed now from the data package, :func:`answer_for`); else ``close`` within the
    tolerance of a usual mistake's value, with what is usually wrong at that point; else
    ``wrong``, with where to look. A number may be given as a str ("3.7"). Judgement
    exercises take a RoB 2 word: "low", "some concerns", "high", "no information".
    ``None`` (the notebook's empty "your turn" cells) gives ``unanswered``. An unknown id
    or an answer that is not a number (or judgement word) gives ``invalid`` with a message
    naming the argument, never an exception. No message contains the expected answer.
    """
    ex = _exercise(exercise)
    if isinstance(ex, CheckResult):
        return ex
    if answer is None:
        return CheckResult(ex.id, "unanswered", "No answer yet: put your answer, "
                           f"{ex.answer_format}, in place of None.")
    if ex.kind == "number":
        value = _as_number(answer)
        if value is None:
            return CheckResult(ex.id, "invalid",
                               f"The answer (argument 'answer') must be a finite number, "
                               f"{ex.answer_format}; got {answer!r}.")
    else:
        value = _as_judgement(answer)
        if value is None:
            return CheckResult(ex.id, "invalid",
                               f"The answer (argument 'answer') must be one of the RoB 2 "
                               f"judgements low, some concerns, high, no information; "
                               f"got {answer!r}.")
    expected, hints = _values(ex, teaching_context(data_dir))
    if ex.kind == "number":
        if abs(value - expected) <= ex.tolerance:
            return CheckResult(ex.id, "right", f"Right ({ex.answer_format}).")
        near = [(abs(value - v), name) for name, v in hints.items()
                if abs(value - v) <= ex.tolerance]
    else:
        if value == expected:
            return CheckResult(ex.id, "right", "Right: that is the review's judgement.")
        near = [(0.0, name) for name, v in hints.items() if v == value]
    if near:
        name = min(near)[1]
        message = next(h.message for h in ex.hints if h.name == name)
        return CheckResult(ex.id, "close", message, hint=name)
    return CheckResult(ex.id, "wrong", ex.wrong)


# --------------------------------------------------------------------------- worked answers


@dataclass(frozen=True)
class WorkedAnswer:
    """What a worked-answer cell shows: the value computed in the cell by hand and the
    package's own answer. Displayed as Markdown; the output's metadata
    (:data:`METADATA_KEY`) holds ``exercise``, ``value`` and ``expected``."""

    exercise: str
    value: Any
    expected: Any
    matches: bool
    digits: int
    how: str = ""

    def _format(self, x) -> str:
        if isinstance(x, str):
            return judgement_label(x)
        return f"{x:.{self.digits}f}".replace("-", "\u2212")

    def text(self) -> str:
        head = f"**Worked answer {self.exercise.removeprefix('exercise-')}** ({self.exercise}): "
        body = (f"{self._format(self.value)}; the package gives {self._format(self.expected)}"
                f" ({'the same' if self.matches else 'they differ'}).")
        return head + body + (f" {self.how}" if self.how else "")

    def _repr_mimebundle_(self, include=None, exclude=None):  # pragma: no cover - notebooks
        meta = {METADATA_KEY: {"exercise": self.exercise, "value": self.value,
                               "expected": self.expected, "matches": self.matches}}
        text = self.text()
        return ({"text/markdown": text, "text/plain": text.replace("**", "")},
                {"text/markdown": meta, "text/plain": meta})

    def __str__(self) -> str:
        return self.text().replace("**", "")


def judgement_label(judgement: str) -> str:
    """A RoB 2 judgement word as readers see it ("some_concerns" → "Some concerns")."""
    from analysis.risk_of_bias import JUDGEMENT_LABELS

    return JUDGEMENT_LABELS.get(judgement, judgement)


def worked_answer(exercise: str, value, *, how: str = "",
                  data_dir: Path | str | None = None) -> WorkedAnswer:
    """The display of a worked answer: ``value`` as computed in the cell, beside
    :func:`answer_for` (the package's result); ``matches`` says whether :func:`check`
    calls it right. ``how`` adds a sentence."""
    ex = EXERCISES.get(exercise)
    if ex is None:
        raise ValueError(f"worked_answer: no exercise {exercise!r} (argument 'exercise'); "
                         f"the exercises are {', '.join(EXERCISES)}")
    expected = answer_for(exercise, data_dir=data_dir)
    result = check(exercise, value, data_dir=data_dir)
    if result.verdict == "invalid":
        raise ValueError(f"worked_answer({exercise!r}): {result.message}")
    shown = float(value) if ex.kind == "number" else _as_judgement(value)
    return WorkedAnswer(exercise, shown, expected, result.verdict == "right", ex.digits, how)


# --------------------------------------------------------------------------- simulation


def two_trial_variances(tables, study_ids: Sequence[str] = (GUDEMAN, NEETER)) -> np.ndarray:
    """Within-trial variances of two SMDs of the size of these trials: 1/n_t + 1/n_c
    (the part of metafor's large-sample variance that does not depend on g), from the
    study table's randomised group sizes."""
    s = tables.studies.set_index("study_id")
    out = []
    for sid in study_ids:
        n_t, n_c = float(s.loc[sid, "n_t"]), float(s.loc[sid, "n_c"])
        if not (n_t > 0 and n_c > 0):
            raise ValueError(f"two_trial_variances: {sid} has no group sizes in the data")
        out.append(1.0 / n_t + 1.0 / n_c)
    return np.array(out)


def _simulation_inputs(vi, tau2, mu, n_meta) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vi, dtype=float)
    if v.ndim != 1 or v.size < 2 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"vi must be two or more finite variances > 0, got {vi!r}")
    t2 = np.asarray(tau2, dtype=float)
    if t2.ndim != 1 or t2.size == 0 or not np.all(np.isfinite(t2)) or np.any(t2 < 0):
        raise ValueError(f"tau2 must be one or more finite values >= 0, got {tau2!r}")
    if isinstance(n_meta, (bool, np.bool_)) or not (
            isinstance(n_meta, (int, np.integer)) and n_meta >= 1):
        raise ValueError(f"n_meta must be a whole number >= 1, got {n_meta!r}")
    if not isinstance(mu, Real) or not math.isfinite(float(mu)):
        raise ValueError(f"mu must be a finite number, got {mu!r}")
    return v, t2


def simulate_two_trial_draws(vi, *, tau2: Sequence[float] = SIMULATION_TAU2,
                             mu: float = SIMULATION_MU, n_meta: int = SIMULATION_N,
                             seed: int = SIMULATION_SEED) -> np.ndarray:
    """The observed effects of :func:`two_trial_coverage`'s simulated meta-analyses:
    an array of shape (len(tau2), n_meta, len(vi)) with
    y = μ + √(v_i + τ²) × N(0, 1) draws from ``numpy.random.default_rng(seed)``
    (``standard_normal`` of that shape, in C order), i.e. y_i = μ + u_i + e_i with
    u_i ~ N(0, τ²) and e_i ~ N(0, v_i)."""
    v, t2 = _simulation_inputs(vi, tau2, mu, n_meta)
    rng = np.random.default_rng(seed)
    draws = rng.standard_normal((t2.size, n_meta, v.size))
    return float(mu) + draws * np.sqrt(v[None, None, :] + t2[:, None, None])


def two_trial_coverage(vi, *, tau2: Sequence[float] = SIMULATION_TAU2,
                       mu: float = SIMULATION_MU, n_meta: int = SIMULATION_N,
                       method: str = "REML", level: float = 0.95,
                       seed: int = SIMULATION_SEED) -> pd.DataFrame:
    """Coverage of random-effects CIs in simulated meta-analyses of ``len(vi)`` trials.

    For each τ² in ``tau2``, ``n_meta`` meta-analyses are simulated under the
    random-effects model (:func:`simulate_two_trial_draws`): trial i observes
    y_i = μ + u_i + e_i with u_i ~ N(0, τ²) and e_i ~ N(0, v_i), v_i = ``vi`` (known, as
    a meta-analysis takes them). Each is pooled
    with :func:`analysis.pooling.pool_batch` (``method``, metafor's rma) twice: with the
    Wald-type CI μ̂ ± z·SE and with the Hartung-Knapp CI (t with k − 1 df). Draws come
    from ``numpy.random.default_rng(seed)``, all τ² in one array, so the table is
    reproducible. Meta-analyses whose τ² estimator did not converge are left out of the
    coverage and counted.

    Returns one row per τ² × CI: ``tau2, ci, k, n_meta, n_converged, coverage`` (the
    share of CIs containing μ), ``mc_se`` (its Monte Carlo SE, √(p(1 − p)/n)),
    ``median_width``, ``tau2_zero_share`` (share of fits with τ̂² = 0), ``mu``,
    ``method``, ``level``, ``seed``.
    """
    from analysis.pooling import pool_batch

    v, t2 = _simulation_inputs(vi, tau2, mu, n_meta)
    k = v.size
    y = simulate_two_trial_draws(v, tau2=t2, mu=mu, n_meta=n_meta, seed=seed)
    groups = np.repeat(np.arange(t2.size * n_meta), k)
    vv = np.tile(v, t2.size * n_meta)
    rows = []
    for knha, name in ((False, CI_WALD), (True, CI_HK)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-converged fits are counted below
            s = pool_batch(y.ravel(), vv, groups, method=method, knha=knha,
                           level=level).summary
        lb = s["ci_lb"].to_numpy(float).reshape(t2.size, n_meta)
        ub = s["ci_ub"].to_numpy(float).reshape(t2.size, n_meta)
        tau2_hat = s["tau2"].to_numpy(float).reshape(t2.size, n_meta)
        ok = s["converged"].to_numpy(bool).reshape(t2.size, n_meta)
        for i, t in enumerate(t2):
            good = ok[i]
            n = int(good.sum())
            covered = (lb[i, good] <= mu) & (ub[i, good] >= mu)
            p = float(covered.mean()) if n else np.nan
            rows.append({"tau2": float(t), "ci": name, "k": k, "n_meta": n_meta,
                         "n_converged": n, "coverage": p,
                         "mc_se": math.sqrt(p * (1 - p) / n) if n else np.nan,
                         "median_width": float(np.median(ub[i, good] - lb[i, good]))
                         if n else np.nan,
                         "tau2_zero_share": float(np.mean(tau2_hat[i, good] == 0)) if n
                         else np.nan,
                         "mu": float(mu), "method": method, "level": level, "seed": seed})
    return pd.DataFrame.from_records(rows)


def coverage_figure(table: pd.DataFrame):
    """Two panels from :func:`two_trial_coverage`'s table: (A) coverage (%) of each CI
    against τ², with ±2 Monte Carlo SEs and the nominal level; (B) the median width of
    each CI against τ². Returns a :class:`analysis.figures.FigureSpec`."""
    from matplotlib.figure import Figure

    from analysis.figures import FigureSpec
    from analysis.plots import COLOURS, figure_style

    need = ("tau2", "ci", "coverage", "mc_se", "median_width", "level", "k", "n_meta")
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the column(s) {', '.join(missing)}")
    styles = {CI_WALD: {"color": COLOURS["control"], "marker": "o", "ls": "-"},
              CI_HK: {"color": COLOURS["treatment"], "marker": "s", "ls": "--"}}
    level = float(table["level"].iloc[0])
    with figure_style():
        fig = Figure(figsize=(9.0, 3.6))
        ax_a, ax_b = fig.subplots(1, 2)
        for name, grp in table.groupby("ci", sort=False):
            st = styles.get(name, {"color": COLOURS["pooled"], "marker": "^", "ls": ":"})
            ax_a.errorbar(grp["tau2"], 100 * grp["coverage"], yerr=200 * grp["mc_se"],
                          label=name, capsize=3, lw=1.4, ms=5, gid=f"coverage:{name}", **st)
            ax_b.plot(grp["tau2"], grp["median_width"], label=name, lw=1.4, ms=5,
                      gid=f"width:{name}", **st)
        ax_a.axhline(100 * level, color=COLOURS["rule"], lw=1, ls=":", gid="nominal")
        ax_a.text(table["tau2"].max(), 100 * level, f"nominal {100 * level:g}%",
                  ha="right", va="bottom", fontsize=8, color=COLOURS["secondary_line"])
        ax_a.set_xlabel("Between-trial variance \u03c4\u00b2 (simulated)")
        ax_a.set_ylabel("Coverage of the true effect (%)")
        ax_a.set_title("A  How often the 95% CI covers the truth", loc="left")
        ax_b.set_xlabel("Between-trial variance \u03c4\u00b2 (simulated)")
        ax_b.set_ylabel("Median width of the CI (SMD units)")
        ax_b.set_ylim(bottom=0)
        ax_b.set_title("B  What it costs: the width of the CI", loc="left")
        ax_a.legend(loc="lower left", frameon=False)
        k, n = int(table["k"].iloc[0]), int(table["n_meta"].iloc[0])
        fig.suptitle(f"{n:,} simulated meta-analyses of k = {k} trials per \u03c4\u00b2 "
                     "(invented true effect and \u03c4\u00b2; error bars \u00b12 Monte Carlo SE)",
                     fontsize=9)
        fig.tight_layout()
    return FigureSpec("teaching_two_trial_coverage", fig, table.copy())


# --------------------------------------------------------------------------- versions


def _tag_remove(nb, tags: set[str]):
    from nbconvert.preprocessors import TagRemovePreprocessor

    pre = TagRemovePreprocessor(remove_cell_tags=set(tags), enabled=True)
    out, _ = pre.preprocess(copy.deepcopy(nb), {})
    return out


#: The versions :func:`build_versions` writes: name → the cell tags removed from it.
VERSIONS = {"student": {ANSWER_TAG}, "teacher": {STUDENT_TAG}}


def build_versions(executed_notebook: Path, out_dir: Path) -> list[Path]:
    """Write the student and teacher versions of an executed teaching notebook.

    From ``executed_notebook`` (executed, with outputs) and nbconvert's
    ``TagRemovePreprocessor``: ``<stem>_student.ipynb`` and ``.html`` without the cells
    tagged :data:`ANSWER_TAG` (worked answers, source and output), and
    ``<stem>_teacher.ipynb`` and ``.html`` without the cells tagged :data:`STUDENT_TAG`
    (the empty "your turn" cells). Returns the four paths. Raises ``ValueError`` when
    the file is not a notebook or has no answer cell (nothing to hide: wrong notebook?).
    """
    import nbformat
    from nbconvert import HTMLExporter

    executed_notebook = Path(executed_notebook)
    out_dir = Path(out_dir)
    try:
        nb = nbformat.read(executed_notebook, as_version=4)
    except FileNotFoundError:
        raise ValueError(f"build_versions: {executed_notebook} does not exist "
                         "(argument 'executed_notebook')") from None
    except Exception as exc:  # nbformat raises several types for a file that is not JSON
        raise ValueError(f"build_versions: {executed_notebook} is not a notebook "
                         f"({type(exc).__name__}: {exc})") from None
    tagged = [c for c in nb.cells if ANSWER_TAG in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise ValueError(f"build_versions: {executed_notebook} has no cell tagged "
                         f"{ANSWER_TAG!r}; is it the teaching notebook?")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    exporter = HTMLExporter()
    for version, tags in VERSIONS.items():
        node = _tag_remove(nb, tags)
        node.metadata["dexa_ma_version"] = version
        stem = out_dir / f"{executed_notebook.stem}_{version}"
        ipynb = stem.with_suffix(".ipynb")
        nbformat.write(node, ipynb)
        html, _ = exporter.from_notebook_node(node)
        html_path = stem.with_suffix(".html")
        html_path.write_text(html, encoding="utf-8")
        written += [ipynb, html_path]
    return written
