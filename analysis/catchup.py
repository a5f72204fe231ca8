"""Does the placebo group catch up? Inference across time points, equivalence at one
month, and exact thresholds for the trials without public numbers.

"The placebo group caught up by one month" joins three separate claims, and each has
its own analysis here:

1. **The effect shrank** (:func:`change_in_effect`, :func:`change_in_effect_table`,
   :func:`rho_thresholds`, :func:`fieller_ratio`, :func:`share_remaining`). The change
   Δ = effect at about one month − effect at the end of treatment is a comparison of two
   estimates from the same patients, so its variance needs the within-patient
   correlation ρ between the two time points, which no trial reports. Everything is
   therefore a function of an assumed ρ, and the ρ at which the conclusion about Δ
   changes is found by root-finding.
2. **No difference remains at one month** (:func:`tost`,
   :func:`smallest_equivalence_margin`, :func:`equivalence_at_one_month`). A
   non-significant difference is not evidence of no difference; two one-sided tests
   against a margin are.
3. **The unpublished trials would not change this** (:func:`threshold_crossings`,
   :func:`thresholds_for_unpublished_trials`): the SMD a trial without public numbers
   would need, at its group sizes, to change the pooled conclusion, found exactly
   (batch scan, then Brent's method) instead of on a grid.

:func:`catchup_findings` writes the results as sentences, from the tables only.

Inputs are plain numbers or the effects table of :mod:`analysis.trial_effects`
(columns :data:`analysis.trial_effects.EFFECT_COLUMNS`; SMDs oriented so that a positive
value favours dexamethasone) with plain ``arms`` / ``studies`` tables, never the data
package.

Covariance variants, named and never switched silently
------------------------------------------------------
Mean differences (``md_covariance``), for MD_j = m_tj − m_cj at time points j = 1, 2,
with within-arm correlation ρ between a patient's values at the two time points:

* ``"arm_level"`` (default where the arms' SDs exist):
  Cov(MD₁, MD₂) = ρ (sd_t1 sd_t2 / n_t + sd_c1 sd_c2 / n_c).
  This is the covariance metafor's ``vcalc()`` builds for two contrasts of the same two
  groups at two times (``grp1``, ``grp2``, ``time1``, ``phi = ρ``) when the weights
  ``w1``, ``w2`` are the arms' n / sd².
* ``"correlated_estimates"``: Cov = ρ √(v₁ v₂), i.e. the two estimates themselves
  correlate ρ (metafor ``vcalc()`` with ``time1`` and ``phi = ρ`` and no weights). By the
  Cauchy–Schwarz inequality this is never smaller than the arm-level covariance, and the
  two agree only when sd_t1 / sd_c1 = sd_t2 / sd_c2 (for example equal SDs in both arms,
  as for an SD recovered from a p-value).

Standardised mean differences (``smd_covariance``):

* ``"gleser_olkin"`` (default): Cov(g₁, g₂) ≈ ρ (1/n_t + 1/n_c) + ρ² g₁ g₂ / (2N),
  N = n_t + n_c, the large-sample covariance of two standardised mean differences from
  the same two groups (Gleser & Olkin 2009, multiple-endpoint studies; the formula of
  metafor's worked example of that chapter). It matches the large-sample variance
  1/n_t + 1/n_c + g²/(2N) (metafor's vtype "LS") at ρ = 1.
* ``"correlated_estimates"``: ρ √(v₁ v₂), as for the MD.

Var(Δ) = v₁ + v₂ − 2 Cov, with v_j the effects table's sampling variances (whatever
variance variant made them).

References
----------
Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. In Cooper H, Hedges
LV, Valentine JC (eds), The Handbook of Research Synthesis and Meta-Analysis, 2nd ed.,
pp. 357-376. New York: Russell Sage Foundation.
Fieller EC (1954). Some problems in interval estimation. J R Stat Soc B 16:175-185.
Schuirmann DJ (1987). A comparison of the two one-sided tests procedure and the power
approach for assessing the equivalence of average bioavailability. J Pharmacokinet
Biopharm 15:657-680.
Brent RP (1973). Algorithms for Minimization without Derivatives (scipy.optimize.brentq).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import conventions
from analysis import effect_sizes as es
from analysis.distributions import StudentT, norm
from analysis.conventions import (
    FAVOURS_CONTROL,
    FAVOURS_TREATMENT,
    NO_CLEAR_DIFFERENCE,
    WINDOWS,
)
from analysis.pooling import pool_batch

__all__ = [
    "WINDOWS",
    "RHO_RANGE",
    "DEFAULT_RHO",
    "MD_COVARIANCES",
    "SMD_COVARIANCES",
    "COVARIANCE_WORDS",
    "covariance_md",
    "covariance_smd",
    "change_in_effect",
    "rho_roots",
    "FiellerInterval",
    "fieller_ratio",
    "change_in_effect_table",
    "rho_thresholds",
    "share_remaining",
    "tost",
    "smallest_equivalence_margin",
    "equivalence_at_one_month",
    "ThresholdResult",
    "threshold_crossings",
    "thresholds_for_unpublished_trials",
    "catchup_findings",
    "CatchupResults",
    "sourced_margins",
    "catchup_analysis",
]

#: The working range of the assumed within-patient correlation for curves and roots.
RHO_RANGE = (0.0, 0.95)
#: ρ values of the curves: 0 to 0.95 by 0.01.
DEFAULT_RHO = np.round(np.linspace(0.0, 0.95, 96), 10)
MD_COVARIANCES = ("arm_level", "correlated_estimates")
#: How each covariance variant is named in sentences.
COVARIANCE_WORDS = {
    "arm_level": "arm-level covariance",
    "correlated_estimates": "two estimates taken to correlate rho",
    "gleser_olkin": "Gleser\u2013Olkin covariance",
}
SMD_COVARIANCES = ("gleser_olkin", "correlated_estimates")

_WINDOW_WORDS = {"end_of_treatment": "the end of treatment",
                 "about_one_month": "about one month"}


# --------------------------------------------------------------------------- checks


def _float_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def _check_positive(value, name: str) -> np.ndarray:
    arr = _float_array(value, name)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return arr


def _check_rho(rho, name: str = "rho", *, working_range: bool = False) -> np.ndarray:
    arr = _float_array(rho, name)
    if np.any((arr < -1) | (arr > 1)):
        raise ValueError(f"{name} is a correlation and must lie in [-1, 1], got {rho!r}")
    lo, hi = RHO_RANGE
    if working_range and np.any((arr < lo) | (arr > hi)):
        raise ValueError(f"{name} must lie in the working range [{lo:g}, {hi:g}] of the "
                         f"assumed within-patient correlation, got {rho!r}")
    return arr


def _check_level(level: float, name: str = "level") -> float:
    if not (isinstance(level, (int, float)) and 0 < float(level) < 1):
        raise ValueError(f"{name} must be a proportion in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


def _z(level: float) -> float:
    return conventions.z_quantile(level)


def _require_columns(table: pd.DataFrame, columns: Iterable[str], argument: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{argument} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{argument} lacks the column(s) {', '.join(missing)}")


def _row_where(table_name: str, idx, row: pd.Series) -> str:
    parts = [str(row[c]) for c in ("study", "window", "measure") if c in row.index]
    return f"{table_name} row {idx} ({', '.join(parts)})"


# --------------------------------------------------------------------------- covariances


def covariance_md(sd_t1, sd_c1, sd_t2, sd_c2, n_t, n_c, rho, *,
                  variant: str = "arm_level") -> np.ndarray:
    """Covariance of two mean differences of the same two groups at two time points.

    ``variant="arm_level"`` (default): Cov(MD₁, MD₂) = ρ (sd_t1 sd_t2 / n_t +
    sd_c1 sd_c2 / n_c), with ρ the within-arm correlation between a patient's values at
    the two time points (the same in both arms) and the same patients measured twice.
    ``variant="correlated_estimates"``: Cov = ρ √(v₁ v₂) with v_j = sd_tj²/n_t +
    sd_cj²/n_c (metafor's MD variance, vtype "LS"). See the module docstring for when the
    two agree. Vectorised over all arguments.
    """
    if variant not in MD_COVARIANCES:
        raise ValueError(f"variant must be one of {', '.join(MD_COVARIANCES)}, got {variant!r}")
    s_t1 = _check_positive(sd_t1, "sd_t1")
    s_c1 = _check_positive(sd_c1, "sd_c1")
    s_t2 = _check_positive(sd_t2, "sd_t2")
    s_c2 = _check_positive(sd_c2, "sd_c2")
    nt = _check_positive(n_t, "n_t")
    nc = _check_positive(n_c, "n_c")
    r = _check_rho(rho)
    if variant == "arm_level":
        return r * (s_t1 * s_t2 / nt + s_c1 * s_c2 / nc)
    v1 = s_t1**2 / nt + s_c1**2 / nc
    v2 = s_t2**2 / nt + s_c2**2 / nc
    return r * np.sqrt(v1 * v2)


def covariance_smd(g1, g2, n_t, n_c, rho) -> np.ndarray:
    """Covariance of two standardised mean differences of the same two groups
    (Gleser & Olkin 2009, multiple-endpoint studies; large-sample):

    Cov(g₁, g₂) ≈ ρ (1/n_t + 1/n_c) + ρ² g₁ g₂ / (2N),  N = n_t + n_c,

    with ρ the within-arm correlation of the two measurements (assumed equal in both
    arms). ``g1`` and ``g2`` must be oriented the same way (as in the effects table).
    Vectorised over all arguments.
    """
    a = _float_array(g1, "g1")
    b = _float_array(g2, "g2")
    nt = _check_positive(n_t, "n_t")
    nc = _check_positive(n_c, "n_c")
    r = _check_rho(rho)
    return r * (1 / nt + 1 / nc) + r**2 * a * b / (2 * (nt + nc))


def change_in_effect(y1, v1, y2, v2, cov, *, level: float = 0.95) -> dict[str, np.ndarray]:
    """Change of an effect between two time points of one trial: Δ = y₂ − y₁.

    Var(Δ) = v₁ + v₂ − 2 Cov(y₁, y₂) (the variance of a difference of two correlated
    estimates); Wald CI Δ ∓ z se and two-sided normal p-value. ``cov`` comes from
    :func:`covariance_md` or :func:`covariance_smd`. Returns arrays ``change``, ``var``,
    ``se``, ``ci_lb``, ``ci_ub``, ``pval``. Raises ``ValueError`` for v₁ or v₂ <= 0 and
    for a covariance that leaves Var(Δ) <= 0 (naming the position).
    """
    level = _check_level(level)
    a = _float_array(y1, "y1")
    b = _float_array(y2, "y2")
    va = _check_positive(v1, "v1")
    vb = _check_positive(v2, "v2")
    c = _float_array(cov, "cov")
    change = b - a
    var = va + vb - 2 * c
    bad = np.flatnonzero(np.atleast_1d(var) <= 0)
    if bad.size:
        raise ValueError("cov leaves a non-positive variance v1 + v2 - 2 cov at position(s) "
                         f"{', '.join(str(i) for i in bad[:10])}; |cov| must be below "
                         "(v1 + v2) / 2")
    se = np.sqrt(var)
    z = _z(level)
    return {"change": change, "var": var, "se": se, "ci_lb": change - z * se,
            "ci_ub": change + z * se, "pval": 2 * norm.sf(np.abs(change) / se)}


def rho_roots(change: float, v1: float, v2: float, cov_per_rho: float,
              cov_per_rho2: float = 0.0, *, level: float = 0.95,
              rho_range: tuple[float, float] = RHO_RANGE, grid: int = 1001,
              xtol: float = 1e-12) -> np.ndarray:
    """The correlations ρ at which the CI of a change Δ starts or stops excluding 0.

    With Cov(ρ) = ρ ``cov_per_rho`` + ρ² ``cov_per_rho2`` (MD: ``cov_per_rho`` is the
    covariance at ρ = 1 and ``cov_per_rho2`` = 0; Gleser–Olkin SMD: 1/n_t + 1/n_c and
    g₁ g₂ / (2N)), the CI excludes 0 where f(ρ) = |Δ| − z √(v₁ + v₂ − 2 Cov(ρ)) > 0.
    f is evaluated on ``grid`` equally spaced points of ``rho_range``; each sign change
    is refined by Brent's method (``scipy.optimize.brentq``, ``xtol``). Returns the
    sorted roots (empty when the conclusion is the same over the whole range). Two
    roots closer together than the grid spacing would be missed; for the MD the
    variance is linear in ρ and has at most one root, for the SMD at most two.
    """
    level = _check_level(level)
    lo, hi = _rho_range(rho_range)
    d = float(_float_array(change, "change"))
    va = float(_check_positive(v1, "v1"))
    vb = float(_check_positive(v2, "v2"))
    c1 = float(_float_array(cov_per_rho, "cov_per_rho"))
    c2 = float(_float_array(cov_per_rho2, "cov_per_rho2"))
    z = _z(level)

    def var(r):
        return va + vb - 2 * (r * c1 + r * r * c2)

    rhos = np.linspace(lo, hi, int(grid))
    v = var(rhos)
    if np.any(v <= 0):
        r_bad = rhos[np.argmax(v <= 0)]
        raise ValueError(f"the variance of the change is <= 0 at rho = {r_bad:.4g}; the "
                         "covariance per rho is too large for v1 and v2")

    from scipy import optimize  # only here: its import costs a fifth of a second

    def f(r):
        return abs(d) - z * math.sqrt(var(r))

    vals = abs(d) - z * np.sqrt(v)
    roots = [float(r) for r, fv in zip(rhos, vals) if fv == 0.0]
    sign = np.sign(vals)
    for i in np.flatnonzero(sign[:-1] * sign[1:] < 0):
        roots.append(float(optimize.brentq(f, rhos[i], rhos[i + 1], xtol=xtol)))
    return np.array(sorted(roots))


def _rho_range(rho_range) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in rho_range)
    except (TypeError, ValueError):
        raise ValueError(f"rho_range must be two numbers (low, high), got {rho_range!r}") from None
    _check_rho([lo, hi], "rho_range")
    if not lo < hi:
        raise ValueError(f"rho_range must have low < high, got {rho_range!r}")
    return lo, hi


# --------------------------------------------------------------------------- Fieller


@dataclass(frozen=True)
class FiellerInterval:
    """Fieller confidence set for a ratio a / b of two correlated estimates.

    ``kind`` is ``"bounded"`` (the interval [lower, upper]), ``"exclusive"`` (the
    complement of an interval: (−∞, lower] ∪ [upper, ∞)), ``"unbounded"`` (the whole
    real line; lower = −∞, upper = ∞) or ``"half-line"`` (b² = z² v_b exactly: the set
    is [lower, ∞) or (−∞, upper], the other end infinite). ``text`` writes the set.
    """

    ratio: float
    lower: float
    upper: float
    kind: str
    level: float

    @property
    def text(self) -> str:
        f = _fmt_sig
        if self.kind == "bounded":
            return f"[{f(self.lower)}, {f(self.upper)}]"
        if self.kind == "exclusive":
            return f"(\u2212\u221e, {f(self.lower)}] \u222a [{f(self.upper)}, \u221e)"
        if self.kind == "half-line":
            if math.isinf(self.upper):
                return f"[{f(self.lower)}, \u221e)"
            return f"(\u2212\u221e, {f(self.upper)}]"
        return "(\u2212\u221e, \u221e)"


def _fmt_sig(x: float) -> str:
    """Three significant digits with a typographic minus sign."""
    return f"{x:.3g}".replace("-", "\u2212")


def fieller_ratio(a: float, b: float, v_a: float, v_b: float, cov_ab: float, *,
                  level: float = 0.95) -> FiellerInterval:
    """Ratio R = a / b with its Fieller confidence set (Fieller 1954).

    The set holds every R with (a − R b)² ≤ z² (v_a − 2 R c + R² v_b), c = Cov(a, b),
    i.e. A R² − 2 B R + C ≤ 0 with A = b² − z² v_b, B = a b − z² c, C = a² − z² v_a and
    discriminant D = B² − A C:

    * A > 0 (b differs from 0 beyond chance): bounded, (B ∓ √D) / A;
    * A < 0 and D > 0: exclusive, (−∞, r₁] ∪ [r₂, ∞) with r₁ < r₂ the roots;
    * A < 0 and D < 0: the whole line;
    * A = 0 (to 1e-12 relative to b²): a half-line.

    Raises ``ValueError`` for v_a or v_b <= 0, b = 0 or a covariance matrix that is
    not positive semi-definite (c² > v_a v_b).
    """
    level = _check_level(level)
    a = float(_float_array(a, "a"))
    b = float(_float_array(b, "b"))
    va = float(_check_positive(v_a, "v_a"))
    vb = float(_check_positive(v_b, "v_b"))
    c = float(_float_array(cov_ab, "cov_ab"))
    if b == 0:
        raise ValueError("b (the denominator) is 0: the ratio a / b is undefined")
    if c * c > va * vb * (1 + 1e-12):
        raise ValueError(f"cov_ab = {c:g} is impossible for variances {va:g} and {vb:g} "
                         "(|cov_ab| must be at most sqrt(v_a v_b))")
    z2 = _z(level) ** 2
    ratio = a / b
    big_a = b * b - z2 * vb
    big_b = a * b - z2 * c
    big_c = a * a - z2 * va
    disc = big_b * big_b - big_a * big_c
    if abs(big_a) <= 1e-12 * b * b:
        # linear: -2 B R + C <= 0
        if big_b > 0:
            return FiellerInterval(ratio, big_c / (2 * big_b), math.inf, "half-line", level)
        if big_b < 0:
            return FiellerInterval(ratio, -math.inf, big_c / (2 * big_b), "half-line", level)
        return FiellerInterval(ratio, -math.inf, math.inf, "unbounded", level)
    if big_a > 0:
        root = math.sqrt(max(disc, 0.0))
        return FiellerInterval(ratio, (big_b - root) / big_a, (big_b + root) / big_a,
                               "bounded", level)
    if disc > 0:
        root = math.sqrt(disc)
        r1, r2 = sorted(((big_b - root) / big_a, (big_b + root) / big_a))
        return FiellerInterval(ratio, r1, r2, "exclusive", level)
    return FiellerInterval(ratio, -math.inf, math.inf, "unbounded", level)


# --------------------------------------------------------------------------- pairs of windows

_PAIR_COLUMNS = ("study_id", "study", "scope", "outcome_id", "outcome", "review_role",
                 "window", "measure", "yi", "vi", "sd_t", "sd_c", "n_t", "n_c", "estimable")


def _paired_windows(effects: pd.DataFrame, measure: str, review_role: str | None,
                    study_ids: Iterable[str] | None) -> list[dict]:
    """Estimable rows of one measure at both windows, one pair per trial × outcome."""
    _require_columns(effects, _PAIR_COLUMNS, "effects")
    sel = effects[(effects["measure"] == measure) & effects["window"].isin(WINDOWS)]
    if review_role is not None:
        sel = sel[sel["review_role"] == review_role]
    wanted = None if study_ids is None else list(study_ids)
    if wanted is not None:
        for sid in wanted:
            rows = sel[sel["study_id"] == sid]
            ok = rows[rows["estimable"].astype(bool)]
            have = set(ok["window"])
            lacking = [w for w in WINDOWS if w not in have]
            if rows.empty or lacking:
                raise ValueError(
                    f"study_ids: {sid!r} has no estimable {measure} at "
                    f"{' and '.join(lacking) if lacking else 'either window'}; the change "
                    "in the effect needs both the end of treatment and about one month")
        sel = sel[sel["study_id"].isin(wanted)]
    pairs = []
    for (sid, oid), grp in sel.groupby(["study_id", "outcome_id"], sort=False):
        ok = grp[grp["estimable"].astype(bool)]
        if set(ok["window"]) != set(WINDOWS):
            continue
        rows = {}
        for w in WINDOWS:
            at = ok[ok["window"] == w]
            if len(at) > 1:
                raise ValueError(f"effects has {len(at)} estimable {measure} rows for "
                                 f"{sid} / {oid} at {w} (index {', '.join(map(str, at.index))}); "
                                 "keep one time point per window")
            r = at.iloc[0]
            for col in ("yi", "vi"):
                if not np.isfinite(r[col]) or (col == "vi" and r[col] <= 0):
                    raise ValueError(f"{_row_where('effects', at.index[0], r)}: {col} must be "
                                     f"finite{' and > 0' if col == 'vi' else ''}, got {r[col]!r}")
            rows[w] = r
        pairs.append(rows)
    return pairs


def _pair_sizes(r1: pd.Series, r2: pd.Series) -> tuple[float, float, str]:
    """Group sizes for the covariance: the larger n of each arm across the two time
    points (patients measured later taken as a subset of those measured earlier, which
    gives the smaller covariance)."""
    n_t = float(max(r1["n_t"], r2["n_t"]))
    n_c = float(max(r1["n_c"], r2["n_c"]))
    note = ""
    if r1["n_t"] != r2["n_t"] or r1["n_c"] != r2["n_c"]:
        note = (f"n differs between time points ({r1['n_t']:g}/{r1['n_c']:g} and "
                f"{r2['n_t']:g}/{r2['n_c']:g}); the larger of each arm is used")
    return n_t, n_c, note


def _md_cov_coefficient(r1, r2, variant: str) -> tuple[float, str, str]:
    """Cov(MD₁, MD₂) at ρ = 1 and the variant actually used."""
    n_t, n_c, note = _pair_sizes(r1, r2)
    sds = [r1["sd_t"], r1["sd_c"], r2["sd_t"], r2["sd_c"]]
    if variant == "arm_level" and not all(np.isfinite(sds)):
        variant = "correlated_estimates"
        note = "; ".join(x for x in (note, "arm SDs not available: the two estimates are "
                                     "taken to correlate rho") if x)
    if variant == "arm_level":
        c = float(covariance_md(r1["sd_t"], r1["sd_c"], r2["sd_t"], r2["sd_c"], n_t, n_c, 1.0))
    else:
        c = float(math.sqrt(r1["vi"] * r2["vi"]))
    return c, variant, note


def _smd_cov_coefficients(r1, r2, variant: str) -> tuple[float, float, str]:
    n_t, n_c, note = _pair_sizes(r1, r2)
    if variant == "gleser_olkin":
        return (1 / n_t + 1 / n_c,
                float(r1["yi"]) * float(r2["yi"]) / (2 * (n_t + n_c)), note)
    return float(math.sqrt(r1["vi"] * r2["vi"])), 0.0, note


def _pairs_with_coefficients(effects, md_covariance, smd_covariance, review_role, study_ids):
    if md_covariance not in MD_COVARIANCES:
        raise ValueError(f"md_covariance must be one of {', '.join(MD_COVARIANCES)}, "
                         f"got {md_covariance!r}")
    if smd_covariance not in SMD_COVARIANCES:
        raise ValueError(f"smd_covariance must be one of {', '.join(SMD_COVARIANCES)}, "
                         f"got {smd_covariance!r}")
    out = []
    for measure in ("MD", "SMD"):
        for pair in _paired_windows(effects, measure, review_role, study_ids):
            r1, r2 = pair["end_of_treatment"], pair["about_one_month"]
            if measure == "MD":
                c1, variant, note = _md_cov_coefficient(r1, r2, md_covariance)
                c2 = 0.0
            else:
                c1, c2, note = _smd_cov_coefficients(r1, r2, smd_covariance)
                variant = smd_covariance
            out.append({"r1": r1, "r2": r2, "measure": measure, "covariance": variant,
                        "c1": c1, "c2": c2, "note": note})
    return out


def _pair_ids(r1: pd.Series) -> dict:
    return {"study_id": r1["study_id"], "study": r1["study"], "scope": r1["scope"],
            "outcome_id": r1["outcome_id"], "outcome": r1["outcome"]}


def change_in_effect_table(effects: pd.DataFrame, *, rho=DEFAULT_RHO, level: float = 0.95,
                           md_covariance: str = "arm_level",
                           smd_covariance: str = "gleser_olkin",
                           review_role: str | None = "primary",
                           study_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Δ = effect at about one month − effect at the end of treatment, with its CI, as
    a function of the assumed within-patient correlation ρ, for every trial × outcome
    with estimable numbers at both windows (MD on the outcome's own scale, and SMD).

    ``rho`` must lie in the working range [0, 0.95]. ``study_ids`` (optional) names
    trials that must be included: one without estimable numbers at both windows raises
    ``ValueError``; without it such trials are left out. Returns one row per trial ×
    outcome × measure × ρ with columns ``study_id, study, scope, outcome_id, outcome,
    measure, covariance, rho, effect_end_of_treatment, effect_one_month, change, cov,
    se, ci_lb, ci_ub, pval, excludes_zero, level, note``.
    """
    level = _check_level(level)
    r = np.atleast_1d(_check_rho(rho, working_range=True))
    parts = []
    for p in _pairs_with_coefficients(effects, md_covariance, smd_covariance, review_role,
                                      study_ids):
        r1, r2 = p["r1"], p["r2"]
        cov = r * p["c1"] + r**2 * p["c2"]
        res = change_in_effect(r1["yi"], r1["vi"], r2["yi"], r2["vi"], cov, level=level)
        excl = (res["ci_lb"] > 0) | (res["ci_ub"] < 0)
        parts.append(pd.DataFrame({
            **_pair_ids(r1), "measure": p["measure"], "covariance": p["covariance"],
            "rho": r, "effect_end_of_treatment": float(r1["yi"]),
            "effect_one_month": float(r2["yi"]), "change": res["change"], "cov": cov,
            "se": res["se"], "ci_lb": res["ci_lb"], "ci_ub": res["ci_ub"],
            "pval": res["pval"], "excludes_zero": excl, "level": level, "note": p["note"]}))
    cols = ["study_id", "study", "scope", "outcome_id", "outcome", "measure", "covariance",
            "rho", "effect_end_of_treatment", "effect_one_month", "change", "cov", "se",
            "ci_lb", "ci_ub", "pval", "excludes_zero", "level", "note"]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def _rho_statement(intervals: list[tuple[float, float]], lo: float, hi: float) -> str:
    if not intervals:
        return f"for no rho in [{lo:g}, {hi:g}]"
    if len(intervals) == 1 and intervals[0] == (lo, hi):
        return f"for every rho in [{lo:g}, {hi:g}]"
    parts = []
    for a, b in intervals:
        if a == lo:
            parts.append(f"for rho below {b:.3f}")
        elif b == hi:
            parts.append(f"for rho above {a:.3f}")
        else:
            parts.append(f"for rho between {a:.3f} and {b:.3f}")
    return " and ".join(parts)


def rho_thresholds(effects: pd.DataFrame, *, level: float = 0.95,
                   md_covariance: str = "arm_level", smd_covariance: str = "gleser_olkin",
                   rho_range: tuple[float, float] = RHO_RANGE,
                   review_role: str | None = "primary",
                   study_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The assumed correlation ρ at which the conclusion about Δ changes.

    For every trial × outcome × measure of :func:`change_in_effect_table`, the roots of
    |Δ| = z se(ρ) in ``rho_range`` (:func:`rho_roots`, Brent's method to 1e-12).
    Returns one row each with ``change``, ``rho_root`` (the smallest root, NaN when
    there is none), ``n_roots``, ``rho_roots`` (all roots, a tuple),
    ``ci_lb_at_low`` / ``ci_ub_at_low`` and ``..._at_high`` (the CI at the two ends of
    the range), ``excludes_zero_at_low`` / ``excludes_zero_at_high``,
    ``rho_excludes_zero`` (the ρ intervals where the CI excludes 0: a tuple of
    (low, high) pairs, empty when there is none), ``rho_excludes_zero_text`` (the same,
    written out), ``rho_statement`` ("for rho above 0.884", "for no rho in [0, 0.95]")
    and ``statement`` ("the 95% CI of the change excludes 0 for rho above 0.884").
    """
    level = _check_level(level)
    lo, hi = _rho_range(rho_range)
    _check_rho([lo, hi], "rho_range", working_range=True)
    rows = []
    for p in _pairs_with_coefficients(effects, md_covariance, smd_covariance, review_role,
                                      study_ids):
        r1, r2 = p["r1"], p["r2"]
        change = float(r2["yi"] - r1["yi"])
        roots = rho_roots(change, r1["vi"], r2["vi"], p["c1"], p["c2"], level=level,
                          rho_range=(lo, hi))
        ends = change_in_effect(r1["yi"], r1["vi"], r2["yi"], r2["vi"],
                                np.array([lo, hi]) * p["c1"] + np.array([lo, hi]) ** 2 * p["c2"],
                                level=level)
        excl_ends = (ends["ci_lb"] > 0) | (ends["ci_ub"] < 0)
        cuts = [lo, *roots.tolist(), hi]
        intervals = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            mid = (a + b) / 2
            m = change_in_effect(r1["yi"], r1["vi"], r2["yi"], r2["vi"],
                                 mid * p["c1"] + mid**2 * p["c2"], level=level)
            if m["ci_lb"] > 0 or m["ci_ub"] < 0:
                if intervals and intervals[-1][1] == a:
                    intervals[-1] = (intervals[-1][0], b)
                else:
                    intervals.append((a, b))
        text = _rho_statement(intervals, lo, hi)
        rows.append({
            **_pair_ids(r1), "measure": p["measure"], "covariance": p["covariance"],
            "effect_end_of_treatment": float(r1["yi"]), "effect_one_month": float(r2["yi"]),
            "change": change, "rho_low": lo, "rho_high": hi,
            "rho_root": float(roots[0]) if roots.size else np.nan, "n_roots": int(roots.size),
            "rho_roots": tuple(float(x) for x in roots),
            "ci_lb_at_low": float(ends["ci_lb"][0]), "ci_ub_at_low": float(ends["ci_ub"][0]),
            "ci_lb_at_high": float(ends["ci_lb"][1]), "ci_ub_at_high": float(ends["ci_ub"][1]),
            "excludes_zero_at_low": bool(excl_ends[0]),
            "excludes_zero_at_high": bool(excl_ends[1]),
            "rho_excludes_zero": tuple((float(a), float(b)) for a, b in intervals),
            "rho_excludes_zero_text": "; ".join(f"[{a:.4f}, {b:.4f}]" for a, b in intervals),
            "rho_statement": text,
            "statement": f"the {level:.0%} CI of the change excludes 0 {text}",
            "level": level, "note": p["note"]})
    cols = ["study_id", "study", "scope", "outcome_id", "outcome", "measure", "covariance",
            "effect_end_of_treatment", "effect_one_month", "change", "rho_low", "rho_high",
            "rho_root", "n_roots", "rho_roots", "ci_lb_at_low", "ci_ub_at_low", "ci_lb_at_high",
            "ci_ub_at_high", "excludes_zero_at_low", "excludes_zero_at_high",
            "rho_excludes_zero", "rho_excludes_zero_text", "rho_statement", "statement", "level",
            "note"]
    return pd.DataFrame.from_records(rows, columns=cols)


def share_remaining(effects: pd.DataFrame, *, rho=(0.0, 0.5, 0.8, 0.95), level: float = 0.95,
                    md_covariance: str = "arm_level", review_role: str | None = "primary",
                    study_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Share of the end-of-treatment mean difference left at about one month,
    R = MD₂ / MD₁, with its Fieller confidence set (:func:`fieller_ratio`) at each
    assumed ρ (working range [0, 0.95]); Cov(MD₁, MD₂) as ``md_covariance``.

    Returns one row per trial × outcome × ρ: ``md_end_of_treatment``,
    ``md_one_month``, ``ratio``, ``lower``, ``upper``, ``kind`` (bounded, exclusive,
    unbounded, half-line; see :class:`FiellerInterval`), ``interval`` (the set as text),
    ``covariance``, ``level``, ``note``.
    """
    level = _check_level(level)
    r = np.atleast_1d(_check_rho(rho, working_range=True))
    rows = []
    for p in _pairs_with_coefficients(effects, md_covariance, "gleser_olkin", review_role,
                                      study_ids):
        if p["measure"] != "MD":
            continue
        r1, r2 = p["r1"], p["r2"]
        for rr in r:
            fi = fieller_ratio(r2["yi"], r1["yi"], r2["vi"], r1["vi"], rr * p["c1"],
                               level=level)
            rows.append({**_pair_ids(r1), "rho": float(rr),
                         "md_end_of_treatment": float(r1["yi"]),
                         "md_one_month": float(r2["yi"]), "ratio": fi.ratio,
                         "lower": fi.lower, "upper": fi.upper, "kind": fi.kind,
                         "interval": fi.text, "covariance": p["covariance"], "level": level,
                         "note": p["note"]})
    cols = ["study_id", "study", "scope", "outcome_id", "outcome", "rho",
            "md_end_of_treatment", "md_one_month", "ratio", "lower", "upper", "kind",
            "interval", "covariance", "level", "note"]
    return pd.DataFrame.from_records(rows, columns=cols)


# --------------------------------------------------------------------------- equivalence


def _dist(df):
    if df is None or (isinstance(df, float) and math.isnan(df)):
        return norm, "normal"
    df = float(df)
    if not (math.isfinite(df) and df > 0):
        raise ValueError(f"df must be a positive number, got {df!r}")
    return StudentT(df), "t"


def tost(estimate: float, se: float, margin: float, *, alpha: float = 0.05,
         df: float | None = None) -> dict:
    """Two one-sided tests (Schuirmann 1987) of |δ| < ``margin`` for one estimate.

    H₀₁: δ ≤ −margin, p_lower = P(T ≥ (estimate + margin) / se);
    H₀₂: δ ≥ margin, p_upper = P(T ≤ (estimate − margin) / se);
    p_TOST = max(p_lower, p_upper). T is standard normal (default) or Student's t with
    ``df``. Equivalence at level α iff the (1 − 2α) CI lies inside (−margin, margin),
    which is the same as p_TOST < α. Returns ``p_lower``, ``p_upper``, ``p_tost``,
    ``ci_lb``, ``ci_ub`` (the 1 − 2α CI), ``equivalent``, ``dist``, ``df``.
    Raises ``ValueError`` for margin <= 0, se <= 0 or α outside (0, 0.5).
    """
    est = float(_float_array(estimate, "estimate"))
    s = float(_check_positive(se, "se"))
    m = float(_float_array(margin, "margin"))
    if m <= 0:
        raise ValueError(f"margin must be > 0 (the equivalence region is -margin to "
                         f"+margin), got {margin!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 0.5):
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    dist, name = _dist(df)
    p_lower = float(dist.sf((est + m) / s))
    p_upper = float(dist.cdf((est - m) / s))
    q = float(dist.ppf(1 - alpha))
    lb, ub = est - q * s, est + q * s
    return {"p_lower": p_lower, "p_upper": p_upper, "p_tost": max(p_lower, p_upper),
            "ci_lb": lb, "ci_ub": ub, "equivalent": bool(lb > -m and ub < m), "dist": name,
            "df": np.nan if df is None else float(df)}


def smallest_equivalence_margin(estimate: float, se: float, *, alpha: float = 0.05,
                                df: float | None = None) -> float:
    """The smallest margin for which :func:`tost` would conclude equivalence at α: the
    larger absolute bound of the (1 − 2α) CI (any margin above it gives p_TOST < α)."""
    est = float(_float_array(estimate, "estimate"))
    s = float(_check_positive(se, "se"))
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 0.5):
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    dist, _ = _dist(df)
    q = float(dist.ppf(1 - alpha))
    return max(abs(est - q * s), abs(est + q * s))


def equivalence_at_one_month(effects: pd.DataFrame, *,
                             margins: Mapping[str, tuple[float, str]] | None = None,
                             measure: str = "MD", alpha: float = 0.05,
                             window: str = "about_one_month",
                             recovered_dist: str = "t",
                             units: Mapping[str, str] | None = None,
                             review_role: str | None = "primary") -> pd.DataFrame:
    """Equivalence of the arms at about one month, per trial (two one-sided tests).

    For every estimable row of ``measure`` (MD on the outcome's own scale, or SMD) at
    ``window``: the estimate, its 1 − 2α and 95% CIs, and

    * where ``margins`` has the row's ``outcome_id`` → ``(margin, source text)``, the
      TOST p-values against ±margin (in the units of ``measure``: outcome units for MD,
      SD units for SMD) and whether equivalence is shown;
    * always ``smallest_margin``, the smallest margin for which equivalence would be
      concluded at α (:func:`smallest_equivalence_margin`).

    Distribution: normal, except an MD whose SE was recovered from a p-value
    (``sd_recovered``) with ``recovered_dist="t"``, which uses Student's t with
    n_t + n_c − 2 df, as the recovery did (set ``recovered_dist`` to the ``p_dist`` that
    made the effects table). ``units`` optionally maps outcome_id → units for the
    ``units`` column. Columns: ``study_id, study, scope, outcome_id, outcome, units,
    window, measure, estimate, se, dist, df, ci_lb, ci_ub (the 1 − 2α CI), ci95_lb,
    ci95_ub, margin, margin_source, p_lower, p_upper, p_tost, equivalent,
    smallest_margin, alpha``.
    """
    _require_columns(effects, _PAIR_COLUMNS + ("sd_recovered",), "effects")
    if measure not in ("MD", "SMD"):
        raise ValueError(f"measure must be 'MD' or 'SMD', got {measure!r}")
    if recovered_dist not in ("t", "normal"):
        raise ValueError(f"recovered_dist must be 't' or 'normal', got {recovered_dist!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 0.5):
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    margins = dict(margins or {})
    known = set(effects["outcome_id"])
    unknown = sorted(set(margins) - known)
    if unknown:
        raise ValueError(f"margins: no outcome_id {', '.join(map(repr, unknown))} in the "
                         f"effects table (known: {', '.join(sorted(map(str, known)))})")
    for key, value in margins.items():
        try:
            m, source = value
            m = float(m)
        except (TypeError, ValueError):
            raise ValueError(f"margins[{key!r}] must be (margin, source text), "
                             f"got {value!r}") from None
        if not (math.isfinite(m) and m > 0):
            raise ValueError(f"margins[{key!r}]: the margin must be a number > 0, got {m!r}")
        margins[key] = (m, str(source))
    sel = effects[(effects["measure"] == measure) & (effects["window"] == window)
                  & effects["estimable"].astype(bool)]
    if review_role is not None:
        sel = sel[sel["review_role"] == review_role]
    rows = []
    z95 = _z(0.95)
    for idx, r in sel.iterrows():
        if not (np.isfinite(r["vi"]) and r["vi"] > 0 and np.isfinite(r["yi"])):
            raise ValueError(f"{_row_where('effects', idx, r)}: yi must be finite and vi > 0, "
                             f"got yi = {r['yi']!r}, vi = {r['vi']!r}")
        se = math.sqrt(r["vi"])
        df = None
        if measure == "MD" and bool(r["sd_recovered"]) and recovered_dist == "t":
            df = float(r["n_t"] + r["n_c"] - 2)
        dist, _ = _dist(df)
        q95 = float(dist.ppf(0.975)) if df is not None else z95
        rec = {"study_id": r["study_id"], "study": r["study"], "scope": r["scope"],
               "outcome_id": r["outcome_id"], "outcome": r["outcome"],
               "units": (units or {}).get(r["outcome_id"], "") if measure == "MD" else "SD",
               "window": window, "measure": measure, "estimate": float(r["yi"]), "se": se,
               "ci95_lb": float(r["yi"] - q95 * se), "ci95_ub": float(r["yi"] + q95 * se),
               "smallest_margin": smallest_equivalence_margin(r["yi"], se, alpha=alpha, df=df),
               "alpha": alpha}
        if r["outcome_id"] in margins:
            m, source = margins[r["outcome_id"]]
            t = tost(r["yi"], se, m, alpha=alpha, df=df)
            rec.update(margin=m, margin_source=source, **t)
        else:
            dist_name = "t" if df is not None else "normal"
            q = float(dist.ppf(1 - alpha))
            rec.update(margin=np.nan, margin_source="", p_lower=np.nan, p_upper=np.nan,
                       p_tost=np.nan, ci_lb=float(r["yi"] - q * se),
                       ci_ub=float(r["yi"] + q * se), equivalent=pd.NA, dist=dist_name,
                       df=np.nan if df is None else df)
        rows.append(rec)
    cols = ["study_id", "study", "scope", "outcome_id", "outcome", "units", "window",
            "measure", "estimate", "se", "dist", "df", "ci_lb", "ci_ub", "ci95_lb", "ci95_ub",
            "margin", "margin_source", "p_lower", "p_upper", "p_tost", "equivalent",
            "smallest_margin", "alpha"]
    return pd.DataFrame.from_records(rows, columns=cols)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class ThresholdResult:
    """Exact threshold analysis for one or more hypothetical trials.

    ``baseline``: the pooled result of the estimable trials alone (one row per
    analysis). ``crossings``: one row per g at which the pooled CI lower bound
    (``curve = "ci_lb"``), the pooled estimate (``"estimate"``) or the CI upper bound
    (``"ci_ub"``) crosses 0, with the conclusions on either side and what changes
    relative to the baseline. ``stretches``: the ranges of the hypothetical g with one
    conclusion, their outer ends flagged where the search stopped. ``curve``: the
    pooled estimate and CI over the scan grid, for figures.
    """

    baseline: pd.DataFrame
    crossings: pd.DataFrame
    stretches: pd.DataFrame
    curve: pd.DataFrame


def _conclusion(ci_lb, ci_ub):
    return conventions.verdict(ci_lb, ci_ub)


def _direction(estimate):
    return np.where(np.asarray(estimate) > 0, FAVOURS_TREATMENT,
                    np.where(np.asarray(estimate) < 0, FAVOURS_CONTROL, "zero"))


def _hypothetical_factor(n_t: float, n_c: float, vtype: str) -> float:
    """g per unit of d for this variant (J(N − 2) exact, or RevMan 5's 1 − 3/(4N − 9))."""
    return float(np.ravel(es.hedges_g(1.0, 1.0, n_t, 0.0, 1.0, n_c, vtype=vtype).yi)[0])


def _hypothetical(g, n_t: float, n_c: float, vtype: str, factor: float):
    """Hedges' g and its sampling variance for a trial of n_t / n_c whose g is ``g``
    (:func:`analysis.effect_sizes.hedges_g` at d = g / factor, SD 1 in both arms)."""
    g = np.atleast_1d(np.asarray(g, float))
    eff = es.hedges_g(g / factor, np.ones_like(g), n_t, np.zeros_like(g), np.ones_like(g),
                      n_c, vtype=vtype)
    return np.ravel(eff.yi), np.ravel(eff.vi)


MODEL_WORDS = {False: "Wald-type CI", True: "Hartung\u2013Knapp CI"}


def _model_label(method: str, knha: bool) -> str:
    if method.upper() in {"FE", "EE", "CE"}:
        return f"common effect, {MODEL_WORDS[knha]}"
    return f"{method.upper()} \u03c4\u00b2, {MODEL_WORDS[knha]}"


def threshold_crossings(yi, vi, n_t: float, n_c: float, *, method: str = "REML",
                        knha: bool = False, smd_vtype: str = "LS",
                        g_range: tuple[float, float] = (-3.0, 3.0), step: float = 0.001,
                        xtol: float = 1e-10, level: float = 0.95) -> ThresholdResult:
    """Every SMD of one added trial (group sizes n_t / n_c) at which the pooled
    conclusion changes, found exactly.

    The hypothetical trial's Hedges' g and sampling variance come from
    :func:`analysis.effect_sizes.hedges_g` at its group sizes (``smd_vtype``; "AV" is
    refused, its variance depends on the other trials). It is pooled with the estimable
    trials (``yi``, ``vi``) by :func:`analysis.pooling.pool_batch` (``method``,
    ``knha``, ``level``, metafor's defaults otherwise):

    1. one batch call over the grid g = g_range[0], g_range[0] + step, …, g_range[1];
    2. every sign change between neighbouring grid points of the pooled CI lower bound,
       the pooled estimate and the CI upper bound brackets a crossing;
    3. each bracket is refined by Brent's method (``scipy.optimize.brentq``, absolute
       tolerance ``xtol`` in g), pooling at each trial g.

    The conclusion (pooled CI above 0: favours dexamethasone; below 0: favours placebo;
    else no clear difference) changes only where ci_lb or ci_ub crosses 0; the pooled
    estimate crossing 0 is a reversal of direction. Two crossings of one curve within
    one grid step, and touching 0 without crossing, are not found; a smaller ``step``
    narrows that gap. Beyond ``g_range`` nothing is known: the stretches flag the ends.
    """
    y = _float_array(np.atleast_1d(yi), "yi")
    v = _check_positive(np.atleast_1d(vi), "vi")
    if y.ndim != 1 or y.shape != v.shape or y.size == 0:
        raise ValueError(f"yi and vi must be 1-D of the same non-zero length, got shapes "
                         f"{y.shape} and {v.shape}")
    nt, nc = float(_float_array(n_t, "n_t")), float(_float_array(n_c, "n_c"))
    if nt < 2 or nc < 2:
        raise ValueError(f"n_t and n_c must be >= 2 (a pooled SD needs two per arm), got "
                         f"{n_t!r} and {n_c!r}")
    if smd_vtype == "AV":
        raise ValueError("smd_vtype 'AV' is refused: its variance averages g over the "
                         "other trials of a batch; choose LS, LS2, UB or RevMan5")
    if smd_vtype not in es.SMD_VTYPES:
        raise ValueError(f"smd_vtype must be one of {', '.join(es.SMD_VTYPES)}, "
                         f"got {smd_vtype!r}")
    try:
        lo, hi = (float(x) for x in g_range)
    except (TypeError, ValueError):
        raise ValueError(f"g_range must be two numbers (low, high), got {g_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"g_range must be finite with low < high, got {g_range!r}")
    step = float(_check_positive(step, "step"))
    if (hi - lo) / step > 2_000_000:
        raise ValueError(f"step {step:g} gives more than 2,000,000 grid points over "
                         f"g_range {g_range!r}; use a larger step")
    xtol = float(_check_positive(xtol, "xtol"))
    if xtol > 1e-8:
        raise ValueError(f"xtol must be at most 1e-8, got {xtol!r}")
    level = _check_level(level)
    factor = _hypothetical_factor(nt, nc, smd_vtype)

    base = pool_batch(y, v, method=method, knha=knha, level=level).summary.iloc[0]
    base_concl = str(_conclusion(base["ci_lb"], base["ci_ub"]))
    base_dir = str(_direction(base["estimate"]))

    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    grid = lo + step * np.arange(n)
    if grid[-1] < hi - 1e-12:
        grid = np.append(grid, hi)
    g_h, v_h = _hypothetical(grid, nt, nc, smd_vtype, factor)
    m, k = grid.size, y.size
    all_y = np.column_stack([np.tile(y, (m, 1)), g_h]).ravel()
    all_v = np.column_stack([np.tile(v, (m, 1)), v_h]).ravel()
    summ = pool_batch(all_y, all_v, np.repeat(np.arange(m), k + 1), method=method,
                      knha=knha, level=level).summary
    curve = pd.DataFrame({"g": g_h, "vi_hypothetical": v_h,
                          "estimate": summ["estimate"].to_numpy(float),
                          "ci_lb": summ["ci_lb"].to_numpy(float),
                          "ci_ub": summ["ci_ub"].to_numpy(float),
                          "tau2": summ["tau2"].to_numpy(float)})
    curve["conclusion"] = _conclusion(curve["ci_lb"], curve["ci_ub"])

    from scipy import optimize  # only here: its import costs a fifth of a second

    def pooled(g: float) -> pd.Series:
        gy, gv = _hypothetical(g, nt, nc, smd_vtype, factor)
        return pool_batch(np.append(y, gy), np.append(v, gv), method=method, knha=knha,
                          level=level).summary.iloc[0]

    found = []
    for name in ("ci_lb", "estimate", "ci_ub"):
        vals = curve[name].to_numpy(float)
        if not np.all(np.isfinite(vals)):
            bad = grid[~np.isfinite(vals)][0]
            raise ValueError(f"pooling did not converge at hypothetical g = {bad:.4g} "
                             f"({method}); no thresholds can be found")
        for i in np.flatnonzero(vals == 0.0):
            found.append((name, float(grid[i])))
        sign = np.sign(vals)
        for i in np.flatnonzero(sign[:-1] * sign[1:] < 0):
            root = optimize.brentq(lambda g, c=name: float(pooled(g)[c]), grid[i], grid[i + 1],
                                   xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200)
            found.append((name, float(root)))
    found.sort(key=lambda x: x[1])

    # conclusions between consecutive crossings, at a point inside each stretch
    cuts = [x[1] for x in found]
    edges = [lo, *cuts, hi]
    stretch_rows = []
    for a, b in zip(edges[:-1], edges[1:]):
        inside = curve[(curve["g"] > a) & (curve["g"] < b)]
        if len(inside):
            r = inside.iloc[len(inside) // 2]
        else:
            r = pooled((a + b) / 2)
        stretch_rows.append({"g_from": a, "g_to": b,
                             "conclusion": str(_conclusion(r["ci_lb"], r["ci_ub"])),
                             "direction": str(_direction(r["estimate"])),
                             "g_from_is_search_end": a == lo, "g_to_is_search_end": b == hi})
    stretches = pd.DataFrame.from_records(stretch_rows)

    cross_rows = []
    for i, (name, g) in enumerate(found):
        below, above = stretch_rows[i], stretch_rows[i + 1]
        change, side = _what_changes(name, below, above, base_concl, base_dir)
        cross_rows.append({"curve": name, "g": g, "conclusion_below": below["conclusion"],
                           "conclusion_above": above["conclusion"],
                           "direction_below": below["direction"],
                           "direction_above": above["direction"],
                           "change": change, "side": side})
    crossings = pd.DataFrame.from_records(
        cross_rows, columns=["curve", "g", "conclusion_below", "conclusion_above",
                             "direction_below", "direction_above", "change", "side"])
    model = {"method": method.upper(), "knha": bool(knha), "model": _model_label(method, knha),
             "n_t": nt, "n_c": nc, "smd_vtype": smd_vtype}
    baseline = pd.DataFrame([{**model, "k": int(base["k"]), "estimate": float(base["estimate"]),
                              "ci_lb": float(base["ci_lb"]), "ci_ub": float(base["ci_ub"]),
                              "conclusion": base_concl, "direction": base_dir,
                              "g_low": lo, "g_high": hi, "step": step}])
    return ThresholdResult(baseline=baseline,
                           crossings=crossings.assign(**model),
                           stretches=stretches.assign(**model),
                           curve=curve.assign(**model))


def _what_changes(curve: str, below: dict, above: dict, base_concl: str,
                  base_dir: str) -> tuple[str, str]:
    """What crossing this threshold changes, relative to the estimable trials alone,
    and on which side of it (``below`` / ``above`` the threshold g) the change holds."""
    if curve == "estimate":
        side = "below" if below["direction"] != base_dir else "above"
        return "reverses direction", side
    concl = {"below": below["conclusion"], "above": above["conclusion"]}
    if base_concl != NO_CLEAR_DIFFERENCE:
        if base_concl in concl.values():
            side = "below" if concl["below"] != base_concl else "above"
            return "loses significance", side
        side = "below" if concl["below"] != NO_CLEAR_DIFFERENCE else "above"
        return "significant in the opposite direction", side
    side = "below" if concl["below"] != NO_CLEAR_DIFFERENCE else "above"
    return f"gains significance ({concl[side]})", side


def _group_sizes(study_id: str, arms: pd.DataFrame, studies: pd.DataFrame):
    """n_t, n_c and how they were obtained: n analysed, else n randomised (with their
    status), else an equal split of the analysed units over the trial's arms (an
    assumption, said so). None when none of these is known."""
    rows = arms[arms["study_id"] == study_id]
    t = rows[rows["role"] == "treatment"]
    c = rows[rows["role"] == "control"]
    if len(t) != 1 or len(c) != 1:
        return None
    t, c = t.iloc[0], c.iloc[0]
    for field, words in (("n_analysed", "n analysed"), ("n_randomised", "n randomised")):
        if field in rows.columns and pd.notna(t.get(field)) and pd.notna(c.get(field)):
            status = t.get(f"{field}_status")
            tail = f", {status}" if isinstance(status, str) and status else ""
            return (float(t[field]), float(c[field]),
                    f"{words} {float(t[field]):g}/{float(c[field]):g}{tail}", False)
    s = studies[studies["study_id"] == study_id]
    if s.empty or "units_analysed_n" not in s.columns or pd.isna(s.iloc[0]["units_analysed_n"]):
        return None
    units = float(s.iloc[0]["units_analysed_n"])
    each = units / len(rows)
    unit = {"foot": "feet", "patient": "patients"}.get(
        s.iloc[0].get("unit_of_analysis"), "units")
    return (each, each, f"assumption: {units:g} {unit} split equally over {len(rows)} arms "
            f"({each:g} each); the split is not public", True)


def thresholds_for_unpublished_trials(effects: pd.DataFrame, arms: pd.DataFrame,
                                      studies: pd.DataFrame, *,
                                      models=(("REML", False), ("REML", True)),
                                      scope: str = "running_injury",
                                      g_range: tuple[float, float] = (-3.0, 3.0),
                                      step: float = 0.001, xtol: float = 1e-10,
                                      level: float = 0.95) -> ThresholdResult:
    """:func:`threshold_crossings` for every trial of ``scope`` whose primary SMD is not
    estimable (``estimable == False``), at each window, under each (method, knha) of
    ``models`` (default REML with a Wald-type CI, and REML with Hartung–Knapp).

    The trial's group sizes come from ``arms`` (n analysed, else n randomised, with
    their status); where both are missing, the analysed units of ``studies``
    (``units_analysed_n``) are split equally over the trial's arms and the
    ``group_sizes`` column says this is an assumption (Osborne & Allison 2006: 42 feet,
    three arms). The hypothetical trial is pooled with the estimable trials of the same
    scope and window, with their SMD variance variant. Every table of the result gains
    ``study_id``, ``study``, ``window``, ``group_sizes`` and ``group_sizes_assumed``.
    A trial with no known group size at all is left out.
    """
    _require_columns(effects, _PAIR_COLUMNS + ("vtype",), "effects")
    _require_columns(arms, ("study_id", "role"), "arms")
    _require_columns(studies, ("study_id",), "studies")
    models = [(str(m), bool(h)) for m, h in models]
    if not models:
        raise ValueError("models must name at least one (method, knha) pair")
    prim = effects[(effects["measure"] == "SMD") & (effects["review_role"] == "primary")
                   & (effects["scope"] == scope) & effects["window"].isin(WINDOWS)]
    parts = {"baseline": [], "crossings": [], "stretches": [], "curve": []}
    for (sid, window), grp in prim.groupby(["study_id", "window"], sort=False):
        if grp["estimable"].astype(bool).any():
            continue
        others = prim[(prim["window"] == window) & prim["estimable"].astype(bool)]
        if others.empty:
            continue
        vtypes = set(others["vtype"])
        if len(vtypes) != 1:
            raise ValueError(f"effects: the estimable trials at {window} mix SMD variance "
                             f"variants {sorted(vtypes)}; use one")
        sizes = _group_sizes(sid, arms, studies)
        if sizes is None:
            continue
        n_t, n_c, basis, assumed = sizes
        ids = {"study_id": sid, "study": grp["study"].iloc[0], "window": window,
               "group_sizes": basis, "group_sizes_assumed": assumed}
        for method, knha in models:
            res = threshold_crossings(others["yi"].to_numpy(float),
                                      others["vi"].to_numpy(float), n_t, n_c, method=method,
                                      knha=knha, smd_vtype=others["vtype"].iloc[0],
                                      g_range=g_range, step=step, xtol=xtol, level=level)
            for key in parts:
                table = getattr(res, key)
                parts[key].append(table.assign(**ids)[list(ids) + list(table.columns)])
    out = {}
    for key, tables in parts.items():
        out[key] = (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame())
    return ThresholdResult(**out)


# --------------------------------------------------------------------------- findings


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}".replace("-", "\u2212")


def _units_text(units: str) -> str:
    return f" {units}" if units else ""


def catchup_findings(rho_table: pd.DataFrame, shares: pd.DataFrame,
                     equivalence: pd.DataFrame,
                     thresholds: ThresholdResult | None = None, *,
                     units: Mapping[str, str] | None = None) -> list[str]:
    """Plain-language sentences written from the result tables (no typed numbers).

    ``rho_table`` from :func:`rho_thresholds`, ``shares`` from :func:`share_remaining`,
    ``equivalence`` from :func:`equivalence_at_one_month`, ``thresholds`` from
    :func:`thresholds_for_unpublished_trials`; ``units`` maps outcome_id → units for
    the MD sentences. Sentences follow the rows, so they stay true when trials are
    added or removed.
    """
    units = dict(units or {})
    out: list[str] = []
    for (sid, oid), grp in rho_table.groupby(["study_id", "outcome_id"], sort=False):
        study = grp["study"].iloc[0]
        md = grp[grp["measure"] == "MD"]
        smd = grp[grp["measure"] == "SMD"]
        if len(md):
            r = md.iloc[0]
            u = _units_text(units.get(oid, ""))
            out.append(
                f"{study} ({r['outcome']}): the mean difference went from "
                f"{_fmt(r['effect_end_of_treatment'], 1)}{u} at the end of treatment to "
                f"{_fmt(r['effect_one_month'], 1)}{u} at about one month (change "
                f"{_fmt(r['change'], 1)}{u}). The trials do not report the within-patient "
                f"correlation rho between the two time points; with the "
                f"{COVARIANCE_WORDS[r['covariance']]}, {r['statement']}.")
        if len(smd):
            r = smd.iloc[0]
            out.append(
                f"{study}, as SMD: {_fmt(r['effect_end_of_treatment'])} to "
                f"{_fmt(r['effect_one_month'])} (change {_fmt(r['change'])}); with the "
                f"{COVARIANCE_WORDS[r['covariance']]}, {r['statement']} (a change in the "
                "SMD also reflects any change in the SD between the time points).")
        sh = shares[(shares["study_id"] == sid) & (shares["outcome_id"] == oid)]
        if len(sh):
            parts = [f"rho {r['rho']:g}: {r['interval']}" for _, r in sh.iterrows()]
            first = sh.iloc[0]
            out.append(
                f"{study}: the share of the end-of-treatment difference left at one month is "
                f"{_fmt(first['ratio'])} (Fieller {first['level']:.0%} CI, "
                + "; ".join(parts) + ").")
    for _, r in equivalence.iterrows():
        u = _units_text(r["units"]) if r["measure"] == "MD" else " SD"
        head = (f"{r['study']} at about one month: {r['measure']} {_fmt(r['estimate'])}{u}, "
                f"{1 - 2 * r['alpha']:.0%} CI {_fmt(r['ci_lb'])} to {_fmt(r['ci_ub'])}")
        if pd.notna(r["margin"]):
            verdict = ("equivalence is shown" if bool(r["equivalent"])
                       else "equivalence is not shown")
            out.append(f"{head}; against a margin of \u00b1{_fmt(r['margin'], 1)}{u} "
                       f"({r['margin_source']}), {verdict} (TOST p = {r['p_tost']:.3f}).")
        else:
            out.append(f"{head}; no accepted margin is given: equivalence would be shown only "
                       f"for a margin wider than \u00b1{_fmt(r['smallest_margin'])}{u}. A "
                       "non-significant difference alone does not show that none remains.")
    if thresholds is not None and len(thresholds.baseline):
        out.extend(_threshold_sentences(thresholds))
    return out


def _ranges_text(ranges: list[tuple[float, float, bool, bool]]) -> str:
    """'below −0.78', 'above 2.18', 'between 0.21 and 0.29', joined by 'or'."""
    parts = []
    for a, b, a_end, b_end in ranges:
        if a_end and b_end:
            parts.append("any value searched")
        elif a_end:
            parts.append(f"below {_fmt(b, 3)}")
        elif b_end:
            parts.append(f"above {_fmt(a, 3)}")
        else:
            parts.append(f"between {_fmt(a, 3)} and {_fmt(b, 3)}")
    return " or ".join(parts)


def _merged(stretches: pd.DataFrame, mask) -> list[tuple[float, float, bool, bool]]:
    """Adjacent stretches where ``mask`` holds, merged into ranges."""
    ranges: list[list] = []
    for (_, r), keep in zip(stretches.iterrows(), mask):
        if not keep:
            continue
        if ranges and ranges[-1][1] == r["g_from"]:
            ranges[-1][1] = r["g_to"]
            ranges[-1][3] = bool(r["g_to_is_search_end"])
        else:
            ranges.append([r["g_from"], r["g_to"], bool(r["g_from_is_search_end"]),
                           bool(r["g_to_is_search_end"])])
    return [tuple(x) for x in ranges]


def _threshold_sentences(thresholds: ThresholdResult) -> list[str]:
    """One sentence per unpublished trial × window × model, from the stretches."""
    out = []
    keys = ["study_id", "window", "method", "knha"]
    for _, b in thresholds.baseline.iterrows():
        sel = thresholds.stretches
        for key in keys:
            sel = sel[sel[key] == b[key]]
        sel = sel.sort_values("g_from")
        where = (f"{b['study']} at {_WINDOW_WORDS.get(b['window'], b['window'])} "
                 f"({b['model']}; group sizes: {b['group_sizes']})")
        now = (f"the estimable trials alone give a pooled SMD of {_fmt(b['estimate'])} "
               f"[{_fmt(b['ci_lb'])}, {_fmt(b['ci_ub'])}], {b['conclusion']}")
        searched = f"SMDs from {_fmt(b['g_low'], 1)} to {_fmt(b['g_high'], 1)} searched"
        base = b["conclusion"]
        items = []
        concl = sel["conclusion"].to_numpy()
        if base == NO_CLEAR_DIFFERENCE:
            found = False
            for side in (FAVOURS_TREATMENT, FAVOURS_CONTROL):
                r = _merged(sel, concl == side)
                if r:
                    found = True
                    items.append(f"make the pooled result significant ({side}) if its SMD "
                                 f"were {_ranges_text(r)}")
            if not found:
                items.append("not make the pooled result significant at any SMD searched")
        else:
            r = _merged(sel, concl == NO_CLEAR_DIFFERENCE)
            items.append(f"make the pooled result lose significance if its SMD were "
                         f"{_ranges_text(r)}" if r else
                         "keep the pooled result significant at every SMD searched")
            opposite = FAVOURS_CONTROL if base == FAVOURS_TREATMENT else FAVOURS_TREATMENT
            r = _merged(sel, concl == opposite)
            if r:
                items.append(f"make it significant in the opposite direction ({opposite}) "
                             f"if its SMD were {_ranges_text(r)}")
        r = _merged(sel, (sel["direction"] != b["direction"]).to_numpy())
        items.append(f"reverse the direction of the pooled estimate if its SMD were "
                     f"{_ranges_text(r)}" if r else
                     "not reverse the direction of the pooled estimate at any SMD searched")
        out.append(f"{where}: {now}. Added to them, this trial would " + "; ".join(items)
                   + f" ({searched}).")
    return out


# --------------------------------------------------------------------------- the review's tables


@dataclass(frozen=True, eq=False)
class CatchupResults:
    """Every catch-up result of the review, from :func:`catchup_analysis`.

    ``curve`` (:func:`change_in_effect_table`), ``roots`` (:func:`rho_thresholds`),
    ``shares`` (:func:`share_remaining`), ``equivalence`` (:func:`equivalence_at_one_month`,
    MD on each outcome's own scale), ``equivalence_smd`` (the same in SMD units),
    ``thresholds`` (:func:`thresholds_for_unpublished_trials`), ``units`` (outcome id →
    units) and ``margins`` (outcome id → (margin, source) used for the TOST).
    """

    curve: pd.DataFrame
    roots: pd.DataFrame
    shares: pd.DataFrame
    equivalence: pd.DataFrame
    equivalence_smd: pd.DataFrame
    thresholds: ThresholdResult
    units: dict
    margins: dict

    def findings(self) -> list[str]:
        """:func:`catchup_findings` of these results."""
        return catchup_findings(self.roots, self.shares, self.equivalence, self.thresholds,
                                units=self.units)


def sourced_margins(mids: pd.DataFrame) -> dict[str, tuple[float, str]]:
    """Equivalence margins that the data give with a source: outcome id → (margin, text).

    ``mids`` is the table of minimal important differences of the data package
    (``minimal_important_differences.csv``: value fields ``mid_lower`` and ``mid_upper``
    with status and source). The margin is the **lower** end of a sourced range, the
    stricter choice for showing equivalence (a smaller margin is harder to meet); the
    text names the source, its status and the whole range. An outcome without a row has
    no margin, and the analysis reports the smallest margin that would show equivalence
    instead. Never a typed number.
    """
    out: dict[str, tuple[float, str]] = {}
    if mids is None or "mid_lower" not in mids.columns:
        return out
    for _, r in mids[mids["mid_lower"].notna()].iterrows():
        lower = float(r["mid_lower"])
        upper = r.get("mid_upper")
        units = r.get("units") if isinstance(r.get("units"), str) else ""
        rng = (f"{lower:g} to {float(upper):g} {units}".strip() if pd.notna(upper)
               else f"{lower:g} {units}".strip())
        text = (f"MID {rng}, {r['mid_lower_source']} ({r['mid_lower_status']}); the lower end "
                "is used")
        out[r["outcome_id"]] = (lower, text)
    return out


def catchup_analysis(tables, *, method: str = "REML", level: float = 0.95,
                     margins: Mapping[str, tuple[float, str]] | None = None,
                     step: float = 0.001) -> CatchupResults:
    """Every catch-up result for the review's tables (:class:`analysis.trial_effects.
    ReviewTables`): change in the effect against ρ, the share remaining, equivalence at
    one month (margins from the data, :func:`sourced_margins`, unless given), and the
    thresholds for the unpublished running-injury trials under ``method`` with a
    Wald-type and with a Hartung–Knapp CI. The margins come from the data's minimal
    important differences (:func:`sourced_margins`) unless given."""
    effects = tables.effects
    units = {r["outcome_id"]: r["units"] for _, r in tables.outcomes.iterrows()
             if isinstance(r.get("units"), str)}
    if margins is None:
        margins = sourced_margins(tables.minimal_important_differences)
    recovered = getattr(tables, "p_dist", "t")
    return CatchupResults(
        curve=change_in_effect_table(effects, level=level),
        roots=rho_thresholds(effects, level=level),
        shares=share_remaining(effects, level=level),
        equivalence=equivalence_at_one_month(effects, margins=margins, units=units,
                                             recovered_dist=recovered),
        equivalence_smd=equivalence_at_one_month(effects, measure="SMD"),
        thresholds=thresholds_for_unpublished_trials(
            effects, tables.arms, tables.studies, models=((method, False), (method, True)),
            step=step, level=level),
        units=units,
        margins=dict(margins),
    )
