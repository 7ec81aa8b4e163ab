"""The ``gorums-h2`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gorums_h2._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gorums-h2",
        description="Gorums quorum calls in pure Python (gRPC over h2 + anyio).",
    )
    parser.add_argument("--version", action="version", version=f"gorums-h2 {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
