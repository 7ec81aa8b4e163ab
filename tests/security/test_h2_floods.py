"""HTTP/2-level attacks on a default ``Server`` in its own process (both loops).

Each test builds the attack's bytes first, then runs it with a well-behaved
probe client on another connection (see ``_h2_attack``) and asserts the
issue's bounds: the probe sees no error and no long gap (``GAP``: 0.75 s
for the shared CI machine, the issue's 0.5 s with bench/security_gaps.py;
the figures are printed),
the server's RSS grows by less than 8 MiB, and the attacker gets the right
answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from _h2_attack import (
    CANCEL,
    CONTINUATION,
    DATA,
    END_HEADERS,
    ENHANCE_YOUR_CALM,
    HEADERS,
    PING,
    REFUSED_STREAM,
    RST_STREAM,
    SETTINGS,
    SETTINGS_INITIAL_WINDOW_SIZE,
    WINDOW_UPDATE,
    echo_request,
    frame,
    request_headers,
    run_attack,
)

pytestmark = pytest.mark.anyio

_CANCEL = CANCEL.to_bytes(4, "big")


async def test_rapid_reset_gets_goaway_enhance_your_calm(anyio_backend: Any) -> None:
    # CVE-2023-44487: 20,000 HEADERS+RST_STREAM pairs in one burst
    block = request_headers()
    payload = b"".join(frame(HEADERS, END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, _CANCEL)
                       for sid in range(1, 40001, 2))
    out = await run_attack(anyio_backend, payload)
    assert out.goaway == ENHANCE_YOUR_CALM, out
    assert out.closed, out
    out.assert_probe_served()
    out.assert_memory_bounded()


async def test_slow_rapid_reset_exhausts_the_reset_budget(anyio_backend: Any) -> None:
    # the same pairs in small writes (fewer new streams per read than the
    # per-read rule allows) run into the per-window reset budget instead
    block = request_headers()
    pairs = [frame(HEADERS, END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, _CANCEL)
             for sid in range(1, 2 * 1500, 2)]
    chunks = [b"".join(pairs[i:i + 50]) for i in range(0, len(pairs), 50)]
    out = await run_attack(anyio_backend, b"", chunks=chunks)
    assert out.goaway == ENHANCE_YOUR_CALM, out
    out.assert_probe_served()
    out.assert_memory_bounded()


async def test_many_open_streams_are_refused(anyio_backend: Any) -> None:
    # 5,000 streams opened and held, without ever ACKing our SETTINGS: the
    # limit holds from the start, and the burst is cut off
    block = request_headers()
    payload = b"".join(frame(HEADERS, END_HEADERS, sid, block) for sid in range(1, 10001, 2))
    out = await run_attack(anyio_backend, payload)
    assert out.goaway == ENHANCE_YOUR_CALM, out
    out.assert_probe_served()
    out.assert_memory_bounded()


async def test_streams_over_the_limit_get_refused_stream(anyio_backend: Any) -> None:
    # 150 streams in writes of 30 (no burst): 100 are served, 50 refused
    block = request_headers()
    streams = [frame(HEADERS, END_HEADERS, sid, block) for sid in range(1, 301, 2)]
    chunks = [b"".join(streams[i:i + 30]) for i in range(0, len(streams), 30)]
    out = await run_attack(anyio_backend, b"", chunks=chunks, duration=1.0)
    assert out.resets == {REFUSED_STREAM: 50}, out
    assert out.goaway is None, out
    out.assert_probe_served()


@pytest.mark.parametrize("kind", ["ping", "settings"])
async def test_control_frame_flood_gets_goaway(anyio_backend: Any, kind: str) -> None:
    # CVE-2019-9512/9515: one million PINGs (or empty SETTINGS), each asking
    # for an acknowledgement
    if kind == "ping":
        payload = b"".join(frame(PING, 0, 0, i.to_bytes(8, "big")) for i in range(1_000_000))
    else:
        payload = frame(SETTINGS, 0, 0) * 1_000_000
    out = await run_attack(anyio_backend, payload)
    assert out.goaway == ENHANCE_YOUR_CALM, out
    out.assert_probe_served()
    out.assert_memory_bounded()


async def test_empty_data_flood_gets_goaway(anyio_backend: Any) -> None:
    # CVE-2019-9518: 500,000 DATA frames without payload or END_STREAM
    payload = (frame(HEADERS, END_HEADERS, 1, request_headers())
               + frame(DATA, 0, 1) * 500_000)
    out = await run_attack(anyio_backend, payload)
    assert out.goaway == ENHANCE_YOUR_CALM, out
    out.assert_probe_served()
    out.assert_memory_bounded()


async def test_continuation_flood_is_cut_off(anyio_backend: Any) -> None:
    # 64 CONTINUATION frames of 1 MiB (h2 alone would buffer all 64 MiB)
    block = request_headers()
    payload = (frame(HEADERS, 0, 1, block[:10])
               + b"".join(frame(CONTINUATION, 0, 1, b"\0" * (1 << 20)) for _ in range(64)))
    out = await run_attack(anyio_backend, payload)
    assert out.goaway == ENHANCE_YOUR_CALM, out
    assert out.closed, out
    out.assert_probe_served()
    out.assert_memory_bounded()


async def test_replies_never_read_stay_bounded(anyio_backend: Any) -> None:
    # 500,000 valid requests from a client that opens its windows wide and
    # never reads: the server stops reading instead of queuing every reply
    req = echo_request(1)
    data = frame(DATA, 0, 1, req * 100)
    payload = (frame(WINDOW_UPDATE, 0, 0, (2**31 - 1 - 65535).to_bytes(4, "big"))
               + frame(HEADERS, END_HEADERS, 1, request_headers()) + data * 5000)
    out = await run_attack(anyio_backend, payload, read=False, duration=4.0,
                           settings={SETTINGS_INITIAL_WINDOW_SIZE: 2**31 - 1})
    out.assert_probe_served()
    out.assert_memory_bounded()


async def test_a_client_that_grants_no_window_stays_bounded(anyio_backend: Any) -> None:
    # 500,000 valid requests from a client that never reads and never returns
    # flow-control credit: the replies wait for a window that never opens
    req = echo_request(1)
    data = frame(DATA, 0, 1, req * 100)
    payload = frame(HEADERS, END_HEADERS, 1, request_headers()) + data * 5000
    out = await run_attack(anyio_backend, payload, read=False, duration=8.0)
    out.assert_probe_served()
    out.assert_memory_bounded()


@pytest.mark.parametrize("kind", ["ping", "settings"])
async def test_unread_control_replies_stop_reading(anyio_backend: Any, kind: str) -> None:
    # the control-reply cap alone (the empty-frame budget lifted): 2 million
    # PINGs (or SETTINGS) from a client that never reads their ACKs; the
    # server stops reading once 50 ACKs wait for the transport, so the
    # attacker's writes block and nothing grows
    if kind == "ping":
        payload = frame(PING, 0, 0, b"\x01" * 8) * 2_000_000
    else:
        payload = frame(SETTINGS, 0, 0) * 2_000_000
    out = await run_attack(anyio_backend, payload, read=False, duration=4.0,
                           overrides={"max_empty_frames": 10**9})
    assert out.goaway is None, out
    assert out.sent < len(payload) // 2, out  # blocked: the server stopped reading
    out.assert_probe_served()
    out.assert_memory_bounded()
