"""The storage example's newest-of-majority read, correct when a node is stale."""

from __future__ import annotations

import anyio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2 as g
from gorums_h2.examples.storage import storage_gorums as sg
from gorums_h2.examples.storage.newest import read_newest
from gorums_h2.examples.storage.server import new_storage_server
from gorums_h2.examples.storage.storage_pb2 import ReadRequest, WriteRequest
from gorums_h2.testing import StopFunc, test_configuration

pytestmark = pytest.mark.anyio


def storage_server(_index: int) -> g.Server:
    return new_storage_server()


async def test_read_newest_returns_the_newest_value_of_any_majority() -> None:
    stop = StopFunc()
    async with test_configuration(3, storage_server, stop_func=stop,
                                  backoff=g.Backoff(base_delay=30)) as cfg:
        old = WriteRequest(key="x", value="old", time=Timestamp(seconds=1))
        await sg.write_qc(cfg.context(), old).all()
        # node 0 misses the newer write (it went to a majority without it)
        majority = cfg - cfg.manager.new_configuration(g.with_node_ids([0]))  # type: ignore[union-attr]
        new = WriteRequest(key="x", value="new", time=Timestamp(seconds=2))
        await sg.write_qc(majority.context(), new).all()
        stop(2)  # the majority left is {stale node 0, node 1}
        with anyio.fail_after(10):
            await cfg.nodes()[2].wait_disconnected()
        for _ in range(5):
            reply = await read_newest(sg.read_qc(cfg.context(timeout=10), ReadRequest(key="x")))
            assert (reply.value, reply.time.seconds) == ("new", 2)
        # a quorum of 3 cannot be had with node 2 down
        with pytest.raises(g.IncompleteError) as info:
            await read_newest(sg.read_qc(cfg.context(timeout=10), ReadRequest(key="x")), 3)
        assert list(info.value.node_errors) == [2]


async def test_read_newest_of_a_missing_key_is_not_ok() -> None:
    async with test_configuration(3, storage_server) as cfg:
        reply = await read_newest(sg.read_qc(cfg.context(timeout=10), ReadRequest(key="none")))
        assert not reply.OK
