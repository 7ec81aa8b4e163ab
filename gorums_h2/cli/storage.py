"""``gorums-h2 storage serve|client``: the storage example as a command."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

import anyio

from gorums_h2._groups import sole_exception
from gorums_h2.cli._args import duration, port

BACKENDS = ("asyncio", "trio")
WIRES = ("ordering", "stream")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("storage", help="run the storage example's servers or client",
                            description="The storage service of the Go Gorums captures "
                                        "(servers speak both wires: v0.11 and master).")
    actions = parser.add_subparsers(dest="storage_command", metavar="ACTION", required=True)

    serve = actions.add_parser("serve", help="serve storage servers until SIGINT/SIGTERM")
    serve.add_argument("--addr", action="append", default=[], metavar="HOST:PORT",
                       help="listen address (repeatable; :PORT is 127.0.0.1:PORT, "
                       "0.0.0.0:PORT all interfaces; port 0 picks a free port)")
    serve.add_argument("--n", type=int, default=0, help="number of servers on consecutive ports")
    serve.add_argument("--base-port", type=port, default=29100, help="first port for --n")
    serve.add_argument("--host", default="127.0.0.1", help="host for --n (default 127.0.0.1)")
    serve.add_argument("--backend", choices=BACKENDS, default="asyncio")
    serve.set_defaults(func=run_serve)

    client = actions.add_parser("client", help="run the capture's call sequence (or a REPL)")
    client.add_argument("--addrs", required=True,
                        help="comma-separated server addresses, e.g. 127.0.0.1:29100,...")
    client.add_argument("--repl", action="store_true", help="interactive shell instead")
    client.add_argument("--errors", action="store_true",
                        help="also run the capture's error steps 8 and 9 (expected to fail)")
    client.add_argument("--client-name", default="gorums-h2-storage-client",
                        help="value of the client-name stream header")
    client.add_argument("--timeout", type=duration, default=10.0, metavar="DURATION",
                        help="time allowed per step, e.g. 10s or 500ms (the run gets "
                             "steps x this; default 10s)")
    client.add_argument("--backend", choices=BACKENDS, default="asyncio")
    client.add_argument("--wire", choices=WIRES, default="ordering",
                        help="the servers' NodeStream wire: ordering (Go Gorums v0.11, "
                             "default) or stream (Go Gorums master)")
    client.add_argument("--reverse", action="store_true",
                        help="also run step 10 (stream wire): this client serves the "
                             "Storage methods and the first node reads from it with a "
                             "server-initiated ReadQC inside ReadNestedQC")
    client.set_defaults(func=run_client)


def _listen_addresses(args: argparse.Namespace) -> list[tuple[str, int]]:
    from gorums_h2.nodelist import parse_listen_address

    addrs = [parse_listen_address(a) for a in args.addr]
    if args.n < 0:
        raise ValueError(f"--n must not be negative, got {args.n}")
    if args.n and args.base_port + args.n - 1 > 65535:
        raise ValueError(f"--base-port {args.base_port} + --n {args.n} runs past port 65535")
    addrs += [(args.host, args.base_port + i) for i in range(args.n)]
    return addrs


def _check_bindable(addresses: Sequence[tuple[str, int]]) -> None:
    """Bind (and release) every fixed port first, so that a busy port is
    reported before any server starts: nothing is left half-started.
    Raises OSError naming the address."""
    for host, number in addresses:
        if number == 0:
            continue
        try:
            infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise OSError(f"cannot listen on {host}:{number}: {exc}") from None
        family, kind, proto, _name, sockaddr = infos[0]
        with socket.socket(family, kind, proto) as probe:
            # the servers set SO_REUSEADDR too: only a port in use fails, not TIME_WAIT
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                raise OSError(exc.errno,
                              f"cannot listen on {host}:{number}: {exc.strerror}") from None


def run_serve(args: argparse.Namespace) -> int:
    from gorums_h2.examples.storage.server import serve

    try:
        addresses = _listen_addresses(args)
    except ValueError as exc:
        print(f"gorums-h2 storage serve: {exc}", file=sys.stderr)
        return 2
    if not addresses:
        print("gorums-h2 storage serve: give --addr HOST:PORT or --n N", file=sys.stderr)
        return 2
    try:
        _check_bindable(addresses)
        anyio.run(serve, addresses, backend=args.backend)
    except (OSError, BaseExceptionGroup) as exc:
        # (in a group: a port taken between the check and the bind; the
        # servers already started were stopped by the task group)
        err = sole_exception(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if not isinstance(err, OSError):
            raise
        print(f"gorums-h2 storage serve: {err}", file=sys.stderr)
        return 1
    return 0


def run_client(args: argparse.Namespace) -> int:
    from gorums_h2.nodelist import parse_address

    addrs = [a.strip() for a in args.addrs.split(",") if a.strip()]
    try:
        if not addrs:
            raise ValueError("--addrs names no address")
        for addr in addrs:
            parse_address(addr)
    except ValueError as exc:
        print(f"gorums-h2 storage client: --addrs: {exc}", file=sys.stderr)
        return 2
    return anyio.run(_client, addrs, args, backend=args.backend)


async def _client(addrs: Sequence[str], args: argparse.Namespace) -> int:
    import gorums_h2
    from gorums_h2.examples.storage.client import (
        ERROR_STEPS,
        REVERSE_STEPS,
        STEPS,
        repl,
        reverse_server,
        run_steps,
        stream_metadata,
    )
    from gorums_h2.nodelist import canonical_address, resolve_address_async

    if args.reverse and args.wire != "stream":
        print("gorums-h2 storage client: --reverse needs --wire stream", file=sys.stderr)
        return 2
    try:
        nodes = await gorums_h2.with_node_list(addrs).resolved()  # DNS off the event loop
        async with gorums_h2.Manager(metadata=stream_metadata(args.client_name),
                                     wire=args.wire,
                                     server=reverse_server() if args.reverse else None) as mgr:
            cfg = mgr.new_configuration(nodes)
            # ordered RPCs go to the first address's node, as the Go client's
            first_address = canonical_address(*await resolve_address_async(addrs[0]))
            first = next(n for n in cfg.nodes() if n.address == first_address)
            if args.repl:
                await repl(cfg)
                return 0
            with anyio.fail_after(args.timeout * (len(STEPS) + len(ERROR_STEPS) + 1)):
                results = await run_steps(cfg, STEPS, rpc_node=first)
                if args.errors:
                    results += await run_steps(cfg, ERROR_STEPS, expect_errors=True,
                                               rpc_node=first)
                if args.reverse:
                    results += await run_steps(cfg, REVERSE_STEPS, rpc_node=first)
    except (ValueError, TimeoutError) as exc:
        print(f"gorums-h2 storage client: {exc or 'timed out'}", file=sys.stderr)
        return 1
    for result in results:
        print(result.json(), flush=True)
    return 0 if all(r.ok for r in results) else 1
