"""``:PORT`` means 127.0.0.1 in every CLI and in System (one shared parser).

Before issue 10 ``gorums-h2 benchmark --server :PORT`` listened on all
interfaces while ``storage serve --addr :PORT`` listened on 127.0.0.1, and
``System(":PORT")`` was refused unless the port was 0.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import gorums_h2 as g
from gorums_h2.nodelist import parse_listen_address


@pytest.mark.parametrize(("text", "expected"), [
    (":29100", ("127.0.0.1", 29100)),
    (":0", ("127.0.0.1", 0)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("0.0.0.0:80", ("0.0.0.0", 80)),
    ("[::]:443", ("::", 443)),
    ("[::1]:0", ("::1", 0)),
    ("localhost:65535", ("localhost", 65535)),
    (" :7 ", ("127.0.0.1", 7)),
])
def test_parse_listen_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["", "29100", "host:", "host:port", ":65536", "::1:80", ":-1"])
def test_parse_listen_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="listen address"):
        parse_listen_address(text)


@pytest.mark.anyio
async def test_system_colon_port_is_loopback() -> None:
    async with g.System(":0") as system:
        assert system.address.startswith("127.0.0.1:")


@pytest.mark.parametrize("command", [
    ["benchmark", "--server", ":0"],
    ["storage", "serve", "--addr", ":0"],
])
def test_cli_colon_port_listens_on_loopback(command: list[str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "gorums_h2.cli", *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, proc.kill)  # a silent process cannot hang the test
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("LISTENING 127.0.0.1:"), (line, proc.stderr and proc.stderr.read())
    finally:
        watchdog.cancel()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
