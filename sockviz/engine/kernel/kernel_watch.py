"""The kernel watch: each watched socket's TCP state as the kernel has it, read after a call
(until it settles, where a scenario's order needs it) and by the watcher thread, and every
change a :class:`~sockviz.engine.events.KernelEvent`.

An object the tracer holds (``tracer.kernel``), built from what it needs and nothing more: the
run's :class:`~sockviz.engine.kernel.socket_registry.SocketRegistry`, a function that delivers
an event, the run's numbering and clock, and the run's stop. Its callers hold the tracer's
lock. Open sockets are read with ``TCP_INFO``; closed ones by their addresses over socket
diagnostics (``sock_diag.py``), or from ``/proc`` where netlink is refused.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NamedTuple

from sockviz.engine.events import Event, KernelEvent
from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.kernel.sock_diag import Diag, Found, open_diag
from sockviz.engine.kernel.socket_registry import Address, RunSocket, SocketRegistry, address_of
from sockviz.engine.kernel.tcp_state import ProcIndex
from sockviz.engine.states import State

if TYPE_CHECKING:
    from sockviz.engine.lab.two_hosts import Hosts


class KernelView(NamedTuple):
    """One socket as one reading of the kernel found it."""

    state: str | None
    """The kernel's TCP state (``ESTABLISHED``, ``TIME_WAIT``, ...)."""
    timer: float | None
    """Seconds left on its timer (TIME_WAIT's), where the kernel said."""
    source: str
    """Where it was read: ``tcp_info`` (the socket itself) or ``proc`` (by its addresses)."""
    queue: tuple[int, int] | None
    """A listener's accept queue: (waiting, backlog)."""


Reading = dict[RunSocket, KernelView]
"""One reading of the kernel: each socket read, as it was found."""

Netlink = Diag | Literal[False] | None
"""A reading's socket diagnostics: open, refused by the kernel (then /proc), or not yet open."""

Seen = tuple[str | None, tuple[int, int] | None]
"""A socket's (state, queue) as last told in a kernel line."""

_SEEN: dict[Seen, Seen] = {}


def _seen(state: str | None, queue: tuple[int, int] | None) -> Seen:
    """(state, queue) as last seen, one object for each that recurs (thousands of sockets in
    TIME_WAIT were each keeping a tuple of their own)."""
    key = (state, queue)
    return _SEEN.setdefault(key, key) if queue is None else key


_WENT_ON = frozenset(("FIN_WAIT1", "FIN_WAIT2", "CLOSING", "LAST_ACK", "TIME_WAIT"))
"""States after which a socket still held may read CLOSE while its connection lives on in
the kernel as a TIME_WAIT socket of its own (``ss`` shows it; ``TCP_INFO`` cannot)."""

_NEVER_HELD = frozenset((None, "CLOSE", "LISTEN", "SYN_SENT"))
"""Last states after which a closed socket is simply gone: the kernel keeps nothing of a
listener, a socket that never connected, or a connect() given up."""

SETTLE_LIMIT = 0.25
"""How long (seconds) a call waits for the kernel to leave a transient state (FIN_WAIT1 ...)
before its event is emitted. On loopback it takes microseconds."""


class KernelWatch:
    """The kernel's view of the run's TCP sockets, and each change a kernel line (see the
    module docstring)."""

    def __init__(
        self,
        registry: SocketRegistry,
        deliver: Callable[[Event], None],
        next_seq: Callable[[], int],
        now: Callable[[], float],
        stopping: threading.Event,
    ) -> None:
        self.registry = registry
        """The run's sockets: those watched are read."""
        self._deliver = deliver
        self._next_seq = next_seq
        self._now = now
        self._stopping = stopping
        """Set when the run stops: a reading then is one look, never a wait to settle."""
        self.hosts: Hosts | None = None
        """A two-host run's hosts: a closed socket is looked up in its own host's network."""
        self.settle = True
        """Read after each call until the kernel settles (a scenario's order); see
        :meth:`settled`."""
        self.flows = False
        """Read each connection's RTT, congestion window and retransmissions too (a
        two-host run: on loopback they say nothing)."""
        self.netlink: bool | None = None
        """False where the kernel refuses socket diagnostics over netlink (then /proc is
        read); each reading opens its own (a run holds no descriptor between them) - but
        a real peer's run, whose every connection's close is read, keeps one open until
        :meth:`close`."""
        self._kept: Diag | None = None
        self._last: dict[RunSocket, Seen | None] = {}
        """Socket -> (state, queue) as its last kernel line said."""
        self._flow_last: dict[RunSocket, tuple[int, int]] = {}

    def watch(self, ts: RunSocket) -> None:
        """``ts`` is the run's: its first reading is a change."""
        if ts.watchable:
            self._last[ts] = None

    def forget(self, ts: RunSocket) -> None:
        """The registry let ``ts`` go: so does what was kept beside it."""
        self._last.pop(ts, None)

    def close(self) -> None:
        """Close the diagnostics socket a real peer's run kept (the caller holds the lock)."""
        if self._kept:
            self._kept.close()
            self._kept = None

    # --- reading -----------------------------------------------------------------------
    def read(self, only: RunSocket | None = None, caller: RunSocket | None = None) -> Reading:
        """The kernel's view of every watched socket and ``caller`` (or of ``only``)."""
        out: Reading = {}
        if only is None:
            self.registry.wake()
            read = list(self.registry.watched)
            if caller is not None and caller not in self.registry.watched:
                read.append(caller)
        else:
            read = [only]
        diag: Netlink = None
        proc: list[ProcIndex] = []
        try:
            for ts in read:
                if ts.state is not State.CLOSED and ts.sock is not None:
                    state = kernel.held_state(ts.sock)
                    queue = kernel.listen_queue(ts.sock) if state == "LISTEN" else None
                    if (
                        state == "CLOSE"
                        and ts.last_remote is not None
                        and (self._last.get(ts) or (None,))[0] in _WENT_ON
                    ):
                        # (the kernel moved the connection to a TIME_WAIT socket of its
                        # own; the one still held reads CLOSE - look it up as ss does)
                        if diag is None and self.hosts is None:
                            diag = self._diag_open()
                        state, timer = self._moved(diag, ts, proc)
                        out[ts] = KernelView(
                            state, timer, "tcp_info" if timer is None else "proc", None
                        )
                        continue
                    out[ts] = KernelView(state, None, "tcp_info", queue)
                elif ts.last_local is None:
                    out[ts] = KernelView("CLOSE", None, "proc", None)
                else:
                    wildcard = "::" if ts.family == socket.AF_INET6 else "0.0.0.0"
                    remote = ts.last_remote or (wildcard, 0)
                    for again in range(2):
                        if self.hosts is not None:
                            state, timer = self._closed_on_host(ts.last_local, remote, ts.inode)
                        else:
                            if diag is None:
                                diag = self._diag_open()
                            state, timer = self._closed_state(
                                diag, ts.last_local, remote, [] if again else proc, ts.inode
                            )
                        # (gone, when it was a connection: the kernel may have been
                        # swapping the socket for its TIME_WAIT one as it was asked - a
                        # lookup then finds neither; ask once more before saying the
                        # connection is gone, and forgetting it. Under load the first
                        # reading after close() itself can be that one, the last state
                        # seen then ESTABLISHED)
                        if (
                            state != "CLOSE"
                            or again
                            or (self._last.get(ts) or (None,))[0] in _NEVER_HELD
                        ):
                            break
                    out[ts] = KernelView(state, timer, "proc", None)
        finally:
            self._diag_done(diag)
        return out

    def settled(self, caller: RunSocket | None = None) -> Reading:
        """Read the kernel until it has settled: no watched socket in a transient state,
        and two readings a moment apart agree (bounded by :data:`SETTLE_LIMIT`) - where
        :attr:`settle` asks for it (a scenario's order); else one reading of ``caller``.

        The second reading matters: a client is ESTABLISHED as soon as its kernel handles
        the SYN-ACK, a moment before the server's kernel handles the last ACK and queues
        the connection. When the run is stopping, quitting must not wait: one reading of
        the ``caller`` alone, and none for a socket just closed (the tracer's ``close_all``
        reads once for all of them; closing each of 200 connections used to read all 200
        again).
        """
        if self._stopping.is_set():
            if caller is not None and caller.state is State.CLOSED:
                return {}  # (read once for all of them, after close_all's last close)
            return self.read(caller)
        if not self.settle:  # (a real peer: no order to protect; the watcher sees the rest)
            return self.read(caller)
        if self.hosts is not None:
            # Two hosts: a transient state lasts as long as the link and the kernels'
            # timers make it (FIN_WAIT1 until the FIN's ACK crosses, or its retry's), not
            # microseconds - waiting it out would be a race with SETTLE_LIMIT. The state
            # right after the call is what the call left; later changes are kernel lines
            # with their own times (the watcher, the next call's reading).
            return self.read(caller=caller)
        reading = self.read(caller=caller)

        def states(r: Reading) -> dict[RunSocket, Seen]:  # (not the timers, which tick)
            return {ts: (v.state, v.queue) for ts, v in r.items()}

        deadline = time.monotonic() + SETTLE_LIMIT
        while time.monotonic() < deadline:
            time.sleep(0.002)
            again = self.read(caller=caller)
            settled = states(again) == states(reading) and not any(
                v.state in kernel.TRANSIENT for v in again.values()
            )
            reading = again
            if settled:
                break
        return reading

    # --- what changed: the kernel lines ------------------------------------------------
    def changes(self, reading: Reading, exclude: RunSocket | None = None) -> list[KernelEvent]:
        """Emit a :class:`KernelEvent` for each socket read whose state changed (not for
        ``exclude``, whose call event carries it) - or, on a two-host run
        (:attr:`flows`), whose congestion window or retransmissions did."""
        emitted = []
        for ts, (state, timer, source, queue) in reading.items():
            lifecycle = ts.state
            if lifecycle is None:  # (never so: a socket whose socket() failed is not watched)
                continue
            previous, previous_queue = self._last.get(ts) or (None, None)
            flow = self._flow(ts) if self.flows else None
            changed = state is not None and (state, queue) != (previous, previous_queue)
            if ts is exclude or changed:
                self._last[ts] = _seen(state, queue)
            if state is not None and ((ts is not exclude and changed) or flow is not None):
                rtt, cwnd, retrans = (None, None, None) if flow is None else flow
                event = KernelEvent(
                    seq=self._next_seq(),
                    t=self._now(),
                    socket=ts.name,
                    role=ts.role,
                    state=lifecycle,
                    family=ts.family_name,
                    type=ts.transport.value,
                    local=ts.local,
                    remote=ts.remote,
                    sent_total=ts.sent_total,
                    recv_total=ts.recv_total,
                    kernel=state,
                    previous=previous if ts is not exclude else state,
                    timer=None if timer is None else round(timer, 2),
                    source=source,
                    queue=queue,
                    rtt=rtt,
                    cwnd=cwnd,
                    retrans=retrans,
                )
                emitted.append(event)
                self._deliver(event)
            if lifecycle is State.CLOSED:
                if state == "CLOSE":
                    self._last.pop(ts, None)
                    self.registry.released(ts)
                elif state == "TIME_WAIT" and timer is not None:
                    self.registry.sleep(ts, timer)  # (nothing changes it until the timer ends)
        return emitted

    def let_go(self) -> list[KernelEvent]:
        """The forgotten sockets whose TIME_WAIT should be over: a ``kernel`` line for each
        the kernel has let go (those still waiting are looked at again later)."""
        due = self.registry.due()
        if not due:
            return []
        emitted: list[KernelEvent] = []
        diag: Netlink = self._diag_open() if self.hosts is None else None
        proc: list[ProcIndex] = []
        try:
            for asleep in due:
                local, remote = address_of(asleep.local), address_of(asleep.remote)
                state, timer = (
                    self._closed_on_host(local, remote)
                    if self.hosts is not None
                    else self._closed_state(diag, local, remote, proc)
                )
                if state == "TIME_WAIT":
                    self.registry.again(asleep, timer or 1.0)
                    continue
                event = KernelEvent(
                    seq=self._next_seq(),
                    t=self._now(),
                    socket=asleep.name,
                    role=asleep.role,
                    state=State.CLOSED,
                    family=asleep.family,
                    type=asleep.type,
                    local=asleep.local,
                    remote=asleep.remote,
                    sent_total=asleep.sent,
                    recv_total=asleep.received,
                    kernel=state,
                    previous="TIME_WAIT",
                    timer=None if timer is None else round(timer, 2),
                    source="proc",
                    queue=None,
                )
                emitted.append(event)
                self._deliver(event)
        finally:
            self._diag_done(diag)
        return emitted

    def _flow(self, ts: RunSocket) -> tuple[float, int, int] | None:
        """``ts``'s (RTT, congestion window, retransmissions) when the window or the
        retransmissions changed since last read (the RTT alone moves with every ACK)."""
        if ts.sock is None or ts.state is State.CLOSED or ts.transport.value != "SOCK_STREAM":
            self._flow_last.pop(ts, None)
            return None
        flow = kernel.flow(ts.sock)
        if flow is None or self._flow_last.get(ts) == flow[1:]:
            return None
        self._flow_last[ts] = flow[1:]
        return flow

    # --- closed sockets, by their addresses -------------------------------------------
    def _moved(
        self, diag: Netlink, ts: RunSocket, proc: list[ProcIndex]
    ) -> tuple[str, float | None]:
        """The connection of a socket still held whose ``TCP_INFO`` reads CLOSE after a
        closing state: by its addresses, TIME_WAIT and its timer if the kernel keeps it so,
        else CLOSE."""
        if self.hosts is not None:
            state, timer = self._closed_on_host(ts.last_local, ts.last_remote)
        else:
            state, timer = self._closed_state(diag, ts.last_local, ts.last_remote, proc)
        return ("TIME_WAIT", timer) if state == "TIME_WAIT" else ("CLOSE", None)

    def _diag_open(self) -> Diag | Literal[False]:
        """Socket diagnostics over netlink for one reading (a real peer's run keeps it to
        its end: every connection's close is read), or False where the kernel refuses it
        (then /proc is read, this run on)."""
        if self.netlink is False:
            return False
        diag = self._kept
        if diag is None:
            diag = open_diag()
            if diag is None:
                self.netlink = False
                return False
            if not self.settle:
                self._kept = diag
        return diag

    def _diag_done(self, diag: Netlink) -> None:
        if diag and diag is not self._kept:
            diag.close()  # (a scenario's run keeps no descriptor between readings)

    def _closed_on_host(
        self, local: Address, remote: Address, own: int = 0
    ) -> tuple[str, float | None]:
        """A closed socket's state on a two-host run: asked in the network of the host
        whose address it had (the client's TIME_WAIT is in the client's kernel)."""
        # (here, not at the top: the two-host lab loads ctypes, for two-host runs only)
        from sockviz.engine.lab.two_hosts import CLIENT_IP, CLIENT_IP6

        assert self.hosts is not None  # (only called on a two-host run)
        host = "client" if str(local[0]) in (CLIENT_IP, CLIENT_IP6) else "server"
        with self.hosts.inside(host):
            diag = open_diag() if self.netlink is not False else None
            try:
                return self._closed_state(diag or False, local, remote, [], own)
            finally:
                if diag:
                    diag.close()

    @staticmethod
    def _closed_state(
        diag: Netlink, local: Address, remote: Address, proc: list[ProcIndex], own: int = 0
    ) -> tuple[str, float | None]:
        """A closed socket's connection as the kernel has it, asked by its addresses over
        socket diagnostics (what ``ss`` uses): (state, timer); ``CLOSE`` when the kernel has
        let it go. Where netlink will not answer, ``/proc`` (read once per reading: kept
        in ``proc``)."""
        if diag:
            found: Found | Literal[False] | None
            try:
                found = diag.lookup(local, remote)
            except (OSError, ValueError):
                found = False
            if found is None or (found and found.inode and found.inode != own):
                # (a socket with a file of its own is a new connection on those addresses;
                # with the closed socket's own, the file is still being let go - a thread
                # of the run's polling it holds it a moment - and the state is the one)
                return ("CLOSE", None)
            if found:
                return (found.state, found.timer)
        if not proc:
            proc.append(kernel.index(kernel.read_proc(("tcp", "tcp6"))))
        return kernel.closed_state(local, remote, proc[0])
