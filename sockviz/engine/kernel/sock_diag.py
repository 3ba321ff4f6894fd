"""The kernel's state of one TCP connection by exact lookup: socket diagnostics over netlink.

``/proc/net/tcp`` lists every TCP socket of the namespace: reading it costs the same
whether one connection is wanted or ten thousand sit in TIME_WAIT, and matching a closed
socket in it is a scan. The kernel's socket-diagnostics interface (``NETLINK_SOCK_DIAG``,
``inet_diag``: what ``ss`` uses; no privilege needed) answers a question about one
connection - its four addresses - with that connection alone: its state, the time left on
its timer (TIME_WAIT's countdown) and its queues, or "no such socket". :class:`Diag` asks
it; where the kernel refuses netlink, :func:`open_diag` gives None and the caller keeps
reading ``/proc``. Standard library only.
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
from typing import Any

from sockviz.engine.kernel.tcp_state import TCP_STATES

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NO_COOKIE = 0xFFFFFFFF  # INET_DIAG_NOCOOKIE, both halves

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
_REQUEST = struct.Struct("=BBBxI")  # family, protocol, extensions, states
_SOCKID = struct.Struct("!HH16s16s")  # ports (network order), source and destination
_TAIL = struct.Struct("=III")  # interface, cookie (host order)
_MESSAGE = struct.Struct("=BBBB")  # family, state, timer, retransmits
_AFTER_ID = struct.Struct("=IIIII")  # expires (ms), rqueue, wqueue, uid, inode
_ID_SIZE = _SOCKID.size + _TAIL.size
#: What a timer's number means (idiag_timer).
TIMERS = {0: None, 1: "retransmit", 2: "keepalive", 3: "TIME_WAIT", 4: "zero window probe"}


class Found:
    """One connection as the kernel has it."""

    __slots__ = ("id", "inode", "rqueue", "state", "timer", "wqueue")

    def __init__(
        self,
        state: str,
        timer: float | None,
        rqueue: int,
        wqueue: int,
        inode: int,
        ident: tuple[int, int, bytes, bytes] | tuple[()] = (),
    ) -> None:
        self.state, self.timer, self.rqueue, self.wqueue = state, timer, rqueue, wqueue
        self.inode = inode
        self.id = ident
        """(local port, remote port, local address, remote address), as the kernel said."""

    def __repr__(self) -> str:
        return f"Found({self.state!r}, timer={self.timer})"


class Diag:
    """A netlink socket for socket diagnostics; :meth:`lookup` one connection at a time.
    Safe to share between threads (one question at a time)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._seq = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.sock.close()

    def lookup(self, local: tuple[Any, ...], remote: tuple[Any, ...]) -> Found | None:
        """The TCP connection from ``local`` to ``remote`` (Python socket addresses), or
        None when the kernel has none: it has let the connection go (``CLOSE``).
        OSError when the kernel would not answer."""
        family, src, dst = _packed(local, remote)
        with self._lock:
            self._seq += 1
            request = (
                _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0xFFFFFFFF)
                + _SOCKID.pack(int(local[1]), int(remote[1]), src, dst)
                + _TAIL.pack(0, NO_COOKIE, NO_COOKIE)
            )
            header = _HEADER.pack(
                _HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, self._seq, 0
            )
            self.sock.send(header + request)
            found = self._answer(self._seq)
        if found is not None and found.id != (int(local[1]), int(remote[1]), src, dst):
            return None  # (the kernel's lookup falls back to a listener on the port: not it)
        return found

    def _answer(self, seq: int) -> Found | None:
        found = None
        while True:
            data = self.sock.recv(65536)
            at = 0
            while at + _HEADER.size <= len(data):
                length, kind, _flags, got, _pid = _HEADER.unpack_from(data, at)
                if length < _HEADER.size:
                    return found
                body = at + _HEADER.size
                if got == seq:
                    if kind == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, body)[0]
                        if code in (0, errno.ENOENT):
                            return found
                        raise OSError(code, errno.errorcode.get(code, "netlink error"))
                    if kind == NLMSG_DONE:
                        return found
                    if kind == SOCK_DIAG_BY_FAMILY:
                        found = _found(data, body)
                        return found
                at += (length + 3) & ~3


def _found(data: bytes, at: int) -> Found:
    _family, state, timer, _retrans = _MESSAGE.unpack_from(data, at)
    ident = _SOCKID.unpack_from(data, at + _MESSAGE.size)
    expires, rqueue, wqueue, _uid, inode = _AFTER_ID.unpack_from(
        data, at + _MESSAGE.size + _ID_SIZE
    )
    return Found(
        TCP_STATES.get(state, f"UNKNOWN_{state}"),
        expires / 1000 if timer else None,
        rqueue,
        wqueue,
        inode,
        ident,
    )


def _packed(local: tuple[Any, ...], remote: tuple[Any, ...]) -> tuple[int, bytes, bytes]:
    """The family and the two addresses as the request carries them (16 bytes each)."""
    (fa, a), (fb, b) = _pton(local[0]), _pton(remote[0])
    if fa != fb:
        raise ValueError("the two ends of one connection have one family")
    return fa, a.ljust(16, b"\0"), b.ljust(16, b"\0")


def _pton(host: object) -> tuple[int, bytes]:
    """(family, packed address) of an IPv4 or IPv6 address; ValueError for anything else."""
    text = str(host).split("%")[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return family, socket.inet_pton(family, text)
        except OSError:
            continue
    raise ValueError(f"{text!r} is not an IP address")


def open_diag() -> Diag | None:
    """A socket-diagnostics socket, or None where the kernel refuses one (not Linux, netlink
    turned off, a sandbox that forbids it): the caller reads ``/proc`` instead."""
    if not hasattr(socket, "AF_NETLINK"):
        return None
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
        sock.settimeout(1.0)  # (the kernel answers at once; never wait for ever)
        sock.bind((0, 0))
    except OSError:
        return None
    return Diag(sock)
