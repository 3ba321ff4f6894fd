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
import socket
import struct


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


def flow_of(packet: bytes) -> tuple | None:
    """A TCP packet's connection, the same both ways (its two addresses and ports, in
    order), or None for anything else."""
    if len(packet) >= 24 and packet[0] >> 4 == 4 and packet[9] == socket.IPPROTO_TCP:
        header = (packet[0] & 0x0F) * 4
        ends = (packet[12:16] + packet[header:header + 2],
                packet[16:20] + packet[header + 2:header + 4])
    elif len(packet) >= 44 and packet[0] >> 4 == 6 and packet[6] == socket.IPPROTO_TCP:
        ends = (packet[8:24] + packet[40:42], packet[24:40] + packet[42:44])
    else:
        return None
    return tuple(sorted(ends))


def ends_of(packet: bytes) -> tuple[str, str] | None:
    """A TCP packet's sender and receiver as the wire names them (``10.217.0.2:58038``,
    ``[fd00::2]:58038``), or None for anything else."""
    if len(packet) >= 24 and packet[0] >> 4 == 4 and packet[9] == socket.IPPROTO_TCP:
        header = (packet[0] & 0x0F) * 4
        if len(packet) < header + 4:
            return None
        src, dst = (socket.inet_ntop(socket.AF_INET, packet[12:16]),
                    socket.inet_ntop(socket.AF_INET, packet[16:20]))
        ports = struct.unpack_from("!HH", packet, header)
        return f"{src}:{ports[0]}", f"{dst}:{ports[1]}"
    if len(packet) >= 44 and packet[0] >> 4 == 6 and packet[6] == socket.IPPROTO_TCP:
        src, dst = (socket.inet_ntop(socket.AF_INET6, packet[8:24]),
                    socket.inet_ntop(socket.AF_INET6, packet[24:40]))
        ports = struct.unpack_from("!HH", packet, 40)
        return f"[{src}]:{ports[0]}", f"[{dst}]:{ports[1]}"
    return None


class Seen:
    """Seeded random loss, decided per segment (see the module docstring)."""

    def __init__(self, seed: int, share: float) -> None:
        self.seed, self.share = seed, share
        self._times: dict[tuple, int] = {}
        self._first: dict[tuple, int] = {}
        """(connection, side) -> the sequence number of its SYN (relative numbers start
        there)."""

    def lost(self, side: str, packet: bytes, flow: tuple | None) -> bool:
        """Whether the link loses ``packet`` (sent by ``side``): the seed's decision for
        this segment's ``n``-th sending, the same in every run."""
        key = self.identity(side, packet, flow)
        times = self._times[key] = self._times.get(key, 0) + 1
        digest = hashlib.blake2b(repr((self.seed, key, times)).encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2.0 ** 64 < self.share

    def identity(self, side: str, packet: bytes, flow: tuple | None) -> tuple:
        """What makes a packet the same one again: for TCP (side, flags, relative sequence
        number, payload length); for UDP (side, payload); else (side, the bytes after the
        IP header)."""
        version = packet[0] >> 4 if packet else 0
        if version == 4 and len(packet) >= 20:
            header, proto = (packet[0] & 0x0F) * 4, packet[9]
            total = struct.unpack_from("!H", packet, 2)[0]
        elif version == 6 and len(packet) >= 40:
            header, proto = 40, packet[6]
            total = 40 + struct.unpack_from("!H", packet, 4)[0]
        else:
            return (side, "raw", packet)
        if proto == socket.IPPROTO_TCP and len(packet) >= header + 14:
            seq = struct.unpack_from("!I", packet, header + 4)[0]
            flags = packet[header + 13]
            if flags & 0x02:
                self._first[(flow, side)] = seq
            relative = (seq - self._first.get((flow, side), 0)) % 2 ** 32
            length = total - header - (packet[header + 12] >> 4) * 4
            return (side, "tcp", flags, relative, length)
        if proto == socket.IPPROTO_UDP:
            return (side, "udp", packet[header + 8:total])
        return (side, proto, packet[header:total])
