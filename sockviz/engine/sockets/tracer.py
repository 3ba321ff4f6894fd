"""The tracer every socket of a run shares: the clock, the numbering of events, the consumer
they go to, the wake-up pipe that ends any wait at once, and the kernel watch.

A call that would block waits in ``poll()`` on its socket *and* on the wake-up pipe, so
:meth:`Tracer.stop` ends a wait in ``accept``, ``connect`` or ``recv`` at once. A call's
time is its return (:meth:`Tracer.returns`). After each call the kernel's view of the run's
TCP sockets is read (``kernel.py``) - on loopback until it settles, on two hosts once (see
``kernelwatch.py``) - and every change of state becomes a
:class:`~sockviz.engine.events.KernelEvent`. Which segments a call caused: ``segments.py``.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.events import Event
from sockviz.engine.kernel.kernel_watch import KernelWatch
from sockviz.engine.kernel.socket_registry import SocketRegistry
from sockviz.engine.states import State

if TYPE_CHECKING:
    from sockviz.engine.wire.segments import SegmentReader
    from sockviz.engine.sockets.traced_socket import TracedSocket
    from sockviz.engine.wire.capture import Capture

READ = select.POLLIN
WRITE = select.POLLOUT

LINK_DRAIN = 0.02
"""At most this long (seconds) a call's reading waits for the link to take what the call's
kernel queued before it returned (it takes microseconds; a loaded machine, more)."""


class Stopped(Exception):
    """The run was stopped while this thread waited; the call was not made."""


class Tracer(KernelWatch):
    """What every socket of one run shares: clock, numbering, consumer, wake-up, kernel watch.

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
        self._kernel_last: dict[TracedSocket, tuple | None] = {}
        self.flows = False
        """Read each connection's RTT, congestion window and retransmissions too (a
        two-host run: on loopback they say nothing)."""
        self._flow_last: dict[TracedSocket, tuple] = {}
        self.retried: dict[frozenset, int] = {}
        """On a link: segments sent again, by connection (its two addresses)."""
        self.hosts = None
        """A two-host run's :class:`~sockviz.engine.lab.two_hosts.Hosts` (closed sockets are looked
        up in their own host's network)."""
        self._closed = False
        self.wire: SegmentReader | None = None
        """The run's segments, when the wire is watched (:meth:`watch_wire`)."""
        self._bulk = 0
        self._bulk_calls: dict[str, int] = {}
        self._bulk_ends: tuple = ()
        """The two ends of the bulk transfer whose segments the kernel counts."""
        self.settle = True
        """Read the kernel after each call until it settles, so that a scenario's trace is
        the same every run. A real outside peer's run does not: nothing fixes its order,
        and a settle after every call of a busy peer costs milliseconds each; the state
        right after the call, and later changes from the watcher, are what it gets."""
        self._diag: bool | None = None
        """False where the kernel refuses socket diagnostics over netlink (then /proc is
        read); each reading opens its own (a run holds no descriptor between them) - but
        a real peer's run, whose every connection's close is read, keeps one open until
        :meth:`close`."""
        self._kept = None
        self._began: dict[int, float] = {}
        """Thread -> when its call began (after any wait for the peer): a segment sent
        before it was not that call's doing."""
        self._drained: dict[int, tuple[str, float]] = {}
        """Thread -> (its call's socket address, when the link had taken what that call's
        kernel queued before it returned): on a link, frames are stamped as the link
        takes them."""
        self._ended: dict[int, float] = {}
        """Thread -> when its last call returned: a segment sent after it was not that
        call's doing either."""

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
    def watch_wire(self, capture: Capture) -> SegmentReader:
        """Read the run's segments from ``capture`` after every call (and on the watch)."""
        from sockviz.engine.wire.segments import SegmentReader

        self.wire = SegmentReader(capture, self.registry.at)
        return self.wire

    def begins(self, ts: TracedSocket | None = None) -> None:
        """The calling thread's call on ``ts`` begins now (its wait for the peer, if any, is
        over). On a link, where a call's reading is not settled, ``ts``'s kernel state is
        read first: what changed before the call (the ACK of its FIN came, the peer's FIN)
        is a kernel line before it, not the call's doing."""
        if ts is not None and self.hosts is not None and self.settle and ts.watchable \
                and ts.sock is not None and ts.state is not State.CLOSED \
                and not self._stopped.is_set() and kernel.available():
            with self.lock:
                self.kernel_changes(self._read_kernel(ts))
        if self.wire is not None:
            self._began[threading.get_ident()] = time.time()

    def returns(self) -> float:
        """The calling thread's call has just returned: its time on the run's clock (the
        ``t`` of its line - not after the kernel settled, which comes later as the kernel's
        own lines). What the kernels send after it is not that call's (see ``segments.py``)."""
        if self.wire is not None:
            self._ended[threading.get_ident()] = time.time()
        return self.now()

    def drain(self, own: str | None) -> None:
        """The calling thread's call, from ``own`` (its socket's address), has just
        returned: on a link, wait for the link to have taken what that host's kernel had
        queued by then (see :meth:`_drain_link`); its frames up to that moment are the
        call's."""
        if self.wire is not None and self.hosts is not None and own:
            self._drained[threading.get_ident()] = (own, self._drain_link(own))

    def segments(self, cause: int | None) -> None:
        """Deliver the segments waiting now. ``cause``: the call just made, whose seq goes on
        what was sent between its start and its return (``segments.py`` says exactly what);
        None: nothing read now is a call's. The caller holds :attr:`lock`, so they come
        right after that call's event."""
        if self.wire is not None:
            since = until = None
            own, drained = None, None
            if cause is not None:
                thread = threading.get_ident()
                since, until = self._began.get(thread), self._ended.get(thread)
                own, drained = self._drained.pop(thread, (None, None))
            for segment in self.wire.read(cause, self.next_seq, self.now, since, until,
                                          own, drained):
                self.deliver(segment)
                if getattr(segment, "retry", None) is not None:  # (a link's: see retried)
                    pair = frozenset((segment.local, segment.remote))
                    self.retried[pair] = self.retried.get(pair, 0) + 1

    def _drain_link(self, own: str) -> float:
        """On a link, wait until the link has taken from ``own``'s host every packet its
        kernel had queued when the call returned (the link stamps a frame when it takes it,
        a moment after the kernel sent it; bounded by :data:`LINK_DRAIN`); then the wall
        clock's time, up to which that host's frames are the call's."""
        from sockviz.engine.lab.two_hosts import CLIENT_IP, CLIENT_IP6
        from sockviz.engine.kernel.socket_registry import address_of

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
            time.sleep(0.0005)  # (the link thread stamps what it has just taken)
        return time.time()

    def bulk_begin(self, ts: TracedSocket | None = None) -> None:
        """A bulk transfer starts on ``ts``'s connection: from now until the last one
        running ends, its segments are summed, not delivered one by one (tens of thousands
        of 64 KiB segments a second) - counted by the kernel at both ends when both are
        the run's."""
        with self.lock:
            self._bulk += 1
            if self.wire is None or self.wire.summing:
                return
            self.segments(None)  # (what came before is not the transfer's)
            ends = self._ends(ts)
            if ends is None:
                self.wire.begin_sum()
                return
            self._bulk_ends = ends
            self.wire.begin_sum((ends[0].local, ends[0].remote), self._counts())

    def _ends(self, ts: TracedSocket | None) -> tuple[TracedSocket, TracedSocket] | None:
        """``ts`` and the run's socket at the other end of its connection, if there is one."""
        if ts is None or not ts.local or not ts.remote:
            return None
        for other in self.registry.all:
            if other is not ts and other.local == ts.remote and other.remote == ts.local:
                return ts, other
        return None

    def _counts(self) -> dict:
        """The kernel's counts of the bulk transfer's two ends: (from, to) -> Counts."""
        return {(end.local, end.remote): kernel.counts(end.sock) for end in self._bulk_ends}

    def bulk_drain(self) -> None:
        """Read the wire now (what the kernel does not count for the transfer)."""
        with self.lock:
            self.segments(None)

    def bulk_end(self, event: Event | None) -> None:
        """A bulk transfer ended with ``event`` (None: it was stopped). When it was the last
        one running, each direction's sum is delivered, caused by its sender's bulk call."""
        with self.lock:
            if event is not None:
                self._bulk_calls[event.socket] = event.seq
            self._bulk -= 1
            if self._bulk or self.wire is None or not self.wire.summing:
                return
            self.segments(None)
            after = self._counts if self._bulk_ends else None
            for total in self.wire.sums(self._bulk_calls, self.next_seq, after):
                self.deliver(total)
            self._bulk_calls.clear()
            self._bulk_ends = ()

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

    def wait_ready(self, sock: socket.socket, events: int, timeout: float | None) -> bool:
        """Wait until ``sock`` is ready; False on timeout; :class:`Stopped` on stop."""
        return bool(self._poll({sock.fileno(): events}, timeout))

    def wait_any(self, socks, timeout: float | None) -> list:
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
        return Waiter(self)

    def close(self) -> None:
        """Close the wake-up pipe and the capture (after every thread has gone)."""
        if self._closed:
            return
        self._closed = True
        if self.wire is not None:
            self.wire.close()
        with self.lock:
            if self._kept:
                self._kept.close()
                self._kept = None
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # --- sockets and the kernel watch ------------------------------------------------
    @property
    def sockets(self) -> list[TracedSocket]:
        """Every socket of the run, in order of birth."""
        return list(self.registry.all)

    def adopt(self, ts: TracedSocket) -> None:
        self.registry.add(ts)
        if ts.watchable:
            self._kernel_last[ts] = None

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
                self.kernel_changes(self._read_kernel())
        if self.hosts is not None and not self._stopped.is_set() and kernel.available():
            self.in_flight()
        with self.lock:
            self.segments(None)

    @property
    def watching(self) -> bool:
        """True while some socket's kernel state may still change."""
        return self.registry.watching


class Waiter:
    """Sockets waited on together, as a real server's event loop does: each registered once
    (:meth:`add`, :meth:`discard`); :meth:`wait` gives those that can be read. The tracer's
    wake-up pipe is one of them, so :meth:`Tracer.stop` ends a wait at once
    (:class:`Stopped`). Close it when done."""

    def __init__(self, tracer: Tracer) -> None:
        import selectors

        self._tracer = tracer
        self._selector = selectors.DefaultSelector()
        self._selector.register(tracer._wake_r, selectors.EVENT_READ, None)
        self._read = selectors.EVENT_READ

    def add(self, sock: socket.socket) -> None:
        self._selector.register(sock, self._read, sock)

    def discard(self, sock: socket.socket) -> None:
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def wait(self, timeout: float | None = None) -> list[socket.socket]:
        """The sockets that can be read (hang-ups and errors count: the ``recv`` that
        follows reports them); [] on timeout; :class:`Stopped` on stop."""
        tracer = self._tracer
        while True:
            if tracer._stopped.is_set():
                raise Stopped()
            ready = [key.data for key, _ in self._selector.select(timeout)
                     if key.data is not None]
            if tracer._stopped.is_set():
                raise Stopped()
            if ready or timeout is not None:
                return ready

    def close(self) -> None:
        self._selector.close()
