"""Effect sizes from arm-level data, and recovery of statistics that trials did not print.

Two halves, both stateless and vectorised (numpy arrays in, arrays out):

* Effect sizes, as metafor 3.8 ``escalc()``: :func:`mean_difference` (``"MD"``),
  :func:`hedges_g` (``"SMD"``), :func:`risk_ratio` (``"RR"``, log scale),
  :func:`odds_ratio` (``"OR"``, log scale) and :func:`risk_difference` (``"RD"``).
  Group 1 is the treatment arm and group 2 the control arm, so a positive mean
  difference means a larger value under treatment. Each returns :class:`EffectSizes`,
  which names the measure and the variance variant (``vtype``) that made it.

* Recoveries (Cochrane Handbook v6.5, section 6.5.2; Wan et al. 2014; Luo et al. 2018):
  SD from SE, SE from a confidence interval, SE of a difference from its p value, the
  pooled SD behind that SE, mean and SD from a median with range and/or quartiles, and
  event counts from a percentage. Each returns :class:`Derived`, whose ``how`` is a
  short human-readable record of how the value was obtained, for the effects table.

References
----------
Cochrane Handbook for Systematic Reviews of Interventions, version 6.5 (2024),
chapter 6, section 6.5.2 ("Obtaining standard deviations from standard errors,
confidence intervals, t statistics and P values").
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
estimators. J Educ Stat 6:107-128.
Deeks JJ, Higgins JPT (2010). Statistical algorithms in Review Manager 5.
Luo D, Wan X, Liu J, Tong T (2018). Optimally estimating the sample mean from the
sample size, median, mid-range, and/or mid-quartile range. Stat Methods Med Res
27:1785-1805.
Shi J, Luo D, Weng H, et al. (2020). Optimally estimating the sample standard deviation
from the five-number summary. Res Synth Methods 11:641-654.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
Softw 36(3). (``escalc()`` documents every formula used here.)
Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard deviation
from the sample size, median, range and/or interquartile range. BMC Med Res Methodol
14:135.
White IR, Thomas J (2005). Standardized mean differences in individually-randomized
and cluster-randomized trials, with applications to meta-analysis. Clin Trials 2:141-151.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from analysis.distributions import StudentT, norm

__all__ = [
    "EffectSizes",
    "Derived",
    "mean_difference",
    "hedges_g",
    "hedges_correction_factor",
    "risk_ratio",
    "odds_ratio",
    "risk_difference",
    "sd_from_se",
    "se_from_ci",
    "sd_from_ci",
    "se_of_difference_from_p",
    "pooled_sd_from_se_of_difference",
    "mean_from_quantiles",
    "sd_from_quantiles",
    "events_from_percent",
    "MD_VTYPES",
    "SMD_VTYPES",
]

MD_VTYPES = ("LS", "HO")
SMD_VTYPES = ("LS", "LS2", "UB", "AV", "RevMan5")
CONTINUITY_TO = ("only0", "all", "if0all", "none")


@dataclass(frozen=True, eq=False)
class EffectSizes:
    """Observed effect sizes ``yi`` with sampling variances ``vi``.

    ``measure`` is metafor's name for the effect size (``"MD"``, ``"SMD"``, ``"RR"``,
    ``"OR"``, ``"RD"``; RR and OR are on the log scale), ``vtype`` the variance variant,
    and ``description`` one sentence naming both formulas, for tables and reports.
    """

    yi: np.ndarray
    vi: np.ndarray
    measure: str
    vtype: str
    description: str

    def __len__(self) -> int:
        return int(np.size(self.yi))


@dataclass(frozen=True, eq=False)
class Derived:
    """A value recovered from what a trial reported, with the record of how.

    ``value`` is a float (scalar inputs) or an array (array inputs); ``how`` is a short
    human-readable sentence (a tuple of sentences, one per element, for array inputs);
    ``method`` is a stable keyword naming the formula (for filtering and tests), and
    ``inputs`` holds the numbers it was computed from.
    """

    value: Any
    how: Any
    method: str
    inputs: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _arrays(names: tuple[str, ...], values: tuple, func: str) -> list[np.ndarray]:
    """Broadcast inputs to float arrays of one shape; raise on non-numeric or non-finite."""
    out = []
    for name, value in zip(names, values):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{func}: {name} must be numeric, got {value!r}") from None
        out.append(arr)
    try:
        out = list(np.broadcast_arrays(*out))
    except ValueError:
        shapes = ", ".join(f"{n}{np.shape(a)}" for n, a in zip(names, out))
        raise ValueError(f"{func}: inputs have incompatible shapes: {shapes}") from None
    for name, arr in zip(names, out):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{func}: {name} is missing or not finite at position(s) {_positions(bad)}"
            )
    return [np.array(a, dtype=float) for a in out]


def _positions(mask: np.ndarray) -> str:
    idx = np.flatnonzero(np.atleast_1d(mask))
    shown = ", ".join(str(i) for i in idx[:10])
    return shown + (f" and {idx.size - 10} more" if idx.size > 10 else "")


def _check(mask: np.ndarray, func: str, message: str) -> None:
    mask = np.atleast_1d(mask)
    if mask.any():
        raise ValueError(f"{func}: {message} at position(s) {_positions(mask)}")


def _check_vtype(vtype: str, allowed: tuple[str, ...], func: str) -> None:
    if vtype not in allowed:
        raise ValueError(f"{func}: unknown vtype {vtype!r}; choose one of {', '.join(allowed)}")


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _scalar_or_array(arr: np.ndarray, scalar: bool):
    return float(arr) if scalar else arr


def _hows(template, *arrays, scalar: bool):
    """One ``how`` sentence per element (a str for scalar input)."""
    flat = [np.ravel(a) for a in arrays]
    sentences = tuple(template(*vals) for vals in zip(*flat))
    return sentences[0] if scalar else sentences


# --------------------------------------------------------------------------- continuous


def mean_difference(m1i, sd1i, n1i, m2i, sd2i, n2i, *, vtype: str = "LS") -> EffectSizes:
    """Raw mean difference ``yi = m1i - m2i`` (metafor ``escalc(measure="MD")``).

    Variance variants (``vtype``):

    * ``"LS"`` (default, as metafor): ``vi = sd1i²/n1i + sd2i²/n2i``, which does not
      assume equal variances in the two arms (metafor's ``"UB"`` gives the same).
    * ``"HO"``: ``vi = sp² (1/n1i + 1/n2i)`` with the pooled variance
      ``sp² = ((n1i-1) sd1i² + (n2i-1) sd2i²) / (n1i + n2i - 2)`` (homoscedastic).

    Raises ``ValueError`` for non-finite input, negative SDs or group sizes <= 0
    (and group sizes < 2 in both arms for ``"HO"``, where ``sp`` is undefined).
    """
    func = "mean_difference"
    _check_vtype(vtype, MD_VTYPES, func)
    m1, s1, n1, m2, s2, n2 = _arrays(
        ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), (m1i, sd1i, n1i, m2i, sd2i, n2i), func
    )
    _check((s1 < 0) | (s2 < 0), func, "a standard deviation is negative")
    _check((n1 <= 0) | (n2 <= 0), func, "a group size is <= 0")
    yi = m1 - m2
    if vtype == "LS":
        vi = s1**2 / n1 + s2**2 / n2
        desc = "mean difference m1 - m2; variance sd1²/n1 + sd2²/n2 (metafor vtype LS)"
    else:
        _check(n1 + n2 - 2 <= 0, func, "pooled SD needs n1i + n2i > 2")
        sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
        vi = sp2 * (1 / n1 + 1 / n2)
        desc = "mean difference m1 - m2; variance sp²(1/n1 + 1/n2), pooled SD (metafor vtype HO)"
    return EffectSizes(yi, vi, "MD", vtype, desc)


def hedges_correction_factor(df, *, exact: bool = True) -> np.ndarray:
    """Small-sample correction ``J(m)`` for the standardised mean difference, ``m = df``.

    ``exact=True`` (metafor's ``.cmicalc``, Hedges 1981):
    ``J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))``, computed on the log scale with
    ``scipy.special.gammaln``; undefined (``nan``) for ``m <= 1``.
    ``exact=False``: Hedges' approximation ``J(m) = 1 - 3/(4m - 1)``, which with
    ``m = N - 2`` is RevMan 5's ``1 - 3/(4N - 9)``.
    """
    m = np.asarray(df, dtype=float)
    if not exact:
        return 1 - 3 / (4 * m - 1)
    safe = np.where(m > 1, m, 2.0)
    j = np.exp(special.gammaln(safe / 2) - 0.5 * np.log(safe / 2) - special.gammaln((safe - 1) / 2))
    return np.where(m > 1, j, np.nan)


def hedges_g(m1i, sd1i, n1i, m2i, sd2i, n2i, *, vtype: str = "LS") -> EffectSizes:
    """Bias-corrected standardised mean difference, Hedges' g (metafor ``measure="SMD"``).

    ``d = (m1i - m2i) / sp`` with the pooled SD
    ``sp = sqrt(((n1i-1) sd1i² + (n2i-1) sd2i²) / (n1i + n2i - 2))``, and
    ``g = J(m) d`` with ``m = n1i + n2i - 2`` and the *exact* gamma-function correction
    ``J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))`` (Hedges 1981; metafor), not the
    approximation ``1 - 3/(4m - 1)``. With ``N = n1i + n2i`` and ``ñ = n1i n2i / N``
    (so ``1/ñ = 1/n1i + 1/n2i``), the variance variants (``vtype``) are:

    * ``"LS"`` (default, metafor's large-sample variance): ``vi = 1/ñ + g² / (2N)``.
    * ``"LS2"`` (metafor): ``vi = J² (1/ñ + d² / (2N))``.
    * ``"UB"`` (unbiased estimate of the sampling variance; Hedges 1983, White &
      Thomas 2005): ``vi = 1/ñ + (1 - (m - 2) / (m J²)) g²``. This is also what R's meta
      computes with ``method.smd = "Hedges", exact.smd = TRUE``.
    * ``"AV"`` (metafor): ``vi = 1/ñ + ḡ² / (2N)`` with ``ḡ`` the N-weighted mean of
      ``g`` over **all studies passed in one call**, so each vi depends on the batch.
    * ``"RevMan5"``: RevMan 5 (Deeks & Higgins 2010), also R meta's default
      (``exact.smd = FALSE``) and ``statsmodels.stats.meta_analysis.effectsize_smd``,
      which is called here: ``g' = (1 - 3/(4N - 9)) d`` and
      ``vi = 1/ñ + g'² / (2 (N - 3.94))``. Note that this variant changes ``yi`` as well:
      RevMan 5's ``g'`` uses the approximate correction factor, which differs from the
      exact ``J`` by less than 0.02% for N >= 10 (about 6e-5 relative at N = 20).

    For the other four variants, ``yi`` agrees with statsmodels' ``effectsize_smd``
    only up to that approximation, and ``vi`` differs by the variance formula.

    Raises ``ValueError`` for non-finite input, SDs <= 0, or a group size < 2
    (a pooled SD needs at least two observations per arm).
    """
    func = "hedges_g"
    _check_vtype(vtype, SMD_VTYPES, func)
    m1, s1, n1, m2, s2, n2 = _arrays(
        ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), (m1i, sd1i, n1i, m2i, sd2i, n2i), func
    )
    _check((s1 <= 0) | (s2 <= 0), func, "a standard deviation is <= 0")
    _check((n1 < 2) | (n2 < 2), func, "a group size is < 2")
    big_n = n1 + n2
    inv_ntilde = 1 / n1 + 1 / n2
    if vtype == "RevMan5":
        from statsmodels.stats.meta_analysis import effectsize_smd

        yi, vi = effectsize_smd(m1, s1, n1, m2, s2, n2)
        desc = (
            "Hedges' g as RevMan 5: (1 - 3/(4N - 9)) d, variance 1/n1 + 1/n2 + g²/(2(N - 3.94))"
        )
        return EffectSizes(np.asarray(yi, float), np.asarray(vi, float), "SMD", vtype, desc)
    m = big_n - 2
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
    d = (m1 - m2) / sp
    j = hedges_correction_factor(m)
    g = j * d
    if vtype == "LS":
        vi = inv_ntilde + g**2 / (2 * big_n)
        var_text = "1/n1 + 1/n2 + g²/(2N) (metafor vtype LS)"
    elif vtype == "LS2":
        vi = j**2 * (inv_ntilde + d**2 / (2 * big_n))
        var_text = "J²(1/n1 + 1/n2 + d²/(2N)) (metafor vtype LS2)"
    elif vtype == "UB":
        vi = inv_ntilde + (1 - (m - 2) / (m * j**2)) * g**2
        var_text = "1/n1 + 1/n2 + (1 - (m-2)/(m J²)) g², unbiased (metafor vtype UB)"
    else:  # "AV"
        g_bar = np.sum(big_n * g) / np.sum(big_n)
        vi = inv_ntilde + g_bar**2 / (2 * big_n)
        var_text = "1/n1 + 1/n2 + mean(g)²/(2N), N-weighted mean over the batch (metafor vtype AV)"
    desc = f"Hedges' g with exact correction J(N-2); variance {var_text}"
    return EffectSizes(g, vi, "SMD", vtype, desc)


# --------------------------------------------------------------------------- binary


def _two_by_two(ai, n1i, ci, n2i, add: float, to: str, func: str):
    if to not in CONTINUITY_TO:
        raise ValueError(f"{func}: unknown to={to!r}; choose one of {', '.join(CONTINUITY_TO)}")
    a, n1, c, n2 = _arrays(("ai", "n1i", "ci", "n2i"), (ai, n1i, ci, n2i), func)
    add = float(add)
    if not math.isfinite(add) or add < 0:
        raise ValueError(f"{func}: add must be a finite number >= 0, got {add!r}")
    _check((a < 0) | (c < 0), func, "an event count is negative")
    _check((n1 <= 0) | (n2 <= 0), func, "a group size is <= 0")
    _check((a > n1) | (c > n2), func, "an event count is larger than its group size")
    b, d = n1 - a, n2 - c
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "all":
        inc = np.ones_like(a, dtype=bool)
    elif to == "only0":
        inc = zero
    elif to == "if0all":
        inc = np.full_like(a, zero.any(), dtype=bool)
    else:
        inc = np.zeros_like(a, dtype=bool)
    a, b, c, d = (x + add * inc for x in (a, b, c, d))
    return a, b, c, d, zero, inc


def _continuity_text(add: float, to: str) -> str:
    if to == "none" or add == 0:
        return "no continuity correction"
    where = {
        "only0": "to every cell of tables with a zero cell",
        "all": "to every cell of every table",
        "if0all": "to every cell of every table if any table has a zero cell",
    }[to]
    return f"{add:g} added {where} (metafor add={add:g}, to='{to}')"


def risk_ratio(ai, n1i, ci, n2i, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Log risk ratio (metafor ``escalc(measure="RR")``).

    ``yi = log((ai/n1i) / (ci/n2i))``, ``vi = 1/ai - 1/n1i + 1/ci - 1/n2i``, with ``ai``
    events of ``n1i`` under treatment and ``ci`` of ``n2i`` under control. Continuity
    correction as metafor's defaults: ``add = 1/2`` is added to all four cells
    (so ``n`` grows by ``2 add``) of tables with a zero cell (``to="only0"``); the other
    choices are ``"all"``, ``"if0all"`` and ``"none"``. Studies with no events in either
    arm are kept and corrected (metafor ``drop00=FALSE``). With ``to="none"``, a zero
    cell raises ``ValueError`` instead of producing an infinite value.
    """
    func = "risk_ratio"
    a, b, c, d, zero, _ = _two_by_two(ai, n1i, ci, n2i, add, to, func)
    _check((a == 0) | (c == 0), func, "zero events without continuity correction give log(0)")
    n1, n2 = a + b, c + d
    yi = np.log(a / n1) - np.log(c / n2)
    vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
    desc = f"log risk ratio; variance 1/a - 1/n1 + 1/c - 1/n2; {_continuity_text(add, to)}"
    return EffectSizes(yi, vi, "RR", "LS", desc)


def odds_ratio(ai, n1i, ci, n2i, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Log odds ratio (metafor ``escalc(measure="OR")``).

    ``yi = log((a d) / (b c))``, ``vi = 1/a + 1/b + 1/c + 1/d`` (Woolf), where
    ``b = n1i - ai`` and ``d = n2i - ci``. Continuity correction as :func:`risk_ratio`
    (metafor defaults ``add = 1/2``, ``to = "only0"``).
    """
    func = "odds_ratio"
    a, b, c, d, zero, _ = _two_by_two(ai, n1i, ci, n2i, add, to, func)
    _check((a == 0) | (b == 0) | (c == 0) | (d == 0), func,
           "a zero cell without continuity correction gives log(0)")
    yi = np.log(a) - np.log(b) - np.log(c) + np.log(d)
    vi = 1 / a + 1 / b + 1 / c + 1 / d
    desc = f"log odds ratio; variance 1/a + 1/b + 1/c + 1/d; {_continuity_text(add, to)}"
    return EffectSizes(yi, vi, "OR", "LS", desc)


def risk_difference(ai, n1i, ci, n2i, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Risk difference (metafor ``escalc(measure="RD")``, ``vtype="LS"``).

    ``yi = p1 - p2`` and ``vi = p1(1-p1)/n1 + p2(1-p2)/n2`` with ``p1 = a/n1``,
    ``p2 = c/n2``. As in metafor, the continuity correction (defaults ``add = 1/2``,
    ``to = "only0"``) is applied to the RD as well; pass ``to="none"`` for the
    uncorrected risk difference, which is finite even with zero cells (but has a zero
    variance when both arms have 0% or 100% events, which raises ``ValueError``).
    """
    func = "risk_difference"
    a, b, c, d, zero, _ = _two_by_two(ai, n1i, ci, n2i, add, to, func)
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    yi = p1 - p2
    vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    _check(vi <= 0, func, "the variance is 0 (0% or 100% events in both arms)")
    desc = f"risk difference; variance p1(1-p1)/n1 + p2(1-p2)/n2; {_continuity_text(add, to)}"
    return EffectSizes(yi, vi, "RD", "LS", desc)


# --------------------------------------------------------------------------- recoveries


def _quantile(level: float, dist: str, df, func: str):
    if not 0 < level < 1:
        raise ValueError(f"{func}: level must be between 0 and 1, got {level!r}")
    if dist == "normal":
        return norm.ppf((1 + level) / 2)
    if dist == "t":
        return StudentT(df).ppf((1 + level) / 2)
    raise ValueError(f"{func}: unknown dist {dist!r}; choose 'normal' or 't'")


def sd_from_se(se, n) -> Derived:
    """SD of a group mean from its standard error: ``SD = SE sqrt(n)``.

    Cochrane Handbook v6.5, section 6.5.2.2. Requires ``se > 0`` and ``n >= 1``.
    """
    func = "sd_from_se"
    scalar = np.ndim(se) == 0 and np.ndim(n) == 0
    s, nn = _arrays(("se", "n"), (se, n), func)
    _check(s <= 0, func, "se is <= 0")
    _check(nn < 1, func, "n is < 1")
    sd = s * np.sqrt(nn)
    how = _hows(lambda v, s_, n_: f"SD = SE × √n = {_fmt(s_)} × √{_fmt(n_)} = {_fmt(v)}",
                sd, s, nn, scalar=scalar)
    return Derived(_scalar_or_array(sd, scalar), how, "sd_from_se", {"se": se, "n": n})


def se_from_ci(lower, upper, level: float = 0.95, dist: str = "normal", n=None, df=None) -> Derived:
    """Standard error from a symmetric confidence interval: ``SE = (upper - lower) / (2 q)``.

    ``q`` is the ``(1 + level)/2`` quantile of the standard normal (``dist="normal"``,
    3.92 = 2 × 1.96 for 95%) or of Student's t (``dist="t"``). Cochrane Handbook v6.5,
    sections 6.5.2.2 (one group mean: t with ``n - 1`` df, pass ``n``) and 6.5.2.3
    (a difference of two means: t with ``n1 + n2 - 2`` df, pass ``df``). The Handbook
    advises t for small samples (say under 60 per group) when the CI was based on t.
    For ratios, pass the log of the limits.
    """
    func = "se_from_ci"
    scalar = np.ndim(lower) == 0 and np.ndim(upper) == 0
    lo, up = _arrays(("lower", "upper"), (lower, upper), func)
    _check(up <= lo, func, "upper limit is not above lower limit")
    df_text = ""
    if dist == "t":
        if (n is None) == (df is None):
            raise ValueError(f"{func}: dist='t' needs exactly one of n (df = n - 1) or df")
        dfa = np.asarray(n, float) - 1 if df is None else np.asarray(df, float)
        if not np.all(np.isfinite(dfa)) or np.any(dfa < 1):
            raise ValueError(f"{func}: degrees of freedom must be >= 1, got {dfa}")
        if df is None:
            df_text = " with df = n - 1"
        elif np.ndim(df) == 0:
            df_text = f" with {_fmt(float(df))} df"
        else:
            df_text = " with the given df"
    else:
        dfa = None
    q = _quantile(level, dist, dfa, func)
    se = (up - lo) / (2 * q)
    qb = np.broadcast_to(q, se.shape)
    how = _hows(
        lambda v, l_, u_, q_: (
            f"SE = (upper - lower) / (2 × {q_:.4f}) from {level:.0%} CI {_fmt(l_)} to {_fmt(u_)}"
            f" ({dist}{df_text}) = {_fmt(v)}"
        ),
        se, lo, up, qb, scalar=scalar,
    )
    inputs = {"lower": lower, "upper": upper, "level": level, "dist": dist, "n": n, "df": df}
    return Derived(_scalar_or_array(se, scalar), how, f"se_from_ci_{dist}", inputs)


def sd_from_ci(lower, upper, n, level: float = 0.95, dist: str = "normal") -> Derived:
    """SD of one group from the CI of its mean: ``SD = sqrt(n) (upper - lower) / (2 q)``.

    Cochrane Handbook v6.5, section 6.5.2.2: ``q`` is 1.96 for a 95% CI
    (``dist="normal"``) or, for small samples, the t quantile with ``n - 1`` df
    (``dist="t"``).
    """
    func = "sd_from_ci"
    se = se_from_ci(lower, upper, level=level, dist=dist, n=n if dist == "t" else None)
    scalar = np.ndim(lower) == 0 and np.ndim(upper) == 0 and np.ndim(n) == 0
    (nn,) = _arrays(("n",), (n,), func)
    _check(nn < 2, func, "n is < 2")
    sd = np.asarray(se.value) * np.sqrt(nn)
    how = _hows(lambda v, h, n_: f"SD = SE × √n = {_fmt(v)}, with n = {_fmt(n_)} and {h}",
                sd, np.asarray(se.how, dtype=object), nn, scalar=scalar)
    inputs = {"lower": lower, "upper": upper, "n": n, "level": level, "dist": dist}
    return Derived(_scalar_or_array(sd, scalar), how, f"sd_from_ci_{dist}", inputs)


def se_of_difference_from_p(mean_difference, p, n1, n2, *, dist: str = "t") -> Derived:
    """SE of a mean difference from its two-sided p value: ``SE = |MD| / q``.

    ``q`` is the ``1 - p/2`` quantile of Student's t with ``n1 + n2 - 2`` df
    (``dist="t"``, default, as the Cochrane Handbook v6.5 section 6.5.2.3 advises when
    the p value came from a t test) or of the standard normal (``dist="normal"``).
    Requires ``0 < p < 1`` and a non-zero mean difference. An exact p reported as an
    inequality ("p < 0.05") cannot be used.
    """
    func = "se_of_difference_from_p"
    scalar = all(np.ndim(x) == 0 for x in (mean_difference, p, n1, n2))
    md, pp, a, b = _arrays(("mean_difference", "p", "n1", "n2"), (mean_difference, p, n1, n2), func)
    _check((pp <= 0) | (pp >= 1), func, "p must be strictly between 0 and 1")
    _check(md == 0, func, "a mean difference of 0 cannot give p < 1")
    _check((a < 1) | (b < 1) | (a + b < 3), func, "group sizes must be >= 1 with n1 + n2 >= 3")
    if dist == "t":
        q = StudentT(a + b - 2).isf(pp / 2)
    elif dist == "normal":
        q = norm.isf(pp / 2)
    else:
        raise ValueError(f"{func}: unknown dist {dist!r}; choose 't' or 'normal'")
    se = np.abs(md) / q
    if dist == "t":
        tmpl = lambda v, p_, a_, b_: (  # noqa: E731
            f"SE of the difference recovered from p = {p_:g} (two-sided), t with "
            f"{_fmt(a_ + b_ - 2)} df, n = {_fmt(a_)}/{_fmt(b_)}: {_fmt(v)}"
        )
    else:
        tmpl = lambda v, p_, a_, b_: (  # noqa: E731
            f"SE of the difference recovered from p = {p_:g} (two-sided), normal, "
            f"n = {_fmt(a_)}/{_fmt(b_)}: {_fmt(v)}"
        )
    how = _hows(tmpl, se, pp, a, b, scalar=scalar)
    inputs = {"mean_difference": mean_difference, "p": p, "n1": n1, "n2": n2, "dist": dist}
    return Derived(_scalar_or_array(se, scalar), how, f"se_from_p_{dist}", inputs)


def pooled_sd_from_se_of_difference(se, n1, n2) -> Derived:
    """Pooled within-group SD from the SE of a mean difference.

    ``SD = SE / sqrt(1/n1 + 1/n2)`` (Cochrane Handbook v6.5, section 6.5.2.3); the
    result is used as the SD of both arms.
    """
    func = "pooled_sd_from_se_of_difference"
    scalar = all(np.ndim(x) == 0 for x in (se, n1, n2))
    s, a, b = _arrays(("se", "n1", "n2"), (se, n1, n2), func)
    _check(s <= 0, func, "se is <= 0")
    _check((a < 1) | (b < 1), func, "a group size is < 1")
    sd = s / np.sqrt(1 / a + 1 / b)
    how = _hows(
        lambda v, s_, a_, b_: (
            f"pooled SD = SE / √(1/n1 + 1/n2) = {_fmt(s_)} / √(1/{_fmt(a_)} + 1/{_fmt(b_)})"
            f" = {_fmt(v)}"
        ),
        sd, s, a, b, scalar=scalar,
    )
    return Derived(_scalar_or_array(sd, scalar), how, "pooled_sd_from_se",
                   {"se": se, "n1": n1, "n2": n2})


def _wan_xi(n):
    """Wan et al. 2014 eq. 7: ``ξ(n) = 2 Φ⁻¹((n - 0.375) / (n + 0.25))``."""
    return 2 * norm.ppf((n - 0.375) / (n + 0.25))


def _wan_eta(n):
    """Wan et al. 2014 eq. 15: ``η(n) = 2 Φ⁻¹((0.75 n - 0.125) / (n + 0.25))``."""
    return 2 * norm.ppf((0.75 * n - 0.125) / (n + 0.25))


def _quantile_scenario(n, min, q1, median, q3, max, func: str, need_median: bool):
    given = {k: v for k, v in dict(min=min, q1=q1, median=median, q3=q3, max=max).items()
             if v is not None}
    has = set(given)
    if need_median and "median" not in has:
        raise ValueError(f"{func}: the median is required")
    core = has - {"median"}
    if core == {"min", "max"}:
        scenario = "S1"
    elif core == {"min", "q1", "q3", "max"}:
        scenario = "S2"
    elif core == {"q1", "q3"}:
        scenario = "S3"
    else:
        raise ValueError(
            f"{func}: give min and max (S1), min, q1, q3 and max (S2), or q1 and q3 (S3);"
            f" got {', '.join(sorted(has)) or 'none'}"
        )
    names = ("n",) + tuple(given)
    arrays = _arrays(names, (n,) + tuple(given.values()), func)
    nn = arrays[0]
    vals = dict(zip(names[1:], arrays[1:]))
    _check(nn < 5, func, "n is < 5 (the estimators need n >= 5, as metafor's conv.fivenum)")
    order = [vals[k] for k in ("min", "q1", "median", "q3", "max") if k in vals]
    for lo, hi in zip(order, order[1:]):
        _check(lo > hi, func, "the values are not ordered min <= q1 <= median <= q3 <= max")
    scalar = all(np.ndim(v) == 0 for v in (n, *given.values()))
    return scenario, nn, vals, scalar


_QUANTILE_TEXT = {
    "S1": lambda v: f"median {_fmt(v['median'])}, range {_fmt(v['min'])} to {_fmt(v['max'])}",
    "S2": lambda v: (f"median {_fmt(v['median'])}, IQR {_fmt(v['q1'])} to {_fmt(v['q3'])},"
                     f" range {_fmt(v['min'])} to {_fmt(v['max'])}"),
    "S3": lambda v: f"median {_fmt(v['median'])}, IQR {_fmt(v['q1'])} to {_fmt(v['q3'])}",
}


def mean_from_quantiles(n, *, median=None, min=None, q1=None, q3=None, max=None,
                        method: str = "luo2018") -> Derived:
    """Sample mean estimated from the median with the range and/or quartiles.

    The scenario is read from which values are given: S1 = {min, median, max},
    S2 = {min, q1, median, q3, max}, S3 = {q1, median, q3} (Wan et al. 2014 call these
    C1, C2, C3). ``method="luo2018"`` (default; Luo et al. 2018, eqs. 7, 15, 11, the
    estimators metafor's ``conv.fivenum`` uses by default):

    * S1: ``w = 4 / (4 + n^0.75)``, mean = ``w (min + max)/2 + (1 - w) median``
    * S2: ``w1 = 2.2 / (2.2 + n^0.75)``, ``w2 = 0.7 - 0.72 / n^0.55``,
      mean = ``w1 (min + max)/2 + w2 (q1 + q3)/2 + (1 - w1 - w2) median``
    * S3: ``w = 0.7 + 0.39 / n``, mean = ``w (q1 + q3)/2 + (1 - w) median``

    ``method="wan2014"`` (Wan et al. 2014, eqs. 2, 10, 14): S1 ``(min + 2 median + max)/4``,
    S2 ``(min + 2 q1 + 2 median + 2 q3 + max)/8``, S3 ``(q1 + median + q3)/3``.

    All assume a roughly normal distribution; for clearly skewed data they are biased
    (metafor's ``conv.fivenum`` tests for skewness first; this function does not).
    Requires ``n >= 5`` and ordered values.
    """
    func = "mean_from_quantiles"
    if method not in ("luo2018", "wan2014"):
        raise ValueError(f"{func}: unknown method {method!r}; choose 'luo2018' or 'wan2014'")
    scenario, nn, v, scalar = _quantile_scenario(n, min, q1, median, q3, max, func, True)
    if method == "luo2018":
        if scenario == "S1":
            w = 4 / (4 + nn**0.75)
            mean = w * (v["min"] + v["max"]) / 2 + (1 - w) * v["median"]
        elif scenario == "S2":
            w1 = 2.2 / (2.2 + nn**0.75)
            w2 = 0.7 - 0.72 / nn**0.55
            mean = (w1 * (v["min"] + v["max"]) / 2 + w2 * (v["q1"] + v["q3"]) / 2
                    + (1 - w1 - w2) * v["median"])
        else:
            w = 0.7 + 0.39 / nn
            mean = w * (v["q1"] + v["q3"]) / 2 + (1 - w) * v["median"]
        cite = "Luo et al. 2018"
    else:
        if scenario == "S1":
            mean = (v["min"] + 2 * v["median"] + v["max"]) / 4
        elif scenario == "S2":
            mean = (v["min"] + 2 * v["q1"] + 2 * v["median"] + 2 * v["q3"] + v["max"]) / 8
        else:
            mean = (v["q1"] + v["median"] + v["q3"]) / 3
        cite = "Wan et al. 2014"
    keys = list(v)
    how = _hows(
        lambda m_, n_, *vals: (
            f"mean {_fmt(m_)} estimated from {_QUANTILE_TEXT[scenario](dict(zip(keys, vals)))},"
            f" n = {_fmt(n_)} ({cite}, scenario {scenario})"
        ),
        mean, nn, *[v[k] for k in keys], scalar=scalar,
    )
    inputs = {"n": n, "min": min, "q1": q1, "median": median, "q3": q3, "max": max}
    return Derived(_scalar_or_array(mean, scalar), how, f"mean_{method}_{scenario}", inputs)


def sd_from_quantiles(n, *, min=None, q1=None, median=None, q3=None, max=None,
                      method: str = "wan2014") -> Derived:
    """Sample SD estimated from the range and/or the interquartile range (normal data).

    With ``ξ(n) = 2 Φ⁻¹((n - 0.375)/(n + 0.25))`` and
    ``η(n) = 2 Φ⁻¹((0.75 n - 0.125)/(n + 0.25))`` (Wan et al. 2014):

    * S1 {min, max}: ``SD = (max - min) / ξ(n)`` (eq. 9)
    * S3 {q1, q3}: ``SD = (q3 - q1) / η(n)`` (eq. 16; η → 1.349 as n grows, the
      Cochrane Handbook's "IQR / 1.35")
    * S2 {min, q1, q3, max}: ``method="wan2014"`` (default)
      ``SD = ((max - min)/ξ(n) + (q3 - q1)/η(n)) / 2`` (eq. 13), or ``method="shi2020"``
      (Shi et al. 2020, eq. 10; metafor's ``conv.fivenum`` default for S2)
      ``SD = w (max - min)/ξ(n) + (1 - w)(q3 - q1)/η(n)``, ``w = 1 / (1 + 0.07 n^0.6)``.

    The median is not used but, if given, is checked for order. Requires ``n >= 5``.
    """
    func = "sd_from_quantiles"
    if method not in ("wan2014", "shi2020"):
        raise ValueError(f"{func}: unknown method {method!r}; choose 'wan2014' or 'shi2020'")
    scenario, nn, v, scalar = _quantile_scenario(n, min, q1, median, q3, max, func, False)
    if method == "shi2020" and scenario != "S2":
        raise ValueError(f"{func}: method 'shi2020' is for S2 (min, q1, q3, max) only")
    if scenario == "S1":
        sd = (v["max"] - v["min"]) / _wan_xi(nn)
        text = lambda e: f"range {_fmt(e['min'])} to {_fmt(e['max'])}"  # noqa: E731
        cite = "Wan et al. 2014, eq. 9"
    elif scenario == "S3":
        sd = (v["q3"] - v["q1"]) / _wan_eta(nn)
        text = lambda e: f"IQR {_fmt(e['q1'])} to {_fmt(e['q3'])}"  # noqa: E731
        cite = "Wan et al. 2014, eq. 16"
    else:
        by_range = (v["max"] - v["min"]) / _wan_xi(nn)
        by_iqr = (v["q3"] - v["q1"]) / _wan_eta(nn)
        if method == "wan2014":
            sd = (by_range + by_iqr) / 2
            cite = "Wan et al. 2014, eq. 13"
        else:
            w = 1 / (1 + 0.07 * nn**0.6)
            sd = w * by_range + (1 - w) * by_iqr
            cite = "Shi et al. 2020, eq. 10"
        text = lambda e: (  # noqa: E731
            f"range {_fmt(e['min'])} to {_fmt(e['max'])} and IQR {_fmt(e['q1'])} to {_fmt(e['q3'])}"
        )
    keys = list(v)
    how = _hows(
        lambda s_, n_, *vals: (
            f"SD {_fmt(s_)} estimated from {text(dict(zip(keys, vals)))}, n = {_fmt(n_)} ({cite})"
        ),
        sd, nn, *[v[k] for k in keys], scalar=scalar,
    )
    inputs = {"n": n, "min": min, "q1": q1, "median": median, "q3": q3, "max": max}
    return Derived(_scalar_or_array(sd, scalar), how, f"sd_{method}_{scenario}", inputs)


def _decimals_of(value: float) -> int:
    text = repr(float(value))
    if "e" in text or "E" in text:
        raise ValueError(f"cannot read the reported precision of {value!r}; pass decimals")
    frac = text.split(".")[1].rstrip("0") if "." in text else ""
    return len(frac)


def events_from_percent(percent, n, *, decimals: int | None = None) -> Derived:
    """Whole event count from a reported percentage of ``n`` participants.

    ``count = round(percent × n / 100)``, flagged as derived. The percentage is taken
    to be rounded to ``decimals`` places (by default read from the number as given:
    ``52`` or ``52.0`` → 0 places, ``51.5`` → 1 place). Every whole count ``x`` in
    ``0..n`` with ``100 x / n`` within half a unit of that last place is consistent with
    the report. Raises ``ValueError`` if no count is consistent (a typo, or a
    percentage of a different denominator), or if two counts are equally close to
    ``percent × n / 100``. When several counts are consistent (large ``n``), the
    nearest is returned and ``how`` lists the consistent range. Scalar inputs only.
    """
    func = "events_from_percent"
    if np.ndim(percent) or np.ndim(n):
        raise ValueError(f"{func}: takes one percentage and one n at a time")
    p, nn = float(percent), float(n)
    if not (math.isfinite(p) and 0 <= p <= 100):
        raise ValueError(f"{func}: percent must be between 0 and 100, got {percent!r}")
    if not (math.isfinite(nn) and nn >= 1 and nn == int(nn)):
        raise ValueError(f"{func}: n must be a whole number >= 1, got {n!r}")
    nn = int(nn)
    d = _decimals_of(p) if decimals is None else int(decimals)
    half = 0.5 * 10.0 ** (-d)
    exact = p * nn / 100
    counts = np.arange(nn + 1)
    pct = 100 * counts / nn
    consistent = counts[np.abs(pct - p) <= half + 1e-9]
    if consistent.size == 0:
        lo, hi = int(math.floor(exact)), int(math.ceil(exact))
        near = ", ".join(f"{x}/{nn} = {100 * x / nn:.{d + 2}f}%" for x in sorted({lo, min(hi, nn)}))
        raise ValueError(
            f"{func}: {p:.{d}f}% of {nn} matches no whole count at {d} decimal place(s)"
            f" (nearest: {near}); check the percentage and its denominator"
        )
    dist = np.abs(consistent - exact)
    best = consistent[dist == dist.min()]
    if best.size > 1:
        raise ValueError(
            f"{func}: {p:.{d}f}% of {nn} = {exact:g} lies halfway between counts"
            f" {best[0]} and {best[1]}; give the count"
        )
    count = int(best[0])
    how = f"{p:.{d}f}% of {nn} = {exact:.4g}, rounded to {count}"
    if consistent.size > 1:
        how += f" (counts {consistent[0]} to {consistent[-1]} are all consistent with {p:.{d}f}%)"
    inputs = {"percent": percent, "n": n, "decimals": d,
              "consistent_counts": [int(x) for x in consistent]}
    return Derived(count, how, "events_from_percent", inputs)
