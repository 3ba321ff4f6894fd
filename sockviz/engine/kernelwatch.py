"""The tracer's kernel watch: each watched socket's TCP state as the kernel has it, read
after a call (until it settles, where a scenario's order needs it) and by the watcher
thread, and every change a :class:`~sockviz.engine.events.KernelEvent`.

Mixed into :class:`~sockviz.engine.tracer.Tracer` (it uses the tracer's lock, numbering,
consumer and :class:`~sockviz.engine.registry.Registry`). Open sockets are read with
``TCP_INFO``; closed ones by their addresses over socket diagnostics (``diag.py``), or from
``/proc`` where netlink is refused.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from sockviz.engine import kernel
from sockviz.engine.events import KernelEvent
from sockviz.engine.registry import address_of
from sockviz.engine.states import State

if TYPE_CHECKING:
    from sockviz.engine.traced import TracedSocket


_SEEN: dict = {}


def _seen(state: str | None, queue) -> tuple:
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


class KernelWatch:
    """The kernel watch of a :class:`~sockviz.engine.tracer.Tracer` (see the module
    docstring)."""

    #: How long a call waits for the kernel to leave a transient state (FIN_WAIT1 ...)
    #: before its event is emitted. On loopback it takes microseconds.
    SETTLE_LIMIT = 0.25

    #: How long a two-host run's end waits for what is still in flight (:meth:`in_flight`).
    END_LIMIT = 1.5

    def _read_kernel(self, only: TracedSocket | None = None,
                     caller: TracedSocket | None = None) -> dict[TracedSocket, tuple]:
        """The kernel's view of every watched socket and ``caller`` (or of ``only``): socket
        -> (state, timer, source, queue)."""
        out: dict[TracedSocket, tuple] = {}
        if only is None:
            self.registry.wake()
            read = list(self.registry.watched)
            if caller is not None and caller not in self.registry.watched:
                read.append(caller)
        else:
            read = [only]
        diag, proc = None, []
        try:
            for ts in read:
                if ts.state is not State.CLOSED and ts.sock is not None:
                    state = kernel.held_state(ts.sock)
                    queue = kernel.listen_queue(ts.sock) if state == "LISTEN" else None
                    if state == "CLOSE" and ts.last_remote is not None and (
                            self._kernel_last.get(ts) or (None,))[0] in _WENT_ON:
                        # (the kernel moved the connection to a TIME_WAIT socket of its
                        # own; the one still held reads CLOSE - look it up as ss does)
                        if diag is None and self.hosts is None:
                            diag = self._diag_open()
                        state, timer = self._moved(diag, ts, proc)
                        out[ts] = (state, timer, "tcp_info" if timer is None else "proc",
                                   None)
                        continue
                    out[ts] = (state, None, "tcp_info", queue)
                elif ts.last_local is None:
                    out[ts] = ("CLOSE", None, "proc", None)
                else:
                    wildcard = "::" if ts.family == socket.AF_INET6 else "0.0.0.0"
                    remote = ts.last_remote or (wildcard, 0)
                    for again in range(2):
                        if self.hosts is not None:
                            state, timer = self._closed_on_host(ts.last_local, remote)
                        else:
                            if diag is None:
                                diag = self._diag_open()
                            state, timer = self._closed_state(diag, ts.last_local, remote,
                                                              [] if again else proc)
                        # (gone, when it was a connection: the kernel may have been
                        # swapping the socket for its TIME_WAIT one as it was asked - a
                        # lookup then finds neither; ask once more before saying the
                        # connection is gone, and forgetting it. Under load the first
                        # reading after close() itself can be that one, the last state
                        # seen then ESTABLISHED)
                        if state != "CLOSE" or again or (self._kernel_last.get(ts)
                                                         or (None,))[0] in _NEVER_HELD:
                            break
                    out[ts] = (state, timer, "proc", None)
        finally:
            self._diag_done(diag)
        return out

    def _moved(self, diag, ts: TracedSocket, proc: list) -> tuple[str, float | None]:
        """The connection of a socket still held whose ``TCP_INFO`` reads CLOSE after a
        closing state: by its addresses, TIME_WAIT and its timer if the kernel keeps it so,
        else CLOSE."""
        if self.hosts is not None:
            state, timer = self._closed_on_host(ts.last_local, ts.last_remote)
        else:
            state, timer = self._closed_state(diag, ts.last_local, ts.last_remote, proc)
        return ("TIME_WAIT", timer) if state == "TIME_WAIT" else ("CLOSE", None)

    def _diag_open(self):
        """Socket diagnostics over netlink for one reading (a real peer's run keeps it to
        its end: every connection's close is read), or False where the kernel refuses it
        (then /proc is read, this run on)."""
        if self._diag is False:
            return False
        diag = self._kept
        if diag is None:
            from sockviz.engine.diag import open_diag

            diag = open_diag()
            if diag is None:
                self._diag = False
                return False
            if not self.settle:
                self._kept = diag
        return diag

    def _diag_done(self, diag) -> None:
        if diag and diag is not self._kept:
            diag.close()  # (a scenario's run keeps no descriptor between readings)

    def _closed_on_host(self, local: tuple, remote: tuple) -> tuple[str, float | None]:
        """A closed socket's state on a two-host run: asked in the network of the host
        whose address it had (the client's TIME_WAIT is in the client's kernel)."""
        from sockviz.engine.diag import open_diag
        from sockviz.engine.hosts import CLIENT_IP, CLIENT_IP6

        host = "client" if str(local[0]) in (CLIENT_IP, CLIENT_IP6) else "server"
        with self.hosts.inside(host):
            diag = open_diag() if self._diag is not False else None
            try:
                return self._closed_state(diag or False, local, remote, [])
            finally:
                if diag:
                    diag.close()

    @staticmethod
    def _closed_state(diag, local: tuple, remote: tuple,
                      proc: list) -> tuple[str, float | None]:
        """A closed socket's connection as the kernel has it, asked by its addresses over
        socket diagnostics (what ``ss`` uses): (state, timer); ``CLOSE`` when the kernel has
        let it go. Where netlink will not answer, ``/proc`` (read once per reading: kept
        in ``proc``)."""
        if diag:
            try:
                found = diag.lookup(local, remote)
            except (OSError, ValueError):
                found = False
            if found is None or (found and found.inode):  # (a socket with a file is a new
                return ("CLOSE", None)                   # connection on those addresses)
            if found:
                return (found.state, found.timer)
        if not proc:
            proc.append(kernel.index(kernel.read_proc(("tcp", "tcp6"))))
        return kernel.closed_state(local, remote, proc[0])

    def _settled_kernel(self, caller: TracedSocket | None = None) -> dict[TracedSocket, tuple]:
        """Read the kernel until it has settled: no watched socket in a transient state,
        and two readings a moment apart agree (bounded by :attr:`SETTLE_LIMIT`) - where
        :attr:`settle` asks for it (a scenario's order); else one reading of ``caller``.

        The second reading matters: a client is ESTABLISHED as soon as its kernel handles
        the SYN-ACK, a moment before the server's kernel handles the last ACK and queues
        the connection. When the run is stopping, quitting must not wait: one reading of
        the ``caller`` alone, and none for a socket just closed (:meth:`close_all` reads
        once for all of them; closing each of 200 connections used to read all 200 again).
        """
        if self._stopped.is_set():
            if caller is not None and caller.state is State.CLOSED:
                return {}  # (read once for all of them, after close_all's last close)
            return self._read_kernel(caller)
        if not self.settle:  # (a real peer: no order to protect; the watcher sees the rest)
            return self._read_kernel(caller)
        if self.hosts is not None:
            # Two hosts: a transient state lasts as long as the link and the kernels'
            # timers make it (FIN_WAIT1 until the FIN's ACK crosses, or its retry's), not
            # microseconds - waiting it out would be a race with SETTLE_LIMIT. The state
            # right after the call is what the call left; later changes are kernel lines
            # with their own times (the watcher, the next call's reading).
            return self._read_kernel(caller=caller)
        reading = self._read_kernel(caller=caller)
        def states(r: dict) -> dict:  # what must agree: not the timers, which tick
            return {ts: (v[0], v[3]) for ts, v in r.items()}

        deadline = time.monotonic() + self.SETTLE_LIMIT
        while time.monotonic() < deadline:
            time.sleep(0.002)
            again = self._read_kernel(caller=caller)
            settled = states(again) == states(reading) and not any(
                v[0] in kernel.TRANSIENT for v in again.values()
            )
            reading = again
            if settled:
                break
        return reading

    def in_flight(self) -> None:
        """A two-host run's calls are done: let what the link still carries arrive (a FIN,
        its ACK) - read the kernels and the wire until no watched socket is in a transient
        state, at most :attr:`END_LIMIT` - so that the end of the story is told, each change
        a kernel line with its own time (after each call only one reading was made)."""
        deadline = time.monotonic() + self.END_LIMIT
        while not self._stopped.is_set():
            with self.lock:
                self.segments(None)
                reading = self._read_kernel()
                self.kernel_changes(reading)
            if time.monotonic() >= deadline or not any(
                    v[0] in kernel.TRANSIENT for v in reading.values()):
                return
            time.sleep(0.01)

    def kernel_changes(self, reading: dict[TracedSocket, tuple],
                       exclude: TracedSocket | None = None) -> list[KernelEvent]:
        """Emit a :class:`KernelEvent` for each socket read whose state changed (not for
        ``exclude``, whose call event carries it) - or, on a two-host run
        (:attr:`flows`), whose congestion window or retransmissions did."""
        emitted = []
        for ts, (state, timer, source, queue) in reading.items():
            previous, previous_queue = self._kernel_last.get(ts) or (None, None)
            flow = self._flow(ts) if self.flows else None
            changed = state is not None and (state, queue) != (previous, previous_queue)
            if ts is exclude or changed:
                self._kernel_last[ts] = _seen(state, queue)
            if ts is not exclude and changed or flow is not None and state is not None:
                event = KernelEvent(
                    seq=self.next_seq(),
                    t=self.now(),
                    socket=ts.name,
                    role=ts.role,
                    state=ts.state,
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
                    **({} if flow is None else dict(zip(("rtt", "cwnd", "retrans"), flow))),
                )
                emitted.append(event)
                self.deliver(event)
            if ts.state is State.CLOSED:
                if state == "CLOSE":
                    self._kernel_last.pop(ts, None)
                    self.registry.released(ts)
                elif state == "TIME_WAIT" and timer is not None:
                    self.registry.sleep(ts, timer)  # (nothing changes it until the timer ends)
        return emitted

    def poll_kernel(self) -> list[KernelEvent]:
        """Look at the kernel (and the wire) now: the background watch, at most 10 times a
        second. What it finds no call caused."""
        with self.lock:
            self.segments(None)
            if not self.registry.watching or not kernel.available():
                return []
            return self.kernel_changes(self._read_kernel()) + self._let_go()

    def _flow(self, ts: TracedSocket) -> tuple | None:
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

    def _forgotten(self, ts: TracedSocket) -> None:
        """The registry let ``ts`` go: so does what was kept beside it."""
        self._kernel_last.pop(ts, None)
        if self.wire is not None:
            self.wire.forget(ts.local, ts.remote)

    def _let_go(self) -> list[KernelEvent]:
        """The forgotten sockets whose TIME_WAIT should be over: a ``kernel`` line for each
        the kernel has let go (those still waiting are looked at again later)."""
        due = self.registry.due()
        if not due:
            return []
        emitted, diag, proc = [], self._diag_open() if self.hosts is None else None, []
        try:
            for asleep in due:
                local, remote = address_of(asleep.local), address_of(asleep.remote)
                state, timer = (self._closed_on_host(local, remote) if self.hosts is not None
                                else self._closed_state(diag, local, remote, proc))
                if state == "TIME_WAIT":
                    self.registry.again(asleep, timer or 1.0)
                    continue
                event = KernelEvent(
                    seq=self.next_seq(), t=self.now(), socket=asleep.name, role=asleep.role,
                    state=State.CLOSED, family=asleep.family, type=asleep.type,
                    local=asleep.local, remote=asleep.remote, sent_total=asleep.sent,
                    recv_total=asleep.received, kernel=state, previous="TIME_WAIT",
                    timer=None if timer is None else round(timer, 2), source="proc",
                    queue=None)
                emitted.append(event)
                self.deliver(event)
        finally:
            self._diag_done(diag)
        return emitted
