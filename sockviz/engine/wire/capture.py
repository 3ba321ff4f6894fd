"""The wire: the TCP segments and UDP datagrams a run's sockets really put on loopback.

A :class:`Capture` is a packet socket (``AF_PACKET``, ``SOCK_RAW``) bound to ``lo``. Loopback
hands a packet socket every frame twice - once going out, once coming in - so a classic BPF
filter, attached before the socket is bound, keeps only the outgoing copy of IPv4 and IPv6
TCP and UDP, and nothing else wakes it. Frames are read without blocking and parsed with
``struct`` (:func:`parse`): the fixed IP and TCP/UDP headers, and the TCP options a learner
meets in a handshake (MSS, window scale, SACK permitted, timestamps).

What a frame *means* in a run - which socket sent it, to which, its sequence numbers relative
to each side's first - is :mod:`sockviz.engine.wire.segments`'s work. This module only captures
and parses. Opening a capture needs ``CAP_NET_RAW`` in the network namespace it watches: as
root on the host's loopback, or as anyone inside a namespace of its own
(:mod:`sockviz.engine.lab.namespaces`); :class:`WireUnavailable` says why when it cannot.

Standard library only.
"""

from __future__ import annotations

import mmap
import socket
import struct
from typing import NamedTuple

from sockviz.engine.wire import bpf_filters as bpf
ETH_P_ALL = 0x0003
ETH_HEADER = 14
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
_NO_SUCH_PROTOCOL = 0x88B5  # (IEEE's ethertype for local experiments: never on loopback)
SOL_PACKET = 263
PACKET_RX_RING, PACKET_STATISTICS, PACKET_VERSION, TPACKET_V2 = 5, 6, 10, 1
TP_STATUS_USER = 1
_KERNEL_OWNS = bytes(4)  # TP_STATUS_KERNEL
#: struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec (then vlan and padding);
#: the sockaddr_ll after it (at 32) has the frame's direction 10 bytes in.
_TPACKET2_HDR = struct.Struct("IIIHHII")
_PKTTYPE_AT = 32 + 10

_TCP, _UDP = 6, 17
_FLAG_NAMES = (("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10),
               ("URG", 0x20), ("ECE", 0x40), ("CWR", 0x80))
#: The order flags are written in, as tcpdump and Wireshark readers expect: SYN,ACK not ACK,SYN.
FLAG_ORDER = ("SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
#: The options of almost every segment after the handshake: two NOPs and a timestamp.
_NOP_NOP_TS, _TS_ONLY = b"\x01\x01\x08\x0a", (("ts", None),)
#: The flags byte -> its flags' names in :data:`FLAG_ORDER` (worked out once, not per frame).
_FLAGS = tuple(
    tuple(name for name in FLAG_ORDER if bits & dict(_FLAG_NAMES)[name]) for bits in range(256)
)

#: Bytes of a frame kept (for --pcap and the payload view): every header and a preview.
SNAPLEN = 384
#: The capture ring: frames of FRAME_SIZE bytes (the kernel's header, the address, a frame
#: of SNAPLEN), RING_FRAMES of them (8 MiB), in blocks of RING_BLOCK.
FRAME_SIZE, RING_FRAMES, RING_BLOCK = 512, 16384, 1 << 16


class WireUnavailable(Exception):
    """The wire cannot be watched here; the message says why, in one line."""


class Frame(NamedTuple):
    """One TCP segment or UDP datagram as it crossed loopback (a named tuple: a bulk
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


def _options(data: bytes) -> tuple[tuple[str, int | None], ...]:
    out: list[tuple[str, int | None]] = []
    i = 0
    while i < len(data):
        kind = data[i]
        if kind == 0:  # end of options
            break
        if kind == 1:  # no-op
            i += 1
            continue
        if i + 1 >= len(data):
            break
        size = data[i + 1]
        if size < 2 or i + size > len(data):
            break
        body = data[i + 2: i + size]
        if kind == 2 and len(body) == 2:
            out.append(("mss", struct.unpack("!H", body)[0]))
        elif kind == 3 and len(body) == 1:
            out.append(("wscale", body[0]))
        elif kind == 4:
            out.append(("sack_ok", None))
        elif kind == 8:
            out.append(("ts", None))
        elif kind == 5:
            out.append(("sack", None))
        i += size
    return tuple(out)


_IPS: dict[bytes, str] = {}


def _ip(family: int, packed: bytes) -> str:
    """An address as text, worked out once for each (a run sees a handful)."""
    text = _IPS.get(packed)
    if text is None:
        if len(_IPS) > 4096:
            _IPS.clear()
        text = _IPS[packed] = socket.inet_ntop(family, packed)
    return text


def parse(frame: bytes, t: float = 0.0, length: int | None = None) -> Frame | None:
    """The TCP segment or UDP datagram in an Ethernet-framed loopback frame; None for
    anything else (or a frame too short to be one). ``length``: the frame's whole length,
    when ``frame`` is only its first bytes (payload lengths come from the IP header)."""
    whole = len(frame) if length is None else length
    if len(frame) < ETH_HEADER + 20:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    offset = ETH_HEADER
    if ethertype == 0x0800:
        first = frame[offset]
        if first >> 4 != 4:
            return None
        header = (first & 0x0F) * 4
        total = struct.unpack_from("!H", frame, offset + 2)[0]
        proto = frame[offset + 9]
        src_ip = _ip(socket.AF_INET, frame[offset + 12: offset + 16])
        dst_ip = _ip(socket.AF_INET, frame[offset + 16: offset + 20])
        version, end = 4, offset + total
        offset += header
    elif ethertype == 0x86DD:
        if len(frame) < offset + 40:
            return None
        payload = struct.unpack_from("!H", frame, offset + 4)[0]
        proto = frame[offset + 6]  # (no extension headers on a loopback TCP/UDP packet)
        src_ip = _ip(socket.AF_INET6, frame[offset + 8: offset + 24])
        dst_ip = _ip(socket.AF_INET6, frame[offset + 24: offset + 40])
        version, end = 6, offset + 40 + payload
        offset += 40
    else:
        return None
    end = min(end, whole)
    if proto == _TCP and end >= offset + 20 and len(frame) >= offset + 20:
        sport, dport, seq, ack, off_flags, window = struct.unpack_from("!HHIIHH", frame, offset)
        header = (off_flags >> 12) * 4
        flags = _FLAGS[off_flags & 0xFF]
        raw = frame[offset + 20: min(offset + header, len(frame))]
        options = _TS_ONLY if raw[:4] == _NOP_NOP_TS and len(raw) == 12 else _options(raw)
        nbytes = max(0, end - offset - header)
        return Frame(t, version, (src_ip, sport), (dst_ip, dport), "TCP", flags, seq,
                     ack if off_flags & 0x10 else 0, window, nbytes, options,
                     bytes(frame[:SNAPLEN]), whole)
    if proto == _UDP and end >= offset + 8 and len(frame) >= offset + 8:
        sport, dport, length = struct.unpack_from("!HHH", frame, offset)
        return Frame(t, version, (src_ip, sport), (dst_ip, dport), "UDP", (), 0, 0, 0,
                     max(0, length - 8), (), bytes(frame[:SNAPLEN]), whole)
    return None


class Capture:
    """A packet socket on loopback, reading the run's segments. See the module docstring.

    Frames come through a ring the kernel writes into and this reads from memory
    (``PACKET_RX_RING``, ``TPACKET_V2``): :data:`RING_FRAMES` of them wait there without a
    system call each and without the socket's receive-buffer limit - a bulk transfer's
    thousands of 64 KiB segments would overflow that in a millisecond. Each frame keeps its
    first :data:`SNAPLEN` bytes (every header, and a preview of the payload) and the kernel's
    timestamp.
    """

    def __init__(self, interface: str = "lo") -> None:
        if not hasattr(socket, "AF_PACKET"):
            raise WireUnavailable("this system has no packet sockets (Linux only)")
        try:
            # (no protocol yet: frames start at bind - binding a socket that already took
            # frames makes the kernel wait for every CPU to let go of it, ~10 ms)
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            raise WireUnavailable("watching the wire needs CAP_NET_RAW (root, or a network "
                                  "namespace of sockviz's own)") from None
        except OSError as exc:
            raise WireUnavailable(f"no packet socket here: {exc.strerror or exc}") from None
        try:
            _attach(sock, bpf.capture(SNAPLEN))
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack(
                "IIII", RING_BLOCK, RING_FRAMES * FRAME_SIZE // RING_BLOCK, FRAME_SIZE,
                RING_FRAMES))
            ring = mmap.mmap(sock.fileno(), RING_FRAMES * FRAME_SIZE)
            sock.bind((interface, ETH_P_ALL))  # (Python turns it to network order here)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise WireUnavailable(f"cannot watch {interface}: {exc.strerror or exc}") from None
        self.sock, self._ring, self._next = sock, ring, 0
        self.interface = interface
        self._counters: dict[tuple[str, str], FrameCounter] = {}

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[Frame]:
        """Every frame waiting now, parsed (the ones that are not TCP/UDP left out)."""
        frames: list[Frame] = []
        ring = self._ring
        if ring.closed:
            return frames
        header, size = _TPACKET2_HDR, FRAME_SIZE
        while True:
            base = self._next * size
            status, length, snaplen, mac, _net, sec, nsec = header.unpack_from(ring, base)
            if not status & TP_STATUS_USER:
                break
            outgoing = ring[base + _PKTTYPE_AT] == PACKET_OUTGOING
            data = ring[base + mac: base + mac + min(snaplen, size - mac)]
            ring[base: base + 4] = _KERNEL_OWNS  # (the frame back to the kernel)
            self._next = (self._next + 1) % RING_FRAMES
            if not outgoing:
                continue  # (the filter keeps these out; a filter-less kernel would not)
            frame = parse(data, sec + nsec / 1e9, length)
            if frame is not None:
                frames.append(frame)
        return frames

    def watch_ports(self, ports: set[int]) -> None:
        """Take only frames from or to one of ``ports`` from now on (the run's own: other
        programs' loopback traffic stays in the kernel)."""
        _attach(self.sock, bpf.capture(SNAPLEN, ports))

    def pause(self, count: tuple[str, str] | None = None) -> None:
        """Take no frames until :meth:`resume` (a bulk transfer's are counted instead):
        the socket listens for a protocol loopback never carries, so the kernel stops
        handing it a copy of every frame. ``count``, a TCP connection's two addresses
        (``127.0.0.1:PORT``): its frames each way are counted meanwhile, by the kernel
        (:class:`FrameCounter`) - from before the capture stops, so none goes uncounted."""
        self._counters = {}
        if count is not None:
            ports = tuple(int(text.rpartition(":")[2]) for text in count)
            try:
                for ends, (src, dst) in ((count, ports), (count[::-1], ports[::-1])):
                    self._counters[ends] = FrameCounter(self.interface, src, dst)
            except OSError:
                self._close_counters()
        self.sock.bind((self.interface, _NO_SUCH_PROTOCOL))

    def resume(self) -> dict[tuple[str, str], int]:
        """Take every frame again. The frames counted each way since :meth:`pause`,
        (from, to) -> count, read after the capture has started again (those it takes
        meanwhile are in both: their time says so); empty when none were counted."""
        self.sock.bind((self.interface, ETH_P_ALL))
        try:
            return {ends: counter.read() for ends, counter in self._counters.items()}
        except OSError:
            return {}
        finally:
            self._close_counters()

    def _close_counters(self) -> None:
        for counter in self._counters.values():
            counter.close()
        self._counters = {}

    def close(self) -> None:
        self._close_counters()
        try:
            self._ring.close()
        except BufferError:  # (a view of it still alive: the socket's close frees it)
            pass
        self.sock.close()


class FrameCounter:
    """The frames one way of one TCP connection crosses loopback, counted by the kernel:
    a packet socket whose filter (:func:`~sockviz.engine.wire.bpf_filters.one_way`) accepts just those,
    that is never read. Its receive buffer holds one; the kernel counts every one it
    accepts, kept or dropped for want of room (``PACKET_STATISTICS``) - nothing is copied,
    nothing wakes a thread. What tcpdump shows, frame for frame: a loopback frame can carry
    several segments' worth (GSO), which the kernel's own counts (``tcpi_segs_out``) count
    as several."""

    def __init__(self, interface: str, source: int, destination: int) -> None:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            _attach(sock, bpf.one_way(source, destination))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # (the least there is)
            sock.bind((interface, ETH_P_ALL))
        except OSError:
            sock.close()
            raise
        self.sock, self._total = sock, 0

    def read(self) -> int:
        """The frames counted so far (the kernel reports the ones it dropped among them)."""
        packets, _drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET,
                                                                  PACKET_STATISTICS, 8))
        self._total += packets  # (each report starts the kernel's count afresh)
        return self._total

    def close(self) -> None:
        self.sock.close()


def _attach(sock: socket.socket, program: bytes) -> None:
    """Attach a classic BPF ``program`` to ``sock`` (the kernel copies it)."""
    code = bytearray(program)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                    struct.pack("HL", len(code) // 8, _address_of(code)))


def _address_of(buffer: bytearray) -> int:
    """The address of ``buffer`` in memory, for the ``sock_fprog`` the kernel reads once."""
    import ctypes

    return ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))


def write_pcap(out, frames: list[Frame]) -> None:
    """The frames as a classic pcap file (what tcpdump and Wireshark open): Ethernet
    link type, each frame with its real time, at most :data:`SNAPLEN` bytes of it."""
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))
    for frame in frames:
        seconds = int(frame.t)
        micros = round((frame.t - seconds) * 1_000_000)
        if micros == 1_000_000:
            seconds, micros = seconds + 1, 0
        out.write(struct.pack("<IIII", seconds, micros, len(frame.raw), frame.length))
        out.write(frame.raw)
