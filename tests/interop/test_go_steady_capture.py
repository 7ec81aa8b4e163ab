"""The steady-state capture against a Go v0.11 benchmark server
(go-v0.11-benchmark-server-steady.jsonl), replayed read by read.

Every reply of the Go server arrives as WINDOW_UPDATE, PING, DATA in one TCP
read. Fed to our client core with the fast path on and off, the outcome must
be identical (bytes sent back, messages, windows), the control frames must
take the fast path, and the PING ACKs of each read must be output that may
wait for the next request (``on_control_output``), never a wake-up of their
own. The client's side of the capture, fed to our server core, likewise.
"""

from __future__ import annotations

import json

from _capture import CAPTURES, PREFACE

from gorums_h2.wire.headers import build_request_headers, build_response_headers
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.settings import WireSettings

NAME = "go-v0.11-benchmark-server-steady"
PING_ACK = bytes.fromhex("000008060100000000") + bytes.fromhex("02041010090e0707")


def _reads(direction: str) -> list[bytes]:
    with open(CAPTURES / f"{NAME}.jsonl") as f:
        recs = [json.loads(line) for line in f]
    return [bytes.fromhex(r["hex"]) for r in recs if r["dir"] == direction and r["conn"] == 1]


def _client(fast: bool) -> tuple[list[bytes], list[str], bytes, int]:
    """Our client core fed the Go server's reads: per read the bytes it
    answers, and which hook woke the writer."""
    core = ConnectionCore(client_side=True, settings=WireSettings(h2_fast_path=fast))
    core.initiate()
    stream = core.open_stream(build_request_headers(
        "/ordering.Gorums/NodeStream", "127.0.0.1:29200", subtype="gorums"))
    core.data_to_send()
    answers: list[bytes] = []
    hooks: list[str] = []
    woke: list[str] = []
    core.on_output = lambda: woke.append("output")
    core.on_control_output = lambda: woke.append("control")
    messages = []
    for data in _reads("s2c"):
        woke.clear()
        core.receive_data(data)
        assert core.error is None
        hooks.append("+".join(sorted(set(woke))))
        answers.append(core.data_to_send())
        while stream.has_message:
            messages.append(stream.pop_message())
    return answers, hooks, b"".join(messages), core.h2.outbound_flow_control_window


def test_our_client_answers_go_server_reads_like_h2() -> None:
    fast = _client(True)
    slow = _client(False)
    assert fast[0] == slow[0]  # the same bytes back, read by read
    assert fast[2:] == slow[2:]
    # the steady state: every WINDOW_UPDATE+PING+DATA read is answered with
    # one PING ACK, which waits for the next request
    steady = [(answer, hook) for answer, hook in zip(fast[0], fast[1], strict=True)
              if answer == PING_ACK]
    assert len(steady) > 150
    assert {hook for _, hook in steady} == {"control"}
    # h2's general path wakes the writer at once for each of them
    assert {hook for answer, hook in zip(slow[0], slow[1], strict=True)
            if answer == PING_ACK} == {"output"}


def _server(fast: bool) -> tuple[bytes, list[bytes], str | None]:
    """Our server core fed our (old) client's reads of the capture: requests
    with PING ACKs in front of most of them."""
    core = ConnectionCore(client_side=False, settings=WireSettings(h2_fast_path=fast))
    streams: list[StreamCore] = []

    def on_request(stream: StreamCore, headers: object) -> None:
        stream.response_headers = build_response_headers("gorums")
        streams.append(stream)

    core.on_request = on_request  # type: ignore[assignment]
    core.initiate()
    core.data_to_send()
    out = bytearray()
    messages: list[bytes] = []
    for data in _reads("c2s"):
        core.receive_data(data)
        out += core.data_to_send()
        for stream in streams:
            while stream.has_message:
                messages.append(stream.pop_message())
    return bytes(out), messages, None if core.error is None else str(core.error)


def test_our_server_takes_the_client_side_like_h2() -> None:
    assert _reads("c2s")[0].startswith(PREFACE)
    fast = _server(True)
    assert fast == _server(False)
    assert fast[2] is None and len(fast[1]) > 150


def test_the_capture_holds_go_control_frames() -> None:
    """So that the tests above exercise what they claim: reads of
    WINDOW_UPDATE (stream 0), PING, DATA."""
    wpd = [r for r in _reads("s2c")
           if len(r) > 30 and (r[3], r[5:9], r[13 + 3], r[30 + 3]) == (0x8, bytes(4), 0x6, 0x0)]
    assert len(wpd) > 150
