"""Command line: ``python -m analysis {validate,pool,reproduce} ...``."""

from __future__ import annotations

import sys

USAGE = """usage: python -m analysis COMMAND [ARGS]

commands:
  validate [DATA_DIR]   check the data package (default: data/) and list every problem
  pool INPUT.csv ...    pool effect sizes, as metafor's rma(); see 'pool --help'
  reproduce             validate, compute, write figures/ and execute the notebooks
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "validate":
        from analysis.data import validate_main

        return validate_main(rest)
    if command == "pool":
        from analysis.pool_cli import main as pool_main

        return pool_main(rest)
    if command == "reproduce":
        from analysis.reproduce import main as reproduce_main

        return reproduce_main(rest)
    print(f"error: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
