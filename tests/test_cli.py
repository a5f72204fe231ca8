"""The command line is one argparse tree (analysis.cli): every command is listed, each
parses its own arguments, an unexpected error is one line (a traceback only with
--debug), and a command loads only its own module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis import cli

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_help_lists_every_command():
    done = _run("--help")
    assert done.returncode == 0
    for name in cli.COMMANDS:
        assert name in done.stdout


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_each_command_has_its_own_help(command, capsys):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"python -m analysis {command}" in out and "usage:" in out


def test_an_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["summarise"]) == 2
    assert "invalid choice: 'summarise'" in capsys.readouterr().err


def test_a_missing_command_is_a_usage_error(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import analysis.rexport

    def boom(args):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(analysis.rexport, "run", boom)
    assert cli.main(["export-r"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: export-r: RuntimeError: the disk is full (run with --debug for the traceback)"]
    assert cli.main(["--debug", "export-r"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "the disk is full" in err


def test_a_command_imports_only_its_own_module():
    code = ("import sys; from analysis import cli; cli.build_parser(['pool', 'x.csv']); "
            "print('pandas' in sys.modules, 'analysis.multiverse' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_validate_runs_from_any_folder_on_the_projects_data(tmp_path):
    done = _run("validate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "valid data package" in done.stdout


def test_export_r_writes_one_script_per_forest_figure(tmp_path):
    from analysis.figures import FOREST_ANALYSES

    done = _run("export-r", "--output-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for name in FOREST_ANALYSES:
        text = (tmp_path / f"{name}.R").read_text(encoding="utf-8")
        assert "library(metafor)" in text and "rma(" in text


def test_export_r_names_an_unknown_figure(tmp_path):
    done = _run("export-r", "forest_of_everything", "--output-dir", str(tmp_path))
    assert done.returncode == 2
    assert "unknown figure(s) forest_of_everything" in done.stderr
    assert not list(tmp_path.iterdir())


def test_debug_before_the_command_reaches_a_command_with_its_own_debug(tmp_path, monkeypatch, capsys):
    import analysis.pool_cli

    table = tmp_path / "two.csv"
    table.write_text("study,yi,vi\nA,0.1,0.04\nB,0.3,0.05\n", encoding="utf-8")

    def boom(*args, **kwargs):
        raise RuntimeError("no memory left")

    monkeypatch.setattr(analysis.pool_cli, "pool_input", boom)
    for argv in (["--debug", "pool", str(table)], ["pool", "--debug", str(table)]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "no memory left" in err, argv
    assert cli.main(["pool", str(table)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_an_invalid_data_package_is_listed_not_an_unexpected_error(tmp_path, capsys):
    import shutil

    from analysis.paths import DATA_DIR

    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    (data / "timepoints.csv").write_text("", encoding="utf-8")
    assert cli.main(["export-r", "--data", str(data), "--output-dir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: export-r: 1 problem(s) in the data package")
    assert "timepoints.csv" in err and "[rule: empty-file]" in err and "unexpected" not in err


def _no_drawing(name, out_dir):
    """In place of reproduce's figure task: where it would write, nothing drawn."""
    return [Path(out_dir) / name], 0.0


def _leave_a_file(name, out_dir):
    """In place of reproduce's figure task (in a worker process): a file to show it ran."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / f"{name}.csv").write_text("drawn\n")
    return [Path(out_dir) / f"{name}.csv"], 0.0


def test_reproduce_draws_only_the_figures_named(tmp_path, monkeypatch, capsys):
    import argparse
    import shutil

    import analysis.reproduce as reproduce
    from analysis.paths import DATA_DIR

    monkeypatch.setattr(reproduce, "BUILD_DIR", tmp_path / "build")
    monkeypatch.setattr(reproduce, "_figure_task", _leave_a_file)
    parser = reproduce.add_arguments(argparse.ArgumentParser())
    data = tmp_path / "mine"
    shutil.copytree(DATA_DIR, data)
    args = parser.parse_args(["--data", str(data), "--figures", str(tmp_path / "f"),
                              "--tables", str(tmp_path / "t"), "--skip-notebooks",
                              "--figure", "equivalence_one_month", "--figure",
                              "forest_smd_end_of_treatment"])
    assert reproduce.run(args) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "equivalence_one_month.csv", "forest_smd_end_of_treatment.csv"]
    assert "drawing 2 figures" in out and "(only those named with --figure)" in out
    lines = [line.strip() for line in out.splitlines() if line.startswith("      ")]
    # in the order of the figures, whatever order they were asked in
    assert lines.index("forest_smd_end_of_treatment (0.0 s)") < lines.index(
        "equivalence_one_month (0.0 s)")


def test_reproduce_names_an_unknown_figure_before_doing_anything(tmp_path, capsys):
    from analysis import cli

    code = cli.main(["reproduce", "--figures", str(tmp_path / "f"), "--tables",
                     str(tmp_path / "t"), "--figure", "forest_smd_end_of_treatment",
                     "--figure", "forest_of_everything"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("error: reproduce: unknown figure(s) forest_of_everything; "
                                   "the figures: forest_smd_end_of_treatment, ")
    assert not (tmp_path / "f").exists() and not (tmp_path / "t").exists()


def test_reproduce_on_other_data_leaves_the_committed_figures_alone(tmp_path, monkeypatch, capsys):
    import argparse
    import shutil

    import analysis.reproduce as reproduce
    from analysis.paths import DATA_DIR

    data = tmp_path / "mine"
    shutil.copytree(DATA_DIR, data)
    monkeypatch.setattr(reproduce, "BUILD_DIR", tmp_path / "build")
    monkeypatch.setenv("DEXA_MA_DATA", str(data))  # as validate, multiverse and export-r read it
    parser = reproduce.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--skip-notebooks"])
    monkeypatch.setattr(reproduce, "_figure_task", _no_drawing)
    assert reproduce.run(args) == 0
    assert args.data == data and args.readme is None
    assert args.figures == tmp_path / "build" / "reproduce" / "figures"
    assert (tmp_path / "build" / "reproduce" / "tables" / "summary_of_findings.csv").exists()
    capsys.readouterr()
