"""``python -m analysis reproduce``: data → figures → executed notebooks, one command.

Steps, each with a progress line: validate the data package; compute effect sizes and
pool; write every figure (PNG, SVG and the CSV of its numbers) into ``figures/``;
execute every notebook headless with nbclient into ``build/notebooks/`` (also as HTML).
Any failure stops the run with a non-zero exit and the failing step named.

A figure or notebook whose inputs (the data package, the ``analysis`` code, the pinned
library versions, the notebook itself) are byte for byte those it was last made from,
and whose files are as that run left them, is not made again (:mod:`analysis.stamps`);
the progress lines say "up to date". The tables and the README's results are stamped the
same way: when they are up to date and no figure is to be drawn, nothing is computed.
``--force`` makes everything.

The notebooks read the data folder given with ``--data``: it reaches their kernels as
the environment variable ``DEXA_MA_DATA`` (see :func:`analysis.paths.data_dir`). Their
kernels draw figures inline (``MPLBACKEND`` is set to the inline backend for them), so
every plot is stored in the executed notebook as an image and shown in the HTML.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from analysis.paths import (
    BUILD_DIR,
    DATA_DIR,
    FIGURES_DIR,
    NOTEBOOKS_DIR,
    PROJECT_ROOT,
    TABLES_DIR,
)


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
    """The environment of a notebook kernel: figures inline, explorers as static figures
    (no one moves a slider in a headless run; see :mod:`analysis.explorers`), and the
    data folder to read."""
    env = dict(os.environ)
    env["MPLBACKEND"] = INLINE_BACKEND
    env["DEXA_MA_STATIC_EXPLORERS"] = "1"
    if data_dir is not None:
        env["DEXA_MA_DATA"] = str(Path(data_dir).resolve())
    return env


def _notebook_worker() -> None:
    """Set up a worker process that executes notebooks (the pools' initializer).

    nbformat validates notebooks with jsonschema, whose format checkers import the optional
    ``rfc3987_syntax`` when it is installed (Jupyter's packages install it); that module
    builds some 35 Earley parsers as it is imported, about 0.9 s of nbformat's 1.1 s here
    (python-jsonschema/jsonschema#1428). The notebook schema has no IRI format, so in
    these worker processes, and only there, it is left out: jsonschema then goes without
    its IRI checkers, as when the package is not installed.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


def _execute_one(path: Path, out_dir: Path, timeout: int, data_dir: Path | None,
                 versions_dir: Path | None = None):
    """Execute one notebook in its own kernel; write the executed copy and its HTML, and
    with ``versions_dir`` the student and teacher versions of the teaching notebook
    (:func:`analysis.teaching.build_versions`) after them.

    Returns ``(written paths, seconds, error text or None)``; runs in a worker process.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    # the kernel's own start-up chatter (log level WARNING) is not the reader's concern;
    # errors in cells still stop the run
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env=kernel_environment(data_dir))
    except CellExecutionError as exc:
        return [], time.perf_counter() - start, f"notebook {path.name} failed:\n{exc}"
    target = out_dir / path.name
    nbformat.write(nb, target)
    html, _ = HTMLExporter().from_notebook_node(nb)
    html_path = target.with_suffix(".html")
    html_path.write_text(html, encoding="utf-8")
    versions: list[Path] = []
    if versions_dir is not None:
        from analysis.teaching import build_versions

        try:
            versions = build_versions(target, versions_dir)
        except ValueError as exc:
            return ([target, html_path], time.perf_counter() - start,
                    f"notebook {path.name}: student and teacher versions failed: {exc}")
    return [target, html_path, *versions], time.perf_counter() - start, None


def execute_notebooks(notebooks: list[Path], out_dir: Path, *, timeout: int = 600,
                      data_dir: Path | None = None, jobs: int | None = None,
                      progress: bool = True) -> list[Path]:
    """Execute the notebooks, each in its own kernel, ``jobs`` at a time (default: one per
    CPU), and write each executed copy and its HTML into ``out_dir``.

    The kernels read ``data_dir`` (default: the project's ``data/``) and draw inline.
    Progress lines come in the notebooks' order whatever order they finish in. Every
    notebook runs even when one fails; then ``RuntimeError`` names each failed notebook
    and its cell.
    """
    from concurrent.futures import ProcessPoolExecutor

    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = [Path(p) for p in notebooks]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(notebooks) or 1))
    written: list[Path] = []
    failures: list[str] = []
    if jobs == 1:
        results = (_execute_one(p, out_dir, timeout, data_dir) for p in notebooks)
        for path, (paths, seconds, error) in zip(notebooks, results):
            written, failures = _collect(path, paths, seconds, error, written, failures,
                                         progress)
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_notebook_worker) as pool:
            futures = [pool.submit(_execute_one, p, out_dir, timeout, data_dir)
                       for p in notebooks]
            for path, future in zip(notebooks, futures):
                written, failures = _collect(path, *future.result(), written, failures,
                                             progress)
    if failures:
        raise RuntimeError("\n".join(failures))
    return written


def _collect(path, paths, seconds, error, written, failures, progress):
    if error is None:
        written = written + paths
        if progress:
            print(f"      executed {path.name} ({seconds:.1f} s)", flush=True)
    else:
        failures = failures + [error]
        if progress:
            print(f"      FAILED   {path.name}", flush=True)
    return written, failures


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``reproduce``'s arguments to ``parser`` (its own or a subcommand's)."""
    parser.add_argument("--data", type=Path, default=None,
                        help="data package folder (default: data/, or $DEXA_MA_DATA)")
    parser.add_argument("--figures", type=Path, default=None,
                        help="figures folder (default: figures/ for the project's data, "
                             "else build/reproduce/figures, so that the committed figures "
                             "keep matching the README)")
    parser.add_argument("--tables", type=Path, default=None,
                        help="tables folder (default: tables/ for the project's data, else "
                             "build/reproduce/tables)")
    parser.add_argument("--readme", type=Path, default=None,
                        help="rewrite the results section of this README (default: the "
                             "project's README.md when --data is the project's data/)")
    parser.add_argument("--force", action="store_true",
                        help="make every figure and notebook again, also those whose inputs "
                             "(data, code, library versions, the notebook) have not changed "
                             "since they were last made")
    parser.add_argument("--skip-notebooks", action="store_true",
                        help="write the figures, the tables and the README's results, but do "
                             "not execute the notebooks")
    parser.add_argument("--figure", action="append", default=[], metavar="NAME",
                        dest="only_figures",
                        help="draw only this figure (its file name in figures/ without the "
                             "suffix, e.g. forest_smd_end_of_treatment); repeat for more. "
                             "The others are left as they are")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis reproduce`` with its own parser; returns the exit status."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m analysis reproduce",
                                                   description=__doc__.splitlines()[0]))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run(args)


#: What the figure workers draw from; set before the worker processes are forked, so
#: each inherits it instead of receiving a copy.
_RESULTS = None


def _figure_task(name: str, out_dir: Path) -> tuple[list[Path], float]:
    """Draw and write one figure in a worker (from :data:`_RESULTS`)."""
    from analysis.figures import write_figure

    begin = time.perf_counter()
    return write_figure(name, _RESULTS, out_dir), time.perf_counter() - begin


def _pool(jobs: int, initializer=None):
    """Worker processes, forked where the platform can (they inherit the results)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=initializer)


def _order_longest_first(items: list, seconds: dict, size=None) -> list:
    """``items`` longest first, so that the last to start is short and both cores stay
    busy to the end: those never timed first (the largest first, by ``size(item)``, as a
    fresh clone's first run has no times), then by their last recorded duration."""
    def key(item):
        if item in seconds:
            return (1, -seconds[item])
        return (0, -(size(item) if size is not None else 0))

    return sorted(items, key=key)


def run(args: argparse.Namespace) -> int:
    """Run ``reproduce`` for parsed arguments; return the exit status.

    Validates the data once; starts the notebooks (each in its own kernel, in worker
    processes, one per CPU) while it computes every result once; then draws the figures
    in workers of their own. Figures and notebooks whose inputs have not changed since
    they were last made are left out (:mod:`analysis.stamps`; ``--force`` makes
    everything). Progress lines keep the figures' and notebooks' order.
    """
    global _RESULTS
    from analysis.paths import data_dir
    from analysis.stamps import Stamps, inputs_key, item_key

    args.data = Path(args.data) if args.data is not None else data_dir()
    project = args.data.resolve() == DATA_DIR.resolve()
    if args.figures is None:
        args.figures = FIGURES_DIR if project else BUILD_DIR / "reproduce" / "figures"
    if args.tables is None:
        args.tables = TABLES_DIR if project else BUILD_DIR / "reproduce" / "tables"
    if args.readme is None and project:
        args.readme = PROJECT_ROOT / "README.md"
    force = bool(getattr(args, "force", False))

    from analysis.data import DataValidationError, load_package

    only = list(dict.fromkeys(getattr(args, "only_figures", None) or []))
    if only:  # checked before anything is done
        from analysis.figures import FIGURES

        known = [name for name, _ in FIGURES]
        unknown = [n for n in only if n not in known]
        if unknown:
            print(f"error: reproduce: unknown figure(s) {', '.join(unknown)}; the figures: "
                  f"{', '.join(known)}", file=sys.stderr)
            return 2

    total = 3 if args.skip_notebooks else 4
    start = time.perf_counter()
    t = _step(1, total, f"validating {_shown(args.data)}")
    try:
        pkg = load_package(args.data)
    except DataValidationError as exc:
        print(exc, file=sys.stderr)
        print("reproduce: stopped, the data package is invalid", file=sys.stderr)
        return 1
    print(f"      ok ({time.perf_counter() - t:.1f} s)", flush=True)

    stamps = Stamps(BUILD_DIR)
    base = inputs_key(args.data)
    notebooks = [] if args.skip_notebooks else sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    nb_dir = BUILD_DIR / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    nb_item = {p: f"notebook {(nb_dir / p.name).resolve()}" for p in notebooks}
    nb_key = {p: item_key(base, p) for p in notebooks}
    stale_notebooks = [p for p in notebooks
                       if force or not stamps.up_to_date(nb_item[p], nb_key[p])]
    jobs = os.cpu_count() or 1
    last = {item: float(record["seconds"]) for item, record in stamps.items.items()
            if isinstance(record, dict) and isinstance(record.get("seconds"), (int, float))}
    failures: list[str] = []
    written: list[Path] = []
    teaching_dir = BUILD_DIR / "teaching"
    versions_built: list[Path] = []
    teaching_name = None
    if notebooks:
        from analysis.teaching import TEACHING_NOTEBOOK as teaching_name
    with contextlib.ExitStack() as pools:
        # The notebooks need only the validated data (their kernels compute for
        # themselves), so they start now, while this process computes the results the
        # figures are drawn from. A notebook's worker mostly waits while its kernel
        # (another process) computes; the figures get workers of their own, forked once
        # the results exist. The longest start first.
        nb_futures = {}
        if stale_notebooks:
            nb_pool = pools.enter_context(_pool(jobs, initializer=_notebook_worker))
            # the teaching notebook's worker also writes its student and teacher versions
            nb_futures = {p: nb_pool.submit(_execute_one, p, nb_dir, 600, args.data,
                                            **({"versions_dir": teaching_dir}
                                               if p.name == teaching_name else {}))
                          for p in _order_longest_first(
                              stale_notebooks,
                              {p: last[nb_item[p]] for p in stale_notebooks
                               if nb_item[p] in last},
                              size=lambda p: p.stat().st_size)}

        # imported once the notebooks are under way (matplotlib: about 0.4 s)
        from analysis.figures import FIGURES, Results, write_review_tables
        from analysis.multiverse import multiverse
        from analysis.trial_effects import review_tables

        # every figure of the registry: reproduce always computes the multiverse, so the
        # specification curve is among them
        figures_dir = Path(args.figures).resolve()
        names = [n for n, _ in FIGURES if not only or n in only]
        figure_item = {name: f"figure {figures_dir / name}" for name in names}
        stale_names = [n for n in names
                       if force or not stamps.up_to_date(figure_item[n], base)]
        kept = len(names) - len(stale_names)
        fresh = kept + len(notebooks) - len(stale_notebooks)
        # the tables and the README's results are made from the same inputs: when they
        # are as the last run left them and no figure is to be drawn, nothing is computed
        results_item = (f"results {Path(args.tables).resolve()}"
                        + (f" {Path(args.readme).resolve()}" if args.readme is not None else ""))
        compute = bool(stale_names) or force or not stamps.up_to_date(results_item, base)
        alongside = (" (the notebook to run starts alongside)" if len(stale_notebooks) == 1
                     else f" (the {len(stale_notebooks)} notebooks to run start alongside)"
                     if stale_notebooks else "")
        if compute:
            t = _step(2, total, "computing effect sizes, pooling, catch-up, certainty, "
                      "multiverse" + alongside)
            tables = review_tables(pkg)
            _RESULTS = results = Results(tables, multiverse=multiverse(pkg))
            made = write_review_tables(tables, args.tables, results=results)
            written += made
            if args.readme is not None:
                from analysis.findings import findings_markdown, update_readme

                text = findings_markdown(tables, results=results.catchup, sof=results.sof,
                                         multiverse=results.multiverse)
                if update_readme(args.readme, text):
                    written.append(args.readme)
                made.append(args.readme)
            stamps.record(results_item, base, made)
            print(f"      {len(written)} tables ({time.perf_counter() - t:.1f} s)", flush=True)
        else:
            _step(2, total, "results: the tables" + (" and the README's results"
                                                      if args.readme is not None else "")
                  + " are up to date and no figure is to be drawn, so nothing is computed"
                  + alongside)

        t = _step(3, total, f"drawing {len(stale_names)} figures into {_shown(args.figures)}"
                  + (f", {kept} up to date" if kept else "")
                  + (" (only those named with --figure)" if only else ""))
        fig_futures = {}
        if stale_names:
            pool = pools.enter_context(_pool(jobs))
            fig_futures = {name: pool.submit(_figure_task, name, args.figures)
                           for name in _order_longest_first(
                               stale_names,
                               {n: last[figure_item[n]] for n in stale_names
                                if figure_item[n] in last})}
        for name in names:
            if name not in fig_futures:
                print(f"      {name} (up to date)", flush=True)
                continue
            try:
                paths, seconds = fig_futures[name].result()
            except Exception as exc:  # name the figure; the others still run
                stamps.forget(figure_item[name])
                failures.append(f"figure {name} failed: {type(exc).__name__}: {exc}")
                print(f"      FAILED   {name}", flush=True)
                continue
            written += paths
            stamps.record(figure_item[name], base,
                          [figures_dir / f"{name}{suffix}" for suffix in (".png", ".svg", ".csv")],
                          seconds=seconds)
            print(f"      {name} ({seconds:.1f} s)", flush=True)
        print(f"      {len(names)} figures -> {_shown(args.figures)} "
              f"({time.perf_counter() - t:.1f} s)", flush=True)
        if notebooks:
            t = _step(4, total, "executing notebooks")
            nb_written: list[Path] = []
            for path in notebooks:
                if path not in nb_futures:
                    print(f"      up to date {path.name}", flush=True)
                    continue
                paths, seconds, error = nb_futures[path].result()
                nb_written, failures = _collect(path, paths, seconds, error, nb_written,
                                                failures, True)
                if error is None and path.name == teaching_name:
                    versions_built = paths[2:]
                if error is None:
                    stamps.record(nb_item[path], nb_key[path],
                                  [nb_dir / path.name, (nb_dir / path.name).with_suffix(".html")],
                                  seconds=seconds)
                else:
                    stamps.forget(nb_item[path])
            written += nb_written
    stamps.save()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        print("reproduce: stopped, a figure or a notebook failed", file=sys.stderr)
        return 1
    if notebooks:
        from analysis.teaching import build_versions

        teaching = nb_dir / teaching_name
        teaching_item = f"teaching versions {teaching_dir.resolve()}"
        teaching_key = item_key(base, teaching)
        if teaching.exists() and (force or not stamps.up_to_date(teaching_item,
                                                                 teaching_key)):
            versions = versions_built
            if not versions:  # the notebook was up to date, its versions were not
                versions = build_versions(teaching, teaching_dir)
                written += versions
            stamps.record(teaching_item, teaching_key, versions)
            stamps.save()
            print(f"      student and teacher versions -> {_shown(teaching_dir)}",
                  flush=True)
        print(f"      {len(notebooks)} notebooks -> {_shown(nb_dir)} "
              f"({time.perf_counter() - start:.1f} s since the start)", flush=True)
    print(f"reproduce: done, {len(written)} files written"
          + (f", {fresh} figures and notebooks up to date (--force remakes them)"
             if fresh else "")
          + f" in {time.perf_counter() - start:.1f} s")
    return 0
