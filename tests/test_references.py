"""The committed references cover what the code can do, and can be regenerated."""

from __future__ import annotations

import json
import re
from pathlib import Path

from analysis.pooling import COMMON_EFFECT_METHODS, METHODS

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"


def test_pooling_reference_covers_every_estimator_with_both_ci_methods():
    ref = json.loads((REF / "metafor_pooling.json").read_text())
    # a case with k >= 3, so that the estimator and the CI method both matter
    covered = {(r["method"], bool(r["knha"])) for r in ref["results"]
               if len(ref["datasets"][r["dataset"]]["yi"]) >= 3}
    estimators = [m for m in METHODS if m not in COMMON_EFFECT_METHODS] + ["FE"]
    missing = [(m, hk) for m in estimators for hk in (False, True) if (m, hk) not in covered]
    assert not missing, f"no metafor reference for (method, knha) = {missing}"


def test_every_reference_script_is_regenerated_by_make_references():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^references:.*?(?=^\S|\Z)", makefile, re.M | re.S)
    assert target, "the Makefile has no 'references' target"
    for script in sorted(REF.glob("*.R")):
        assert f"tests/reference/{script.name}" in target.group(0), script.name
        assert (REF / script.with_suffix(".json").name).exists(), script.name


def test_the_divergence_page_names_every_divergence_the_pooling_module_documents():
    page = (REF / "README.md").read_text(encoding="utf-8")
    for topic in ("k = 1", "common-effect", "does not converge", "tau2_max", "ci_maxiter",
                  "statsmodels", "RevMan 5", "Paule–Mandel root search exhausts `maxiter`",
                  "large units", "extreme variance ratios"):
        assert topic in page, topic
    # every bullet of pooling's own list has its row: one bullet, one topic
    from analysis import pooling

    listed = pooling.__doc__.split("Known divergences from metafor", 1)[1].split("\n\n")[1]
    assert listed.count("\n* ") + 1 == 7, "a divergence was added to analysis.pooling: add it here"
