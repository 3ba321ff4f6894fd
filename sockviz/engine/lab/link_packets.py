"""What the link reads in an IP packet it carries (:mod:`sockviz.engine.lab.link`): its kind for
the faults, its connection, its two ends, and - for seeded random loss - which segment it
is, so that the decision, lost or not, belongs to the segment and not to its place in the
run.

Why by segment: under load a kernel sends more (a retransmission, an ACK not delayed),
and a decision drawn from a running count of packets would shift every later one; drawn
from the segment itself - its direction, flags, sequence number (from its side's first,
as Wireshark numbers it), length, and how many times that very segment was seen - the same
seed loses the same segments in every run the kernels send them in. Standard library only.
"""

from __future__ import annotations

import hashlib

from sockviz.engine.wire.frame_parser import ip_text
from sockviz.engine.wire.headers import (
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP,
    TH_ACK,
    TH_FIN,
    TH_SYN,
    IPPacket,
    TCPFields,
    ip_packet,
)

#: A TCP connection, the same both ways: its two ends (address and port, packed), in order.
Flow = tuple[bytes, ...]
#: What makes a packet the same one again (:meth:`Seen.identity`): the seed's input.
Identity = tuple[object, ...]


def _tcp(packet: bytes) -> tuple[IPPacket, TCPFields] | None:
    """The IP and TCP headers of a TCP packet; None for anything else."""
    ip = ip_packet(packet)
    if ip is None or ip.protocol != IPPROTO_TCP:
        return None
    tcp = TCP.read(packet, ip.start)
    return None if tcp is None else (ip, tcp)


def kind_of(packet: bytes) -> str | None:
    """What a packet is for the faults: ``syn``, ``syn-ack``, ``fin``, ``data``, ``ack``
    (TCP over IPv4 or IPv6), or None for anything else (neighbour discovery ...)."""
    headers = _tcp(packet)
    if headers is None:
        return None
    ip, tcp = headers
    if tcp.flags & TH_SYN:
        return "syn-ack" if tcp.flags & TH_ACK else "syn"
    if tcp.flags & TH_FIN:
        return "fin"
    return "data" if ip.end - ip.start - tcp.header_length > 0 else "ack"


def flow_of(packet: bytes) -> Flow | None:
    """A TCP packet's connection, the same both ways (its two addresses and ports, in
    order), or None for anything else."""
    headers = _tcp(packet)
    if headers is None:
        return None
    ip, tcp = headers
    ends = (ip.src + tcp.sport.to_bytes(2, "big"), ip.dst + tcp.dport.to_bytes(2, "big"))
    return tuple(sorted(ends))


def ends_of(packet: bytes) -> tuple[str, str] | None:
    """A TCP packet's sender and receiver as the wire names them (``10.217.0.2:58038``,
    ``[fd00::2]:58038``), or None for anything else."""
    headers = _tcp(packet)
    if headers is None:
        return None
    ip, tcp = headers
    src, dst = ip_text(ip.version, ip.src), ip_text(ip.version, ip.dst)
    if ip.version == 6:
        src, dst = f"[{src}]", f"[{dst}]"
    return f"{src}:{tcp.sport}", f"{dst}:{tcp.dport}"


class Seen:
    """Seeded random loss, decided per segment (see the module docstring)."""

    def __init__(self, seed: int, share: float) -> None:
        self.seed, self.share = seed, share
        self._times: dict[Identity, int] = {}
        self._first: dict[tuple[Flow | None, str], int] = {}
        """(connection, side) -> the sequence number of its SYN (relative numbers start
        there)."""

    def lost(self, side: str, packet: bytes, flow: Flow | None) -> bool:
        """Whether the link loses ``packet`` (sent by ``side``): the seed's decision for
        this segment's ``n``-th sending, the same in every run."""
        key = self.identity(side, packet, flow)
        times = self._times[key] = self._times.get(key, 0) + 1
        digest = hashlib.blake2b(repr((self.seed, key, times)).encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2.0**64 < self.share

    def identity(self, side: str, packet: bytes, flow: Flow | None) -> Identity:
        """What makes a packet the same one again: for TCP (side, flags, relative sequence
        number, payload length); for UDP (side, payload); else (side, the bytes after the
        IP header)."""
        ip = ip_packet(packet)
        if ip is None:
            return (side, "raw", packet)
        if ip.protocol == IPPROTO_TCP:
            tcp = TCP.read(packet, ip.start)
            if tcp is not None:
                if tcp.flags & TH_SYN:
                    self._first[(flow, side)] = tcp.seq
                relative = (tcp.seq - self._first.get((flow, side), 0)) % 2**32
                length = ip.end - ip.start - tcp.header_length
                return (side, "tcp", tcp.flags, relative, length)
        if ip.protocol == IPPROTO_UDP:
            return (side, "udp", packet[ip.start + 8 : ip.end])
        return (side, ip.protocol, packet[ip.start : ip.end])
