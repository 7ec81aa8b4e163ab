"""Argument types shared by the subcommands: Go-style durations, port ranges.

Go's ``cmd/benchmark`` (and Go programs generally) take durations as
``time.ParseDuration`` does — ``500ms``, ``2s``, ``1m30s``, ``1.5h`` — so
every option of ours that takes a time accepts that syntax too; a bare
number is seconds.
"""

from __future__ import annotations

import argparse
import math
import re

__all__ = ["duration", "parse_duration", "port"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
          "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a Go duration (``300ms``, ``1m30s``, ``2h``) or a
    bare non-negative number of seconds. ValueError if it is neither or negative."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"invalid duration {text!r}: must be a non-negative number")
        return value
    if s.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    s = s.removeprefix("+")
    if s == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: expected e.g. 500ms, 2s, 1m30s "
                "(units ns, us, ms, s, m, h) or seconds")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not s:
        raise ValueError("invalid duration '': expected e.g. 500ms, 2s, 1m30s")
    return total


def duration(text: str) -> float:
    """An argparse ``type=``: :func:`parse_duration`, as a usage error."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port(text: str) -> int:
    """An argparse ``type=``: a TCP port number 0..65535."""
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected 0..65535")
    return int(text)
