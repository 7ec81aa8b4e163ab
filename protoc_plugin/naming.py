"""Names: proto file paths -> Python modules, proto names -> Python identifiers.

Module names and import aliases follow protoc's own Python generator
(``python/generator.cc``: ``ModuleName``/``ModuleAlias``), so a generated
``_gorums.py`` imports the ``_pb2`` modules exactly as they import each other.
"""

from __future__ import annotations

import keyword
import re

__all__ = [
    "import_statement",
    "module_alias",
    "module_name",
    "output_name",
    "safe_identifier",
    "snake_case",
]

_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_PLURAL_ACRONYM = re.compile(r"([A-Z])([A-Z]+)s(?=[A-Z0-9_]|$)")
_ACRONYM_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])")


def snake_case(name: str) -> str:
    """``ReadQC`` -> ``read_qc``, ``StartServerBenchmark`` -> ``start_server_benchmark``.

    A word boundary is a lower-case letter or digit followed by an upper-case
    letter, or the last capital of an acronym followed by a capitalised word
    (``HTTPServer`` -> ``http_server``); an acronym's plural stays one word
    (``GetIDs`` -> ``get_ids``). Existing underscores are kept.
    """
    name = _PLURAL_ACRONYM.sub(lambda m: m[1] + m[2].lower() + "s", name)
    name = _ACRONYM_WORD.sub(r"\1_\2", name)
    name = _LOWER_UPPER.sub(r"\1_\2", name)
    return name.lower()


def safe_identifier(name: str) -> str:
    """``name``, with ``_`` appended if it is a Python keyword (``pass`` -> ``pass_``)."""
    return name + "_" if keyword.iskeyword(name) else name


def _strip_proto(path: str) -> str:
    for suffix in (".protodevel", ".proto"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def module_name(proto_path: str, suffix: str = "_pb2") -> str:
    """Dotted module of a proto file: ``a/b/c.proto`` -> ``a.b.c_pb2``.

    As protoc does: ``-`` becomes ``_`` and ``/`` becomes ``.``.
    """
    base = _strip_proto(proto_path).replace("-", "_").replace("/", ".")
    return base + suffix


def module_alias(proto_path: str) -> str:
    """protoc's import alias: ``a/b/c.proto`` -> ``a_dot_b_dot_c__pb2``.

    Underscores are doubled before dots become ``_dot_``, so ``a.b`` and
    ``a_dot_b`` cannot collide.
    """
    return module_name(proto_path).replace("_", "__").replace(".", "_dot_")


def import_statement(proto_path: str) -> str:
    """``from a.b import c_pb2 as a_dot_b_dot_c__pb2`` or ``import x_pb2 as x__pb2``."""
    mod = module_name(proto_path)
    alias = module_alias(proto_path)
    package, _, leaf = mod.rpartition(".")
    if package:
        return f"from {package} import {leaf} as {alias}"
    return f"import {mod} as {alias}"


def output_name(proto_path: str) -> str:
    """Path of the generated file, beside protoc's ``_pb2.py``: ``a/b/c_gorums.py``."""
    return module_name(proto_path, "_gorums").replace(".", "/") + ".py"
