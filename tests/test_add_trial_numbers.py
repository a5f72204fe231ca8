"""The promise to users: whoever has a trial's full text can add its numbers, with their
source, to data/ and rerun one command.

A copy of data/ gets clearly synthetic numbers for Neeter 2003's primary outcome (pain
during and after activity, both arms, at the end of treatment and at 6 weeks), entered
as a user would: value, status ``reported``, source ``test fixture``. The numbers exist
only in this test; nothing is written to data/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from scipy import special

from analysis.data import load_package
from analysis.figures import all_figures
from analysis.trial_effects import review_tables
from analysis.trial_effects import continuous_effects

from datacopy import SYNTHETIC_NEETER, fill_neeter_synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "test fixture"

SYNTHETIC = SYNTHETIC_NEETER

# one worker fills the data and builds its figures once (module fixtures run once per worker)
pytestmark = pytest.mark.xdist_group("neeter-filled")


def _fill_neeter(data_dir: Path) -> None:
    fill_neeter_synthetic(data_dir, SOURCE)


def _oriented_g(key_t, key_c):
    """Hedges' g (exact J), metafor SMD, times -1 because higher pain is worse."""
    m1, s1, n1 = SYNTHETIC[key_t]
    m2, s2, n2 = SYNTHETIC[key_c]
    m = n1 + n2 - 2
    j = np.exp(special.gammaln(m / 2) - special.gammaln((m - 1) / 2)) / np.sqrt(m / 2)
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
    g = j * (m1 - m2) / sp
    return -g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("user") / "data"
    shutil.copytree(ROOT / "data", data_dir)
    _fill_neeter(data_dir)
    return data_dir


def _run(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_filled_package_validates(filled):
    res = _run("validate", str(filled))
    assert res.returncode == 0, res.stderr
    assert "valid data package" in res.stdout


def test_the_original_data_are_untouched(filled):
    orig = load_package(ROOT / "data")
    neeter = orig.outcomes[(orig.outcomes["study_id"] == "neeter2003")]
    assert neeter["mean"].isna().all()
    assert not (orig.outcomes["mean_source"] == SOURCE).any()


def test_neeter_becomes_estimable_with_its_source_in_the_audit_trail(filled):
    eff = continuous_effects(load_package(filled))
    neeter = eff[(eff["study_id"] == "neeter2003") & (eff["outcome_id"] == "pain_activity")]
    ok = neeter[neeter["estimable"]]
    assert set(ok["timepoint_id"]) == {"end_of_treatment", "week_6"}
    assert len(ok) == 4  # MD and SMD at the two time points
    for tp in ("end_of_treatment", "week_6"):
        smd = ok[(ok["timepoint_id"] == tp) & (ok["measure"] == "SMD")].iloc[0]
        g, v = _oriented_g(("dexamethasone", tp), ("placebo", tp))
        assert g > 0  # less pain with dexamethasone favours dexamethasone
        np.testing.assert_allclose([smd["yi"], smd["vi"]], [g, v], rtol=1e-10)
        assert f"means reported, {SOURCE}" in smd["how"]
        assert "n at this time point (reported, test fixture)" in smd["how"]
        assert "sign reversed" in smd["how"]
        md = ok[(ok["timepoint_id"] == tp) & (ok["measure"] == "MD")].iloc[0]
        (m1, _, _), (m2, _, _) = SYNTHETIC[("dexamethasone", tp)], SYNTHETIC[("placebo", tp)]
        assert md["yi"] == pytest.approx(m1 - m2)
    # the other outcomes and time points of Neeter stay not estimable
    assert not neeter[~neeter["timepoint_id"].isin(["end_of_treatment", "week_6"])][
        "estimable"].any()


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


@pytest.fixture(scope="module")
def specs(filled):
    specs = {s.name: s for s in all_figures(review_tables(load_package(filled)))}
    yield specs
    import matplotlib.pyplot as plt

    for s in specs.values():
        plt.close(s.figure)


@pytest.mark.parametrize("window, tp", [("end_of_treatment", "end_of_treatment"),
                                        ("about_one_month", "week_6")])
def test_forest_plot_pools_two_running_injury_trials(specs, window, tp):
    spec = specs[f"forest_smd_{window}"]
    table = spec.table
    study = table[(table["row_type"] == "study") & (table["study"] == "Neeter 2003")].iloc[0]
    assert bool(study["estimable"])
    g, _ = _oriented_g(("dexamethasone", tp), ("placebo", tp))
    np.testing.assert_allclose(study["estimate"], g, rtol=1e-10)
    assert 0 < study["weight"] < 100
    running = table[(table["row_type"] == "study")
                    & (table["subgroup"] == "Running injuries")]
    est = running[running["estimable"].astype(bool)]
    assert set(est["study"]) == {"Gudeman 1997", "Neeter 2003"}
    assert est["weight"].sum() == pytest.approx(100.0)
    sub = table[(table["row_type"] == "subtotal")
                & (table["subgroup"] == "Running injuries")].iloc[0]
    assert sub["k"] == 2 and sub["q_df"] == 1
    assert np.isfinite(sub["q"]) and np.isfinite(sub["tau2"])
    assert sub["n_t"] == 20 + 14 and sub["n_c"] == 20 + 11
    het = [t for t in _texts(spec.figure) if t.startswith("Heterogeneity: Tau")]
    assert len(het) == 1  # the running-injury subtotal; the elbow one has k = 1
    assert re.search(r"Chi² = [0-9.]+, df = 1 \(P = ", het[0]), het[0]
    # Osborne & Allison 2006 is still shown, still not estimable
    osb = table[(table["row_type"] == "study") & (table["study"] == "Osborne & Allison 2006")]
    assert len(osb) == 1 and not bool(osb["estimable"].iloc[0])


def test_catch_up_chart_pools_two_trials(specs):
    table = specs["catchup_one_month"].table
    pooled = table[table["quantity"] == "pooled SMD, running injuries"]
    assert list(pooled["k"]) == [2, 2]
    assert (pooled["study"] == "Pooled (2 trial(s))").all()


def test_one_command_writes_the_figure_csv_with_neeters_weight(filled, tmp_path):
    out = tmp_path / "figures"
    # the forest plot this test reads; every figure is built from the filled package by
    # the module's `specs` fixture, and reproduce's drawing of all of them is the same
    # code as for this one (test_stamps, test_cli)
    res = _run("reproduce", "--data", str(filled), "--figures", str(out), "--tables", str(out),
               "--skip-notebooks", "--figure", "forest_smd_end_of_treatment")
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out / "forest_smd_end_of_treatment.csv")
    row = table[(table["row_type"] == "study") & (table["study"] == "Neeter 2003")]
    assert len(row) == 1
    weight = float(row["weight"].iloc[0])
    assert 0 < weight < 100
    sub = table[(table["row_type"] == "subtotal") & (table["subgroup"] == "Running injuries")]
    assert int(sub["k"].iloc[0]) == 2
    for ext in ("png", "svg"):
        assert (out / f"forest_smd_end_of_treatment.{ext}").stat().st_size > 0
    assert not (out / "forest_smd_about_one_month.csv").exists()  # not asked for
