"""Each layer imports at the cost of what it uses (issue 15, item 1).

Every check runs in a fresh interpreter (this process has everything
loaded already) and asserts on what got loaded, never on how long it took.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gorums_h2
import gorums_h2.testing
import gorums_h2.wire

# gorums_h2's own modules that are not the runtime: the wire, the codec,
# generated protobuf modules, the version constants, the call-type table, the
# lazy-export helper
# and the protoc plugin.
_NOT_RUNTIME = {"wire", "codec", "pb", "_version", "_lazy", "_calltype", "protoc_plugin"}


def _loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after ``statement`` (and no more)."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out))


def _runtime(modules: set[str]) -> set[str]:
    return {m for m in modules
            if m.startswith("gorums_h2.") and m.split(".")[1] not in _NOT_RUNTIME}


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_package_alone_loads_nothing_else() -> None:
    loaded = _loaded_after("import gorums_h2")
    assert {m for m in loaded if m.startswith("gorums_h2.")} == {"gorums_h2._lazy"}
    assert not _top(loaded) & {"anyio", "h2", "google"}


def test_wire_package_loads_neither_runtime_nor_dependencies() -> None:
    loaded = _loaded_after("import gorums_h2.wire")
    assert {m for m in loaded if m.startswith("gorums_h2.")} == {"gorums_h2.wire",
                                                                   "gorums_h2._lazy"}
    assert not _top(loaded) & {"anyio", "h2", "google"}


@pytest.mark.parametrize("module", [
    "gorums_h2.wire.framing",
    "gorums_h2.wire.metadata",
    "gorums_h2.wire.headers",
    "gorums_h2.wire.protocol",  # the sans-IO core: h2, but no I/O
])
def test_sans_io_wire_modules_load_no_io(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert module in loaded
    assert _runtime(loaded) == set()
    assert not _top(loaded) & {"anyio", "trio", "ssl"}
    assert "gorums_h2.wire.connection" not in loaded


def test_wire_driver_loads_no_runtime() -> None:
    loaded = _loaded_after("import gorums_h2.wire.client, gorums_h2.wire.server")
    assert "anyio" in _top(loaded)  # the check below looks at the right process
    assert _runtime(loaded) == set()


def test_codec_loads_neither_runtime_nor_wire_driver() -> None:
    loaded = _loaded_after("import gorums_h2.codec")
    assert "gorums_h2.codec.methods" in loaded
    assert _runtime(loaded) == set()
    # the wire protocols speak gRPC statuses and metadata (pure modules), nothing more
    wire = {m for m in loaded if m.startswith("gorums_h2.wire")}
    assert wire <= {"gorums_h2.wire", "gorums_h2.wire.status", "gorums_h2.wire.metadata"}, wire
    assert not _top(loaded) & {"anyio", "h2"}


def test_protoc_plugin_loads_no_runtime() -> None:
    loaded = _loaded_after("import gorums_h2.protoc_plugin.main")
    assert "gorums_h2.protoc_plugin.render" in loaded
    assert _runtime(loaded) == set()
    assert not {m for m in loaded if m.startswith("gorums_h2.wire")}
    assert not _top(loaded) & {"anyio", "h2"}


def test_a_public_name_loads_its_module_on_first_access() -> None:
    loaded = _loaded_after("from gorums_h2 import Backoff")
    assert _runtime(loaded) == {"gorums_h2.backoff"}


LAZY = [gorums_h2, gorums_h2.wire, gorums_h2.testing]


@pytest.mark.parametrize("package", LAZY, ids=lambda p: p.__name__)
def test_every_public_name_resolves_to_its_module_object(package: object) -> None:
    exports: dict[str, str] = package._EXPORTS  # type: ignore[attr-defined]
    public = set(package.__all__)  # type: ignore[attr-defined]
    assert set(exports) <= public
    for name in public:
        value = getattr(package, name)
        if name in exports:
            assert value is getattr(importlib.import_module(exports[name]), name)
    assert public <= set(dir(package))
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize("package", LAZY, ids=lambda p: p.__name__)
def test_type_checking_imports_match_the_runtime_table(package: object) -> None:
    """mypy and IDEs read the TYPE_CHECKING imports, __getattr__ the table:
    both must name the same modules."""
    tree = ast.parse(Path(package.__file__).read_text())  # type: ignore[attr-defined]
    guarded = next(node for node in tree.body
                   if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen = {alias.name: node.module
            for node in guarded.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}
    assert seen == package._EXPORTS  # type: ignore[attr-defined]


def test_signal_loads_neither_driver_nor_h2() -> None:
    loaded = _loaded_after("import gorums_h2.wire.signal")
    assert "gorums_h2.wire.signal" in loaded
    assert "gorums_h2.wire.connection" not in loaded
    assert not _top(loaded) & {"h2", "google"}


def test_runtime_does_not_import_the_wire_driver_for_signal() -> None:
    """The runtime waits on wire.signal; wire.connection (the driver) keeps
    Signal only as a re-export for existing imports."""
    import gorums_h2.wire.connection
    import gorums_h2.wire.signal

    assert gorums_h2.wire.connection.Signal is gorums_h2.wire.signal.Signal
    runtime = Path(gorums_h2.__file__).parent
    for path in runtime.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "gorums_h2.wire.connection":
                assert "Signal" not in {a.name for a in node.names}, path.name


@pytest.mark.parametrize("package", ["gorums_h2", "gorums_h2.wire", "gorums_h2.codec",
                                     "gorums_h2.testing"])
def test_every_exported_name_has_its_reason_in_architecture_md(package: str) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text()
    surface = doc[doc.index("## The public surface"):]
    names = importlib.import_module(package).__all__
    sizes = " ".join(surface.split("\n\n")[1].split())  # the paragraph giving the sizes
    assert re.search(rf"`{re.escape(package)}` {len(names)}\b", sizes), (
        f"{package}: its size ({len(names)}) is not written down")
    missing = [n for n in names if f"`{n}`" not in surface
               and not (n.startswith("ECHO_") and "`ECHO_*`" in surface)]
    assert missing == [], f"{package}: no reason written for {missing}"
