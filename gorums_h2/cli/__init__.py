"""The ``gorums-h2`` command line.

Each subcommand lives in its own module of this package with a
``register(subparsers)`` function that adds its parser and sets
``func=<callable(args) -> int>``; :data:`SUBCOMMANDS` lists them in help order.

Exit status: 0 success, 1 a runtime failure (one line on stderr saying what
failed and where), 2 a usage error (argparse's message, or one line), 130
interrupted (Ctrl-C: one line, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gorums_h2._version import __version__

SUBCOMMANDS: list[str] = ["demo", "storage", "protoc", "benchmark"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gorums-h2",
        description="Gorums quorum calls in pure Python (gRPC over h2 + anyio).",
    )
    parser.add_argument("--version", action="version", version=f"gorums-h2 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"gorums_h2.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return _interrupted()
    except BaseExceptionGroup as group:
        # a Ctrl-C that surfaced through a task group of the subcommand; what
        # other tasks raised while being torn down by it (a connection closed
        # under a call, say) is its consequence, not a second error
        if group.subgroup(KeyboardInterrupt) is not None:
            return _interrupted()
        raise
    return result


def _interrupted() -> int:
    print("gorums-h2: interrupted", file=sys.stderr, flush=True)
    return 130


if __name__ == "__main__":
    sys.exit(main())
