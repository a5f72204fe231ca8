"""The command line: one argparse tree, ``python -m analysis [--debug] COMMAND ...``.

Each command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; this module lists them (:data:`COMMANDS`), builds the tree and runs
the chosen one. Only the chosen command's module is imported (the others are listed by
name and help text), so start-up stays fast: ``pool`` never loads pandas.

Exit status: the command's own (0 done; 1 problems found; 2 bad input or usage), 1 with
one line on standard error for an unexpected error, and 141 (as for a program the pipe
stopped) without a word when the reader of standard output stops reading (``| head``). ``--debug`` (before the
command) shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

PROG = "python -m analysis"

#: command -> (module, one-line help). The module provides add_arguments and run.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("analysis.data",
                 "check the data package (default: data/) and list every problem"),
    "pool": ("analysis.pool_cli", "pool effect sizes from a CSV file, as metafor's rma()"),
    "reproduce": ("analysis.reproduce",
                  "validate, compute, write figures/, tables/ and the README results, "
                  "execute the notebooks"),
    "multiverse": ("analysis.multiverse",
                   "every defensible analysis at once: pool a grid of analytic choices"),
    "export-r": ("analysis.rexport",
                 "write R scripts that reproduce the forest plots' numbers with metafor"),
}


def _chosen(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is one), if any."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The tree; the subcommand named in ``argv`` gets its arguments (its module is
    imported), the others only their names and help (``argv`` None: all of them)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Meta-analysis of dexamethasone iontophoresis: data, "
        "pooling, figures, notebooks.")
    parser.add_argument("--debug", action="store_true", dest="debug_all",
                        help="show the Python traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv) if argv is not None else None
    for name, (module, text) in COMMANDS.items():
        command = sub.add_parser(name, help=text, description=text)
        if argv is None or name == chosen:
            importlib.import_module(module).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed its message, or --help
        return int(exc.code or 0)
    if args.debug_all:  # before the command or after it: the same switch
        args.debug = True
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # standard output's reader stopped (`| head`): say nothing
        from analysis.outputs import reader_gone

        return reader_gone()
    except Exception as exc:  # a user must see one line, not a traceback
        from analysis.validation import DataValidationError

        if isinstance(exc, DataValidationError):  # every problem, located, as validate
            print(f"error: {args.command}: {exc}", file=sys.stderr)
            return 1
        if getattr(args, "debug", False) or getattr(args, "debug_command", False):
            traceback.print_exc()
        else:
            print(f"error: {args.command}: {type(exc).__name__}: {exc} "
                  f"(run with --debug for the traceback)", file=sys.stderr)
        return 1
