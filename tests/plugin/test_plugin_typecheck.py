"""The generated modules are fully typed: ``mypy --strict`` passes on them and on
user code calling every function (plugin_usercode.py), and catches misuse.

mypy runs with ``--strict`` and no configuration at all: the message stubs
``gorums-h2 protoc`` writes (mypy-protobuf's) and the committed ones of
gorums_h2.pb pass it as they are.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from _plugin_kit import HERE

import gorums_h2

REPO = Path(gorums_h2.__file__).resolve().parent.parent
GENERATED_MODULES = ["plugintest_storage_gorums", "zorums.zorums_gorums"]


# every line marked "# E: <code>" must get exactly that mypy error code
MISUSE = """\
from __future__ import annotations

from zorums import zorums_gorums as zg
from zorums import zorums_pb2 as zpb

import gorums_h2


class WrongReturn:
    async def start_server_benchmark(
        self, ctx: gorums_h2.ServerCtx, req: zpb.Request
    ) -> zpb.Request:
        return req


class MissingMethod:
    pass


async def misuse(cfg: gorums_h2.Configuration, srv: gorums_h2.Server) -> None:
    ctx = cfg.context()
    zg.quorum_call(ctx, zpb.Response())  # E: arg-type
    x: zpb.Request = await zg.quorum_call(ctx, zpb.Request()).majority()  # E: assignment
    await zg.grpc_call(ctx, zpb.Request())  # E: arg-type
    zg.register_second_server(srv, WrongReturn())  # E: arg-type
    zg.register_second_server(srv, MissingMethod())  # E: arg-type
    await zg.multicast(ctx, zpb.Request(), interceptors=[1])  # E: list-item
    fut: zg.EmptyAsync = zg.quorum_call(ctx, zpb.Request()).async_first()  # E: assignment
    await zg.unicast(cfg.nodes()[0].context(), zpb.Request(), ignore_errors=1.5)  # E: arg-type
    n: int = zg.quorum_call_stream(ctx, zpb.Request())  # E: assignment
"""


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for this module's runs (a cold mypy run takes seconds)."""
    return tmp_path_factory.mktemp("mypy_cache")


def run_mypy(tmp: Path, generated: Path, cache: Path, modules: list[str]) -> tuple[int, str]:
    args = [sys.executable, "-m", "mypy", "--strict", "--config-file=",
            "--cache-dir", str(cache), "--no-error-summary",
            "--show-error-codes", "--hide-error-context"]
    for mod in modules:
        args += ["-m", mod]
    env_path = ":".join([str(generated), str(HERE), str(tmp), str(REPO)])
    proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=300,
                          env={"MYPYPATH": env_path, "PATH": "/usr/bin:/bin"}, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_generated_code_and_user_code_pass_mypy_strict(
        generated: Path, mypy_cache: Path, tmp_path: Path) -> None:
    rc, out = run_mypy(tmp_path, generated, mypy_cache, [*GENERATED_MODULES, "plugin_usercode"])
    assert rc == 0, out
    assert out.strip() == "", out


def test_mypy_catches_misuse_of_generated_code(
        generated: Path, mypy_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "plugin_misuse.py").write_text(MISUSE)
    rc, out = run_mypy(tmp_path, generated, mypy_cache, ["plugin_misuse"])
    assert rc == 1, out
    want = {
        (n, m.group(1))
        for n, line in enumerate(MISUSE.splitlines(), 1)
        if (m := re.search(r"# E: ([\w-]+)$", line))
    }
    got = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"^plugin_misuse\.py:(\d+): error: .*\[([\w-]+)\]$", out, re.M)
    }
    assert got == want, out


@pytest.mark.parametrize("module", GENERATED_MODULES)
def test_generated_module_is_not_silently_any(
        generated: Path, mypy_cache: Path, tmp_path: Path, module: str) -> None:
    """reveal_type shows real types (a missing import would make everything Any)."""
    src = (f"import {module} as g\n"
           "reveal_type(g.__all__)\n")
    if module == "zorums.zorums_gorums":
        src += "reveal_type(g.quorum_call)\nreveal_type(g.register_second_server)\n"
    else:
        src += "reveal_type(g.read_qc)\nreveal_type(g.register_storage_server)\n"
    (tmp_path / "plugin_reveal.py").write_text(src)
    rc, out = run_mypy(tmp_path, generated, mypy_cache, ["plugin_reveal"])
    assert rc == 0, out
    assert "Any" not in out, out
    assert "gorums_h2.quorumcall.Responses[" in out, out
    assert "gorums_h2.server.Server" in out, out
