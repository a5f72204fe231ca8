"""Every defensible analysis at once: a multiverse of analytic choices, pooled in one batch.

With this little evidence the answer depends on choices the trials leave open and that
reasonable reviewers make differently. A multiverse analysis (Steegen et al. 2016; for
meta-analysis Voracek et al. 2019, "which data to meta-analyse, and how") varies all of
them together and counts how many defensible analyses support each conclusion; the
specification curve (Simonsohn, Simmons & Nelson 2020) draws it
(:func:`analysis.multiverse_plots.specification_curve`).

The choices are data, not code: a factors file (TOML; the default is
``analysis/multiverse_factors.toml``, read by :func:`read_factors`) declares each factor
with its levels, a one-line reason it is defensible, and the project's default, in two
groups:

``[which_data.*]``
    which numbers are pooled: the elbow trial in or out (``elbow_trial``), Gudeman 1997's
    mean difference from the arm means or as printed by the Cochrane review
    (``mean_difference_source``), its split of feet over the arms (``feet_split``), how
    alike two feet of one patient are (``feet_icc``) and how many patients they came from
    (``patients``), the SMD's variance formula (``smd_variance``), and t or normal when an
    SD is recovered from a p-value (``p_to_se``).
``[how_to_analyse.*]``
    how they are pooled: MD or SMD (``measure``), the τ² estimator
    (``tau2_estimator``) and the CI method (``ci_method``).

:func:`multiverse` takes the validated data package (the effects step's input) and the
factors. It runs the effects step (:func:`analysis.trial_effects.continuous_effects`)
once for every combination of its own options (SMD variance × p-to-SE distribution) on
the review's primary outcome in the two windows, and makes the other data choices as
transformations of those tables in memory (``data/`` is never written), each appended
to the row's ``how``:

* feet per arm: the trial's group sizes replaced by the chosen split;
* design effect for trials that randomised feet (Cochrane Handbook 23.1.4, as
  :func:`analysis.sensitivity.unit_of_analysis`): DE = 1 + (M − 1) ICC with M = feet /
  patients, each arm's n divided by DE;
* printed mean difference: the between-group MD printed by a secondary source
  (``between_group.csv``) in place of m_t − m_c, with the arms' SDs and (possibly
  changed) group sizes, so that MD = printed and the SMD is Hedges' g of that difference.

MD and SMD are then recomputed by :mod:`analysis.effect_sizes` (MD variance ``LS``;
Hedges' g with the chosen variance formula, oriented so that positive favours
dexamethasone); rows that no choice touches keep the effects step's numbers exactly.

Every specification (both windows, every combination of choices that survives the rules
below) is pooled in **one** :func:`analysis.pooling.pool_batch` call, with a τ² estimator
and CI method per meta-analysis.

Declared rules (:data:`RULES`); the output (:attr:`Multiverse.exclusions`) counts them
per window:

* invalid: ``no_estimable_trial`` (nothing to pool), ``md_across_instruments`` (a mean
  difference needs one instrument), ``hartung_knapp_common_effect`` (a random-effects
  CI method with a common-effect model);
* redundant (Simonsohn et al.'s "non-redundant" specifications): a data choice that
  changes none of the effects pooled in a specification does not apply to it
  (``not_applicable:<factor>``; e.g. ``p_to_se`` when no pooled trial has an SD recovered
  from a p-value, ``patients`` at ICC 0); with one estimable trial the τ² estimator and CI
  method do not apply (``one_trial``: the pooled result is that trial's estimate with a
  normal CI). The factor is then empty (not applicable) in the specifications table, and
  ``combinations`` says how many combinations of choices the specification stands for.

The grid of a window is accounted for exactly: its combinations of choices = those
removed as invalid + the ``combinations`` of its specifications
(:meth:`Multiverse.counts`).

Trials without public numbers (Neeter 2003, Osborne & Allison 2006) are in no
specification: the multiverse maps choices, it does not add evidence (their possible
influence is the threshold analysis's job,
:func:`analysis.catchup.thresholds_for_unpublished_trials`).

References: Steegen S, Tuerlinckx F, Gelman A, Vanpaemel W (2016). Increasing
transparency through a multiverse analysis. Perspect Psychol Sci 11:702-712. Voracek M,
Kossmeier M, Tran US (2019). Which data to meta-analyze, and how? Z Psychol 227:64-82.
Simonsohn U, Simmons JP, Nelson LD (2020). Specification curve analysis. Nat Hum Behav
4:1208-1214.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import math
import re
import sys
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import conventions
from analysis import effect_sizes as es
from analysis.conventions import WINDOW_LABELS, WINDOWS
from analysis.pooling import ConvergenceWarning, pool_batch
from analysis.trial_effects import continuous_effects

__all__ = [
    "DEFAULT_FACTORS_FILE", "STAGES", "FACTOR_KINDS", "RULES", "Factor", "FactorGrid",
    "FactorFileError", "Multiverse", "read_factors", "parse_factors", "effects_per_data_choice",
    "multiverse", "conclusion", "add_arguments", "run", "main",
]

#: The factors file shipped with the package: the default multiverse of this review.
DEFAULT_FACTORS_FILE = Path(__file__).with_name("multiverse_factors.toml")

#: The two groups of factors, as the factors file names its tables.
STAGES = ("which_data", "how_to_analyse")
STAGE_LABELS = {"which_data": "Which data", "how_to_analyse": "How to analyse"}


# --------------------------------------------------------------------------- factor kinds


def _choice(*allowed: str) -> Callable[[str], str]:
    """A level check that accepts the given names (case-insensitive) and returns the
    spelling given here."""
    canon = {a.lower(): a for a in allowed}

    def check(level: str) -> str:
        key = level.strip().lower()
        if key not in canon:
            raise ValueError(f"valid levels: {', '.join(allowed)}")
        return canon[key]

    return check


def _icc(level: str) -> str:
    try:
        value = float(level)
    except ValueError:
        raise ValueError("an ICC is a number from 0 to 1, e.g. \"0.5\"") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError("an ICC is a number from 0 to 1, e.g. \"0.5\"")
    return level.strip()


_SPLIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def _split(level: str) -> str:
    if level.strip().lower() == "as recorded":
        return "as recorded"
    m = _SPLIT.match(level)
    if not m or float(m.group(1)) < 2 or float(m.group(2)) < 2:
        raise ValueError("valid levels: \"as recorded\", or \"T/C\" with the treatment and "
                         "control arms' sizes, each at least 2 (e.g. \"26/14\")")
    return f"{float(m.group(1)):g}/{float(m.group(2)):g}"


@dataclass(frozen=True)
class FactorKind:
    """A choice the code knows how to make: its group, default, accepted levels and what
    it means when it does not apply."""

    name: str
    stage: str
    label: str
    default: str
    accepts: str
    check: Callable[[str], str]
    not_applicable: str
    needs_study: bool = False


#: Every factor a factors file may declare, in the order of the tables' columns.
FACTOR_KINDS: dict[str, FactorKind] = {k.name: k for k in (
    FactorKind("elbow_trial", "which_data", "Elbow trial", "out", "out, in", _choice("out", "in"),
               "no estimable elbow trial in this window"),
    FactorKind("mean_difference_source", "which_data", "MD source", "arm means",
               "arm means, printed", _choice("arm means", "printed"),
               "no between-group estimate is printed for the trials pooled here"),
    FactorKind("feet_split", "which_data", "Feet per arm", "as recorded",
               "as recorded, or T/C (e.g. 26/14)", _split,
               "the trial is not pooled here, or its group sizes are not the arms'",
               needs_study=True),
    FactorKind("feet_icc", "which_data", "Feet ICC", "0", "numbers from 0 to 1", _icc,
               "no pooled trial randomised feet"),
    FactorKind("patients", "which_data", "Patients (feet trials)", "recorded",
               "recorded, both feet", _choice("recorded", "both feet"),
               "the design effect is 1 (ICC 0) or no pooled trial randomised feet"),
    # metafor's "AV" is left out: it makes each study's variance depend on the others pooled
    FactorKind("smd_variance", "which_data", "SMD variance", "LS", "LS, LS2, UB, RevMan5",
               _choice("LS", "LS2", "UB", "RevMan5"),
               "a mean difference has no SMD variance formula"),
    FactorKind("p_to_se", "which_data", "p-value to SE", "t", "t, normal",
               _choice("t", "normal"),
               "no pooled trial has an SD recovered from a p-value"),
    FactorKind("measure", "how_to_analyse", "Effect measure", "SMD", "SMD, MD",
               _choice("SMD", "MD"), ""),
    FactorKind("tau2_estimator", "how_to_analyse", "\u03c4\u00b2 estimator", "REML",
               "REML, ML, DL, PM, HE, SJ, SJIT, FE",
               _choice("REML", "ML", "DL", "PM", "HE", "SJ", "SJIT", "FE"),
               "one estimable trial"),
    FactorKind("ci_method", "how_to_analyse", "CI method", "Wald", "Wald, Hartung-Knapp",
               _choice("Wald", "Hartung-Knapp"), "one estimable trial"),
)}

#: The trials each level of ``elbow_trial`` pools, by scope (``studies.csv``): the
#: running-injury trials, and with the elbow trial in, the other tendinopathy too.
ELBOW_SCOPES = {"out": ("running_injury",), "in": ("running_injury", "other_tendinopathy")}

DATA_FACTORS = tuple(n for n, k in FACTOR_KINDS.items() if k.stage == "which_data")
ANALYSIS_FACTORS = tuple(n for n, k in FACTOR_KINDS.items() if k.stage == "how_to_analyse")
MODEL_FACTORS = ("tau2_estimator", "ci_method")

#: The declared rules, by name: what they remove and why.
RULES: dict[str, str] = {
    "no_estimable_trial": "invalid: no trial with public numbers is pooled in this window",
    "md_across_instruments": ("invalid: a mean difference pools only trials measured on one "
                              "instrument; across instruments only the SMD is meaningful"),
    "hartung_knapp_common_effect": ("invalid: Hartung-Knapp is a random-effects CI method, not "
                                    "meant for a common-effect model (metafor warns likewise)"),
    "one_trial": ("redundant: with one estimable trial the pooled result is that trial's "
                  "estimate with a normal CI, whatever the \u03c4\u00b2 estimator and CI method"),
}
#: The factors whose levels an invalid rule looks at (named when a grid ends up empty).
RULE_FACTORS = {
    "no_estimable_trial": ("elbow_trial",),
    "md_across_instruments": ("elbow_trial", "measure"),
    "hartung_knapp_common_effect": ("tau2_estimator", "ci_method"),
}
for _name, _kind in FACTOR_KINDS.items():
    if _kind.stage == "which_data":
        RULES[f"not_applicable:{_name}"] = (f"redundant: {_kind.label} changes none of the pooled "
                                            f"effects ({_kind.not_applicable})")


# --------------------------------------------------------------------------- the grid


class FactorFileError(ValueError):
    """The factors file cannot be used; ``problems`` holds one message per problem, each
    naming the file and line."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Factor:
    """One declared choice: its levels (as the code spells them), the reason for each, the
    project's default, and the lines of the factors file that declare them."""

    name: str
    stage: str
    label: str
    reason: str
    levels: tuple[str, ...]
    level_reasons: tuple[str, ...]
    default: str
    study: str | None = None
    line: int = 0
    level_lines: tuple[int, ...] = ()
    study_line: int = 0

    def line_of(self, level: str) -> int:
        """The line that declares ``level`` (the factor's line if unknown)."""
        if level in self.levels and self.level_lines:
            return self.level_lines[self.levels.index(level)]
        return self.line


@dataclass(frozen=True)
class FactorGrid:
    """The declared factors (``which_data`` first, then ``how_to_analyse``, each in file
    order) and where they were read from."""

    factors: tuple[Factor, ...]
    source: str = "<factors>"

    def __post_init__(self):
        order = {s: i for i, s in enumerate(STAGES)}
        ordered = tuple(sorted(self.factors, key=lambda f: order[f.stage]))
        object.__setattr__(self, "factors", ordered)

    def __contains__(self, name: str) -> bool:
        return any(f.name == name for f in self.factors)

    def __getitem__(self, name: str) -> Factor:
        for f in self.factors:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    def levels_of(self, name: str) -> tuple[str, ...]:
        """The declared levels, or the project's default alone for an undeclared factor."""
        return self[name].levels if name in self else (FACTOR_KINDS[name].default,)

    def default_of(self, name: str) -> str:
        return self[name].default if name in self else FACTOR_KINDS[name].default

    @property
    def n_combinations(self) -> int:
        """Combinations of choices per window (the full grid, before any rule)."""
        return math.prod(len(f.levels) for f in self.factors)

    def table(self) -> pd.DataFrame:
        """One row per level: ``stage, factor, label, reason, level, level_reason,
        is_default, line``."""
        rows = [{"stage": f.stage, "factor": f.name, "label": f.label, "reason": f.reason,
                 "level": lvl, "level_reason": why, "is_default": lvl == f.default,
                 "line": f.line_of(lvl)}
                for f in self.factors for lvl, why in zip(f.levels, f.level_reasons)]
        return pd.DataFrame.from_records(rows, columns=["stage", "factor", "label", "reason",
                                                        "level", "level_reason", "is_default",
                                                        "line"])


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)"
                  r"(?:\s*\.\s*(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=")
_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)")


def _dotted(text: str) -> tuple[str, ...]:
    return tuple(next(g for g in m.groups() if g is not None) for m in _PART.finditer(text))


def _toml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line of each table header and key path of a TOML document (the first, 1-based).

    A plain line scan (tomllib does not report positions) that understands table
    headers, bare, quoted and dotted keys; used only to name lines in messages.
    """
    where: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("[["):
            table = _dotted(header.group(1))
            for i in range(1, len(table) + 1):
                where.setdefault(table[:i], number)
            continue
        key = _KEY.match(line)
        if key:
            path = table + _dotted(key.group(1))
            for i in range(len(table) + 1, len(path) + 1):
                where.setdefault(path[:i], number)
    return where


def _line(lines: dict, *path: str) -> int:
    for i in range(len(path), 0, -1):
        if path[:i] in lines:
            return lines[path[:i]]
    return 1


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")

FACTOR_KEYS = ("label", "reason", "default", "levels", "study")


def parse_factors(text: str, name: str = "factors") -> FactorGrid:
    """Read a factors document (TOML text; see the default file for its layout).

    Raises :class:`FactorFileError` listing every problem, each as
    ``"<name> line N: ..."``: malformed TOML, an unknown section, factor, key or level, a
    factor in the wrong group, a missing reason, an empty or missing table of levels, a
    default that is not a level, repeated levels, or no factor at all (an empty grid).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POSITION.search(msg)
        if m:
            line = int(m.group(1))
            msg = f"{_TOML_POSITION.sub('', msg)} (column {m.group(2)})"
        else:
            line = max(1, len(text.splitlines()))
            msg = _TOML_END.sub("", msg) + " (at the end of the file)"
        raise FactorFileError([f"{name} line {line}: not valid TOML: {msg}"]) from None
    lines = _toml_lines(text)
    problems: list[str] = []
    factors: list[Factor] = []

    def problem(line: int, text_: str) -> None:
        problems.append(f"{name} line {line}: {text_}")

    for section, body in doc.items():
        if section not in STAGES:
            problem(_line(lines, section), f"unknown section [{section}]; a factor is declared as "
                    f"[which_data.NAME] or [how_to_analyse.NAME]")
            continue
        if not isinstance(body, dict):
            problem(_line(lines, section), f"'{section}' must be a table of factors, "
                    f"[{section}.NAME]")
            continue
        for fname, spec in body.items():
            where = _line(lines, section, fname)
            kind = FACTOR_KINDS.get(fname)
            if kind is None:
                known = ", ".join(n for n, k in FACTOR_KINDS.items() if k.stage == section)
                problem(where, f"unknown factor '{fname}' in [{section}]; known factors there: "
                        f"{known}")
                continue
            if kind.stage != section:
                problem(where, f"'{fname}' is a {kind.stage} factor; declare it as "
                        f"[{kind.stage}.{fname}]")
                continue
            if not isinstance(spec, dict):
                problem(where, f"factor '{fname}' must be a table with label, reason, default "
                        "and levels")
                continue
            factor = _parse_factor(section, fname, spec, kind, lines, problem)
            if factor is not None:
                factors.append(factor)
    if not problems and not factors:
        problem(1, "no factor is declared, so the grid is empty; declare at least one "
                "[which_data.NAME] or [how_to_analyse.NAME] table with its levels")
    if problems:
        raise FactorFileError(problems)
    return FactorGrid(tuple(factors), source=name)


def _parse_factor(section, fname, spec, kind, lines, problem) -> Factor | None:
    ok = True
    where = _line(lines, section, fname)
    for key in spec:
        if key not in FACTOR_KEYS or (key == "study" and not kind.needs_study):
            allowed = [k for k in FACTOR_KEYS if k != "study" or kind.needs_study]
            problem(_line(lines, section, fname, key), f"factor '{fname}': unknown key '{key}'; "
                    f"valid keys: {', '.join(allowed)}")
            ok = False
    reason = spec.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        problem(_line(lines, section, fname, "reason"),
                f"factor '{fname}' needs a reason: one line saying why the choice is open")
        ok = False
    label = spec.get("label", kind.label)
    if not isinstance(label, str) or not label.strip():
        problem(_line(lines, section, fname, "label"), f"factor '{fname}': label must be text")
        ok = False
    study = spec.get("study")
    if kind.needs_study and (not isinstance(study, str) or not study.strip()):
        problem(_line(lines, section, fname, "study"),
                f"factor '{fname}' needs study = \"<study_id>\": the trial whose arms it splits")
        ok = False
    levels_spec = spec.get("levels")
    levels: list[str] = []
    reasons: list[str] = []
    level_lines: list[int] = []
    if not isinstance(levels_spec, dict):
        problem(_line(lines, section, fname, "levels"),
                f"factor '{fname}' needs a table of levels, [{section}.{fname}.levels] with "
                f"level = \"why it is defensible\"")
        ok = False
    elif not levels_spec:
        problem(_line(lines, section, fname, "levels"),
                f"factor '{fname}' has no levels, so the grid is empty; accepted levels: "
                f"{kind.accepts}")
        ok = False
    else:
        for raw, why in levels_spec.items():
            at = _line(lines, section, fname, "levels", raw)
            try:
                level = kind.check(raw)
            except ValueError as exc:
                problem(at, f"factor '{fname}' has no level '{raw}'; {exc}")
                ok = False
                continue
            if not isinstance(why, str) or not why.strip():
                problem(at, f"factor '{fname}', level '{raw}': give the reason it is "
                        "defensible as text (level = \"why\")")
                ok = False
                continue
            if level in levels:
                problem(at, f"factor '{fname}': level '{raw}' repeats level '{level}'")
                ok = False
                continue
            levels.append(level)
            reasons.append(why.strip())
            level_lines.append(at)
    default = spec.get("default")
    default_level = None
    if not isinstance(default, str):
        problem(_line(lines, section, fname, "default"),
                f"factor '{fname}' needs default = \"<level>\": the project's own analysis")
        ok = False
    elif levels:
        try:
            default_level = kind.check(default)
        except ValueError:
            default_level = None
        if default_level not in levels:
            problem(_line(lines, section, fname, "default"),
                    f"factor '{fname}': default '{default}' is not one of its levels "
                    f"({', '.join(levels)})")
            ok = False
    if not ok:
        return None
    return Factor(name=fname, stage=section, label=label.strip(), reason=reason.strip(),
                  levels=tuple(levels), level_reasons=tuple(reasons), default=default_level,
                  study=study.strip() if isinstance(study, str) else None, line=where,
                  level_lines=tuple(level_lines),
                  study_line=_line(lines, section, fname, "study"))


def read_factors(path: str | Path | None = None) -> FactorGrid:
    """Read a factors file (default: :data:`DEFAULT_FACTORS_FILE`); see :func:`parse_factors`.

    Raises :class:`FactorFileError` also when the file cannot be read.
    """
    path = Path(DEFAULT_FACTORS_FILE if path is None else path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FactorFileError([f"{name}: file not found"]) from None
    except IsADirectoryError:
        raise FactorFileError([f"{name}: is a directory, not a factors file"]) from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise FactorFileError([f"{name} line {line}: not UTF-8 text"]) from None
    except OSError as exc:
        raise FactorFileError([f"{name}: cannot read: {exc.strerror or exc}"]) from None
    return parse_factors(text, name=name)


# --------------------------------------------------------------------------- effects per data choice

#: Columns of the effects tables that the multiverse adds to the effects step's.
EFFECT_EXTRA_COLUMNS = ["data_choice", "mean_difference_source", "feet_split", "feet_icc",
                        "patients", "smd_variance", "p_to_se", "instrument", "units",
                        "design_effect"]


def _primary_package(pkg):
    """The package restricted, in memory, to the primary outcomes in the two windows.

    The effects step computes each trial × outcome × time point from that row alone, so
    this gives the same rows as the full package, faster.
    """
    defs = pkg.outcome_definitions
    defs = defs[defs["review_role"] == "primary"]
    tps = pkg.timepoints[pkg.timepoints["window"].isin(WINDOWS)]
    keys = defs[["study_id", "outcome_id"]].merge(tps[["study_id", "timepoint_id"]],
                                                  on="study_id")
    outcomes = pkg.outcomes.merge(keys, on=["study_id", "outcome_id", "timepoint_id"])
    return dataclasses.replace(pkg, outcome_definitions=defs.reset_index(drop=True),
                               timepoints=tps.reset_index(drop=True),
                               outcomes=outcomes.reset_index(drop=True))


def _validate_against_data(grid: FactorGrid, pkg) -> None:
    """Checks of the factors that need the data: the study a split names exists and
    randomised as many units as the split adds up to."""
    if "feet_split" not in grid:
        return
    f = grid["feet_split"]
    studies = pkg.studies.set_index("study_id")
    problems = []
    if f.study not in studies.index:
        problems.append(f"{grid.source} line {f.study_line or f.line}: "
                        f"feet_split: study '{f.study}' is not in studies.csv "
                        f"(known: {', '.join(studies.index)})")
    else:
        units = studies.at[f.study, "units_randomised_n"]
        for level in f.levels:
            if level == "as recorded":
                continue
            n_t, n_c = (float(x) for x in level.split("/"))
            if pd.notna(units) and not math.isclose(n_t + n_c, float(units)):
                problems.append(
                    f"{grid.source} line {f.line_of(level)}: feet_split level '{level}' adds up "
                    f"to {n_t + n_c:g}, but {studies.at[f.study, 'label']} randomised "
                    f"{float(units):g} (studies.csv)")
    if problems:
        raise FactorFileError(problems)


def effects_per_data_choice(pkg, grid: FactorGrid | None = None) -> pd.DataFrame:
    """The review's primary effects in both windows, once for every combination of the
    data choices (except ``elbow_trial``, which selects rows), stacked.

    ``data_choice`` numbers the combinations; the data factors' levels are columns. The
    effects step (:func:`analysis.trial_effects.continuous_effects`) is run once per
    ``smd_variance`` × ``p_to_se``; feet per arm, design effect and printed mean difference
    are applied to its rows in memory (see the module docstring), and each row's ``how``
    says what was done. ``design_effect`` is 1 where none was applied.
    """
    grid = read_factors() if grid is None else grid
    _validate_against_data(grid, pkg)
    small = _primary_package(pkg)
    parts = []
    for vtype in grid.levels_of("smd_variance"):
        for p_dist in grid.levels_of("p_to_se"):
            eff = continuous_effects(small, smd_vtype=vtype, p_dist=p_dist)
            parts.append(eff.assign(smd_variance=vtype, p_to_se=p_dist))
    base = pd.concat(parts, ignore_index=True)
    base = base[base["window"].isin(WINDOWS)].reset_index(drop=True)
    defs = pkg.outcome_definitions.set_index(["study_id", "outcome_id"])
    keys = list(zip(base["study_id"], base["outcome_id"]))
    base["instrument"] = [defs.at[k, "instrument"] for k in keys]
    base["units"] = [defs.at[k, "units"] for k in keys]

    combos = pd.DataFrame(
        list(itertools.product(*(grid.levels_of(n) for n in
                                 ("mean_difference_source", "feet_split", "feet_icc",
                                  "patients")))),
        columns=["mean_difference_source", "feet_split", "feet_icc", "patients"])
    long = base.merge(combos, how="cross")
    order = ["smd_variance", "p_to_se", "mean_difference_source", "feet_split", "feet_icc",
             "patients"]
    long["data_choice"] = long.groupby(order, sort=False).ngroup()
    long = _apply_data_choices(long, pkg, grid)
    columns = EFFECT_EXTRA_COLUMNS + [c for c in long.columns if c not in EFFECT_EXTRA_COLUMNS]
    return long[columns].sort_values(["data_choice", "window", "study_id", "measure"],
                                     kind="stable").reset_index(drop=True)


def _apply_data_choices(long: pd.DataFrame, pkg, grid: FactorGrid) -> pd.DataFrame:
    """Feet per arm, design effect and printed MD, applied to the stacked effects rows."""
    long = long.copy()
    n = len(long)
    usable = long["estimable"].to_numpy(bool) & ~long["sd_recovered"].to_numpy(bool)
    n_t = long["n_t"].to_numpy(float).copy()
    n_c = long["n_c"].to_numpy(float).copy()
    changed = np.zeros(n, dtype=bool)
    notes: list[list[str]] = [[] for _ in range(n)]
    study_ids = long["study_id"].to_numpy(object)

    # arms whose group sizes at this row come from the outcome row itself are left alone
    obs = pkg.outcomes[pkg.outcomes["n"].notna()]
    own_n = set(zip(obs["study_id"], obs["outcome_id"], obs["timepoint_id"]))
    from_arms = np.array([k not in own_n for k in zip(long["study_id"], long["outcome_id"],
                                                       long["timepoint_id"])])

    # feet per arm
    if "feet_split" in grid:
        study = grid["feet_split"].study
        split = long["feet_split"].to_numpy(object)
        hit = (study_ids == study) & (split != "as recorded") & usable & from_arms
        for i in np.flatnonzero(hit):
            new_t, new_c = (float(x) for x in split[i].split("/"))
            notes[i].append(f"multiverse: feet per arm {new_t:g}/{new_c:g} in place of "
                            f"{n_t[i]:g}/{n_c[i]:g}")
            n_t[i], n_c[i] = new_t, new_c
        changed |= hit

    # design effect for trials that randomised feet
    studies = pkg.studies.set_index("study_id")
    foot = studies["unit_of_randomisation"] == "foot"
    units = studies["units_randomised_n"].fillna(studies["units_analysed_n"])
    de = np.ones(n)
    icc = long["feet_icc"].astype(float).to_numpy()
    both = long["patients"].to_numpy(object) == "both feet"
    for sid in studies.index[foot]:
        rows = (study_ids == sid) & usable & (icc > 0)
        if not rows.any():
            continue
        u = units.get(sid)
        p_rec = studies.at[sid, "patients_n"]
        p_both = u / 2.0 if pd.notna(u) else np.nan
        patients = np.where(both, p_both, p_rec)
        for i in np.flatnonzero(rows):
            if not (pd.notna(u) and np.isfinite(patients[i]) and patients[i] > 0):
                notes[i].append("multiverse: no design effect (the numbers of feet and "
                                "patients are not both recorded)")
                continue
            cluster = float(u) / patients[i]
            de[i] = 1.0 + (cluster - 1.0) * icc[i]
            if de[i] == 1.0:
                continue
            which = ("every patient both feet" if both[i]
                     else f"patients as recorded ({studies.at[sid, 'patients_n_status']})")
            notes[i].append(
                f"multiverse: design effect 1 + ({u:g}/{patients[i]:g} - 1) x ICC {icc[i]:g} = "
                f"{de[i]:.4g} ({which}; Cochrane Handbook 23.1.4): n {n_t[i]:g}/{n_c[i]:g} "
                f"-> {n_t[i] / de[i]:.4g}/{n_c[i] / de[i]:.4g}")
            n_t[i] /= de[i]
            n_c[i] /= de[i]
            changed[i] = True

    # printed mean difference in place of the difference of the arm means
    m1 = long["mean_t"].to_numpy(float).copy()
    m2 = long["mean_c"].to_numpy(float).copy()
    if "mean_difference_source" in grid:
        bg = pkg.between_group
        printed = bg[(bg["measure"] == "MD") & bg["estimate"].notna()]
        lookup = {(r.study_id, r.outcome_id, r.timepoint_id): r for r in printed.itertuples()}
        use = long["mean_difference_source"].to_numpy(object) == "printed"
        for i in np.flatnonzero(use & usable):
            r = lookup.get((study_ids[i], long.at[i, "outcome_id"], long.at[i, "timepoint_id"]))
            if r is None:
                continue
            notes[i].append(
                f"multiverse: mean difference {r.estimate:g} as printed by {r.estimate_source} "
                f"({r.estimate_status}) in place of {m1[i]:g} - {m2[i]:g}, with the arms' SDs "
                "and group sizes")
            m1[i], m2[i] = float(r.estimate), 0.0
            changed[i] = True

    # an effective group size below what the effect size needs (2 per arm for an SMD, more
    # than 0 for an MD) leaves the row out of this specification, with its reason
    measure = long["measure"].to_numpy(object)
    too_small = changed & np.where(measure == "SMD", (n_t < 2) | (n_c < 2), (n_t <= 0) | (n_c <= 0))
    if too_small.any():
        estimable = long["estimable"].to_numpy(bool).copy()
        for i in np.flatnonzero(too_small):
            notes[i].append(f"multiverse: not estimable (group sizes {n_t[i]:.4g}/{n_c[i]:.4g} "
                            f"after these choices; an {measure[i]} needs "
                            f"{'2 or more' if measure[i] == 'SMD' else 'more than 0'} per arm)")
            estimable[i] = False
        long["estimable"] = estimable
        changed &= ~too_small

    idx = np.flatnonzero(changed)
    if idx.size:
        sd_t = long["sd_t"].to_numpy(float)
        sd_c = long["sd_c"].to_numpy(float)
        vtype = long["smd_variance"].to_numpy(object)
        sign = np.array([conventions.smd_sign(d) for d in long["direction"]])
        yi = long["yi"].to_numpy(float).copy()
        vi = long["vi"].to_numpy(float).copy()
        md = idx[measure[idx] == "MD"]
        if md.size:
            eff = es.mean_difference(m1[md], sd_t[md], n_t[md], m2[md], sd_c[md], n_c[md])
            yi[md], vi[md] = eff.yi, eff.vi
        for vt in pd.unique(vtype[idx]):
            smd = idx[(measure[idx] == "SMD") & (vtype[idx] == vt)]
            if smd.size:
                eff = es.hedges_g(m1[smd], sd_t[smd], n_t[smd], m2[smd], sd_c[smd], n_c[smd],
                                  vtype=vt)
                yi[smd], vi[smd] = sign[smd] * eff.yi, eff.vi
        bad = np.zeros(n, dtype=bool)
        bad[idx] = ~(np.isfinite(yi[idx]) & np.isfinite(vi[idx]) & (vi[idx] > 0))
        if bad.any():
            estimable = long["estimable"].to_numpy(bool).copy()
            estimable[bad] = False
            long["estimable"] = estimable
            for i in np.flatnonzero(bad):
                notes[i].append("multiverse: not estimable (the recomputed effect or its "
                                "variance is not a finite positive number)")
        se = np.sqrt(vi)
        z = conventions.z_quantile(0.95)
        long["yi"], long["vi"], long["se"] = yi, vi, se
        long.loc[changed, "ci_lb"] = (yi - z * se)[changed]
        long.loc[changed, "ci_ub"] = (yi + z * se)[changed]
        long["n_t"], long["n_c"] = n_t, n_c
        how = long["how"].to_numpy(object).copy()
        for i in idx:
            how[i] = "; ".join([how[i]] + notes[i]) + "; MD and SMD recomputed"
    else:
        how = long["how"].to_numpy(object).copy()
    for i in np.flatnonzero(~changed):
        if notes[i]:
            how[i] = "; ".join([how[i]] + notes[i])
    long["how"] = how
    long["design_effect"] = de
    return long


# --------------------------------------------------------------------------- specifications

SPEC_COLUMNS = ["spec_id", "window", *FACTOR_KINDS, "k", "studies", "scale", "estimate", "se",
                "ci_lb", "ci_ub", "pval", "tau2", "i2", "converged", "conclusion", "is_default",
                "combinations", "notes"]


def _fingerprint(frame: pd.DataFrame) -> pd.Series:
    """Per data specification: the exact effects pooled, as text (study, yi, vi in hex)."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    text = (frame["study_id"].astype(str) + ":" + frame["yi"].map(float.hex) + ":"
            + frame["vi"].map(float.hex))
    return text


def _joined(rows: pd.DataFrame, grouped, column: str, sep: str) -> np.ndarray:
    """Each group's values of ``column`` joined with ``sep``, in row order (groups in
    order of first appearance), without a Python call per group."""
    if rows.empty:
        return np.array([], dtype=object)
    wide = rows[column].groupby([grouped.ngroup(), grouped.cumcount()]).first().unstack()
    out = wide[0].astype(object).to_numpy()
    for j in wide.columns[1:]:
        col = wide[j]
        out = np.where(col.notna(), out + sep + col.fillna("").astype(str).to_numpy(object), out)
    return out


def _merge_equal(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Merge rows with equal ``keys`` (empty equals empty): keep the first, and add up
    the ``combinations`` they stand for."""
    grouped = frame.groupby(keys, dropna=False, sort=False)
    first = grouped.head(1).copy()
    first["combinations"] = grouped["combinations"].transform("sum").loc[first.index]
    return first.reset_index(drop=True)


def _specifications(effects: pd.DataFrame, grid: FactorGrid):
    """Every specification before pooling, and the combinations each rule removed."""
    n_models = math.prod(len(grid.levels_of(m)) for m in MODEL_FACTORS)
    data_cols = [c for c in DATA_FACTORS if c != "elbow_trial"]
    choices = effects.drop_duplicates("data_choice")[["data_choice", *data_cols]]
    universe = (choices.merge(pd.DataFrame({"window": list(WINDOWS)}), how="cross")
                .merge(pd.DataFrame({"measure": list(grid.levels_of("measure"))}), how="cross")
                .merge(pd.DataFrame({"elbow_trial": list(grid.levels_of("elbow_trial"))}),
                       how="cross"))
    # the estimable rows each data specification pools
    est = effects[effects["estimable"].astype(bool)]
    elbow = pd.DataFrame([(lvl, s) for lvl in grid.levels_of("elbow_trial")
                          for s in ELBOW_SCOPES[lvl]], columns=["elbow_trial", "scope"])
    rows = est.merge(elbow, on="scope")
    key = ["data_choice", "window", "measure", "elbow_trial"]
    rows = rows.sort_values([*key, "year", "study"], kind="stable").reset_index(drop=True)
    rows["_fp"] = _fingerprint(rows)
    rows["_instrument"] = rows["instrument"].astype(str) + " (" + rows["units"].astype(str) + ")"
    grouped = rows.groupby(key, sort=False)
    agg = grouped.agg(k=("study_id", "size"), n_instruments=("_instrument", "nunique"),
                      instrument=("_instrument", "first"),
                      direction=("direction", "first")).reset_index()
    agg["studies"] = _joined(rows, grouped, "study", "; ")
    agg["fingerprint"] = _joined(rows, grouped, "_fp", "|")
    specs = universe.merge(agg, on=key, how="left")
    specs["k"] = specs["k"].fillna(0).astype(int)
    specs["fingerprint"] = specs["fingerprint"].fillna("")
    specs["studies"] = specs["studies"].fillna("")
    specs["combinations"] = 1  # combinations of the data choices this row stands for
    specs["_data_choice"] = specs["data_choice"]
    specs["_elbow_trial"] = specs["elbow_trial"]

    removed: list[tuple[str, str, int]] = []

    def drop(frame, mask, rule, per_row):
        for w, c in frame.loc[mask].groupby("window")["combinations"].sum().items():
            removed.append((w, rule, int(c) * per_row))
        return frame.loc[~mask].reset_index(drop=True)

    # invalid data specifications: every model of them is removed
    specs = drop(specs, specs["k"] == 0, "no_estimable_trial", n_models)
    specs = drop(specs, (specs["measure"] == "MD") & (specs["n_instruments"] > 1),
                 "md_across_instruments", n_models)

    # a data choice that changes none of the pooled effects does not apply
    factor_cols = ["window", "measure", "elbow_trial", *data_cols]
    for f in ["elbow_trial", *data_cols]:
        if len(grid.levels_of(f)) < 2:
            continue
        others = [c for c in factor_cols if c != f]
        g = specs.groupby(others, dropna=False, sort=False)["fingerprint"]
        inert = (g.transform("nunique") == 1) & (g.transform("size") > 1) & specs[f].notna()
        specs[f] = specs[f].where(~inert, None)
        specs = _merge_equal(specs, factor_cols)

    # the models: invalid ones first, then one trial makes the model moot
    models = pd.DataFrame(list(itertools.product(*(grid.levels_of(m) for m in MODEL_FACTORS))),
                          columns=list(MODEL_FACTORS))
    specs = specs.merge(models, how="cross")
    specs = drop(specs, (specs["tau2_estimator"] == "FE")
                 & (specs["ci_method"] == "Hartung-Knapp"), "hartung_knapp_common_effect", 1)
    one = specs["k"] == 1
    for m in MODEL_FACTORS:
        specs[m] = specs[m].where(~one, None)
    specs = _merge_equal(specs, factor_cols + list(MODEL_FACTORS))

    rows = [(w, rule, "invalid", c, np.nan) for w, rule, c in removed]
    for w in WINDOWS:
        sw = specs[specs["window"] == w]
        moot = sw["tau2_estimator"].isna() & sw["ci_method"].isna()
        if moot.any():
            rows.append((w, "one_trial", "redundant", int(sw.loc[moot, "combinations"].sum()),
                         int(moot.sum())))
        for f in ["elbow_trial", *data_cols]:
            na = sw[f].isna()
            if na.any():
                rows.append((w, f"not_applicable:{f}", "redundant",
                             int(sw.loc[na, "combinations"].sum()), int(na.sum())))
    exclusions = pd.DataFrame(rows, columns=["window", "rule", "kind", "combinations",
                                             "specifications"])
    exclusions = (exclusions.groupby(["window", "rule", "kind"], sort=False)
                  .agg(combinations=("combinations", "sum"),
                       specifications=("specifications", "max")).reset_index())
    exclusions["reason"] = [_rule_reason(rule, grid) for rule in exclusions["rule"]]
    return specs, exclusions


def _rule_reason(rule: str, grid: FactorGrid) -> str:
    """A rule's reason, naming a factor by the label the factors file gives it."""
    name = rule.partition(":")[2]
    if name and name in grid:
        kind = FACTOR_KINDS[name]
        return (f"redundant: {grid[name].label} changes none of the pooled effects "
                f"({kind.not_applicable})")
    return RULES[rule]


def _pool(specs: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """Pool every specification in one pool_batch call (a model per meta-analysis)."""
    est = effects[effects["estimable"].astype(bool)][
        ["data_choice", "window", "measure", "scope", "study_id", "year", "study", "yi", "vi"]]
    elbow = pd.DataFrame([(lvl, s) for lvl, ss in ELBOW_SCOPES.items() for s in ss],
                         columns=["_elbow_trial", "scope"])
    rows = est.merge(elbow, on="scope").rename(columns={"data_choice": "_data_choice"})
    long = specs[["spec_id", "_data_choice", "window", "measure", "_elbow_trial",
                  "tau2_estimator", "ci_method"]].merge(
        rows, on=["_data_choice", "window", "measure", "_elbow_trial"])
    long = long.sort_values(["spec_id", "year", "study"], kind="stable")
    method = long["tau2_estimator"].fillna(FACTOR_KINDS["tau2_estimator"].default)
    knha = long["ci_method"].fillna("Wald").to_numpy(object) == "Hartung-Knapp"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = pool_batch(long["yi"].to_numpy(float), long["vi"].to_numpy(float),
                         long["spec_id"].to_numpy(np.int64), method=method.to_numpy(object),
                         knha=knha)
    summary = res.summary.rename(columns={"group": "spec_id"})
    summary["spec_id"] = summary["spec_id"].astype(np.int64)
    out = specs.merge(summary[["spec_id", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2",
                               "i2", "converged", "notes"]], on="spec_id", how="left")
    out.attrs["warnings"] = [str(w.message) for w in caught]
    return out


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class Multiverse:
    """Every specification of a multiverse, pooled; build it with :func:`multiverse`.

    ``specifications``
        one row per specification (columns :data:`SPEC_COLUMNS`): its window, the level
        of every factor (empty where the choice does not apply; a factor that is not in
        the grid holds the project's default), ``k`` and the ``studies`` pooled, the
        ``scale`` (``SMD``, or ``MD, <instrument> (<units>)``), the pooled ``estimate,
        se, ci_lb, ci_ub, pval, tau2, i2, converged`` (:func:`analysis.pooling.pool_batch`),
        the ``conclusion`` (:func:`analysis.conventions.verdict`, oriented so that the
        words name the arm favoured), ``is_default`` (the project's own analysis) and
        ``combinations``, the number of combinations of choices it stands for.
    ``exclusions``
        per window and rule (:data:`RULES`), with ``kind`` and the reason: for an
        ``invalid`` rule the combinations of choices it removed; for a ``redundant`` one
        the ``specifications`` in which the choice does not apply and the
        ``combinations`` they stand for (a specification may be counted under several
        factors).
    ``effects``
        the effects tables per data choice that the specifications pool
        (:func:`effects_per_data_choice`).
    ``not_estimable``
        the trials measured in a window whose numbers are not public: in no
        specification.
    ``grid``
        the factors (:class:`FactorGrid`).
    """

    grid: FactorGrid
    _specifications: pd.DataFrame
    _exclusions: pd.DataFrame
    _effects: pd.DataFrame
    _not_estimable: pd.DataFrame
    level_labels: dict
    warnings: tuple[str, ...] = ()

    @property
    def specifications(self) -> pd.DataFrame:
        return self._specifications.copy()

    @property
    def exclusions(self) -> pd.DataFrame:
        return self._exclusions.copy()

    @property
    def effects(self) -> pd.DataFrame:
        return self._effects.copy()

    @property
    def not_estimable(self) -> pd.DataFrame:
        return self._not_estimable.copy()

    def __repr__(self) -> str:
        counts = self._specifications["window"].value_counts()
        per = ", ".join(f"{counts.get(w, 0)} at {w}" for w in WINDOWS)
        return f"Multiverse({len(self.grid.factors)} factors; specifications: {per})"

    def counts(self) -> pd.DataFrame:
        """Per window: ``combinations`` of choices in the grid, those removed as
        ``invalid``, the ``specifications`` kept and the combinations they stand for
        (``represented``); combinations = invalid + represented."""
        s, e = self._specifications, self._exclusions
        rows = []
        for w in WINDOWS:
            sw = s[s["window"] == w]
            invalid = int(e.loc[(e["window"] == w) & (e["kind"] == "invalid"),
                                "combinations"].sum())
            rows.append({"window": w, "combinations": self.grid.n_combinations,
                         "invalid": invalid, "specifications": len(sw),
                         "represented": int(sw["combinations"].sum())})
        return pd.DataFrame.from_records(rows)

    def levels(self) -> pd.DataFrame:
        """The factor levels in display order, for the specification curve: ``stage,
        stage_label, factor, factor_label, level, level_label, is_default``; level labels
        name the data behind a level where that is one number (e.g. ``20/20 (as
        recorded)``)."""
        t = self.grid.table()
        t["stage_label"] = t["stage"].map(STAGE_LABELS)
        t["factor_label"] = t["label"]
        t["level_label"] = [self.level_labels.get((f, lvl), lvl)
                            for f, lvl in zip(t["factor"], t["level"])]
        return t[["stage", "stage_label", "factor", "factor_label", "level", "level_label",
                  "is_default"]]

    def default(self) -> pd.DataFrame:
        """The project's own analysis in each window (its row of the specifications)."""
        s = self._specifications
        return s[s["is_default"]].reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Per window and scale: how many specifications favour dexamethasone, show no clear
        difference or favour placebo, and the median and range of the estimates.

        Counts are of specifications (distinct analyses); a row with ``scale = "all"``
        counts every scale together (a conclusion does not depend on the scale); the
        estimates are summarised per scale: SMD, and each MD instrument separately (MD
        and SMD are not on one scale, and no conversion is attempted).
        """
        s = self._specifications
        rows = []
        for w in WINDOWS:
            sw = s[s["window"] == w]
            scales = [("all", sw)] + [(sc, g) for sc, g in sw.groupby("scale", sort=False)]
            for scale, g in scales:
                est = g["estimate"].to_numpy(float)
                c = g["conclusion"]
                default = g[g["is_default"]]
                rows.append({
                    "window": w, "scale": scale, "specifications": len(g),
                    "favours_treatment": int((c == conventions.FAVOURS_TREATMENT).sum()),
                    "no_clear_difference": int((c == conventions.NO_CLEAR_DIFFERENCE).sum()),
                    "favours_control": int((c == conventions.FAVOURS_CONTROL).sum()),
                    "share_favours_treatment": float((c == conventions.FAVOURS_TREATMENT).mean())
                    if len(g) else np.nan,
                    "median": np.nan if scale == "all" or not len(g) else float(np.nanmedian(est)),
                    "min": np.nan if scale == "all" or not len(g) else float(np.nanmin(est)),
                    "max": np.nan if scale == "all" or not len(g) else float(np.nanmax(est)),
                    "default_estimate": (float(default["estimate"].iloc[0])
                                         if scale != "all" and len(default) else np.nan),
                    "default_conclusion": (default["conclusion"].iloc[0] if len(default)
                                           else None),
                })
        return pd.DataFrame.from_records(rows)

    def by_level(self) -> pd.DataFrame:
        """Per window, factor and level: the specifications at that level, their
        conclusions, and the median and range of their SMD estimates (MD specifications
        are counted, not summarised on the SMD scale)."""
        s = self._specifications
        rows = []
        for w in WINDOWS:
            sw = s[s["window"] == w]
            for f in self.grid.factors:
                for level in f.levels:
                    g = sw[sw[f.name] == level]
                    smd = g.loc[g["scale"] == "SMD", "estimate"].to_numpy(float)
                    c = g["conclusion"]
                    rows.append({
                        "window": w, "stage": f.stage, "factor": f.name, "level": level,
                        "specifications": len(g),
                        "favours_treatment": int((c == conventions.FAVOURS_TREATMENT).sum()),
                        "no_clear_difference": int((c == conventions.NO_CLEAR_DIFFERENCE).sum()),
                        "favours_control": int((c == conventions.FAVOURS_CONTROL).sum()),
                        "smd_median": float(np.median(smd)) if smd.size else np.nan,
                        "smd_min": float(smd.min()) if smd.size else np.nan,
                        "smd_max": float(smd.max()) if smd.size else np.nan,
                    })
                na = sw[f.name].isna().sum()
                if na:
                    c = sw.loc[sw[f.name].isna(), "conclusion"]
                    rows.append({"window": w, "stage": f.stage, "factor": f.name,
                                 "level": "(does not apply)", "specifications": int(na),
                                 "favours_treatment": int((c == conventions.FAVOURS_TREATMENT).sum()),
                                 "no_clear_difference": int((c == conventions.NO_CLEAR_DIFFERENCE).sum()),
                                 "favours_control": int((c == conventions.FAVOURS_CONTROL).sum()),
                                 "smd_median": np.nan, "smd_min": np.nan, "smd_max": np.nan})
        return pd.DataFrame.from_records(rows)

    def expanded(self) -> pd.DataFrame:
        """The specifications with every "does not apply" level spelled out: one row per
        valid combination of choices a specification stands for (its ``combinations``);
        ``spec_id`` says which specification gives its result."""
        return self._expanded().drop(columns=[f"_na:{f}" for f in FACTOR_KINDS])

    def _expanded(self) -> pd.DataFrame:
        out = self._specifications.copy()
        out = out[[c for c in out.columns if c not in ("notes", "studies")]]
        for f in FACTOR_KINDS:
            out[f"_na:{f}"] = out[f].isna()
        for f in self.grid.factors:
            na = out[f.name].isna()
            if not na.any():
                continue
            filled = out[na].drop(columns=f.name).merge(
                pd.DataFrame({f.name: list(f.levels)}), how="cross")[out.columns]
            out = pd.concat([out[~na], filled], ignore_index=True)
        invalid = (out["tau2_estimator"] == "FE") & (out["ci_method"] == "Hartung-Knapp")
        return out[~invalid].reset_index(drop=True)

    def influence(self) -> pd.DataFrame:
        """Which single choice moves the estimate, and the conclusion, most, per window.

        For each factor, over the sets of specifications that differ in this factor only
        (every other choice equal; a choice that does not apply counts as equal to any
        level, see :meth:`expanded`), where the factor applies: ``sibling_sets``, the
        median and the largest range of the SMD within a set (``median_shift``,
        ``max_shift``), and ``conclusion_changes``, the share of sets whose conclusions
        differ; and ``spread_of_level_medians``, the range of the median SMD across its
        levels. Sorted by ``median_shift`` within each window (largest first). The
        measure is compared on conclusions only (MD and SMD are not on one scale).
        """
        return self._influence.copy()

    @functools.cached_property
    def _influence(self) -> pd.DataFrame:
        cols = ["window", *FACTOR_KINDS]
        full = self._expanded()
        # every choice as a small integer code (0 = does not apply), so that "all other
        # choices equal" is one integer key per row
        codes = {c: pd.factorize(full[c])[0].astype(np.int64) + 1 for c in cols}
        radix = {c: int(codes[c].max()) + 1 for c in cols}
        estimate = full["estimate"].to_numpy(float)
        conclusion_code = pd.factorize(full["conclusion"])[0]
        is_smd = (full["scale"] == "SMD").to_numpy(bool)
        window = full["window"].to_numpy(object)
        specs = self._specifications
        rows = []
        for f in self.grid.factors:
            if len(f.levels) < 2:
                continue
            keep = ~full[f"_na:{f.name}"].to_numpy(bool)
            if f.name != "measure":
                keep &= is_smd
            key = np.zeros(len(full), dtype=np.int64)
            for c in cols:
                if c != f.name:
                    key = key * radix[c] + codes[c]
            frame = pd.DataFrame({"key": key[keep], "estimate": estimate[keep],
                                  "conclusion": conclusion_code[keep], "window": window[keep]})
            g = frame.groupby("key", sort=False)
            per_set = g.agg(size=("estimate", "size"), lo=("estimate", "min"),
                            hi=("estimate", "max"), kinds=("conclusion", "nunique"),
                            window=("window", "first"))
            per_set = per_set[per_set["size"] > 1]
            smd = specs[(specs["scale"] == "SMD") & specs[f.name].notna()]
            for w in WINDOWS:
                ps = per_set[per_set["window"] == w]
                shift = ps["hi"] - ps["lo"]
                medians = (smd[smd["window"] == w].groupby(f.name)["estimate"].median()
                           if f.name != "measure" else pd.Series(dtype=float))
                has = len(ps) > 0 and f.name != "measure"
                rows.append({
                    "window": w, "stage": f.stage, "factor": f.name,
                    "levels_present": int(specs.loc[specs["window"] == w, f.name].nunique()),
                    "sibling_sets": int(len(ps)),
                    "median_shift": float(shift.median()) if has else np.nan,
                    "max_shift": float(shift.max()) if has else np.nan,
                    "conclusion_changes": float((ps["kinds"] > 1).mean()) if len(ps) else np.nan,
                    "spread_of_level_medians": float(medians.max() - medians.min())
                    if len(medians) > 1 else np.nan,
                })
        out = pd.DataFrame.from_records(rows)
        if out.empty:
            return out
        out["_w"] = out["window"].map({w: i for i, w in enumerate(WINDOWS)})
        out = out.sort_values(["_w", "median_shift"], ascending=[True, False],
                              na_position="last", kind="stable")
        return out.drop(columns="_w").reset_index(drop=True)

    def sentences(self) -> list[str]:
        """Plain-language statements of the multiverse, written from the numbers."""
        out = []
        summ = self.summary()
        for w in WINDOWS:
            sw = summ[summ["window"] == w]
            total = sw[sw["scale"] == "all"].iloc[0]
            n = int(total["specifications"])
            if not n:
                out.append(f"{WINDOW_LABELS[w]}: no specification.")
                continue
            text = (f"{WINDOW_LABELS[w]}: {n:,} specifications; conclusion "
                    f"\"{conventions.FAVOURS_TREATMENT}\" in {int(total['favours_treatment']):,} "
                    f"({total['favours_treatment'] / n:.0%}), \"{conventions.NO_CLEAR_DIFFERENCE}\" "
                    f"in {int(total['no_clear_difference']):,} "
                    f"({total['no_clear_difference'] / n:.0%}), \"{conventions.FAVOURS_CONTROL}\" "
                    f"in {int(total['favours_control']):,}")
            for _, r in sw[sw["scale"] != "all"].iterrows():
                text += (f"; {r['scale']}: median {r['median']:.2f} (range {r['min']:.2f} to "
                         f"{r['max']:.2f}) over {int(r['specifications']):,}")
            if pd.notna(total["default_conclusion"]):
                d = self.default()
                d = d[d["window"] == w].iloc[0]
                text += (f". The project's default analysis: {d['scale']} {d['estimate']:.2f} "
                         f"[{d['ci_lb']:.2f}, {d['ci_ub']:.2f}], {d['conclusion']}")
            out.append(text + ".")
        infl = self.influence()
        for w in WINDOWS:
            iw = infl[(infl["window"] == w) & infl["median_shift"].notna()]
            if not len(iw):
                continue
            top = iw.iloc[0]
            text = (f"{WINDOW_LABELS[w]}: changing one choice at a time, the SMD moves most "
                    f"with {self.grid[top['factor']].label} (by {top['median_shift']:.2f} in the "
                    f"median comparison, at most {top['max_shift']:.2f})")
            flips = infl[(infl["window"] == w) & (infl["conclusion_changes"] > 0)]
            flips = flips.sort_values("conclusion_changes", ascending=False, kind="stable")
            if len(flips):
                parts = [f"{self.grid[r['factor']].label} ({r['conclusion_changes']:.0%})"
                         for _, r in flips.iterrows()]
                text += ("; the conclusion changes with " + ", ".join(parts)
                         + " of such comparisons")
            else:
                text += "; no single change of choice changes the conclusion"
            out.append(text + ".")
        ne = self._not_estimable
        if len(ne):
            names = list(dict.fromkeys(ne["study"]))
            out.append(f"Not in any specification (no public numbers): {', '.join(names)}. The "
                       "multiverse maps choices; it does not add evidence.")
        return out

    def report(self) -> dict:
        """Everything as plain Python (for JSON): factors, counts, exclusions, summaries,
        the trials left out, and the specifications."""
        def records(frame):
            return json.loads(frame.to_json(orient="records", double_precision=15))

        return {
            "factors": records(self.grid.table()),
            "counts": records(self.counts()),
            "exclusions": records(self._exclusions),
            "not_in_any_specification": records(self._not_estimable),
            "summary": records(self.summary()),
            "influence": records(self.influence()),
            "by_level": records(self.by_level()),
            "sentences": self.sentences(),
            "warnings": list(self.warnings),
            "specifications": records(self._specifications),
        }


def _level_labels(effects: pd.DataFrame, pkg, grid: FactorGrid) -> dict:
    """Labels that name the data behind a level, computed from the tables."""
    labels = {}
    studies = pkg.studies.set_index("study_id")
    est = effects[effects["estimable"].astype(bool)]
    first = est[(est["design_effect"] == 1) & (est["feet_split"] == "as recorded")
                & (est["mean_difference_source"] == "arm means")]
    if "feet_split" in grid and grid["feet_split"].study in studies.index:
        rows = first[first["study_id"] == grid["feet_split"].study]
        sizes = rows[["n_t", "n_c"]].drop_duplicates()
        if len(sizes) == 1 and (rows["design_effect"] == 1).all():
            labels[("feet_split", "as recorded")] = (
                f"{sizes['n_t'].iloc[0]:g}/{sizes['n_c'].iloc[0]:g} (as recorded)")
    feet = studies[studies["unit_of_randomisation"] == "foot"]
    feet = feet[feet.index.isin(first["study_id"])]
    if len(feet) == 1:
        s = feet.iloc[0]
        units = s["units_randomised_n"] if pd.notna(s["units_randomised_n"]) else s[
            "units_analysed_n"]
        if pd.notna(s["patients_n"]):
            labels[("patients", "recorded")] = f"{s['patients_n']:g} (recorded)"
        if pd.notna(units):
            labels[("patients", "both feet")] = f"{units / 2:g} (both feet)"
    bg = pkg.between_group
    printed = bg[(bg["measure"] == "MD") & bg["estimate"].notna()]
    if len(printed) == 1:
        p = printed.iloc[0]
        row = first[(first["study_id"] == p["study_id"]) & (first["outcome_id"] == p["outcome_id"])
                    & (first["timepoint_id"] == p["timepoint_id"]) & (first["measure"] == "MD")]
        if len(row) == 1:
            r = row.iloc[0]
            labels[("mean_difference_source", "arm means")] = (
                f"arm means ({r['mean_t']:g} \u2212 {r['mean_c']:g})")
            labels[("mean_difference_source", "printed")] = f"printed ({p['estimate']:.2f})"
    return labels


def conclusion(ci_lb, ci_ub, *, measure, direction):
    """The conclusion a CI supports, in the words of :func:`analysis.conventions.verdict`.

    An SMD is oriented so that positive favours the treatment; a mean difference is on
    its instrument's scale, so for an instrument where higher is worse (a pain score) the
    interval is turned round first: (−ci_ub, −ci_lb). Scalars give a str, arrays an array.
    """
    lb = np.asarray(ci_lb, dtype=float)
    ub = np.asarray(ci_ub, dtype=float)
    worse = (np.asarray(measure, dtype=object) == "MD") & (
        np.asarray(direction, dtype=object) == conventions.HIGHER_IS_WORSE)
    return conventions.verdict(np.where(worse, -ub, lb), np.where(worse, -lb, ub))


def multiverse(pkg, factors: FactorGrid | str | Path | None = None) -> Multiverse:
    """Build, pool and summarise every specification of the multiverse.

    ``pkg`` is the validated data package (:func:`analysis.data.load_package`);
    ``factors`` a :class:`FactorGrid`, the path of a factors file, or None for
    :data:`DEFAULT_FACTORS_FILE`. Every specification of both windows is pooled in one
    :func:`analysis.pooling.pool_batch` call. Raises :class:`FactorFileError` (naming the
    line) when a factor does not fit the data, or when the rules leave no specification.
    """
    grid = factors if isinstance(factors, FactorGrid) else read_factors(factors)
    effects = effects_per_data_choice(pkg, grid)
    specs, exclusions = _specifications(effects, grid)
    if specs.empty and not effects["estimable"].astype(bool).any():
        # the data have no estimable trial at all: an empty multiverse, not a grid error
        pooled = pd.DataFrame(columns=SPEC_COLUMNS)
        return _result(grid, pooled, exclusions, effects, pkg, ())
    if specs.empty:
        rules = list(dict.fromkeys(exclusions["rule"]))
        names = {n for r in rules for n in RULE_FACTORS.get(r, ())}
        involved = [f for f in grid.factors if f.name in names]
        where = " and ".join(f"{f.name} (line {f.line})" for f in involved) or "the factors"
        raise FactorFileError([f"{grid.source} line {involved[0].line if involved else 1}: "
                               f"every combination of choices is removed by the rules "
                               f"({', '.join(rules)}), so the grid is empty; widen the levels "
                               f"of {where}"])
    specs = specs.sort_values(["window", "measure", "elbow_trial", "_data_choice",
                               "tau2_estimator", "ci_method"], key=_in_grid_order(grid),
                              kind="stable").reset_index(drop=True)
    specs.insert(0, "spec_id", np.arange(1, len(specs) + 1))
    pooled = _pool(specs, effects)

    measure = pooled["measure"].to_numpy(object)
    pooled["scale"] = np.where(measure == "SMD", "SMD",
                               "MD, " + pooled["instrument"].fillna("").astype(str))
    pooled["conclusion"] = conclusion(pooled["ci_lb"], pooled["ci_ub"], measure=measure,
                                      direction=pooled["direction"].to_numpy(object))
    is_default = np.ones(len(pooled), dtype=bool)
    for name in FACTOR_KINDS:
        col = pooled[name]
        is_default &= (col.isna() | (col == grid.default_of(name))).to_numpy(bool)
    pooled["is_default"] = is_default
    pooled["notes"] = pooled["notes"].fillna("")
    return _result(grid, pooled, exclusions, effects, pkg, pooled.attrs.get("warnings", ()))


def _result(grid, pooled, exclusions, effects, pkg, warnings) -> "Multiverse":
    table = pooled[SPEC_COLUMNS].copy()
    table["combinations"] = table["combinations"].astype(int)
    table["converged"] = table["converged"].astype(bool)

    exclusions = exclusions.sort_values(["window"], key=_in_grid_order(grid),
                                        kind="stable").reset_index(drop=True)
    prim = effects[effects["data_choice"] == 0]
    missing = prim[~prim["estimable"].astype(bool)
                   & ~prim.groupby(["study_id", "window"])["estimable"].transform("any")]
    not_estimable = (missing.drop_duplicates(["study_id", "window"])
                     [["study", "scope", "window", "timepoint", "reason"]].reset_index(drop=True))
    return Multiverse(grid=grid, _specifications=table, _exclusions=exclusions,
                      _effects=effects, _not_estimable=not_estimable,
                      level_labels=_level_labels(effects, pkg, grid),
                      warnings=tuple(warnings))


def _in_grid_order(grid: FactorGrid):
    """A sort key: windows in :data:`WINDOWS` order, levels in the order the grid declares
    them (not applicable first), anything else as it is."""
    def key(col: pd.Series) -> pd.Series:
        if col.name == "window":
            return col.map({w: i for i, w in enumerate(WINDOWS)})
        if col.name in FACTOR_KINDS:
            order = {lvl: i for i, lvl in enumerate(grid.levels_of(col.name))}
            return col.map(lambda x: -1 if x is None or x != x else order.get(x, len(order)))
        return col
    return key


# --------------------------------------------------------------------------- command line

PROG = "python -m analysis multiverse"


def _factor_help() -> str:
    lines = ["factors a file may declare (group: name: accepted levels; default):"]
    for k in FACTOR_KINDS.values():
        lines.append(f"  {k.stage}.{k.name}: {k.accepts}; default {k.default}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the multiverse command's options to ``parser`` (its own or a subcommand's)."""
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="data package to read (default: data/, or $DEXA_MA_DATA)")
    parser.add_argument("--factors", metavar="FILE", default=None,
                        help="factors file (TOML; default: the review's own, "
                             f"{DEFAULT_FACTORS_FILE.name} in the analysis package)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv",
                        help="csv (default): one row per specification; json: factors, "
                             "exclusions, summaries, the trials left out and the specifications")
    parser.add_argument("--output", metavar="FILE", default=None,
                        help="write here (atomically) instead of standard output")
    parser.epilog = _factor_help()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Pool every specification of the multiverse of analytic choices (both "
                    "windows, one batch) and write the table of specifications.")
    return add_arguments(parser)


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the command for parsed ``args`` (``data, factors, format, output``); return the
    exit status: 0 done, 2 bad factors file, data package or output path (nothing
    written)."""
    from analysis.data import DataValidationError, load_package
    from analysis.paths import data_dir
    from analysis.outputs import csv_chunks, write_output

    try:
        grid = read_factors(args.factors)
    except FactorFileError as exc:
        for p in exc.problems:
            _error(p)
        return 2
    try:
        pkg = load_package(Path(args.data) if args.data else data_dir())
    except DataValidationError as exc:
        for p in exc.problems:
            _error(str(p))
        _error(f"{len(exc.problems)} problem(s) in the data package")
        return 2
    except FileNotFoundError as exc:
        _error(str(exc))
        return 2
    try:
        result = multiverse(pkg, grid)
    except FactorFileError as exc:
        for p in exc.problems:
            _error(p)
        return 2
    if args.format == "csv":
        content = csv_chunks(result.specifications)
    else:
        content = json.dumps(result.report(), indent=1, allow_nan=False,
                             ensure_ascii=False) + "\n"
    try:
        write_output(content, args.output)
    except OSError as exc:
        _error(f"cannot write {args.output}: {exc.strerror or exc}")
        return 2
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for s in result.sentences():
        print(f"note: {s}", file=sys.stderr)
    for _, r in result.counts().iterrows():
        print(f"note: {r['window']}: {r['combinations']:,} combinations of choices, "
              f"{r['invalid']:,} invalid, the rest in {r['specifications']:,} distinct "
              "specifications", file=sys.stderr)
    for _, r in result.exclusions.iterrows():
        what = (f"{r['combinations']:,} combination(s) removed" if r["kind"] == "invalid" else
                f"{int(r['specifications']):,} specification(s), {r['combinations']:,} "
                "combination(s)")
        print(f"note: {r['window']}: {r['rule']}: {what}: {r['reason']}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m analysis multiverse`` with its own parser; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
