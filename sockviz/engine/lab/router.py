"""A router on the link whose next hop takes smaller packets than the hosts send: the ICMP
error it answers a packet too big with - what path MTU discovery learns from.

Why apart from :mod:`sockviz.engine.lab.link`: it is one packet built by hand, as RFC 792 and
RFC 4443 lay it out (IPv4's "fragmentation needed and DF set", IPv6's "packet too big"),
with their checksums. The router has an address of its own on the hosts' subnet
(:data:`ROUTER_IP`, :data:`ROUTER_IP6`): the error comes from it, as it would from a router
between them. Standard library only.
"""

from __future__ import annotations

import socket
import struct

#: The router's addresses: on the hosts' /24 and /64, neither host's.
ROUTER_IP, ROUTER_IP6 = "10.217.0.254", "fd17:217::fe"

#: IPv4's "don't fragment" bit (in the flags and fragment offset word).
_DF = 0x4000
#: How much of the packet an ICMP error carries back: IPv4 at least its header and 8 bytes
#: (RFC 792; Linux sends up to 576 bytes in all), IPv6 as much as fits in 1280 (RFC 4443).
_V4_ERROR_MAX, _V6_ERROR_MAX = 576, 1280


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def too_big(packet: bytes, mtu: int) -> bytes | None:
    """The ICMP error answering ``packet`` when the next hop takes at most ``mtu`` bytes, or
    None when the packet fits, may be fragmented (IPv4 without DF), or is not IP."""
    if len(packet) <= mtu or not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        if not struct.unpack_from("!H", packet, 6)[0] & _DF:
            return None
        return _v4(packet, mtu)
    if version == 6 and len(packet) >= 40:
        return _v6(packet, mtu)
    return None


def _v4(packet: bytes, mtu: int) -> bytes:
    quoted = packet[: _V4_ERROR_MAX - 28]
    icmp = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quoted
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    source = socket.inet_pton(socket.AF_INET, ROUTER_IP)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0, source, packet[12:16]
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + icmp


def _v6(packet: bytes, mtu: int) -> bytes:
    quoted = packet[: _V6_ERROR_MAX - 48]
    source = socket.inet_pton(socket.AF_INET6, ROUTER_IP6)
    target = packet[8:24]
    icmp = struct.pack("!BBHI", 2, 0, 0, mtu) + quoted
    pseudo = source + target + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + struct.pack("!H", checksum(pseudo + icmp)) + icmp[4:]
    header = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 64, source, target)
    return header + icmp
