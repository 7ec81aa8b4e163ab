"""Large messages between our own peers: one DATA frame per 64 KiB message,
and no message ever waits for a WINDOW_UPDATE (docs/performance.md,
"Large messages"); towards a Go-like peer (16 KiB SETTINGS_MAX_FRAME_SIZE,
the HTTP/2 default) frames stay within its limit."""

from __future__ import annotations

from core_pair import CorePair, drain, parse_frames
from hyperframe.frame import DataFrame, WindowUpdateFrame

from gorums_h2.wire.settings import WireSettings

MESSAGE = bytes(range(256)) * 256  # 64 KiB


def _one_way(pair: CorePair, count: int) -> tuple[list[int], int, bool]:
    """Send ``count`` 64 KiB messages client -> server, one at a time, each
    read by the server before the next; return the DATA frame sizes, the
    WINDOW_UPDATEs sent back, and whether the client ever had data it could
    not send for want of a window."""
    cs, ss = pair.open()
    sizes: list[int] = []
    updates = 0
    blocked = False
    for _ in range(count):
        cs.queue_message(MESSAGE)
        pair.client.flush()
        blocked |= bool(pair.client._dirty)  # left over: the window was too small
        data = pair.client.data_to_send()
        pair.client.confirm_written()
        sizes += [len(f.data) for f in parse_frames(data) if isinstance(f, DataFrame)]
        pair.server.receive_data(data)
        assert drain(ss) == [MESSAGE]
        pair.server.flush()
        back = pair.server.data_to_send()
        pair.server.confirm_written()
        updates += sum(isinstance(f, WindowUpdateFrame) for f in parse_frames(back))
        pair.client.receive_data(back)
    return sizes, updates, blocked


def test_between_our_peers_a_64k_message_is_one_frame_and_never_waits() -> None:
    sizes, updates, blocked = _one_way(CorePair(), 300)
    assert sizes == [5 + len(MESSAGE)] * 300
    assert not blocked
    # credit goes back in bulk (h2 returns it at half the window), not per message
    assert updates <= 4


def test_towards_a_16k_frame_peer_frames_stay_within_its_limit() -> None:
    go_like = WireSettings(max_frame_size=16384)  # what the server advertises
    sizes, _, blocked = _one_way(CorePair(WireSettings(), go_like), 20)
    assert max(sizes) == 16384 and sum(sizes) == 20 * (5 + len(MESSAGE))
    assert not blocked
