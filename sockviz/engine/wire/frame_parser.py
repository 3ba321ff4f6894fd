"""The one parser of the run's wire: an Ethernet-framed frame in, a :class:`Frame` out - the
TCP segment or UDP datagram it carries, with its addresses, flags, numbers and the TCP
options a learner meets in a handshake (MSS, window scale, SACK permitted, timestamps).

Why apart: both wires use it - the loopback capture (:mod:`sockviz.engine.wire.capture`)
and the two-host link (:mod:`sockviz.engine.lab.link`, which puts an Ethernet header in
front of each IP packet it carries) - and it does no I/O, so a test can hold it against
dpkt frame for frame. The headers themselves are declared in
:mod:`sockviz.engine.wire.headers`. Standard library only.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

from sockviz.engine.wire.headers import (
    ETHERNET,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    FLAG_BITS,
    FLAG_ORDER,
    ICMP,
    ICMP_ERRORS,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP,
    TCPOPT_NOP,
    TCPOPT_TIMESTAMP,
    TH_ACK,
    UDP,
    IPPacket,
    ipv4,
    ipv6,
    sack_blocks,
    tcp_options,
)

#: Bytes of a frame kept (for --pcap and the payload view): every header and a preview.
SNAPLEN = 384

#: The options of almost every segment after the handshake: two NOPs and a timestamp (its
#: ten bytes), read without walking them.
_NOP_NOP_TS = bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10))
_TS_ONLY: tuple[tuple[str, int | None], ...] = (("ts", None),)
#: The flags byte -> its flags' names in :data:`FLAG_ORDER` (worked out once, not per frame).
_FLAGS = tuple(
    tuple(name for name in FLAG_ORDER if bits & dict(FLAG_BITS)[name]) for bits in range(256)
)
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}


class Frame(NamedTuple):
    """One TCP segment or UDP datagram as it crossed the wire (a named tuple: a bulk
    transfer with ``--pcap`` makes hundreds of thousands)."""

    t: float
    """When the kernel handed it to the capture (wall-clock time, as a pcap keeps it)."""
    version: int
    """4 or 6."""
    src: tuple[str, int]
    dst: tuple[str, int]
    proto: str
    """``TCP`` or ``UDP``."""
    flags: tuple[str, ...]
    """TCP flags set (``SYN``, ``ACK`` ...); empty for UDP."""
    seq: int
    """TCP sequence number as sent (0 for UDP)."""
    ack: int
    """TCP acknowledgement number as sent (0 for UDP, or without ACK)."""
    window: int
    """The TCP window field as sent (before any window scaling)."""
    nbytes: int
    """Payload length."""
    options: tuple[tuple[str, int | None], ...]
    """TCP options: (``mss``, 65495), (``wscale``, 7), (``sack_ok``, None), (``ts``, None)."""
    raw: bytes
    """The frame, at most :data:`SNAPLEN` bytes of it (for a pcap file)."""
    length: int
    """The frame's whole length."""
    link: str | None = None
    """On a two-host run's link: what the link did with it (``crossed``, ``dropped``,
    ``lost``, ``held``); None on loopback."""
    arrives: float | None = None
    """On a link: when it reaches the other host (wall-clock time; None: it does not, yet)."""
    packet: int = 0
    """On a link: the link's number for it (its order on the link, from 1)."""
    sack: tuple[tuple[int, int], ...] = ()
    """The SACK blocks it carried, (left, right) edges as sent; empty when none."""


_IPS: dict[bytes, str] = {}


def ip_text(version: int, packed: bytes) -> str:
    """An address as text, worked out once for each (a run sees a handful)."""
    text = _IPS.get(packed)
    if text is None:
        if len(_IPS) > 4096:
            _IPS.clear()
        text = _IPS[packed] = socket.inet_ntop(_FAMILY[version], packed)
    return text


def parse(frame: bytes, t: float = 0.0, length: int | None = None) -> Frame | None:
    """The TCP segment or UDP datagram in an Ethernet-framed frame; None for anything else
    (or a frame too short to be one). ``length``: the frame's whole length, when ``frame``
    is only its first bytes (payload lengths come from the IP header)."""
    whole = len(frame) if length is None else length
    ether = ETHERNET.read(frame)
    if ether is None or len(frame) < ETHERNET.size + 20:
        return None
    if ether.type == ETHERTYPE_IPV4:
        ip = ipv4(frame, ETHERNET.size)
    elif ether.type == ETHERTYPE_IPV6:
        ip = ipv6(frame, ETHERNET.size)
    else:
        return None
    if ip is None:
        return None
    offset, end = ip.start, min(ip.end, whole)
    src, dst = ip_text(ip.version, ip.src), ip_text(ip.version, ip.dst)
    if ip.protocol == IPPROTO_TCP and end >= offset + TCP.size:
        tcp = TCP.read(frame, offset)
        if tcp is None:
            return None
        header = tcp.header_length
        raw = frame[offset + TCP.size : min(offset + header, len(frame))]
        options = _TS_ONLY if raw[:4] == _NOP_NOP_TS and len(raw) == 12 else tcp_options(raw)
        return Frame(
            t,
            ip.version,
            (src, tcp.sport),
            (dst, tcp.dport),
            "TCP",
            _FLAGS[tcp.flags],
            tcp.seq,
            tcp.ack if tcp.flags & TH_ACK else 0,
            tcp.window,
            max(0, end - offset - header),
            options,
            bytes(frame[:SNAPLEN]),
            whole,
            sack=sack_blocks(raw) if ("sack", None) in options else (),
        )
    if ip.protocol in (IPPROTO_ICMP, IPPROTO_ICMPV6) and end >= offset + ICMP.size:
        return _icmp(frame, ip, t, whole)
    if ip.protocol == IPPROTO_UDP and end >= offset + UDP.size:
        udp = UDP.read(frame, offset)
        if udp is None:
            return None
        return Frame(
            t,
            ip.version,
            (src, udp.sport),
            (dst, udp.dport),
            "UDP",
            (),
            0,
            0,
            0,
            max(0, udp.length - UDP.size),
            (),
            bytes(frame[:SNAPLEN]),
            whole,
        )
    return None


def _icmp(frame: bytes, ip: IPPacket, t: float, whole: int) -> Frame | None:
    """An ICMP error about a UDP or TCP packet: a Frame from the address and port the
    packet was sent to (where it could not go) to the one it came from, its kind in
    ``flags`` (:data:`~sockviz.engine.wire.headers.ICMP_ERRORS`), and for "fragmentation
    needed" or "packet too big" the next hop's MTU as the ``mtu`` option. None for any
    other ICMP (an echo, neighbour discovery) or an error whose packet is not one."""
    icmp = ICMP.read(frame, ip.start)
    if icmp is None:
        return None
    kind = ICMP_ERRORS.get((ip.version, icmp.type, icmp.code))
    if kind is None:
        return None
    inner_at = ip.start + ICMP.size
    inner = ipv4(frame, inner_at) if ip.version == 4 else ipv6(frame, inner_at)
    if inner is None or inner.protocol not in (IPPROTO_TCP, IPPROTO_UDP):
        return None
    ports = UDP.read(frame, inner.start)  # (TCP's first 4 bytes are its ports too)
    if ports is None:
        return None
    mtu = icmp.rest & 0xFFFF if ip.version == 4 else icmp.rest
    return Frame(
        t,
        ip.version,
        (ip_text(ip.version, ip.src), ports.dport),  # (who answered: the host, or a router)
        (ip_text(ip.version, inner.src), ports.sport),
        "ICMP",
        (kind,),
        0,
        0,
        0,
        0,
        (("mtu", mtu),) if kind in ("frag-needed", "too-big") else (),
        bytes(frame[:SNAPLEN]),
        whole,
    )
