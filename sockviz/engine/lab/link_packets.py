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

from sockviz.engine.wire.frame_parser import SNAPLEN, Frame, ip_text, parse
from sockviz.engine.wire.headers import (
    ETHERNET,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP,
    TCPOPT_NOP,
    TCPOPT_TIMESTAMP,
    TH_ACK,
    TH_FIN,
    TH_SYN,
    EthernetFields,
    IPPacket,
    TCPFields,
    ip_packet,
    sack_blocks,
)
from sockviz.engine.wire.point_sampler import Sampler

#: The options of almost every segment after the handshake (two NOPs, a timestamp): no SACK.
_NOP_NOP_TS = bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10))
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


def carries_data(packet: bytes) -> bool:
    """Whether ``packet`` is TCP or UDP: one of a run's own (not the neighbour discovery
    and multicast reports a host sends on its own)."""
    ip = ip_packet(packet)
    return ip is not None and ip.protocol in (IPPROTO_TCP, IPPROTO_UDP)


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
        number, payload length); for UDP (side, payload); for ICMP (side, type and code);
        else (side, the bytes after the IP header)."""
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
        if ip.protocol in (IPPROTO_ICMP, IPPROTO_ICMPV6):  # (an error: its type and code -
            return (side, "icmp", packet[ip.start : ip.start + 2])  # what it carries holds
            # an ephemeral port, different each run)
        return (side, ip.protocol, packet[ip.start : ip.end])


#: What a TUN frame gets in front to read as the loopback capture's Ethernet frames do
#: (no addresses, the IP version's ethertype), for the parser and for pcap files.
_ETHER = {
    version: ETHERNET.pack(EthernetFields(bytes(6), bytes(6), ethertype))
    for version, ethertype in ((4, ETHERTYPE_IPV4), (6, ETHERTYPE_IPV6))
}


def frame_of(packet: bytes, wall: float) -> Frame | None:
    """An IP packet the link carried, parsed as a capture would (stamped ``wall``)."""
    version = packet[0] >> 4 if packet else 0
    if version not in _ETHER:
        return None
    return parse(
        _ETHER[version] + packet[: SNAPLEN - ETHERNET.size], wall, len(packet) + ETHERNET.size
    )


class LinkSampler:
    """One direction of a transfer the link only counts: some of its packets, kept as they
    came and parsed only when asked for, each with whether it carried bytes sent before
    (judged against every packet, not only those kept) - a few header fields read a
    packet, so counting a transfer stays cheap."""

    __slots__ = ("_high", "sampler")

    def __init__(self) -> None:
        self.sampler: Sampler[tuple[bytes, float, bool]] = Sampler()
        self._high: int | None = None

    def add(self, packet: bytes, wall: float) -> None:
        headers = _tcp(packet)
        if headers is None:
            return
        ip, tcp = headers
        nbytes = ip.end - ip.start - tcp.header_length
        resent = False
        if nbytes > 0:
            end = (tcp.seq + nbytes) % (1 << 32)
            ahead = None if self._high is None else (end - self._high) % (1 << 32)
            if ahead is None or 0 < ahead < 1 << 31:
                self._high = end
            else:  # (it ends at or below the highest sent: RFC 1982's "not after")
                resent = True
        options = packet[ip.start + TCP.size : ip.start + tcp.header_length]
        plain = len(options) == 12 and options[:4] == _NOP_NOP_TS
        sacked = bool(options) and not plain and bool(sack_blocks(options))
        self.sampler.add((packet, wall, resent), resent or sacked or tcp.window == 0)

    def frames(self) -> list[tuple[Frame, bool]]:
        """The packets kept, parsed, each with whether it was sent again."""
        out = []
        for packet, wall, resent in self.sampler.items():
            frame = frame_of(packet, wall)
            if frame is not None:
                out.append((frame, resent))
        return out
