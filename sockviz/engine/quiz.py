"""Predict mode: a question about the call that is about to run, answered by the real run.

Before a step, :func:`ask` turns what is known - the pending call and the sockets as they
are now - into a question with a few choices. Nothing here knows the answer: it is read off
the run once the call has been made and the kernel has settled (:meth:`Question.answer`),
from the call's event and the sockets as they are then. So a question can be "wrong" only in
the way the real system surprises you, and then the reveal says what really happened.

Standard library only, like the rest of the engine: the app asks and shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sockviz.engine.events import CallEvent, StepPending
from sockviz.engine.states import Call, Role, State, Transport

SUCCEEDS = "it succeeds"
AN_ERROR = "it fails with an error"

#: Errors a call is known for: the wrong choices beside the one the scenario means.
ERRORS: dict[Call, tuple[str, ...]] = {
    Call.CONNECT: ("ECONNREFUSED", "ETIMEDOUT", "EINPROGRESS", "EALREADY"),
    Call.BIND: ("EADDRINUSE", "EACCES", "EINVAL"),
    Call.LISTEN: ("EADDRINUSE", "EINVAL"),
    Call.ACCEPT: ("EAGAIN", "ECONNABORTED"),
    Call.SEND: ("EPIPE", "ECONNRESET"),
    Call.SENDALL: ("EPIPE", "ECONNRESET"),
    Call.SENDTO: ("ECONNREFUSED", "EMSGSIZE"),
    Call.RECV: ("ECONNRESET", "EAGAIN"),
    Call.RECVFROM: ("ECONNREFUSED", "EAGAIN"),
    Call.SHUTDOWN: ("ENOTCONN",),
    Call.CLOSE: ("EBADF",),
}

#: The lifecycle states a socket of each role can be in.
ROLE_STATES: dict[Role, tuple[State, ...]] = {
    Role.LISTENER: (State.CREATED, State.BOUND, State.LISTENING, State.CLOSED),
    Role.SERVER: (State.CREATED, State.BOUND, State.CONNECTED, State.CLOSED),
    Role.CLIENT: (State.CREATED, State.BOUND, State.CONNECTED, State.HALF_CLOSED,
                  State.CLOSED),
    Role.CONNECTION: (State.CONNECTED, State.HALF_CLOSED, State.CLOSED),
}

#: The kernel states a TCP socket can show right after it closes or shuts down.
AFTER_FIN = ("FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE")

RECV_BYTES = "the bytes waiting in its buffer"
RECV_EOF = "0 bytes: end of stream"
ONE_DATAGRAM = "exactly one whole datagram"
MERGED = "every datagram waiting, merged"
NEW_SOCKET = "a new socket, connected to the client"
SAME_SOCKET = "the listener itself, now connected"
NEITHER = "neither"
BOTH = "both"


class Facts(Protocol):
    """What the question needs of a socket (the app's card models have it)."""

    name: str
    role: Role
    type: str
    state: State | None
    kernel: str | None
    local: str | None
    remote: str | None


@dataclass(frozen=True)
class Question:
    """One question about step :attr:`step`; :meth:`answer` reads the real outcome."""

    step: int
    kind: str
    """``outcome``, ``state``, ``kernel``, ``recv``, ``accept`` or ``time-wait``."""
    socket: str
    text: str
    choices: tuple[str, ...]
    peer: str | None = None
    """For ``time-wait``: the other end of the connection."""

    def answer(self, event: CallEvent | None, sockets: Mapping[str, Facts]) -> str:
        """The true choice, from the step's call event and the sockets once it settled."""
        if event is None:
            return "the call was not made"
        if self.kind == "outcome":
            return event.error or SUCCEEDS
        if event.error:
            return AN_ERROR if AN_ERROR in self.choices else f"it failed with {event.error}"
        if self.kind == "state":
            return event.state.value if event.state else "?"
        if self.kind == "kernel":
            facts = sockets.get(self.socket)
            return (facts.kernel if facts else None) or event.kernel or "?"
        if self.kind == "recv":
            if event.type == Transport.DGRAM.value:
                return ONE_DATAGRAM
            return RECV_EOF if event.nbytes == 0 else RECV_BYTES
        if self.kind == "accept":
            return NEW_SOCKET
        if self.kind == "time-wait":
            waiting = [name for name in (self.socket, self.peer)
                       if name in sockets and sockets[name].kernel == "TIME_WAIT"]
            return BOTH if len(waiting) == 2 else (waiting[0] if waiting else NEITHER)
        return "?"


def _peer(facts: Facts, sockets: Mapping[str, Facts]) -> Facts | None:
    """The socket at the other end of a connection (ours too: both are in the run)."""
    if not facts.remote:
        return None
    for other in sockets.values():
        if other.name != facts.name and other.local == facts.remote \
                and other.remote == facts.local:
            return other
    return None


def ask(pending: StepPending, sockets: Mapping[str, Facts]) -> Question | None:
    """A question about the pending step, or None when it has nothing to guess
    (``socket()``, ``setsockopt()``, a plain send)."""
    call, name = pending.call, pending.socket
    facts = sockets.get(name)
    who = f"{name}.{call.value}()"
    if pending.expect_error:
        others = [e for e in ERRORS.get(call, ()) if e != pending.expect_error]
        choices = (SUCCEEDS, *sorted([pending.expect_error, *others[:2]]))
        return Question(pending.step, "outcome", name, f"What will {who} return?", choices)
    if facts is None:
        return None  # a socket not made yet: accept's and socket()'s own questions below
    stream = facts.type == Transport.STREAM.value
    if call is Call.CLOSE and stream and facts.state in (State.CONNECTED, State.HALF_CLOSED):
        peer = _peer(facts, sockets)
        if peer is not None and peer.state in (State.CLOSED, State.HALF_CLOSED):
            done = "closed" if peer.state is State.CLOSED else "shut down its sending side"
            return Question(
                pending.step, "time-wait", name,
                f"{peer.name} has already {done}. After {who}, which of the two sockets "
                "will the kernel keep in TIME_WAIT?",
                (name, peer.name, BOTH, NEITHER), peer=peer.name)
        return Question(pending.step, "kernel", name,
                        f"After {who}, which TCP state will the kernel show for {name}?",
                        AFTER_FIN)
    if call in (Call.BIND, Call.LISTEN, Call.CONNECT, Call.SHUTDOWN):
        choices = tuple(s.value for s in ROLE_STATES[facts.role] if s is not facts.state)
        return Question(pending.step, "state", name,
                        f"{name} is {facts.state.value if facts.state else 'new'}. "
                        f"After {who}, what will its state be?", choices)
    if call is Call.ACCEPT:
        return Question(pending.step, "accept", name, f"What will {who} give back?",
                        (NEW_SOCKET, SAME_SOCKET, AN_ERROR))
    if call in (Call.RECV, Call.RECVFROM):
        if not stream:
            return Question(pending.step, "recv", name, f"What will {who} return?",
                            (ONE_DATAGRAM, "part of a datagram", MERGED, AN_ERROR))
        return Question(pending.step, "recv", name, f"What will {who} return?",
                        (RECV_BYTES, RECV_EOF, AN_ERROR))
    return None
