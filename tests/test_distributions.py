"""analysis.distributions gives scipy.stats' numbers bit for bit (it calls the same
scipy.special ufuncs without importing scipy.stats)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.distributions import StudentT, norm

PROBABILITIES = np.array([0.0, 1e-300, 1e-12, 0.001, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.95,
                          0.975, 0.999, 1 - 1e-12, 1.0, -0.1, 1.1, np.nan])
POINTS = np.array([-np.inf, -40.0, -8.5, -1.96, -0.3, -0.0, 0.0, 1e-300, 0.7, 1.96, 3.0,
                   38.0, np.inf, np.nan])
DFS = [1, 2, 3.5, 10, 38, 1e4, 1e12]


def _same(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("method, grid", [("cdf", POINTS), ("sf", POINTS),
                                          ("ppf", PROBABILITIES), ("isf", PROBABILITIES)])
def test_the_normal_is_scipys_bit_for_bit(method, grid):
    assert _same(getattr(norm, method)(grid), getattr(stats.norm, method)(grid))
    for x in grid:  # scalars too, as the analysis calls them
        assert _same(getattr(norm, method)(float(x)), getattr(stats.norm, method)(float(x)))


@pytest.mark.parametrize("df", DFS)
@pytest.mark.parametrize("method, grid", [("cdf", POINTS), ("sf", POINTS),
                                          ("ppf", PROBABILITIES), ("isf", PROBABILITIES)])
def test_student_t_is_scipys_bit_for_bit(df, method, grid):
    assert _same(getattr(StudentT(df), method)(grid), getattr(stats.t(df), method)(grid))
    assert _same(getattr(StudentT(df), method)(grid), getattr(stats.t, method)(grid, df))


def test_student_t_broadcasts_an_array_of_df_like_scipy():
    df = np.array([1.0, 4.0, 38.0])
    q = np.array([0.975, 0.5, 0.01])
    assert _same(StudentT(df).isf(q), stats.t.isf(q, df))
    assert _same(StudentT(df).ppf(0.975), stats.t.ppf(0.975, df))


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 1), st.floats(0.5, 1e6), st.floats(-1e3, 1e3))
def test_any_probability_df_and_point_give_scipys_numbers(q, df, x):
    t = StudentT(df)
    assert _same(t.ppf(q), stats.t.ppf(q, df)) and _same(t.isf(q), stats.t.isf(q, df))
    assert _same(t.cdf(x), stats.t.cdf(x, df)) and _same(t.sf(x), stats.t.sf(x, df))
    assert _same(norm.ppf(q), stats.norm.ppf(q)) and _same(norm.sf(x), stats.norm.sf(x))


def test_importing_the_analysis_does_not_import_scipy_stats():
    import subprocess
    import sys

    code = ("import sys, analysis.trial_effects, analysis.catchup, analysis.figures, "
            "analysis.grade, analysis.teaching, analysis.meta, analysis.multiverse, "
            "analysis.pool_cli; print(sorted(m for m in ('scipy.stats', 'scipy.optimize', "
            "'statsmodels') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"MPLBACKEND": "Agg", "PATH": ""})
    assert out.stdout.strip() == "[]", out.stdout
