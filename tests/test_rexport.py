"""The R cross-check: MetaAnalysis.to_r() writes a metafor script that reproduces every
pooled number. The script's text is checked always; where R with metafor is installed
(Debian's r-cran-metafor) the script is run and its numbers compared, otherwise skipped."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from analysis.figures import forest_analysis, md_forest_analysis
from analysis.meta import meta_analysis
from analysis.rexport import parse_script_output, r_number, r_string

HAVE_R = shutil.which("Rscript") is not None and subprocess.run(
    ["Rscript", "-e", "library(metafor)"], capture_output=True).returncode == 0 \
    if shutil.which("Rscript") else False
needs_r = pytest.mark.skipif(not HAVE_R, reason="R with metafor (r-cran-metafor) not installed")

#: Invented numbers for a teaching example (k = 5; no trial).
FIVE = pd.DataFrame({"study": [f"Trial {c}" for c in "ABCDE"],
                     "yi": [0.2, 0.9, -0.3, 0.5, 2.6], "vi": [0.09, 0.0625, 0.16, 0.04, 0.81]})


def run_r(script: str, tmp_path):
    path = tmp_path / "check.R"
    path.write_text(script, encoding="utf-8")
    done = subprocess.run(["Rscript", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return parse_script_output(done.stdout)


def compare(ma, table, test, *, fields=("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2",
                                        "q", "q_pval", "i2", "pi_lb", "pi_ub")):
    pooled = ma.pooled
    assert list(table["group"]) == list(pooled["subgroup"])
    for field in fields:
        mine, theirs = pooled[field].to_numpy(float), table[field].to_numpy(float)
        ok = np.isfinite(mine)  # k = 1: no Q, I2 or prediction interval here (metafor: 0 / CI)
        np.testing.assert_allclose(mine[ok], theirs[ok], rtol=1e-6, atol=1e-10, err_msg=field)
    if ma.subgroup_test is None:
        assert test is None
    else:
        assert test["q"] == pytest.approx(ma.subgroup_test["q"], rel=1e-6)
        assert test["df"] == ma.subgroup_test["df"]


def test_r_literals_round_trip_and_escape():
    assert r_number(0.1) == "0.1" and r_number(float("nan")) == "NA" and r_number(20) == "20.0"
    assert float(r_number(1 / 3)) == 1 / 3
    assert r_string('Osborne & "Allison" \\ 2006') == '"Osborne & \\"Allison\\" \\\\ 2006"'


def test_the_script_has_the_data_inline_and_the_same_model(tables):
    ma, _ = forest_analysis(tables.effects, window="end_of_treatment")
    script = ma.to_r(title="forest_smd_end_of_treatment")
    assert script.startswith("# forest_smd_end_of_treatment\n")
    assert "library(metafor)" in script
    assert 'rma(yi, vi, data = d, method = "REML", test = "z", level = 95.0)' in script
    assert 'escalc(measure = "SMD"' in script and 'vtype = "LS"' in script
    assert 'study = c("Gudeman 1997", "Nirschl 2003")' in script
    assert "6.8" in script and "Neeter" not in script.split("dat <-")[1].split("fit <-")[0]
    # Nirschl's SD is the analysis' recovery, and the script says so in the audit comments
    assert "Nirschl 2003: " in script and "p = 0.012" in script
    assert 'rma(out$estimate, sei = out$se, method = "FE")' in script


def test_yi_vi_without_arm_data_are_given_directly():
    script = meta_analysis(FIVE, knha=True, method="PM", level=0.9, tau2_ci=True).to_r()
    assert "yi = c(0.2, 0.9, -0.3, 0.5, 2.6)" in script and "escalc" not in script
    assert 'method = "PM", test = "knha", level = 90.0' in script
    assert "confint(r)" in script


def test_an_smd_oriented_for_an_outcome_where_higher_is_worse_is_turned_round():
    arms = dict(mean_t=[3.0, 2.0], sd_t=[1.5, 1.5], n_t=[14, 14], mean_c=[5.0, 3.0],
                sd_c=[2.0, 2.0], n_c=[11, 11])
    from analysis.effect_sizes import hedges_g
    g = hedges_g(arms["mean_t"], arms["sd_t"], arms["n_t"], arms["mean_c"], arms["sd_c"],
                 arms["n_c"])
    t = pd.DataFrame({"study": ["Synthetic 1", "Synthetic 2"], "yi": -g.yi, "vi": g.vi, **arms})
    script = meta_analysis(t, measure="SMD").to_r()
    assert "dat$yi[rows] <- c(-1.0, -1.0) * as.numeric(es$yi)" in script
    assert "higher is worse" in script


@needs_r
@pytest.mark.parametrize("window", ["end_of_treatment", "about_one_month"])
def test_forest_figure_scripts_reproduce_the_figures_numbers_in_r(tables, window, tmp_path):
    ma, _ = forest_analysis(tables.effects, window=window)
    table, test = run_r(ma.to_r(), tmp_path)
    compare(ma, table, test)
    # and the committed figure CSV holds the same numbers
    from analysis.paths import FIGURES_DIR
    csv = pd.read_csv(FIGURES_DIR / f"forest_smd_{window}.csv")
    sub = csv[csv["row_type"] == "subtotal"]
    np.testing.assert_allclose(sub["estimate"], table["estimate"], rtol=1e-8)
    np.testing.assert_allclose(sub["ci_lb"], table["ci_lb"], rtol=1e-8)


@needs_r
def test_md_figure_script_reproduces_in_r(tables, tmp_path):
    ma, _, _, _ = md_forest_analysis(tables.effects, tables.outcomes)
    table, test = run_r(ma.to_r(), tmp_path)
    compare(ma, table, test)


@needs_r
@pytest.mark.parametrize("options", [
    dict(), dict(method="DL", knha=True), dict(method="PM", level=0.9, tau2_ci=True),
    dict(method="FE"), dict(method="ML", i2_method="q", pi_method="higgins2009"),
    dict(method="SJ", control={"maxiter": 200}),
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_any_model_of_a_teachers_example_reproduces_in_r(options, tmp_path):
    ma = meta_analysis(FIVE, **options)
    table, test = run_r(ma.to_r(), tmp_path)
    fields = ["estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "q", "q_pval", "i2"]
    if not ma.options.common_effect:
        fields += ["pi_lb", "pi_ub"]
    compare(ma, table, test, fields=fields)
    if ma.options.tau2_ci:
        np.testing.assert_allclose(ma.pooled["tau2_ci_lb"], table["tau2_ci_lb"], rtol=1e-4)
        np.testing.assert_allclose(ma.pooled["tau2_ci_ub"], table["tau2_ci_ub"], rtol=1e-4)
