"""The lifecycle of a socket, as one table.

Every transition sockviz knows about lives in :data:`TRANSITIONS` and nowhere else. This
module performs no I/O and knows nothing of real sockets: it answers one question, "if a
socket of this role, in this state, makes this call and the call succeeds, what state is
it in afterwards?" A call the table does not list is a mistake in whatever asked for it
(a scenario, a scenario file, a test), so it raises :class:`IllegalTransition` before any
system call is made. A call that is listed but that the kernel refuses (``ECONNREFUSED``,
``EADDRINUSE``, ``EPIPE`` ...) is not a mistake: it is an outcome worth showing, and the
socket stays in the state it was in.

These are *our* lifecycle states, the ones a learner is taught. The kernel's own TCP
states (ESTABLISHED, TIME_WAIT ...) are a separate, finer view: see ``kernel.py``.
"""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """What a socket is for. The role decides which calls make sense."""

    LISTENER = "listener"
    """A TCP server's listening socket: it only hands out connections."""
    CONNECTION = "connection"
    """A TCP socket returned by ``accept()``: born connected to one client."""
    CLIENT = "client"
    """The socket that connects (TCP) or sends the first datagram (UDP)."""
    SERVER = "server"
    """A UDP server's socket: bound to a known address, talks to anyone."""


class Transport(enum.Enum):
    """The socket type, named the way the C API names it."""

    STREAM = "SOCK_STREAM"
    """TCP (or a Unix stream socket): a connection carrying a byte stream."""
    DGRAM = "SOCK_DGRAM"
    """UDP (or a Unix datagram socket): independent messages, no connection."""


class State(enum.Enum):
    """Our lifecycle states, in the order a socket usually meets them."""

    CREATED = "created"
    """``socket()`` returned a descriptor; no address yet."""
    BOUND = "bound"
    """The socket has a local address, given by ``bind()`` or picked by the kernel."""
    LISTENING = "listening"
    """A listener after ``listen()``: the kernel queues incoming connections for it."""
    CONNECTED = "connected"
    """A TCP connection is up, or a UDP socket has a default peer."""
    HALF_CLOSED = "half-closed"
    """``shutdown()`` ended one direction (usually sending); the other still works."""
    CLOSED = "closed"
    """``close()`` released the descriptor. Nothing more can be done with it."""


class Call(enum.Enum):
    """The socket API calls sockviz performs, named as in Python's ``socket`` module."""

    SOCKET = "socket"
    SETSOCKOPT = "setsockopt"
    BIND = "bind"
    LISTEN = "listen"
    ACCEPT = "accept"
    CONNECT = "connect"
    SEND = "send"
    SENDALL = "sendall"
    RECV = "recv"
    SENDTO = "sendto"
    RECVFROM = "recvfrom"
    SHUTDOWN = "shutdown"
    CLOSE = "close"
    SETBLOCKING = "setblocking"
    SELECT = "select"
    WRAP = "wrap_socket"
    """``ssl`` context's ``wrap_socket()``: TLS over the connected socket (no system call)."""
    HANDSHAKE = "do_handshake"
    """The TLS handshake's records, written and read on the connected socket."""


class IllegalTransition(Exception):
    """A call was asked of a socket in a state where the lifecycle table does not allow it."""

    def __init__(self, transport: Transport, role: Role, state: State, call: Call) -> None:
        self.transport = transport
        self.role = role
        self.state = state
        self.call = call
        allowed = ", ".join(c.value for c in allowed_calls(transport, role, state)) or "none"
        super().__init__(
            f"{call.value}() is not allowed on a {transport.value} {role.value} "
            f"that is {state.value} (allowed: {allowed})"
        )


S, R, T, C = State, Role, Transport, Call

#: Which roles exist for which transport.
ROLES: dict[Transport, tuple[Role, ...]] = {
    T.STREAM: (R.LISTENER, R.CONNECTION, R.CLIENT),
    T.DGRAM: (R.SERVER, R.CLIENT),
}

#: The state a socket of each role is born in. A connection is born from ``accept()``,
#: already connected; every other socket is born from ``socket()``.
INITIAL: dict[Role, State] = {
    R.LISTENER: S.CREATED,
    R.CONNECTION: S.CONNECTED,
    R.CLIENT: S.CREATED,
    R.SERVER: S.CREATED,
}

#: The call that gives birth to a socket of each role.
BIRTH: dict[Role, Call] = {
    R.LISTENER: C.SOCKET,
    R.CONNECTION: C.ACCEPT,
    R.CLIENT: C.SOCKET,
    R.SERVER: C.SOCKET,
}

_TCP_TALK = (C.SEND, C.SENDALL, C.RECV, C.SETSOCKOPT)

#: The whole lifecycle: ``(transport, role, state before, call) -> state after`` a
#: successful call. ``close`` is allowed from every state a role can be in, except
#: ``closed``, which is final. ``accept`` on a
#: listener leaves the listener listening: the new connection is a new socket.
TRANSITIONS: dict[tuple[Transport, Role, State, Call], State] = {
    # --- TCP listener: socket -> bind -> listen -> accept, accept, ... -> close
    (T.STREAM, R.LISTENER, S.CREATED, C.SETSOCKOPT): S.CREATED,
    (T.STREAM, R.LISTENER, S.CREATED, C.BIND): S.BOUND,
    (T.STREAM, R.LISTENER, S.BOUND, C.SETSOCKOPT): S.BOUND,
    (T.STREAM, R.LISTENER, S.BOUND, C.LISTEN): S.LISTENING,
    (T.STREAM, R.LISTENER, S.LISTENING, C.LISTEN): S.LISTENING,  # a new backlog
    (T.STREAM, R.LISTENER, S.LISTENING, C.SETSOCKOPT): S.LISTENING,
    (T.STREAM, R.LISTENER, S.LISTENING, C.ACCEPT): S.LISTENING,
    # --- TCP client: socket -> [bind] -> connect -> talk -> [shutdown] -> close
    (T.STREAM, R.CLIENT, S.CREATED, C.SETSOCKOPT): S.CREATED,
    (T.STREAM, R.CLIENT, S.CREATED, C.BIND): S.BOUND,
    (T.STREAM, R.CLIENT, S.CREATED, C.CONNECT): S.CONNECTED,  # the kernel binds implicitly
    (T.STREAM, R.CLIENT, S.BOUND, C.SETSOCKOPT): S.BOUND,
    (T.STREAM, R.CLIENT, S.BOUND, C.CONNECT): S.CONNECTED,
    **{(T.STREAM, R.CLIENT, S.CONNECTED, c): S.CONNECTED for c in _TCP_TALK},
    (T.STREAM, R.CLIENT, S.CONNECTED, C.SHUTDOWN): S.HALF_CLOSED,
    **{(T.STREAM, R.CLIENT, S.HALF_CLOSED, c): S.HALF_CLOSED for c in _TCP_TALK},
    (T.STREAM, R.CLIENT, S.HALF_CLOSED, C.SHUTDOWN): S.HALF_CLOSED,
    # --- TCP connection (from accept): talk -> [shutdown] -> close
    **{(T.STREAM, R.CONNECTION, S.CONNECTED, c): S.CONNECTED for c in _TCP_TALK},
    (T.STREAM, R.CONNECTION, S.CONNECTED, C.SHUTDOWN): S.HALF_CLOSED,
    **{(T.STREAM, R.CONNECTION, S.HALF_CLOSED, c): S.HALF_CLOSED for c in _TCP_TALK},
    (T.STREAM, R.CONNECTION, S.HALF_CLOSED, C.SHUTDOWN): S.HALF_CLOSED,
    # --- UDP server: socket -> bind -> recvfrom/sendto ... -> close
    (T.DGRAM, R.SERVER, S.CREATED, C.SETSOCKOPT): S.CREATED,
    (T.DGRAM, R.SERVER, S.CREATED, C.BIND): S.BOUND,
    (T.DGRAM, R.SERVER, S.BOUND, C.SETSOCKOPT): S.BOUND,
    (T.DGRAM, R.SERVER, S.BOUND, C.RECVFROM): S.BOUND,
    (T.DGRAM, R.SERVER, S.BOUND, C.SENDTO): S.BOUND,
    # --- UDP client: socket -> sendto (implicit bind) -> recvfrom -> close,
    #     or socket -> connect (sets a default peer, sends nothing) -> send/recv -> close
    (T.DGRAM, R.CLIENT, S.CREATED, C.SETSOCKOPT): S.CREATED,
    (T.DGRAM, R.CLIENT, S.CREATED, C.BIND): S.BOUND,
    (T.DGRAM, R.CLIENT, S.CREATED, C.SENDTO): S.BOUND,  # the kernel binds implicitly
    (T.DGRAM, R.CLIENT, S.CREATED, C.CONNECT): S.CONNECTED,
    (T.DGRAM, R.CLIENT, S.BOUND, C.SETSOCKOPT): S.BOUND,
    (T.DGRAM, R.CLIENT, S.BOUND, C.SENDTO): S.BOUND,
    (T.DGRAM, R.CLIENT, S.BOUND, C.RECVFROM): S.BOUND,
    (T.DGRAM, R.CLIENT, S.BOUND, C.CONNECT): S.CONNECTED,
    **{
        (T.DGRAM, R.CLIENT, S.CONNECTED, c): S.CONNECTED
        for c in (C.SEND, C.RECV, C.SENDTO, C.RECVFROM, C.SETSOCKOPT)
    },
    # --- close: from every state the role can be in (closed is final)
    **{
        (t, r, s, C.CLOSE): S.CLOSED
        for (t, r), states in {
            (T.STREAM, R.LISTENER): (S.CREATED, S.BOUND, S.LISTENING),
            (T.STREAM, R.CLIENT): (S.CREATED, S.BOUND, S.CONNECTED, S.HALF_CLOSED),
            (T.STREAM, R.CONNECTION): (S.CONNECTED, S.HALF_CLOSED),
            (T.DGRAM, R.SERVER): (S.CREATED, S.BOUND),
            (T.DGRAM, R.CLIENT): (S.CREATED, S.BOUND, S.CONNECTED),
        }.items()
        for s in states
    },
}

# TLS (Python's ssl) over a connected TCP socket: wrapping it and the handshake change no state
# the kernel knows; send, sendall and recv then carry TLS records.
TRANSITIONS.update(
    {
        (T.STREAM, r, s, c): s
        for r in (R.CLIENT, R.CONNECTION)
        for s in (S.CONNECTED,)
        for c in (C.WRAP, C.HANDSHAKE)
    }
)

# setblocking() and select() change no state: each is allowed wherever setsockopt() is (every
# state a socket can be in but closed).
TRANSITIONS.update(
    {
        (t, r, s, other): after
        for (t, r, s, c), after in list(TRANSITIONS.items())
        if c is C.SETSOCKOPT
        for other in (C.SETBLOCKING, C.SELECT)
    }
)

del S, R, T, C


def next_state(transport: Transport, role: Role, state: State, call: Call) -> State:
    """The state after ``call`` succeeds; :class:`IllegalTransition` if the table has no entry."""
    try:
        return TRANSITIONS[(transport, role, state, call)]
    except KeyError:
        raise IllegalTransition(transport, role, state, call) from None


def allowed_calls(transport: Transport, role: Role, state: State) -> list[Call]:
    """The calls the table allows in a state, in the order of :class:`Call`."""
    return [c for c in Call if (transport, role, state, c) in TRANSITIONS]


def reachable_states(transport: Transport, role: Role) -> set[State]:
    """Every state a socket of this role can reach from its birth (used by tests and docs)."""
    seen = {INITIAL[role]}
    frontier = [INITIAL[role]]
    while frontier:
        state = frontier.pop()
        for call in allowed_calls(transport, role, state):
            after = TRANSITIONS[(transport, role, state, call)]
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return seen
