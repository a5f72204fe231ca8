"""analysis.pooling.pool_arrays (the engine for programs) and the engine's blocks.

pool_batch fits its groups a block of rows at a time; every result must be the same
whatever the block size, the study order and the group order. Synthetic data.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import analysis.pooling as pooling
from analysis.pooling import (
    SUMMARY_COLUMNS,
    ArrayResult,
    ConvergenceWarning,
    pool,
    pool_arrays,
    pool_batch,
)

NUMERIC = [c for c in SUMMARY_COLUMNS if c not in ("group", "method", "knha", "notes",
                                                   "converged")]


def _simulated(m, seed=3, kmax=9):
    rng = np.random.default_rng(seed)
    k = rng.integers(1, kmax + 1, m)
    g = np.repeat(np.arange(m), k)
    v = rng.uniform(0.01, 0.3, g.size)
    y = rng.normal(0.2, 0.25, m)[g] + rng.normal(0, np.sqrt(v))
    return y, v, g


def _assert_same(a: pd.DataFrame, b: pd.DataFrame):
    """Equal up to the last bits: numpy may sum a short padded column pairwise or in
    order depending on the array's shape. An iterative tau2 may then stop one step
    earlier or later (its change is then below the threshold, 1e-5), so tau2 near 0
    can differ by about 1e-14; I2 = 100 tau2 / (vt + tau2) and H2 = tau2 / vt + 1
    multiply that by 100 / vt and 1 / vt (vt about 0.1 here), hence their atol."""
    assert list(a["group"]) == list(b["group"])
    for c in NUMERIC:
        atol = 1e-9 if c in ("i2", "h2", "i2_ci_lb", "i2_ci_ub") else 1e-12
        np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-12, atol=atol,
                                   err_msg=c)
    assert list(a["notes"]) == list(b["notes"]) and list(a["converged"]) == list(b["converged"])


@pytest.mark.parametrize("method", ["REML", "PM", "DL", "SJIT", "FE"])
def test_results_do_not_depend_on_the_block_size(monkeypatch, method):
    y, v, g = _simulated(3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = pool_batch(y, v, g, method=method, tau2_ci=True, knha=True)
        monkeypatch.setattr(pooling, "_BLOCK_ROWS", 97)
        monkeypatch.setattr(pooling, "_BLOCK_GROUPS", 13)
        many = pool_batch(y, v, g, method=method, tau2_ci=True, knha=True)
    _assert_same(one.summary, many.summary)
    np.testing.assert_allclose(one.weights, many.weights, rtol=1e-12)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_extreme_variance_ratios_are_fitted_alike_in_blocks_and_alone(monkeypatch, method):
    """Fisher scoring block by block (several blocks) gives each group what pool() gives
    it alone, also for groups whose variances differ 1e24-fold, in either study order
    (pool() there is checked against exact arithmetic in test_pooling_convergence.py)."""
    groups = [([0.0, 1.0], [1e-24, 1e24]), ([1.0, 0.0], [1e24, 1e-24]),
              ([0.0, 10.0], [1e-24, 1.0]), ([10.0, 0.0], [1.0, 1e-24]),
              ([0.0, 10.0, -10.0], [1e-24, 1.0, 1.0]), ([-10.0, 10.0, 0.0], [1.0, 1.0, 1e-24]),
              ([3.0, 1e12, -1e12], [1e-24, 1e24, 1e24]), ([0.1, 0.3, 0.2], [0.01, 0.02, 0.03])]
    y = np.concatenate([g[0] for g in groups])
    v = np.concatenate([g[1] for g in groups])
    codes = np.repeat(np.arange(len(groups)), [len(g[0]) for g in groups])
    monkeypatch.setattr(pooling, "_BLOCK_ROWS", 5)
    monkeypatch.setattr(pooling, "_BLOCK_GROUPS", 2)
    batch = pool_arrays(y, v, codes, method=method).columns
    for i, (yi, vi) in enumerate(groups):
        alone = pool(yi, vi, method=method)
        assert alone.converged and batch["converged"][i], (i, yi, vi)
        for name in ("tau2", "tau2_se", "estimate", "se", "q"):
            assert batch[name][i] == pytest.approx(getattr(alone, name), rel=1e-12, abs=1e-300), (i, name)


def test_interleaved_rows_and_blocks_give_the_grouped_result(monkeypatch):
    y, v, g = _simulated(500)
    order = np.random.default_rng(0).permutation(y.size)
    monkeypatch.setattr(pooling, "_BLOCK_ROWS", 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one group needs > 100 steps
        grouped = pool_batch(y, v, g)
        shuffled = pool_batch(y[order], v[order], g[order])
    s = shuffled.summary.set_index("group").loc[grouped.summary["group"]].reset_index()
    for c in ("estimate", "tau2", "se", "q", "i2"):
        np.testing.assert_allclose(s[c], grouped.summary[c], rtol=1e-12, atol=1e-12, err_msg=c)
    np.testing.assert_allclose(shuffled.weights, grouped.weights[order], rtol=1e-13)


def test_pool_arrays_equals_pool_batch_and_returns_issues_not_warnings():
    y = np.array([0.1, 0.1, 0.1, 0.2, 0.9, -0.4, 0.5, 0.2, 1.3])
    v = np.array([0.02, 0.03, 0.05, 0.04, 0.02, 0.03, 0.05, 0.04, 0.06])
    codes = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pool_arrays(y, v, codes, ["a", "slow"], control={"maxiter": 1})
    assert isinstance(res, ArrayResult)
    assert list(res.columns["group"]) == ["a", "slow"]
    assert [what for what, _, _ in res.issues] == [
        "the REML estimator of tau2 did not converge"]
    assert res.issue_messages() == [
        "the REML estimator of tau2 did not converge for group(s) 'slow'"]
    assert res.notes[1] == ["REML estimator did not converge: no results"]
    with pytest.warns(ConvergenceWarning, match=r"did not converge for group\(s\) 'slow'"):
        batch = pool_batch(y, v, np.where(codes == 0, "a", "slow"), control={"maxiter": 1})
    for c in NUMERIC:
        np.testing.assert_array_equal(res.columns[c], batch.summary[c].to_numpy(), err_msg=c)
    np.testing.assert_array_equal(res.weights, batch.weights)


def test_pool_arrays_default_labels_and_one_group():
    res = pool_arrays([0.1, 0.3, 0.2], [0.01, 0.02, 0.03])
    assert list(res.columns["group"]) == ["all"]
    assert res.columns["estimate"][0] == pytest.approx(pool([0.1, 0.3, 0.2],
                                                            [0.01, 0.02, 0.03]).estimate)
    res = pool_arrays([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], [1, 0, 1])
    assert list(res.columns["group"]) == [0, 1] and list(res.columns["k"]) == [1, 2]


@pytest.mark.parametrize(("codes", "labels", "message"), [
    ([0, 1], None, r"codes must be one integer per row \(3\)"),
    ([0.0, 1.0, 1.0], None, "codes must be integers"),
    ([0, 1, 2], ["a", "b"], r"codes must lie in 0..1; they do not at row index\(es\) 2"),
    ([0, -1, 1], None, r"they do not at row index\(es\) 1"),
    ([0, 0, 2], ["a", "b", "c"], r"group\(s\) 1 have no rows"),
])
def test_pool_arrays_bad_codes(codes, labels, message):
    with pytest.raises(ValueError, match=message):
        pool_arrays([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], codes, labels)


def test_categorical_groups_keep_first_appearance_order():
    y, v = [0.1, 0.3, 0.2, 0.5], [0.01, 0.02, 0.03, 0.02]
    g = pd.Categorical(["z", "a", "z", "a"], categories=["a", "z"])
    s = pool_batch(y, v, pd.Series(g)).summary
    assert list(s["group"]) == ["z", "a"]
    assert list(s["k"]) == [2, 2]
    with pytest.raises(ValueError, match=r"groups is missing at row index\(es\) 1"):
        pool_batch(y, v, pd.Categorical(["z", None, "z", "a"]))


def test_importing_the_engine_does_not_import_pandas():
    code = ("import sys, analysis.pooling as p; "
            "r = p.pool_arrays([0.1, 0.3], [0.01, 0.02]); "
            "assert 'pandas' not in sys.modules, 'pandas imported'; print(r.columns['k'][0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
