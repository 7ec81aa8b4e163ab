"""End to end: the generated stubs of the test protos against real servers over TCP.

Three gorums_h2 Servers with every test service registered through the
generated ``register_*_server`` functions (implementations in
plugin_usercode.py), a Manager and a configuration of the three, and every
generated client function called once (plugin_usercode.run_zorums /
run_storage), on asyncio and trio.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import anyio
import pytest

import gorums_h2
from gorums_h2.testing.leaks import assert_no_leaks, task_count

pytestmark = pytest.mark.anyio

NODES = 3


@pytest.fixture
def usercode(generated_on_path: Path) -> ModuleType:
    return importlib.import_module("plugin_usercode")


async def test_every_generated_function_end_to_end(usercode: ModuleType) -> None:
    from google.protobuf import empty_pb2

    baseline = task_count()
    zorums = [usercode.ZorumsImpl() for _ in range(NODES)]
    stores = [usercode.StorageImpl() for _ in range(NODES)]
    servers = [gorums_h2.Server() for _ in range(NODES)]
    ports: list[int] = []
    async with anyio.create_task_group() as tg:
        for srv, z, s in zip(servers, zorums, stores, strict=True):
            usercode.register_all(srv, z, s)
            _host, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
            ports.append(port)
        try:
            with anyio.fail_after(30):
                async with gorums_h2.Manager() as mgr:
                    cfg = mgr.new_configuration(
                        gorums_h2.with_node_list(f"127.0.0.1:{p}" for p in ports))
                    node_ids = {node.port: node.id for node in cfg.nodes()}
                    first_port = cfg.nodes()[0].port
                    out = await usercode.run_zorums(cfg)
                    sout = await usercode.run_storage(cfg)
        finally:
            for srv in servers:
                srv.stop()
    await assert_no_leaks(baseline, [mgr], servers)

    stream = sorted(i for i in range(1, usercode.STREAM_REPLIES + 1) for _ in range(NODES))
    assert out == {
        "grpc_call": 5,
        "ordered_rpc": 11,  # 2 * len("hello") + 1: the proto3 optional field arrived
        "rpc_empty": empty_pb2.Empty(),
        "start_server_benchmark": 1005,
        "quorum_call": 5,
        "quorum_call2": -5,
        "quorum_call_empty": 42,
        "quorum_call_empty2": empty_pb2.Empty(),
        "quorum_call_imported": ("p", 1),
        "quorum_call_nested": "ABC",
        "quorum_call_false_multicast": 7,  # a quorum call: a reply came back
        "quorum_call_mapped": sorted(len(f"hello@{i}") for i in node_ids.values()),
        "quorum_call_async": 5,
        "quorum_call_correctable": (5, NODES, None),
        "quorum_call_stream": stream,
        "quorum_call_stream_imported": usercode.STREAM_REPLIES * NODES,
    }
    for port, impl in zip(ports, zorums, strict=True):
        want = [("multicast", "m1"), ("multicast2", "m2"),
                ("multicast_imported", f"m3@{node_ids[port]}")]
        if port == first_port:
            want += [("unicast", "u1"), ("unicast2", "")]
        assert impl.received == want, port

    assert sout == {
        "write_rpc": True,
        "read_rpc": "1",
        "write_qc": True,
        "read_qc": "2",
        "read_correctable_level": 2 * NODES,
        "read_qc_c": ["3", "3", "4"],  # multicast "3" everywhere, then unicast "4" on one
    }
