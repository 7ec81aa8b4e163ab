"""HPACK encoding in linear time, and the header-list size a peer accepts.

hpack's Huffman encoder builds one big integer bit by bit, shifting it for
every byte: quadratic in the value's length (64/128/256 KiB of metadata
took 0.26/1.08/5.1 s, 1 MiB froze the event loop for ~207 s). Here:

* :class:`LinearHuffman` does the same coding in linear time (one table
  lookup per byte, one ``int(bits, 2)``);
* :class:`LinearEncoder` is hpack's encoder with it, Huffman-coding only
  headers up to :data:`HUFFMAN_LIMIT` bytes and only the first
  :data:`HUFFMAN_BUDGET` bytes of a header block (Huffman saves about a
  fifth of the bytes, but costs 100-300 ns a byte in Python, so 1 MiB
  would take a third of a second). The rest goes out as literals without
  indexing, written directly: hpack would also search its tables for each
  (10-25 us a header), and a large header would only evict the others
  from the 4 KiB dynamic table anyway;
* :func:`install` puts it into an h2 connection (h2 keeps its encoder in
  the ``encoder`` attribute and only sets ``header_table_size`` on it);
* :func:`header_list_size` is RFC 9113's SETTINGS_MAX_HEADER_LIST_SIZE
  measure (name + value + 32 per field).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hpack
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH

__all__ = [
    "HUFFMAN_BUDGET",
    "HUFFMAN_LIMIT",
    "MAX_SEND_HEADER_LIST_SIZE",
    "LinearEncoder",
    "LinearHuffman",
    "header_list_size",
    "install",
]

HUFFMAN_LIMIT = 1024
"""Headers (name + value) longer than this go out as plain literals."""

HUFFMAN_BUDGET = 16 * 1024
"""Bytes of one header block that may be Huffman-coded (a few milliseconds)."""

MAX_SEND_HEADER_LIST_SIZE = 1024 * 1024
"""Our own cap on a header block we send (RFC 9113 size), whatever the peer
allows: metadata beyond this belongs in a message. grpc-go has no cap of its
own (it checks only the peer's limit, by default 16 MiB for its servers)."""

_BITS = [format(code, f"0{length}b")
         for code, length in zip(REQUEST_CODES, REQUEST_CODES_LENGTH, strict=True)]


class LinearHuffman:
    """HPACK's Huffman code (RFC 7541, Appendix B) in linear time."""

    def encode(self, data: bytes | None) -> bytes:
        if not data:
            return b""
        bits = "".join([_BITS[b] for b in data])
        pad = -len(bits) % 8
        if pad:
            bits += "1" * pad  # EOS prefix
        return int(bits, 2).to_bytes(len(bits) // 8, "big")


class LinearEncoder(hpack.Encoder):
    """hpack's encoder without quadratic work (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.huffman_coder = LinearHuffman()  # type: ignore[assignment]
        self._budget = HUFFMAN_BUDGET

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        # hpack's own path for the first HUFFMAN_BUDGET bytes (table updates,
        # indexing, Huffman); the rest of a long block directly, in one pass
        if isinstance(headers, dict):
            headers = list(headers.items())
        elif not isinstance(headers, list):
            headers = list(headers)
        budget = HUFFMAN_BUDGET
        split = len(headers)
        for i, header in enumerate(headers):
            budget -= len(header[0]) + len(header[1])
            if budget < 0:
                split = i
                break
        self._budget = HUFFMAN_BUDGET
        head: bytes = super().encode(headers[:split], huffman)
        if split == len(headers):
            return head
        return head + _literals(headers[split:])

    def add(self, to_add: tuple[bytes, bytes], sensitive: bool, huffman: bool = False) -> bytes:
        name, value = to_add
        size = len(name) + len(value)
        if size > HUFFMAN_LIMIT or size > self._budget:
            return _literal(to_add, sensitive)
        self._budget -= size
        result: bytes = super().add(to_add, sensitive, huffman)
        return result


def _literal(header: Any, sensitive: bool | None = None) -> bytes:
    """A literal header field without indexing (never indexed when sensitive),
    with a new name, no Huffman coding (RFC 7541, 6.2.2 and 6.2.3)."""
    if sensitive is None:
        sensitive = not getattr(header, "indexable", True)
    name, value = header[0], header[1]
    if isinstance(name, str):
        name = name.encode("utf-8")
    if isinstance(value, str):
        value = value.encode("utf-8")
    return b"".join((b"\x10" if sensitive else b"\x00", _string(name), _string(value)))


_SHORT = [bytes((n,)) for n in range(127)]  # string length prefixes below 127


def _literals(headers: list[Any]) -> bytes:
    """:func:`_literal` of each header, joined (one pass, ~1 us a field)."""
    parts: list[bytes] = []
    append = parts.append
    short = _SHORT
    for header in headers:
        name, value = header[0], header[1]
        if name.__class__ is not bytes or value.__class__ is not bytes:
            append(_literal(header))
            continue
        append(b"\x00" if getattr(header, "indexable", True) else b"\x10")
        n = len(name)
        append(short[n] if n < 127 else bytes(hpack.hpack.encode_integer(n, 7)))
        append(name)
        n = len(value)
        append(short[n] if n < 127 else bytes(hpack.hpack.encode_integer(n, 7)))
        append(value)
    return b"".join(parts)


def _string(data: bytes) -> bytes:
    """An HPACK string literal without Huffman coding (RFC 7541, 5.2)."""
    n = len(data)
    if n < 127:
        return bytes((n,)) + data
    return bytes(hpack.hpack.encode_integer(n, 7)) + data


def install(h2_connection: Any) -> None:
    """Make ``h2_connection`` (an ``h2.connection.H2Connection`` that has not
    sent headers yet) encode header blocks with :class:`LinearEncoder`."""
    if not isinstance(getattr(h2_connection, "encoder", None), hpack.Encoder):
        raise RuntimeError("this h2 version keeps no hpack.Encoder in H2Connection.encoder")
    h2_connection.encoder = LinearEncoder()


def header_list_size(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The size SETTINGS_MAX_HEADER_LIST_SIZE limits: per field, name and
    value length plus 32 (RFC 9113, 6.5.2)."""
    return sum(len(k) + len(v) + 32 for k, v in headers)
