"""``select()``: a program asking the kernel which of its sockets are ready - the real
system call, one event naming what it returned.

Why apart from :mod:`sockviz.engine.sockets.traced_socket`: it is one call over several
sockets (the step's socket is the first of them), made where a program's event loop would
make it. The engine's own waits are poll() on the wake-up pipe and the socket; this is the
program's call, and :meth:`~sockviz.engine.sockets.tracer.Tracer.select` adds only that
pipe to its read set, so stopping a run ends it. Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from sockviz.engine.events import CallEvent
from sockviz.engine.sockets.traced_socket import TracedSocket
from sockviz.engine.states import Call

#: What a writable socket's name is followed by in :attr:`CallEvent.ready`.
WRITABLE = ":w"


def select_call(
    ts: TracedSocket,
    reads: Sequence[TracedSocket],
    writes: Sequence[TracedSocket],
    timeout: float | None,
    step: int | None = None,
) -> CallEvent:
    """``select(reads, writes, [], timeout)`` made by ``ts`` (the step's socket, one of
    them): the sockets ready, by name, in the event's ``ready`` (a writable one as
    ``name:w``); none when it timed out."""
    names = ", ".join(s.name for s in reads), ", ".join(s.name for s in writes)
    args = f"[{names[0]}], [{names[1]}], [], {timeout!r}"
    after, _sock = ts.begin_call(Call.SELECT)
    fds = {id(s): s.sock.fileno() for s in (*reads, *writes) if s.sock is not None}
    by_fd = {fds[id(s)]: s for s in (*reads, *writes) if id(s) in fds}
    readable, writable = ts.tracer.select(
        [fds[id(s)] for s in reads if id(s) in fds],
        [fds[id(s)] for s in writes if id(s) in fds],
        timeout,
    )
    ready = tuple(by_fd[fd].name for fd in readable) + tuple(
        by_fd[fd].name + WRITABLE for fd in writable
    )
    with ts.tracer.lock:
        return ts.emit(Call.SELECT, args, step=step, after=after, ready=ready)
