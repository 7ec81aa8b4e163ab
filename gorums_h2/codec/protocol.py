"""The NodeStream protocol seam: a neutral envelope and the interface of a wire.

Go Gorums has two incompatible NodeStream wires (v0.11's ``ordering`` and
master's ``stream``, see docs/interop.md). The runtime (channels, calls, the
server) works only on :class:`Envelope` values and on a
:class:`WireProtocol` object, which owns everything that differs between the
wires: the gRPC path and content subtype, how an envelope becomes the bytes
of one gRPC message and back, and the wire's rules (are entries echoed in
replies, what an unknown method or an undecodable request gets, how node IDs
are assigned, which message IDs are server-initiated).

A protocol object is stateless and shared; the two instances are in
:mod:`gorums_h2.codec.wires`. The model is grpclib's ``CodecBase`` passed as
``Channel(codec=)`` / ``Server(codec=)``.

Encoding on the hot path works on pre-encoded protobuf fields: field 1
(seq), 2 (method, :attr:`~gorums_h2.codec.MethodInfo.method_field`), 3
(status) and 4 (entries) have the same numbers and types on both wires, so
:meth:`WireProtocol.request_header` is shared and each wire only
:meth:`~WireProtocol.frame`\\ s the header with the payload.
"""

from __future__ import annotations

from typing import Any

from gorums_h2.codec.envelope import (
    EnvelopeError,
    encode_entries,
    encode_metadata,
    encode_method_field,
    encode_status_field,
)
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.status import StatusError

__all__ = ["Envelope", "EnvelopeError", "WireProtocol"]

SERVER_CALL_BIT = 1 << 63
"""Bit 63 of a message ID marks a server-initiated call on the ``stream`` wire."""


class Envelope:
    """One NodeStream message, independent of the wire that carried it.

    * ``seq`` — the message ID (Go's ``message_seq_no``);
    * ``method`` — the full protobuf method name (``proto.Storage.ReadQC``);
    * ``payload`` — the serialized request or reply message;
    * ``status`` — the error a reply carries (None: success, or a request);
    * ``entries`` — per-call metadata key/value pairs, in order (decoded
      lazily from a received message).

    A received envelope also remembers its parsed form (``parsed``, the
    wire's message with an ``entry`` list) and, on v0.11, the received
    Metadata bytes (``raw_metadata``), so a wire can echo them cheaply (v0.11
    replies repeat the request's metadata bytes); the wires' ``decode`` set
    them.
    """

    __slots__ = ("_entries", "_parsed", "_raw_md", "method", "payload", "seq", "status")

    def __init__(self, seq: int, method: str, payload: bytes = b"",
                 status: StatusError | None = None,
                 entries: list[tuple[str, str]] | None = None, *,
                 parsed: Any = None, raw_metadata: bytes | None = None) -> None:
        self.seq = seq
        self.method = method
        self.payload = payload
        self.status = status
        self._entries = entries
        self._parsed: Any = parsed  # the wire's parsed message (has an ``entry`` list)
        self._raw_md = raw_metadata  # v0.11: the received Metadata bytes

    @property
    def raw_metadata(self) -> bytes | None:
        """The received v0.11 Metadata bytes, while they still describe this
        envelope (None once ``entries`` was changed, or for a built one)."""
        return self._raw_md

    @property
    def entries(self) -> list[tuple[str, str]]:
        """The per-call metadata entries, in order (a new list each call)."""
        entries = self._entries
        if entries is None:
            parsed = self._parsed
            entries = self._entries = (
                [(e.key, e.value) for e in parsed.entry] if parsed is not None else [])
        return list(entries)

    @entries.setter
    def entries(self, value: list[tuple[str, str]]) -> None:
        self._entries = list(value)
        self._raw_md = None  # the received bytes no longer describe this envelope

    def with_status(self, status: StatusError) -> Envelope:
        """A status reply to this request (same seq, method and entries)."""
        env = Envelope(self.seq, self.method, b"", status)
        env._entries, env._parsed = self._entries, self._parsed
        return env

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Envelope):
            return NotImplemented
        mine, theirs = self.status, other.status
        return (self.seq, self.method, self.payload, self.entries) == (
            other.seq, other.method, other.payload, other.entries) and (
            (mine is None and theirs is None) or (
                mine is not None and theirs is not None
                and (mine.code, mine.message) == (theirs.code, theirs.message)))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        status = f", status={self.status.code.name}" if self.status is not None else ""
        return (f"Envelope(seq={self.seq}, method={self.method!r}, "
                f"payload={len(self.payload)} bytes{status})")


class WireProtocol:
    """What one NodeStream wire looks like (subclasses: ``OrderingWire``, ``StreamWire``).

    Attributes (class-level constants of each wire):

    * ``name`` — ``"ordering"`` or ``"stream"``, the value of ``Manager(wire=)``;
    * ``go_version`` — which Go Gorums speaks it (for error messages);
    * ``path`` — the gRPC method of the NodeStream;
    * ``subtype`` — the content subtype a client sends (None: ``application/grpc``);
    * ``accepted_subtypes`` — the subtypes a server accepts on ``path``;
    * ``echoes_entries`` — replies repeat the request's entries;
    * ``sequential_node_ids`` — ``with_node_list`` numbers nodes 1, 2, 3 …
      (else FNV-1a 32 of ``ip:port``);
    * ``back_channel_header`` — the stream header with which a client offers
      to serve server-initiated calls (None: the wire has none).
    """

    name = ""
    go_version = ""
    path = ""
    subtype: str | None = None
    accepted_subtypes: frozenset[str] = frozenset()
    echoes_entries = False
    sequential_node_ids = False
    back_channel_header: str | None = None

    # ---- encoding ----

    @staticmethod
    def request_header(seq: int, method_field: bytes, entries: bytes = b"") -> bytes:
        """The pre-encoded fields 1, 2 and 4 of a request (same on both wires)."""
        return encode_metadata(seq, method_field, b"", entries)

    def frame(self, header: bytes, payload: bytes) -> bytes:
        """One gRPC message body from a :meth:`request_header` and a payload."""
        raise NotImplementedError

    def encode(self, env: Envelope) -> bytes:
        """The gRPC message body for any envelope (request or reply)."""
        status = env.status
        status_field = (encode_status_field(status.code, status.message, status.details)
                        if status is not None else b"")
        entries = env.entries
        header = encode_metadata(env.seq, encode_method_field(env.method), status_field,
                                 encode_entries(entries) if entries else b"")
        return self.frame(header, env.payload)

    def encode_reply(self, request: Envelope, payload: bytes) -> bytes:
        """A successful reply to ``request`` carrying ``payload``."""
        raise NotImplementedError

    def encode_error(self, request: Envelope, error: StatusError) -> bytes:
        """A status reply to ``request`` (the stream stays open)."""
        reply = request.with_status(error)
        if not self.echoes_entries:
            reply._entries, reply._parsed = [], None
        return self.encode(reply)

    # ---- decoding ----

    def decode(self, body: bytes) -> Envelope:
        """Parse one gRPC message body.

        Raises :class:`EnvelopeError` when it is not a valid message of this
        wire (``seq_no``/``method`` set when they could still be read).
        """
        raise NotImplementedError

    # ---- the wire's rules ----

    def unknown_method(self, method: str) -> StatusError:
        """The in-band error for a request naming a method the server does not serve."""
        raise NotImplementedError

    def bad_payload(self, method: str, type_name: str, exc: Exception) -> StatusError:
        """The in-band error for a request whose payload does not decode."""
        raise NotImplementedError

    def undecodable(self, exc: EnvelopeError) -> StatusError | None:
        """What a server does with a gRPC message that is not an envelope:
        a StatusError ends the whole NodeStream with it; None answers in-band
        when the seq number is readable (else the message is dropped)."""
        raise NotImplementedError

    def is_server_call_id(self, seq: int) -> bool:
        """True if ``seq`` is the ID of a server-initiated call (never on ``ordering``)."""
        return False

    def offers_back_channel(self, stream_metadata: Metadata) -> bool:
        """True if a client's NodeStream carries the back-channel header, so that
        IDs of server-initiated calls on it are replies, not requests."""
        header = self.back_channel_header
        return header is not None and stream_metadata.get(header) is not None

    def mismatch_hint(self, other: WireProtocol) -> str:
        """The sentence telling a user that the peer speaks ``other`` instead."""
        return (f"the node does not serve {self.path} (the {self.name!r} wire, "
                f"{self.go_version}); it may speak the {other.name!r} wire "
                f"({other.go_version}): use Manager(wire={other.name!r})")

    def __repr__(self) -> str:
        return f"<{self.name} wire {self.path}>"
