"""From captured frames to the run's own segments: who sent each, to whom, and its numbers.

:class:`SegmentReader` reads a :class:`~sockviz.engine.wire.capture.Capture` and turns each
frame that one of the run's sockets sent or got into a :class:`~sockviz.engine.events.Segment`
event:

* *who*: the socket names the trace already uses - the connection both of whose addresses
  match, else the socket that owns the address (a listener answers a SYN with SYN-ACK before
  ``accept()`` has made the connection's socket; a UDP socket sends from its own address);
  an address that is none of the run's is a real outside peer, named by its address;
* *numbers*: sequence and acknowledgement numbers relative to each side's initial sequence
  number, as Wireshark shows them (the same every run, where the raw ones are random); the
  window in bytes, scaled by the sender's window-scale option once both sides offered one;
* *cause*: the ``seq`` of the call during which it was sent - after the call began (after
  any wait for the peer: the segment that ended the wait, and the ACK its arrival made the
  kernel send, came before) and no later than its return, the ``t`` of the call's line -
  by either kernel (on loopback the handshake's SYN, SYN-ACK and ACK all cross before
  ``connect()`` returns). None for whatever a kernel sent on its own: between calls or after
  one returned (a delayed ACK, a window update), and any resending of sequence space already
  sent (a SYN or FIN retried, bytes retransmitted, a keepalive), even one sent while a call
  was waiting. The only rule; docs/wire.md says the same.

Frames none of whose addresses belong to the run are left out (on the host's loopback other
programs talk too). Standard library only.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Mapping

from sockviz.engine.events import LinkEvent, Point, Segment
from sockviz.engine.kernel.tcp_state import Counts
from sockviz.engine.wire.bulk_sums import BulkSum
from sockviz.engine.wire.capture import WireUnavailable
from sockviz.engine.wire.frame_parser import Frame
from sockviz.engine.wire.frame_source import ClockOffset, FrameSource, Released
from sockviz.engine.wire.resends import Direction, Resends
from sockviz.engine.wire.tls_records import TlsStreams

Options = tuple[tuple[str, int | None], ...]
#: The kernel's counts of a connection's two ends, by direction (from, to): None for an end
#: it has none of.
KernelCounts = Mapping[tuple[str | None, str | None], Counts | None]


def address(ip: str, port: int, version: int) -> str:
    return f"[{ip}]:{port}" if version == 6 else f"{ip}:{port}"


def options_text(options: Options) -> str | None:
    """``mss=65495,sack_ok,ts,wscale=7``, or None for no options worth naming."""
    if not options:
        return None
    text = _OPTIONS.get(options)
    if text is None:
        if len(_OPTIONS) > 256:
            _OPTIONS.clear()
        text = _OPTIONS[options] = ",".join(
            name if value is None else f"{name}={value}" for name, value in options
        )
    return text


_OPTIONS: dict[Options, str] = {}


class SegmentReader:
    """The run's segments, numbered and named. See the module docstring."""

    def __init__(
        self,
        capture: FrameSource,
        sockets: Callable[[str, str, str | None], tuple[str | None, str | None, bool]],
    ) -> None:
        """``sockets(own, other, proto)``: who of the run is at ``own`` talking to ``other``
        over ``proto`` (see
        :meth:`~sockviz.engine.kernel.socket_registry.SocketRegistry.at`), whatever the number
        of sockets."""
        self.capture = capture
        self._at = sockets
        self._clock = ClockOffset()
        self._isn: dict[tuple[str, str], int] = {}
        """(from, to) address -> the sender's initial sequence number."""
        self._scale: dict[tuple[str, str], int] = {}
        """(from, to) address -> the window-scale shift the sender offered in its SYN."""
        self.frames: list[Frame] = []
        """Every frame of the run's (kept for --pcap, when asked: see :attr:`keep`)."""
        self.keep = False
        self.summing = False
        """While True (a bulk transfer), segments are summed per direction, not delivered:
        :meth:`sums` gives them at the end."""
        self._sums: dict[tuple[str, str], BulkSum] = {}
        self._watched: set[str] = set()
        """The run's ports the capture takes frames of, as an address ends with them (none
        yet: every frame)."""
        self._pair: tuple[str, str] | None = None
        """A bulk transfer's connection while the kernel counts its segments."""
        self._before: KernelCounts = {}
        self._paused_at: float | None = None
        """When the capture was asked to count :attr:`_pair`'s frames (the wall clock): a
        frame of it taken before then is not in the counts (:attr:`_early`); one taken
        after is."""
        self._early: collections.Counter[Direction] = collections.Counter()
        """Frames of :attr:`_pair` each way that the capture took before the counting began
        (a transfer already under way when it was summed): added to the counts."""
        self._last_pair: tuple[str, str] | None = None
        self._counted_at: float | None = None
        """When the kernel's counts of the last bulk transfer (:attr:`_last_pair`) were
        read: frames of its connection captured before that are in them."""
        self._resends = Resends()
        """What each direction sent, to know a sending again (its ``retry``)."""
        self._tls = TlsStreams()
        """Each way's TLS records, named (a connection that starts TLS)."""
        self._held: dict[int, Segment] = {}
        """On a link: the link's packet number -> the held segment's event."""

    def watch(self, *addresses: str | None) -> None:
        """The run has a socket at these addresses (its local one first): take their
        frames. The capture takes a frame when either of its ports is one it watches, so a
        connection to a port already watched (every client of a listener) adds nothing."""
        texts = [address.rpartition(":")[2] for address in addresses if address]
        if any(text in self._watched for text in texts):
            return
        ports = [text for text in texts if text.isdigit() and int(text)]
        if ports:
            self._watched.add(ports[0])
            self.capture.watch_ports({int(port) for port in self._watched})

    def forget(self, local: str | None, remote: str | None) -> None:
        """The connection (``local``, ``remote``) is gone: forget its numbers."""
        if local is None or remote is None:
            return  # (a socket without both addresses never had numbers)
        for pair in ((local, remote), (remote, local)):
            self._isn.pop(pair, None)
            self._scale.pop(pair, None)
        for pair in ((local, remote), (remote, local)):
            self._resends.forget(pair)

    def close(self) -> None:
        self.capture.close()

    def read(
        self,
        cause: int | None,
        number: Callable[[], int],
        now: Callable[[], float],
        since: float | None = None,
        until: float | None = None,
        own: str | None = None,
        drained: float | None = None,
    ) -> list[Segment | LinkEvent]:
        """The run's segments waiting now, as events (``number()`` gives each its ``seq``).

        ``cause`` (the call just made) is put only on what the kernel sent while that call
        was under way - from ``since`` (when it began, after any wait for the peer) to
        ``until`` (when it returned), on the run's clock, as a frame's ``t`` is put on it:
        a caused segment's ``t`` is never after its call's - and that re-sends nothing
        already sent (its ``retry``: :mod:`~sockviz.engine.wire.resends`): see the module
        docstring. On a link a frame's time is when the link took it from its sender's
        kernel, a moment after it was sent:
        what the calling socket's own kernel (``own``, its address) sent there counts up
        to ``drained``, when the link had taken everything its host had queued at the
        call's return."""
        frames = self.capture.read()
        if not frames:
            return []
        segments: list[Segment | LinkEvent] = []
        offset = self._clock(now)
        for frame in frames:
            if not isinstance(frame, Frame):  # (a link's held segment let cross)
                self._released(frame, segments, number, offset)
                continue
            # (t: the kernel's timestamp of the frame, on the run's clock)
            t = max(0.0, round(frame.t + offset, 6))
            why = cause
            if (why is not None and since is not None and t < since) or (
                why is not None
                and until is not None
                and t > until
                and not (
                    drained is not None
                    and t <= drained
                    and address(*frame.src, frame.version) == own
                )
            ):
                why = None
            segment = self._segment(frame, why, number if not self.summing else _unnumbered, t)
            if segment is None:
                continue
            if segment.cause is not None and segment.retry is not None:
                segment = dataclasses.replace(segment, cause=None)  # (its kernel's, again)
            if self.keep:
                self.frames.append(frame)
            if (
                self._counted_at is not None
                and frame.t <= self._counted_at
                and self._last_pair is not None
                and (segment.local, segment.remote) in (self._last_pair, self._last_pair[::-1])
            ):
                continue  # (in the kernel's counts of the transfer already)
            if self._pair is not None and (segment.local, segment.remote) in (
                self._pair,
                self._pair[::-1],
            ):
                if self._paused_at is not None and frame.t < self._paused_at:  # (taken before
                    # the counting began)
                    self._early[(segment.local, segment.remote)] += 1
                continue  # (else in the counts: never a sum of its own beside them)
            if self.summing:
                key = (segment.source, segment.target)
                self._sums.setdefault(key, BulkSum(segment)).add(segment)
            else:
                if frame.link == "held":
                    self._held[frame.packet] = segment
                segments.append(segment)
        return segments

    def _released(
        self,
        released: Released,
        segments: list[Segment | LinkEvent],
        number: Callable[[], int],
        offset: float,
    ) -> None:
        """A link's held segment let cross: a :class:`LinkEvent` naming its packet line."""
        held = self._held.pop(released.packet, None)
        if held is not None:
            if held.ack_rel is not None and held.proto == "TCP":  # (its ACK on its way now)
                self._resends.let_go((held.remote, held.local), held.ack_rel)
            segments.append(
                LinkEvent(
                    seq=number(),
                    t=max(0.0, round(released.t + offset, 6)),
                    what="released",
                    segment=held.seq,
                    source=held.source,
                    target=held.target,
                    flags=held.flags,
                    family=held.family,
                    local=held.local,
                    remote=held.remote,
                    delay=round(released.crossing, 6),
                )
            )

    def begin_sum(
        self, pair: tuple[str, str] | None = None, before: KernelCounts | None = None
    ) -> None:
        """Sum from now on (:attr:`summing`). ``pair``, the connection (local, remote) of a
        bulk transfer whose two ends are both the run's, and ``before``, the kernel's
        counts of each end now ((from, to) -> :class:`~sockviz.engine.kernel.tcp_state.Counts`): the
        transfer's bytes are counted by the kernel, its frames each way by the capture
        without reading them (``pause(pair)``), and the capture stops taking frames until
        it ends - unless they are kept for a pcap file (then each is read)."""
        self.summing = True
        if self.keep or pair is None or not before:
            return
        paused_at = time.time()
        try:
            self.capture.pause(pair)
        except (WireUnavailable, OSError):
            return
        self._pair, self._before, self._paused_at = pair, before, paused_at
        self._early.clear()

    def sums(
        self,
        causes: dict[str, int],
        number: Callable[[], int],
        after: Callable[[], KernelCounts] | None = None,
    ) -> list[Segment]:
        """The segments summed since :attr:`summing` began, one event per direction, the
        one that carried more bytes first (``causes``: socket name -> the seq of its bulk
        call, which caused what that socket sent; ``after``: the kernel's counts now, for a
        transfer the kernel counted). Summing ends."""
        out = [
            total.segment(0, causes.get(source)) for (source, _target), total in self._sums.items()
        ]
        self._sums.clear()
        if self._pair is not None:
            out += self._counted(causes, after)
        self.summing = False
        out.sort(key=lambda segment: -segment.nbytes)
        return [dataclasses.replace(segment, seq=number()) for segment in out]

    def _counted(
        self, causes: dict[str, int], after: Callable[[], KernelCounts] | None
    ) -> list[Segment]:
        """A bulk transfer's two directions: the frames each way as the capture counted
        them (what tcpdump shows), the bytes and retransmissions from the kernel's counts
        of its two ends (the segments it counted, where the capture counted none: a
        loopback frame can carry several of those, GSO). The capture takes frames again
        (those it saw of the connection before the frames were counted are in the counts:
        :attr:`_counted_at`). The kernel's counts are read after the frames': a segment sent
        again in between (a tail-loss probe) is then in its bytes and retransmissions as it
        is in the frames counted, never in one and not the other."""
        if self._pair is None:
            return []
        local, remote = self._pair
        try:
            frames = self.capture.resume()
        except (WireUnavailable, OSError):
            frames = {}
        sampled = self.capture.samples()
        undelivered = self.capture.undelivered()
        self._counted_at = time.time()
        now = after() if after is not None else {}
        out = []
        for src, dst in ((local, remote), (remote, local)):
            start, end = self._before.get((src, dst)), now.get((src, dst))
            if start is None or end is None:
                continue
            # (none counted where the kernel sent some: the capture could not count)
            count = (
                frames.get((src, dst), 0) + self._early[(src, dst)]
                if frames.get((src, dst))
                else end.segments_out - start.segments_out
            )
            if count <= 0:
                continue
            sender = self._name(src, dst) or src
            sent = end.bytes_sent - start.bytes_sent
            out.append(
                Segment(
                    seq=0,
                    t=0.0,
                    proto="TCP",
                    flags=None,
                    source=sender,
                    target=self._name(dst, src) or dst,
                    seq_rel=None,
                    ack_rel=None,
                    window=None,
                    nbytes=sent,
                    options=None,
                    cause=causes.get(sender),
                    family="AF_INET6" if src.startswith("[") else "AF_INET",
                    local=src,
                    remote=dst,
                    count=count,
                    is_sum=True,
                    largest=None if sent else 0,  # (the frames were counted, never read: their
                    # flags and sizes were seen by nobody; a direction with no bytes had none)
                    retransmissions=end.retransmissions - start.retransmissions,
                    lost=undelivered.get((src, dst)),
                    points=self._points(sampled[(src, dst)], self._clock.offset)
                    if sampled.get((src, dst))
                    else None,
                )
            )
        self._last_pair = self._pair
        self._pair, self._before = None, {}
        return out

    def _name(
        self,
        own: str,
        other: str,
        handshake: bool = False,
        reset: bool = False,
        opening: bool = False,
        proto: str | None = "TCP",
    ) -> str | None:
        """The run's socket at ``own`` talking to ``other``, or None if it is not the run's.
        ``handshake``: a SYN or SYN-ACK, which a listener receives or sends even when
        ``accept()`` has made the connection's socket since. ``reset``: an RST from ``own``
        where no connection to ``other`` ever began on the wire (no SYN or SYN-ACK from
        there): unless a socket there is connected to ``other``, no socket sent it - the
        kernel answered for a port where nothing listens (``refused``), and a socket merely
        bound there (or a listener, whose role the registry goes by) is not its sender.
        ``opening``: a SYN's receiver - a socket that listens there, or one connected to
        ``other``; a socket merely bound there never takes it (its kernel answers RST).
        ``proto``: the frame's "TCP" or "UDP" (only a socket of that transport), None for an
        ICMP error (whoever is at the address of the packet it is about)."""
        exact, owner, listens = self._at(own, other, proto)
        if reset:
            return exact
        if opening:
            return exact or (owner if listens else None)
        if handshake and owner is not None and listens:
            return owner
        return exact or owner

    def _segment(
        self, frame: Frame, cause: int | None, number: Callable[[], int], t: float
    ) -> Segment | None:
        src = address(*frame.src, frame.version)
        dst = address(*frame.dst, frame.version)
        syn = "SYN" in frame.flags
        sender = (  # (an ICMP error is its host's kernel's, never a socket's)
            None
            if frame.proto == "ICMP"
            else self._name(
                src,
                dst,
                syn,
                reset="RST" in frame.flags and (src, dst) not in self._isn,
                proto=frame.proto,
            )
        )
        receiver = self._name(
            dst,
            src,
            syn,
            opening=syn and "ACK" not in frame.flags,
            proto=None if frame.proto == "ICMP" else frame.proto,
        )
        if sender is None and receiver is None:
            return None  # somebody else's traffic
        seq_rel = ack_rel = window = sack = tls = None
        if frame.proto == "TCP":
            forward, backward = (src, dst), (dst, src)
            if "SYN" in frame.flags:
                if self._isn.get(forward, frame.seq) != frame.seq:  # (a new connection on
                    self._resends.forget(forward)  # the same addresses)
                    self._tls.forget(forward)
                self._isn[forward] = frame.seq
                scale = dict(frame.options).get("wscale")
                if scale is not None:
                    self._scale[forward] = scale
            seq_rel, ack_rel, window, sack = self._numbers(frame, forward, backward)
            if frame.nbytes and seq_rel is not None:  # (its payload: the frame's last bytes)
                payload = frame.raw[frame.length - frame.nbytes :]
                tls = self._tls.names(forward, seq_rel, frame.nbytes, payload)
        link = delay = None
        if frame.link is not None:
            link = frame.link
            delay = None if frame.arrives is None else round(max(0.0, frame.arrives - frame.t), 6)
        retry = self._resends.retry(frame, src, dst, seq_rel, ack_rel)  # (on loopback too: backlog-
        # full's SYN sent again while the queue is full, a FIN resent before its ACK came)
        return Segment(
            seq=number(),
            t=t,
            proto=frame.proto,
            flags=",".join(frame.flags) if frame.proto != "UDP" else None,  # (ICMP: its kind)
            source=sender or src,
            target=receiver or dst,
            seq_rel=seq_rel,
            ack_rel=ack_rel,
            window=window,
            nbytes=frame.nbytes,
            options=options_text(frame.options),
            cause=cause,
            family="AF_INET6" if frame.version == 6 else "AF_INET",
            local=src,
            remote=dst,
            link=link,
            delay=delay,
            retry=retry,
            sack=sack,
            tls=tls,
        )

    def _numbers(
        self, frame: Frame, forward: Direction, backward: Direction
    ) -> tuple[int, int | None, int, tuple[tuple[int, int], ...] | None]:
        """A TCP frame's sequence and acknowledgement numbers, and its SACK blocks' edges,
        relative to each direction's first; its window scaled."""
        # (a direction first seen without its SYN - the kernel's RST for a port where
        # nothing listens - counts from one before its first number, and the other way
        # from one before what it acknowledges: Seq=1, Ack=1, as Wireshark shows them)
        isn = self._isn.setdefault(forward, (frame.seq - 1) % (1 << 32))
        seq_rel = (frame.seq - isn) % (1 << 32)
        ack_rel = sack = None
        if "ACK" in frame.flags:
            start = self._isn.setdefault(backward, (frame.ack - 1) % (1 << 32))
            ack_rel = (frame.ack - start) % (1 << 32)
            if frame.sack:
                sack = tuple(
                    ((left - start) % (1 << 32), (right - start) % (1 << 32))
                    for left, right in frame.sack
                )
        window = frame.window
        if "SYN" not in frame.flags and forward in self._scale and backward in self._scale:
            window <<= self._scale[forward]
        return seq_rel, ack_rel, window, sack

    def _points(self, sampled: list[tuple[Frame, bool]], offset: float) -> tuple[Point, ...]:
        """The frames a link sampled while it counted a transfer, as graph points."""
        out = []
        for frame, resent in sampled:
            if frame.proto != "TCP":
                continue
            forward = (address(*frame.src, frame.version), address(*frame.dst, frame.version))
            seq_rel, ack_rel, window, sack = self._numbers(frame, forward, forward[::-1])
            t = max(0.0, round(frame.t + offset, 6))
            out.append(Point(t, seq_rel, frame.nbytes, ack_rel, window, resent, sack))
        return tuple(out)


def _unnumbered() -> int:
    return 0  # (a segment that goes into a sum: the sum gets the number)
