"""Testing kit for gorums_h2 and its users (Go's TestServers, TestConfiguration, ...).

Async context managers that start real servers on free ports, with leak
checks at exit; echo and streaming service implementations; a pytest plugin
(:mod:`gorums_h2.testing.plugin`, registered through the ``pytest11`` entry
point) with fixtures built on them.
"""

from gorums_h2.testing.faults import Direction, FaultProxy, hanging_address
from gorums_h2.testing.leaks import (
    LeakError,
    TaskBaseline,
    assert_no_fd_leak,
    assert_no_leaks,
    describe_task,
    leaked_tasks,
    open_fds,
    pending_routes,
    task_baseline,
    task_count,
)
from gorums_h2.testing.services import (
    ECHO_MULTICAST,
    ECHO_QC,
    ECHO_RPC,
    ECHO_UNICAST,
    SERVICE,
    STREAM_QC,
    EchoService,
    echo_server_fn,
    register_echo_service,
    stream_server_fn,
)
from gorums_h2.testing.setup import (
    StopFunc,
    TestServers,
    closer,
    quorum_call_error,
    test_configuration,
    test_context,
    test_node,
    test_servers,
)
from gorums_h2.testing.testing_pb2 import Echo

__all__ = [
    "ECHO_MULTICAST",
    "ECHO_QC",
    "ECHO_RPC",
    "ECHO_UNICAST",
    "SERVICE",
    "STREAM_QC",
    "Direction",
    "Echo",
    "EchoService",
    "FaultProxy",
    "LeakError",
    "StopFunc",
    "TaskBaseline",
    "TestServers",
    "assert_no_fd_leak",
    "assert_no_leaks",
    "closer",
    "describe_task",
    "echo_server_fn",
    "hanging_address",
    "leaked_tasks",
    "open_fds",
    "pending_routes",
    "quorum_call_error",
    "register_echo_service",
    "stream_server_fn",
    "task_baseline",
    "task_count",
    "test_configuration",
    "test_context",
    "test_node",
    "test_servers",
]
