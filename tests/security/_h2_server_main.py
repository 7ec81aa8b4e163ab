"""A default gorums ``Server`` in its own process, for the HTTP/2 attack tests.

``python _h2_server_main.py BACKEND LIFETIME [NAME=VALUE ...]`` (asyncio,
trio or uvloop) serves the echo test service on a free 127.0.0.1 port,
prints the port on one line, and exits after LIFETIME seconds at the latest
(the tests terminate it earlier). ``NAME=VALUE`` pairs override
``WireSettings`` fields (integers), to test one defence with another
lifted. A separate process lets the tests read the server's
RSS from /proc and keeps the attacker's and the probe's CPU apart from the
server's.
"""

from __future__ import annotations

import sys

import anyio

from gorums_h2.server import Server
from gorums_h2.testing.services import EchoService, register_echo_service
from gorums_h2.wire.settings import WireSettings


async def main(lifetime: float, overrides: dict[str, int]) -> None:
    server = Server(wire_settings=WireSettings(**overrides))  # type: ignore[arg-type]
    register_echo_service(server, EchoService(0))
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
        print(port, flush=True)
        await anyio.sleep(lifetime)
        server.stop()


if __name__ == "__main__":
    backend = sys.argv[1]
    lifetime = float(sys.argv[2])
    overrides = {k: int(v) for k, v in (arg.split("=", 1) for arg in sys.argv[3:])}
    if backend == "uvloop":
        anyio.run(main, lifetime, overrides, backend="asyncio",
                  backend_options={"use_uvloop": True})
    else:
        anyio.run(main, lifetime, overrides, backend=backend)
