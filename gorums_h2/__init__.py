"""gorums_h2: Gorums quorum calls in pure Python, wire compatible with Go Gorums
v0.11 (the ``ordering`` wire) and Go Gorums master (the ``stream`` wire).

Client: :class:`Manager` -> :class:`Configuration` / :class:`Node` ->
contexts -> call functions (usually through generated stubs). Server:
:class:`Server` with handlers registered by generated code, or a
:class:`System`. The Go -> Python name table is in docs/go-names.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gorums_h2._lazy import lazy_exports

if TYPE_CHECKING:  # the names for mypy and IDEs; at runtime __getattr__ imports them
    from gorums_h2._version import (
        GEN_VERSION,
        MIN_GEN_VERSION,
        VersionError,
        __version__,
        enforce_version,
    )
    from gorums_h2.backoff import Backoff
    from gorums_h2.calls import multicast, quorum_call, quorum_call_stream, rpc_call, unicast
    from gorums_h2.channel import SendQueueFull
    from gorums_h2.codec import Envelope, WireProtocol
    from gorums_h2.codec.ordering import CONTENT_SUBTYPE
    from gorums_h2.configuration import Configuration
    from gorums_h2.context import ConfigContext, NodeContext
    from gorums_h2.errors import (
        IncompleteError,
        NodeError,
        NodeShutdownError,
        QuorumCallError,
        SendFailureError,
        TypeMismatchError,
        WireMismatchError,
    )
    from gorums_h2.futures import LEVEL_NOT_SET, Async, Correctable
    from gorums_h2.interceptors import ClientCtx, QuorumInterceptor, map_request, map_response
    from gorums_h2.manager import Manager, new_config
    from gorums_h2.message import Message, as_proto, new_request_message, new_response_message
    from gorums_h2.node import Node, by_id, by_last_error, by_port, ordered_by
    from gorums_h2.nodelist import (
        NodeListOption,
        node_id_for,
        with_node_ids,
        with_node_list,
        with_node_map,
    )
    from gorums_h2.quorumcall import Responses
    from gorums_h2.responses import NodeResponse, ResponseSeq
    from gorums_h2.server import (
        Handler,
        Interceptor,
        NodeStreamInfo,
        Server,
        ServerCtx,
        one_way_handler,
        stream_handler,
        unary_handler,
    )
    from gorums_h2.system import System, local_systems
    from gorums_h2.wire import Metadata, ServerLimits, StatusCode, StatusError, WireSettings

__all__ = [
    "CONTENT_SUBTYPE",
    "GEN_VERSION",
    "LEVEL_NOT_SET",
    "MIN_GEN_VERSION",
    "Async",
    "Backoff",
    "ClientCtx",
    "ConfigContext",
    "Configuration",
    "Correctable",
    "Envelope",
    "Handler",
    "IncompleteError",
    "Interceptor",
    "Manager",
    "Message",
    "Metadata",
    "Node",
    "NodeContext",
    "NodeError",
    "NodeListOption",
    "NodeResponse",
    "NodeShutdownError",
    "NodeStreamInfo",
    "QuorumCallError",
    "QuorumInterceptor",
    "ResponseSeq",
    "Responses",
    "SendFailureError",
    "SendQueueFull",
    "Server",
    "ServerCtx",
    "ServerLimits",
    "StatusCode",
    "StatusError",
    "System",
    "TypeMismatchError",
    "VersionError",
    "WireMismatchError",
    "WireProtocol",
    "WireSettings",
    "__version__",
    "as_proto",
    "by_id",
    "by_last_error",
    "by_port",
    "enforce_version",
    "local_systems",
    "map_request",
    "map_response",
    "multicast",
    "new_config",
    "new_request_message",
    "new_response_message",
    "node_id_for",
    "one_way_handler",
    "ordered_by",
    "quorum_call",
    "quorum_call_stream",
    "rpc_call",
    "stream_handler",
    "unary_handler",
    "unicast",
    "with_node_ids",
    "with_node_list",
    "with_node_map",
]

# Where each public name lives. Importing gorums_h2 loads nothing else: a name
# loads its module on first access (PEP 562), so ``gorums_h2.wire`` or
# ``gorums_h2.codec`` can be imported without the runtime (tests/test_imports.py).
_EXPORTS: dict[str, str] = {
    "CONTENT_SUBTYPE": "gorums_h2.codec.ordering",
    "GEN_VERSION": "gorums_h2._version",
    "MIN_GEN_VERSION": "gorums_h2._version",
    "VersionError": "gorums_h2._version",
    "__version__": "gorums_h2._version",
    "enforce_version": "gorums_h2._version",
    "Backoff": "gorums_h2.backoff",
    "multicast": "gorums_h2.calls",
    "quorum_call": "gorums_h2.calls",
    "quorum_call_stream": "gorums_h2.calls",
    "rpc_call": "gorums_h2.calls",
    "unicast": "gorums_h2.calls",
    "SendQueueFull": "gorums_h2.channel",
    "Envelope": "gorums_h2.codec",
    "WireProtocol": "gorums_h2.codec",
    "Configuration": "gorums_h2.configuration",
    "ConfigContext": "gorums_h2.context",
    "NodeContext": "gorums_h2.context",
    "IncompleteError": "gorums_h2.errors",
    "NodeError": "gorums_h2.errors",
    "NodeShutdownError": "gorums_h2.errors",
    "QuorumCallError": "gorums_h2.errors",
    "SendFailureError": "gorums_h2.errors",
    "TypeMismatchError": "gorums_h2.errors",
    "WireMismatchError": "gorums_h2.errors",
    "LEVEL_NOT_SET": "gorums_h2.futures",
    "Async": "gorums_h2.futures",
    "Correctable": "gorums_h2.futures",
    "ClientCtx": "gorums_h2.interceptors",
    "QuorumInterceptor": "gorums_h2.interceptors",
    "map_request": "gorums_h2.interceptors",
    "map_response": "gorums_h2.interceptors",
    "Manager": "gorums_h2.manager",
    "new_config": "gorums_h2.manager",
    "Message": "gorums_h2.message",
    "as_proto": "gorums_h2.message",
    "new_request_message": "gorums_h2.message",
    "new_response_message": "gorums_h2.message",
    "Node": "gorums_h2.node",
    "by_id": "gorums_h2.node",
    "by_last_error": "gorums_h2.node",
    "by_port": "gorums_h2.node",
    "ordered_by": "gorums_h2.node",
    "NodeListOption": "gorums_h2.nodelist",
    "node_id_for": "gorums_h2.nodelist",
    "with_node_ids": "gorums_h2.nodelist",
    "with_node_list": "gorums_h2.nodelist",
    "with_node_map": "gorums_h2.nodelist",
    "Responses": "gorums_h2.quorumcall",
    "NodeResponse": "gorums_h2.responses",
    "ResponseSeq": "gorums_h2.responses",
    "Handler": "gorums_h2.server",
    "Interceptor": "gorums_h2.server",
    "NodeStreamInfo": "gorums_h2.server",
    "Server": "gorums_h2.server",
    "ServerCtx": "gorums_h2.server",
    "one_way_handler": "gorums_h2.server",
    "stream_handler": "gorums_h2.server",
    "unary_handler": "gorums_h2.server",
    "System": "gorums_h2.system",
    "local_systems": "gorums_h2.system",
    "Metadata": "gorums_h2.wire",
    "ServerLimits": "gorums_h2.wire",
    "StatusCode": "gorums_h2.wire",
    "StatusError": "gorums_h2.wire",
    "WireSettings": "gorums_h2.wire",
}


# Hidden from type checkers: they would otherwise accept any name imported
# from this package, misspelled ones included.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
