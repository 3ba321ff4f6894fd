"""The wire: the TCP segments and UDP datagrams a run's sockets really put on loopback.

A :class:`Capture` is a packet socket (``AF_PACKET``, ``SOCK_RAW``) bound to ``lo``. Loopback
hands a packet socket every frame twice - once going out, once coming in - so a classic BPF
filter, attached before the socket is bound, keeps only the outgoing copy of IPv4 and IPv6
TCP and UDP, and nothing else wakes it. Frames are read from a memory-mapped ring without
blocking, and handed to the parser (:func:`~sockviz.engine.wire.frame_parser.parse`).

What a frame *means* in a run - which socket sent it, to which, its sequence numbers relative
to each side's first - is :mod:`sockviz.engine.wire.segments`'s work. This module only captures:
the headers are read in :mod:`~sockviz.engine.wire.frame_parser`, the pcap file is written by
:mod:`~sockviz.engine.wire.pcap_file`. Opening a capture needs ``CAP_NET_RAW`` in the network
namespace it watches: as root on the host's loopback, or as anyone inside a namespace of its
own (:mod:`sockviz.engine.lab.namespaces`); :class:`WireUnavailable` says why when it cannot.

Standard library only.
"""

from __future__ import annotations

import mmap
import socket
import struct

from sockviz.engine.wire import bpf_filters as bpf
from sockviz.engine.wire.frame_parser import SNAPLEN, Frame, parse

# (re-exported: the engine process and the headless run write --pcap through this name)
from sockviz.engine.wire.pcap_file import write_pcap as write_pcap

ETH_P_ALL = 0x0003
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

#: The capture ring: frames of FRAME_SIZE bytes (the kernel's header, the address, a frame
#: of SNAPLEN), RING_FRAMES of them (8 MiB), in blocks of RING_BLOCK.
FRAME_SIZE, RING_FRAMES, RING_BLOCK = 512, 16384, 1 << 16


class WireUnavailable(Exception):
    """The wire cannot be watched here; the message says why, in one line."""


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
            raise WireUnavailable(
                "watching the wire needs CAP_NET_RAW (root, or a network "
                "namespace of sockviz's own)"
            ) from None
        except OSError as exc:
            raise WireUnavailable(f"no packet socket here: {exc.strerror or exc}") from None
        try:
            _attach(sock, bpf.capture(SNAPLEN))
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            sock.setsockopt(
                SOL_PACKET,
                PACKET_RX_RING,
                struct.pack(
                    "IIII",
                    RING_BLOCK,
                    RING_FRAMES * FRAME_SIZE // RING_BLOCK,
                    FRAME_SIZE,
                    RING_FRAMES,
                ),
            )
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
            data = ring[base + mac : base + mac + min(snaplen, size - mac)]
            ring[base : base + 4] = _KERNEL_OWNS  # (the frame back to the kernel)
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

    def undelivered(self) -> dict[tuple[str, str], int]:
        """None: loopback delivers every frame."""
        return {}

    def samples(self) -> dict[tuple[str, str], list[tuple[Frame, bool]]]:
        """None: while it counts, no frame of a loopback transfer is read (the kernel counts
        them, tens of thousands a second), so none is kept for a graph."""
        return {}

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
    a packet socket whose filter (:func:`~sockviz.engine.wire.bpf_filters.one_way`) accepts
    just those, that is never read. Its receive buffer holds one; the kernel counts every one it
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
        packets, _drops = struct.unpack(
            "II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        )
        self._total += packets  # (each report starts the kernel's count afresh)
        return self._total

    def close(self) -> None:
        self.sock.close()


def _attach(sock: socket.socket, program: bytes) -> None:
    """Attach a classic BPF ``program`` to ``sock`` (the kernel copies it)."""
    code = bytearray(program)
    sock.setsockopt(
        socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(code) // 8, _address_of(code))
    )


def _address_of(buffer: bytearray) -> int:
    """The address of ``buffer`` in memory, for the ``sock_fprog`` the kernel reads once."""
    import ctypes  # (here: ctypes only when a filter goes on, not for WireUnavailable's importers)

    return ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))
