"""gorums_h2: Gorums quorum calls in pure Python, wire compatible with Go Gorums v0.11.

Client: :class:`Manager` -> :class:`Configuration` / :class:`Node` ->
contexts -> call functions (usually through generated stubs). Server:
:class:`Server` with handlers registered by generated code, or a
:class:`System`. The Go -> Python name table is in docs/go-names.md.
"""

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
from gorums_h2.configuration import Configuration
from gorums_h2.context import ConfigContext, NodeContext
from gorums_h2.errors import (
    IncompleteError,
    NodeError,
    NodeShutdownError,
    QuorumCallError,
    SendFailureError,
    TypeMismatchError,
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

CONTENT_SUBTYPE = "gorums"
"""The gRPC content subtype of the NodeStream (``application/grpc+gorums``)."""

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
