"""Peer-provided text is escaped and bounded before it reaches logs and StatusError.message.

Before issue 10 a peer's ``grpc-message: a%0Ab`` or GOAWAY debug data with a
newline put raw newlines (forged log lines, terminal escapes) into log
lines and exception messages, at any length.
"""

from __future__ import annotations

import time

import pytest
from h2.errors import ErrorCodes

from gorums_h2.pb import status_pb2
from gorums_h2.wire import StatusError, escape_peer_text
from gorums_h2.wire.headers import parse_response_headers, parse_trailers
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.status import MAX_PEER_TEXT


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain text: ok", "plain text: ok"),
    ("line\nINFO forged", "line\\nINFO forged"),
    ("cr\r tab\t nul\x00 esc\x1b[31m del\x7f", "cr\\r tab\\t nul\\x00 esc\\x1b[31m del\\x7f"),
    ("c1\x85 ls\u2028 ps\u2029 rlo\u202e", "c1\\x85 ls\\u2028 ps\\u2029 rlo\\u202e"),
    ("ünïcödé, 日本語, back\\slash", "ünïcödé, 日本語, back\\slash"),
    ("", ""),
])
def test_escape_peer_text(raw: str, shown: str) -> None:
    assert escape_peer_text(raw) == shown
    assert "\n" not in escape_peer_text(raw) and "\r" not in escape_peer_text(raw)


def test_escape_peer_text_bounds_length_and_time() -> None:
    huge = "\n" * 10_000_000
    start = time.perf_counter()
    out = escape_peer_text(huge)
    assert time.perf_counter() - start < 1.0  # only the kept prefix is looked at
    assert out == "\\n" * MAX_PEER_TEXT + "... (10000000 chars)"
    assert escape_peer_text("x" * 50, limit=10) == "x" * 10 + "... (50 chars)"


def test_grpc_message_percent_encoded_newline_is_escaped() -> None:
    err, _ = parse_trailers([(b"grpc-status", b"2"),
                             (b"grpc-message", b"boom%0A2026-01-01 INFO all good%1B[0m")])
    assert isinstance(err, StatusError)
    assert err.message == "boom\\n2026-01-01 INFO all good\\x1b[0m"
    assert "\n" not in str(err)


def test_grpc_message_is_bounded() -> None:
    err, _ = parse_trailers([(b"grpc-status", b"13"), (b"grpc-message", b"%41" * 100_000)])
    assert err is not None
    assert err.message == "A" * MAX_PEER_TEXT + "... (100000 chars)"


def test_gorums_envelope_status_is_escaped() -> None:
    """A status inside a gorums reply (google.rpc.Status) is escaped as well."""
    err = StatusError.from_proto(status_pb2.Status(code=5, message="gone\r\nfake line"))
    assert err.message == "gone\\r\\nfake line"


def test_response_content_type_is_escaped() -> None:
    with pytest.raises(StatusError) as info:
        parse_response_headers([(b":status", b"200"), (b"content-type", b"text/x\x1b]0;pwn\x07")])
    assert "\x1b" not in info.value.message and "\\x1b" in info.value.message


def test_goaway_debug_data_is_escaped() -> None:
    client = ConnectionCore(client_side=True)
    server = ConnectionCore(client_side=False)
    client.initiate()
    server.initiate()
    for _ in range(3):
        server.receive_data(client.data_to_send())
        client.receive_data(server.data_to_send())
    server.send_goaway(ErrorCodes.ENHANCE_YOUR_CALM, b"calm\ndown\x1b[2J" + b"!" * 5000)
    client.receive_data(server.data_to_send())
    assert client.goaway is not None
    message = client.goaway.message
    assert message.startswith("peer sent GOAWAY (ENHANCE_YOUR_CALM: calm\\ndown\\x1b[2J!!!")
    assert "\n" not in message and "\x1b" not in message
    assert message.endswith("... (5013 chars))")
    assert len(message) < 400
