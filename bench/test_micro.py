"""Micro-benchmarks of the per-message building blocks: the gorums envelope,
gRPC length-prefix framing, protobuf, and one message through two sans-IO
HTTP/2 cores (h2) in memory — what every request and reply pays."""

from __future__ import annotations

from typing import Any

import pytest

from gorums_h2.benchmark.benchmark_pb2 import Echo
from gorums_h2.codec import WIRES, decode_full, encode
from gorums_h2.codec.envelope import encode_metadata, encode_method_field, split
from gorums_h2.wire.framing import MessageDecoder, encode_message
from gorums_h2.wire.headers import build_request_headers, build_response_headers
from gorums_h2.wire.protocol import ConnectionCore, StreamCore

METHOD_FIELD = encode_method_field("benchmark.Benchmark.QuorumCall")
PAYLOADS = {"16B": 16, "4KiB": 4096, "64KiB": 65536}


@pytest.fixture(params=list(PAYLOADS), ids=list(PAYLOADS))
def payload(request: pytest.FixtureRequest) -> bytes:
    return Echo(payload=bytes(PAYLOADS[request.param])).SerializeToString()


def test_encode_envelope(benchmark: Any, payload: bytes) -> None:
    benchmark.group = "envelope"
    body = benchmark(lambda: encode(encode_metadata(123456, METHOD_FIELD), payload))
    assert split(body)[1] == payload


def test_decode_envelope(benchmark: Any, payload: bytes) -> None:
    benchmark.group = "envelope"
    body = encode(encode_metadata(123456, METHOD_FIELD), payload)
    md, _, msg = benchmark(decode_full, body)
    assert md.message_seq_no == 123456 and msg == payload


@pytest.mark.parametrize("wire", list(WIRES))
def test_wire_encode_request(benchmark: Any, payload: bytes, wire: str) -> None:
    """A request through the seam (what every call pays): header + frame."""
    benchmark.group = "wire"
    proto = WIRES[wire]
    body = benchmark(lambda: proto.frame(proto.request_header(123456, METHOD_FIELD), payload))
    assert proto.decode(body).payload == payload


@pytest.mark.parametrize("wire", list(WIRES))
def test_wire_decode(benchmark: Any, payload: bytes, wire: str) -> None:
    """A received message through the seam into a neutral Envelope."""
    benchmark.group = "wire"
    proto = WIRES[wire]
    body = proto.frame(proto.request_header(123456, METHOD_FIELD), payload)
    env = benchmark(proto.decode, body)
    assert env.seq == 123456 and env.payload == payload


def test_protobuf_roundtrip(benchmark: Any, payload: bytes) -> None:
    benchmark.group = "protobuf"
    msg = Echo.FromString(payload)
    out = benchmark(lambda: Echo.FromString(msg.SerializeToString()))
    assert out == msg


def test_encode_message(benchmark: Any, payload: bytes) -> None:
    benchmark.group = "framing"
    framed = benchmark(encode_message, payload)
    assert len(framed) == len(payload) + 5


def test_decoder_one_message(benchmark: Any, payload: bytes) -> None:
    benchmark.group = "framing"
    decoder = MessageDecoder()
    framed = encode_message(payload)
    out = benchmark(decoder.feed, framed)
    assert out == [payload]


def test_decoder_100_messages_one_chunk(benchmark: Any) -> None:
    benchmark.group = "framing"
    decoder = MessageDecoder()
    body = Echo(payload=bytes(16)).SerializeToString()
    chunk = encode_message(body) * 100
    out = benchmark(decoder.feed, chunk)
    assert len(out) == 100


def test_decoder_64k_message_in_16k_frames(benchmark: Any) -> None:
    benchmark.group = "framing"
    decoder = MessageDecoder()
    framed = encode_message(bytes(65536))
    pieces = [framed[i:i + 16384] for i in range(0, len(framed), 16384)]

    def feed_all() -> list[bytes]:
        out: list[bytes] = []
        for piece in pieces:
            out += decoder.feed(piece)
        return out

    assert len(benchmark(feed_all)) == 1


# grpc-go's frames before a message it sends: connection WINDOW_UPDATE (+50
# bytes of credit), BDP PING
GO_CONTROL = (bytes.fromhex("000004080000000000") + (50).to_bytes(4, "big")
              + bytes.fromhex("000008060000000000") + bytes.fromhex("02041010090e0707"))


class _Pair:
    """A client and a server ConnectionCore joined in memory, one open stream."""

    def __init__(self) -> None:
        self.client = ConnectionCore(client_side=True)
        self.server = ConnectionCore(client_side=False)
        self.server_stream: StreamCore | None = None
        self.server.on_request = self._on_request
        self.client.initiate()
        self.server.initiate()
        self.client_stream = self.client.open_stream(
            build_request_headers("/ordering.Gorums/NodeStream", "bench:1", subtype="gorums"))
        self.pump()

    def _on_request(self, stream: StreamCore, headers: Any) -> None:
        stream.response_headers = build_response_headers("gorums")
        self.server_stream = stream

    def move(self, src: ConnectionCore, dst: ConnectionCore, prefix: bytes = b"") -> int:
        src.flush()
        data = src.data_to_send()
        src.confirm_written()
        if data:
            dst.receive_data(prefix + data)
        return len(data)

    def pump(self) -> None:
        while self.move(self.client, self.server) + self.move(self.server, self.client):
            pass

    def round_trip(self, body: bytes, go_client: bool = False, go_server: bool = False
                   ) -> bytes:
        """Client -> server -> client: queue, frame, parse, pop, reply.

        ``go_client`` / ``go_server``: that side's bytes start with what
        grpc-go sends with each message it writes after receiving one (a
        connection WINDOW_UPDATE and a BDP PING); the other side's PING ACK
        then leaves with its next message.
        """
        self.client_stream.queue_message(body)
        self.move(self.client, self.server, GO_CONTROL if go_client else b"")
        assert self.server_stream is not None
        request = self.server_stream.pop_message()
        self.server_stream.queue_message(request)
        self.move(self.server, self.client, GO_CONTROL if go_server else b"")
        reply = self.client_stream.pop_message()
        self.pump()  # window updates
        return reply


def test_h2_cores_round_trip(benchmark: Any, payload: bytes) -> None:
    """One message each way through two sans-IO cores (h2 framing, flow
    control, gRPC framing) with no sockets and no event loop."""
    benchmark.group = "h2 cores"
    pair = _Pair()
    body = encode(encode_metadata(1, METHOD_FIELD), payload)
    assert benchmark(pair.round_trip, body) == body


@pytest.mark.parametrize("go", ["none", "go-server", "go-client"])
def test_h2_cores_round_trip_with_go_control_frames(benchmark: Any, go: str) -> None:
    """16-byte round trips where one side sends grpc-go's per-message
    WINDOW_UPDATE + PING (docs/performance.md, "Go peers")."""
    benchmark.group = "h2 cores, Go control frames"
    pair = _Pair()
    body = encode(encode_metadata(1, METHOD_FIELD), Echo(payload=bytes(16)).SerializeToString())
    reply = benchmark(pair.round_trip, body, go == "go-client", go == "go-server")
    assert reply == body
