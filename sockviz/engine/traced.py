"""A real socket whose every call becomes exactly one event.

:class:`TracedSocket` wraps a real :class:`socket.socket`. Each method performs the one
real system call it is named after and then emits one :class:`~sockviz.engine.events.CallEvent`
with the lifecycle state after it, the real addresses (``getsockname``/``getpeername``),
the bytes moved and, on failure, the errno name. A failed call is an event, not a crash.

Sockets are kept non-blocking. A call that would block first waits for readiness in
``poll()`` on the socket *and* on a wake-up pipe, so :meth:`Tracer.stop` can end any wait -
in ``accept``, ``connect`` or ``recv`` - at once. No system call is ever made just to
look: a call that was stopped before it ran emits nothing, because nothing happened.

All sockets of one run share a :class:`Tracer`: the clock, the numbering of events, the
consumer they go to, the wake-up pipe, and the kernel watch (``kernel.py``) that reports
the kernel's TCP state after each call.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from sockviz.engine import kernel
from sockviz.engine.events import PREVIEW_CAP, CallEvent, Event, KernelEvent, Progress
from sockviz.engine.states import (
    INITIAL,
    Call,
    IllegalTransition,
    Role,
    State,
    Transport,
    next_state,
)

__all__ = [
    "IllegalTransition",
    "Stopped",
    "TracedSocket",
    "Tracer",
    "format_address",
]

READ = select.POLLIN
WRITE = select.POLLOUT
_WOULD_BLOCK = (errno.EAGAIN, errno.EWOULDBLOCK)


class Stopped(Exception):
    """The run was stopped while this thread waited; the call was not made."""


def errno_name(err: OSError) -> str:
    """``ECONNREFUSED`` for an OSError, or a stand-in name when there is no errno."""
    if err.errno is not None:
        return errno.errorcode.get(err.errno, f"E{err.errno}")
    if isinstance(err, TimeoutError):
        return "ETIMEDOUT"
    return type(err).__name__


def format_address(family: int, addr) -> str | None:
    """``127.0.0.1:5000``, ``[::1]:5000`` or a Unix path; None for "no address"."""
    if addr is None:
        return None
    if family == getattr(socket, "AF_UNIX", None):
        if isinstance(addr, bytes):
            addr = addr.decode("utf-8", "backslashreplace")
        return addr or None
    host, port = addr[0], addr[1]
    if port == 0 and host in ("0.0.0.0", "::"):
        return None
    if family == socket.AF_INET6:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)


def _bytes_arg(data: bytes, cap: int = 40) -> str:
    shown = repr(bytes(data[:cap]))
    return shown if len(data) <= cap else f"{shown}…  # {len(data)} bytes"


_SHUT_NAMES = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}


def call_args(call: Call, *args) -> str:
    """A call's arguments written as a learner would write them in Python."""
    if call is Call.SOCKET:
        family, transport = args
        return f"socket.{_family_name(family)}, socket.{transport.value}"
    if call is Call.SETSOCKOPT:
        level, option, value = args
        if isinstance(value, tuple):  # a struct, e.g. SO_LINGER's (on, seconds)
            value = f"struct.pack('ii', {', '.join(str(v) for v in value)})"
            return f"socket.{level}, socket.{option}, {value}"
        return f"socket.{level}, socket.{option}, {value!r}"
    if call is Call.SHUTDOWN:
        (how,) = args
        return f"socket.{_SHUT_NAMES.get(how, how)}"
    if call in (Call.SEND, Call.SENDALL):
        return _bytes_arg(args[0])
    if call is Call.SENDTO:
        return f"{_bytes_arg(args[0])}, {args[1]!r}"
    if call in (Call.ACCEPT, Call.CLOSE):
        return ""
    return ", ".join(repr(a) for a in args)


class Tracer:
    """What every socket of one run shares: clock, numbering, consumer, wake-up, kernel watch.

    ``consumer`` is called with each event, in order, from whichever thread made the call;
    calls and their events are serialised by one lock, so ``seq`` follows real time.
    """

    #: How long a call waits for the kernel to leave a transient state (FIN_WAIT1 ...)
    #: before its event is emitted. On loopback it takes microseconds.
    SETTLE_LIMIT = 0.25

    def __init__(self, consumer: Callable[[Event], None]) -> None:
        self._consumer = consumer
        self.lock = threading.RLock()
        self.started = time.monotonic()
        self._seq = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stopped = threading.Event()
        self._sockets: list[TracedSocket] = []
        self._kernel_last: dict[str, tuple | None] = {}
        self._watched: list[TracedSocket] = []
        self._closed = False

    # --- numbering and delivery -------------------------------------------------------
    def now(self) -> float:
        return round(time.monotonic() - self.started, 6)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def deliver(self, event: Event) -> None:
        """Hand an event to the consumer (callers hold :attr:`lock` for trace events)."""
        self._consumer(event)

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

    def close(self) -> None:
        """Close the wake-up pipe (after every thread has gone)."""
        if self._closed:
            return
        self._closed = True
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # --- sockets and the kernel watch ------------------------------------------------
    @property
    def sockets(self) -> list[TracedSocket]:
        """Every socket of the run, in order of birth."""
        return list(self._sockets)

    def adopt(self, ts: TracedSocket) -> None:
        self._sockets.append(ts)
        if ts.watchable:
            self._watched.append(ts)
            self._kernel_last[ts.name] = None

    def close_all(self) -> None:
        """Close, with an event each, every socket still open (used when a run stops)."""
        closed = False
        for ts in self.sockets:
            if ts.state is not State.CLOSED and ts.sock is not None:
                ts.close()
                closed = True
        if closed and self._stopped.is_set() and self._watched and kernel.available():
            # Stopping, each close skipped the kernel (a reading of /proc per close cost
            # seconds with hundreds of connections): one reading now says where each went.
            with self.lock:
                self.kernel_changes(self._read_kernel())

    def _read_kernel(self, only: TracedSocket | None = None) -> dict[str, tuple]:
        """The kernel's view of every watched socket (or of ``only``): name -> (state,
        timer, source, queue)."""
        out: dict[str, tuple] = {}
        entries: list[kernel.ProcEntry] | None = None
        for ts in self._watched if only is None else [only]:
            if ts.state is not State.CLOSED and ts.sock is not None:
                state = kernel.held_state(ts.sock)
                queue = kernel.listen_queue(ts.sock) if state == "LISTEN" else None
                out[ts.name] = (state, None, "tcp_info", queue)
                continue
            if ts.last_local is None:
                out[ts.name] = ("CLOSE", None, "proc", None)
                continue
            if entries is None:
                files = ("tcp6",) if ts.family == socket.AF_INET6 else ("tcp",)
                entries = kernel.read_proc(files)
            st, timer = kernel.closed_state(ts.last_local, ts.last_remote, entries)
            out[ts.name] = (st, timer, "proc", None)
        return out

    def _settled_kernel(self, caller: TracedSocket | None = None) -> dict[str, tuple]:
        """Read the kernel until it has settled: no watched socket in a transient state,
        and two readings a moment apart agree (bounded by :attr:`SETTLE_LIMIT`).

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
        reading = self._read_kernel()
        def states(r: dict) -> dict:  # what must agree: not the timers, which tick
            return {name: (v[0], v[3]) for name, v in r.items()}

        deadline = time.monotonic() + self.SETTLE_LIMIT
        while time.monotonic() < deadline:
            time.sleep(0.002)
            again = self._read_kernel()
            settled = states(again) == states(reading) and not any(
                v[0] in kernel.TRANSIENT for v in again.values()
            )
            reading = again
            if settled:
                break
        return reading

    def kernel_changes(self, reading, exclude: str | None = None) -> list[KernelEvent]:
        """Emit a :class:`KernelEvent` for each watched socket whose state changed."""
        emitted = []
        for ts in list(self._watched):
            state, timer, source, queue = reading.get(ts.name, (None, None, "", None))
            previous, previous_queue = self._kernel_last.get(ts.name) or (None, None)
            if ts.name == exclude:
                self._kernel_last[ts.name] = (state, queue)
            elif state is not None and (state, queue) != (previous, previous_queue):
                self._kernel_last[ts.name] = (state, queue)
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
                    previous=previous,
                    timer=None if timer is None else round(timer, 2),
                    source=source,
                    queue=queue,
                )
                emitted.append(event)
                self.deliver(event)
            if ts.state is State.CLOSED and state == "CLOSE":
                self._watched.remove(ts)
        return emitted

    def poll_kernel(self) -> list[KernelEvent]:
        """Look at the kernel now (the background watch, at most 10 times a second)."""
        with self.lock:
            if not self._watched or not kernel.available():
                return []
            return self.kernel_changes(self._read_kernel())

    @property
    def watching(self) -> bool:
        """True while some socket's kernel state may still change."""
        return bool(self._watched)


class TracedSocket:
    """One real socket; every method is one real call and one event. See the module doc."""

    def __init__(
        self,
        tracer: Tracer,
        name: str,
        role: Role,
        family: int,
        transport: Transport,
        sock: socket.socket | None = None,
        parent: str | None = None,
    ) -> None:
        self.tracer = tracer
        self.name = name
        self.role = role
        self.family = family
        self.family_name = _family_name(family)
        self.transport = transport
        self.sock = sock
        self.parent = parent
        self.state: State | None = INITIAL[role] if sock is not None else None
        self.sent_total = 0
        self.recv_total = 0
        self.last_local = None
        self.last_remote = None
        self.last_received = b""
        """Every byte the last ``recv``/``recvfrom`` returned (not capped): for echoing."""
        self.last_peer = None
        """The address the last datagram came from (``recvfrom``)."""
        self._peer_hint = None  # the datagram peer of the call in progress

    # --- birth ------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        tracer: Tracer,
        name: str,
        role: Role,
        family: int,
        transport: Transport,
        step: int | None = None,
    ) -> tuple[CallEvent, TracedSocket]:
        """``socket(family, type)``: the birth of a listener, client or UDP server.

        Returns the event and the socket (whose ``state`` is None if the call failed).
        """
        sock_type = socket.SOCK_STREAM if transport is Transport.STREAM else socket.SOCK_DGRAM
        ts = cls(tracer, name, role, family, transport)
        args = call_args(Call.SOCKET, family, transport)
        with tracer.lock:
            try:
                sock = socket.socket(family, sock_type)
            except OSError as err:
                return ts._emit(Call.SOCKET, args, step=step, error=err), ts
            sock.setblocking(False)
            ts.sock = sock
            ts.state = INITIAL[role]
            tracer.adopt(ts)
            return ts._emit(Call.SOCKET, args, step=step), ts

    # --- what is known about it -------------------------------------------------------
    @property
    def watchable(self) -> bool:
        return self.transport is Transport.STREAM and self.family in (
            socket.AF_INET,
            socket.AF_INET6,
        )

    @property
    def local(self) -> str | None:
        return format_address(self.family, self.last_local)

    @property
    def remote(self) -> str | None:
        return format_address(self.family, self.last_remote)

    def _refresh_addresses(self) -> None:
        if self.sock is None or self.state is State.CLOSED:
            return
        try:
            self.last_local = self.sock.getsockname()
        except OSError:
            pass
        if self.transport is Transport.DGRAM and self.state is not State.CONNECTED:
            if self._peer_hint is not None:
                self.last_remote = self._peer_hint
            return
        try:
            self.last_remote = self.sock.getpeername()
        except OSError:
            pass

    def _check(self, call: Call) -> State:
        if self.state is None:
            raise IllegalTransition(self.transport, self.role, State.CLOSED, call)
        return next_state(self.transport, self.role, self.state, call)

    # --- the one place events are made -----------------------------------------------
    def _emit(
        self,
        call: Call,
        args: str | None,
        *,
        step: int | None,
        error: OSError | None = None,
        after: State | None = None,
        nbytes: int | None = None,
        data: bytes | None = None,
        implicit_bind: bool = False,
        parent: str | None = None,
        parts: int | None = None,
        partial: int | None = None,
    ) -> CallEvent:
        """Build and deliver the call's event (the caller holds the tracer's lock)."""
        tracer = self.tracer
        if error is None and after is not None:
            self.state = after
        self._refresh_addresses()
        reading = {}
        kernel_state = queue = None
        if self.watchable and kernel.available():
            reading = tracer._settled_kernel(self)
            kernel_state, _, _, queue = reading.get(self.name, (None, None, None, None))
        event = CallEvent(
            seq=tracer.next_seq(),
            t=tracer.now(),
            socket=self.name,
            role=self.role,
            call=call,
            state=self.state,
            family=self.family_name,
            type=self.transport.value,
            local=self.local,
            remote=self.remote,
            nbytes=nbytes,
            sent_total=self.sent_total,
            recv_total=self.recv_total,
            error=errno_name(error) if error is not None else None,
            error_text=(error.strerror or str(error)) if error is not None else None,
            kernel=kernel_state,
            args=args,
            data=None if data is None else bytes(data[:PREVIEW_CAP]),
            implicit_bind=implicit_bind,
            parent=parent,
            step=step,
            parts=parts,
            partial=partial,
            queue=queue,
        )
        tracer.deliver(event)
        if reading:
            tracer.kernel_changes(reading, exclude=self.name)
        return event

    def _simple(self, call: Call, args: str, fn: Callable[[], object], step: int | None):
        after = self._check(call)
        with self.tracer.lock:
            try:
                fn()
            except OSError as err:
                return self._emit(call, args, step=step, error=err)
            return self._emit(call, args, step=step, after=after)

    def _wait(self, events: int, timeout: float | None) -> None:
        """Wait for readiness; on timeout return anyway so the real call reports EAGAIN."""
        self.tracer.wait_ready(self.sock, events, timeout)

    # --- the calls --------------------------------------------------------------------
    def setsockopt(self, level: str, option: str, value, step: int | None = None) -> CallEvent:
        """``setsockopt(level, option, value)`` with the constants named as in ``socket``.

        ``value`` is an int or the packed bytes of a struct (``SO_LINGER``).
        """
        lvl, opt = _constant(level), _constant(option)
        args = call_args(Call.SETSOCKOPT, level, option, value)
        if isinstance(value, tuple):
            value = struct.pack("ii", *value)
        return self._simple(
            Call.SETSOCKOPT, args, lambda: self.sock.setsockopt(lvl, opt, value), step
        )

    def bind(self, address, step: int | None = None) -> CallEvent:
        """``bind(address)``: give the socket its local address."""
        return self._simple(Call.BIND, call_args(Call.BIND, address), lambda: self.sock.bind(address), step)

    def listen(self, backlog: int, step: int | None = None) -> CallEvent:
        """``listen(backlog)``: turn the socket into a listener with a queue of ``backlog``."""
        return self._simple(Call.LISTEN, repr(backlog), lambda: self.sock.listen(backlog), step)

    def shutdown(self, how: int, step: int | None = None) -> CallEvent:
        """``shutdown(how)``: end one or both directions without releasing the socket."""
        return self._simple(
            Call.SHUTDOWN, call_args(Call.SHUTDOWN, how), lambda: self.sock.shutdown(how), step
        )

    def close(self, step: int | None = None) -> CallEvent:
        """``close()``: release the descriptor. The kernel may keep the connection a while."""
        after = self._check(Call.CLOSE)
        with self.tracer.lock:
            self._refresh_addresses()  # remember the addresses: /proc is matched by them
            try:
                self.sock.close()
            except OSError as err:
                return self._emit(Call.CLOSE, "", step=step, error=err)
            self.state = after
            return self._emit(Call.CLOSE, "", step=step)

    def accept(
        self, name: str, step: int | None = None, timeout: float | None = None
    ) -> tuple[CallEvent, TracedSocket | None]:
        """``accept()``: take the next connection off the queue as a new socket ``name``.

        The event belongs to the new connection (its birth); its ``parent`` is this listener.
        """
        after = self._check(Call.ACCEPT)
        self._wait(READ, timeout)
        with self.tracer.lock:
            try:
                sock, _addr = self.sock.accept()
            except OSError as err:
                return self._emit(Call.ACCEPT, "", step=step, error=err), None
            sock.setblocking(False)
            self.state = after
            conn = TracedSocket(
                self.tracer, name, Role.CONNECTION, self.family, self.transport, sock, self.name
            )
            self.tracer.adopt(conn)
            event = conn._emit(Call.ACCEPT, "", step=step, parent=self.name)
            return event, conn

    def connect(
        self, address, step: int | None = None, timeout: float | None = None, wait: bool = True
    ) -> CallEvent:
        """``connect(address)``: TCP's three-way handshake, or a UDP socket's default peer.

        If the socket had no address, the kernel picks one now (``implicit_bind``). With
        ``wait=False`` the call returns as a non-blocking connect does: EINPROGRESS while
        the handshake goes on in the kernel. Calling ``connect()`` again then reports how
        it ended (EALREADY while it is still going; waited for here unless ``wait=False``).
        """
        after = self._check(Call.CONNECT)
        unbound = self.state is State.CREATED and self.local is None
        args = repr(address)
        with self.tracer.lock:
            code = self.sock.connect_ex(address)
            if code in (0, errno.EISCONN):
                return self._emit(Call.CONNECT, args, step=step, after=after,
                                  implicit_bind=unbound)
            if code not in (errno.EINPROGRESS, errno.EALREADY) or not wait:
                err = OSError(code, os.strerror(code))
                self._refresh_addresses()
                implicit = unbound and code == errno.EINPROGRESS and self.local is not None
                return self._emit(Call.CONNECT, args, step=step, error=err,
                                  implicit_bind=implicit)
        ready = self.tracer.wait_ready(self.sock, WRITE, timeout)
        with self.tracer.lock:
            if not ready:
                err = OSError(errno.EINPROGRESS, "the handshake had not finished in time")
                return self._emit(Call.CONNECT, args, step=step, error=err)
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                err = OSError(code, os.strerror(code))
                return self._emit(Call.CONNECT, args, step=step, error=err)
            return self._emit(Call.CONNECT, args, step=step, after=after, implicit_bind=unbound)

    def send(self, data: bytes, step: int | None = None, timeout: float | None = None) -> CallEvent:
        """``send(data)``: one system call; it may take fewer bytes than offered."""
        after = self._check(Call.SEND)
        self._wait(WRITE, timeout)
        with self.tracer.lock:
            try:
                n = self.sock.send(data)
            except OSError as err:
                return self._emit(Call.SEND, _bytes_arg(data), step=step, error=err)
            self.sent_total += n
            return self._emit(
                Call.SEND, _bytes_arg(data), step=step, after=after, nbytes=n, data=data[:n]
            )

    def sendall(
        self, data: bytes, step: int | None = None, timeout: float | None = None
    ) -> CallEvent:
        """``sendall(data)``: ``send()`` again and again until every byte is taken."""
        after = self._check(Call.SENDALL)
        view = memoryview(data)
        sent = 0
        parts = 0
        error: OSError | None = None
        while sent < len(view) or parts == 0:
            self._wait(WRITE, timeout)
            with self.tracer.lock:
                try:
                    n = self.sock.send(view[sent:])
                except BlockingIOError:
                    continue
                except OSError as err:
                    error = err
                    break
                parts += 1
                sent += n
                self.sent_total += n
        with self.tracer.lock:
            return self._emit(
                Call.SENDALL,
                _bytes_arg(data),
                step=step,
                after=None if error else after,
                error=error,
                nbytes=sent,
                data=bytes(view[: min(sent, PREVIEW_CAP)]),
                parts=parts,
            )

    def recv(self, bufsize: int, step: int | None = None, timeout: float | None = None) -> CallEvent:
        """``recv(bufsize)``: whatever has arrived, up to ``bufsize``; b"" means the peer is done."""
        after = self._check(Call.RECV)
        self._wait(READ, timeout)
        with self.tracer.lock:
            try:
                chunk = self.sock.recv(bufsize)
            except OSError as err:
                return self._emit(Call.RECV, repr(bufsize), step=step, error=err)
            self.recv_total += len(chunk)
            self.last_received = chunk
            return self._emit(
                Call.RECV, repr(bufsize), step=step, after=after, nbytes=len(chunk), data=chunk
            )

    def sendto(
        self, data: bytes, address, step: int | None = None, timeout: float | None = None
    ) -> CallEvent:
        """``sendto(data, address)``: one datagram. The first one binds the socket implicitly."""
        after = self._check(Call.SENDTO)
        implicit = self.state is State.CREATED
        args = call_args(Call.SENDTO, data, address)
        self._wait(WRITE, timeout)
        with self.tracer.lock:
            self._peer_hint = address
            try:
                n = self.sock.sendto(data, address)
            except OSError as err:
                return self._emit(Call.SENDTO, args, step=step, error=err)
            self.sent_total += n
            return self._emit(
                Call.SENDTO,
                args,
                step=step,
                after=after,
                nbytes=n,
                data=data[:n],
                implicit_bind=implicit,
            )

    def recvfrom(
        self, bufsize: int, step: int | None = None, timeout: float | None = None
    ) -> CallEvent:
        """``recvfrom(bufsize)``: exactly one datagram, and who sent it."""
        after = self._check(Call.RECVFROM)
        self._wait(READ, timeout)
        with self.tracer.lock:
            try:
                chunk, peer = self.sock.recvfrom(bufsize)
            except OSError as err:
                return self._emit(Call.RECVFROM, repr(bufsize), step=step, error=err)
            self._peer_hint = peer
            self.last_peer = peer
            self.recv_total += len(chunk)
            self.last_received = chunk
            return self._emit(
                Call.RECVFROM, repr(bufsize), step=step, after=after, nbytes=len(chunk), data=chunk
            )

    # --- bulk transfers: many system calls, one event ------------------------------------
    def send_stream(
        self, total: int, chunk: int = 256 * 1024, step: int | None = None,
        timeout: float | None = None,
    ) -> CallEvent:
        """``sendall`` of ``total`` bytes in ``chunk``-sized ``send()`` calls, one event at the end.

        Nothing of that size is ever held in memory: one chunk of a repeating pattern is sent
        again and again. Every ``send()`` is real and counted (``parts``), and so is every one
        that took fewer bytes than offered (``partial``). :class:`Progress` notices go out
        at most ten times a second while it runs.
        """
        after = self._check(Call.SENDALL)
        pattern = memoryview(_pattern(chunk))
        sent, calls, partial, error = self._bulk(
            Call.SENDALL, total, chunk, lambda want: self.sock.send(pattern[:want]), WRITE,
            "the receiver stopped reading", timeout)
        self.sent_total += sent
        with self.tracer.lock:
            return self._emit(
                Call.SENDALL, f"<{total} bytes, {chunk} at a time>", step=step,
                after=None if error else after, error=error, nbytes=sent,
                data=bytes(pattern[: min(sent, 64)]), parts=calls, partial=partial,
            )

    def recv_exact(
        self, total: int, bufsize: int = 256 * 1024, step: int | None = None,
        timeout: float | None = None, before_emit: Callable[[], None] | None = None,
    ) -> CallEvent:
        """``recv()`` again and again until ``total`` bytes have come (or the peer closed).

        One event at the end, with every call counted (``parts``) and every byte in
        ``nbytes``; the first bytes are kept as the preview. Progress as for
        :meth:`send_stream`. ``before_emit`` runs between the last call and the event.
        """
        after = self._check(Call.RECV)
        view = memoryview(bytearray(bufsize))
        first: list[bytes] = []

        def receive(want: int) -> int:
            n = self.sock.recv_into(view, want)
            if n and not first:
                first.append(bytes(view[: min(n, 64)]))
            return n

        got, calls, _, error = self._bulk(Call.RECV, total, bufsize, receive, READ,
                                          "the sender stopped sending", timeout)
        self.recv_total += got
        if before_emit is not None:
            before_emit()  # e.g. let the sender that ran alongside report first
        with self.tracer.lock:
            return self._emit(
                Call.RECV, f"{bufsize}  # until {total} bytes", step=step,
                after=None if error else after, error=error, nbytes=got,
                data=first[0] if first else b"", parts=calls,
            )

    def _bulk(self, call: Call, total: int, chunk: int, move: Callable[[int], int],
              ready: int, stalled: str, timeout: float | None):
        """The loop of a bulk transfer: ``move(n)`` makes one real system call for at
        most ``n`` bytes and says how many it moved (0 from a receive: the peer closed).
        Every call is counted, and every one that moved fewer bytes than asked; progress
        goes out at most every :data:`PROGRESS_EVERY` seconds. Returns (bytes moved,
        calls, short calls, the error that ended it or None)."""
        tracer = self.tracer
        done = calls = partial = 0
        error: OSError | None = None
        started = last = time.monotonic()
        while done < total:
            if tracer.stopped:
                raise Stopped()
            want = min(chunk, total - done)
            try:
                n = move(want)
            except BlockingIOError:
                if not tracer.wait_ready(self.sock, ready, timeout):
                    error = OSError(errno.EAGAIN, stalled)
                    break
                continue
            except OSError as err:
                error = err
                break
            calls += 1
            if n == 0 and call is Call.RECV:
                break
            done += n
            partial += n < want
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                tracer.deliver(Progress(self.name, call, done, total, calls, now - started))
        tracer.deliver(Progress(self.name, call, done, total, calls, time.monotonic() - started))
        return done, calls, partial, error


#: What a bulk transfer sends, over and over: readable in a preview, cheap to repeat.
BULK_PATTERN = b"sockviz bulk data, "
#: Bulk transfers report progress at most this often (seconds).
PROGRESS_EVERY = 0.1


def _pattern(size: int) -> bytes:
    reps = size // len(BULK_PATTERN) + 1
    return (BULK_PATTERN * reps)[:size]


def _constant(name: str) -> int:
    """``"SO_REUSEADDR"`` -> ``socket.SO_REUSEADDR``; ValueError for a name it does not have."""
    value = getattr(socket, name, None)
    if not name.isupper() or not isinstance(value, int):
        raise ValueError(f"socket has no constant named {name!r}")
    return value
