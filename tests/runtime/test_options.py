"""Options are typed and validated (issue 15, item 6): the TypedDicts that
forwarding functions use match the signatures, and sizes of 0 or less are
refused instead of meaning something silently."""

from __future__ import annotations

import inspect
import random

import pytest

import gorums_h2 as g
from gorums_h2.options import ConnectionOptions, ManagerOptions, ServerOptions
from gorums_h2.testing.setup import NodeOptions, test_configuration


def _keywords(fn: object) -> set[str]:
    return {p.name for p in inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def test_manager_options_are_the_managers_keywords() -> None:
    assert set(ManagerOptions.__annotations__) | set(ConnectionOptions.__annotations__) == (
        _keywords(g.Manager))
    assert _keywords(g.Manager) - set(ConnectionOptions.__annotations__) == {"wire", "server"}


def test_server_options_are_the_servers_keywords() -> None:
    assert set(ServerOptions.__annotations__) == _keywords(g.Server)


def test_node_options_are_test_configurations_keywords() -> None:
    wrapped = test_configuration.__wrapped__  # type: ignore[attr-defined]
    assert set(NodeOptions.__annotations__) == _keywords(wrapped) | _keywords(g.Manager)


@pytest.mark.parametrize("size", [0, -1])
def test_a_message_size_of_zero_or_less_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="max_send_message_size must be positive"):
        g.Server(max_send_message_size=size)
    with pytest.raises(ValueError, match="max_receive_message_size must be positive"):
        g.Server(max_receive_message_size=size)
    with pytest.raises(ValueError, match="send_buffer_bytes must be positive"):
        g.WireSettings(send_buffer_bytes=size)


def test_none_keeps_the_wire_settings_limits() -> None:
    settings = g.WireSettings(max_send_message_size=1000, max_receive_message_size=2000)
    server = g.Server(wire_settings=settings, max_send_message_size=None)
    assert server.wire.settings.max_send_message_size == 1000
    assert server.wire.settings.max_receive_message_size == 2000
    assert g.Server().wire.settings.max_send_message_size is None  # no limit by default
    assert g.Server(max_send_message_size=10).wire.settings.max_send_message_size == 10


def test_server_rng_reaches_the_wire_server() -> None:
    rng = random.Random(7)
    assert g.Server(rng=rng).wire.rng is rng


def test_go_accessor_aliases_warn_and_still_answer() -> None:
    from google.protobuf.empty_pb2 import Empty

    from gorums_h2.codec import Envelope
    from gorums_h2.configuration import Configuration
    from gorums_h2.context import ConfigContext

    msg = g.Message(Envelope(7, "pkg.S.M"), Empty())
    for alias, value in (("get_message_id", 7), ("get_method", "pkg.S.M"),
                         ("get_metadata", msg.envelope), ("get_proto_message", msg.msg)):
        with pytest.warns(DeprecationWarning, match=f"Message.{alias}"):
            assert getattr(msg, alias)() == value
    empty = Configuration([])
    with pytest.warns(DeprecationWarning, match="use =="):
        assert empty.equal(Configuration([]))
    ctx = ConfigContext(empty)
    with pytest.warns(DeprecationWarning, match="ctx.configuration"):
        assert ctx.config is empty


@pytest.mark.anyio
async def test_node_get_id_warns_and_still_answers() -> None:
    async with g.Manager() as mgr:
        [node] = mgr.new_configuration(g.with_node_map({"127.0.0.1:9": 5})).nodes()
        with pytest.warns(DeprecationWarning, match="node.id"):
            assert node.get_id() == 5
