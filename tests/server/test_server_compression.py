"""``Manager(compression=...)`` and ``Server(compression=...)``: quorum calls
with gzip-compressed requests and replies, and every mix with an
uncompressed side (the wire-level interop with grpcio is in
tests/interop/test_grpcio_compression.py)."""

from __future__ import annotations

import pytest

import gorums_h2 as g
from gorums_h2.testing import ECHO_QC, Echo, EchoService, register_echo_service, test_configuration

pytestmark = pytest.mark.anyio

VALUE = "quorum " * 10_000


@pytest.mark.parametrize("client", [None, "gzip"], ids=["plain-manager", "gzip-manager"])
@pytest.mark.parametrize("server", [None, "gzip"], ids=["plain-server", "gzip-server"])
async def test_quorum_calls_with_compression(client: str | None, server: str | None) -> None:
    def srv_fn(i: int) -> g.Server:
        srv = g.Server(compression=server)
        register_echo_service(srv, EchoService(i))
        return srv

    async with test_configuration(3, srv_fn, compression=client) as cfg:
        replies = [r async for r in g.quorum_call(cfg.context(timeout=30), Echo(value=VALUE),
                                                  ECHO_QC, Echo)]
        assert [r.value.value for r in replies if r.value is not None] == [VALUE] * 3
        for node in cfg.nodes():
            stream = node.channel.stream
            assert stream is not None
            assert stream.send_encoding == client  # the requests
            # the replies: compressed when the server compresses and we accept it
            assert stream._decoder.encoding == (server if client else None)
            if client:
                assert stream.written < len(VALUE) // 20
            else:
                assert stream.written > len(VALUE)


def test_unknown_compression_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="compression"):
        g.Manager(compression="brotli")
    with pytest.raises(ValueError, match="compression"):
        g.Server(compression="brotli")
