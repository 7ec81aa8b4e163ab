"""Symmetric systems (Go master's ``NewLocalSystems`` with ``WithConfig``): every
replica has a server with its ID and an outbound configuration of all
replicas, itself dispatched in process; nested calls go over the streams the
other replicas opened to it."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2 as g
from gorums_h2.examples.storage import storage_gorums as sg
from gorums_h2.examples.storage.server import StorageService
from gorums_h2.examples.storage.storage_pb2 import ReadRequest, WriteRequest

pytestmark = pytest.mark.anyio

WAIT = 10


async def eventually(condition: Callable[[], object]) -> None:
    with anyio.fail_after(WAIT):
        while not condition():  # noqa: ASYNC110 (state of other tasks, no event to wait on)
            await anyio.sleep(0.005)


async def test_a_nested_read_through_the_peers_of_a_symmetric_system() -> None:
    services: list[StorageService] = []

    def register(i: int, server: g.Server) -> None:
        services.append(StorageService())
        sg.register_storage_server(server, services[-1])

    async with g.local_systems(3, register, symmetric=True) as systems:
        by_id = {s.server.my_id: s for s in systems}
        assert sorted(by_id) == [1, 2, 3]
        for system in systems:
            cfg = system.outbound_config
            assert cfg is not None and cfg.node_ids() == [1, 2, 3]
            for node in cfg.nodes():
                await node.wait_connected()
        # every replica classified the other two's streams as its peers
        await eventually(lambda: all(len(s.server._inbound.peers) == 2 for s in systems))
        one = by_id[1].outbound_config
        assert one is not None
        write = WriteRequest(key="k", value="v", time=Timestamp(seconds=7))
        replies = await sg.write_qc(one.context(timeout=WAIT), write).collect_n(3)
        assert all(r is not None and r.new for r in replies.values())  # self included
        assert all(s.store["k"][0] == "v" for s in services)
        # node 2 reads from its config(): peers 1 and 3 over their inbound
        # streams (server-initiated), and itself in process
        reply = await sg.read_nested_qc(one.node(2).context(timeout=WAIT),  # type: ignore[union-attr]
                                        ReadRequest(key="k"))
        assert (reply.OK, reply.value) == (True, "v")
        # an RPC to its own node runs its own handler in process
        mine = await sg.read_rpc(one.node(1).context(timeout=WAIT),  # type: ignore[union-attr]
                                 ReadRequest(key="k"))
        assert mine.value == "v"


async def test_with_config_rejects_an_id_outside_the_node_list() -> None:
    async with g.System("127.0.0.1:0") as system:
        with pytest.raises(ValueError, match="my_id 3"):
            await system.with_config(3, [system.address, "127.0.0.1:1"])
