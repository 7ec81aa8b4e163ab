"""The injected I/O backends (gorums_h2/wire/io_backends.py).

Each backend id of the wire matrix must really run its I/O path on both
ends (else the matrix would test one path five times), a backend must refuse
a loop it does not run on, and ``WireSettings.h2_fast_path=False`` must
really bypass the fast path (else the differential tests compare a path
with itself). No module of the wire layer keeps a mutable flag.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace

import anyio
import pytest
from core_pair import CorePair, drain
from tcp_helpers import ECHO, serving

import gorums_h2.wire
from gorums_h2.wire import WireSettings, _h2, connect
from gorums_h2.wire._asyncio_io import AsyncioProtocolIO
from gorums_h2.wire._io import StreamIO
from gorums_h2.wire._trio_io import TrioSocketIO
from gorums_h2.wire.io_backends import (
    AnyioBackend,
    AsyncioBackend,
    TrioBackend,
    select_io_backend,
)

pytestmark = pytest.mark.anyio

_EXPECTED = {
    "asyncio": AsyncioProtocolIO,
    "uvloop": AsyncioProtocolIO,
    "asyncio-streams": StreamIO,
    "trio": TrioSocketIO,
    "trio-streams": StreamIO,
}


async def test_each_backend_id_runs_its_io_path_on_both_ends(
        request: pytest.FixtureRequest, wire: WireSettings) -> None:
    expected = _EXPECTED[request.node.callspec.params["anyio_backend"]]
    async with serving(settings=wire) as (srv, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream(ECHO)
                await stream.send(b"x")
                assert await stream.receive() == b"x"
                (server_conn,) = srv.connections
                assert type(conn.io) is expected
                assert type(server_conn.io) is expected


async def test_the_native_backend_is_chosen_by_the_running_loop(
        anyio_backend_name: str) -> None:
    native = {"asyncio": AsyncioBackend(), "trio": TrioBackend()}[anyio_backend_name]
    assert select_io_backend(None) == native
    assert select_io_backend(AnyioBackend()) == AnyioBackend()


async def test_a_backend_for_another_loop_is_refused(anyio_backend_name: str) -> None:
    other = TrioBackend() if anyio_backend_name == "asyncio" else AsyncioBackend()
    settings = WireSettings(io_backend=other)
    with pytest.raises(RuntimeError, match="does not run on"):
        async with connect("127.0.0.1", 1, settings=settings):
            pass
    with pytest.raises(RuntimeError, match="does not run on"):
        await gorums_h2.wire.WireServer(settings=settings).serve_tcp("127.0.0.1", 0)


def test_io_backend_must_be_a_backend() -> None:
    with pytest.raises(TypeError, match="io_backend"):
        WireSettings(io_backend="asyncio")  # type: ignore[arg-type]
    assert WireSettings(io_backend=AnyioBackend()) == WireSettings(io_backend=AnyioBackend())


def test_h2_fast_path_off_takes_h2s_own_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_h2.FastData, "__init__",
                        lambda *a: pytest.fail("fast path taken"))  # type: ignore[misc]
    sent: list[int] = []
    send_data = _h2.H2Connection.send_data

    def spy(self: _h2.H2Connection, sid: int, data: bytes, *args: object,
            **kwargs: object) -> None:
        sent.append(len(data))
        send_data(self, sid, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_h2.H2Connection, "send_data", spy)
    slow = replace(WireSettings(), h2_fast_path=False)
    pair = CorePair(slow, slow)
    cs, ss = pair.open()
    cs.queue_message(b"hello")
    pair.pump()
    assert drain(ss) == [b"hello"]
    assert sent == [10]  # h2's own send_data framed the message


def test_no_wire_module_keeps_a_mutable_flag() -> None:
    """The I/O path and the fast path are chosen by settings, not by
    assigning module globals (as NATIVE_ASYNCIO, NATIVE_TRIO and FAST_DATA
    once were)."""
    flags = []
    for info in pkgutil.iter_modules(gorums_h2.wire.__path__):
        module = importlib.import_module(f"gorums_h2.wire.{info.name}")
        flags += [f"{info.name}.{name}" for name, value in vars(module).items()
                  if isinstance(value, bool) and name != "TYPE_CHECKING"]
    assert flags == []
