"""Property tests of ConnectionCore on hostile input (hypothesis): whatever a
peer sends, receive_data never raises, and the connection either lives on or
fails with ConnectionBroken; no message above the size limit is delivered."""

from __future__ import annotations

import struct

from core_pair import request_headers
from hyperframe.frame import SettingsFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gorums_h2.wire.errors import ConnectionBroken
from gorums_h2.wire.headers import Headers
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.settings import WireSettings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SMALL = WireSettings(max_receive_message_size=1000)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """A frame with a plausible header (type 0-9, small stream ids) and random body."""
    body = draw(st.binary(max_size=40))
    ftype = draw(st.integers(0, 10))
    flags = draw(st.integers(0, 255))
    sid = draw(st.sampled_from([0, 1, 3, 5, 2, 0x7FFFFFFF]))
    length = len(body) if draw(st.booleans()) else draw(st.integers(0, 60))
    return struct.pack(">I", length)[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + body


def _feed(core: ConnectionCore, chunks: list[bytes]) -> None:
    for chunk in chunks:
        core.receive_data(chunk)  # must never raise
        core.flush()
        core.data_to_send()
        core.confirm_written()
    assert core.error is None or isinstance(core.error, ConnectionBroken)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), max_size=12), st.binary(max_size=30))
def test_server_core_survives_hostile_frames(chunks: list[bytes], tail: bytes) -> None:
    core = ConnectionCore(client_side=False, settings=SMALL)
    requests: list[tuple[StreamCore, Headers]] = []
    core.on_request = lambda s, h: requests.append((s, h))
    core.initiate()
    core.data_to_send()
    _feed(core, [PREFACE + SettingsFrame(0).serialize(), *chunks, tail])
    for stream, _ in requests:
        while stream.has_message:
            assert len(stream.pop_message()) <= 1000


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), max_size=12))
def test_client_core_survives_hostile_frames(chunks: list[bytes]) -> None:
    core = ConnectionCore(client_side=True, settings=SMALL)
    core.initiate()
    stream = core.open_stream(request_headers())
    core.data_to_send()
    _feed(core, [SettingsFrame(0).serialize(), *chunks])
    while stream.has_message:
        assert len(stream.pop_message()) <= 1000


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_random_bytes_instead_of_a_preface(data: bytes) -> None:
    core = ConnectionCore(client_side=False)
    core.initiate()
    _feed(core, [data])

