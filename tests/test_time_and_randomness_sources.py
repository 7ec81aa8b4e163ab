"""Time and randomness come from the documented injection points only
(docs/architecture.md, rules 4 and 5): an AST scan of the runtime, the wire
and the codec for wall clocks and global randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import gorums_h2

PACKAGE = Path(gorums_h2.__file__).parent

# time.* and random.* / os.* calls that bypass the loop's clock or an injected rng
FORBIDDEN = {("time", n) for n in ("monotonic", "monotonic_ns", "time", "time_ns",
                                    "perf_counter", "perf_counter_ns")}
FORBIDDEN |= {("random", n) for n in ("random", "uniform", "randint", "randrange",
                                      "choice", "shuffle", "getrandbits", "randbytes")}
FORBIDDEN |= {("os", "urandom")}

# tools that measure wall time on purpose (the benchmark, the CLI demo, the
# test kit); a ``clock=`` parameter's default (the sans-IO core's, for its unit
# tests: its drivers pass the loop's clock) is an injection point, not a use
EXEMPT = ("benchmark/", "cli/", "testing/")


def _clock_defaults(tree: ast.AST) -> set[int]:
    """ids of the default values of parameters named ``clock``."""
    ids = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = fn.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults,
                             strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                      if d is not None]
            ids |= {id(d) for a, d in pairs if a.arg == "clock"}
    return ids


def _uses(path: Path) -> list[tuple[int, str]]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    injected = _clock_defaults(tree)
    for node in ast.walk(tree):
        if id(node) in injected:
            continue
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in FORBIDDEN):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def test_no_wall_clock_or_global_randomness_outside_the_injection_points() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(EXEMPT) or path.name.endswith("_pb2.py"):
            continue
        bad += [f"{rel}:{line}: {use}" for line, use in _uses(path)]
    assert bad == [], "read the loop's clock / an injected rng instead:\n" + "\n".join(bad)


def test_the_scan_sees_a_wall_clock(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import time, random\nt = time.monotonic()\nx = random.random()\n"
                     "def f(*, clock=time.monotonic, other=time.time): ...\n",
                     encoding="utf-8")
    assert sorted(_uses(probe)) == [(2, "time.monotonic"), (3, "random.random"),
                                    (4, "time.time")]
