"""The storage example's methods added by Go Gorums master (WriteUnicast,
ReadCorrectable), through the generated stubs, on both wires."""

from __future__ import annotations

import anyio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2 as g
from gorums_h2.examples.storage import storage_gorums as sg
from gorums_h2.examples.storage.server import new_storage_server
from gorums_h2.examples.storage.storage_pb2 import ReadRequest, WriteRequest
from gorums_h2.testing import test_servers

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("wire", ["ordering", "stream"])
async def test_write_unicast_and_read_correctable(wire: str) -> None:
    async with test_servers(3, lambda i: new_storage_server()) as servers, g.Manager(
            wire=wire) as mgr:
        cfg = mgr.new_configuration(g.with_node_list(servers.addresses))
        node = cfg.nodes()[0]
        write = WriteRequest(key="k", value="v1", time=Timestamp(seconds=5))
        await sg.write_unicast(node.context(), write)
        # FIFO per node: the ordered RPC after the unicast sees its write
        read = await sg.read_rpc(node.context(), ReadRequest(key="k"))
        assert (read.OK, read.value) == (True, "v1")
        stores = [s.service.store for s in servers.servers]  # type: ignore[attr-defined]
        assert sum("k" in store for store in stores) == 1  # unicast: one node only
        # a streaming quorum call: each node sends its stored value once
        with anyio.fail_after(10):
            corr = sg.read_correctable(cfg.context(), ReadRequest(key="k")).correctable(3)
            await corr.wait()
        value, level, err = corr.get()
        assert level == 3 and err is None and value is not None
        # every node's single reply (collect_n ends the streaming call)
        replies = await sg.read_correctable(cfg.context(timeout=10),
                                            ReadRequest(key="k")).collect_n(3)
        assert sorted(r.OK for r in replies.values() if r is not None) == [False, False, True]
