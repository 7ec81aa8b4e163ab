"""``python -m gorums_h2.testing.serve``: echo servers in a process that always ends."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

import gorums_h2 as g
from gorums_h2.benchmark.procs import stop_process
from gorums_h2.testing import ECHO_QC, Echo
from gorums_h2.testing.serve import spawn_echo_servers

SERVE = [sys.executable, "-m", "gorums_h2.testing.serve"]


@pytest.mark.anyio
async def test_serves_echo_servers_until_terminated(loop: str) -> None:
    proc, addrs = spawn_echo_servers(["127.0.0.1:0", "127.0.0.1:0"], backend=loop)
    try:
        assert len(addrs) == 2
        with anyio.fail_after(20):
            async with g.Manager() as mgr:
                cfg = mgr.new_configuration(g.with_node_map({a: i for i, a in enumerate(addrs)}))
                replies = await g.quorum_call(cfg.context(timeout=10), Echo(value="p"),
                                              ECHO_QC, Echo).collect_all()
        assert sorted(r.node_id for r in replies.values()) == [0, 1]
    finally:
        stop_process(proc)
    assert proc.returncode == 0


def test_exits_by_itself_after_its_lifetime() -> None:
    done = subprocess.run([*SERVE, "--addr", "127.0.0.1:0", "--lifetime", "0.5"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("LISTENING 127.0.0.1:")


def test_rejects_a_bad_address() -> None:
    done = subprocess.run([*SERVE, "--addr", "nohost"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert "HOST:PORT" in done.stderr
