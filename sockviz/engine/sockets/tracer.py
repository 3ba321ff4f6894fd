"""The tracer every socket of a run shares: the clock, the numbering of events, the consumer
they go to, the wake-up pipe that ends any wait at once, the wire and the kernel watch.

A call that would block waits in ``poll()`` on its socket *and* on the wake-up pipe, so
:meth:`Tracer.stop` ends a wait in ``accept``, ``connect`` or ``recv`` at once. A call's
time is its return (:meth:`Tracer.returns`). After each call the kernel's view of the run's
TCP sockets is read by the tracer's :class:`~sockviz.engine.kernel.kernel_watch.KernelWatch`
(``tracer.kernel``) - on loopback until it settles, on two hosts once - and every change of
state becomes a :class:`~sockviz.engine.events.KernelEvent`. Which segments a call caused:
``wire/segments.py``.

The tracer knows the run's sockets only as
:class:`~sockviz.engine.kernel.socket_registry.RunSocket` (what it and the kernel side need of
one), so that it does not import the traced socket, which imports it.
"""

from __future__ import annotations

import functools
import os
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from sockviz.engine.events import CallEvent, Event, KernelEvent
from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.kernel.kernel_watch import KernelWatch
from sockviz.engine.kernel.socket_registry import RunSocket, SocketRegistry, address_of
from sockviz.engine.kernel.tcp_state import Counts
from sockviz.engine.states import State

if TYPE_CHECKING:
    from sockviz.engine.lab.two_hosts import Hosts
    from sockviz.engine.wire.frame_source import FrameSource
    from sockviz.engine.wire.segments import SegmentReader

READ = select.POLLIN
WRITE = select.POLLOUT

LINK_DRAIN = 0.02
"""At most this long (seconds) a call's reading waits for the link to take what the call's
kernel queued before it returned (it takes microseconds; a loaded machine, more)."""

END_LIMIT = 1.5
"""How long (seconds) a two-host run's end waits for what is still in flight
(:meth:`Tracer.in_flight`)."""

Ends = tuple[RunSocket, RunSocket]
"""The two ends of one connection, both the run's."""


class Stopped(Exception):
    """The run was stopped while this thread waited; the call was not made."""


class Tracer:
    """What every socket of one run shares: clock, numbering, consumer, wake-up, the wire and
    the kernel watch (:attr:`kernel`).

    ``consumer`` is called with each event, in order, from whichever thread made the call;
    calls and their events are serialised by one lock, so ``seq`` follows real time.
    """

    def __init__(self, consumer: Callable[[Event], None]) -> None:
        self._consumer = consumer
        self.lock = threading.RLock()
        self.started = time.monotonic()
        self._seq = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stopped = threading.Event()
        self.registry = SocketRegistry()
        """The run's sockets, by address and by what the kernel may still do with them."""
        self.registry.forgotten = self._forgotten
        self.kernel = KernelWatch(
            self.registry, self.deliver, self.next_seq, self.now, self._stopped
        )
        """The kernel's view of the run's TCP sockets: a line for each change."""
        self.retried: dict[frozenset[str | None], int] = {}
        """On a link: segments sent again, by connection (its two addresses)."""
        self._closed = False
        self.wire: SegmentReader | None = None
        """The run's segments, when the wire is watched (:meth:`watch_wire`)."""
        self._bulk = 0
        self._bulk_calls: dict[str, int] = {}
        self._bulk_ends: Ends | tuple[()] = ()
        """The two ends of the bulk transfer whose segments the kernel counts."""
        self._began: dict[int, float] = {}
        """Thread -> when its call began (after any wait for the peer), on the run's clock:
        a segment sent before it was not that call's doing."""
        self._drained: dict[int, tuple[str, float]] = {}
        """Thread -> (its call's socket address, when the link had taken what that call's
        kernel queued before it returned): on a link, frames are stamped as the link
        takes them."""
        self._ended: dict[int, float] = {}
        """Thread -> when its last call returned, the ``t`` of its line: a segment stamped
        after it was not that call's doing either (the same clock, the same number: a
        trace's reader sees the rule hold)."""

    # --- how the run is read: the kernel watch's, set once before the first call -------
    @property
    def hosts(self) -> Hosts | None:
        """A two-host run's :class:`~sockviz.engine.lab.two_hosts.Hosts` (closed sockets are
        looked up in their own host's network; a call's frames are the link's)."""
        return self.kernel.hosts

    @hosts.setter
    def hosts(self, hosts: Hosts | None) -> None:
        self.kernel.hosts = hosts

    @property
    def settle(self) -> bool:
        """Read the kernel after each call until it settles, so that a scenario's trace is
        the same every run. A real outside peer's run does not: nothing fixes its order,
        and a settle after every call of a busy peer costs milliseconds each; the state
        right after the call, and later changes from the watcher, are what it gets."""
        return self.kernel.settle

    @settle.setter
    def settle(self, settle: bool) -> None:
        self.kernel.settle = settle

    @property
    def flows(self) -> bool:
        """Read each connection's RTT, congestion window and retransmissions too (a
        two-host run: on loopback they say nothing)."""
        return self.kernel.flows

    @flows.setter
    def flows(self, flows: bool) -> None:
        self.kernel.flows = flows

    # --- numbering and delivery -------------------------------------------------------
    # --- numbering and delivery -------------------------------------------------------
    def now(self) -> float:
        return round(time.monotonic() - self.started, 6)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def deliver(self, event: Event) -> None:
        """Hand an event to the consumer (callers hold :attr:`lock` for trace events)."""
        self._consumer(event)

    # --- the wire ---------------------------------------------------------------------
    def watch_wire(self, capture: FrameSource) -> SegmentReader:
        """Read the run's segments from ``capture`` after every call (and on the watch)."""
        # (here, not at the top: the packet parsers load only for a run that watches the wire)
        from sockviz.engine.wire.segments import SegmentReader

        self.wire = SegmentReader(capture, self.registry.at)
        return self.wire

    def begins(self, ts: RunSocket | None = None) -> None:
        """The calling thread's call on ``ts`` begins now (its wait for the peer, if any, is
        over). On a link, where a call's reading is not settled, ``ts``'s kernel state is
        read first: what changed before the call (the ACK of its FIN came, the peer's FIN)
        is a kernel line before it, not the call's doing."""
        if (
            ts is not None
            and self.hosts is not None
            and self.settle
            and ts.watchable
            and ts.sock is not None
            and ts.state is not State.CLOSED
            and not self._stopped.is_set()
            and kernel.available()
        ):
            with self.lock:
                self.kernel.changes(self.kernel.read(ts))
        if self.wire is not None:
            self._began[threading.get_ident()] = self.now()

    def returns(self) -> float:
        """The calling thread's call has just returned: its time on the run's clock (the
        ``t`` of its line - not after the kernel settled, which comes later as the kernel's
        own lines). What the kernels send after it is not that call's (see ``segments.py``)."""
        t = self.now()
        if self.wire is not None:
            self._ended[threading.get_ident()] = t
        return t

    def drain(self, own: str | None) -> None:
        """The calling thread's call, from ``own`` (its socket's address), has just
        returned: on a link, wait for the link to have taken what that host's kernel had
        queued by then (see :meth:`drain_link`); its frames up to that moment are the
        call's."""
        if self.wire is not None and self.hosts is not None and own:
            self._drained[threading.get_ident()] = (own, self.drain_link(own))

    def segments(self, cause: int | None) -> None:
        """Deliver the segments waiting now. ``cause``: the call just made, whose seq goes on
        what was sent between its start and its return (``segments.py`` says exactly what);
        None: nothing read now is a call's. The caller holds :attr:`lock`, so they come
        right after that call's event."""
        if self.wire is not None:
            since = until = None
            own: str | None = None
            drained: float | None = None
            if cause is not None:
                thread = threading.get_ident()
                since, until = self._began.get(thread), self._ended.get(thread)
                own, drained = self._drained.pop(thread, (None, None))
            for segment in self.wire.read(
                cause, self.next_seq, self.now, since, until, own, drained
            ):
                self.deliver(segment)
                if getattr(segment, "retry", None) is not None:  # (a link's: see retried)
                    pair = frozenset((segment.local, segment.remote))
                    self.retried[pair] = self.retried.get(pair, 0) + 1

    def drain_link(self, own: str) -> float:
        """On a link, wait until the link has taken from ``own``'s host every packet its
        kernel had queued when the call returned (the link stamps a frame when it takes it,
        a moment after the kernel sent it; bounded by :data:`LINK_DRAIN`); then the run's
        clock, up to which that host's frames are the call's."""
        # (here, not at the top: the two-host lab loads ctypes, for two-host runs only)
        from sockviz.engine.lab.two_hosts import CLIENT_IP, CLIENT_IP6

        host = "client" if address_of(own)[0] in (CLIENT_IP, CLIENT_IP6) else "server"
        fd = getattr(self.hosts, "tun", {}).get(host)
        if fd is not None:
            poller = select.poll()
            poller.register(fd, READ)
            deadline = time.monotonic() + LINK_DRAIN
            try:
                while poller.poll(0) and time.monotonic() < deadline:
                    time.sleep(0.0002)
            except (OSError, ValueError):
                pass
            taken = getattr(self.wire.capture if self.wire else None, "taken", None)
            if taken is not None:  # (the link thread stamps what it has just read:
                taken()  # under a load its thread can be away for milliseconds in between)
        return self.now()

    # --- bulk transfers: their segments summed ----------------------------------------
    def bulk_begin(self, ts: RunSocket | None = None) -> None:
        """A bulk transfer starts on ``ts``'s connection: from now until the last one
        running ends, its segments are summed, not delivered one by one (tens of thousands
        of 64 KiB segments a second) - counted by the kernel at both ends when both are
        the run's."""
        with self.lock:
            self._bulk += 1
            if self.wire is None or self.wire.summing:
                return
            self.segments(None)  # (what came before is not the transfer's)
            ends = _ends(self.registry, ts)
            if ends is None:
                self.wire.begin_sum()
                return
            self._bulk_ends = ends
            local, remote = ends[0].local, ends[0].remote
            assert local is not None and remote is not None  # (_ends found them connected)
            self.wire.begin_sum((local, remote), _counts(ends))

    def bulk_drain(self) -> None:
        """Read the wire now (what the kernel does not count for the transfer)."""
        with self.lock:
            self.segments(None)

    def bulk_end(self, event: CallEvent | None) -> None:
        """A bulk transfer ended with ``event`` (None: it was stopped). When it was the last
        one running, each direction's sum is delivered, caused by its sender's bulk call."""
        with self.lock:
            if event is not None:
                self._bulk_calls[event.socket] = event.seq
            self._bulk -= 1
            if self._bulk or self.wire is None or not self.wire.summing:
                return
            self.segments(None)
            after = functools.partial(_counts, self._bulk_ends) if self._bulk_ends else None
            for total in self.wire.sums(self._bulk_calls, self.next_seq, after):
                self.deliver(total)
            self._bulk_calls.clear()
            self._bulk_ends = ()

    # --- the kernel: read with the wire, under the lock --------------------------------
    def poll_kernel(self) -> list[KernelEvent]:
        """Look at the kernel (and the wire) now: the background watch, at most 10 times a
        second. What it finds no call caused."""
        with self.lock:
            self.segments(None)
            if not self.registry.watching or not kernel.available():
                return []
            return self.kernel.changes(self.kernel.read()) + self.kernel.let_go()

    def in_flight(self) -> None:
        """A two-host run's calls are done: let what the link still carries arrive (a FIN,
        its ACK) - read the kernels and the wire until no watched socket is in a transient
        state, at most :data:`END_LIMIT` - so that the end of the story is told, each change
        a kernel line with its own time (after each call only one reading was made)."""
        deadline = time.monotonic() + END_LIMIT
        while not self._stopped.is_set():
            with self.lock:
                self.segments(None)
                reading = self.kernel.read()
                self.kernel.changes(reading)
            if time.monotonic() >= deadline or not any(
                v.state in kernel.TRANSIENT for v in reading.values()
            ):
                return
            time.sleep(0.01)

    def _forgotten(self, ts: RunSocket) -> None:
        """The registry let ``ts`` go: so does what was kept beside it."""
        self.kernel.forget(ts)
        if self.wire is not None:
            self.wire.forget(ts.local, ts.remote)

    # --- stopping ---------------------------------------------------------------------
    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """Wake every thread waiting in :meth:`wait_ready`; they raise :class:`Stopped`."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            os.write(self._wake_w, b"!")
        except OSError:
            pass

    def _poll(self, interest: dict[int, int], timeout: float | None) -> list[int]:
        """poll() the descriptors in ``interest`` (fd -> events) and the wake-up pipe.

        Returns the ready descriptors ([] on timeout); :class:`Stopped` on stop.
        """
        if self._stopped.is_set():
            raise Stopped()
        poller = select.poll()
        for fd, events in interest.items():
            poller.register(fd, events)
        poller.register(self._wake_r, READ)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait_ms = None
            if deadline is not None:
                wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
            ready = poller.poll(wait_ms)
            if self._stopped.is_set():
                raise Stopped()
            found = [fd for fd, _ in ready if fd in interest]
            if found:
                return found
            if deadline is not None and time.monotonic() >= deadline:
                return []

    def select(
        self, reads: list[int], writes: list[int], timeout: float | None
    ) -> tuple[list[int], list[int]]:
        """A program's own select(): the real system call on ``reads`` and ``writes`` (with
        the wake-up pipe among the reads, so a stop ends it); :class:`Stopped` on stop."""
        if self._stopped.is_set():
            raise Stopped()
        readable, writable, _ = select.select([*reads, self._wake_r], writes, [], timeout)
        if self._stopped.is_set():
            raise Stopped()
        return [fd for fd in readable if fd != self._wake_r], writable

    def wait_ready(self, sock: socket.socket, events: int, timeout: float | None) -> bool:
        """Wait until ``sock`` is ready; False on timeout; :class:`Stopped` on stop."""
        return bool(self._poll({sock.fileno(): events}, timeout))

    def wait_any(
        self, socks: Iterable[socket.socket | int], timeout: float | None
    ) -> list[socket.socket | int]:
        """Wait until any of ``socks`` can be read; return those that can ([] on timeout).

        For a thread that watches several sockets at once (a listener and its connections).
        ``socks`` are sockets or raw descriptors; hang-ups and errors count as readable, so
        the ``recv`` that follows reports them. :class:`Stopped` on stop, as
        :meth:`wait_ready`.
        """
        by_fd = {(s if isinstance(s, int) else s.fileno()): s for s in socks}
        return [by_fd[fd] for fd in self._poll(dict.fromkeys(by_fd, READ), timeout)]

    def waiter(self) -> Waiter:
        """A lasting set of sockets to wait on together (a listener and its connections):
        one ``epoll`` the kernel keeps, not a list handed over at every wait."""
        return Waiter(self._wake_r, self._stopped)

    def close(self) -> None:
        """Close the wake-up pipe and the capture (after every thread has gone)."""
        if self._closed:
            return
        self._closed = True
        if self.wire is not None:
            self.wire.close()
        with self.lock:
            self.kernel.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # --- the run's sockets ------------------------------------------------------------
    @property
    def sockets(self) -> list[RunSocket]:
        """Every socket of the run, in order of birth."""
        return list(self.registry.all)

    def adopt(self, ts: RunSocket) -> None:
        self.registry.add(ts)
        self.kernel.watch(ts)

    def close_all(self) -> None:
        """Close, with an event each, every socket still open (used when a run stops)."""
        closed = False
        for ts in self.sockets:
            if ts.state is not State.CLOSED and ts.sock is not None:
                ts.close()
                closed = True
        if closed and self._stopped.is_set() and self.registry.watched and kernel.available():
            # Stopping, each close skipped the kernel (a reading of /proc per close cost
            # seconds with hundreds of connections): one reading now says where each went.
            with self.lock:
                self.kernel.changes(self.kernel.read())
        if self.hosts is not None and not self._stopped.is_set() and kernel.available():
            self.in_flight()
        with self.lock:
            self.segments(None)


def _ends(registry: SocketRegistry, ts: RunSocket | None) -> Ends | None:
    """``ts`` and the run's socket at the other end of its connection, if there is one."""
    if ts is None or not ts.local or not ts.remote:
        return None
    for other in registry.all:
        if other is not ts and other.local == ts.remote and other.remote == ts.local:
            return ts, other
    return None


def _counts(ends: Ends) -> dict[tuple[str | None, str | None], Counts | None]:
    """The kernel's counts of a bulk transfer's two ends: (from, to) -> Counts (None where
    ``TCP_INFO`` has them not)."""
    return {
        (end.local, end.remote): None if end.sock is None else kernel.counts(end.sock)
        for end in ends
    }


class Waiter:
    """Sockets waited on together, as a real server's event loop does: each registered once
    (:meth:`add`, :meth:`discard`); :meth:`wait` gives those that can be read. The tracer's
    wake-up pipe is one of them, so :meth:`Tracer.stop` ends a wait at once
    (:class:`Stopped`). Close it when done."""

    def __init__(self, wake: int, stopped: threading.Event) -> None:
        self._stopped = stopped
        self._selector = selectors.DefaultSelector()
        self._selector.register(wake, selectors.EVENT_READ, None)

    def add(self, sock: socket.socket) -> None:
        self._selector.register(sock, selectors.EVENT_READ, sock)

    def discard(self, sock: socket.socket) -> None:
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def wait(self, timeout: float | None = None) -> list[socket.socket]:
        """The sockets that can be read (hang-ups and errors count: the ``recv`` that
        follows reports them); [] on timeout; :class:`Stopped` on stop."""
        while True:
            if self._stopped.is_set():
                raise Stopped()
            ready = [key.data for key, _ in self._selector.select(timeout) if key.data is not None]
            if self._stopped.is_set():
                raise Stopped()
            if ready or timeout is not None:
                return ready

    def close(self) -> None:
        self._selector.close()
