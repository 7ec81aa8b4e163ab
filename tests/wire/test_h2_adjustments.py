"""The two h2 adjustments of gorums_h2/wire/_h2.py, checked on in-memory cores."""

from __future__ import annotations

import pytest
from core_pair import CorePair, request_headers
from hyperframe.frame import DataFrame, Frame


def test_received_frames_are_not_formatted_for_a_log_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """h2 alone runs repr(frame) (hex of the whole payload) for every frame."""

    def fail(self: Frame) -> str:
        raise AssertionError("a received frame was formatted")

    pair = CorePair()
    monkeypatch.setattr(DataFrame, "__repr__", fail)
    monkeypatch.setattr(Frame, "__repr__", fail)
    stream = pair.client.open_stream(request_headers())
    stream.queue_message(b"x" * 70_000)  # several DATA frames
    pair.pump()
    server_stream, _ = pair.requests[0]
    assert server_stream.pop_message() == b"x" * 70_000
    server_stream.queue_message(b"y" * 70_000)
    pair.pump()
    assert stream.pop_message() == b"y" * 70_000


def test_credit_returned_by_a_reader_wakes_the_writer() -> None:
    """pop_message() acknowledges held-back data; the WINDOW_UPDATE h2 makes of
    it must reach the driver at once, not with the next unrelated write."""
    from gorums_h2.wire.settings import WireSettings

    small = WireSettings(stream_window=65535, connection_window=65535)
    pair = CorePair(small, small)
    stream = pair.client.open_stream(request_headers())
    stream.queue_message(b"q")
    pair.pump()
    server_stream, _ = pair.requests[0]
    server_stream.queue_message(b"r" * 40_000)
    pair.pump()
    assert stream.has_message  # held back: not acknowledged yet
    woken: list[bool] = []
    pair.client.on_output = lambda: woken.append(True)
    assert stream.pop_message() == b"r" * 40_000
    assert woken, "the WINDOW_UPDATE made by the acknowledgement did not wake the writer"
    assert pair.client.data_to_send()  # the WINDOW_UPDATE itself
