"""Connections this run did not make: another program at the run's listening port.

A scenario's server listens on a port anyone on the machine can reach. With a fixed
``--port`` another program can find it and connect - once (then the server's ``accept()``
hands the run a stranger instead of its own client), or in a loop (then the accept queue
fills and the run's own SYN goes unanswered until ``connect()`` gives up). Either way the run
fails for a reason that has nothing to do with the lesson, and "EINPROGRESS" alone would
send the user looking in the wrong place.

These functions say what the kernel shows, read when the run is about to end:

* :func:`stranger`: the peer of a connection ``accept()`` just returned, when it is none
  of the run's own sockets' addresses;
* :func:`failure_reason`: for a failed ``connect()``, the listener's accept queue as the
  kernel reports it (``TCP_INFO``), and how many of its waiting connections are not the run's.

Only the run's own sockets are read; nothing here sends a byte.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Protocol

from sockviz.engine.events import CallEvent
from sockviz.engine.kernel.tcp_state import listen_queue
from sockviz.engine.states import Call, Role

#: A socket address as (host, port): what is compared here of any address.
HostPort = tuple[str, int]

#: A failed ``connect()`` that ran out of time: the SYN went unanswered.
_NO_ANSWER = ("EINPROGRESS", "ETIMEDOUT", "EAGAIN")

_INET = (socket.AF_INET, socket.AF_INET6)


class Traced(Protocol):
    """What is read of a run's socket: its name, role and the socket itself."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def sock(self) -> socket.socket | None: ...

    @property
    def last_local(self) -> object: ...


def _address(sock: socket.socket | None, peer: bool) -> HostPort | None:
    """The socket's own (or its peer's) (host, port), None when it has none or is closed."""
    try:
        if sock is None or sock.family not in _INET or sock.fileno() < 0:
            return None
        address = sock.getpeername() if peer else sock.getsockname()
    except OSError:
        return None
    host, port = address[:2]
    return (host, port)


def _shown(address: HostPort) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _advice() -> str:
    return "pick another port with --port, or --port 0 to let the kernel choose one"


def stranger(event: CallEvent, sockets: Mapping[str, Traced]) -> str | None:
    """For a successful ``accept()``: one line when the connection it returned came from
    none of the run's sockets, else None."""
    if event.call is not Call.ACCEPT or event.error is not None:
        return None
    conn = sockets.get(event.socket)  # (accept()'s event is the new connection's)
    peer = None if conn is None else _address(conn.sock, peer=True)
    if conn is None or peer is None:
        return None
    if peer in _own_addresses(sockets, conn):
        return None
    local = _address(conn.sock, peer=False)
    port = local[1] if local else 0
    listener = getattr(event, "parent", None) or "server"
    return (
        f"{listener}.accept() returned a connection from {_shown(peer)}, which this run "
        f"did not make: another program connected to port {port}; {_advice()}"
    )


def _own_addresses(sockets: Mapping[str, Traced], but: Traced) -> set[object]:
    """Every address the run's other sockets had: the last one sockviz saw (kept after a
    close) and, for a socket still open, the one the kernel reports now."""
    own: set[object] = set()
    for ts in sockets.values():
        if ts is but:
            continue
        if isinstance(ts.last_local, tuple):
            own.add(tuple(ts.last_local[:2]))
        if ts.sock is not None:
            own.add(_address(ts.sock, peer=False))
    return own


def full_queue(event: CallEvent, sockets: Mapping[str, Traced]) -> str | None:
    """For a ``connect()`` that got no answer: the accept queue of the run's listener it
    was aimed at, when the kernel reports it full, else None."""
    if event.call is not Call.CONNECT or event.error not in _NO_ANSWER:
        return None
    client = sockets.get(event.socket)
    target = None if client is None else _address(client.sock, peer=True)
    for ts in sockets.values():
        local = _address(ts.sock, peer=False)
        if ts.role is not Role.LISTENER or ts.sock is None or local is None:
            continue
        if target is not None and local != target and local[1] != target[1]:
            continue
        queue = listen_queue(ts.sock)
        if queue is None or queue[0] <= queue[1]:
            continue
        waiting, backlog = queue
        ours = _waiting_of_ours(ts, sockets)
        strangers = waiting - ours
        said = (
            f"port {local[1]}'s accept queue was full ({waiting} connections waiting, "
            f"backlog {backlog})"
        )
        if strangers <= 0:
            return said
        return (
            f"{said}, {strangers} of them not made by this run: another program is "
            f"connecting to port {local[1]}; {_advice()}"
        )
    return None


def _waiting_of_ours(listener: Traced, sockets: Mapping[str, Traced]) -> int:
    """The run's own connections to ``listener`` that ``accept()`` has not taken yet."""
    here = _address(listener.sock, peer=False)
    connected = sum(
        1
        for ts in sockets.values()
        if ts.role is Role.CLIENT and _address(ts.sock, peer=True) == here
    )
    accepted = sum(
        1
        for ts in sockets.values()
        if ts.role is Role.CONNECTION and _address(ts.sock, peer=False) == here
    )
    return max(connected - accepted, 0)


def failure_reason(reason: str, event: CallEvent, sockets: Mapping[str, Traced]) -> str:
    """``reason`` (which call failed and why), with what the kernel shows of another
    program at the run's port when that is why."""
    note = full_queue(event, sockets)
    return reason if note is None else f"{reason}: {note}"
