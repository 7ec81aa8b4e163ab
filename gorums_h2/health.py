"""gRPC health checking (``grpc.health.v1.Health``) beside the NodeStream.

Every :class:`~gorums_h2.Server` serves the standard health service on its
own port (``Server(health=False)`` turns it off), so Kubernetes gRPC probes,
load balancers, ``grpc_health_probe`` and grpcio's health client can ask a
gorums server whether it serves:

* ``Check(service)`` answers the service's status, or NOT_FOUND
  ``unknown service`` for a name that was never set;
* ``Watch(service)`` sends the current status at once (SERVICE_UNKNOWN for
  an unknown name, without ending the call) and then every change;
* ``List()`` answers every service's status (RESOURCE_EXHAUSTED above 100).

The status follows the server's life: the server as a whole (service ``""``)
and every gorums service with a registered handler (e.g. ``storage.Storage``)
are SERVING from the start; a graceful stop turns every status to
NOT_SERVING, sends that to the watchers and then ends their calls with
UNAVAILABLE ``server is shutting down``. :meth:`HealthService.set_status`
sets any service's status; :meth:`HealthService.shutdown` marks everything
NOT_SERVING ahead of a stop (to let load balancers drain the server first).

The messages are encoded here by hand (two one-field messages and a map):
importing protobuf classes for ``grpc.health.v1`` would clash in the
descriptor pool with grpcio-health-checking's module in the same process.
``gorums_h2.pb.health_pb2`` has the generated classes for those who want
them (and the tests check this codec against them).

:func:`check_health` is the client side: one Check on a node's connection
or on a fresh connection to an address.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar

import anyio

from gorums_h2.codec.envelope import encode_varint
from gorums_h2.wire.client import ClientConnection, connect
from gorums_h2.wire.errors import EndOfStream
from gorums_h2.wire.server import ServerStream, WireServer
from gorums_h2.wire.signal import Signal
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    import ssl

    from gorums_h2.node import Node

__all__ = [
    "CHECK_PATH",
    "LIST_PATH",
    "MAX_LIST_SERVICES",
    "WATCH_PATH",
    "HealthService",
    "ServingStatus",
    "check_health",
    "decode_check_request",
    "decode_check_response",
    "decode_list_response",
    "encode_check_request",
    "encode_check_response",
    "encode_list_response",
]

SERVICE = "grpc.health.v1.Health"
CHECK_PATH = f"/{SERVICE}/Check"
WATCH_PATH = f"/{SERVICE}/Watch"
LIST_PATH = f"/{SERVICE}/List"
MAX_LIST_SERVICES = 100  # the limit the proto documents for List
PROTOBUF_SUBTYPES = frozenset({"", "proto"})  # application/grpc, application/grpc+proto

T = TypeVar("T")


class ServingStatus(enum.IntEnum):
    """``grpc.health.v1.HealthCheckResponse.ServingStatus``."""

    UNKNOWN = 0
    SERVING = 1
    NOT_SERVING = 2
    SERVICE_UNKNOWN = 3  # only sent by Watch


# ---- the messages (sans-IO) ----


def _fields(body: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a serialized protobuf message.

    Varints come as int, length-delimited fields as bytes, fixed-width ones
    as their raw bytes. Raises ValueError for bytes that are not protobuf.
    """
    pos, end = 0, len(body)

    def varint() -> int:
        nonlocal pos
        result = shift = 0
        while True:
            if pos >= end or shift >= 64:
                raise ValueError("truncated or overlong varint")
            b = body[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    while pos < end:
        key = varint()
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        value: int | bytes
        if wire_type == 0:
            value = varint()
        elif wire_type in (1, 2, 5):
            size = 8 if wire_type == 1 else 4 if wire_type == 5 else varint()
            if pos + size > end:
                raise ValueError("truncated field")
            value, pos = body[pos:pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value


def _string_field(number: int, text: str) -> bytes:
    if not text:
        return b""  # proto3 omits empty strings
    raw = text.encode()
    return encode_varint(number << 3 | 2) + encode_varint(len(raw)) + raw


def encode_check_request(service: str) -> bytes:
    """A serialized ``HealthCheckRequest``."""
    return _string_field(1, service)


def decode_check_request(body: bytes) -> str:
    """The service name of a serialized ``HealthCheckRequest`` (ValueError if malformed)."""
    service = ""
    for number, wire_type, value in _fields(body):
        if number == 1 and wire_type == 2:
            assert isinstance(value, bytes)
            service = value.decode()  # UnicodeDecodeError is a ValueError
    return service


def encode_check_response(status: ServingStatus) -> bytes:
    """A serialized ``HealthCheckResponse``."""
    return b"\x08" + encode_varint(int(status)) if status else b""


def decode_check_response(body: bytes) -> ServingStatus:
    """The status of a serialized ``HealthCheckResponse``; a value this
    version does not know reads as UNKNOWN. ValueError if malformed."""
    status = 0
    for number, wire_type, value in _fields(body):
        if number == 1 and wire_type == 0:
            assert isinstance(value, int)
            status = value
    try:
        return ServingStatus(status)
    except ValueError:
        return ServingStatus.UNKNOWN


def encode_list_response(statuses: Mapping[str, ServingStatus]) -> bytes:
    """A serialized ``HealthListResponse`` (the map in the given order)."""
    out = bytearray()
    for service, status in statuses.items():
        value = encode_check_response(status)
        entry = _string_field(1, service) + b"\x12" + encode_varint(len(value)) + value
        out += b"\x0a" + encode_varint(len(entry)) + entry
    return bytes(out)


def decode_list_response(body: bytes) -> dict[str, ServingStatus]:
    """The statuses of a serialized ``HealthListResponse`` (ValueError if malformed)."""
    out: dict[str, ServingStatus] = {}
    for number, wire_type, entry in _fields(body):
        if number != 1 or wire_type != 2:
            continue
        assert isinstance(entry, bytes)
        key, status = "", ServingStatus.UNKNOWN
        for n, wt, value in _fields(entry):
            if n == 1 and wt == 2:
                assert isinstance(value, bytes)
                key = value.decode()
            elif n == 2 and wt == 2:
                assert isinstance(value, bytes)
                status = decode_check_response(value)
        out[key] = status
    return out


# ---- the server side ----


class HealthService:
    """The health status of a server's services, and the handlers serving it.

    ``""`` is the server as a whole. Statuses are kept for as long as the
    server lives; every change wakes the ``Watch`` calls. After
    :meth:`shutdown`, :meth:`set_status` leaves everything NOT_SERVING until
    :meth:`resume` (as grpc-go's health server).
    """

    def __init__(self) -> None:
        self._statuses: dict[str, ServingStatus] = {"": ServingStatus.SERVING}
        self._changed = Signal()
        self._shut_down = False
        self._stopping = False  # the server is stopping: watchers end

    # ---- statuses ----

    def set_status(self, service: str, status: ServingStatus) -> None:
        """Set ``service``'s status (``""``: the whole server) and tell its
        watchers. Ignored (NOT_SERVING stays) after :meth:`shutdown`."""
        status = ServingStatus(status)
        if self._shut_down:
            return
        self._set(service, status)

    def status(self, service: str = "") -> ServingStatus | None:
        """``service``'s status, None if it was never set."""
        return self._statuses.get(service)

    def statuses(self) -> dict[str, ServingStatus]:
        """A copy of every service's status."""
        return dict(self._statuses)

    def clear_status(self, service: str) -> None:
        """Forget ``service``: Check answers NOT_FOUND, watchers see SERVICE_UNKNOWN."""
        if self._statuses.pop(service, None) is not None:
            self._changed.set()

    def shutdown(self) -> None:
        """Mark every service NOT_SERVING and ignore :meth:`set_status` from
        now on (e.g. to let load balancers drain the server before a stop)."""
        self._shut_down = True
        for service in self._statuses:
            self._set(service, ServingStatus.NOT_SERVING)

    def resume(self) -> None:
        """Undo :meth:`shutdown`: every service is SERVING again."""
        self._shut_down = False
        for service in self._statuses:
            self._set(service, ServingStatus.SERVING)

    def _set(self, service: str, status: ServingStatus) -> None:
        if self._statuses.get(service) != status:
            self._statuses[service] = status
            self._changed.set()

    def add_service(self, service: str) -> None:
        """A gorums service got a handler (the Server calls it): SERVING unless set already."""
        if service not in self._statuses:
            self._set(service, ServingStatus.NOT_SERVING if self._shut_down
                      else ServingStatus.SERVING)

    def server_stopping(self) -> None:
        """The server stops (the Server calls it): NOT_SERVING everywhere, and watchers end."""
        self._stopping = True
        self.shutdown()
        self._changed.set()  # wake the watchers even if no status changed

    # ---- handlers ----

    def register(self, wire: WireServer) -> None:
        """Serve Check, Watch and List on ``wire`` (protobuf content types only)."""
        for path, handler in ((CHECK_PATH, self._check), (WATCH_PATH, self._watch),
                              (LIST_PATH, self._list)):
            wire.register(path, handler, subtype=PROTOBUF_SUBTYPES)

    async def _check(self, stream: ServerStream) -> None:
        service = await _request(stream, decode_check_request)
        status = self._statuses.get(service)
        if status is None:
            raise StatusError(StatusCode.NOT_FOUND, "unknown service")
        stream.send_nowait(encode_check_response(status))

    async def _list(self, stream: ServerStream) -> None:
        await _request(stream, _check_fields)
        if len(self._statuses) > MAX_LIST_SERVICES:
            raise StatusError(StatusCode.RESOURCE_EXHAUSTED,
                              f"server health list exceeds maximum capacity: "
                              f"{MAX_LIST_SERVICES}")
        stream.send_nowait(encode_list_response(self._statuses))

    async def _watch(self, stream: ServerStream) -> None:
        service = await _request(stream, decode_check_request)
        sent: ServingStatus | None = None
        while True:
            status = self._statuses.get(service, ServingStatus.SERVICE_UNKNOWN)
            if status != sent:
                await stream.wait_send_capacity()
                stream.send_nowait(encode_check_response(status))
                sent = status
                continue  # look again: it may have changed while we waited
            if self._stopping:
                # the last status is queued before the trailers, so it arrives
                raise StatusError(StatusCode.UNAVAILABLE, "server is shutting down")
            await self._changed.wait()  # no await since the check: no change is lost


async def _request(stream: ServerStream, decode: Callable[[bytes], T]) -> T:
    """The one request message of a unary or server-streaming call, decoded."""
    try:
        body = await stream.receive()
    except EndOfStream:
        raise StatusError(StatusCode.INTERNAL, "no request message") from None
    try:
        return decode(body)
    except ValueError as exc:
        raise StatusError(StatusCode.INTERNAL,
                          f"cannot decode the health request: {exc}") from None


def _check_fields(body: bytes) -> None:
    for _ in _fields(body):
        pass


# ---- the client side ----


async def check_health(
    target: Node | str,
    service: str = "",
    *,
    grpc_timeout: float | None = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> ServingStatus:
    """Ask ``target``'s health service for ``service``'s status (one Check).

    ``target`` is a :class:`~gorums_h2.Node` (the call goes over the node's
    own connection) or a ``"host:port"`` address (a connection is opened
    for the call, with TLS when ``ssl_context`` is given). ``grpc_timeout``
    (seconds, None: none) is sent to the server and also bounds the whole
    call here (TimeoutError).

    Raises :class:`StatusError`: NOT_FOUND for a service the server does not
    know, UNIMPLEMENTED when it serves no health service, UNAVAILABLE when a
    node is not connected or the address cannot be reached.
    """
    from gorums_h2.node import Node  # runtime import: node.py imports the client side

    request = encode_check_request(service)
    with anyio.fail_after(grpc_timeout):
        if isinstance(target, Node):
            conn = target.channel.conn
            if conn is None or conn.error is not None:
                raise StatusError(StatusCode.UNAVAILABLE,
                                  f"node {target.address} is not connected")
            return await _check_on(conn, request, grpc_timeout)
        host, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"invalid address {target!r}: expected HOST:PORT")
        failure: StatusError | None = None
        async with connect(host.strip("[]"), int(port), ssl_context=ssl_context) as conn:
            try:
                return await _check_on(conn, request, grpc_timeout)
            except StatusError as exc:
                failure = exc  # raised out here: connect()'s task group would wrap it
        assert failure is not None  # the block either returned or caught one
        raise failure


async def _check_on(conn: ClientConnection, request: bytes,
                    grpc_timeout: float | None) -> ServingStatus:
    stream = await conn.open_stream(CHECK_PATH, grpc_timeout=grpc_timeout)
    try:
        stream.send_nowait(request)
        stream.end()
        try:
            reply = await stream.receive()
        except EndOfStream:
            raise StatusError(StatusCode.INTERNAL, "health check answered no message") from None
        await stream.wait_closed()
        if stream.status is not None:
            raise stream.status
        try:
            return decode_check_response(reply)
        except ValueError as exc:
            raise StatusError(StatusCode.INTERNAL,
                              f"cannot decode the health response: {exc}") from None
    finally:
        if stream.end_error is None:
            stream.cancel()  # cancelled or failed half way: reset the call
