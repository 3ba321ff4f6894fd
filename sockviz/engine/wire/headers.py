"""The headers a loopback frame or a link's packet carries, declared once: Ethernet, IPv4,
IPv6, TCP and UDP, each as its fields in order with their ``struct`` formats (as dpkt's
``__hdr__`` tuples declare them), and the numbers that mean something in them - ethertypes,
protocol numbers, TCP flag bits and option kinds - by name.

Why a module of its own: reading a header is pure (bytes in, numbers out), and two readers
need it - the capture (:mod:`sockviz.engine.wire.frame_parser`, frames off a packet socket)
and the two-host link (:mod:`sockviz.engine.lab.link_packets`, IP packets off a TUN device).
Neither should carry offsets of its own; nothing here does I/O. Standard library only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Generic, NamedTuple, TypeVar

#: Ethertypes (the Ethernet header's type field).
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD

#: IP protocol numbers (IPv4's protocol field, IPv6's next header).
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58

#: The ICMP errors sockviz names, by (version, type, code): each about a packet it carries
#: the start of (the IP header and the first 8 bytes: a UDP or TCP header's ports).
ICMP_ERRORS = {
    (4, 3, 0): "net-unreachable",
    (4, 3, 1): "host-unreachable",
    (4, 3, 3): "port-unreachable",
    (4, 3, 4): "frag-needed",
    (4, 11, 0): "ttl-exceeded",
    (6, 1, 0): "no-route",
    (6, 1, 3): "host-unreachable",
    (6, 1, 4): "port-unreachable",
    (6, 2, 0): "too-big",
    (6, 3, 0): "ttl-exceeded",
}

#: TCP flag bits (the flags byte of the TCP header).
TH_FIN = 0x01
TH_SYN = 0x02
TH_RST = 0x04
TH_PUSH = 0x08
TH_ACK = 0x10
TH_URG = 0x20
TH_ECE = 0x40
TH_CWR = 0x80
#: Each flag's name (as tcpdump and Wireshark write it) and its bit.
FLAG_BITS = (
    ("FIN", TH_FIN),
    ("SYN", TH_SYN),
    ("RST", TH_RST),
    ("PSH", TH_PUSH),
    ("ACK", TH_ACK),
    ("URG", TH_URG),
    ("ECE", TH_ECE),
    ("CWR", TH_CWR),
)
#: The order flags are written in, as tcpdump and Wireshark readers expect: SYN,ACK not ACK,SYN.
FLAG_ORDER = ("SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")

#: TCP option kinds (RFC 9293, 7323, 2018).
TCPOPT_EOL = 0
TCPOPT_NOP = 1
TCPOPT_MSS = 2
TCPOPT_WSCALE = 3
TCPOPT_SACK_OK = 4
TCPOPT_SACK = 5
TCPOPT_TIMESTAMP = 8

H = TypeVar("H", bound=tuple[object, ...])
_NEW_TUPLE = tuple.__new__


class Header(Generic[H]):
    """A header's declaration: its fields (a named tuple's, in order) and one ``struct``
    format for each, in network byte order. Compiled once; :meth:`read` is one
    ``unpack_from``, as a run with ``--pcap`` reads hundreds of thousands of them."""

    def __init__(self, fields: type[H], formats: tuple[str, ...]) -> None:
        names: tuple[str, ...] = getattr(fields, "_fields")  # noqa: B009 - (a NamedTuple's)
        if len(names) != len(formats):
            raise TypeError(f"{fields.__name__}: {len(names)} fields, {len(formats)} formats")
        self.fields = fields
        self.table = tuple(zip(names, formats, strict=True))
        """(name, struct format) of each field, in the order they are on the wire."""
        self.struct = struct.Struct("!" + "".join(formats))
        self.size = self.struct.size
        """The header's length in bytes (without options)."""

    def read(self, data: bytes, offset: int = 0) -> H | None:
        """The header at ``offset`` in ``data``, or None when ``data`` is too short for it."""
        if len(data) < offset + self.size:
            return None
        # (the named tuple made from the values as they are: a third of the time of a call)
        return _NEW_TUPLE(self.fields, self.struct.unpack_from(data, offset))

    def pack(self, header: H) -> bytes:
        """``header`` as it goes on the wire."""
        return self.struct.pack(*header)


class EthernetFields(NamedTuple):
    """An Ethernet II header (loopback's frames carry one, with zero addresses)."""

    dst: bytes
    src: bytes
    type: int
    """The ethertype: :data:`ETHERTYPE_IPV4` or :data:`ETHERTYPE_IPV6` for ours."""


class IPv4Fields(NamedTuple):
    """An IPv4 header's fixed 20 bytes (RFC 791)."""

    version_ihl: int
    """The version (4) in the high nibble, the header's length in 32-bit words in the low."""
    tos: int
    length: int
    """The packet's whole length, header included."""
    id: int
    fragment: int
    ttl: int
    protocol: int
    checksum: int
    src: bytes
    dst: bytes

    @property
    def version(self) -> int:
        return self.version_ihl >> 4

    @property
    def header_length(self) -> int:
        """In bytes, options included."""
        return (self.version_ihl & 0x0F) * 4


class IPv6Fields(NamedTuple):
    """An IPv6 header (RFC 8200; a loopback TCP or UDP packet has no extension headers)."""

    version_class_flow: int
    """The version (6) in the high 4 bits, then the traffic class and the flow label."""
    payload_length: int
    """The packet's length after this header."""
    next_header: int
    hop_limit: int
    src: bytes
    dst: bytes

    @property
    def version(self) -> int:
        return self.version_class_flow >> 28


class TCPFields(NamedTuple):
    """A TCP header's fixed 20 bytes (RFC 9293)."""

    sport: int
    dport: int
    seq: int
    ack: int
    offset: int
    """The header's length in 32-bit words in the high nibble (options included)."""
    flags: int
    """The flag bits: :data:`TH_SYN`, :data:`TH_ACK` ..."""
    window: int
    """As sent, before any window scaling."""
    checksum: int
    urgent: int

    @property
    def header_length(self) -> int:
        """In bytes, options included."""
        return (self.offset >> 4) * 4


class UDPFields(NamedTuple):
    """A UDP header (RFC 768)."""

    sport: int
    dport: int
    length: int
    """The datagram's length, this header's 8 bytes included."""
    checksum: int


class ICMPFields(NamedTuple):
    """An ICMP or ICMPv6 error's header (RFC 792, 4443): what it says, and the word after
    it (for "fragmentation needed" and "packet too big": the MTU the next hop takes)."""

    type: int
    code: int
    checksum: int
    rest: int


ETHERNET = Header(EthernetFields, ("6s", "6s", "H"))
IPV4 = Header(IPv4Fields, ("B", "B", "H", "H", "H", "B", "B", "H", "4s", "4s"))
IPV6 = Header(IPv6Fields, ("I", "H", "B", "B", "16s", "16s"))
TCP = Header(TCPFields, ("H", "H", "I", "I", "B", "B", "H", "H", "H"))
UDP = Header(UDPFields, ("H", "H", "H", "H"))
ICMP = Header(ICMPFields, ("B", "B", "H", "I"))
_MSS = struct.Struct("!H")


class IPPacket(NamedTuple):
    """What an IP header of either version says about the packet it starts."""

    version: int
    """4 or 6."""
    protocol: int
    """What follows: :data:`IPPROTO_TCP`, :data:`IPPROTO_UDP` ..."""
    start: int
    """Where the TCP or UDP header starts in the bytes read."""
    end: int
    """Where the packet ends by its header's word (the bytes read may stop sooner)."""
    src: bytes
    dst: bytes


def ipv4(data: bytes, offset: int = 0) -> IPPacket | None:
    """The IPv4 packet at ``offset``; None when there is none (another version, too short)."""
    ip = IPV4.read(data, offset)
    if ip is None or ip.version != 4:
        return None
    return IPPacket(4, ip.protocol, offset + ip.header_length, offset + ip.length, ip.src, ip.dst)


def ipv6(data: bytes, offset: int = 0) -> IPPacket | None:
    """The IPv6 packet at ``offset`` (its version taken on the ethertype's word: loopback's
    frames say it there); None when ``data`` is too short for its header."""
    ip = IPV6.read(data, offset)
    if ip is None:
        return None
    start = offset + IPV6.size
    return IPPacket(6, ip.next_header, start, start + ip.payload_length, ip.src, ip.dst)


def ip_packet(data: bytes) -> IPPacket | None:
    """The IP packet ``data`` is (from a TUN device: no Ethernet header, the version in its
    first nibble); None for anything else."""
    if not data:
        return None
    version = data[0] >> 4
    if version == 4:
        return ipv4(data)
    if version == 6:
        return ipv6(data)
    return None


def _option_fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Each TCP option in ``data`` as (kind, body), NOPs skipped; stops at the end of the
    options or at the first one that does not fit."""
    i = 0
    while i < len(data):
        kind = data[i]
        if kind == TCPOPT_EOL:
            return
        if kind == TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= len(data):
            return
        size = data[i + 1]
        if size < 2 or i + size > len(data):
            return
        yield kind, data[i + 2 : i + size]
        i += size


def tcp_options(data: bytes) -> tuple[tuple[str, int | None], ...]:
    """The TCP options a learner meets, by name: (``mss``, 65495), (``wscale``, 7),
    (``sack_ok``, None), (``ts``, None), (``sack``, None); others left out. Stops at the end
    of the options or at the first one that does not fit."""
    out: list[tuple[str, int | None]] = []
    for kind, body in _option_fields(data):
        if kind == TCPOPT_MSS and len(body) == 2:
            out.append(("mss", _MSS.unpack(body)[0]))
        elif kind == TCPOPT_WSCALE and len(body) == 1:
            out.append(("wscale", body[0]))
        elif kind == TCPOPT_SACK_OK:
            out.append(("sack_ok", None))
        elif kind == TCPOPT_TIMESTAMP:
            out.append(("ts", None))
        elif kind == TCPOPT_SACK:
            out.append(("sack", None))
    return tuple(out)


_EDGES = struct.Struct("!II")


def sack_blocks(data: bytes) -> tuple[tuple[int, int], ...]:
    """The SACK option's blocks in TCP options ``data``: each (left, right) edge as sent
    (absolute sequence numbers); empty when there is no SACK option, or it does not fit."""
    for kind, body in _option_fields(data):
        if kind == TCPOPT_SACK:
            return tuple(
                _EDGES.unpack_from(body, at) for at in range(0, len(body) - 7, _EDGES.size)
            )
    return ()
