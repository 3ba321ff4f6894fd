"""Two hosts of this machine's kernel for a run: the server's and the client's network
namespaces, each with a TUN device and addresses of its own.

:class:`Hosts` makes them (a user namespace first, so no root is needed: call it while the
process has one thread): ``10.217.0.1`` and ``fd17:217::1`` (server), ``10.217.0.2`` and
``fd17:217::2`` (client), a /24 and a /64 that exist inside those namespaces only - nothing
is routed to or from this machine's own network. Nothing joins the two devices but
:class:`~sockviz.engine.lab.link.Link`, a thread of this process. :meth:`Hosts.inside` runs a
block in one host's namespace and :meth:`Hosts.enter` moves a thread there for good
(``setns`` is per thread): sockets made there stay there.

Standard library only (``ctypes`` for ``setns``, which Python's ``os`` has from 3.12).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import struct
import time
from collections.abc import Iterator

from sockviz.engine.lab.namespaces import (
    CLONE_NEWNET,
    NoPrivateNetwork,
    enter_private,
    loopback_up,
    unshare,
)

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
SIOCSIFADDR, SIOCSIFNETMASK = 0x8916, 0x891C
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
SIOCSIFMTU = 0x8922
IFF_UP, IFF_RUNNING = 0x1, 0x40

#: The two hosts' addresses (a /24 and a unique-local /64 that exist only inside their
#: namespaces).
SERVER_IP, CLIENT_IP, NETMASK = "10.217.0.1", "10.217.0.2", "255.255.255.0"
SERVER_IP6, CLIENT_IP6 = "fd17:217::1", "fd17:217::2"
#: Each host's TUN device.
DEVICE = "sv0"


class NoLink(Exception):
    """Two hosts cannot be made here; the message says why, in one line."""


def host_of(actor: str) -> str:
    """The host a scenario's thread runs on: the server's, or the client's for any other."""
    return "server" if actor == "server" else "client"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # (Python 3.12)
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    if _libc().setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def _ifreq_address(name: str, ip: str) -> bytes:
    return struct.pack(
        "16sH2s4s8s", name.encode(), socket.AF_INET, b"\0\0", socket.inet_aton(ip), b""
    )


def _tun(ip: str, ip6: str) -> int:
    """A TUN device with ``ip``/24 and ``ip6``/64, up, in this thread's network namespace;
    its fd."""
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        raise NoLink(
            f"/dev/net/tun cannot be opened ({exc.strerror}): two hosts need it "
            "readable and writable"
        ) from None
    try:
        fcntl.ioctl(
            fd, TUNSETIFF, struct.pack("16sH14s", DEVICE.encode(), IFF_TUN | IFF_NO_PI, b"")
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s, SIOCSIFADDR, _ifreq_address(DEVICE, ip))
            fcntl.ioctl(s, SIOCSIFNETMASK, _ifreq_address(DEVICE, NETMASK))
            request = struct.pack("16sH14s", DEVICE.encode(), 0, b"")
            flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(
                s,
                SIOCSIFFLAGS,
                struct.pack("16sH14s", DEVICE.encode(), flags | IFF_UP | IFF_RUNNING, b""),
            )
        # IPv6: no duplicate-address detection (the other end is ours; it would hold the
        # address back a second or two), then the address by its in6_ifreq
        with open(f"/proc/sys/net/ipv6/conf/{DEVICE}/accept_dad", "w") as f:
            f.write("0")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
            fcntl.ioctl(
                s6,
                SIOCSIFADDR,
                struct.pack(
                    "16sIi",
                    socket.inet_pton(socket.AF_INET6, ip6),
                    64,
                    socket.if_nametoindex(DEVICE),
                ),
            )
        _usable(ip6)
    except OSError as exc:
        os.close(fd)
        raise NoLink(f"a TUN device would not start: {exc.strerror or exc}") from None
    return fd


#: An IPv6 address's flag while it may not be used yet (linux/if_addr.h).
IFA_F_TENTATIVE = 0x40

#: How long an IPv6 address may stay tentative before the host is given up (seconds).
TENTATIVE_FOR = 3.0


def _usable(ip6: str) -> None:
    """Wait until ``ip6`` is no longer tentative. Even without duplicate-address detection
    a new IPv6 address is tentative until the kernel's address worker has run, and on a
    loaded machine that worker waits its turn: a bind() meanwhile fails with EADDRNOTAVAIL
    (seen in CI, a lab run over IPv6 under load). Read from the namespace's address list,
    not by a trial bind(): the run's only sockets are the scenario's own."""
    packed = socket.inet_pton(socket.AF_INET6, ip6).hex()
    deadline = time.monotonic() + TENTATIVE_FOR
    while True:
        with open("/proc/thread-self/net/if_inet6") as addresses:
            for line in addresses:
                fields = line.split()
                if fields and fields[0] == packed and not int(fields[4], 16) & IFA_F_TENTATIVE:
                    return
        if time.monotonic() > deadline:
            raise OSError(errno.EADDRNOTAVAIL, f"{ip6} still tentative after {TENTATIVE_FOR:g} s")
        time.sleep(0.002)


class Hosts:
    """The server's and the client's network namespaces, each with its TUN device. Make it
    while the process has one thread; :meth:`close` lets every descriptor go (the
    namespaces end with the last of them and with the process)."""

    def __init__(self) -> None:
        try:
            enter_private()  # (the user namespace, and the server's network namespace)
        except NoPrivateNetwork as exc:
            raise NoLink(str(exc)) from None
        self._ns = {"server": os.open("/proc/thread-self/ns/net", os.O_RDONLY)}
        self.tun = {"server": _tun(SERVER_IP, SERVER_IP6)}
        try:
            unshare(CLONE_NEWNET)  # (root of the user namespace: a second network)
            loopback_up()
        except OSError as exc:
            self.close()
            raise NoLink(f"a second host would not start: {exc.strerror or exc}") from None
        self._ns["client"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self.tun["client"] = _tun(CLIENT_IP, CLIENT_IP6)
        _setns(self._ns["server"])  # (the process goes on in the server's network)
        self.address = {"server": SERVER_IP, "client": CLIENT_IP}
        self.address6 = {"server": SERVER_IP6, "client": CLIENT_IP6}

    @contextlib.contextmanager
    def inside(self, host: str) -> Iterator[str]:
        """Run the block in ``host``'s network namespace (this thread only); it gets the
        host's IPv4 address."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(self._ns[host])
            yield self.address[host]
        finally:
            _setns(here)
            os.close(here)

    def enter(self, host: str) -> None:
        """Move the calling thread into ``host``'s network namespace for the rest of its
        life (a scenario's actor thread: every socket it makes is that host's)."""
        _setns(self._ns[host])

    def set_mtu(self, mtu: int) -> None:
        """Both hosts' devices take packets of at most ``mtu`` bytes: each kernel then
        offers an MSS that fits (``mtu`` less the IP and TCP headers) and sizes its
        segments to it."""
        for host in ("server", "client"):
            with self.inside(host), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                fcntl.ioctl(s, SIOCSIFMTU, struct.pack("16si20x", DEVICE.encode(), mtu))

    def ip(self, host: str, family: int) -> str:
        """``host``'s address in ``family`` (AF_INET or AF_INET6)."""
        return (self.address6 if family == socket.AF_INET6 else self.address)[host]

    def close(self) -> None:
        for fd in [*self.tun.values(), *self._ns.values()]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.tun, self._ns = {}, {}
