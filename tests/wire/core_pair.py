"""Two sans-IO ConnectionCores (client and server) wired back to back in memory.

``pair.pump()`` moves bytes both ways until neither side has anything to
send. ``pair.requests`` collects the server streams with their request
headers (``on_request``). A ``tap`` sees every chunk with its direction, so
tests can decode the frames that actually crossed.
"""

from __future__ import annotations

from collections.abc import Callable

from hyperframe.frame import Frame

from gorums_h2.wire.headers import Headers, build_request_headers, build_response_headers
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.settings import WireSettings

PATH = "/test.Echo/Bidi"


def request_headers(path: str = PATH, **kwargs: object) -> Headers:
    return build_request_headers(path, "test:1", **kwargs)  # type: ignore[arg-type]


def parse_frames(data: bytes) -> list[Frame]:
    """Split a byte string of whole HTTP/2 frames (no preface) into frames."""
    frames = []
    pos = 0
    while pos < len(data):
        frame, length = Frame.parse_frame_header(memoryview(data[pos : pos + 9]))
        frame.parse_body(memoryview(data[pos + 9 : pos + 9 + length]))
        frames.append(frame)
        pos += 9 + length
    return frames


class CorePair:
    """A client core and a server core exchanging bytes directly."""

    def __init__(
        self,
        client_settings: WireSettings | None = None,
        server_settings: WireSettings | None = None,
        *,
        tap: Callable[[str, bytes], None] | None = None,
        handshake: bool = True,
    ) -> None:
        self.client = ConnectionCore(client_side=True, settings=client_settings)
        self.server = ConnectionCore(client_side=False, settings=server_settings)
        self.requests: list[tuple[StreamCore, Headers]] = []
        self.server.on_request = self._on_request
        self.tap = tap
        self.client.initiate()
        self.server.initiate()
        if handshake:
            self.pump()

    def _on_request(self, stream: StreamCore, headers: Headers) -> None:
        stream.response_headers = build_response_headers("gorums")
        self.requests.append((stream, headers))

    def transfer(self, src: ConnectionCore, dst: ConnectionCore) -> int:
        """Move what ``src`` has to send into ``dst``; return the byte count."""
        src.flush()
        data = src.data_to_send()
        src.confirm_written()
        if data:
            if self.tap is not None:
                self.tap("c2s" if src is self.client else "s2c", data)
            dst.receive_data(data)
        return len(data)

    def pump(self, rounds: int = 1000) -> None:
        for _ in range(rounds):
            moved = self.transfer(self.client, self.server)
            moved += self.transfer(self.server, self.client)
            if not moved:
                return
        raise AssertionError("cores did not go quiet")

    def open(self, path: str = PATH, **kwargs: object) -> tuple[StreamCore, StreamCore]:
        """Open a client stream and return (client stream, server stream)."""
        before = len(self.requests)
        cs = self.client.open_stream(request_headers(path, **kwargs))
        self.pump()
        assert len(self.requests) == before + 1
        return cs, self.requests[-1][0]


def drain(stream: StreamCore) -> list[bytes]:
    """Pop every queued message of ``stream``."""
    out = []
    while stream.has_message:
        out.append(stream.pop_message())
    return out
