"""A cross-check in R: a self-contained metafor script for a fitted meta-analysis.

:func:`meta_analysis_script` writes an R script with the data inline and the metafor
calls that reproduce every pooled number of a :class:`analysis.meta.MetaAnalysis`:

* ``escalc()`` computes a study's yi and vi from its arm columns where the measure is
  ``MD`` or ``SMD``, the study's SMD variance variant is one metafor has (``vtype``
  column, default ``LS``), and metafor's formula gives the same numbers as the Python
  table (checked here with :mod:`analysis.effect_sizes`, which is escalc's formula);
  an SMD stored with the opposite sign (oriented so that positive favours the
  treatment, for an outcome where higher is worse) is turned round after escalc. Every
  other study's yi and vi are given directly, with the reason in a comment.
* ``rma()`` fits each group with the same method, test (``"z"`` or ``"knha"``), level
  and controls; ``predict()`` and ``confint()`` give the prediction interval and the
  τ² CI where the Python result has them.
* The script prints CSV to standard output: one line per group with the fields of
  :attr:`MetaAnalysis.pooled` (``estimate, se, ci_lb, ci_ub, pval, tau2, i2, h2, q,
  q_pval, pi_lb, pi_ub``, and ``tau2_ci_lb, tau2_ci_ub`` when asked), then, with two or
  more estimable subgroups, a line for RevMan's test for subgroup differences.

Known differences the reader should expect (README, tests/reference/README.md): with one
study metafor prints Q = 0, I² = 0 and H² = 1 where the Python result has no value, and
its prediction interval equals the CI where the Python result has none.
"""

from __future__ import annotations

import math

import numpy as np

from analysis import __version__
from analysis import effect_sizes as es

#: SMD and MD variance variants that metafor's escalc() has.
METAFOR_VTYPES = {"SMD": ("LS", "LS2", "UB"), "MD": ("LS", "HO")}
#: Names of the engine's iteration controls in metafor's control list.
R_CONTROL_NAMES = {"threshold": "threshold", "maxiter": "maxiter", "stepadj": "stepadj",
                   "tau2_init": "tau2.init", "tau2_max": "tau2.max", "tol": "tol"}


def r_string(text) -> str:
    """An R string literal (double quotes, backslashes and quotes escaped)."""
    text = "" if text is None else str(text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def r_number(x) -> str:
    """An R numeric literal that reads back as the same double (Python's shortest
    round-trip repr, which R parses exactly); NA for NaN."""
    if x is None:
        return "NA"
    x = float(x)
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return repr(x)


def _vector(values, fmt) -> str:
    items = [fmt(v) for v in values]
    lines, line = [], ""
    for item in items:
        piece = item if not line else f", {item}"
        if len(line) + len(piece) > 84:
            lines.append(line + ",")
            line = item
        else:
            line += piece
    lines.append(line)
    return "c(" + "\n      ".join(lines) + ")"


def _escalc_rows(ma, studies):
    """For each study: (use escalc?, sign, vtype, reason if not)."""
    decisions = []
    measure = ma.measure
    for _, s in studies.iterrows():
        if measure not in METAFOR_VTYPES or not ma.arm_columns:
            decisions.append((False, 1.0, None, "no arm data to recompute from"))
            continue
        vtype = str(s["vtype"]) if "vtype" in studies.columns and s["vtype"] == s["vtype"] \
            else "LS"
        arms = [s[c] for c in ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")]
        if not all(isinstance(a, (int, float, np.floating)) and math.isfinite(a) for a in arms):
            decisions.append((False, 1.0, None, "arm means, SDs or sizes not all known"))
            continue
        if vtype not in METAFOR_VTYPES[measure]:
            decisions.append((False, 1.0, None, f"variance variant {vtype} is not in metafor"))
            continue
        func = es.hedges_g if measure == "SMD" else es.mean_difference
        try:
            eff = func(*arms, vtype=vtype)
        except ValueError as exc:
            decisions.append((False, 1.0, None, str(exc)))
            continue
        y, v = float(np.ravel(eff.yi)[0]), float(np.ravel(eff.vi)[0])
        for sign in (1.0, -1.0):
            if math.isclose(sign * y, s["yi"], rel_tol=1e-10, abs_tol=1e-12) and \
                    math.isclose(v, s["vi"], rel_tol=1e-10):
                decisions.append((True, sign, vtype, ""))
                break
        else:
            decisions.append((False, 1.0, None, "yi/vi not metafor's escalc() of the arm "
                              "columns (e.g. a variance recovered from a p-value)"))
    return decisions


def meta_analysis_script(ma, *, title: str | None = None) -> str:
    """The R script (text) for a :class:`analysis.meta.MetaAnalysis`; see the module doc."""
    opts = ma.options
    studies = ma.studies
    studies = studies[studies["estimable"]].reset_index(drop=True)
    decisions = _escalc_rows(ma, studies)
    use = [d[0] for d in decisions]
    lines = [
        f"# {title or 'Meta-analysis'}",
        f"# Written by analysis.meta.MetaAnalysis.to_r() (dexamethasone-iontophoresis-ma "
        f"{__version__}).",
        "# Reproduces every pooled number of the Python result with metafor (checked with "
        "3.8.1).",
        "# Run: Rscript <this file>   (prints CSV: one line per group, then the test for "
        "subgroup differences)",
        "suppressPackageStartupMessages(library(metafor))",
        "",
    ]
    if studies.empty:
        lines.append('cat("no estimable study: nothing to pool\\n")')
        return "\n".join(lines) + "\n"
    cols = [("group", _vector(studies["subgroup"], r_string)),
            ("study", _vector(studies["study"], r_string))]
    if any(use):
        for r_name, col in zip(("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
                               ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")):
            cols.append((r_name, _vector(studies[col], r_number)))
    cols.append(("yi", _vector([np.nan if u else y for u, y in zip(use, studies["yi"])],
                               r_number)))
    cols.append(("vi", _vector([np.nan if u else v for u, v in zip(use, studies["vi"])],
                               r_number)))
    lines.append("dat <- data.frame(")
    for i, (name, vec) in enumerate(cols):
        lines.append(f"  {name} = {vec},")
    lines.append("  stringsAsFactors = FALSE)")
    if "how" in studies.columns:
        lines.append("# How each study's numbers were obtained (from the Python effects table):")
        for study, how in zip(studies["study"], studies["how"]):
            if isinstance(how, str) and how:
                lines.append(f"#   {study}: {how}")
    given = [(s, d[3]) for s, d in zip(studies["study"], decisions) if not d[0]]
    for study, why in given:
        lines.append(f"# yi, vi of {study} given directly: {why}")
    if any(use):
        vtypes = sorted({d[2] for d in decisions if d[0]})
        for vtype in vtypes:
            rows = [i + 1 for i, d in enumerate(decisions) if d[0] and d[2] == vtype]
            signs = [d[1] for d in decisions if d[0] and d[2] == vtype]
            idx = _vector(rows, lambda x: str(int(x)))
            lines += [
                f"# {ma.measure} from the arm data with escalc(), vtype {vtype!s}",
                f"rows <- {idx}",
                f"es <- escalc(measure = \"{ma.measure}\", m1i = m1i, sd1i = sd1i, n1i = n1i,"
                " m2i = m2i, sd2i = sd2i, n2i = n2i,",
                f"             data = dat[rows, ], vtype = \"{vtype}\")",
            ]
            if any(sign < 0 for sign in signs):
                lines.append("# oriented so that a positive value favours the treatment "
                             "(higher is worse on these outcomes)")
            lines += [f"dat$yi[rows] <- {_vector(signs, r_number)} * as.numeric(es$yi)",
                      "dat$vi[rows] <- as.numeric(es$vi)"]
    test = "knha" if opts.knha else "z"
    control = ""
    if opts.control:
        items = ", ".join(f"{R_CONTROL_NAMES.get(k, k)} = {r_number(v)}"
                          for k, v in opts.control)
        control = f", control = list({items})"
    common = opts.common_effect
    pi = ('predict(r, pi.type = "riley")' if opts.pi_method == "higgins2009"
          else "predict(r)")
    i2 = ("max(0, 100 * (r$QE - (r$k - 1)) / r$QE)" if opts.i2_method == "q" and not common
          else "r$I2")
    level = r_number(100 * opts.level)
    lines += [
        "",
        f"fit <- function(d) rma(yi, vi, data = d, method = \"{opts.method}\", test = \"{test}\","
        f" level = {level}{control})",
        "groups <- split(dat, factor(dat$group, levels = unique(dat$group)))",
        "out <- do.call(rbind, lapply(groups, function(d) {",
        "  r <- fit(d)",
        f"  p <- {pi}" if not common else "  p <- list(pi.lb = NA, pi.ub = NA)",
    ]
    if opts.tau2_ci and not common:
        lines.append('  ci <- if (r$k > 1) confint(r)$random["tau^2", c("ci.lb", "ci.ub")]'
                     " else c(NA, NA)")
    lines += [
        "  data.frame(group = d$group[1], k = r$k, estimate = as.numeric(r$beta), se = r$se,",
        "             ci_lb = r$ci.lb, ci_ub = r$ci.ub, pval = r$pval, tau2 = r$tau2,",
        f"             i2 = {i2}, h2 = r$H2, q = r$QE, q_pval = r$QEp,",
        "             pi_lb = p$pi.lb, pi_ub = p$pi.ub"
        + (", tau2_ci_lb = ci[[1]], tau2_ci_ub = ci[[2]])" if opts.tau2_ci and not common
           else ")"),
        "}))",
        "write.csv(out, stdout(), row.names = FALSE)",
    ]
    if ma.subgroup_test is not None:
        lines += [
            "",
            "# Test for subgroup differences (RevMan 5): common-effect Q across the subgroup",
            f"# totals, each weighted by 1 / SE^2 ({ma.subgroup_test['se_from']})",
            'sg <- rma(out$estimate, sei = out$se, method = "FE")',
            'cat(sprintf("subgroup_difference_test,q=%.15g,df=%d,pval=%.15g\\n", sg$QE, '
            "sg$k - 1L, sg$QEp))",
        ]
    return "\n".join(lines) + "\n"


def parse_script_output(text: str):
    """The pooled table (DataFrame) and the subgroup test (dict or None) an exported
    script printed: the inverse of its output format, for comparing with Python."""
    import io

    import pandas as pd

    body, test = [], None
    for line in text.splitlines():
        if line.startswith("subgroup_difference_test,"):
            parts = dict(p.split("=", 1) for p in line.split(",")[1:])
            test = {"q": float(parts["q"]), "df": int(parts["df"]), "pval": float(parts["pval"])}
        elif line.strip():
            body.append(line)
    frame = pd.read_csv(io.StringIO("\n".join(body))) if body else pd.DataFrame()
    return frame, test


# --------------------------------------------------------------------------- command


def add_arguments(parser):
    """Add ``export-r``'s arguments to ``parser`` (a subcommand's parser)."""
    from analysis.figures import FOREST_ANALYSES
    from analysis.paths import BUILD_DIR

    parser.add_argument("figures", nargs="*", metavar="FIGURE",
                        help=f"forest figures to export (default: all of "
                             f"{', '.join(FOREST_ANALYSES)})")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="data package (default: data/, or $DEXA_MA_DATA)")
    parser.add_argument("--output-dir", default=str(BUILD_DIR / "r"), metavar="DIR",
                        help="where to write <figure>.R (default: build/r)")
    return parser


def run(args) -> int:
    """Write one R script per forest figure; 0 done, 2 an unknown figure name."""
    import sys
    from pathlib import Path

    from analysis.data import load_package
    from analysis.figures import FOREST_ANALYSES
    from analysis.outputs import write_text_atomic
    from analysis.trial_effects import review_tables

    names = list(args.figures) or list(FOREST_ANALYSES)
    unknown = [n for n in names if n not in FOREST_ANALYSES]
    if unknown:
        print(f"error: unknown figure(s) {', '.join(unknown)}; forest figures: "
              f"{', '.join(FOREST_ANALYSES)}", file=sys.stderr)
        return 2
    tables = review_tables(load_package(args.data))
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        ma = FOREST_ANALYSES[name](tables)
        path = write_text_atomic(ma.to_r(title=f"{name}: the numbers of figures/{name}.csv"),
                                 out / f"{name}.R")
        print(path)
    return 0
