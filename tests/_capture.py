"""Reader of the Go Gorums wire captures in /work/shared/interop.

* :func:`load_connections` reassembles each TCP connection's ``c2s`` and
  ``s2c`` byte streams from the ``.jsonl`` file (hex per TCP read).
* :func:`deframe` splits a byte stream into HTTP/2 frames with hyperframe,
  :func:`header_blocks` decodes HEADERS/CONTINUATION blocks with hpack (one
  decoder per direction, as the dynamic table requires) and
  :func:`grpc_messages` reassembles length-prefixed gRPC messages per stream
  from DATA payloads. These do not use gorums_h2, so they check it
  independently.
* :func:`load_decoded` parses the ``-decoded.txt`` files: per connection the
  frames, header blocks and gRPC messages (bytes, Metadata and payload text).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hpack
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, HeadersFrame

CAPTURES = Path("/work/shared/interop")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DIRECTIONS = ("c2s", "s2c")


@dataclass
class Connection:
    """One captured TCP connection: the bytes each way, in order."""

    conn: int
    data: dict[str, bytes]


def load_connections(name: str) -> dict[int, Connection]:
    """``name`` like ``go-v0.11-client-server``: connections by number."""
    streams: dict[int, dict[str, bytearray]] = {}
    with open(CAPTURES / f"{name}.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            per = streams.setdefault(rec["conn"], {d: bytearray() for d in DIRECTIONS})
            if rec["dir"] in DIRECTIONS:
                per[rec["dir"]] += bytes.fromhex(rec["hex"])
    return {n: Connection(n, {d: bytes(b) for d, b in per.items()}) for n, per in streams.items()}


def deframe(data: bytes, *, client: bool) -> list[Frame]:
    """HTTP/2 frames of one direction (``client``: it starts with the preface)."""
    if client:
        assert data.startswith(PREFACE), "client stream must start with the HTTP/2 preface"
        data = data[len(PREFACE) :]
    frames = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 9, "truncated frame header"
        frame, length = Frame.parse_frame_header(memoryview(data[pos : pos + 9]))
        assert pos + 9 + length <= len(data), "truncated frame body"
        frame.parse_body(memoryview(data[pos + 9 : pos + 9 + length]))
        frames.append(frame)
        pos += 9 + length
    return frames


def frame_summary(frame: Frame) -> tuple[str, int, int, frozenset[str]]:
    """(TYPE as the .txt names it, stream, body length, flags)."""
    name = type(frame).__name__.removesuffix("Frame").upper()
    return name, frame.stream_id, len(frame.serialize()) - 9, frozenset(frame.flags)


@dataclass
class HeaderBlock:
    stream_id: int
    fragment: bytes
    headers: list[tuple[str, str]]
    end_stream: bool


def header_blocks(frames: list[Frame]) -> list[HeaderBlock]:
    """Decode every header block of one direction, in order."""
    decoder = hpack.Decoder()
    decoder.max_header_list_size = 1 << 20
    out = []
    pending: HeadersFrame | None = None
    fragment = b""
    for frame in frames:
        if isinstance(frame, HeadersFrame):
            pending, fragment = frame, bytes(frame.data)
        elif isinstance(frame, ContinuationFrame):
            fragment += bytes(frame.data)
        else:
            continue
        if "END_HEADERS" in frame.flags:
            assert pending is not None
            headers = [(k.decode(), v.decode()) for k, v in decoder.decode(fragment, raw=True)]
            out.append(HeaderBlock(pending.stream_id, fragment, headers,
                                   "END_STREAM" in pending.flags))
            pending = None
    return out


def grpc_messages(frames: list[Frame]) -> dict[int, list[tuple[int, bytes]]]:
    """(compressed flag, body) of each gRPC message, per stream, from DATA frames."""
    buffers: dict[int, bytes] = {}
    out: dict[int, list[tuple[int, bytes]]] = {}
    for frame in frames:
        if not isinstance(frame, DataFrame):
            continue
        buf = buffers.get(frame.stream_id, b"") + bytes(frame.data)
        while len(buf) >= 5:
            flag, length = struct.unpack(">BI", buf[:5])
            if len(buf) < 5 + length:
                break
            out.setdefault(frame.stream_id, []).append((flag, buf[5 : 5 + length]))
            buf = buf[5 + length :]
        buffers[frame.stream_id] = buf
    assert not any(buffers.values()), "a DATA stream ended in the middle of a message"
    return out


# ---- the -decoded.txt files ----

_CONN_RE = re.compile(r"^CONNECTION (\d+):")
_FRAME_RE = re.compile(
    r"^\[\s*[\d.]+\] (C->S|S->C)  (\w+)\s+stream=(\d+) len=(\d+) flags=(\S+)")


@dataclass
class DecodedMessage:
    """A gRPC message as the .txt shows it."""

    body: bytes
    metadata: str = ""  # the text after "Metadata = "
    payload: str = ""  # the text after "payload  = "
    # master captures (``stream.Message``): the "-> field N name: value" texts,
    # the payload bytes (None when field 5 is absent), and whether the .txt
    # says the message is NOT a valid stream.Message
    fields: list[str] = field(default_factory=list)
    payload_bytes: bytes | None = None
    invalid: bool = False


@dataclass
class DecodedConnection:
    conn: int
    frames: dict[str, list[tuple[str, int, int, frozenset[str]]]] = field(
        default_factory=lambda: {d: [] for d in DIRECTIONS})
    headers: dict[str, list[tuple[str, list[tuple[str, str]], str]]] = field(
        default_factory=lambda: {d: [] for d in DIRECTIONS})
    messages: dict[str, list[DecodedMessage]] = field(
        default_factory=lambda: {d: [] for d in DIRECTIONS})


def load_decoded(name: str) -> dict[int, DecodedConnection]:
    """Parse ``<name>-decoded.txt``: what it says crossed each connection.

    ``headers`` holds (kind, [(key, value)], HPACK block hex) per block, where
    kind is the .txt's label (``REQUEST HEADERS``, ``TRAILERS (END_STREAM)``...).
    """
    conns: dict[int, DecodedConnection] = {}
    current: DecodedConnection | None = None
    direction = "c2s"
    block: tuple[str, list[tuple[str, str]]] | None = None
    for raw in _lines(name):
        line = raw.strip()
        if m := _CONN_RE.match(raw):
            current = conns.setdefault(int(m.group(1)), DecodedConnection(int(m.group(1))))
            continue
        if current is None:
            continue  # the summary at the top
        if m := _FRAME_RE.match(line):
            direction = "c2s" if m.group(1) == "C->S" else "s2c"
            flags = frozenset() if m.group(5) == "-" else frozenset(m.group(5).split(","))
            current.frames[direction].append(
                (m.group(2), int(m.group(3)), int(m.group(4)), flags))
        elif line.startswith("-- ") and line.endswith(":"):
            block = (line[3:-1], [])
        elif block is not None and line.startswith("(HPACK block"):
            current.headers[direction].append((block[0], block[1], line.rsplit(" ", 1)[1][:-1]))
            block = None
        elif block is not None:
            key, _, value = line.partition(": ")
            block[1].append((key, value))
        elif line.startswith("bytes: "):
            current.messages[direction].append(DecodedMessage(bytes.fromhex(line[7:])))
        elif line.startswith("-> field "):
            current.messages[direction][-1].fields.append(line[3:])
        elif line.startswith("NOT a valid stream.Message"):
            current.messages[direction][-1].invalid = True
        elif (line.startswith("payload bytes: ") and current.messages[direction][-1].fields
              and not current.messages[direction][-1].invalid):
            text = line[len("payload bytes: "):].strip()
            if not text.startswith("(absent"):
                current.messages[direction][-1].payload_bytes = bytes.fromhex(text)
        elif line.startswith("Metadata = "):
            current.messages[direction][-1].metadata = line[len("Metadata = "):]
        elif line.startswith("payload  = "):
            current.messages[direction][-1].payload = line[len("payload  = "):]
    return conns


def _lines(name: str) -> Iterator[str]:
    with open(CAPTURES / f"{name}-decoded.txt") as f:
        for line in f:
            yield line.rstrip("\n")
