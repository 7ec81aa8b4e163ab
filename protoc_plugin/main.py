"""``protoc-gen-gorums_py``: the protoc plugin's process entry point.

protoc runs it with a serialized ``CodeGeneratorRequest`` on stdin and reads
a ``CodeGeneratorResponse`` from stdout. Usually started through
``gorums-h2 protoc ... --gorums_py_out=DIR``, or by protoc directly when the
console script is on PATH. Also runnable as ``python -m gorums_h2.protoc_plugin``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from google.protobuf.compiler import plugin_pb2
from google.protobuf.message import DecodeError

from gorums_h2._version import GEN_VERSION, __version__

from .generator import generate

__all__ = ["main"]

USAGE = """\
protoc-gen-gorums_py is a protoc plugin: it reads a CodeGeneratorRequest from
stdin and is started by protoc, e.g.

    gorums-h2 protoc -I. --python_out=. --gorums_py_out=. storage.proto

which writes storage_pb2.py, storage_pb2.pyi and storage_gorums.py.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one plugin invocation; exit status 0 unless stdin is not a request."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        print(f"protoc-gen-gorums_py {__version__} (generated-code API {GEN_VERSION})")
        return 0
    if args or sys.stdin.isatty():
        print(USAGE, file=sys.stderr, end="")
        return 0 if args in (["-h"], ["--help"]) else 2
    data = sys.stdin.buffer.read()
    try:
        request = plugin_pb2.CodeGeneratorRequest.FromString(data)
    except DecodeError as exc:
        print(f"protoc-gen-gorums_py: stdin is not a CodeGeneratorRequest ({exc})\n\n{USAGE}",
              file=sys.stderr, end="")
        return 2
    response = generate(request)
    sys.stdout.buffer.write(response.SerializeToString())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
