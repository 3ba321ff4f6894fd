"""Bulk transfers: many real system calls, one event at the end (``bulk``'s gigabytes).

``sendall`` and ``recv`` that move a given number of bytes in chunks, every call real and
counted, with :class:`~sockviz.engine.events.Progress` notices while they run. Functions of
a :class:`BulkSocket` - what they need of the traced socket, which calls them
(:meth:`~sockviz.engine.sockets.traced_socket.TracedSocket.send_stream`) - so that this
module does not import it back.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

from sockviz.engine.events import CallEvent, Progress
from sockviz.engine.kernel.socket_registry import RunSocket
from sockviz.engine.sockets.tracer import READ, WRITE, Stopped, Tracer
from sockviz.engine.states import Call, State


class BulkSocket(RunSocket, Protocol):
    """What a bulk call needs of the traced socket it runs on."""

    tracer: Tracer
    sent_total: int
    recv_total: int

    def begin_call(self, call: Call) -> tuple[State, socket.socket]:
        """The call is legal now and begins: the state it leads to, and the real socket."""

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
        parts: int | None = None,
        partial: int | None = None,
    ) -> CallEvent:
        """The call's one event, delivered (the caller holds the tracer's lock)."""


class Moved(NamedTuple):
    """What the loop of a bulk transfer did."""

    done: int
    """Bytes moved."""
    calls: int
    """Real system calls made."""
    partial: int
    """Those of them that moved fewer bytes than asked."""
    error: OSError | None
    """The error that ended it, or None."""


def send_stream(
    ts: BulkSocket,
    total: int,
    chunk: int = 256 * 1024,
    step: int | None = None,
    timeout: float | None = None,
) -> CallEvent:
    """``sendall`` of ``total`` bytes in ``chunk``-sized ``send()`` calls, one event at the end.

    Nothing of that size is ever held in memory: one chunk of a repeating pattern is sent
    again and again. Every ``send()`` is real and counted (``parts``), and so is every one
    that took fewer bytes than offered (``partial``). :class:`Progress` notices go out
    at most ten times a second while it runs.
    """
    after, sock = ts.begin_call(Call.SENDALL)
    pattern = memoryview(_pattern(chunk))
    event: CallEvent | None = None
    ts.tracer.bulk_begin(ts)
    try:
        sent, calls, partial, error = _move(
            ts,
            sock,
            Call.SENDALL,
            total,
            chunk,
            lambda want: sock.send(pattern[:want]),
            WRITE,
            "the receiver stopped reading",
            timeout,
        )
        ts.sent_total += sent
        with ts.tracer.lock:
            event = ts.emit(
                Call.SENDALL,
                f"<{total} bytes, {chunk} at a time>",
                step=step,
                after=None if error else after,
                error=error,
                nbytes=sent,
                data=bytes(pattern[: min(sent, 64)]),
                parts=calls,
                partial=partial,
            )
        return event
    finally:
        ts.tracer.bulk_end(event)


def recv_exact(
    ts: BulkSocket,
    total: int,
    bufsize: int = 256 * 1024,
    step: int | None = None,
    timeout: float | None = None,
    before_emit: Callable[[], None] | None = None,
    summed: bool = True,
) -> CallEvent:
    """``recv()`` again and again until ``total`` bytes have come (or the peer closed).

    One event at the end, with every call counted (``parts``) and every byte in
    ``nbytes``; the first bytes are kept as the preview. Progress as for
    :func:`send_stream`. ``before_emit`` runs between the last call and the event.
    ``summed``: a bulk transfer's, its segments summed (else each is an event of its own:
    a lesson's few dozen).
    """
    after, sock = ts.begin_call(Call.RECV)
    view = memoryview(bytearray(bufsize))
    first: list[bytes] = []

    def receive(want: int) -> int:
        n = sock.recv_into(view, want)
        if n and not first:
            first.append(bytes(view[: min(n, 64)]))
        return n

    event: CallEvent | None = None
    if summed:
        ts.tracer.bulk_begin(ts)
    try:
        got, calls, _, error = _move(
            ts,
            sock,
            Call.RECV,
            total,
            bufsize,
            receive,
            READ,
            "the sender stopped sending",
            timeout,
        )
        ts.recv_total += got
        if before_emit is not None:
            before_emit()  # e.g. let the sender that ran alongside report first
        with ts.tracer.lock:
            event = ts.emit(
                Call.RECV,
                f"{bufsize}  # until {total} bytes",
                step=step,
                after=None if error else after,
                error=error,
                nbytes=got,
                data=first[0] if first else b"",
                parts=calls,
            )
        return event
    finally:
        if summed:
            ts.tracer.bulk_end(event)


def _move(
    ts: BulkSocket,
    sock: socket.socket,
    call: Call,
    total: int,
    chunk: int,
    move: Callable[[int], int],
    ready: int,
    stalled: str,
    timeout: float | None,
) -> Moved:
    """The loop of a bulk transfer: ``move(n)`` makes one real system call for at most
    ``n`` bytes and says how many it moved (0 from a receive: the peer closed). Every call
    is counted, and every one that moved fewer bytes than asked; progress goes out at most
    every :data:`PROGRESS_EVERY` seconds."""
    tracer = ts.tracer
    done = calls = partial = 0
    error: OSError | None = None
    started = last = drained = time.monotonic()
    while done < total:
        if tracer.stopped:
            raise Stopped()
        want = min(chunk, total - done)
        try:
            n = move(want)
        except BlockingIOError:
            if not tracer.wait_ready(sock, ready, timeout):
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
        if now - drained >= DRAIN_EVERY and call is not Call.RECV:
            drained = now  # (the sender reads the wire: one thread is enough)
            tracer.bulk_drain()
        if now - last >= PROGRESS_EVERY:
            last = now
            tracer.deliver(Progress(ts.name, call, done, total, calls, now - started))
    tracer.deliver(Progress(ts.name, call, done, total, calls, time.monotonic() - started))
    return Moved(done, calls, partial, error)


#: What a bulk transfer sends, over and over: readable in a preview, cheap to repeat.
BULK_PATTERN = b"sockviz bulk data, "
#: Bulk transfers report progress at most this often (seconds).
PROGRESS_EVERY = 0.1
#: ... and read the wire's frames this often (when each is read: a --pcap run's transfer;
#: at several GB/s a tenth of a second of loopback segments is about what the capture's
#: ring holds).
DRAIN_EVERY = 0.03


def _pattern(size: int) -> bytes:
    reps = size // len(BULK_PATTERN) + 1
    return (BULK_PATTERN * reps)[:size]
