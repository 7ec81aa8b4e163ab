"""grpcio's health client (grpcio-health-checking) as a separate process.

Run as ``python grpcio_health_peer.py PORT`` and drive it through stdin,
one command per line; it answers on stdout, one line per result:

* ``check SERVICE`` (``check`` alone: the server, ``""``) -> the status
  name (``SERVING``) or the failure's code name (``NOT_FOUND``);
* ``list`` -> ``service=STATUS`` pairs, sorted, space-separated (``=SERVING``
  for the server itself);
* ``watch SERVICE`` -> one line ``watch STATUS`` per update, then ``watch
  end CODE`` when the call ends (it runs in a thread: more commands may
  follow while it watches). At the end of stdin, open watches are cancelled
  (``watch end CANCELLED``) and the process exits.

It is a process of its own because grpcio-health-checking registers the
``grpc.health.v1`` messages in protobuf's default descriptor pool, where
``gorums_h2.pb.health_pb2`` (imported by the codec tests) has them too.
"""

from __future__ import annotations

import sys
import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

_lock = threading.Lock()


def say(line: str) -> None:
    with _lock:
        print(line, flush=True)


def _name(status: int) -> str:
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))  # type: ignore[arg-type]


def _watch(calls: grpc.Future) -> None:
    try:
        for reply in calls:
            say(f"watch {_name(reply.status)}")
        say(f"watch end {calls.code().name}")
    except grpc.RpcError as exc:
        say(f"watch end {exc.code().name}")


def main() -> None:
    port = int(sys.argv[1])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        threads = []
        watches = []
        say("READY")
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            try:
                if command == "check":
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=arg), timeout=30)
                    say(_name(reply.status))
                elif command == "list":
                    listed = stub.List(health_pb2.HealthListRequest(), timeout=30)
                    say(" ".join(f"{k}={_name(v.status)}"
                                 for k, v in sorted(listed.statuses.items())))
                elif command == "watch":
                    calls = stub.Watch(health_pb2.HealthCheckRequest(service=arg), timeout=60)
                    watches.append(calls)
                    thread = threading.Thread(target=_watch, args=(calls,))
                    thread.start()
                    threads.append(thread)
                else:
                    say(f"unknown command {command!r}")
            except grpc.RpcError as exc:
                say(exc.code().name)
        for calls in watches:
            calls.cancel()
        for thread in threads:
            thread.join(timeout=60)


if __name__ == "__main__":
    main()
