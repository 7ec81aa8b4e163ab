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
