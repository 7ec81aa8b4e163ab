"""Network-namespace hosts joined by veth links: real partitions for tests (Linux, root).

A :class:`NetLab` creates ``ip netns`` namespaces ("hosts") and veth pairs
("links") between them, with addresses in 198.18.0.0/15 (RFC 2544's range
for network tests) *inside the namespaces it creates*: the machine's own
interfaces, routes and addresses are never touched. Links can be taken down
and brought back up, a host can vanish, and everything is removed when the
lab closes, whatever happened::

    with NetLab() as lab:
        client, server = lab.host("client"), lab.host("server")
        link = lab.link(client, server)          # client 198.18.1.1 <-> server 198.18.1.2
        proc = server.popen([sys.executable, "-m", "gorums_h2.testing.serve",
                             "--addr", f"{link.b_addr}:0"], stdout=subprocess.PIPE)
        with client.entered():                   # this thread's new sockets live in "client"
            ...connect to link.b_addr...
        link.down()                              # the server's end goes down: a partition
        link.up()

What a partition looks like: :meth:`Link.down` takes one end down (by
default ``b``'s, the second host given to :meth:`NetLab.link`). The other
end keeps a permanent neighbour entry, so its packets are sent and vanish
silently, exactly like a cable pulled somewhere in between: established
connections see no error (TCP retransmits, unacknowledged), new connection
attempts hang. The side whose end is down gets "network unreachable"
for new connections.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's ``ip``;
:func:`netns_unavailable` says why not, for a ``pytest.skip``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

__all__ = ["Host", "Link", "NetLab", "NetLabError", "netns_unavailable"]

_CLONE_NEWNET = 0x40000000
_NET_PREFIX = "198.18"  # 198.18.0.0/15: RFC 2544, network benchmark tests


class NetLabError(RuntimeError):
    """An ``ip`` command failed (the message has its stderr)."""


@functools.cache
def netns_unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None if they can
    (checked once per process, by creating and deleting a namespace)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2's 'ip' command is missing (apt-get install -y iproute2)"
    name = f"gh2probe-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if done.returncode != 0:
        return f"'ip netns add' fails here: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    return None


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NetLabError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


_libc: Any = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Host:
    """A network namespace (made by :meth:`NetLab.host`)."""

    def __init__(self, lab: NetLab, name: str, netns: str) -> None:
        self.lab = lab
        self.name = name
        self.netns = netns
        self.processes: list[subprocess.Popen[Any]] = []
        self.deleted = False

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside this host (``ip netns exec``); ``kwargs`` go
        to :class:`subprocess.Popen`. The lab kills it at close if still running."""
        proc: subprocess.Popen[Any] = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, *argv], **kwargs)
        self.processes.append(proc)
        return proc

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside this host to completion; its output as text."""
        return subprocess.run(["ip", "netns", "exec", self.netns, *argv],
                              capture_output=True, text=True, timeout=timeout)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move the calling thread into this host for the block (``setns``).

        Sockets the thread creates meanwhile (connections, listeners) belong
        to this host for their whole life, also after the block; sockets made
        before keep their namespace. In an event loop this is the loop's
        thread: every task's new sockets land here during the block.
        """
        with open("/proc/thread-self/ns/net", "rb") as home, \
                open(f"/run/netns/{self.netns}", "rb") as target:
            _setns(target.fileno())
            try:
                yield
            finally:
                _setns(home.fileno())

    def kill_processes(self) -> None:
        """SIGKILL the processes started in this host, reap them and close
        their pipes."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        self.processes.clear()

    def delete(self) -> None:
        """The host vanishes: its processes are killed and its namespace (with
        its ends of every link) is deleted. Peers hear nothing about it if
        the links were down first."""
        if self.deleted:
            return
        self.kill_processes()
        self.deleted = True
        _ip("netns", "delete", self.netns)


class Link:
    """A veth pair between hosts ``a`` and ``b`` (made by :meth:`NetLab.link`).

    ``a_addr``/``b_addr`` are the IPv4 addresses of ``a``'s and ``b``'s ends
    (one /24 per link), ``a_dev``/``b_dev`` the interface names.
    """

    def __init__(self, a: Host, b: Host, index: int, a_dev: str, b_dev: str) -> None:
        self.a, self.b = a, b
        self.a_addr = f"{_NET_PREFIX}.{index}.1"
        self.b_addr = f"{_NET_PREFIX}.{index}.2"
        self.a_dev, self.b_dev = a_dev, b_dev
        self.is_up = True

    def _end(self, at: Host | None) -> tuple[Host, str]:
        host = self.b if at is None else at
        if host is self.a:
            return self.a, self.a_dev
        if host is self.b:
            return self.b, self.b_dev
        raise ValueError(f"host {host.name!r} is not on this link")

    def down(self, at: Host | None = None) -> None:
        """Take the link down at ``at``'s end (default ``b``): a partition
        (see the module doc for what each side sees)."""
        host, dev = self._end(at)
        _ip("-n", host.netns, "link", "set", dev, "down")
        self.is_up = False

    def up(self) -> None:
        """Bring both ends up again (established connections resume: TCP
        retransmits what was lost)."""
        for host, dev in ((self.a, self.a_dev), (self.b, self.b_dev)):
            if not host.deleted:
                _ip("-n", host.netns, "link", "set", dev, "up")
        self.is_up = True


class NetLab:
    """Namespaces and links for one test; a context manager that removes
    them all on exit (processes killed first). See the module doc."""

    def __init__(self) -> None:
        self._tag = f"gh2{os.getpid() % 100000}{uuid.uuid4().hex[:4]}"
        self.hosts: list[Host] = []
        self.links: list[Link] = []

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def host(self, name: str) -> Host:
        """A new namespace (loopback up)."""
        netns = f"{self._tag}-{name}"
        _ip("netns", "add", netns)
        host = Host(self, name, netns)
        self.hosts.append(host)
        _ip("-n", netns, "link", "set", "lo", "up")
        return host

    def link(self, a: Host, b: Host) -> Link:
        """A veth pair between ``a`` and ``b``, both ends up, addresses
        ``198.18.N.1`` (a) and ``198.18.N.2`` (b) for the N-th link, and
        permanent neighbour entries so a downed peer drops packets silently."""
        index = len(self.links) + 1
        if index > 255:
            raise NetLabError("at most 255 links per lab")
        # interface names: at most 15 characters; made in the namespaces directly
        tag = uuid.uuid4().hex[:8]
        a_dev, b_dev = f"gh{tag}a{index}", f"gh{tag}b{index}"
        _ip("link", "add", a_dev, "netns", a.netns, "type", "veth",
            "peer", "name", b_dev, "netns", b.netns)
        link = Link(a, b, index, a_dev, b_dev)
        self.links.append(link)
        for host, dev, addr in ((a, a_dev, link.a_addr), (b, b_dev, link.b_addr)):
            _ip("-n", host.netns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", host.netns, "link", "set", dev, "up")
        for host, dev, peer, peer_dev, peer_addr in (
                (a, a_dev, b, b_dev, link.b_addr), (b, b_dev, a, a_dev, link.a_addr)):
            mac = _ip("-n", peer.netns, "-br", "link", "show", peer_dev).split()[2]
            _ip("-n", host.netns, "neigh", "replace", peer_addr, "lladdr", mac,
                "dev", dev, "nud", "permanent")
        return link

    def close(self) -> None:
        """Kill every process started in the lab's hosts and delete the hosts."""
        for host in self.hosts:
            host.kill_processes()
        errors = []
        for host in self.hosts:
            try:
                host.delete()
            except NetLabError as exc:
                errors.append(str(exc))
        self.hosts.clear()
        if errors:
            raise NetLabError("; ".join(errors))
