"""The link between a run's two hosts (:mod:`sockviz.engine.lab.two_hosts`): the one part of a
two-host run that is sockviz's own.

:class:`Link` is a thread that reads every IP packet one host's TUN device hands over and
writes it into the other's - late, slowly, or not at all, as the :class:`LinkSpec` says:
delay, jitter (never reordering), rate, seeded random loss (decided per segment:
:mod:`~sockviz.engine.lab.link_packets`), and exact faults (:class:`Drop`: the Nth SYN,
SYN-ACK, ACK, data or FIN). In step mode it can *hold* each TCP segment at its sending
side until :meth:`Link.release` lets it cross. Every retransmission, timer and window the
two kernels show is theirs.

The link is also the run's wire: it sees each segment the moment a kernel sends it, so it
serves :class:`~sockviz.engine.wire.segments.SegmentReader` as a capture does (``read``),
each frame saying what the link did with it (``crossed``, ``dropped``, ``lost``,
``overflow``, ``held``)
and when it arrives. Counters (sent, delivered, dropped, held) and a log of what it did to
each packet are kept.

Standard library only.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import os
import random
import select
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from sockviz.engine.lab.link_packets import (
    Flow,
    LinkSampler,
    Seen,
    carries_data,
    ends_of,
    flow_of,
    frame_of,
)
from sockviz.engine.lab.link_packets import kind_of as kind_of  # (re-exported: tests read it here)
from sockviz.engine.lab.link_spec import CUT
from sockviz.engine.lab.link_spec import Drop as Drop  # (re-exported: tests read it here)
from sockviz.engine.lab.link_spec import LinkSpec as LinkSpec
from sockviz.engine.lab.link_spec import describe as describe
from sockviz.engine.lab.router import too_big
from sockviz.engine.lab.two_hosts import Hosts
from sockviz.engine.wire.frame_parser import Frame

#: The largest packet a TUN device hands over (its default MTU, and headroom).
PACKET_MAX = 65535


# --- the link between them ------------------------------------------------------------
class Released(NamedTuple):
    """The link let a held segment cross (among the frames :meth:`Link.read` gives)."""

    packet: int
    """The link's number for it (the held frame's ``packet``)."""
    t: float
    """When (wall-clock time)."""
    crossing: float
    """Seconds it takes to cross from then."""


@dataclass
class Counters:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    held: int = 0

    @property
    def in_flight(self) -> int:
        return self.sent - self.delivered - self.dropped - self.held


class Link:
    """The thread that carries packets between the two hosts' devices, and the run's wire
    (see the module docstring). ``log`` keeps (time, from, kind, what happened) for each
    packet."""

    def __init__(self, hosts: Hosts, spec: LinkSpec, hold: bool = False) -> None:
        self.hosts, self.spec = hosts, spec
        if spec.mtu is not None:
            hosts.set_mtu(spec.mtu)
        self.hold = hold
        """Hold each TCP segment at its sending side until :meth:`release`."""
        self.counters = Counters()
        self.log: list[tuple[float, str, str | None, str]] = []
        self._random = random.Random(spec.seed)  # (jitter's)
        self._loss = Seen(spec.seed, spec.loss)
        """Random loss, decided per segment (:class:`~sockviz.engine.lab.link_packets.Seen`)."""
        self._seen: dict[str, int] = {}
        self._due: list[tuple[float, int, str, bytes]] = []
        self._held: collections.deque[tuple[int, str, bytes, str | None]] = collections.deque()
        self._free = {"server": 0.0, "client": 0.0}  # when each direction's wire is free
        self._waiting: dict[str, collections.deque[float]] = {
            "server": collections.deque(),  # (when each packet waiting its turn leaves)
            "client": collections.deque(),
        }
        self._last = {"server": 0.0, "client": 0.0}  # (no reordering by jitter)
        self._order = 0
        self._lock = threading.Lock()
        self._frames: list[Frame | Released] = []
        self._paused = False
        self._counting: dict[tuple[str, str], int] = {}
        self._sampling: dict[tuple[str, str], LinkSampler] = {}
        self.data_packets = 0
        """TCP and UDP packets carried so far (what ``cut:N`` counts)."""
        self._undelivered: dict[tuple[str, str], int] = {}
        """While paused: the packets it counted each way that it did not deliver."""
        """While paused: some of the frames it counted each way, for a graph."""
        """While paused: a connection's two directions (from, to) -> the packets the link
        took that way (:meth:`pause`)."""
        self._credits = 0
        self._flows: set[Flow | None] = set()
        """The TCP connections this link saw begin (by their SYN): the run's own."""
        self._wake_r, self._wake_w = os.pipe()  # (the link thread: a release, a stop)
        os.set_blocking(self._wake_r, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sockviz-link", daemon=True)
        self.started = time.monotonic()

    # --- the thread ----------------------------------------------------------------
    def start(self) -> None:
        for fd in self.hosts.tun.values():  # (what an earlier run left in the devices)
            with contextlib.suppress(OSError):
                while os.read(fd, PACKET_MAX):
                    pass
        self._thread.start()

    def stop(self, timeout: float = 0.5) -> bool:
        """End the thread (the packets still on the link are lost with it)."""
        self._stop.set()
        self._poke(self._wake_w)
        if self._thread.ident is not None:
            self._thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
        return not self._thread.is_alive()

    close = stop

    @staticmethod
    def _poke(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, b"!")

    def _run(self) -> None:
        fds = {self.hosts.tun["server"]: "server", self.hosts.tun["client"]: "client"}
        poller = select.poll()
        for fd in (*fds, self._wake_r):
            poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            with self._lock:
                wait = None if not self._due else max(0.0, self._due[0][0] - time.monotonic())
            for fd, _ in poller.poll(None if wait is None else wait * 1000):
                if fd in fds:
                    self._take(fds[fd], fd)
                elif fd == self._wake_r:
                    with contextlib.suppress(OSError):
                        os.read(fd, 512)
            self._deliver(time.monotonic())

    def _take(self, side: str, fd: int) -> None:
        while True:
            # (read and stamped under one lock: a packet gone from its device is stamped
            # by the time the lock is free - what :meth:`taken` waits for)
            with self._lock:
                try:
                    packet = os.read(fd, PACKET_MAX)
                except OSError:  # (BlockingIOError: none left)
                    return
                self._carry(side, packet, time.monotonic())

    def taken(self) -> None:
        """Return once every packet the link has read from a device is stamped (a reader
        that found a device empty: what it held is now a frame, with its time)."""
        with self._lock:
            pass

    def _carry(self, side: str, packet: bytes, now: float) -> None:
        spec, kind, flow = self.spec, kind_of(packet), flow_of(packet)
        self.counters.sent += 1
        if self._counting:
            ends = ends_of(packet)
            if ends in self._counting:
                self._counting[ends] += 1
                self._sample(ends, packet)
        self._order += 1
        number = self._order
        if carries_data(packet):
            self.data_packets += 1
        if kind == "syn":
            self._flows.add(flow)
        stale = flow is not None and flow not in self._flows
        if stale:  # (a connection of an earlier run on these hosts, its last packets: no
            kind = None  # fault, no hold is for it)
        if kind is not None:
            self._seen[kind] = self._seen.get(kind, 0) + 1
        if any(
            (d.kind == kind and d.nth == self._seen.get(kind))
            or (d.kind == CUT and self.data_packets >= d.nth)  # (broken from there on)
            for d in spec.drops
        ):
            self._lost(now, side, kind, "dropped", packet, number)
            return
        if spec.loss and not stale and self._loss.lost(side, packet, flow):
            self._lost(now, side, kind, "lost", packet, number)
            return
        if self._full(side, now):
            self._lost(now, side, kind, "overflow", packet, number)
            return
        error = None if spec.pmtu is None or stale else too_big(packet, spec.pmtu)
        if error is not None:  # (the router on the way: not carried, its sender told)
            self._lost(now, side, kind, "too-big", packet, number)
            self._order += 1
            back = "client" if side == "server" else "server"  # (delivered to ``side``)
            heapq.heappush(self._due, (now + spec.delay, self._order, back, error))
            self._note(error, "crossed", spec.delay, self._order)
            return
        if self.hold and kind is not None:
            self.counters.held += 1
            self._held.append((number, side, packet, kind))
            self.log.append((now - self.started, side, kind, "held"))
            self._note(packet, "held", None, number)
            if self._credits:  # (a key pressed for it before it came)
                self._credits -= 1
                self._release_oldest()
            return
        arrives = self._schedule(side, packet, now, number)
        self.log.append((now - self.started, side, kind, "delayed" if arrives > now else "passed"))
        self._note(packet, "crossed", arrives - now, number)

    def _schedule(self, side: str, packet: bytes, now: float, number: int) -> float:
        spec = self.spec
        leaves = now
        if spec.rate:
            leaves = max(now, self._free[side]) + len(packet) * 8 / spec.rate
            self._free[side] = leaves
            self._waiting[side].append(leaves)
        arrives = leaves + spec.delay
        if spec.jitter:
            arrives += self._random.uniform(-spec.jitter, spec.jitter)
        arrives = max(arrives, self._last[side], now)
        self._last[side] = arrives
        heapq.heappush(self._due, (arrives, number, side, packet))
        return arrives

    def _full(self, side: str, now: float) -> bool:
        """Whether ``queue`` packets already wait their turn to leave ``side``."""
        waiting = self._waiting[side]
        while waiting and waiting[0] <= now:
            waiting.popleft()
        return self.spec.queue is not None and len(waiting) >= self.spec.queue

    def _lost(
        self, now: float, side: str, kind: str | None, why: str, packet: bytes, number: int
    ) -> None:
        self.counters.dropped += 1
        if self._counting:
            ends = ends_of(packet)
            if ends in self._counting:
                self._undelivered[ends] = self._undelivered.get(ends, 0) + 1
        self.log.append((now - self.started, side, kind, why))
        self._note(packet, why, None, number)

    def _sample(self, ends: tuple[str, str], packet: bytes) -> None:
        """A packet of a transfer being counted, offered to its direction's sampler."""
        self._sampling.setdefault(ends, LinkSampler()).add(packet, time.time())

    def _note(self, packet: bytes, what: str, crossing: float | None, number: int) -> None:
        """A frame for the wire's readers: what the link did with ``packet`` (``crossing``:
        the seconds it takes to arrive, when it set off)."""
        if self._paused or self._stop.is_set():
            return
        wall = time.time()
        frame = frame_of(packet, wall)
        if frame is None:
            return
        later = None if crossing is None else wall + crossing
        self._frames.append(frame._replace(link=what, arrives=later, packet=number))

    def _deliver(self, now: float) -> None:
        with self._lock:
            self._deliver_due(now)

    def _deliver_due(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            _, _, side, packet = heapq.heappop(self._due)
            other = "client" if side == "server" else "server"
            try:
                os.write(self.hosts.tun[other], packet)
            except OSError:
                self.counters.dropped += 1
                continue
            self.counters.delivered += 1

    # --- holding --------------------------------------------------------------------
    def waiting(self) -> tuple[str, str | None] | None:
        """The oldest held segment's (sending host, kind), or None when none is held."""
        with self._lock:
            if not self._held:
                return None
            _, side, _, kind = self._held[0]
            return side, kind

    def release(self) -> bool:
        """Let the oldest held segment cross (from now, as the spec says); False when none
        is held."""
        with self._lock:
            if not self._held:
                return False
            self._release_oldest()
        self._poke(self._wake_w)
        return True

    def credit(self) -> None:
        """A key pressed while a call is under way and nothing is held yet: the next segment
        held crosses as it comes (the key was for it)."""
        with self._lock:
            if self._held:
                self._release_oldest()
            else:
                self._credits = min(self._credits + 1, 1)
        self._poke(self._wake_w)

    def _release_oldest(self) -> None:
        """(Holding the lock.) The oldest held segment sets off now."""
        number, side, packet, kind = self._held.popleft()
        self.counters.held -= 1
        now = time.monotonic()
        arrives = self._schedule(side, packet, now, number)
        self.log.append((now - self.started, side, kind, "released"))
        if not self._paused and not self._stop.is_set():
            self._frames.append(Released(number, time.time(), arrives - now))

    def let_all_go(self) -> None:
        """Hold nothing from now on (every held segment crosses)."""
        self.hold = False
        self._credits = 0
        while self.release():
            pass

    # --- as the run's wire (what SegmentReader asks of a capture) -----------------
    def read(self) -> list[Frame | Released]:
        """Every frame the link saw since the last read, and each held one it let cross
        (:class:`Released`), in the order they happened."""
        with self._lock:
            frames, self._frames = self._frames, []
        return frames

    def watch_ports(self, ports: set[int]) -> None:
        """(Every packet on the link is the run's: nothing to filter.)"""

    def pause(self, count: tuple[str, str] | None = None) -> None:
        """No frames for readers until :meth:`resume` (a bulk transfer is counted
        instead); the link goes on carrying every packet. ``count``, a TCP connection's two
        addresses: the packets it takes each way meanwhile are counted (lost ones too: a
        kernel sent them)."""
        with self._lock:
            self._counting = {} if count is None else {count: 0, count[::-1]: 0}
            self._sampling, self._paused = {}, True
            self._undelivered = {ends: 0 for ends in self._counting}

    def resume(self) -> dict[tuple[str, str], int]:
        """Frames for readers again; the packets counted each way since :meth:`pause`,
        (from, to) -> count (empty when none were asked for)."""
        with self._lock:
            counted, self._counting = self._counting, {}
            self._paused = False
        return counted

    def undelivered(self) -> dict[tuple[str, str], int]:
        """The packets counted each way since :meth:`pause` that it did not deliver; then
        none counted."""
        with self._lock:
            lost, self._undelivered = self._undelivered, {}
        return lost

    def samples(self) -> dict[tuple[str, str], list[tuple[Frame, bool]]]:
        """Some of the frames counted each way since :meth:`pause` (spread over the
        transfer: :mod:`~sockviz.engine.wire.point_sampler`), each with whether it carried
        bytes sent before; then none kept."""
        with self._lock:
            sampling, self._sampling = self._sampling, {}
        return {ends: sampler.frames() for ends, sampler in sampling.items()}
