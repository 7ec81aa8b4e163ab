"""Helpers of the protoc plugin tests (real protoc runs through ``gorums-h2 protoc``).

A module with a unique name: test modules import from here, not from
``conftest`` (several test directories have a conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOS = HERE / "protos"
GOLDEN = HERE / "golden"
# the test protos; only the two with services get a _gorums.py
PROTO_FILES = ["plugintest_storage.proto", "zorums/types.proto", "zorums/zorums.proto"]
GENERATED = ["plugintest_storage_gorums.py", "zorums/zorums_gorums.py"]


def gorums_h2_script() -> str:
    """The installed ``gorums-h2`` console script of this interpreter's environment."""
    exe = shutil.which("gorums-h2", path=str(Path(sys.executable).parent)) or shutil.which(
        "gorums-h2")
    assert exe is not None, "gorums-h2 console script not installed (pip install -e .)"
    return exe


@dataclass
class ProtocRun:
    returncode: int
    stdout: str
    stderr: str


def gorums_protoc(args: Sequence[str], cwd: Path) -> ProtocRun:
    """Run ``gorums-h2 protoc <args>`` in ``cwd``."""
    proc = subprocess.run(
        [gorums_h2_script(), "protoc", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    return ProtocRun(proc.returncode, proc.stdout, proc.stderr)


def generate_test_protos(out: Path) -> None:
    """Generate _pb2.py, _pb2.pyi and _gorums.py of the test protos into ``out``
    with the one command users run (the stubs are mypy-protobuf's)."""
    out.mkdir(parents=True, exist_ok=True)
    run = gorums_protoc(
        ["-I.", f"--python_out={out}", f"--gorums_py_out={out}", *PROTO_FILES],
        cwd=PROTOS)
    assert run.returncode == 0, run.stderr


def write_proto(directory: Path, name: str, body: str) -> Path:
    """Write a proto3 file that imports gorums.proto and google/protobuf/empty.proto."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        'syntax = "proto3";\n'
        'import "gorums.proto";\n'
        'import "google/protobuf/empty.proto";\n' + body)
    return path
