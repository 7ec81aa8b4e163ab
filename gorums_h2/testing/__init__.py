"""Testing kit for gorums_h2 and its users (Go's TestServers, TestConfiguration, ...).

Async context managers that start real servers on free ports, with leak
checks at exit; echo and streaming service implementations; a pytest plugin
(:mod:`gorums_h2.testing.plugin`, registered through the ``pytest11`` entry
point) with fixtures built on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gorums_h2._lazy import lazy_exports

if TYPE_CHECKING:  # the names for mypy and IDEs; at runtime __getattr__ imports them
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

# Where each public name lives, imported on first access (PEP 562), so the
# pytest plugin (or any one module of the kit) does not load all the others.
_EXPORTS: dict[str, str] = {
    "Direction": "gorums_h2.testing.faults",
    "FaultProxy": "gorums_h2.testing.faults",
    "hanging_address": "gorums_h2.testing.faults",
    "assert_no_fd_leak": "gorums_h2.testing.leaks",
    "open_fds": "gorums_h2.testing.leaks",
    "LeakError": "gorums_h2.testing.leaks",
    "TaskBaseline": "gorums_h2.testing.leaks",
    "assert_no_leaks": "gorums_h2.testing.leaks",
    "describe_task": "gorums_h2.testing.leaks",
    "leaked_tasks": "gorums_h2.testing.leaks",
    "pending_routes": "gorums_h2.testing.leaks",
    "task_baseline": "gorums_h2.testing.leaks",
    "task_count": "gorums_h2.testing.leaks",
    "ECHO_MULTICAST": "gorums_h2.testing.services",
    "ECHO_QC": "gorums_h2.testing.services",
    "ECHO_RPC": "gorums_h2.testing.services",
    "ECHO_UNICAST": "gorums_h2.testing.services",
    "SERVICE": "gorums_h2.testing.services",
    "STREAM_QC": "gorums_h2.testing.services",
    "EchoService": "gorums_h2.testing.services",
    "echo_server_fn": "gorums_h2.testing.services",
    "register_echo_service": "gorums_h2.testing.services",
    "stream_server_fn": "gorums_h2.testing.services",
    "StopFunc": "gorums_h2.testing.setup",
    "TestServers": "gorums_h2.testing.setup",
    "closer": "gorums_h2.testing.setup",
    "quorum_call_error": "gorums_h2.testing.setup",
    "test_configuration": "gorums_h2.testing.setup",
    "test_context": "gorums_h2.testing.setup",
    "test_node": "gorums_h2.testing.setup",
    "test_servers": "gorums_h2.testing.setup",
    "Echo": "gorums_h2.testing.testing_pb2",
}


# Hidden from type checkers: they would otherwise accept any name imported
# from this package, misspelled ones included.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
