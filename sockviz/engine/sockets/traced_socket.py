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
consumer they go to, the wake-up pipe, and the kernel watch (``tracer.kernel``) that reports
the kernel's TCP state after each call. Bulk transfers (many calls, one event) are
``bulk_calls.py``'s.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Callable

from sockviz.engine.events import PREVIEW_CAP, CallEvent
from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.kernel.kernel_watch import Reading
from sockviz.engine.kernel.socket_registry import Address
from sockviz.engine.sockets import bulk_calls
from sockviz.engine.sockets.call_words import (
    bytes_arg,
    call_args,
    constant,
    errno_name,
)
from sockviz.engine.sockets.socket_record import SocketRecord
from sockviz.engine.sockets.tracer import READ, WRITE, Stopped, Tracer
from sockviz.engine.states import (
    INITIAL,
    Call,
    IllegalTransition,
    Role,
    State,
    Transport,
    next_state,
)


class TracedSocket(SocketRecord):
    """One real socket; every method is one real call and one event. See the module doc.

    What is known of it between calls (who it is, its addresses, the bytes it moved) is its
    :class:`~sockviz.engine.sockets.socket_record.SocketRecord`."""

    __slots__ = ("nonblocking", "tracer")

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
        super().__init__(name, role, family, transport, sock, parent)
        self.tracer = tracer
        self.nonblocking = False
        """The program made it non-blocking (``setblocking(False)``): no call waits."""

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
                return ts.emit(Call.SOCKET, args, step=step, error=err), ts
            sock.setblocking(False)
            ts.hold(sock)
            ts.state = INITIAL[role]
            tracer.adopt(ts)
            return ts.emit(Call.SOCKET, args, step=step), ts

    # --- the one place calls begin and events are made ------------------------------
    def begin_call(self, call: Call) -> tuple[State, socket.socket]:
        """The call is legal now (:class:`IllegalTransition` if not) and begins: the state it
        leads to, and the real socket it is made on."""
        if self.state is None or self.sock is None:  # (a socket() that failed: no socket)
            raise IllegalTransition(self.transport, self.role, State.CLOSED, call)
        after = next_state(self.transport, self.role, self.state, call)
        self.tracer.begins(self)
        return after, self.sock

    def emit(
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
        ready: tuple[str, ...] | None = None,
    ) -> CallEvent:
        """Build and deliver the call's event (the caller holds the tracer's lock): the one
        place a call's event is made, the bulk calls' too."""
        tracer = self.tracer
        t = tracer.returns()  # (the call's time is its return, not the kernel's settling)
        if error is None and after is not None:
            self.state = after
        self._refresh_addresses()
        tracer.registry.place(self)
        tracer.drain(self.local)  # (on a link: what this call's kernel queued, stamped now)
        reading: Reading = {}
        seen = None
        if self.watchable and kernel.available():
            reading = tracer.kernel.settled(self)
            seen = reading.get(self)
        kernel_state, timer, queue = (
            (None, None, None) if seen is None else (seen.state, seen.timer, seen.queue)
        )
        event = CallEvent(
            seq=tracer.next_seq(),
            t=t,
            socket=self.name,
            role=self.role,
            call=call,
            state=self.state,  # type: ignore[arg-type]  # (None: a socket() that failed)
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
            timer=None if timer is None else round(timer, 2),
            ready=ready,
        )
        tracer.deliver(event)
        if tracer.wire is not None:
            tracer.wire.watch(self.local, self.remote)
        tracer.segments(event.seq)
        if reading:
            tracer.kernel.changes(reading, exclude=self)
        return event

    def _simple(
        self, call: Call, args: str, fn: Callable[[socket.socket], object], step: int | None
    ) -> CallEvent:
        after, sock = self.begin_call(call)
        with self.tracer.lock:
            try:
                fn(sock)
            except OSError as err:
                return self.emit(call, args, step=step, error=err)
            return self.emit(call, args, step=step, after=after)

    def _wait(
        self, sock: socket.socket, events: int, timeout: float | None, first: bool = True
    ) -> None:
        """Wait for readiness; on timeout return anyway so the real call reports EAGAIN.
        ``first``: the call begins now (False: a later wait of a ``sendall`` under way)."""
        tracer = self.tracer
        if self.nonblocking:  # (setblocking(False): the call says EAGAIN, not a wait)
            timeout = 0
        if timeout == 0:  # (the caller knows it is ready: the call says EAGAIN if not)
            if tracer.stopped:
                raise Stopped()
        else:
            tracer.wait_ready(sock, events, timeout)
        if not first:
            return
        link = tracer.hosts is not None and tracer.wire is not None
        if link and self.local:
            # (the ACK this kernel sent on receiving what ended the wait: the link stamps
            # it a moment later - it is the kernel's, before the call)
            tracer.drain_link(self.local)
        tracer.begins(self)  # (what the peer did meanwhile was not this call's doing)
        if tracer.wire is not None and (link or not tracer.settle):
            # What the peer's segments brought, read now: they come before the call that
            # takes it (on loopback a scenario's are read under the call that sent them).
            with tracer.lock:
                tracer.segments(None)

    # --- the calls --------------------------------------------------------------------
    def setsockopt(
        self, level: str, option: str, value: int | bytes | tuple[int, int], step: int | None = None
    ) -> CallEvent:
        """``setsockopt(level, option, value)`` with the constants named as in ``socket``.

        ``value`` is an int or the packed bytes of a struct (``SO_LINGER``).
        """
        lvl, opt = constant(level), constant(option)
        args = call_args(Call.SETSOCKOPT, level, option, value)
        if isinstance(value, tuple):
            value = struct.pack("ii", *value)
        return self._simple(
            Call.SETSOCKOPT, args, lambda sock: sock.setsockopt(lvl, opt, value), step
        )

    def setblocking(self, flag: bool, step: int | None = None) -> CallEvent:
        """``setblocking(False)``: from now on a call that would wait fails at once instead
        (EAGAIN; a connect() returns EINPROGRESS). The engine keeps every socket
        non-blocking underneath and waits for a blocking call itself: this call is the real
        fcntl() all the same, and the waiting stops."""
        if flag:
            raise ValueError("setblocking(True) is not a lesson: a socket starts blocking")

        def nonblocking(sock: socket.socket) -> None:
            sock.setblocking(False)
            self.nonblocking = True

        return self._simple(Call.SETBLOCKING, "False", nonblocking, step)

    def bind(self, address: Address, step: int | None = None) -> CallEvent:
        """``bind(address)``: give the socket its local address."""
        return self._simple(
            Call.BIND, call_args(Call.BIND, address), lambda sock: sock.bind(address), step
        )

    def listen(self, backlog: int, step: int | None = None) -> CallEvent:
        """``listen(backlog)``: turn the socket into a listener with a queue of ``backlog``."""
        return self._simple(Call.LISTEN, repr(backlog), lambda sock: sock.listen(backlog), step)

    def shutdown(self, how: int, step: int | None = None) -> CallEvent:
        """``shutdown(how)``: end one or both directions without releasing the socket."""
        return self._simple(
            Call.SHUTDOWN, call_args(Call.SHUTDOWN, how), lambda sock: sock.shutdown(how), step
        )

    def close(self, step: int | None = None) -> CallEvent:
        """``close()``: release the descriptor. The kernel may keep the connection a while."""
        after, sock = self.begin_call(Call.CLOSE)
        with self.tracer.lock:
            self._refresh_addresses()  # remember the addresses: /proc is matched by them
            try:
                sock.close()
            except OSError as err:
                return self.emit(Call.CLOSE, "", step=step, error=err)
            self.state = after
            return self.emit(Call.CLOSE, "", step=step)

    def accept(
        self, name: str, step: int | None = None, timeout: float | None = None
    ) -> tuple[CallEvent, TracedSocket | None]:
        """``accept()``: take the next connection off the queue as a new socket ``name``.

        The event belongs to the new connection (its birth); its ``parent`` is this listener.
        """
        after, sock = self.begin_call(Call.ACCEPT)
        self._wait(sock, READ, timeout)
        with self.tracer.lock:
            try:
                new, _addr = sock.accept()
            except OSError as err:
                return self.emit(Call.ACCEPT, "", step=step, error=err), None
            new.setblocking(False)
            self.state = after
            conn = TracedSocket(
                self.tracer, name, Role.CONNECTION, self.family, self.transport, new, self.name
            )
            self.tracer.adopt(conn)
            event = conn.emit(Call.ACCEPT, "", step=step, parent=self.name)
            return event, conn

    def connect(
        self,
        address: Address,
        step: int | None = None,
        timeout: float | None = None,
        wait: bool = True,
    ) -> CallEvent:
        """``connect(address)``: TCP's three-way handshake, or a UDP socket's default peer.

        If the socket had no address, the kernel picks one now (``implicit_bind``). With
        ``wait=False`` the call returns as a non-blocking connect does: EINPROGRESS while
        the handshake goes on in the kernel. Calling ``connect()`` again then reports how
        it ended (EALREADY while it is still going; waited for here unless ``wait=False``).
        """
        after, sock = self.begin_call(Call.CONNECT)
        wait = wait and not self.nonblocking
        unbound = self.state is State.CREATED and self.local is None
        args = repr(address)
        with self.tracer.lock:
            code = sock.connect_ex(address)
            if code in (0, errno.EISCONN):
                return self.emit(Call.CONNECT, args, step=step, after=after, implicit_bind=unbound)
            if code not in (errno.EINPROGRESS, errno.EALREADY) or not wait:
                err = OSError(code, os.strerror(code))
                self._refresh_addresses()
                implicit = unbound and code == errno.EINPROGRESS and self.local is not None
                return self.emit(Call.CONNECT, args, step=step, error=err, implicit_bind=implicit)
            if unbound and self.tracer.wire is not None:
                # (the kernel gave it an address as the SYN left: what the wire shows of
                # the handshake while connect() waits - a lost SYN - is this socket's)
                self._refresh_addresses()
                self.tracer.registry.place(self)
        ready = self.tracer.wait_ready(sock, WRITE, timeout)
        with self.tracer.lock:
            if not ready:
                err = OSError(errno.EINPROGRESS, "the handshake had not finished in time")
                return self.emit(Call.CONNECT, args, step=step, error=err)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                err = OSError(code, os.strerror(code))
                return self.emit(Call.CONNECT, args, step=step, error=err)
            return self.emit(Call.CONNECT, args, step=step, after=after, implicit_bind=unbound)

    def send(self, data: bytes, step: int | None = None, timeout: float | None = None) -> CallEvent:
        """``send(data)``: one system call; it may take fewer bytes than offered."""
        after, sock = self.begin_call(Call.SEND)
        self._wait(sock, WRITE, timeout)
        with self.tracer.lock:
            try:
                n = sock.send(data)
            except OSError as err:
                return self.emit(Call.SEND, bytes_arg(data), step=step, error=err)
            self.sent_total += n
            return self.emit(
                Call.SEND, bytes_arg(data), step=step, after=after, nbytes=n, data=data[:n]
            )

    def sendall(
        self, data: bytes, step: int | None = None, timeout: float | None = None
    ) -> CallEvent:
        """``sendall(data)``: ``send()`` again and again until every byte is taken."""
        after, sock = self.begin_call(Call.SENDALL)
        view = memoryview(data)
        sent = 0
        parts = 0
        error: OSError | None = None
        while sent < len(view) or parts == 0:
            self._wait(sock, WRITE, timeout, first=parts == 0)
            with self.tracer.lock:
                try:
                    n = sock.send(view[sent:])
                except BlockingIOError:
                    continue
                except OSError as err:
                    error = err
                    break
                parts += 1
                sent += n
                self.sent_total += n
        with self.tracer.lock:
            return self.emit(
                Call.SENDALL,
                bytes_arg(data),
                step=step,
                after=None if error else after,
                error=error,
                nbytes=sent,
                data=bytes(view[: min(sent, PREVIEW_CAP)]),
                parts=parts,
            )

    def recv(
        self, bufsize: int, step: int | None = None, timeout: float | None = None
    ) -> CallEvent:
        """``recv(bufsize)``: whatever has arrived, up to ``bufsize``; b"" means the peer is
        done."""
        after, sock = self.begin_call(Call.RECV)
        self._wait(sock, READ, timeout)
        with self.tracer.lock:
            try:
                chunk = sock.recv(bufsize)
            except OSError as err:
                return self.emit(Call.RECV, repr(bufsize), step=step, error=err)
            self.recv_total += len(chunk)
            self.last_received = chunk
            return self.emit(
                Call.RECV, repr(bufsize), step=step, after=after, nbytes=len(chunk), data=chunk
            )

    def sendto(
        self, data: bytes, address: Address, step: int | None = None, timeout: float | None = None
    ) -> CallEvent:
        """``sendto(data, address)``: one datagram. The first one binds the socket implicitly."""
        after, sock = self.begin_call(Call.SENDTO)
        implicit = self.state is State.CREATED
        args = call_args(Call.SENDTO, data, address)
        self._wait(sock, WRITE, timeout)
        with self.tracer.lock:
            self._peer_hint = address
            try:
                n = sock.sendto(data, address)
            except OSError as err:
                return self.emit(Call.SENDTO, args, step=step, error=err)
            self.sent_total += n
            return self.emit(
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
        after, sock = self.begin_call(Call.RECVFROM)
        self._wait(sock, READ, timeout)
        with self.tracer.lock:
            try:
                chunk, peer = sock.recvfrom(bufsize)
            except OSError as err:
                return self.emit(Call.RECVFROM, repr(bufsize), step=step, error=err)
            self._peer_hint = peer
            self.last_peer = peer
            self.recv_total += len(chunk)
            self.last_received = chunk
            return self.emit(
                Call.RECVFROM, repr(bufsize), step=step, after=after, nbytes=len(chunk), data=chunk
            )

    # --- bulk transfers (many real calls, one event: bulk_calls.py) ---------------------
    def send_stream(
        self,
        total: int,
        chunk: int = 256 * 1024,
        step: int | None = None,
        timeout: float | None = None,
    ) -> CallEvent:
        """``sendall`` of ``total`` bytes in ``chunk``-sized ``send()`` calls: one event."""
        return bulk_calls.send_stream(self, total, chunk, step, timeout)

    def recv_exact(
        self,
        total: int,
        bufsize: int = 256 * 1024,
        step: int | None = None,
        timeout: float | None = None,
        before_emit: Callable[[], None] | None = None,
        summed: bool = True,
    ) -> CallEvent:
        """``recv()`` until ``total`` bytes have come (or the peer closed): one event
        (``summed``: a bulk transfer's, its segments summed)."""
        return bulk_calls.recv_exact(self, total, bufsize, step, timeout, before_emit, summed)
