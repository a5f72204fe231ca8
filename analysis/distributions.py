"""The normal and Student's t distributions' cdf, sf, ppf and isf, as scipy.stats
computes them, without importing scipy.stats.

``scipy.stats.norm`` and ``scipy.stats.t`` evaluate these with scipy.special's ufuncs
(``ndtr``, ``ndtri``, ``stdtr``, ``stdtrit``; see ``_continuous_distns.py``: for
example ``t._isf(q, df) = -stdtrit(df, q)``) and handle the ends of the range
themselves (a probability of 0 or 1, an invalid ``df``). Calling the ufuncs directly,
with the same handling of the ends, gives the same numbers bit for bit
(``tests/test_distributions.py`` compares them on a grid with the boundaries 0, 1, ±inf
and NaN, and on random values) and spares every process that only needs a
quantile or a p-value the half second it takes to import scipy.stats (measured with
``python -X importtime`` on the machine the README's performance table names): the
notebooks' kernels, the command line and each test worker.

Only standard distributions (location 0, scale 1) are offered, which is all the
analysis uses; anything more is what scipy.stats is for.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _quantile(function, q, ok=True, *, upper: bool):
    """``function(q)`` inside (0, 1) and the distribution's ends at 0 and 1, NaN
    elsewhere, as ``rv_continuous.ppf`` and ``.isf`` give them (scipy.special's
    ``stdtrit`` does not: ``stdtrit(10, 0)`` is +inf)."""
    q = np.asarray(q, dtype=float)
    ok = np.asarray(ok, dtype=bool)
    inside = ok & (q > 0) & (q < 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(inside, function(np.where(inside, q, 0.5)), np.nan)
    low, high = (np.inf, -np.inf) if upper else (-np.inf, np.inf)
    values = np.where(ok & (q == 0), low, values)
    values = np.where(ok & (q == 1), high, values)
    return values[()] if values.ndim == 0 else values


def _probability(function, x, ok=True):
    """``function(x)`` where the distribution's parameters are valid, NaN elsewhere."""
    x = np.asarray(x, dtype=float)
    values = np.where(np.asarray(ok, dtype=bool), function(x), np.nan)
    return values[()] if values.ndim == 0 else values


class _Normal:
    """The standard normal distribution: ``cdf``, ``sf``, ``ppf``, ``isf``."""

    name = "normal"

    @staticmethod
    def cdf(x):
        return _probability(special.ndtr, x)

    @staticmethod
    def sf(x):
        return _probability(lambda v: special.ndtr(-v), x)

    @staticmethod
    def ppf(q):
        return _quantile(special.ndtri, q, upper=False)

    @staticmethod
    def isf(q):
        return _quantile(lambda v: -special.ndtri(v), q, upper=True)


#: The standard normal distribution (as ``scipy.stats.norm``).
norm = _Normal()


class StudentT:
    """Student's t with ``df`` degrees of freedom (as ``scipy.stats.t(df)``; a ``df``
    that is not positive gives NaN, as there)."""

    name = "t"

    def __init__(self, df):
        self.df = df

    def _ok(self):
        with np.errstate(invalid="ignore"):
            return np.asarray(self.df, dtype=float) > 0

    def cdf(self, x):
        return _probability(lambda v: special.stdtr(self.df, v), x, self._ok())

    def sf(self, x):
        return _probability(lambda v: special.stdtr(self.df, -v), x, self._ok())

    def ppf(self, q):
        return _quantile(lambda v: special.stdtrit(self.df, v), q, self._ok(), upper=False)

    def isf(self, q):
        return _quantile(lambda v: -special.stdtrit(self.df, v), q, self._ok(), upper=True)

    def __repr__(self) -> str:
        return f"StudentT(df={self.df!r})"
