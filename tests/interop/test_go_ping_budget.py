"""grpc-go's BDP PINGs against our empty-frame budget, from captured bytes.

grpc-go sends a PING for nearly every DATA frame it receives (its
bandwidth-delay estimator), so a busy Go peer sends one PING per reply or
request: a Go v0.11 client at ~3,400 quorum calls/s and our client against Go
servers drew GOAWAY ENHANCE_YOUR_CALM "too many frames without payload" from
us within seconds when every PING was charged to ``max_empty_frames``
(1000 per 10 s). As grpc-go's ping policy forgives PINGs while data flows,
the first PING after a DATA frame with payload is free
(``GuardedH2Connection.ping_credit``); PINGs with no data between them are
still charged.

``captures/go-v0.11-client-steady.jsonl`` is the first 400 TCP reads of a
real Go Gorums v0.11 client (4 goroutines calling ReadQC back to back)
against ``gorums-h2 storage serve``, recorded by a relay on loopback (same
format as /work/shared/interop/*.jsonl).
"""

from __future__ import annotations

import json
from pathlib import Path

from _capture import CAPTURES, PREFACE, deframe
from hyperframe.frame import PingFrame

from gorums_h2.wire.headers import build_request_headers, build_response_headers
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.settings import WireSettings

HERE = Path(__file__).parent / "captures"
BUDGET = WireSettings(max_empty_frames=20)  # far fewer than the captures' PINGs


def _reads(path: Path, direction: str) -> list[bytes]:
    with open(path) as f:
        recs = [json.loads(line) for line in f]
    return [bytes.fromhex(r["hex"]) for r in recs if r["dir"] == direction and r["conn"] == 1]


def _pings(reads: list[bytes], *, client: bool) -> int:
    return sum(isinstance(f, PingFrame) and "ACK" not in f.flags
               for f in deframe(b"".join(reads), client=client))


def _serve_go_client(answer: bool = True, *, pings_only: bool = False) -> str | None:
    """Our server core fed the Go client's reads at one instant; ``answer``:
    reply to every request as our server does; ``pings_only``: after the
    first read (preface, SETTINGS), only the capture's PING frames, back to
    back. Returns the connection error."""
    core = ConnectionCore(client_side=False, settings=BUDGET, clock=lambda: 0.0)
    streams: list[StreamCore] = []

    def on_request(stream: StreamCore, headers: object) -> None:
        stream.response_headers = build_response_headers("gorums")
        streams.append(stream)

    core.on_request = on_request  # type: ignore[assignment]
    core.initiate()
    core.data_to_send()
    reads = _reads(HERE / "go-v0.11-client-steady.jsonl", "c2s")
    if pings_only:
        pings = [f.serialize() for f in deframe(b"".join(reads), client=True)
                 if isinstance(f, PingFrame) and "ACK" not in f.flags]
        reads = reads[:1] + pings
    for data in reads:
        core.receive_data(data)
        for stream in streams:
            while stream.has_message:
                request = stream.pop_message()
                if answer:
                    stream.queue_message(request)
        core.flush()
        core.data_to_send()
        if core.error is not None:
            return str(core.error)
    return None


def test_the_go_client_capture_pings_per_reply() -> None:
    reads = _reads(HERE / "go-v0.11-client-steady.jsonl", "c2s")
    assert reads[0].startswith(PREFACE)
    assert _pings(reads, client=True) > 150  # many times BUDGET


def test_our_server_forgives_a_go_clients_bdp_pings() -> None:
    assert _serve_go_client() is None
    assert _serve_go_client(answer=False) is None  # the client's requests carry the credit


def test_pings_with_no_data_between_are_still_charged() -> None:
    err = _serve_go_client(pings_only=True)
    assert err is not None and "too many frames without payload" in err


def test_our_client_forgives_a_go_servers_bdp_pings() -> None:
    """The Go v0.11 benchmark server's replies (WINDOW_UPDATE, PING, DATA per
    read) fed to our client core, which sends a request before each read."""
    reads = _reads(CAPTURES / "go-v0.11-benchmark-server-steady.jsonl", "s2c")
    assert _pings(reads, client=False) > 150
    core = ConnectionCore(client_side=True, settings=BUDGET, clock=lambda: 0.0)
    core.initiate()
    stream = core.open_stream(build_request_headers(
        "/ordering.Gorums/NodeStream", "127.0.0.1:29200", subtype="gorums"))
    core.data_to_send()
    for data in reads:
        stream.queue_message(b"\x08\x01")
        core.flush()
        core.data_to_send()
        core.receive_data(data)
        assert core.error is None
