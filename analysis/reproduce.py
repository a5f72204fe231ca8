"""``python -m analysis reproduce``: data → figures → executed notebooks, one command.

Steps, each with a progress line: validate the data package; compute effect sizes and
pool; write every figure (PNG, SVG and the CSV of its numbers) into ``figures/``;
execute every notebook headless with nbclient into ``build/notebooks/`` (also as HTML).
Any failure stops the run with a non-zero exit and the failing step named.

The notebooks read the data folder given with ``--data``: it reaches their kernels as
the environment variable ``DEXA_MA_DATA`` (see :func:`analysis.paths.data_dir`). Their
kernels draw figures inline (``MPLBACKEND`` is set to the inline backend for them), so
every plot is stored in the executed notebook as an image and shown in the HTML.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from analysis.paths import BUILD_DIR, DATA_DIR, FIGURES_DIR, NOTEBOOKS_DIR, TABLES_DIR


def _shown(path: Path) -> str:
    """A path as the reader typed it: relative to the current folder where possible."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _step(number: int, total: int, text: str) -> float:
    print(f"[{number}/{total}] {text} ...", flush=True)
    return time.perf_counter()


INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def kernel_environment(data_dir: Path | None = None) -> dict[str, str]:
    """The environment of a notebook kernel: figures inline, and the data folder to read."""
    env = dict(os.environ)
    env["MPLBACKEND"] = INLINE_BACKEND
    if data_dir is not None:
        env["DEXA_MA_DATA"] = str(Path(data_dir).resolve())
    return env


def execute_notebooks(notebooks: list[Path], out_dir: Path, *, timeout: int = 600,
                      data_dir: Path | None = None) -> list[Path]:
    """Execute each notebook in its own folder and write the executed copy and HTML.

    The kernels read ``data_dir`` (default: the project's ``data/``) and draw inline.
    Raises ``RuntimeError`` naming the notebook and cell when a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    exporter = HTMLExporter()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        # the kernel's own start-up chatter (log level WARNING) is not the reader's concern;
        # errors in cells still stop the run
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute(env=kernel_environment(data_dir))
        except CellExecutionError as exc:
            raise RuntimeError(f"notebook {path.name} failed:\n{exc}") from None
        target = out_dir / path.name
        nbformat.write(nb, target)
        html, _ = exporter.from_notebook_node(nb)
        html_path = target.with_suffix(".html")
        html_path.write_text(html, encoding="utf-8")
        written += [target, html_path]
        print(f"      executed {path.name}", flush=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis reproduce",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="data package folder")
    parser.add_argument("--figures", type=Path, default=FIGURES_DIR, help="figures folder")
    parser.add_argument("--tables", type=Path, default=TABLES_DIR, help="tables folder")
    parser.add_argument("--skip-notebooks", action="store_true",
                        help="write the figures only")
    args = parser.parse_args(argv)

    from analysis.data import DataValidationError, load_package
    from analysis.figures import write_figures, write_review_tables
    from analysis.trial_effects import review_tables

    total = 3 if args.skip_notebooks else 4
    start = time.perf_counter()
    t = _step(1, total, f"validating {_shown(args.data)}")
    try:
        pkg = load_package(args.data)
    except DataValidationError as exc:
        print(exc, file=sys.stderr)
        print("reproduce: stopped, the data package is invalid", file=sys.stderr)
        return 1
    print(f"      ok ({time.perf_counter() - t:.1f} s)")

    t = _step(2, total, "computing effect sizes, pooling, drawing figures")
    tables = review_tables(pkg)
    written = write_figures(tables, args.figures)
    written += write_review_tables(tables, args.tables)
    print(f"      {len(written)} files ({time.perf_counter() - t:.1f} s)")

    t = _step(3, total, f"figures and tables written to {_shown(args.figures)}, "
                        f"{_shown(args.tables)}")
    for path in written:
        print(f"      {_shown(path)}")

    if not args.skip_notebooks:
        t = _step(4, total, "executing notebooks")
        notebooks = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
        try:
            nb_written = execute_notebooks(notebooks, BUILD_DIR / "notebooks",
                                           data_dir=args.data)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            print("reproduce: stopped, a notebook failed", file=sys.stderr)
            return 1
        written += nb_written
        print(f"      {len(notebooks)} notebooks -> {_shown(BUILD_DIR / 'notebooks')} "
              f"({time.perf_counter() - t:.1f} s)")
    print(f"reproduce: done, {len(written)} files written in "
          f"{time.perf_counter() - start:.1f} s")
    return 0
