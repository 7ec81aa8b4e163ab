"""gRPC length-prefixed message framing (sans-IO).

A message on the wire is ``flag(1) length(4, big-endian) body``. The flag is 1
when the body is compressed with the stream's ``grpc-encoding``.
:class:`MessageDecoder` reassembles messages from DATA frame payloads of any
split: one frame may hold many messages or a slice of one (and decompresses
them); :func:`compress` and :func:`encode_compressed_prefix` make compressed
ones. ``gzip`` and ``deflate`` are the encodings known here, as in grpcio.
"""

from __future__ import annotations

import struct
import zlib

from gorums_h2.wire.errors import MessageTooLarge, ProtocolViolation

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ENCODINGS",
    "MessageDecoder",
    "compress",
    "encode_compressed_prefix",
    "encode_message",
    "encode_prefix",
]

DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024  # grpc-go's default receive limit

# zlib window bits of each known grpc-encoding: gzip's header, or zlib's (deflate)
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ENCODINGS = frozenset(_WBITS)
"""The ``grpc-encoding`` values we decompress and can send."""
ACCEPT_ENCODING = "identity,deflate,gzip"
"""Our ``grpc-accept-encoding`` (grpcio's value), sent when compression is on."""

_PREFIX = struct.Struct(">BI")
_pack_prefix = _PREFIX.pack
_unpack_prefix = _PREFIX.unpack_from


def encode_prefix(length: int) -> bytes:
    """The 5-byte prefix of an uncompressed message of ``length`` bytes."""
    return _pack_prefix(0, length)


def encode_compressed_prefix(length: int) -> bytes:
    """The 5-byte prefix of a compressed message of ``length`` (compressed) bytes."""
    return _pack_prefix(1, length)


def compress(body: bytes, encoding: str) -> bytes:
    """``body`` compressed with ``encoding`` (one of :data:`ENCODINGS`; KeyError otherwise)."""
    c = zlib.compressobj(6, zlib.DEFLATED, _WBITS[encoding])
    return c.compress(body) + c.flush()


def encode_message(body: bytes) -> bytes:
    """Frame ``body`` as one uncompressed gRPC message."""
    return _pack_prefix(0, len(body)) + body


class MessageDecoder:
    """Incremental decoder of length-prefixed messages.

    ``feed(data)`` returns the messages completed by ``data`` (possibly none).
    Errors are raised once and leave the decoder unusable:

    * :class:`MessageTooLarge` when a prefix announces more than ``max_size``
      bytes (checked before buffering the body);
    * :class:`ProtocolViolation` for a compressed message when ``encoding``
      is None or ``identity``, an unsupported encoding, a flag other than 0/1,
      or a body that does not decompress.

    ``gzip`` and ``deflate`` bodies are decompressed. ``encoding`` is the
    stream's ``grpc-encoding``; it may be set after construction (a server
    learns it from the request headers).
    """

    __slots__ = ("_buf", "_encoding", "max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE_SIZE, encoding: str | None = None):
        self.max_size = max_size
        self._encoding = None if encoding in (None, "identity") else encoding
        self._buf = bytearray()

    @property
    def encoding(self) -> str | None:
        """The stream's ``grpc-encoding`` (None: identity)."""
        return self._encoding

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = None if value in (None, "identity") else value

    @property
    def buffered(self) -> int:
        """Bytes held for a message that is not complete yet."""
        return len(self._buf)

    def feed(self, data: bytes | memoryview) -> list[bytes]:
        buf = self._buf
        if buf:
            buf += data
            view: bytes | bytearray | memoryview = buf
        else:
            view = data
        out: list[bytes] = []
        pos = 0
        end_all = len(view)
        max_size = self.max_size
        while end_all - pos >= 5:
            flag, length = _unpack_prefix(view, pos)
            if length > max_size:
                raise MessageTooLarge(
                    f"received message larger than max ({length} vs. {max_size} bytes)"
                )
            end = pos + 5 + length
            if end > end_all:
                break
            # one copy per message (``data`` may be a view of the read buffer)
            body = bytes(view[pos + 5 : end]) if buf else bytes(data[pos + 5 : end])
            if flag:
                body = self._decompress(flag, body)
            out.append(body)
            pos = end
        if buf:
            del buf[:pos]
        elif pos < end_all:
            buf += view[pos:]
        return out

    def _decompress(self, flag: int, body: bytes | bytearray) -> bytes:
        if flag != 1:
            raise ProtocolViolation(f"invalid gRPC message flag {flag:#x}")
        if self._encoding is None:
            raise ProtocolViolation(
                "received a compressed message but no grpc-encoding was negotiated"
            )
        wbits = _WBITS.get(self._encoding)
        if wbits is None:
            raise ProtocolViolation(f"unsupported grpc-encoding {self._encoding!r}")
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(body, self.max_size + 1)
        except zlib.error as exc:
            raise ProtocolViolation(f"cannot decompress message: {exc}") from None
        if len(out) > self.max_size or d.unconsumed_tail:
            raise MessageTooLarge(
                f"decompressed message larger than max ({self.max_size} bytes)"
            )
        return out
