"""No module reads another module's privates (issue 15, item 3).

An AST scan of every gorums_h2 module: ``obj._name`` is allowed when ``obj``
is ``self``/``cls``/``super()`` or when the module itself defines ``_name``
(an attribute it assigns on ``self``, a ``__slots__`` entry, a method or a module-level
name: its own class's privates, e.g. ``other._nodes`` in ``__eq__``). Any
other underscore attribute is a reach-in into another module's object and
fails the test unless it is in ``ALLOWED`` with its reason. Modules talk
through documented methods instead (``Node.channel``, ``Manager.add_node``,
``ServerCtx.end_inline`` ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

import gorums_h2

PACKAGE = Path(gorums_h2.__file__).parent

# (module path relative to the package, or "*" for every module) -> attribute
# names it may read on other objects, with the reason.
ALLOWED: dict[str, dict[str, str]] = {
    "*": {
        "_SubParsersAction": "argparse's type of add_subparsers(), for annotations",
        "_get_running_loop": "asyncio's C-fast running-loop lookup (wire.clock, signal)",
    },
}


# The wire's engine: the sans-IO core (ConnectionCore/StreamCore and its
# read gate: one state machine over several files), the I/O strategies that
# drive it, and the glue that patches h2's internals (a pinned h2). They share
# state by design and reach into h2; the rest of the package sees the wire
# only through ``gorums_h2.wire``'s names, which this scan checks.
ENGINE = {"wire/protocol.py", "wire/stream_core.py", "wire/read_gate.py", "wire/_h2.py",
          "wire/_io.py", "wire/_asyncio_io.py", "wire/_trio_io.py"}


def _defined(tree: ast.Module) -> set[str]:
    """The private names a module defines itself."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and _is_own(node.value)):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets):
            names.update(c.value for c in ast.walk(node.value)
                         if isinstance(c, ast.Constant) and isinstance(c.value, str))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def _is_own(value: ast.expr) -> bool:
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls")
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "super")


def _foreign_reads(path: Path) -> list[tuple[int, str, str]]:
    """(line, attribute, expression) of each private read of another module's object."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _defined(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or attr.startswith("__"):
            continue
        if _is_own(node.value) or attr in own:
            continue
        found.append((node.lineno, attr, ast.unparse(node)))
    for node in ast.walk(tree):  # ``from gorums_h2.x import _name`` (a module is fine)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gorums_h2"):
            base = PACKAGE.parent.joinpath(*(node.module or "").split("."))
            for alias in node.names:
                name = alias.name
                if (name.startswith("_") and not name.startswith("__")
                        and not (base / f"{name}.py").exists()):
                    found.append((node.lineno, name, f"from {node.module} import {name}"))
    return found


def reach_ins(path: Path, rel: str | None = None) -> list[str]:
    """``module:line: expression`` for each private read into another module
    that ``ALLOWED`` does not list (``rel``: the module's path in the
    package, by default from ``path``)."""
    rel = rel or path.relative_to(PACKAGE).as_posix()
    allowed = {**ALLOWED["*"], **ALLOWED.get(rel, {})}
    return [f"{rel}:{line}: {expr}" for line, attr, expr in _foreign_reads(path)
            if attr not in allowed]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not p.name.endswith(("_pb2.py", "_pb2_grpc.py"))
                  and p.relative_to(PACKAGE).as_posix() not in ENGINE)


def test_no_module_reads_another_modules_privates() -> None:
    found = [hit for path in _modules() for hit in reach_ins(path)]
    assert found == [], "reach-ins (use a documented method instead):\n" + "\n".join(found)


def test_the_scan_sees_a_reach_in(tmp_path: Path) -> None:
    # the scan itself must be able to fail: a read of a private another module owns
    probe = tmp_path / "probe.py"
    probe.write_text("def f(node):\n    return node._secret\n", encoding="utf-8")
    assert reach_ins(probe, "probe.py") == ["probe.py:2: node._secret"]


def test_the_scan_sees_a_private_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from gorums_h2.codec.envelope import _x\nfrom gorums_h2 import _version\n",
                     encoding="utf-8")
    assert reach_ins(probe, "probe.py") == [
        "probe.py:1: from gorums_h2.codec.envelope import _x"]


def test_own_privates_are_allowed() -> None:
    # configuration.py compares two Configurations through their privates
    assert reach_ins(PACKAGE / "configuration.py") == []
    assert "_by_id" in _defined(ast.parse((PACKAGE / "configuration.py").read_text()))


def test_every_allowed_reach_in_still_exists() -> None:
    # an exception that is no longer needed goes from the list (the general
    # ones; a module's own entry, if one is ever needed, goes with its rewrite)
    read = {attr for path in _modules() for _, attr, _ in _foreign_reads(path)}
    assert set(ALLOWED["*"]) <= read, sorted(set(ALLOWED["*"]) - read)
