"""Two hosts joined by a link sockviz carries (issue 17's foundation: not yet on the
command line).

The client and the server each get a network namespace of their own - two real TCP/IP
stacks of this machine's kernel - joined by nothing but a TUN device in each and a thread
of this process that reads every IP packet one host sends and writes it into the other,
late, slowly, or not at all, as the :class:`LinkSpec` says. Every retransmission, timer and
window the two kernels show is theirs; only the link is sockviz's.

* :class:`Hosts` makes the two namespaces (a user namespace first, so no root is needed:
  call it while the process has one thread) and a TUN device with addresses in each:
  ``10.217.0.1`` and ``fd17:217::1`` (server), ``10.217.0.2`` and ``fd17:217::2``
  (client), a /24 and a /64 that exist inside those namespaces only - nothing is routed
  to or from this machine's own network.
  :meth:`Hosts.inside` runs a block in one host's namespace (``setns`` is per thread):
  sockets made there stay there.
* :class:`Link` is the thread between the two devices: delay, jitter, rate, seeded random
  loss, and exact faults (:class:`Drop`: the Nth SYN, SYN-ACK, ACK, data or FIN), with
  counters (sent, delivered, dropped, in flight) and a log of what it did to which packet.

Standard library only (``ctypes`` for ``setns``, which Python's ``os`` has from 3.12).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import heapq
import os
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from sockviz.engine.netns import (
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
IFF_UP, IFF_RUNNING = 0x1, 0x40

#: The two hosts' addresses (a /24 and a unique-local /64 that exist only inside their
#: namespaces).
SERVER_IP, CLIENT_IP, NETMASK = "10.217.0.1", "10.217.0.2", "255.255.255.0"
SERVER_IP6, CLIENT_IP6 = "fd17:217::1", "fd17:217::2"
#: Each host's TUN device.
DEVICE = "sv0"
#: The largest packet a TUN device hands over (its default MTU, and headroom).
PACKET_MAX = 65535

KINDS = ("syn", "syn-ack", "ack", "data", "fin")


class NoLink(Exception):
    """Two hosts cannot be made here; the message says why, in one line."""


# --- what the link does ---------------------------------------------------------------
@dataclass(frozen=True)
class Drop:
    """An exact fault: the ``nth`` packet of ``kind`` (counted over both directions, from 1)
    is lost on the link."""

    kind: str
    nth: int = 1

    @classmethod
    def parse(cls, text: str) -> Drop:
        """``syn``, ``data:2`` ...; ValueError in one line for anything else."""
        kind, _, nth = text.strip().lower().partition(":")
        if kind not in KINDS:
            raise ValueError(f"--drop {text!r}: expected one of {', '.join(KINDS)}, "
                             "with :N for the Nth one (data:2)")
        if nth and (not nth.isdigit() or not 1 <= int(nth) <= 1000):
            raise ValueError(f"--drop {text!r}: N must be a whole number from 1 to 1000")
        return cls(kind, int(nth) if nth else 1)


@dataclass(frozen=True)
class LinkSpec:
    """What the link does to every packet."""

    delay: float = 0.0
    """Seconds each packet takes to cross, each way."""
    jitter: float = 0.0
    """Up to this many seconds more or less, at random (seeded), never reordering."""
    rate: float | None = None
    """Bits a second (None: no limit): a packet waits its turn to be sent."""
    loss: float = 0.0
    """The share of packets lost at random (seeded), 0 to 1."""
    seed: int = 0
    drops: tuple[Drop, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str, drops: tuple[str, ...] = ()) -> LinkSpec:
        """``delay=50ms,jitter=5ms,rate=1mbit,loss=2%,seed=7``; ValueError in one line."""
        values: dict = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in ("delay", "jitter", "rate", "loss", "seed"):
                raise ValueError(f"--link {part!r}: expected delay=, jitter=, rate=, loss= "
                                 "or seed=, as in delay=50ms,loss=2%")
            values[key] = _value(key, value.strip(), part)
        return cls(**values, drops=tuple(Drop.parse(d) for d in drops))


def _value(key: str, text: str, part: str):
    units = {"delay": {"ms": 1e-3, "s": 1.0, "us": 1e-6},
             "jitter": {"ms": 1e-3, "s": 1.0, "us": 1e-6},
             "rate": {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bit": 1.0}}
    try:
        if key == "seed":
            return int(text)
        if key == "loss":
            share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            if not 0 <= share <= 1:
                raise ValueError
            return share
        for unit, scale in sorted(units[key].items(), key=lambda u: -len(u[0])):
            if text.lower().endswith(unit):
                number = float(text[: -len(unit)]) * scale
                if number < 0 or number > (3600 if key != "rate" else 1e12) or (
                        key == "rate" and number <= 0):
                    raise ValueError
                return number
        raise ValueError
    except ValueError:
        example = {"delay": "50ms", "jitter": "5ms", "rate": "1mbit", "loss": "2%",
                   "seed": "7"}[key]
        raise ValueError(f"--link {part!r}: {key} should look like {key}={example}") from None


def kind_of(packet: bytes) -> str | None:
    """What a packet is for the faults: ``syn``, ``syn-ack``, ``fin``, ``data``, ``ack``
    (TCP over IPv4 or IPv6), or None for anything else (neighbour discovery ...)."""
    if len(packet) >= 20 and packet[0] >> 4 == 4 and packet[9] == socket.IPPROTO_TCP:
        header = (packet[0] & 0x0F) * 4
        length = struct.unpack_from("!H", packet, 2)[0] - header
    elif len(packet) >= 40 and packet[0] >> 4 == 6 and packet[6] == socket.IPPROTO_TCP:
        header, length = 40, struct.unpack_from("!H", packet, 4)[0]
    else:
        return None
    if len(packet) < header + 14:
        return None
    flags = packet[header + 13]
    if flags & 0x02:
        return "syn-ack" if flags & 0x10 else "syn"
    if flags & 0x01:
        return "fin"
    return "data" if length - (packet[header + 12] >> 4) * 4 > 0 else "ack"


# --- the two hosts --------------------------------------------------------------------
def _libc():
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
    return struct.pack("16sH2s4s8s", name.encode(), socket.AF_INET, b"\0\0",
                       socket.inet_aton(ip), b"")


def _tun(ip: str, ip6: str) -> int:
    """A TUN device with ``ip``/24 and ``ip6``/64, up, in this thread's network namespace;
    its fd."""
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        raise NoLink(f"/dev/net/tun cannot be opened ({exc.strerror}): two hosts need it "
                     "readable and writable") from None
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH14s", DEVICE.encode(),
                                               IFF_TUN | IFF_NO_PI, b""))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s, SIOCSIFADDR, _ifreq_address(DEVICE, ip))
            fcntl.ioctl(s, SIOCSIFNETMASK, _ifreq_address(DEVICE, NETMASK))
            request = struct.pack("16sH14s", DEVICE.encode(), 0, b"")
            flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", DEVICE.encode(),
                                                      flags | IFF_UP | IFF_RUNNING, b""))
        # IPv6: no duplicate-address detection (the other end is ours; it would hold the
        # address back a second or two), then the address by its in6_ifreq
        with open(f"/proc/sys/net/ipv6/conf/{DEVICE}/accept_dad", "w") as f:
            f.write("0")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
            fcntl.ioctl(s6, SIOCSIFADDR, struct.pack(
                "16sIi", socket.inet_pton(socket.AF_INET6, ip6), 64,
                socket.if_nametoindex(DEVICE)))
    except OSError as exc:
        os.close(fd)
        raise NoLink(f"a TUN device would not start: {exc.strerror or exc}") from None
    return fd


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
    def inside(self, host: str):
        """Run the block in ``host``'s network namespace (this thread only)."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(self._ns[host])
            yield self.address[host]
        finally:
            _setns(here)
            os.close(here)

    def close(self) -> None:
        for fd in [*self.tun.values(), *self._ns.values()]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.tun, self._ns = {}, {}


# --- the link between them ------------------------------------------------------------
@dataclass
class Counters:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0

    @property
    def in_flight(self) -> int:
        return self.sent - self.delivered - self.dropped


class Link:
    """The thread that carries packets between the two hosts' devices (see the module
    docstring). ``log`` keeps (time, from, kind, what happened) for each packet."""

    def __init__(self, hosts: Hosts, spec: LinkSpec) -> None:
        self.hosts, self.spec = hosts, spec
        self.counters = Counters()
        self.log: list[tuple[float, str, str | None, str]] = []
        self._random = random.Random(spec.seed)
        self._seen: dict[str, int] = {}
        self._due: list[tuple[float, int, str, bytes]] = []
        self._free = {"server": 0.0, "client": 0.0}  # when each direction's wire is free
        self._last = {"server": 0.0, "client": 0.0}  # (no reordering by jitter)
        self._order = 0
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sockviz-link", daemon=True)
        self.started = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 0.5) -> bool:
        """End the thread (the packets still on the link are lost with it)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")
        self._thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        return not self._thread.is_alive()

    def _run(self) -> None:
        fds = {self.hosts.tun["server"]: "server", self.hosts.tun["client"]: "client"}
        poller = select.poll()
        for fd in (*fds, self._wake_r):
            poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            now = time.monotonic()
            wait = None if not self._due else max(0.0, self._due[0][0] - now)
            for fd, _ in poller.poll(None if wait is None else wait * 1000):
                if fd in fds:
                    self._take(fds[fd], fd)
            self._deliver(time.monotonic())

    def _take(self, side: str, fd: int) -> None:
        while True:
            try:
                packet = os.read(fd, PACKET_MAX)
            except BlockingIOError:
                return
            except OSError:
                return
            self._carry(side, packet, time.monotonic())

    def _carry(self, side: str, packet: bytes, now: float) -> None:
        spec, kind = self.spec, kind_of(packet)
        self.counters.sent += 1
        if kind is not None:
            self._seen[kind] = self._seen.get(kind, 0) + 1
        if any(d.kind == kind and d.nth == self._seen.get(kind) for d in spec.drops):
            self._lost(now, side, kind, "dropped (as asked)")
            return
        if spec.loss and self._random.random() < spec.loss:
            self._lost(now, side, kind, "lost at random")
            return
        leaves = now
        if spec.rate:
            leaves = max(now, self._free[side]) + len(packet) * 8 / spec.rate
            self._free[side] = leaves
        arrives = leaves + spec.delay
        if spec.jitter:
            arrives += self._random.uniform(-spec.jitter, spec.jitter)
        arrives = max(arrives, self._last[side], now)
        self._last[side] = arrives
        self._order += 1
        heapq.heappush(self._due, (arrives, self._order, side, packet))
        self.log.append((now - self.started, side, kind, "delayed" if arrives > now
                         else "passed"))

    def _lost(self, now: float, side: str, kind: str | None, why: str) -> None:
        self.counters.dropped += 1
        self.log.append((now - self.started, side, kind, why))

    def _deliver(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            _, _, side, packet = heapq.heappop(self._due)
            other = "client" if side == "server" else "server"
            try:
                os.write(self.hosts.tun[other], packet)
            except OSError:
                self.counters.dropped += 1
                continue
            self.counters.delivered += 1
