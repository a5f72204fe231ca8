"""The teaching notebook's exercises, self-checks, worked answers, simulation and versions.

References: R and metafor (tests/reference/teaching_reference.R and its JSON, with
metafor_trials.json and catchup_reference.json for the answers they already hold), and
answers worked by hand from the abstracts' numbers (typed here on purpose: they pin the
data, and a change to data/ must show up here)."""

from __future__ import annotations

import json
import math
import re
import shutil

import nbformat
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from analysis import teaching
from analysis.paths import DATA_DIR, NOTEBOOKS_DIR
from analysis.teaching import (
    ANSWER_TAG,
    CI_HK,
    CI_WALD,
    EXERCISES,
    METADATA_KEY,
    STUDENT_TAG,
    TEACHING_NOTEBOOK,
    answer_for,
    build_versions,
    check,
    exercise_table,
    hint_values,
    simulate_two_trial_draws,
    two_trial_coverage,
    two_trial_variances,
    worked_answer,
)

REF = DATA_DIR.parent / "tests" / "reference"
TEACHING_REF = json.loads((REF / "teaching_reference.json").read_text())
TRIALS_REF = json.loads((REF / "metafor_trials.json").read_text())
CATCHUP_REF = json.loads((REF / "catchup_reference.json").read_text())
NOTEBOOK = NOTEBOOKS_DIR / TEACHING_NOTEBOOK
IDS = list(EXERCISES)
NUMBER_IDS = [i for i in IDS if EXERCISES[i].kind == "number"]
JUDGEMENT_IDS = [i for i in IDS if EXERCISES[i].kind == "judgement"]


def _shown(value, digits: int) -> list[str]:
    """How an answer could be written in a message: at its digits and one more."""
    out = []
    for d in {digits, digits + 1, max(digits, 2)}:
        text = f"{value:.{d}f}"
        out += [text, text.replace("-", "\u2212")]
    return out


# --------------------------------------------------------------------------- the registry


def test_exercises_are_numbered_by_section_in_notebook_order():
    assert IDS, "no exercises"
    keys = []
    for ex_id, ex in EXERCISES.items():
        m = re.fullmatch(r"exercise-(\d)([a-z])", ex_id)
        assert m, ex_id
        assert int(m.group(1)) == ex.section
        keys.append((ex.section, m.group(2)))
        assert ex.question and ex.answer_format and ex.wrong and ex.hints, ex_id
        assert ex.kind in ("number", "judgement")
    assert keys == sorted(keys)
    assert {ex.section for ex in EXERCISES.values()} == set(range(1, 9))
    table = exercise_table()
    assert list(table["id"]) == IDS
    assert list(table.columns) == ["id", "section", "title", "question", "answer_format"]


# --------------------------------------------------------------------------- check()


@pytest.mark.parametrize("ex_id", IDS)
def test_the_expected_answer_is_right(ex_id):
    ex = EXERCISES[ex_id]
    expected = answer_for(ex_id)
    result = check(ex_id, expected)
    assert result.verdict == "right" and result.hint is None, result
    if ex.kind == "number":
        # written as the format asks (rounded), and as text
        assert check(ex_id, round(expected, ex.digits)).verdict == "right"
        assert check(ex_id, f"{round(expected, ex.digits)}").verdict == "right"
        assert check(ex_id, f"{expected:.{ex.digits}f}".replace("-", "\u2212")).verdict == "right"
    else:
        label = teaching.judgement_label(expected)
        assert check(ex_id, label).verdict == "right"
        assert check(ex_id, f"  {label.upper()} ").verdict == "right"


@pytest.mark.parametrize("ex_id", IDS)
def test_every_close_hint_is_recognised_and_does_not_give_the_answer_away(ex_id):
    ex = EXERCISES[ex_id]
    expected = answer_for(ex_id)
    hints = hint_values(ex_id)
    assert hints, f"{ex_id}: no close hint applies"
    assert set(hints) <= {h.name for h in ex.hints}
    for name, value in hints.items():
        result = check(ex_id, value)
        assert (result.verdict, result.hint) == ("close", name), (name, value, result)
        assert result.message == next(h.message for h in ex.hints if h.name == name)
        if ex.kind == "number":
            assert not any(s in result.message for s in _shown(expected, ex.digits)), result
        else:
            label = teaching.judgement_label(expected).lower()
            assert not re.search(rf"\b{label}\b", result.message.lower()), result


@pytest.mark.parametrize("ex_id", IDS)
def test_every_hint_of_the_registry_applies_with_the_committed_data(ex_id):
    """A hint that never fires would be a hint nobody can test; with today's data each
    has a value away from the answer."""
    assert set(hint_values(ex_id)) == {h.name for h in EXERCISES[ex_id].hints}


@pytest.mark.parametrize("ex_id", NUMBER_IDS)
def test_close_hints_are_apart_from_each_other_and_from_the_answer(ex_id):
    tol = EXERCISES[ex_id].tolerance
    values = [answer_for(ex_id), *hint_values(ex_id).values()]
    gaps = [abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]]
    assert min(gaps) > tol, f"{ex_id}: two answers within the tolerance {tol}: {values}"


@pytest.mark.parametrize("ex_id", IDS)
def test_a_wrong_answer_says_where_to_look_without_the_answer(ex_id):
    ex = EXERCISES[ex_id]
    expected = answer_for(ex_id)
    if ex.kind == "number":
        far = expected + 1000.0 * (1.0 + abs(expected))
        result = check(ex_id, far)
        assert not any(s in result.message for s in _shown(expected, ex.digits))
    else:
        used = {expected, *hint_values(ex_id).values()}
        other = next(j for j in ("low", "some_concerns", "high", "no_information")
                     if j not in used)
        result = check(ex_id, teaching.judgement_label(other))
        label = teaching.judgement_label(expected).lower()
        assert not re.search(rf"\b{label}\b", result.message.lower())
    assert (result.verdict, result.message, result.hint) == ("wrong", ex.wrong, None)


@pytest.mark.parametrize("bad_id", ["exercise-9a", "Exercise-2a", "2a", "", None, 2])
def test_an_unknown_exercise_is_named_with_the_valid_ids(bad_id):
    result = check(bad_id, 3.7)
    assert result.verdict == "invalid"
    assert "argument 'exercise'" in result.message and "exercise-2a" in result.message
    with pytest.raises(ValueError, match="argument 'exercise'"):
        answer_for(bad_id)
    with pytest.raises(ValueError, match="argument 'exercise'"):
        hint_values(bad_id)


@pytest.mark.parametrize("ex_id", NUMBER_IDS)
@pytest.mark.parametrize("bad", ["abc", "3,7", float("nan"), float("inf"), True, [3.7],
                                 {"value": 1}])
def test_a_number_exercise_refuses_what_is_not_a_number(ex_id, bad):
    result = check(ex_id, bad)
    assert result.verdict == "invalid"
    assert "argument 'answer'" in result.message and "finite number" in result.message


@pytest.mark.parametrize("ex_id", JUDGEMENT_IDS)
@pytest.mark.parametrize("bad", ["maybe", "lowish", 3, 0.5, ["low"]])
def test_a_judgement_exercise_refuses_what_is_not_a_rob2_word(ex_id, bad):
    result = check(ex_id, bad)
    assert result.verdict == "invalid"
    assert "argument 'answer'" in result.message and "some concerns" in result.message


@pytest.mark.parametrize("ex_id", IDS)
def test_none_is_an_answer_not_yet_given(ex_id):
    result = check(ex_id, None)
    assert result.verdict == "unanswered"
    assert EXERCISES[ex_id].answer_format in result.message


def test_the_hints_name_the_usual_mistakes_of_the_brief():
    """The mistakes a class makes at these points are recognised by name."""
    assert check("exercise-1a", hint_values("exercise-1a")["se_reading"]).message.startswith(
        "Close: that is the half-width if \u00b1 were each arm's standard error")
    assert "normal instead of t" in check("exercise-3a",
                                          hint_values("exercise-3a")["normal"]).message
    assert "Cochrane" in check("exercise-2a", 3.8).message


# --------------------------------------------------------------------------- the answers


def _trial_ref(study_id, timepoint_id, measure, vtype="LS"):
    return next(r for r in TRIALS_REF["continuous"]
                if (r["study_id"], r["timepoint_id"], r["measure"], r["vtype"])
                == (study_id, timepoint_id, measure, vtype))


@pytest.mark.parametrize("ex_id", sorted(TEACHING_REF["exercises"].keys() & set(IDS)))
def test_answers_agree_with_r(ex_id):
    ref = TEACHING_REF["exercises"][ex_id]
    assert answer_for(ex_id) == pytest.approx(ref["value"], rel=1e-9, abs=1e-12), ref["call"]


def test_answers_agree_with_metafor_escalc_and_the_catchup_reference():
    md = _trial_ref("gudeman1997", "end_of_treatment", "MD")
    smd = _trial_ref("gudeman1997", "end_of_treatment", "SMD")
    assert answer_for("exercise-2a") == pytest.approx(md["yi"], rel=1e-12)
    assert answer_for("exercise-2b") == pytest.approx(smd["yi"], rel=1e-12)
    assert answer_for("exercise-2c") == pytest.approx(math.sqrt(smd["vi"]), rel=1e-12)
    tost = next(t for t in CATCHUP_REF["tost"]
                if t["study_id"] == "nirschl2003" and t["margin"] == 15)
    assert answer_for("exercise-6d") == pytest.approx(tost["value"]["p_tost"], rel=1e-9)

    def root(window, method, curve, pick):
        ref = next(t for t in CATCHUP_REF["thresholds"]
                   if (t["study_id"], t["window"], t["method"], t["knha"])
                   == ("neeter2003", window, method, False))
        return pick(r["g"] for r in ref["roots"] if r["curve"] == curve)

    assert answer_for("exercise-7a") == pytest.approx(
        root("end_of_treatment", "REML", "ci_lb", min), abs=1e-7)
    assert answer_for("exercise-7b") == pytest.approx(
        root("end_of_treatment", "REML", "ci_lb", max), abs=1e-7)
    assert answer_for("exercise-7c") == pytest.approx(
        root("about_one_month", "FE", "ci_lb", min), abs=1e-7)


def test_answers_worked_by_hand_from_the_abstracts():
    z = stats.norm.ppf(0.975)
    # 1a: the SE of Gudeman's MD with ± as the SD, 20/20 feet
    assert answer_for("exercise-1a") == pytest.approx(z * math.sqrt(5.6**2 / 20 + 4.1**2 / 20))
    # 1b: the data note says only 20/20 and 26/14 reproduce the Cochrane interval
    assert answer_for("exercise-1b") == 26
    # 2: MD, Hedges' g with the exact J(38), its large-sample SE
    assert answer_for("exercise-2a") == pytest.approx(6.8 - 3.1)
    sp = math.sqrt((19 * 5.6**2 + 19 * 4.1**2) / 38)
    j = math.exp(special.gammaln(19) - 0.5 * math.log(19) - special.gammaln(18.5))
    g = j * 3.7 / sp
    assert answer_for("exercise-2b") == pytest.approx(g)
    assert answer_for("exercise-2c") == pytest.approx(math.sqrt(0.1 + g**2 / 80))
    # 3: Nirschl, MD 9 with p = 0.012 and n 99/100
    se_t = 9 / stats.t.isf(0.006, 197)
    assert answer_for("exercise-3a") == pytest.approx(se_t)
    assert answer_for("exercise-3b") == pytest.approx(se_t / math.sqrt(1 / 99 + 1 / 100))
    assert answer_for("exercise-3c") == pytest.approx(
        100 * (stats.t.isf(0.006, 197) / stats.norm.isf(0.006) - 1))
    # 4a: 40 feet from 20 patients, ICC 0.5
    assert answer_for("exercise-4a") == pytest.approx(1.5)
    # 6a: 1.8 - 3.7; 6b: the farther bound of the 90% CI of 1.8
    assert answer_for("exercise-6a") == pytest.approx(1.8 - 3.7)
    se = math.sqrt(6.3**2 / 20 + 8.0**2 / 20)
    assert answer_for("exercise-6b") == pytest.approx(1.8 + stats.norm.ppf(0.95) * se)
    # 8: the review's judgements in data/risk_of_bias.csv
    assert answer_for("exercise-8a") == "no_information"
    assert answer_for("exercise-8b") == "high"


def test_answers_are_computed_from_the_data_when_check_is_called(tmp_path):
    """A copy of data/ with Gudeman's placebo mean changed: the answers follow, and so does
    a folder edited after its first use."""
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    outcomes = pd.read_csv(data / "outcomes.csv", dtype=str, keep_default_na=False)
    row = ((outcomes["study_id"] == "gudeman1997") & (outcomes["arm_id"] == "placebo")
           & (outcomes["timepoint_id"] == "end_of_treatment"))
    assert outcomes.loc[row, "mean"].tolist() == ["3.1"]
    assert answer_for("exercise-2a", data_dir=data) == pytest.approx(6.8 - 3.1)
    assert check("exercise-2a", 3.7, data_dir=data).verdict == "right"
    outcomes.loc[row, "mean"] = "2.1"
    outcomes.to_csv(data / "outcomes.csv", index=False, lineterminator="\n")
    assert answer_for("exercise-2a", data_dir=data) == pytest.approx(6.8 - 2.1)
    assert check("exercise-2a", 4.7, data_dir=data).verdict == "right"
    assert check("exercise-2a", 3.7, data_dir=data).verdict == "wrong"


# --------------------------------------------------------------------------- worked_answer


def test_worked_answer_shows_the_value_beside_the_package_result():
    shown = worked_answer("exercise-2a", 6.8 - 3.1, how="From the abstract.")
    assert shown.matches and shown.expected == pytest.approx(3.7)
    assert str(shown).startswith("Worked answer 2a (exercise-2a): 3.7; the package gives 3.7")
    data, meta = shown._repr_mimebundle_()
    assert meta["text/markdown"][METADATA_KEY] == {
        "exercise": "exercise-2a", "value": shown.value, "expected": shown.expected,
        "matches": True}
    assert not worked_answer("exercise-2a", 3.8).matches
    judged = worked_answer("exercise-8a", "no_information")
    assert judged.matches and "No information" in str(judged)
    with pytest.raises(ValueError, match="argument 'exercise'"):
        worked_answer("exercise-0z", 1.0)
    with pytest.raises(ValueError, match="finite number"):
        worked_answer("exercise-2a", "three")


# --------------------------------------------------------------------------- simulation


@pytest.fixture(scope="module")
def vi_two(tables):
    return two_trial_variances(tables)


def test_the_simulated_trials_have_the_size_of_gudeman_and_neeter(vi_two):
    assert vi_two == pytest.approx([1 / 20 + 1 / 20, 1 / 14 + 1 / 11])


def test_the_committed_draws_are_what_the_seeded_generator_gives(vi_two):
    ref = json.loads((REF / "teaching_simulation_draws.json").read_text())
    y = simulate_two_trial_draws(vi_two, tau2=ref["tau2"], mu=ref["mu"], n_meta=ref["n_meta"],
                                 seed=ref["seed"])
    np.testing.assert_array_equal(y, np.array(ref["y"]))
    assert ref["vi"] == pytest.approx(vi_two.tolist(), rel=1e-15)


def test_simulated_fits_and_coverage_agree_with_metafor(vi_two):
    sim = TEACHING_REF["simulation"]
    ref_draws = json.loads((REF / "teaching_simulation_draws.json").read_text())
    table = two_trial_coverage(vi_two, tau2=ref_draws["tau2"], mu=ref_draws["mu"],
                               n_meta=ref_draws["n_meta"], seed=ref_draws["seed"])
    from analysis.pooling import pool_batch

    y = np.array(ref_draws["y"])
    for res in sim["results"]:
        i = ref_draws["tau2"].index(res["tau2"])
        knha = res["test"] == "knha"
        ours = pool_batch(y[i].ravel(), np.tile(vi_two, y.shape[1]),
                          np.repeat(np.arange(y.shape[1]), 2), knha=knha).summary
        np.testing.assert_allclose(ours["ci_lb"], res["ci_lb"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(ours["ci_ub"], res["ci_ub"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(ours["tau2"], res["tau2_hat"], rtol=1e-5, atol=1e-7)
        row = table[np.isclose(table["tau2"], res["tau2"])
                    & (table["ci"] == (CI_HK if knha else CI_WALD))].iloc[0]
        assert row["n_converged"] == res["n_converged"]
        assert row["coverage"] == pytest.approx(res["coverage"], abs=1e-12)


#: The notebook's simulation (the defaults: seed 1997, 10,000 per tau2), pinned. Coverage
#: counts are exact; widths to 1e-9.
PINNED = pd.DataFrame({
    "tau2": [0.0, 0.05, 0.1, 0.2, 0.4] * 2,
    "ci": [CI_WALD] * 5 + [CI_HK] * 5,
    "covered": [9607, 9325, 9012, 8601, 8136, 9502, 9501, 9481, 9502, 9469],
    "median_width": [0.975118528044755, 0.975118528044755, 0.9751185280447551,
                     1.0686310243224924, 1.3616184130407423, 4.370015647566931,
                     5.022821280372321, 5.585922852352759, 6.927803107390304,
                     8.827204206357386],
    "tau2_zero_share": [0.6763, 0.5976, 0.5553, 0.4654, 0.3797] * 2,
})


def test_the_notebook_simulation_table_is_pinned(vi_two):
    table = two_trial_coverage(vi_two)
    assert len(table) == len(PINNED)
    assert (table["n_meta"] == teaching.SIMULATION_N).all()
    assert (table["n_converged"] == teaching.SIMULATION_N).all()
    assert list(table["ci"]) == list(PINNED["ci"])
    np.testing.assert_array_equal(table["tau2"], PINNED["tau2"])
    np.testing.assert_array_equal(np.round(table["coverage"] * table["n_meta"]),
                                  PINNED["covered"])
    np.testing.assert_allclose(table["median_width"], PINNED["median_width"], rtol=1e-9)
    np.testing.assert_allclose(table["tau2_zero_share"], PINNED["tau2_zero_share"], atol=1e-12)
    p = table["coverage"]
    np.testing.assert_allclose(table["mc_se"], np.sqrt(p * (1 - p) / table["n_converged"]))


def test_the_simulation_is_reproducible_and_depends_on_its_seed(vi_two):
    a = two_trial_coverage(vi_two, n_meta=500, seed=7)
    b = two_trial_coverage(vi_two, n_meta=500, seed=7)
    c = two_trial_coverage(vi_two, n_meta=500, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["median_width"], c["median_width"])


def test_known_coverage_hartung_knapp_with_equal_variances_is_exact():
    """With equal within-trial variances the weights are equal whatever τ̂², and the
    Hartung-Knapp interval is the one-sample t interval of the k estimates, which are
    iid N(μ, v + τ²): its coverage is exactly 95% at every τ² (within Monte Carlo error).
    The common-effect Wald interval is exact when τ² = 0."""
    n = 20_000
    hk = two_trial_coverage([0.1, 0.1], tau2=(0.0, 0.3), n_meta=n, seed=11)
    hk = hk[hk["ci"] == CI_HK]
    assert np.all(np.abs(hk["coverage"] - 0.95) < 4 * np.sqrt(0.95 * 0.05 / n))
    fe = two_trial_coverage([0.1, 0.25, 0.05], tau2=(0.0,), n_meta=n, seed=12, method="FE")
    wald = fe[fe["ci"] == CI_WALD].iloc[0]
    assert abs(wald["coverage"] - 0.95) < 4 * math.sqrt(0.95 * 0.05 / n)
    assert wald["k"] == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"vi": [0.1]}, "vi must be two or more"),
    ({"vi": [0.1, -0.2]}, "vi must be two or more"),
    ({"vi": [0.1, float("nan")]}, "vi must be two or more"),
    ({"tau2": (-0.1,)}, "tau2 must be"),
    ({"tau2": ()}, "tau2 must be"),
    ({"n_meta": 0}, "n_meta must be"),
    ({"n_meta": 2.5}, "n_meta must be"),
    ({"n_meta": True}, "n_meta must be"),
    ({"mu": float("inf")}, "mu must be"),
    ({"mu": "0.5"}, "mu must be"),
])
def test_the_simulation_refuses_bad_arguments(kwargs, message):
    args = {"vi": [0.1, 0.2], "n_meta": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        two_trial_coverage(args.pop("vi"), **args)


def test_the_coverage_figure_draws_both_intervals_and_returns_its_table(vi_two):
    table = two_trial_coverage(vi_two, n_meta=200)
    spec = teaching.coverage_figure(table)
    gids = {a.get_gid() for ax in spec.figure.axes for a in ax.get_children()}
    assert {f"coverage:{CI_WALD}", f"coverage:{CI_HK}", f"width:{CI_WALD}", f"width:{CI_HK}",
            "nominal"} <= gids
    pd.testing.assert_frame_equal(spec.table, table)
    with pytest.raises(ValueError, match="coverage"):
        teaching.coverage_figure(table.drop(columns="coverage"))


# --------------------------------------------------------------------------- versions


def _cells(nb):
    return nb["cells"] if isinstance(nb, dict) else nb.cells


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _marker(cell) -> str:
    """The marker text an answer cell starts with: "Worked answer 2a, 2b and 2c"."""
    return re.search(r"Worked answer [^.*\n]*", cell.source.splitlines()[0]).group(0).strip()


def _output_texts(nb) -> str:
    """Every output of a notebook (text, HTML, images as base64) joined, as stored."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for value in out.get("data", {}).values():
                parts.append(value if isinstance(value, str) else json.dumps(value))
    return "\n".join(parts)


def _small_notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("An exercise."),
        nbformat.v4.new_code_cell('check("exercise-2a", None)', metadata={"tags": [STUDENT_TAG]}),
        nbformat.v4.new_markdown_cell("**Worked answer 2a.** Subtract.",
                                      metadata={"tags": [ANSWER_TAG]}),
        nbformat.v4.new_code_cell("# Worked answer 2a\nprint(6.8 - 3.1)",
                                  metadata={"tags": [ANSWER_TAG]}),
    ]
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="SECRET-OUTPUT 3.7\n")]
    nbformat.write(nb, path)
    return path


def test_build_versions_removes_answer_cells_for_students_and_student_cells_for_teachers(
        tmp_path):
    src = _small_notebook(tmp_path / "lesson.ipynb")
    written = build_versions(src, tmp_path / "out")
    names = [p.name for p in written]
    assert names == ["lesson_student.ipynb", "lesson_student.html", "lesson_teacher.ipynb",
                     "lesson_teacher.html"]
    student = nbformat.read(written[0], as_version=4)
    teacher = nbformat.read(written[2], as_version=4)
    assert [c.source for c in student.cells] == ["An exercise.", 'check("exercise-2a", None)']
    assert [c.source for c in teacher.cells] == ["An exercise.", "**Worked answer 2a.** Subtract.",
                                                 "# Worked answer 2a\nprint(6.8 - 3.1)"]
    for path in written[:2]:
        text = path.read_text(encoding="utf-8")
        assert "Worked answer" not in text and "SECRET-OUTPUT" not in text
    for path in written[2:]:
        text = path.read_text(encoding="utf-8")
        assert "Worked answer" in text and "SECRET-OUTPUT" in text


def test_build_versions_refuses_what_is_not_a_teaching_notebook(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        build_versions(tmp_path / "missing.ipynb", tmp_path / "out")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="is not a notebook"):
        build_versions(bad, tmp_path / "out")
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), plain)
    with pytest.raises(ValueError, match="no cell tagged 'answer'"):
        build_versions(plain, tmp_path / "out")


# --------------------------------------------------------------------------- the notebook


def test_the_notebook_source_has_a_student_cell_and_a_worked_answer_for_every_exercise():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    student = "\n".join(c.source for c in nb.cells if STUDENT_TAG in _tags(c))
    answers = [c for c in nb.cells if ANSWER_TAG in _tags(c)]
    answer_code = "\n".join(c.source for c in answers if c.cell_type == "code")
    for ex_id in IDS:
        assert f'check("{ex_id}", None)' in student, ex_id
        assert f'worked_answer("{ex_id}"' in answer_code or f'("{ex_id}", "' in answer_code, ex_id
    for c in answers:
        first = c.source.splitlines()[0]
        marker = "# Worked answer" if c.cell_type == "code" else "**Worked answer"
        assert first.startswith(marker), first
    assert not any(ANSWER_TAG in _tags(c) and STUDENT_TAG in _tags(c) for c in nb.cells)


@pytest.fixture(scope="module")
def executed(tmp_path_factory, executed_notebooks):
    """Notebook 7 executed headless as `make reproduce` does (static explorers, by
    analysis.reproduce.kernel_environment), and its student and teacher versions."""
    out = tmp_path_factory.mktemp("teaching")
    path = executed_notebooks / NOTEBOOK.name
    versions = build_versions(path, out / "versions")
    return {"notebook": nbformat.read(path, as_version=4),
            "student": nbformat.read(versions[0], as_version=4),
            "student_html": versions[1].read_text(encoding="utf-8"),
            "teacher": nbformat.read(versions[2], as_version=4),
            "teacher_html": versions[3].read_text(encoding="utf-8")}


def _worked(nb) -> dict[str, dict]:
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get("text/markdown", {}).get(METADATA_KEY)
            if meta:
                found[meta["exercise"]] = meta
    return found


@pytest.mark.xdist_group("notebooks")
def test_every_worked_answer_in_the_executed_notebook_matches_the_package(executed):
    worked = _worked(executed["notebook"])
    assert sorted(worked) == sorted(IDS)
    for ex_id, meta in worked.items():
        assert check(ex_id, meta["value"]).verdict == "right", (ex_id, meta)
        expected = answer_for(ex_id)
        if EXERCISES[ex_id].kind == "number":
            assert meta["expected"] == pytest.approx(expected, rel=1e-12)
        else:
            assert meta["expected"] == expected


@pytest.mark.xdist_group("notebooks")
def test_the_executed_notebook_has_no_error_and_every_figure_cell_holds_a_png(executed):
    for i, cell in enumerate(executed["notebook"].cells):
        outputs = cell.get("outputs", [])
        assert not [o for o in outputs if o.get("output_type") == "error"], i
        if "figure" in _tags(cell):
            assert any("image/png" in o.get("data", {}) for o in outputs), i
            # headless, the explorers draw static small multiples, not widgets
            assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                           for o in outputs), i


@pytest.mark.xdist_group("notebooks")
def test_the_student_version_contains_no_answer_text(executed):
    nb, student = executed["notebook"], executed["student"]
    answer_cells = [c for c in nb.cells if ANSWER_TAG in _tags(c)]
    assert answer_cells
    student_sources = [c.source for c in student.cells]
    student_json = nbformat.writes(student)
    student_outputs = _output_texts(student)
    html = executed["student_html"]
    for cell in answer_cells:
        assert cell.source not in student_sources
        marker = _marker(cell)
        assert marker not in student_json and marker not in html, marker
        for out in cell.get("outputs", []):
            for value in [out.get("text", ""), *out.get("data", {}).values()]:
                text = value if isinstance(value, str) else json.dumps(value)
                assert not text or text not in student_outputs, text[:80]
    for ex_id in IDS:
        tail = ex_id.removeprefix("exercise-")
        assert f"Worked answer {tail}" not in student_json and f"Worked answer {tail}" not in html
    assert not _worked(student)
    assert all(ANSWER_TAG not in _tags(c) for c in student.cells)
    assert sum(STUDENT_TAG in _tags(c) for c in student.cells) >= len(IDS)


@pytest.mark.xdist_group("notebooks")
def test_the_teacher_version_contains_every_answer(executed):
    nb, teacher = executed["notebook"], executed["teacher"]
    teacher_sources = [c.source for c in teacher.cells]
    for cell in nb.cells:
        if ANSWER_TAG in _tags(cell):
            assert cell.source in teacher_sources
            assert _marker(cell) in executed["teacher_html"], _marker(cell)
    assert sorted(_worked(teacher)) == sorted(IDS)
    assert all(STUDENT_TAG not in _tags(c) for c in teacher.cells)


@pytest.mark.xdist_group("notebooks")
def test_both_versions_show_every_figure_they_keep_as_an_image(executed):
    for version in ("student", "teacher"):
        nb = executed[version]
        figures = [c for c in nb.cells if "figure" in _tags(c)]
        assert figures
        assert executed[f"{version}_html"].count("data:image/png;base64,") >= len(figures)
