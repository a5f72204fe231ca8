"""Build stamps (analysis.stamps) and the incremental `reproduce` built on them: an output
is remade exactly when something it is made from changed, or its files did."""

import argparse
import json
import shutil
from pathlib import Path

import pytest

import analysis.figures
import analysis.multiverse
import analysis.reproduce as reproduce
import analysis.stamps as stamps
from analysis.paths import DATA_DIR
from analysis.stamps import Stamps, file_digest, inputs_key, item_key


def test_an_output_is_up_to_date_only_with_its_key_and_its_files_as_left(tmp_path):
    out = tmp_path / "figure.png"
    out.write_bytes(b"drawn")
    gone = tmp_path / "figure.svg"  # recorded as absent
    s = Stamps(tmp_path)
    assert not s.up_to_date("figure", "k1")  # never made
    s.record("figure", "k1", [out, gone], seconds=1.5)
    assert s.up_to_date("figure", "k1")
    assert not s.up_to_date("figure", "k2")  # made from something else
    out.write_bytes(b"edited by hand")
    assert not s.up_to_date("figure", "k1")
    out.write_bytes(b"drawn")
    assert s.up_to_date("figure", "k1")
    gone.write_bytes(b"appeared")
    assert not s.up_to_date("figure", "k1")
    gone.unlink()
    out.unlink()
    assert not s.up_to_date("figure", "k1")


def test_stamps_survive_a_save_and_merge_with_another_runs(tmp_path):
    out = tmp_path / "a.csv"
    out.write_text("x\n")
    first, second = Stamps(tmp_path), Stamps(tmp_path)
    first.record("a", "k", [out], seconds=2.0)
    first.save()
    second.record("b", "k", [out])
    second.save()  # read the file again before writing: a's stamp stays
    again = Stamps(tmp_path)
    assert again.up_to_date("a", "k") and again.up_to_date("b", "k")
    assert again.items["a"]["seconds"] == 2.0
    again.forget("a")
    again.save()
    assert set(Stamps(tmp_path).items) == {"b"}


def test_stamps_of_outputs_whose_folder_is_gone_are_dropped_on_save(tmp_path):
    build, gone, kept = tmp_path / "build", tmp_path / "tmp-run", tmp_path / "figures"
    gone.mkdir()
    kept.mkdir()
    (gone / "a.png").write_text("a")
    (kept / "b.png").write_text("b")
    first = Stamps(build)
    first.record("in a temporary folder", "k", [gone / "a.png"])
    first.record("kept", "k", [kept / "b.png"])
    first.record("nothing to draw", "k", [kept / "c.png"])  # recorded as absent
    first.save()
    shutil.rmtree(gone)
    second = Stamps(build)
    second.record("new", "k", [kept / "b.png"])
    second.save()
    assert set(Stamps(build).items) == {"kept", "nothing to draw", "new"}


def test_an_unreadable_stamps_file_means_everything_is_remade(tmp_path):
    (tmp_path / stamps.STAMPS_FILE).write_text("{not json", encoding="utf-8")
    s = Stamps(tmp_path)
    assert s.items == {} and not s.up_to_date("a", "k")
    (tmp_path / stamps.STAMPS_FILE).write_text(json.dumps({"a": "no record"}), encoding="utf-8")
    assert not Stamps(tmp_path).up_to_date("a", "k")


def test_file_digest_is_sha256_and_none_for_a_missing_file(tmp_path):
    import hashlib

    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1_000_000)
    assert file_digest(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()
    assert file_digest(tmp_path / "missing") is None


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with its own analysis/ and lock file, and a copy of the data."""
    root = tmp_path / "project"
    (root / "analysis").mkdir(parents=True)
    (root / "analysis" / "pooling.py").write_text("x = 1\n")
    (root / "requirements.lock").write_text("numpy==2\n")
    (root / "pyproject.toml").write_text("[project]\n")
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    monkeypatch.setattr(stamps, "PROJECT_ROOT", root)
    return root, data


def test_the_key_changes_with_any_data_file_the_code_the_pins_and_the_libraries(project, monkeypatch):
    root, data = project
    key = inputs_key(data)
    assert inputs_key(data) == key  # the same inputs, the same key
    changes = [
        lambda: (data / "studies.csv").write_bytes((data / "studies.csv").read_bytes() + b"\n"),
        lambda: (data / "new_table.csv").write_text("a\n1\n"),
        lambda: (data / "new_table.csv").rename(data / "renamed.csv"),
        lambda: (root / "analysis" / "pooling.py").write_text("x = 2\n"),
        lambda: (root / "analysis" / "multiverse_factors.toml").write_text("[f]\n"),
        lambda: (root / "requirements.lock").write_text("numpy==3\n"),
        lambda: monkeypatch.setattr(stamps.metadata, "version", lambda name: "99"),
    ]
    seen = {key}
    for change in changes:
        change()
        new = inputs_key(data)
        assert new not in seen, change
        seen.add(new)
    # byte-identical copies elsewhere are other inputs (the notebooks print the folder)
    other = data.parent / "other"
    shutil.copytree(data, other)
    assert inputs_key(other) != inputs_key(data)
    # bytecode caches are not inputs
    (root / "analysis" / "__pycache__").mkdir()
    (root / "analysis" / "__pycache__" / "pooling.cpython-311.pyc").write_bytes(b"\0")
    assert inputs_key(data) in seen


def test_a_notebooks_key_adds_its_own_bytes(tmp_path):
    nb = tmp_path / "01.ipynb"
    nb.write_text("{}")
    first = item_key("base", nb)
    assert item_key("base", nb) == first and item_key("other", nb) != first
    nb.write_text("{ }")
    assert item_key("base", nb) != first


# ------------------------------------------------------------------ reproduce, incremental

def _fake_figure(name, out_dir):
    """In place of reproduce's figure task: write the three files, note the call."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}{suffix}" for suffix in (".png", ".svg", ".csv")]
    for path in paths:
        path.write_text(name)
    with open(out_dir.parent / "calls.txt", "a") as log:
        log.write(f"figure {name}\n")
    return paths, 0.01


def _fake_notebook(path, out_dir, timeout, data_dir):
    """In place of executing a notebook: write its two files, note the call."""
    out_dir = Path(out_dir)
    target = out_dir / path.name
    target.write_text(path.read_text())
    target.with_suffix(".html").write_text("<html></html>")
    with open(out_dir.parent / "calls.txt", "a") as log:
        log.write(f"notebook {path.name}\n")
    return [target, target.with_suffix(".html")], 0.01, None


_MULTIVERSE = []
_RESULTS = []


def _multiverse_once(pkg, multiverse=analysis.multiverse.multiverse):
    if not _MULTIVERSE:
        _MULTIVERSE.append(multiverse(pkg))
    return _MULTIVERSE[0]


def _results_once(tables, multiverse=None, results=analysis.figures.Results):
    if not _RESULTS:
        _RESULTS.append(results(tables, multiverse=multiverse))
    return _RESULTS[0]


@pytest.fixture
def incremental(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb"):
        (notebooks / name).write_text(json.dumps({"cells": [], "name": name}))
    build = tmp_path / "build"
    monkeypatch.setattr(reproduce, "BUILD_DIR", build)
    monkeypatch.setattr(reproduce, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.setattr(reproduce, "_figure_task", _fake_figure)
    monkeypatch.setattr(reproduce, "_execute_one", _fake_notebook)
    # no figure is drawn here, and what is decided does not depend on the results'
    # numbers: the multiverse and the other results are computed once
    monkeypatch.setattr(analysis.multiverse, "multiverse", lambda pkg: _multiverse_once(pkg))
    monkeypatch.setattr(analysis.figures, "Results", _results_once)

    def run(*extra):
        calls = build / "calls.txt"
        calls.unlink(missing_ok=True)
        parser = reproduce.add_arguments(argparse.ArgumentParser())
        args = parser.parse_args(["--data", str(data), "--figures", str(build / "figures"),
                                  "--tables", str(tmp_path / "tables"), *extra])
        assert reproduce.run(args) == 0
        return sorted(calls.read_text().splitlines()) if calls.exists() else []

    return run, data, notebooks, build


def test_a_second_run_remakes_nothing_and_says_so(incremental, capsys):
    run, data, notebooks, build = incremental
    first = run()
    assert "notebook 01_a.ipynb" in first and "notebook 02_b.ipynb" in first
    assert sum(c.startswith("figure ") for c in first) >= 10
    capsys.readouterr()
    assert run() == []
    out = capsys.readouterr().out
    assert "(up to date)" in out and "up to date 01_a.ipynb" in out
    assert "figures and notebooks up to date (--force remakes them)" in out
    assert sorted(run("--force")) == sorted(first)


def test_a_changed_notebook_is_the_only_one_run_again(incremental):
    run, data, notebooks, build = incremental
    run()
    (notebooks / "02_b.ipynb").write_text(json.dumps({"cells": [], "changed": True}))
    assert run() == ["notebook 02_b.ipynb"]


def test_a_notebook_to_run_starts_before_the_results_are_computed(incremental, monkeypatch,
                                                                   capsys):
    """The kernels need only the validated data: a changed notebook is under way while
    reproduce computes the figures' results (the computation here waits to see it)."""
    import time

    import analysis.trial_effects

    run, data, notebooks, build = incremental
    run()
    real = analysis.trial_effects.review_tables
    seen = []

    def waits_for_the_notebook(pkg, **kwargs):
        calls = build / "calls.txt"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if calls.exists() and "notebook 02_b.ipynb" in calls.read_text():
                seen.append(True)
                break
            time.sleep(0.02)
        return real(pkg, **kwargs)

    monkeypatch.setattr(analysis.trial_effects, "review_tables", waits_for_the_notebook)
    (notebooks / "02_b.ipynb").write_text(json.dumps({"cells": [], "changed": True}))
    (data.parent / "tables" / "summary_of_findings.md").unlink()  # so results are computed
    capsys.readouterr()
    assert run() == ["notebook 02_b.ipynb"]
    assert seen == [True]
    assert "multiverse (the notebook to run starts alongside) ..." in capsys.readouterr().out


def _counting_review_tables(monkeypatch) -> list:
    import analysis.trial_effects

    calls: list = []
    real = analysis.trial_effects.review_tables

    def counted(pkg, **kwargs):
        calls.append(1)
        return real(pkg, **kwargs)

    monkeypatch.setattr(analysis.trial_effects, "review_tables", counted)
    return calls


def test_nothing_is_computed_when_tables_and_figures_are_up_to_date(incremental, monkeypatch,
                                                                     capsys):
    run, data, notebooks, build = incremental
    run()
    calls = _counting_review_tables(monkeypatch)
    capsys.readouterr()
    (notebooks / "02_b.ipynb").write_text(json.dumps({"cells": [], "changed": True}))
    assert run() == ["notebook 02_b.ipynb"]
    assert calls == []
    assert ("[2/4] results: the tables are up to date and no figure is to be drawn, so "
            "nothing is computed (the notebook to run starts alongside) ...") in capsys.readouterr().out
    run("--force")
    assert calls == [1]


def test_a_table_edited_by_hand_or_deleted_is_computed_and_written_again(incremental,
                                                                          monkeypatch):
    run, data, notebooks, build = incremental
    run()
    tables = data.parent / "tables"
    kept = (tables / "catchup_share_remaining.csv").read_bytes()
    calls = _counting_review_tables(monkeypatch)
    (tables / "catchup_share_remaining.csv").write_text("edited\n")
    assert run() == []  # no figure or notebook is made again
    assert calls == [1] and (tables / "catchup_share_remaining.csv").read_bytes() == kept
    (tables / "multiverse_summary.csv").unlink()
    run()
    assert calls == [1, 1] and (tables / "multiverse_summary.csv").exists()
    run()
    assert calls == [1, 1]


def test_the_readmes_results_edited_by_hand_are_written_again(incremental, monkeypatch):
    from analysis.findings import END, START

    run, data, notebooks, build = incremental
    readme = data.parent / "README.md"
    readme.write_text(f"# Mine\n\n{START}\n{END}\n", encoding="utf-8")
    run("--readme", str(readme))
    results = readme.read_text(encoding="utf-8")
    assert len(results) > 200
    calls = _counting_review_tables(monkeypatch)
    run("--readme", str(readme))
    assert calls == []
    readme.write_text(results.replace(START + "\n", START + "\nedited by hand\n"),
                      encoding="utf-8")
    run("--readme", str(readme))
    assert calls == [1] and readme.read_text(encoding="utf-8") == results


def test_changed_data_remakes_every_figure_and_notebook(incremental):
    run, data, notebooks, build = incremental
    first = run()
    descriptor = data / "datapackage.json"
    descriptor.write_text(descriptor.read_text() + "\n")
    assert run() == first


def test_an_output_deleted_or_edited_by_hand_is_made_again(incremental):
    run, data, notebooks, build = incremental
    run()
    (build / "figures" / "catchup_one_month.png").write_text("edited")
    (build / "notebooks" / "01_a.html").unlink()
    assert run() == ["figure catchup_one_month", "notebook 01_a.ipynb"]


def _failing_notebook(path, out_dir, timeout, data_dir):
    if path.name == "02_b.ipynb":
        return [], 0.01, "notebook 02_b.ipynb failed:\nboom"
    return _fake_notebook(path, out_dir, timeout, data_dir)


def test_a_failed_notebook_is_not_stamped(incremental, monkeypatch):
    run, data, notebooks, build = incremental
    monkeypatch.setattr(reproduce, "_execute_one", _failing_notebook)
    parser = reproduce.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--data", str(data), "--figures", str(build / "figures"),
                              "--tables", str(build / "tables")])
    assert reproduce.run(args) == 1
    monkeypatch.setattr(reproduce, "_execute_one", _fake_notebook)
    assert run() == ["notebook 02_b.ipynb"]


def _fake_teaching(path, out_dir, timeout, data_dir, versions_dir=None):
    """A notebook's fake, and its student and teacher versions when asked (in the worker)."""
    paths, seconds, error = _fake_notebook(path, out_dir, timeout, data_dir)
    if versions_dir is not None:
        Path(versions_dir).mkdir(parents=True, exist_ok=True)
        for version in ("student", "teacher"):
            paths.append(Path(versions_dir) / f"{path.stem}_{version}.ipynb")
            paths[-1].write_text(version)
        with open(Path(out_dir).parent / "calls.txt", "a") as log:
            log.write(f"versions {path.name} in the worker\n")
    return paths, seconds, error


def test_the_teaching_notebooks_worker_writes_its_versions(incremental, monkeypatch):
    import analysis.teaching

    run, data, notebooks, build = incremental
    teaching = notebooks / analysis.teaching.TEACHING_NOTEBOOK
    teaching.write_text(json.dumps({"cells": [], "name": "teaching"}))
    monkeypatch.setattr(reproduce, "_execute_one", _fake_teaching)
    in_parent = []

    def build_versions(executed, out_dir):
        in_parent.append(executed)
        return _fake_teaching(executed, Path(executed).parent, 0, None, out_dir)[0][2:]

    monkeypatch.setattr(analysis.teaching, "build_versions", build_versions)
    first = run()
    assert f"versions {teaching.name} in the worker" in first and in_parent == []
    assert sorted(p.name for p in (build / "teaching").iterdir()) == [
        f"{teaching.stem}_student.ipynb", f"{teaching.stem}_teacher.ipynb"]
    assert run() == [] and in_parent == []
    (build / "teaching" / f"{teaching.stem}_student.ipynb").unlink()
    run()  # the notebook is up to date, its versions are not: the parent makes them
    assert in_parent == [build / "notebooks" / teaching.name]
    assert (build / "teaching" / f"{teaching.stem}_student.ipynb").exists()


def test_a_notebook_worker_imports_nbformat_without_the_iri_parsers(tmp_path):
    """nbformat's jsonschema would build rfc3987_syntax's parsers (about 0.9 s) as it is
    imported; the notebook workers leave that module out and still validate notebooks,
    and the process that starts them keeps its modules as they were."""
    import subprocess
    import sys

    code = """
import sys
from analysis.reproduce import _notebook_worker, _pool

def probe():
    import sys
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nbformat.validate(nb)
    nb.cells[0]["cell_type"] = "no such type"
    try:
        nbformat.validate(nb)
        invalid_found = False
    except nbformat.ValidationError:
        invalid_found = True
    return sys.modules.get("rfc3987_syntax", "absent"), invalid_found

with _pool(1, initializer=_notebook_worker) as pool:
    module, invalid_found = pool.submit(probe).result()
assert module is None, module
assert invalid_found
assert "rfc3987_syntax" not in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_longest_first_puts_the_never_timed_and_the_slow_ahead():
    order = reproduce._order_longest_first(["a", "b", "c", "d"], {"a": 1.0, "b": 9.0, "d": 3.0})
    assert order == ["c", "b", "d", "a"]
    # never timed (a fresh clone): the largest first
    sizes = {"a": 10, "b": 300, "c": 20}
    assert reproduce._order_longest_first(["a", "b", "c"], {}, size=sizes.get) == ["b", "c", "a"]
    assert reproduce._order_longest_first(["a", "b", "c"], {"b": 1.0}, size=sizes.get) == ["c", "a", "b"]
