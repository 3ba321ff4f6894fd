"""The kernel's own TCP state of a socket (Linux), read two ways.

While the program holds a socket, ``getsockopt(IPPROTO_TCP, TCP_INFO)`` returns a
``struct tcp_info`` whose first byte is the state. Once the program has closed it, the
descriptor is gone but the kernel may keep the connection for a while (FIN_WAIT2,
LAST_ACK, TIME_WAIT): the only place to see it then is ``/proc/net/tcp`` (and ``tcp6``),
matched by the pair of socket addresses. When it is in neither, the kernel has forgotten
it: we report ``CLOSE``, the kernel's name for "no connection".

Everything here returns ``None`` instead of failing when the platform has no such thing
(not Linux, not TCP, ``/proc`` not mounted): the kernel view is a bonus, never a crash.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Any, NamedTuple

#: The kernel's TCP states by number, as in include/net/tcp_states.h.
TCP_STATES: dict[int, str] = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}

#: States that on loopback last only as long as a packet takes to cross: after a call we
#: give the kernel a moment to leave them, so that what we show is the settled state.
#: (SYN_SENT is not one: a handshake either completes at once or is stuck - its SYN was
#: dropped - until the kernel retries a second or more later.)
TRANSIENT = frozenset({"FIN_WAIT1", "CLOSING", "LAST_ACK"})

_TCP_INFO = getattr(socket, "TCP_INFO", 11)
_IS_LINUX = sys.platform.startswith("linux")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    """True where the kernel view works (Linux)."""
    return _IS_LINUX


def held_state(sock: socket.socket) -> str | None:
    """The TCP state of a socket we still hold, from ``TCP_INFO``; None if unknowable."""
    if not _IS_LINUX:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 8)
    except (OSError, ValueError):
        return None
    return TCP_STATES.get(info[0]) if info else None


class Counts(NamedTuple):
    """What the kernel has counted of one TCP socket's traffic (``TCP_INFO``)."""

    segments_out: int
    """Segments it sent (``tcpi_segs_out``), data or not."""
    bytes_sent: int
    """Payload bytes it sent, sent again ones included (``tcpi_bytes_sent``)."""
    retransmissions: int
    """Segments it sent again (``tcpi_total_retrans``)."""


def counts(sock: socket.socket) -> Counts | None:
    """The kernel's counts of ``sock``'s traffic; None where ``TCP_INFO`` has them not
    (before Linux 4.19, or not TCP)."""
    if not _IS_LINUX:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 216)
    except (OSError, ValueError):
        return None
    if len(info) < 216:
        return None
    retrans, segs_out, sent = (
        struct.unpack_from("=I", info, 100)[0],
        struct.unpack_from("=I", info, 136)[0],
        struct.unpack_from("=Q", info, 200)[0],
    )
    return Counts(segs_out, sent, retrans)


def flow(sock: socket.socket) -> tuple[float, int, int] | None:
    """What the kernel knows of a connection's path: (smoothed RTT in milliseconds,
    congestion window in segments, segments sent again), from ``TCP_INFO``
    (``tcpi_rtt``, ``tcpi_snd_cwnd``, ``tcpi_total_retrans``); None where unknowable."""
    if not _IS_LINUX:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except (OSError, ValueError):
        return None
    if len(info) < 104 or TCP_STATES.get(info[0]) in (None, "LISTEN", "CLOSE", "SYN_SENT"):
        return None
    (rtt,) = struct.unpack_from("=I", info, 68)
    (cwnd,) = struct.unpack_from("=I", info, 80)
    (retrans,) = struct.unpack_from("=I", info, 100)
    return round(rtt / 1000, 1), cwnd, retrans


def listen_queue(sock: socket.socket) -> tuple[int, int] | None:
    """A listener's accept queue: (connections waiting, backlog), from ``TCP_INFO``.

    For a socket in LISTEN, Linux reports the queue length in ``tcpi_unacked`` and the
    backlog in ``tcpi_sacked`` (the two 32-bit fields at offsets 24 and 28).
    """
    if not _IS_LINUX:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 32)
    except (OSError, ValueError):
        return None
    if len(info) < 32 or TCP_STATES.get(info[0]) != "LISTEN":
        return None
    waiting, backlog = struct.unpack_from("=II", info, 24)
    return waiting, backlog


@dataclass(frozen=True, slots=True)
class ProcEntry:
    """One line of ``/proc/net/tcp{,6}``."""

    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    timer: float | None
    """Seconds left on the running timer, if one runs (TIME_WAIT's, a retransmit ...)."""
    inode: int


def _decode_address(text: str) -> tuple[str, int]:
    """``0100007F:1388`` -> ``("127.0.0.1", 5000)``; IPv6 is four host-order words."""
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    # The kernel prints each 32-bit word in host byte order.
    order = sys.byteorder
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    if order == "little":
        words = [w[::-1] for w in words]
    packed = b"".join(words)
    if len(packed) == 4:
        ip = str(ipaddress.IPv4Address(packed))
    else:
        ip = str(ipaddress.IPv6Address(packed))
    return ip, int(hex_port, 16)


def parse_proc_line(line: str) -> ProcEntry | None:
    """Parse one data line of ``/proc/net/tcp`` or ``/proc/net/tcp6``; None for the header."""
    fields = line.split()
    if len(fields) < 10 or fields[0] == "sl":
        return None
    try:
        local = _decode_address(fields[1])
        remote = _decode_address(fields[2])
        state = TCP_STATES.get(int(fields[3], 16), f"UNKNOWN_{fields[3]}")
        timer_active, _, when = fields[5].partition(":")
        timer = int(when, 16) / _CLOCK_TICKS if int(timer_active, 16) else None
        inode = int(fields[9])
    except ValueError:
        return None
    return ProcEntry(local, remote, state, timer, inode)


def read_proc(families: tuple[str, ...] = ("tcp", "tcp6")) -> list[ProcEntry]:
    """Every TCP socket the kernel lists for the calling thread's network namespace."""
    entries: list[ProcEntry] = []
    if not _IS_LINUX:
        return entries
    base = "/proc/thread-self/net" if os.path.exists("/proc/thread-self/net") else "/proc/net"
    for name in families:
        try:
            with open(f"{base}/{name}", encoding="ascii") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines[1:]:
            entry = parse_proc_line(line)
            if entry is not None:
                entries.append(entry)
    return entries


ProcIndex = dict[tuple[tuple[str, int], tuple[str, int] | None], ProcEntry]
"""A reading of ``/proc`` by the pair of addresses (:func:`index`)."""


def _norm(addr: tuple[Any, ...]) -> tuple[str, int]:
    """A Python socket address as (canonical ip, port), ignoring IPv6 flow info and scope."""
    ip = str(ipaddress.ip_address(addr[0].split("%")[0]))
    return ip, int(addr[1])


def index(entries: list[ProcEntry]) -> ProcIndex:
    """A reading of ``/proc`` by the pair of addresses (a listener's remote: None), so that
    finding each closed socket in it costs the same with ten entries or ten thousand."""
    out: ProcIndex = {}
    for entry in entries:
        if entry.remote[1] == 0 and entry.state == "LISTEN":
            out.setdefault((entry.local, None), entry)
        else:
            out.setdefault((entry.local, entry.remote), entry)
    return out


def closed_state(
    local: tuple[Any, ...], remote: tuple[Any, ...] | None, entries: list[ProcEntry] | ProcIndex
) -> tuple[str, float | None]:
    """The state of a socket we closed, found by its addresses in a reading of ``/proc``
    (a list, or its :func:`index`); ``CLOSE`` if it is gone."""
    want_local = _norm(local)
    want_remote = _norm(remote) if remote else None
    if isinstance(entries, dict):
        entry = entries.get((want_local, want_remote))
        return (entry.state, entry.timer) if entry is not None else ("CLOSE", None)
    for entry in entries:
        if entry.local != want_local:
            continue
        if want_remote is None:
            if entry.remote[1] == 0 and entry.state == "LISTEN":
                return entry.state, entry.timer
        elif entry.remote == want_remote:
            return entry.state, entry.timer
    return "CLOSE", None
