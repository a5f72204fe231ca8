"""Common-effect and random-effects pooling, vectorised over many meta-analyses.

One engine, :func:`pool_batch`, fits any number of intercept-only meta-analyses at
once; :func:`pool` is the same engine on one group, and :func:`pool_arrays` the same for
programs (integer group codes in, arrays out, convergence problems returned rather than
warned, no pandas). :func:`check_control` checks iteration settings. Every formula follows R's metafor
3.8 ``rma()`` (Viechtbauer 2010, J Stat Softw 36(3); the ``rma.uni`` help page and
source), ``predict.rma`` and ``confint.rma.uni``, and is checked against them in
``tests/test_pooling_reference.py`` (reference output written by
``tests/reference/metafor_pooling.R``).

Notation (one meta-analysis, k studies): effect estimates y_i with sampling variances
v_i; weights w_i = 1/(v_i + tau2); W = sum w_i; the pooled estimate
mu = sum(w_i y_i) / W; u_i = w_i / W (the weights reported, fractions summing to 1).

Estimators of tau2 (``method``), as metafor's ``rma(method=...)``:

``"FE"`` (aliases ``"EE"``, ``"CE"``)
    Common (fixed / equal) effect, inverse-variance weights 1/v_i; no tau2.
``"DL"``
    DerSimonian & Laird (1986), method of moments:
    tau2 = max(0, (Q - (k - 1)) / (W - sum w_i^2 / W)) with w_i = 1/v_i.
``"HE"``
    Hedges (1983), unweighted method of moments:
    tau2 = max(0, (sum (y_i - ybar)^2 - (k - 1)/k * sum v_i) / (k - 1)).
``"SJ"``
    Sidik & Jonkman (2005), one step from tau2_0 = sum (y_i - ybar)^2 / k:
    tau2 = tau2_0 * Q(tau2_0) / (k - 1), with Q(t) the generalised Q below. This is
    metafor's "SJ" (not iterated).
``"SJIT"``
    Sidik & Jonkman iterated (metafor's "SJIT"): the fixed-point iteration
    tau2 <- tau2 * Q(tau2) / (k - 1) from tau2_0 (or ``tau2_init``), until the change
    is at most the stop size below.
``"PM"``
    Paule & Mandel (1982): the root of Q(tau2) = k - 1, where
    Q(t) = sum (y_i - mu_t)^2 / (v_i + t) is the generalised Q; tau2 = 0 when
    Q(0) < k - 1. Root found on [0, tau2_max], tau2_max = max(100, 10 * mad(y)^2)
    unless ``control["tau2_max"]`` is given, with R's ``uniroot`` algorithm (Brent's
    zeroin, ported and vectorised), tolerance ``tol``, at most ``maxiter`` steps.
``"ML"``, ``"REML"`` (default)
    (Restricted) maximum likelihood by Fisher scoring from the HE estimate (truncated
    at 0; or ``tau2_init``): tau2 <- tau2 + stepadj * delta with
    REML delta = (sum w_i^2 (y_i - mu)^2 - tr P) / tr(P P),
    ML   delta = (sum w_i^2 (y_i - mu)^2 - W) / sum w_i^2,
    P = diag(w) - w w' / W; the step is halved while tau2 + step < 0 (step halving);
    stop when |change| is at most the stop size below. Afterwards, as metafor, the
    (restricted) log-likelihood at tau2 = 0 is compared with the one at the estimate
    and, if it is higher by more than ``tol``, tau2 is set to 0 (with a note).

Stop size (Fisher scoring, SJIT): max(threshold, 32 eps (s + max|y_i| sqrt(s))) with
s = sum w_i / sum w_i^2, a w^2-weighted mean of v_i + tau2. metafor stops on
|change| <= threshold alone; the second term is the rounding error of one step (the
largest seen in simulations was half of it), reached only when v_i + tau2 or y_i^2
are above about 1e9. Without it, large units (tau2 ~ 1e12, where 1e-5 is below the
spacing of floats) leave the iterates alternating between neighbouring floats, and
whether the fit "converges" depends on the order of the studies. Everywhere else it
is below the threshold and changes nothing.

Standard errors of tau2 (``tau2_se``) are metafor's: DL, HE and SJ from the variance of
their quadratic forms; ML sqrt(2 / sum w_i^2); REML sqrt(2 / tr(P P)); PM and SJIT
sqrt(2 k^2 / (k - 1)) / W.

Inference on mu:

* ``knha=False``: z test, se = sqrt(1 / W), CI mu -/+ z_{1-a/2} se.
* ``knha=True``: Hartung & Knapp (2001) / Sidik & Jonkman (2002), metafor's
  ``test="knha"``: se^2 = s2 / W with s2 = sum w_i (y_i - mu)^2 / (k - 1) (s2 = 0 when
  the weighted sum of squares is <= machine epsilon, as metafor), t with k - 1 df.
  No ad hoc truncation of s2 at 1.

Heterogeneity (k >= 2): Cochran's Q = sum (y_i - mu_FE)^2 / v_i with k - 1 df and its
chi-squared p-value. The typical within-study variance is
vt = (k - 1) / (W_FE - sum w_i^2 / W_FE) with w_i = 1/v_i (Higgins & Thompson 2002).

* ``i2_method="tau2"`` (default, metafor): I2 = 100 tau2 / (vt + tau2),
  H2 = tau2 / vt + 1 for random-effects models; for the common-effect model, as
  metafor, I2 = 100 max(0, (Q - (k - 1)) / Q) and H2 = Q / (k - 1).
* ``i2_method="q"`` (Higgins & Thompson 2002; RevMan 5): I2 = 100 max(0, (Q - df)/Q),
  H2 = Q / df, whatever the model.

I2 is in percent, as metafor reports it.

Confidence interval for tau2 (``tau2_ci=True``): the Q-profile method (Viechtbauer
2007), metafor's ``confint(fit)``: the bounds solve Q(tau2) = chi2_{k-1, 1-a/2} (lower)
and chi2_{k-1, a/2} (upper) on [0, tau2_max], tau2_max = max(100, 10 tau2) unless
``control["tau2_max"]`` is given (as in metafor, where rma()'s tau2.max carries into
confint()), with tolerance ``tol`` and at most ``ci_maxiter`` steps; a bound is 0 when
Q(0) is already below its quantile, and the upper limit of the search range is
reported (with a note) when the bound lies beyond it. The I2 interval maps the tau2 bounds through
I2 = 100 t / (vt + t), whatever ``i2_method``.

Prediction interval (random effects, k >= 2), as ``predict.rma``:

* ``pi_method="metafor"`` (default): mu -/+ c sqrt(se^2 + tau2), c the normal quantile,
  or the t quantile with k - 1 df under ``knha=True``; se is the reported SE.
* ``pi_method="higgins2009"`` (Higgins, Thompson & Spiegelhalter 2009): t with k - 2
  df (metafor's ``predict(fit, pi.type="riley")``); none for k = 2.

Small k, on purpose: k = 1 gives estimate y_1 with se sqrt(v_1) and a z interval (also
under ``knha=True``, as metafor, which switches to test="z"), tau2 = 0, and no Q, I2,
H2, tau2 CI or prediction interval (NaN; metafor reports Q = 0, I2 = 0, H2 = 1), with a
note. k = 2 with ``knha=True`` uses t with 1 df, with a note.

Iteration settings (``control``), with metafor's names and defaults
(``rma(control=list(...))`` and ``confint(fit, control=list(...))``):

==============  =====================  =======================================================
``control``     metafor                meaning (default)
==============  =====================  =======================================================
``threshold``   ``threshold``          Fisher scoring and SJIT stop when the change in tau2 is at
                                       most this (1e-5; 0 allowed: then the stop size's
                                       rounding term ends the iteration)
``maxiter``     ``maxiter``            most steps of Fisher scoring, SJIT and the PM root
                                       search (100)
``stepadj``     ``stepadj``            Fisher scoring step multiplier (1; below 1 damps an
                                       oscillating iteration)
``tau2_init``   ``tau2.init``          starting tau2 for REML, ML and SJIT, and tau2_0 of SJ
                                       (None: HE truncated at 0, or tau2_0 of SJ)
``tau2_max``    ``tau2.max``           upper end of the PM root search and of the Q-profile
                                       search (None: max(100, 10 mad(y)^2) and
                                       max(100, 10 tau2))
``tol``         ``tol`` (both)         uniroot tolerance of the PM and Q-profile root searches,
                                       and the log-likelihood margin of the tau2 = 0 check
                                       (eps^0.25 ~ 1.22e-4)
``ci_maxiter``  confint ``maxiter``     most steps of the Q-profile root search (1000)
==============  =====================  =======================================================

A meta-analysis whose estimator does not converge gets NaN for everything depending on
tau2, ``converged=False``, a note, and a :class:`ConvergenceWarning` naming its group.

metafor's tolerances are absolute, so on small scales (variances near 1e-7, as for
risk differences of rare events) they stop far from the optimum: the Paule-Mandel
tau2 can come out 50 to 200 times too large, and its Q-profile CI inverted
(tests/reference/metafor_control.R shows it with metafor). The defaults are kept, so
the numbers equal metafor's, but when tau2 (REML, ML, SJIT, PM) or a Q-profile bound
lands above 0 and below the tolerance that produced it (``threshold`` or ``tol``), the
meta-analysis gets a note naming the setting to lower and a ConvergenceWarning
naming its group.

Known divergences from metafor (each asserted in tests/test_pooling_reference.py):

* Common-effect models report tau2 = 0 (the model's assumption, as metafor prints it),
  no SE or CI for tau2 and no prediction interval.
* k = 1 reports Q, its p-value, I2 and H2 as NaN (metafor: 0, 1, 0, 1).
* Where metafor stops with an error (Fisher scoring not converged within maxiter;
  Paule-Mandel root beyond tau2_max) the meta-analysis gets NaN results,
  ``converged=False``, a note and a :class:`ConvergenceWarning`, and the others in the
  batch are unaffected.
* Where metafor's threshold cannot be met in floating point (large units), metafor
  stops with an error in some study orders; the stop size above converges, to the
  tau2 metafor gives in the order it does converge or with a threshold it can meet
  (tests/test_pooling_convergence.py).
* A Paule-Mandel root search that exhausts ``maxiter`` gives no estimate (NaN,
  ``converged=False``); metafor keeps uniroot's last iterate with only R's warning.
* A Q-profile bound whose root finding exhausts ``ci_maxiter`` keeps the last iterate,
  as metafor does (it only warns), with a note and a ConvergenceWarning.
* Extreme variance ratios (one variance up to 1e48 times another): each group is fitted
  about its most precise study's effect, and tr P, tr(P P) and the other sums of P are
  taken from the other studies' weights, so Q, tau2 and its SE stay exact to rounding
  (two studies at 1e-24 and 1e24: Q = 4, DL tau2 = 1.5e24). metafor's residuals about a
  rounded weighted mean and W - sum w^2 / W lose the small weights: Q = 3 and tau2 =
  2e24 there; for variances 1e-24 and 1 (effects 0 and 10), DL tau2 = 74 with SE 182
  against 49.5 and 70.7; REML's SE of tau2 0.82e24 against 0.71e24 for variances 1e-24
  and 1e24; and its Fisher scoring does not converge at the corners
  (tests/reference/metafor_control.json; tests/test_pooling_convergence.py checks the
  engine against exact rational arithmetic). On ordinary data the two agree to rounding.

Batch layout: groups are packed into padded arrays of shape (kmax, m) with a 0/1 mask
(studies down the rows, meta-analyses across the columns), so every sum is a
reduction over the first axis and all iterative estimators and root finders advance
all meta-analyses together, dropping those that have converged. The groups are fitted
a block at a time (about 65,000 rows), which keeps the arrays in the processor's cache;
REML and ML first estimate tau2 block by block, deferring the few meta-analyses of each
block that need more than 20 Fisher-scoring steps to one joint pass (they take exactly
the steps they would have taken). Results do not depend on the blocks beyond the last
bits of a sum (tests/test_pooling_arrays.py).
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "METHODS",
    "I2_METHODS",
    "PI_METHODS",
    "DEFAULT_CONTROL",
    "ConvergenceWarning",
    "PoolResult",
    "BatchResult",
    "ArrayResult",
    "check_control",
    "pool",
    "pool_arrays",
    "pool_batch",
]

METHODS = ("REML", "ML", "DL", "PM", "HE", "SJ", "SJIT", "FE", "EE", "CE")
COMMON_EFFECT_METHODS = frozenset({"FE", "EE", "CE"})
I2_METHODS = ("tau2", "q")
PI_METHODS = ("metafor", "higgins2009")

DEFAULT_CONTROL: dict[str, float | int | None] = {
    "threshold": 1e-5,
    "maxiter": 100,
    "stepadj": 1.0,
    "tau2_init": None,
    "tau2_max": None,
    "tol": float(np.finfo(float).eps ** 0.25),
    "ci_maxiter": 1000,
}

_EPS = float(np.finfo(float).eps)
_LOG_2PI = math.log(2.0 * math.pi)

SUMMARY_COLUMNS = (
    "group", "k", "method", "knha", "estimate", "se", "ci_lb", "ci_ub", "stat", "pval",
    "df", "tau2", "tau2_ci_lb", "tau2_ci_ub", "i2", "i2_ci_lb", "i2_ci_ub", "h2", "q",
    "q_df", "q_pval", "pi_lb", "pi_ub", "converged", "notes", "tau2_se",
)


class ConvergenceWarning(UserWarning):
    """An iterative estimator or root finder did not converge for some meta-analyses."""


# ---------------------------------------------------------------------------
# results


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


@dataclass(frozen=True)
class PoolResult:
    """One pooled meta-analysis (see the module docstring for every formula)."""

    k: int
    method: str
    knha: bool
    level: float
    estimate: float
    se: float
    ci_lb: float
    ci_ub: float
    stat: float
    pval: float
    df: float | None
    tau2: float
    tau2_se: float | None
    tau2_ci_lb: float
    tau2_ci_ub: float
    i2: float
    i2_ci_lb: float
    i2_ci_ub: float
    h2: float
    q: float
    q_df: int
    q_pval: float
    pi_lb: float
    pi_ub: float
    weights: np.ndarray = field(repr=False)
    converged: bool = True
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: NaN becomes None, arrays become lists."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "weights":
                value = [float(w) for w in np.asarray(value, dtype=float)]
            elif name == "notes":
                value = list(value)
            elif isinstance(value, (bool, np.bool_)):
                value = bool(value)
            elif isinstance(value, (int, np.integer)):
                value = int(value)
            elif isinstance(value, (float, np.floating)):
                value = _nan_to_none(float(value))
            out[name] = value
        return out


@dataclass(frozen=True)
class BatchResult:
    """Many pooled meta-analyses.

    ``summary`` has one row per meta-analysis (groups in order of first appearance)
    with the columns of :data:`SUMMARY_COLUMNS` (``notes`` joined with "; ", and
    ``tau2_se`` last); ``weights`` is aligned with the input rows (fractions summing
    to 1 within each group; NaN for a group whose estimator did not converge).
    """

    summary: Any  # a pandas.DataFrame (pandas is imported only to build it)
    weights: np.ndarray


# ---------------------------------------------------------------------------
# input handling


def _as_float_1d(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _row_list(idx: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    more = f" and {idx.size - limit} more" if idx.size > limit else ""
    return shown + more


def _validate(yi, vi, groups, method, level, i2_method, pi_method, control):
    y = _as_float_1d(yi, "yi")
    v = _as_float_1d(vi, "vi")
    if y.size == 0:
        raise ValueError("no studies to pool: yi is empty")
    if y.size != v.size:
        raise ValueError(f"yi and vi differ in length ({y.size} and {v.size})")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"yi is missing or not finite at row index(es) {_row_list(bad)}")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise ValueError(f"vi is missing or not finite at row index(es) {_row_list(bad)}")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise ValueError(
            f"vi must be > 0; it is <= 0 at row index(es) {_row_list(bad)}"
        )
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(
            f"unknown method {method!r}; valid methods: {', '.join(METHODS)}"
        )
    if i2_method not in I2_METHODS:
        raise ValueError(
            f"unknown i2_method {i2_method!r}; valid: {', '.join(I2_METHODS)}"
        )
    if pi_method not in PI_METHODS:
        raise ValueError(
            f"unknown pi_method {pi_method!r}; valid: {', '.join(PI_METHODS)}"
        )
    if not (isinstance(level, (int, float)) and 0.0 < float(level) < 1.0):
        raise ValueError(f"level must be a proportion in (0, 1), e.g. 0.95; got {level!r}")
    con = _control(control)
    if groups is None:
        codes = np.zeros(y.size, dtype=np.intp)
        labels = np.array(["all"], dtype=object)
    else:
        g = groups
        pd = sys.modules.get("pandas")  # a pandas object implies pandas is imported
        if pd is None or not isinstance(groups, (pd.Series, pd.Index, pd.Categorical)):
            g = np.asarray(groups)
            if g.dtype.kind not in "iub":  # keep labels as given (no str coercion)
                g = np.asarray(groups, dtype=object)
        if np.ndim(g) != 1:
            raise ValueError("groups must be one-dimensional")
        if len(g) != y.size:
            raise ValueError(f"groups has {len(g)} labels but yi has {y.size} rows")
        codes, labels = _group_codes(g)
        bad = np.flatnonzero(codes < 0)
        if bad.size:
            raise ValueError(f"groups is missing at row index(es) {_row_list(bad)}")
        labels = np.asarray(labels, dtype=object)
        codes = np.asarray(codes, dtype=np.intp)
    return y, v, codes, labels, method.upper(), float(level), con


def check_control(control: dict | None) -> dict:
    """The iteration settings ``control`` with defaults filled in, each value checked.

    Raises ``ValueError`` naming an unknown setting or a value out of range (see the
    table in the module docstring); returns a new dict.
    """
    return _control(control)


def _control(control) -> dict:
    """metafor's iteration settings, defaults filled in and each value checked."""
    con = dict(DEFAULT_CONTROL)
    if not control:
        return con
    if not isinstance(control, dict):
        raise ValueError(f"control must be a dict of settings, got {type(control).__name__}")
    unknown = set(control) - set(DEFAULT_CONTROL)
    if unknown:
        raise ValueError(
            f"unknown control setting(s) {sorted(unknown)}; valid: {sorted(DEFAULT_CONTROL)}"
        )
    con.update(control)
    for name, value in control.items():
        if value is None and name in ("tau2_init", "tau2_max"):
            continue
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_))
        if name in ("maxiter", "ci_maxiter"):
            if not (number and float(value) == int(value) and value >= 1):
                raise ValueError(f"control {name!r} must be a whole number >= 1, got {value!r}")
            con[name] = int(value)
            continue
        if not (number and math.isfinite(value)):
            raise ValueError(f"control {name!r} must be a finite number, got {value!r}")
        lowest_ok = name in ("threshold", "tau2_init")  # 0 allowed
        if value < 0 or (value == 0 and not lowest_ok):
            bound = ">= 0" if lowest_ok else "> 0"
            raise ValueError(f"control {name!r} must be {bound}, got {value!r}")
        con[name] = float(value)
    return con


def _group_codes(g):
    """Codes 0..m-1 in order of first appearance (-1 for missing) and the labels.

    Numeric labels in contiguous runs (the usual layout) are coded from the run
    boundaries; a categorical through its integer codes; anything else goes through
    pandas.factorize.
    """
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(getattr(g, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(g)
        raw = np.asarray(cat.codes, dtype=np.intp)
        codes, first = _group_codes(raw)
        codes = np.where(raw < 0, -1, codes)  # a missing label (the caller reports it)
        labels = np.asarray(cat.categories, dtype=object)[np.asarray(first)]
        return codes, labels
    arr = np.asarray(g)
    if arr.dtype.kind in "iub" and arr.size:
        change = np.flatnonzero(arr[1:] != arr[:-1]) + 1
        run_labels = arr[np.concatenate(([0], change))]
        if (run_labels[1:] > run_labels[:-1]).all() or (
                np.diff(np.sort(run_labels)) != 0).all():
            codes = np.zeros(arr.size, dtype=np.intp)
            codes[change] = 1
            np.cumsum(codes, out=codes)
            return codes, run_labels
    import pandas as pd

    codes, labels = pd.factorize(g, sort=False, use_na_sentinel=True)
    return codes, labels


def _pack(y: np.ndarray, v: np.ndarray, codes: np.ndarray, m: int):
    """Pack rows into (kmax, m) arrays; returns Y, V, M (0/1 float mask), k, slots."""
    counts = np.bincount(codes, minlength=m)
    starts = np.zeros(m, dtype=np.intp)
    np.cumsum(counts[:-1], out=starts[1:])
    pos_sorted = np.arange(y.size, dtype=np.intp) - np.repeat(starts, counts)
    if (codes[1:] >= codes[:-1]).all():  # rows already grouped: no sort needed
        pos = pos_sorted
    else:
        order = np.argsort(codes, kind="stable")
        pos = np.empty(y.size, dtype=np.intp)
        pos[order] = pos_sorted
    kmax = int(counts.max())
    Y = np.zeros((kmax, m))
    V = np.ones((kmax, m))
    M = np.zeros((kmax, m))
    Y[pos, codes] = y
    V[pos, codes] = v
    M[pos, codes] = 1.0
    return Y, V, M, counts, pos


# ---------------------------------------------------------------------------
# building blocks (all operate on columns of the packed arrays)


def _weighted_mean_q(Y, V, M, tau2):
    """Inverse-variance weights at tau2: returns W (weights), sum W, mu, generalised Q.

    Q(t) = sum_i (y_i - mu_t)^2 / (v_i + t), mu_t the weighted mean at weights
    1/(v_i + t); Q(0) is Cochran's Q.
    """
    W = M / (V + tau2)
    sw = W.sum(axis=0)
    mu = (W * Y).sum(axis=0) / sw
    R = Y - mu
    q = (W * R * R).sum(axis=0)
    return W, sw, mu, q


def _generalised_q(Y, V, M, tau2):
    return _weighted_mean_q(Y, V, M, tau2)[3]


def _others(W):
    """For each study, the sum of the other studies' w in its group (column), added up
    from the others (running sums before and after it), not as W - w_i, which is 0 or
    noise when one weight dominates W (variances 1e-24 and 1e24)."""
    before = np.zeros_like(W)
    np.cumsum(W[:-1], axis=0, out=before[1:])
    after = np.zeros_like(W)
    after[:-1] = np.cumsum(W[:0:-1], axis=0)[::-1]
    return before + after


def _trace_p(W, sw):
    """tr P = sum_i w_i (1 - w_i / W) = sum_i w_i (W - w_i) / W, P = diag(w) - w w'/W,
    with W - w_i summed from the other weights (:func:`_others`), so it is exact to
    rounding however unequal the weights."""
    return (W * _others(W)).sum(axis=0) / sw


def _sum_pp_ab(W, sw, A, B):
    """sum_ij P_ij^2 a_i b_j for P = diag(w) - w w'/W (a, b >= 0 per study).

    From P_ii = w_i o_i / W and P_ij = -w_i w_j / W (i != j), o_i the sum of the other
    weights (:func:`_others`): sum_i w_i^2 a_i (b_i o_i^2 + sum_{j != i} w_j^2 b_j) / W^2.
    Every term is >= 0, so nothing cancels however unequal the weights; the expanded
    sum w^2 ab - 2 sum w^3 ab / W + sum w^2 a sum w^2 b / W^2 is rounding noise when
    one weight is 1e24 times another.
    """
    O = _others(W)
    W2 = W * W
    return (W2 * A * (B * O * O + _others(W2 * B))).sum(axis=0) / (sw * sw)


def _most_precise(V, M):
    """Row of each group's (column's) most precise study: the smallest variance, the
    first of equals."""
    return np.argmin(np.where(M > 0, V, np.inf), axis=0)


def _most_precise_first(Y, V, M):
    """Copies of Y, V, M with each group's most precise study swapped into row 0 and Y
    taken about its effect (so that study's residual is 0 however large its weight)."""
    top = _most_precise(V, M)
    cols = np.arange(Y.shape[1])
    out = []
    for A in (Y, V, M):
        A = A.copy()
        first = A[0].copy()
        A[0] = A[top, cols]
        A[top, cols] = first
        out.append(A)
    Y, V, M = out
    return (Y - Y[0]) * M, V, M


def _trace_p_pp(w0, sw, swr, s2r, s3r):
    """tr P and tr(P P) for P = diag(w) - w w'/W, the most precise study's weight w0
    first and sums over the others: swr = sum w_j, s2r = sum w_j^2, s3r = sum w_j^3.

    tr P = swr + (w0 swr - s2r) / W and
    tr(P P) = s2r + (w0^2 (swr^2 + 2 s2r) - 2 W s3r + s2r^2) / W^2, W = w0 + swr,
    which equal sum w_i (1 - w_i / W) and sum_ij P_ij^2 but keep the others' share
    when w0 is 1e24 times theirs (W - sum w^2 / W is then 0 or noise). No term is more
    than about k times the result, so the rounding error stays within a few units in
    the last place (tests/test_pooling_convergence.py checks both against exact
    rational arithmetic).
    """
    trp = swr + (w0 * swr - s2r) / sw
    trpp = s2r + (w0 * w0 * (swr * swr + 2.0 * s2r) - 2.0 * sw * s3r + s2r * s2r) / (sw * sw)
    return trp, trpp


def _median_cols(Y, M, k):
    """Column medians of the masked entries (R's median)."""
    S = np.sort(np.where(M > 0, Y, np.inf), axis=0)
    cols = np.arange(Y.shape[1])
    k = np.asarray(k).astype(np.intp)
    lo = S[(k - 1) // 2, cols]
    hi = S[k // 2, cols]
    return 0.5 * (lo + hi)


def _mad(Y, M, k):
    """R's mad(): 1.4826 * median(|y - median(y)|)."""
    med = _median_cols(Y, M, k)
    return 1.4826 * _median_cols(np.abs(Y - med), M, k)


def _zeroin(f, ax, bx, fa, fb, tol, maxit):
    """R's ``uniroot`` core (``R_zeroin2``, Brent 1973), vectorised over problems.

    ``f(x, idx)`` returns the function at x for the problems ``idx``. Each problem
    follows exactly the sequence of steps of R's C code (bisection, secant or inverse
    quadratic interpolation; stop when |c - b| / 2 <= 2 eps |b| + tol / 2 or f(b) = 0;
    at most maxit + 1 steps). Returns (root, converged).
    """
    n = ax.size
    a = ax.astype(float).copy()
    b = bx.astype(float).copy()
    fa = fa.astype(float).copy()
    fb = fb.astype(float).copy()
    c = a.copy()
    fc = fa.copy()
    root = np.full(n, np.nan)
    conv = np.zeros(n, dtype=bool)
    at_a = fa == 0.0
    root[at_a] = a[at_a]
    conv[at_a] = True
    at_b = ~at_a & (fb == 0.0)
    root[at_b] = b[at_b]
    conv[at_b] = True
    act = np.flatnonzero(~conv)
    for _ in range(int(maxit) + 1):
        if act.size == 0:
            break
        A, B, C = a[act], b[act], c[act]
        FA, FB, FC = fa[act], fb[act], fc[act]
        prev = B - A
        swap = np.abs(FC) < np.abs(FB)
        A = np.where(swap, B, A)
        B = np.where(swap, C, B)
        C = np.where(swap, A, C)
        FA = np.where(swap, FB, FA)
        FB = np.where(swap, FC, FB)
        FC = np.where(swap, FA, FC)
        tol_act = 2.0 * _EPS * np.abs(B) + tol / 2.0
        new_step = (C - B) / 2.0
        done = (np.abs(new_step) <= tol_act) | (FB == 0.0)
        if done.any():
            root[act[done]] = B[done]
            conv[act[done]] = True
        keep = ~done
        act = act[keep]
        if act.size == 0:
            break
        A, B, C, FA, FB, FC = A[keep], B[keep], C[keep], FA[keep], FB[keep], FC[keep]
        prev, tol_act, new_step = prev[keep], tol_act[keep], new_step[keep]
        interp = (np.abs(prev) >= tol_act) & (np.abs(FA) > np.abs(FB))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cb = C - B
            lin = A == C
            t1_lin = FB / FA
            p_lin = cb * t1_lin
            q_lin = 1.0 - t1_lin
            qq = FA / FC
            t1 = FB / FC
            t2 = FB / FA
            p_quad = t2 * (cb * qq * (qq - t1) - (B - A) * (t1 - 1.0))
            q_quad = (qq - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            p = np.where(lin, p_lin, p_quad)
            q = np.where(lin, q_lin, q_quad)
            q = np.where(p > 0.0, -q, q)
            p = np.abs(p)
            accept = (
                interp
                & (p < (0.75 * cb * q - np.abs(tol_act * q) / 2.0))
                & (p < np.abs(prev * q / 2.0))
            )
            new_step = np.where(accept, p / q, new_step)
        small = np.abs(new_step) < tol_act
        new_step = np.where(small, np.where(new_step > 0.0, tol_act, -tol_act), new_step)
        A, FA = B, FB
        B = B + new_step
        FB = f(B, act)
        same_sign = ((FB > 0) & (FC > 0)) | ((FB < 0) & (FC < 0))
        C = np.where(same_sign, A, C)
        FC = np.where(same_sign, FA, FC)
        a[act], b[act], c[act] = A, B, C
        fa[act], fb[act], fc[act] = FA, FB, FC
    if act.size:
        root[act] = b[act]
    return root, conv


# Rounding noise of one iteration step, in units of eps * (s + max|y| sqrt(s)): the
# largest seen at a fixed point was 16 (8,000 simulated REML and ML fits, k = 2 to 29,
# scales 1e-8 to 1e8, variances spanning up to 8 orders of magnitude, offsets up to
# 1e4 standard deviations); twice that leaves a margin.
_NOISE_STEPS = 32.0


def _stop_size(threshold, sw, sw2, ymax):
    """Largest change in tau2 that ends an iteration: max(threshold, rounding noise).

    metafor stops Fisher scoring and the SJIT iteration when |change| <= threshold
    (1e-5). A step is computed from sums of w_i = 1/(v_i + tau2) and residuals
    y_i - mu, so its rounding error is of order eps (s + max|y_i| sqrt(s)) with
    s = sum w_i / sum w_i^2 (a w^2-weighted mean of v_i + tau2); when that exceeds
    the threshold (tau2 or v_i in large units, say above 1e9) the iterates end up
    alternating between neighbouring floats and an absolute threshold is never met,
    depending on the order of the studies. The noise term is below the threshold,
    so it changes nothing, in every other case.
    """
    s = sw / sw2
    return np.maximum(threshold, _NOISE_STEPS * _EPS * (s + ymax * np.sqrt(s)))


def _start(con, default, Y, M, k):
    """Starting tau2: ``control["tau2_init"]`` (metafor's tau2.init) or ``default(Y, M, k)``."""
    if con["tau2_init"] is None:
        return np.asarray(default(Y, M, k), dtype=float)
    return np.full(k.size, float(con["tau2_init"]))


def _halve_until_nonnegative(tau2, adj):
    """metafor's step halving: halve adj while tau2 + adj < 0 (exactly, via ldexp)."""
    bad = tau2 + adj < 0.0
    if not bad.any():
        return adj
    t = tau2[bad]
    d = adj[bad]
    out = np.full(t.size, -0.0)  # from tau2 = 0 the halving ends at -0.0, so tau2 stays 0
    pos = t > 0.0
    if pos.any():
        tp, dp = t[pos], d[pos]
        n = np.maximum(np.ceil(np.log2(-dp / tp)), 1.0).astype(int)
        for _ in range(4):
            under = tp + np.ldexp(dp, -n) < 0.0
            n = np.where(under, n + 1, n)
            over = (n > 1) & (tp + np.ldexp(dp, -(n - 1)) >= 0.0)
            n = np.where(over, n - 1, n)
        out[pos] = np.ldexp(dp, -n)
    res = adj.copy()
    res[bad] = out
    return res


# ---------------------------------------------------------------------------
# tau2 estimators: each takes the packed columns of groups with k >= 2 and returns
# (tau2, tau2_se, converged, extra notes as {column index: note})


def _tau2_dl(Y, V, M, k, con):
    """DerSimonian-Laird: tau2 = max(0, (Q - (k-1)) / tr P), P at weights 1/v_i."""
    W, sw, _, q = _weighted_mean_q(Y, V, M, 0.0)
    trp = _trace_p(W, sw)
    tau2 = np.maximum(0.0, (q - (k - 1)) / trp)
    spp = _sum_pp_ab(W, sw, M, M)
    se = np.sqrt(2.0 * (k - 1) + 4.0 * tau2 * trp + 2.0 * tau2**2 * spp) / trp
    return tau2, se, np.ones(k.size, bool), {}


def _tau2_he_raw(Y, V, M, k):
    """Hedges (unweighted moments), before truncation; also returns tr(PV), sum v."""
    ybar = (Y * M).sum(axis=0) / k
    rss = (M * (Y - ybar) ** 2).sum(axis=0)
    sv = (V * M).sum(axis=0)
    trpv = sv - sv / k
    return (rss - trpv) / (k - 1), trpv, sv


def _tau2_he(Y, V, M, k, con):
    """Hedges: tau2 = max(0, (sum (y - ybar)^2 - tr(PV)) / (k - 1)), P = I - J/k."""
    raw, trpv, sv = _tau2_he_raw(Y, V, M, k)
    tau2 = np.maximum(0.0, raw)
    sv2 = (V * V * M).sum(axis=0)
    spvpv = sv2 * (1.0 - 2.0 / k) + sv * sv / (k * k)
    se = np.sqrt(2.0 * spvpv + 4.0 * tau2 * trpv + 2.0 * tau2**2 * (k - 1)) / (k - 1)
    return tau2, se, np.ones(k.size, bool), {}


def _sj_start(Y, M, k):
    ybar = (Y * M).sum(axis=0) / k
    return (M * (Y - ybar) ** 2).sum(axis=0) / k


def _tau2_sj(Y, V, M, k, con):
    """Sidik-Jonkman (one step): tau2 = tau2_0 Q(tau2_0) / (k - 1), tau2_0 = sum (y-ybar)^2 / k.

    ``control["tau2_init"]``, when given, replaces tau2_0 (as metafor's tau2.init).
    """
    t0 = _start(con, _sj_start, Y, M, k)
    W, sw, _, q = _weighted_mean_q(Y, V, M, t0)
    tau2 = np.maximum(0.0, t0 * q / (k - 1))
    s_vv = _sum_pp_ab(W, sw, V, V)
    s_v1 = _sum_pp_ab(W, sw, M, V)
    s_11 = _sum_pp_ab(W, sw, M, M)
    se = t0 / (k - 1) * np.sqrt(2.0 * s_vv + 4.0 * tau2 * s_v1 + 2.0 * tau2**2 * s_11)
    return tau2, se, np.ones(k.size, bool), {}


def _se_pm(Y, V, M, k, tau2):
    """SE of tau2 for PM and SJIT (metafor): sqrt(2 k^2 / (k - 1)) / W."""
    sw = (M / (V + tau2)).sum(axis=0)
    return np.sqrt(2.0 * k * k / (k - 1)) / sw


def _tau2_sjit(Y, V, M, k, con):
    """Sidik-Jonkman iterated: tau2 <- tau2 Q(tau2) / (k - 1) from tau2_0 to a fixed point.

    Starts from ``control["tau2_init"]`` when given; stops as Fisher scoring does
    (:func:`_stop_size`).
    """
    tau2 = _start(con, _sj_start, Y, M, k)
    conv = np.zeros(k.size, dtype=bool)
    act = np.arange(k.size)
    ymax = np.abs(Y).max(axis=0)
    it = 0
    while act.size:
        it += 1
        old = tau2[act]
        W, sw, _, q = _weighted_mean_q(Y[:, act], V[:, act], M[:, act], old)
        new = old * q / (k[act] - 1)
        tau2[act] = new
        if it > con["maxiter"]:
            break
        done = np.abs(old - new) <= _stop_size(con["threshold"], sw, (W * W).sum(axis=0),
                                               ymax[act])
        conv[act[done]] = True
        act = act[~done]
    tau2 = np.where(conv, np.maximum(0.0, tau2), np.nan)
    return tau2, _se_pm(Y, V, M, k, tau2), conv, {}


def _tau2_pm(Y, V, M, k, con):
    """Paule-Mandel: root of Q(tau2) = k - 1 on [0, tau2_max] by zeroin.

    tau2_max is ``control["tau2_max"]`` or, by default, max(100, 10 mad(y)^2) (metafor).
    """
    target = (k - 1).astype(float)
    if con["tau2_max"] is None:
        tmax = np.maximum(100.0, 10.0 * _mad(Y, M, k) ** 2)
    else:
        tmax = np.full(k.size, float(con["tau2_max"]))
    q0 = _generalised_q(Y, V, M, 0.0) - target
    qmax = _generalised_q(Y, V, M, tmax) - target
    tau2 = np.zeros(k.size)
    conv = np.ones(k.size, dtype=bool)
    notes: dict[int, str] = {}
    too_low = ~(q0 < 0.0) & (qmax > 0.0)
    for i in np.flatnonzero(too_low):
        notes[int(i)] = (
            f"PM: the generalised Q still exceeds k - 1 at tau2_max = {tmax[i]:.6g}, "
            "so there is no estimate (metafor stops with an error here: raise the "
            "control setting 'tau2_max')"
        )
    conv[too_low] = False
    tau2[too_low] = np.nan
    solve = np.flatnonzero(~(q0 < 0.0) & ~too_low)
    if solve.size:
        Ys, Vs, Ms, ts = Y[:, solve], V[:, solve], M[:, solve], target[solve]

        def f(x, idx):
            return _generalised_q(Ys[:, idx], Vs[:, idx], Ms[:, idx], x) - ts[idx]

        root, ok = _zeroin(
            f, np.zeros(solve.size), tmax[solve], q0[solve], qmax[solve],
            con["tol"], con["maxiter"],
        )
        tau2[solve] = np.where(ok, root, np.nan)
        conv[solve] = ok
    tau2 = np.maximum(0.0, tau2)
    return tau2, _se_pm(Y, V, M, k, tau2), conv, notes


def _loglik(Y, V, M, k, tau2, reml):
    """(Restricted) log-likelihood of the intercept-only model at tau2, as metafor."""
    W, sw, _, q = _weighted_mean_q(Y, V, M, tau2)
    slog = (M * np.log(V + tau2)).sum(axis=0)
    if reml:
        return -0.5 * (k - 1) * _LOG_2PI - 0.5 * slog - 0.5 * np.log(sw) - 0.5 * q
    return -0.5 * k * _LOG_2PI - 0.5 * slog - 0.5 * q


def _tau2_fisher(Y, V, M, k, con, reml, state=None, defer=0):
    """(RE)ML by Fisher scoring with step halving, as metafor (see module docstring).

    Starts from ``control["tau2_init"]`` or the HE estimate truncated at 0; each step is
    multiplied by ``control["stepadj"]``; stops when the change is at most
    :func:`_stop_size`, and gives up after ``control["maxiter"]`` steps.

    ``defer`` > 0 stops early once no more than ``defer`` meta-analyses are still
    iterating (after :data:`_DEFER_AFTER` steps) and returns them unfinished; ``state``
    = (tau2, steps taken) resumes such meta-analyses, which then take exactly the steps
    they would have taken. Returns (tau2, se, converged, notes, pending), pending being
    None or (column indexes, their tau2, their steps).
    """
    # the most precise study first, so tr P and tr(P P) keep the other studies' share
    # (:func:`_trace_p_pp`); tau2 does not depend on the order or location of the studies
    Y, V, M = _most_precise_first(Y, V, M)
    if state is None:
        tau2 = _start(con, lambda Y, M, k: np.maximum(0.0, _tau2_he_raw(Y, V, M, k)[0]),
                      Y, M, k)
        done_before = np.zeros(k.size, dtype=np.int64)
    else:
        tau2 = np.array(state[0], dtype=float)
        done_before = np.asarray(state[1], dtype=np.int64)
    conv = np.zeros(k.size, dtype=bool)
    act = np.arange(k.size)
    ymax = np.abs(Y).max(axis=0)
    # padded cells get v = inf, hence weight 0, so the hot loop needs no mask
    Vinf = np.where(M > 0, V, np.inf)
    Ya, Va = Y, Vinf
    pending = None
    it = 0
    while act.size:
        if defer and it >= _DEFER_AFTER and act.size <= defer:
            pending = (act, tau2[act].copy(), done_before[act] + it)
            break
        it += 1
        old = tau2[act]
        W = 1.0 / (Va + old)
        rest = W[1:]
        swr = rest.sum(axis=0)
        sw = W[0] + swr
        mu = (W * Ya).sum(axis=0) / sw
        R = Ya - mu
        W2 = W * W
        s2r = W2[1:].sum(axis=0)
        sw2 = W2[0] + s2r
        W2 *= R
        W2 *= R
        yppy = W2.sum(axis=0)  # Y'PPY = sum w_i^2 (y_i - mu)^2
        if reml:
            rest = rest * rest * rest
            trp, trpp = _trace_p_pp(W[0], sw, swr, s2r, rest.sum(axis=0))
            adj = (yppy - trp) / trpp
        else:
            adj = (yppy - sw) / sw2
        if con["stepadj"] != 1.0:
            adj *= con["stepadj"]
        adj[np.isnan(adj)] = 0.0
        adj = _halve_until_nonnegative(old, adj)
        new = old + adj
        tau2[act] = new
        over = done_before[act] + it > con["maxiter"]  # out of steps: not converged
        done = ~over & (np.abs(old - new) <= _stop_size(con["threshold"], sw, sw2, ymax[act]))
        if done.any() or over.any():
            conv[act[done]] = True
            act = act[~done & ~over]
            Ya, Va = Y[:, act], Vinf[:, act]
    notes: dict[int, str] = {}
    # metafor's check that the estimate beats tau2 = 0 on the (restricted) likelihood
    chk = np.flatnonzero(conv & (tau2 > con["threshold"]))
    if chk.size:
        Yc, Vc, Mc, kc = Y[:, chk], V[:, chk], M[:, chk], k[chk]
        ll0 = _loglik(Yc, Vc, Mc, kc, 0.0, reml)
        ll = _loglik(Yc, Vc, Mc, kc, tau2[chk], reml)
        stuck = ll0 - ll > con["tol"]
        for i in chk[stuck]:
            notes[int(i)] = (
                "Fisher scoring may have stopped at a local maximum, so tau2 is set to 0, "
                "as metafor does"
            )
        tau2[chk[stuck]] = 0.0
    tau2 = np.where(conv, np.maximum(0.0, tau2), np.nan)
    W, sw, _, _ = _weighted_mean_q(Y, V, M, np.where(conv, tau2, 0.0))
    if reml:
        rest = W[1:]
        se = np.sqrt(2.0 / _trace_p_pp(W[0], sw, rest.sum(axis=0), (rest * rest).sum(axis=0),
                                       (rest * rest * rest).sum(axis=0))[1])
    else:
        se = np.sqrt(2.0 / (W * W).sum(axis=0))
    se = np.where(conv, se, np.nan)
    return tau2, se, conv, notes, pending


# Fisher scoring defers its last few meta-analyses of a block (those needing more than
# _DEFER_AFTER steps, when at most _DEFER_MAX are left) to one pass over all blocks'
# stragglers, instead of running up to maxiter nearly empty steps in every block.
_DEFER_AFTER = 20
_DEFER_MAX = 64


def _tau2_reml(Y, V, M, k, con):
    return _tau2_fisher(Y, V, M, k, con, reml=True)[:4]


def _tau2_ml(Y, V, M, k, con):
    return _tau2_fisher(Y, V, M, k, con, reml=False)[:4]


_ESTIMATORS = {
    "REML": _tau2_reml,
    "ML": _tau2_ml,
    "DL": _tau2_dl,
    "PM": _tau2_pm,
    "HE": _tau2_he,
    "SJ": _tau2_sj,
    "SJIT": _tau2_sjit,
}


# The tolerance that ends each iterative estimator: (control setting, what it stops).
_TAU2_TOLERANCE = {
    "REML": ("threshold", "Fisher scoring"),
    "ML": ("threshold", "Fisher scoring"),
    "SJIT": ("threshold", "the SJIT iteration"),
    "PM": ("tol", "the PM root search"),
}


def _tau2_qprofile_ci(Y, V, M, k, tau2, level, con):
    """Q-profile CI for tau2 (Viechtbauer 2007), as metafor's confint.rma.uni.

    Lower bound solves Q(t) = chi2 quantile 1 - a/2, upper Q(t) = chi2 quantile a/2
    (k - 1 df), searched on [0, tau2_max] with zeroin (``control["tol"]``, at most
    ``control["ci_maxiter"]`` steps); tau2_max is ``control["tau2_max"]`` or, by default,
    max(100, 10 tau2). Returns (lb, ub, converged, lb_root, ub_root, notes), the
    ``*_root`` masks marking the bounds found by the root search.
    """
    alpha = 1.0 - level
    df = (k - 1).astype(float)
    crit_u = special.chdtri(df, alpha / 2.0)
    crit_l = special.chdtri(df, 1.0 - alpha / 2.0)
    if con["tau2_max"] is None:
        tmax = np.maximum(100.0, 10.0 * tau2)
    else:
        tmax = np.full(k.size, float(con["tau2_max"]))
    q_min = _generalised_q(Y, V, M, 0.0)
    q_max = _generalised_q(Y, V, M, tmax)
    n = k.size
    lb = np.full(n, np.nan)
    ub = np.full(n, np.nan)
    conv = np.ones(n, dtype=bool)
    notes: dict[int, list[str]] = {}

    def add(i, text):
        notes.setdefault(int(i), []).append(text)

    def solve(idx, crit):
        Ys, Vs, Ms, cs = Y[:, idx], V[:, idx], M[:, idx], crit[idx]

        def f(x, j):
            return _generalised_q(Ys[:, j], Vs[:, j], Ms[:, j], x) - cs[j]

        return _zeroin(
            f, np.zeros(idx.size), tmax[idx], q_min[idx] - cs, q_max[idx] - cs,
            con["tol"], con["ci_maxiter"],
        )

    null = q_min < crit_l
    lb[null] = 0.0
    ub[null] = 0.0
    for i in np.flatnonzero(null):
        add(i, "Q-profile CI for tau2: both bounds fall below 0, so it is {0} (as metafor)")
    ub_cap = ~null & (q_max > crit_l)
    ub[ub_cap] = tmax[ub_cap]
    ub_root = ~null & ~ub_cap
    idx = np.flatnonzero(ub_root)
    if idx.size:
        root, ok = solve(idx, crit_l)
        ub[idx] = root
        conv[idx[~ok]] = False
    all_cap = q_max > crit_u
    lb[all_cap] = tmax[all_cap]
    ub[all_cap] = tmax[all_cap]
    for i in np.flatnonzero(ub_cap | all_cap):
        add(i, f"Q-profile CI for tau2: bound(s) at the search limit {tmax[i]:.6g} "
               "(the true bound lies beyond it: raise the control setting 'tau2_max')")
    lb_zero = ~all_cap & ~(q_min >= crit_u)
    lb[lb_zero] = 0.0
    lb_root = ~all_cap & ~lb_zero
    idx = np.flatnonzero(lb_root)
    if idx.size:
        root, ok = solve(idx, crit_u)
        lb[idx] = root
        conv[idx[~ok]] = False
    for i in np.flatnonzero(~conv):
        add(i, "Q-profile CI for tau2: root finding did not converge in ci_maxiter steps "
               "(as metafor, the last iterate is kept)")
    return lb, ub, conv, lb_root & ~all_cap, ub_root & ~all_cap, notes


def _below_tolerance_note(what, value, setting, tol, search, vt):
    """Note for a result that landed above 0 but below the tolerance that produced it."""
    suggest = 10.0 ** (math.floor(math.log10(min(value, vt))) - 4)
    return (f"{what} {value:.3g} is below control {setting!r} = {tol:.3g}, the precision of "
            f"{search}, and the within-study variances are as small (typical {vt:.3g}), "
            f"so it may be far from the exact value: lower {setting!r} "
            f"(for example to {suggest:.0e})")


# ---------------------------------------------------------------------------
# the engine


def _t_crit(df, level):
    return special.stdtrit(df, 1.0 - (1.0 - level) / 2.0)


def pool_batch(
    yi,
    vi,
    groups=None,
    *,
    method: str = "REML",
    knha: bool = False,
    level: float = 0.95,
    i2_method: str = "tau2",
    pi_method: str = "metafor",
    tau2_ci: bool = False,
    control: dict | None = None,
) -> BatchResult:
    """Pool many meta-analyses at once (no Python loop per meta-analysis).

    Parameters
    ----------
    yi, vi : 1-D array-like
        Effect estimates and their sampling variances (vi > 0), one row per study.
    groups : 1-D array-like, optional
        Meta-analysis label of each row; None pools all rows as one meta-analysis
        (labelled ``"all"``). Groups appear in ``summary`` in order of first
        appearance.
    method : {"REML", "ML", "DL", "PM", "HE", "SJ", "SJIT", "FE", "EE", "CE"}
        Estimator of tau2 (case-insensitive), or a common-effect model ("FE", with
        aliases "EE" and "CE"); definitions in the module docstring. Also accepted: a
        1-D array with one name per row, the same within each group, so that one call
        fits each meta-analysis with its own estimator (a multiverse of choices).
    knha : bool
        Hartung-Knapp(-Sidik-Jonkman) SE and t with k - 1 df (metafor test="knha").
        Also accepted: a 1-D boolean array with one value per row, the same within each
        group. With per-row ``method`` or ``knha`` the groups are fitted in one
        vectorised pass per distinct (method, knha) pair and returned in the usual
        order; every number is the one a call with that single model gives.
    level : float
        Confidence level in (0, 1) for the CI, tau2 CI and prediction interval.
    i2_method : {"tau2", "q"}
        I2 and H2 from tau2 and the typical within-study variance (metafor), or from
        Q (Higgins & Thompson 2002 / RevMan 5).
    pi_method : {"metafor", "higgins2009"}
        Prediction interval with z (t, k - 1 df, under knha) or t with k - 2 df.
    tau2_ci : bool
        Compute the Q-profile CI for tau2 (and I2); NaN otherwise.
    control : dict, optional
        Iteration settings ``threshold``, ``maxiter``, ``stepadj``, ``tau2_init``,
        ``tau2_max``, ``tol``, ``ci_maxiter`` (metafor's, with its defaults in
        :data:`DEFAULT_CONTROL`; the table in the module docstring), applied to every
        meta-analysis of the batch.

    Returns
    -------
    BatchResult
        ``summary`` (one row per meta-analysis; columns :data:`SUMMARY_COLUMNS`, the
        last being ``tau2_se``) and ``weights`` aligned with the input rows.

    Raises
    ------
    ValueError
        Empty input, lengths that differ, non-finite yi or vi, vi <= 0 or missing
        group labels (naming the row indexes), unknown method or option, or a control
        setting that is unknown or out of range (naming it).

    Warns
    -----
    ConvergenceWarning
        Naming the groups whose estimator or tau2 CI did not converge, or whose tau2
        or CI bound lies below the tolerance that produced it (module docstring).
    """
    options = dict(level=level, i2_method=i2_method, pi_method=pi_method, tau2_ci=tau2_ci,
                   control=control)
    if isinstance(method, str) and isinstance(knha, (bool, np.bool_)):
        return _pool_one_model(yi, vi, groups, method=method, knha=bool(knha), **options)
    return _pool_per_group_models(yi, vi, groups, method, knha, options)


def _per_row(value, n: int, name: str, valid, canonical) -> np.ndarray:
    """Codes 0..len(valid)-1 of a per-row option: a scalar repeated, or a 1-D array with
    one value per row, each checked (once per distinct value) and named by its row."""
    import pandas as pd

    if isinstance(value, (str, bool, np.bool_)):
        values = np.array([value], dtype=object)
        codes = np.zeros(n, dtype=np.intp)
    else:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=object)
        if arr.ndim != 1 or arr.size != n:
            raise ValueError(f"{name} must be one value or a 1-D array with one value per row "
                             f"({n}); got shape {arr.shape}")
        codes, values = pd.factorize(arr)
        codes = codes.astype(np.intp)
        if (codes < 0).any():
            bad = np.flatnonzero(codes < 0)
            raise ValueError(f"{name} is missing at row index(es) {_row_list(bad)}")
    out = np.empty(len(values), dtype=np.intp)
    for j, v in enumerate(values):
        c = canonical(v)
        if c not in valid:
            rows = np.flatnonzero(codes == j)
            raise ValueError(f"{name}: {v!r} at row index(es) {_row_list(rows)} is not valid; "
                             f"valid: {', '.join(map(str, valid))}")
        out[j] = valid.index(c)
    return out[codes]


def _pool_per_group_models(yi, vi, groups, method, knha, options) -> BatchResult:
    """pool_batch with a model (method, knha) per group: one engine pass per model."""
    import pandas as pd

    y, v, codes, labels, _, _, _ = _validate(
        yi, vi, groups, "REML", options["level"], options["i2_method"], options["pi_method"],
        options["control"])
    n = y.size
    meth = _per_row(method, n, "method", METHODS,
                    lambda m: m.upper() if isinstance(m, str) else m)
    hk = _per_row(knha, n, "knha", (False, True),
                  lambda h: bool(h) if isinstance(h, (bool, np.bool_)) else h)
    model = meth * 2 + hk
    m = labels.size
    first_rows = pd.Series(codes).drop_duplicates(keep="first")
    first = np.empty(m, dtype=np.intp)
    first[first_rows.to_numpy()] = first_rows.index.to_numpy()
    group_model = model[first]
    mixed = np.flatnonzero(model != group_model[codes])
    if mixed.size:
        g = labels[codes[mixed[0]]]
        raise ValueError(f"method and knha must be the same within a group; group {g!r} has "
                         f"more than one (row index(es) {_row_list(mixed)})")
    # the labels in their own dtype (integer labels stay integers: the fast grouping path)
    typed = np.asarray(labels.tolist())
    if typed.dtype.kind not in "iu" or typed.shape != (m,):
        typed = labels
    row_model = group_model[codes]
    order = np.argsort(row_model, kind="stable")
    bounds = np.searchsorted(row_model[order], np.arange(2 * len(METHODS) + 1))
    columns: dict[str, np.ndarray] = {}
    weights = np.full(n, np.nan)
    for j in np.unique(group_model):
        rows = order[bounds[j]:bounds[j + 1]]
        res = _pool_one_model(y[rows], v[rows], typed[codes[rows]], method=METHODS[j // 2],
                              knha=bool(j % 2), **options)
        # the part's groups, in order of first appearance, are these codes
        at = pd.unique(codes[rows])
        for name in SUMMARY_COLUMNS:
            if name in ("group", "method", "knha"):
                continue
            values = res.summary[name].to_numpy()
            if name not in columns:
                columns[name] = np.empty(m, dtype=values.dtype if values.dtype.kind in "biuf"
                                         else object)
            columns[name][at] = values
        weights[rows] = res.weights
    columns["group"] = labels if typed is labels else typed
    columns["method"] = np.asarray(METHODS, dtype=object)[group_model // 2]
    columns["knha"] = (group_model % 2).astype(bool)
    summary = pd.DataFrame(columns, columns=list(SUMMARY_COLUMNS))
    return BatchResult(summary=summary, weights=weights)


def _pool_one_model(yi, vi, groups, *, method, knha, level, i2_method, pi_method, tau2_ci,
                    control) -> BatchResult:
    """pool_batch with one model (method, knha) for every group."""
    y, v, codes, labels, method, level, con = _validate(
        yi, vi, groups, method, level, i2_method, pi_method, control
    )
    res = _fit_groups(y, v, codes, labels, method=method, knha=knha, level=level,
                      i2_method=i2_method, pi_method=pi_method, tau2_ci=tau2_ci, con=con)
    _emit(res)
    import pandas as pd

    columns = dict(res.columns)
    columns["notes"] = _joined_notes(res)
    summary = pd.DataFrame(columns, columns=list(SUMMARY_COLUMNS), copy=False)
    return BatchResult(summary=summary, weights=res.weights)


@dataclass(frozen=True)
class ArrayResult:
    """Many pooled meta-analyses as plain arrays (what :func:`pool_arrays` returns).

    ``columns`` maps each name of :data:`SUMMARY_COLUMNS` except ``notes`` to an array
    with one entry per group (``group`` holds the labels); ``weights`` is aligned with
    the input rows; ``notes`` maps a group's index to its notes (groups without notes
    are absent); ``issues`` lists the convergence problems, each as (what, group
    indexes, advice), in the order found: :func:`pool_batch` turns each into one
    :class:`ConvergenceWarning` "{what} for group(s) {labels}{advice}".
    """

    columns: dict[str, np.ndarray]
    weights: np.ndarray
    notes: dict[int, list[str]]
    issues: tuple[tuple[str, np.ndarray, str], ...]

    def issue_messages(self, limit: int = 20) -> list[str]:
        """Each issue as the text of its ConvergenceWarning (at most ``limit`` labels)."""
        labels = self.columns["group"]
        return [_group_message(labels[idx], what, advice, limit)
                for what, idx, advice in self.issues]


def pool_arrays(
    yi,
    vi,
    codes=None,
    labels=None,
    *,
    method: str = "REML",
    knha: bool = False,
    level: float = 0.95,
    i2_method: str = "tau2",
    pi_method: str = "metafor",
    tau2_ci: bool = False,
    control: dict | None = None,
) -> ArrayResult:
    """:func:`pool_batch` for programs: integer group codes in, arrays out, no warnings.

    ``codes`` gives each row's group as an integer 0..m-1 (None: one group) and
    ``labels`` names the groups (m labels, default 0..m-1); group c is row c of the
    result. Every group needs at least one row. The options, formulas and checks are
    those of :func:`pool_batch`; convergence problems are returned in
    ``ArrayResult.issues`` instead of being warned, so the function can run in threads.
    pandas is not needed.
    """
    y, v, _, _, method, level, con = _validate(
        yi, vi, None, method, level, i2_method, pi_method, control
    )
    if codes is None:
        c = np.zeros(y.size, dtype=np.intp)
        m = 1
        names = np.array(["all"] if labels is None else list(labels), dtype=object)
    else:
        c = np.asarray(codes)
        if c.ndim != 1 or c.size != y.size:
            raise ValueError(f"codes must be one integer per row ({y.size}), got shape {c.shape}")
        if c.dtype.kind not in "iu":
            raise ValueError(f"codes must be integers, got dtype {c.dtype}")
        if labels is None:
            m = int(c.max()) + 1 if c.size else 0
            names = np.arange(m)
        else:
            names = np.asarray(labels, dtype=object)
            if names.ndim != 1:
                raise ValueError("labels must be one-dimensional")
            m = names.size
        bad = np.flatnonzero((c < 0) | (c >= m))
        if bad.size:
            raise ValueError(f"codes must lie in 0..{m - 1}; they do not at row index(es) "
                             f"{_row_list(bad)}")
        c = c.astype(np.intp, copy=False)
    if names.size != m:
        raise ValueError(f"labels has {names.size} entries for {m} group(s)")
    empty = np.flatnonzero(np.bincount(c, minlength=m) == 0)
    if empty.size:
        raise ValueError(f"group(s) {_row_list(empty)} have no rows")
    return _fit_groups(y, v, c, names, method=method, knha=knha, level=level,
                       i2_method=i2_method, pi_method=pi_method, tau2_ci=tau2_ci, con=con)


# Rows per block of the engine: packed arrays of this size stay in the processor's cache
# and in the allocator's reused memory, which is about twice as fast as one pass over a
# million meta-analyses (benchmarks/bench_pooling.py); results do not depend on it.
_BLOCK_ROWS = 65536
_BLOCK_GROUPS = 16384


def _fit_groups(y, v, codes, labels, *, method, knha, level, i2_method, pi_method,
                tau2_ci, con) -> ArrayResult:
    """Fit every group, a block of groups at a time; codes are 0..m-1, labels m long."""
    m = labels.size
    counts = np.bincount(codes, minlength=m)
    if y.size > 1 and not (codes[1:] >= codes[:-1]).all():
        order = np.argsort(codes, kind="stable")
        ys, vs = y[order], v[order]
    else:
        order = None
        ys, vs = y, v
    starts = np.zeros(m + 1, dtype=np.intp)
    np.cumsum(counts, out=starts[1:])
    blocks = []
    g0 = 0
    while g0 < m:
        g1 = int(np.searchsorted(starts, starts[g0] + _BLOCK_ROWS, side="right")) - 1
        g1 = min(max(g1, g0 + 1), g0 + _BLOCK_GROUPS, m)
        blocks.append((g0, g1))
        g0 = g1
    estimates = None
    if method in ("REML", "ML") and len(blocks) > 1:
        estimates = _fisher_blocks(ys, vs, counts, starts, blocks, con, method == "REML")
        noted = np.array(sorted(estimates[3]), dtype=np.intp)
    columns: dict[str, np.ndarray] = {}
    weights = np.empty(y.size)
    notes: dict[int, list[str]] = {}
    issues: dict[tuple[str, str], list[np.ndarray]] = {}
    for g0, g1 in blocks:
        r0, r1 = starts[g0], starts[g1]
        given = None
        if estimates is not None:
            tau2, se, ok, extra = estimates
            here = noted[np.searchsorted(noted, g0):np.searchsorted(noted, g1)]
            given = (tau2[g0:g1], se[g0:g1], ok[g0:g1],
                     {int(i) - g0: extra[int(i)] for i in here})
        block = _fit_block(ys[r0:r1], vs[r0:r1], counts[g0:g1], method=method, knha=knha,
                           level=level, i2_method=i2_method, pi_method=pi_method,
                           tau2_ci=tau2_ci, con=con, estimate=given)
        cols, block_weights, block_notes, block_issues = block
        for name, values in cols.items():
            if name not in columns:
                columns[name] = np.empty(m, dtype=values.dtype)
            columns[name][g0:g1] = values
        weights[r0:r1] = block_weights
        for i, texts in block_notes.items():
            notes[g0 + i] = texts
        for what, idx, advice in block_issues:
            issues.setdefault((what, advice), []).append(idx + g0)
    if order is not None:
        unsorted = np.empty_like(weights)
        unsorted[order] = weights
        weights = unsorted
    columns = {"group": labels, "k": columns["k"], "method": np.full(m, method, dtype=object),
               "knha": np.full(m, bool(knha)), **columns}
    return ArrayResult(
        columns=columns, weights=weights, notes=notes,
        issues=tuple((what, np.concatenate(idx), advice)
                     for (what, advice), idx in issues.items()),
    )


def _fisher_blocks(ys, vs, counts, starts, blocks, con, reml):
    """REML or ML tau2 of every group, block by block, stragglers together at the end.

    Returns (tau2, se, converged, notes by group) for the groups with k >= 2 (the
    others are left to :func:`_fit_block`).
    """
    m = counts.size
    tau2 = np.zeros(m)
    se = np.full(m, np.nan)
    ok = np.ones(m, dtype=bool)
    extra: dict[int, str] = {}
    late_groups, late_tau2, late_steps = [], [], []
    for g0, g1 in blocks:
        k = counts[g0:g1]
        multi = np.flatnonzero(k >= 2)
        if not multi.size:
            continue
        r0, r1 = starts[g0], starts[g1]
        codes = np.repeat(np.arange(g1 - g0, dtype=np.intp), k)
        Y, V, M, _, _ = _pack(ys[r0:r1], vs[r0:r1], codes, g1 - g0)
        kf = k.astype(float)
        t, s, c, n, pending = _tau2_fisher(Y[:, multi], V[:, multi], M[:, multi], kf[multi],
                                           con, reml, defer=_DEFER_MAX)
        groups = g0 + multi
        tau2[groups], se[groups], ok[groups] = t, s, c
        for i, text in n.items():
            extra[int(groups[i])] = text
        if pending is not None:
            late_groups.append(groups[pending[0]])
            late_tau2.append(pending[1])
            late_steps.append(pending[2])
    if late_groups:
        groups = np.concatenate(late_groups)
        rows = np.concatenate([np.arange(starts[g], starts[g + 1]) for g in groups])
        codes = np.repeat(np.arange(groups.size, dtype=np.intp), counts[groups])
        Y, V, M, _, _ = _pack(ys[rows], vs[rows], codes, groups.size)
        t, s, c, n, _ = _tau2_fisher(Y, V, M, counts[groups].astype(float), con, reml,
                                     state=(np.concatenate(late_tau2),
                                            np.concatenate(late_steps)))
        tau2[groups], se[groups], ok[groups] = t, s, c
        for i, text in n.items():
            extra[int(groups[i])] = text
    return tau2, se, ok, extra


def _fit_block(y, v, k, *, method, knha, level, i2_method, pi_method, tau2_ci, con,
               estimate=None):
    """The engine on consecutive groups (rows grouped, k rows each; see module docstring).

    ``estimate`` = (tau2, se, converged, notes by group) gives tau2 already estimated.
    Returns (columns, weights of the rows, notes by group, issues).
    """
    m = k.size
    codes = np.repeat(np.arange(m, dtype=np.intp), k)
    Y, V, M, _, slots = _pack(y, v, codes, m)
    # Every estimate is location-equivariant, so each group is fitted about the effect of
    # its most precise study (the shift is added back to the estimate before the test,
    # the CI and the prediction interval). That study's residual is then exactly 0
    # instead of the rounding error of the weighted mean times its weight, which ruled Q
    # and tau2 when one variance is 1e48 times another (1e-24 and 1e24).
    shift = Y[_most_precise(V, M), np.arange(m)]
    Y = (Y - shift) * M
    kf = k.astype(float)
    common = method in COMMON_EFFECT_METHODS
    note_rows: list[tuple[np.ndarray, str]] = []  # (boolean mask over groups, note)
    row_notes: dict[int, list[str]] = {}
    issues: list[tuple[str, np.ndarray, str]] = []

    with np.errstate(divide="ignore", invalid="ignore"):
        # typical within-study variance (Higgins & Thompson 2002), for I2 and the
        # tolerance check
        WF = M / V
        swF = WF.sum(axis=0)
        vt = (kf - 1.0) / _trace_p(WF, swF)

        # --- tau2
        tau2 = np.zeros(m)
        tau2_se = np.full(m, np.nan)
        converged = np.ones(m, dtype=bool)
        multi = np.flatnonzero(k >= 2)
        if not common and multi.size:
            if estimate is None:
                est = _ESTIMATORS[method]
                t, tse, ok, extra = est(Y[:, multi], V[:, multi], M[:, multi], kf[multi],
                                        con)
                extra = {int(multi[i]): text for i, text in extra.items()}
            else:
                t, tse, ok, extra = (estimate[0][multi], estimate[1][multi],
                                     estimate[2][multi], estimate[3])
            tau2[multi] = t
            tau2_se[multi] = tse
            converged[multi] = ok
            for i, text in extra.items():
                row_notes.setdefault(int(i), []).append(text)
            if method in _TAU2_TOLERANCE:
                setting, search = _TAU2_TOLERANCE[method]
                loose = _loose(tau2, con[setting], vt) & converged
                for i in np.flatnonzero(loose):
                    row_notes.setdefault(int(i), []).append(_below_tolerance_note(
                        "tau2", tau2[i], setting, con[setting], search, vt[i]))
                if loose.any():
                    issues.append((f"the {method} estimate of tau2 is below control "
                                   f"{setting!r} (the precision that produced it)",
                                   np.flatnonzero(loose),
                                   f": it may be far off; lower {setting!r} (see the notes)"))
        failed = ~converged
        if failed.any():
            note_rows.append((failed, f"{method} estimator did not converge: no results"))

        # --- the pooled estimate
        Wt = M / (V + np.where(failed, 0.0, tau2))
        sw = Wt.sum(axis=0)
        mu = (Wt * Y).sum(axis=0) / sw
        var_mu = 1.0 / sw
        single = k == 1
        # k = 1: the study itself, exactly (no rounding through w * y / w)
        mu = np.where(single, Y[0], mu)
        var_mu = np.where(single, V[0], var_mu)
        use_t = knha & ~single
        if knha:
            rss = (Wt * (Y - mu) ** 2).sum(axis=0)
            s2w = np.where(rss <= _EPS, 0.0, rss / np.maximum(kf - 1.0, 1.0))
            var_mu = np.where(use_t, s2w * var_mu, var_mu)
            zero_s2 = use_t & (rss <= _EPS)
            if zero_s2.any():
                note_rows.append((zero_s2, "Hartung-Knapp: the weighted residual sum of "
                                  "squares is 0, so the SE is 0 (as metafor)"))
            if single.any():
                note_rows.append((single, "k = 1: Hartung-Knapp needs k >= 2, so a normal "
                                  "(z) interval is given, as metafor (test='z')"))
            two = k == 2
            if two.any():
                note_rows.append((two, "k = 2: Hartung-Knapp uses t with 1 df, so the "
                                  "interval is very wide"))
            if common:
                note_rows.append((~single, "Hartung-Knapp is not meant for a "
                                  "common-effect model (metafor warns likewise)"))
        mu = mu + shift  # back to the effects' own scale (exact for k = 1)
        se = np.sqrt(var_mu)
        stat = mu / se
        df = np.where(use_t, kf - 1.0, np.nan)
        z_crit = special.ndtri(1.0 - (1.0 - level) / 2.0)
        if knha:
            crit = np.where(use_t, _t_crit(np.maximum(kf - 1.0, 1.0), level), z_crit)
            pval = np.where(
                use_t,
                2.0 * special.stdtr(np.maximum(kf - 1.0, 1.0), -np.abs(stat)),
                2.0 * special.ndtr(-np.abs(stat)),
            )
        else:
            crit = np.full(m, z_crit)
            pval = 2.0 * special.ndtr(-np.abs(stat))
        ci_lb = mu - crit * se
        ci_ub = mu + crit * se

        # --- heterogeneity
        muF = (WF * Y).sum(axis=0) / swF
        q = np.maximum(0.0, (WF * (Y - muF) ** 2).sum(axis=0))
        q_df = k - 1
        q_pval = special.chdtrc(np.maximum(kf - 1.0, 1.0), q)
        with np.errstate(over="ignore"):  # Q ~ 1e-308 (identical effects): -inf, then 0
            i2_q = np.maximum(0.0, 100.0 * (q - q_df) / q)
        h2_q = q / q_df
        if common or i2_method == "q":
            i2, h2 = i2_q, h2_q
        else:
            i2 = 100.0 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1.0
        q = np.where(single, np.nan, q)
        q_pval = np.where(single, np.nan, q_pval)
        i2 = np.where(single, np.nan, i2)
        h2 = np.where(single, np.nan, h2)
        if single.any():
            note_rows.append((single, "k = 1: the estimate is the single study's, with no "
                              "heterogeneity statistics or prediction interval"))

        # --- prediction interval
        pi_lb = np.full(m, np.nan)
        pi_ub = np.full(m, np.nan)
        if not common:
            if pi_method == "metafor":
                pi_ok = ~single
                pi_crit = crit
            else:
                pi_ok = k >= 3
                pi_crit = _t_crit(np.maximum(kf - 2.0, 1.0), level)
                few = k == 2
                if few.any():
                    note_rows.append((few, "higgins2009 prediction interval needs k >= 3 "
                                      "(t with k - 2 df), so none is given"))
            half = pi_crit * np.sqrt(var_mu + tau2)
            pi_lb = np.where(pi_ok, mu - half, np.nan)
            pi_ub = np.where(pi_ok, mu + half, np.nan)

        # --- tau2 CI (Q-profile)
        tau2_ci_lb = np.full(m, np.nan)
        tau2_ci_ub = np.full(m, np.nan)
        if tau2_ci and not common:
            idx = np.flatnonzero(~single & converged)
            if idx.size:
                lb, ub, ok, lb_root, ub_root, ci_notes = _tau2_qprofile_ci(
                    Y[:, idx], V[:, idx], M[:, idx], kf[idx], tau2[idx], level, con
                )
                tau2_ci_lb[idx] = lb
                tau2_ci_ub[idx] = ub
                for i, texts in ci_notes.items():
                    row_notes.setdefault(int(idx[i]), []).extend(texts)
                if not ok.all():
                    issues.append(("the Q-profile CI for tau2 did not converge",
                                   idx[~ok], ""))
                tol = con["tol"]
                ci_loose = np.zeros(idx.size, dtype=bool)
                for name, bound, from_root in (("lower", lb, lb_root), ("upper", ub, ub_root)):
                    low = from_root & _loose(bound, tol, vt[idx])
                    ci_loose |= low
                    for i in np.flatnonzero(low):
                        row_notes.setdefault(int(idx[i]), []).append(_below_tolerance_note(
                            f"Q-profile CI for tau2: the {name} bound", bound[i], "tol", tol,
                            "the root search", vt[idx[i]]))
                if ci_loose.any():
                    issues.append(("a Q-profile CI bound for tau2 is below control 'tol' "
                                   "(the precision of its root search)", idx[ci_loose],
                                   ": it may be far off; lower 'tol' (see the notes)"))
        i2_ci_lb = 100.0 * tau2_ci_lb / (vt + tau2_ci_lb)
        i2_ci_ub = 100.0 * tau2_ci_ub / (vt + tau2_ci_ub)

        if common:
            tau2 = np.zeros(m)  # the common-effect model assumes tau2 = 0, as metafor prints
            tau2_se = np.full(m, np.nan)
        else:
            tau2_se = np.where(single, np.nan, tau2_se)

        if (k > 1).any():
            vratio = (np.where(M > 0, V, 0.0).max(axis=0)
                      / np.where(M > 0, V, np.inf).min(axis=0))
            extreme = vratio >= 1e7
            if extreme.any():
                note_rows.append((extreme, "ratio of largest to smallest sampling variance "
                                  ">= 1e7, so results may be unstable (metafor warns likewise)"))

        # results that depend on a tau2 that was not obtained
        for arr in (mu, se, stat, pval, ci_lb, ci_ub, pi_lb, pi_ub, tau2, tau2_se):
            arr[failed] = np.nan
        if not common:
            i2[failed] = np.nan
            h2[failed] = np.nan
        weights = (Wt / sw)[slots, codes]
        weights[failed[codes]] = np.nan

    if failed.any():
        issues.append((f"the {method} estimator of tau2 did not converge",
                       np.flatnonzero(failed), ""))

    notes = _notes_by_group(note_rows, row_notes)
    columns = {
        "k": k.astype(int),
        "estimate": mu,
        "se": se,
        "ci_lb": ci_lb,
        "ci_ub": ci_ub,
        "stat": stat,
        "pval": pval,
        "df": df,
        "tau2": tau2,
        "tau2_ci_lb": tau2_ci_lb,
        "tau2_ci_ub": tau2_ci_ub,
        "i2": i2,
        "i2_ci_lb": i2_ci_lb,
        "i2_ci_ub": i2_ci_ub,
        "h2": h2,
        "q": q,
        "q_df": q_df.astype(int),
        "q_pval": q_pval,
        "pi_lb": pi_lb,
        "pi_ub": pi_ub,
        "converged": converged,
        "tau2_se": tau2_se,
    }
    return columns, weights, notes, issues


# A tolerance matters when it could move tau2 by this fraction of the typical
# within-study variance vt or more (about one percentage point of I2).
_LOOSE_FRACTION = 0.01


def _loose(value, tol, vt):
    """Where a result lies above 0 and below its tolerance, and the tolerance matters.

    metafor's tolerances are absolute (threshold 1e-5 on the change in tau2, tol
    eps^0.25 ~ 1.2e-4 on the root's bracket), so on small scales (variances near
    1e-7, as for risk differences of rare events) they stop far from the optimum. A
    result below its tolerance may be wrong by as much as the tolerance; that matters
    when the tolerance is at least 1% of vt (it would move I2 by about a percentage
    point, and the weights 1/(v_i + tau2) by as much), and not for variances of
    ordinary size, where tau2 ~ 1e-6 is simply close to 0.
    """
    with np.errstate(invalid="ignore"):
        return (value > 0.0) & (value < tol) & (tol >= _LOOSE_FRACTION * vt)


def _notes_by_group(note_rows, row_notes) -> dict[int, list[str]]:
    per_group: dict[int, list[str]] = {}
    for mask, text in note_rows:
        for i in np.flatnonzero(mask):
            per_group.setdefault(int(i), []).append(text)
    for i, texts in row_notes.items():
        per_group.setdefault(i, []).extend(texts)
    return per_group


def _joined_notes(res: ArrayResult) -> np.ndarray:
    """Each group's notes joined with "; " (no note contains "; " itself)."""
    notes = np.full(res.columns["k"].size, "", dtype=object)
    for i, texts in res.notes.items():
        notes[i] = "; ".join(texts)
    return notes


def _group_message(labels, what: str, advice: str = "", limit: int = 20) -> str:
    shown = ", ".join(repr(x) for x in labels[:limit])
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return f"{what} for group(s) {shown}{more}{advice}"


def _emit(res: ArrayResult) -> None:
    """Warn once per issue (stacklevel points at the caller of pool_batch or pool)."""
    for message in res.issue_messages():
        warnings.warn(message, ConvergenceWarning, stacklevel=3)


def pool(
    yi,
    vi,
    *,
    method: str = "REML",
    knha: bool = False,
    level: float = 0.95,
    i2_method: str = "tau2",
    pi_method: str = "metafor",
    tau2_ci: bool = True,
    control: dict | None = None,
) -> PoolResult:
    """Pool one meta-analysis: :func:`pool_batch` on a single group.

    Same options and formulas as :func:`pool_batch` (module docstring), but the
    Q-profile CI for tau2 is computed by default. Returns a :class:`PoolResult`.
    """
    y, v, codes, labels, method, level, con = _validate(
        yi, vi, None, method, level, i2_method, pi_method, control
    )
    res = _fit_groups(y, v, codes, labels, method=method, knha=knha, level=level,
                      i2_method=i2_method, pi_method=pi_method, tau2_ci=tau2_ci, con=con)
    _emit(res)
    col = res.columns

    def f(name):
        return float(col[name][0])

    df = f("df")
    tau2_se = f("tau2_se")
    return PoolResult(
        k=int(col["k"][0]), method=method, knha=bool(knha), level=float(level),
        estimate=f("estimate"), se=f("se"), ci_lb=f("ci_lb"), ci_ub=f("ci_ub"),
        stat=f("stat"), pval=f("pval"), df=None if math.isnan(df) else df,
        tau2=f("tau2"), tau2_se=None if math.isnan(tau2_se) else tau2_se,
        tau2_ci_lb=f("tau2_ci_lb"), tau2_ci_ub=f("tau2_ci_ub"),
        i2=f("i2"), i2_ci_lb=f("i2_ci_lb"), i2_ci_ub=f("i2_ci_ub"), h2=f("h2"),
        q=f("q"), q_df=int(col["q_df"][0]), q_pval=f("q_pval"),
        pi_lb=f("pi_lb"), pi_ub=f("pi_ub"),
        weights=np.asarray(res.weights, dtype=float),
        converged=bool(col["converged"][0]), notes=tuple(res.notes.get(0, ())),
    )
