"""Predict mode: a question about the call that is about to run, answered by the real run.

Before a step, :func:`ask` turns what is known - the pending call and the sockets as they
are now - into a question with a few choices. Nothing here knows the answer: it is read off
the run once the call has been made (:meth:`Question.answer`) - from the call's own event
(its error, its state, the kernel state read when it returned, the socket it gave back, the
bytes it read), the sockets' latest kernel readings (for what happens to the other end
after the call), the segments it caused, and the size of the datagram a ``recvfrom`` read
as its sender's own ``sendto`` reported it (:class:`Datagrams`). So a question can be
"wrong" only in the way the real system surprises you, and then the reveal says what really
happened; where the run does not show the answer, the reveal says so rather than guess.

Standard library only, like the rest of the engine: the app asks and shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sockviz.engine.events import CallEvent, Segment, StepPending
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
    Call.HANDSHAKE: ("SSLWantReadError", "SSLCertVerificationError", "SSLEOFError"),
}

#: The lifecycle states a socket of each role can be in.
ROLE_STATES: dict[Role, tuple[State, ...]] = {
    Role.LISTENER: (State.CREATED, State.BOUND, State.LISTENING, State.CLOSED),
    Role.SERVER: (State.CREATED, State.BOUND, State.CONNECTED, State.CLOSED),
    Role.CLIENT: (State.CREATED, State.BOUND, State.CONNECTED, State.HALF_CLOSED, State.CLOSED),
    Role.CONNECTION: (State.CONNECTED, State.HALF_CLOSED, State.CLOSED),
}

#: The kernel states a TCP socket can show when close() returns: its FIN not acknowledged
#: yet (FIN_WAIT1; LAST_ACK when the peer's FIN came first; CLOSING when both FINs crossed),
#: acknowledged (FIN_WAIT2), the peer's FIN in too (TIME_WAIT), or no connection left
#: (CLOSE: a reset, or unread bytes that made close() send one). Never CLOSE_WAIT: close()
#: sends the FIN that ends it.
AFTER_FIN = ("FIN_WAIT1", "FIN_WAIT2", "CLOSING", "LAST_ACK", "TIME_WAIT", "CLOSE")
#: States in which a FIN is still on its way or unanswered: what comes next is not known yet.
UNSETTLED = ("FIN_WAIT1", "LAST_ACK", "CLOSING")

RECV_BYTES = "the bytes waiting in its buffer"
RECV_EOF = "0 bytes: end of stream"
ONE_DATAGRAM = "exactly one whole datagram"
MERGED = "every datagram waiting, merged"
NEW_SOCKET = "a new socket, connected to the client"
SAME_SOCKET = "the listener itself, now connected"
NEITHER = "neither"
BOTH = "both"
PART = "part of a datagram"
NOT_YET = "not known yet"
"""How an answer the kernel has not settled yet begins (a FIN still on its way)."""
NOT_READ = "not known: the kernel state was not read when it returned"

# Questions the wire answers (asked when the run's segments are watched).
HANDSHAKE = "SYN, SYN-ACK and ACK: the whole handshake"
SYN_ONLY = "only a SYN: the rest waits for accept()"
SYN_RST = "a SYN, answered by a reset"
NOTHING = "nothing yet"
NO_ANSWER = "nothing: the SYN is sent again later"
ICMP = "an ICMP 'port unreachable'"
NO_FIN = "nobody yet: no FIN has left by the time it returns"
RST_NOT_FIN = "nobody: a reset (RST) ends the connection instead"


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

    def answer(
        self,
        event: CallEvent | None,
        sockets: Mapping[str, Facts],
        caused: Sequence[Segment] = (),
        datagram: int | None = None,
    ) -> str:
        """The true choice, from the step's call event, the sockets as the kernel last
        reported them, the segments the call caused (for the wire's questions) and, for a
        ``recvfrom``, the size of the datagram it read as its ``sendto`` reported it (None:
        not seen)."""
        if event is None:
            return "the call was not made"
        if self.kind.startswith("wire-"):
            # (only what crossed before it returned: the call's own, and on a link what
            # was read while it was under way; what the kernels sent on their own after
            # it - a FIN let go late on a loaded machine, one sent again - is not)
            before = [s for s in caused if s.cause is not None or s.t <= event.t]
            return _wire_answer(self.kind, self.socket, before)
        if self.kind == "outcome":
            return event.error or SUCCEEDS
        if event.error:
            return AN_ERROR if AN_ERROR in self.choices else f"it failed with {event.error}"
        if self.kind == "state":
            return event.state.value if event.state else "?"
        if self.kind == "kernel":
            # The call's own reading, taken when it returned: a later kernel line (its FIN
            # acknowledged a moment after) is news of another moment.
            return event.kernel or NOT_READ
        if self.kind == "recv":
            if event.type == Transport.DGRAM.value:
                return _datagram_answer(event.nbytes, datagram)
            return RECV_EOF if event.nbytes == 0 else RECV_BYTES
        if self.kind == "accept":
            if event.socket == self.socket:
                return SAME_SOCKET
            return (
                NEW_SOCKET
                if event.parent == self.socket
                else f"{event.socket}, from {event.parent or 'no listener said'}"
            )
        if self.kind == "time-wait":
            return self._time_wait(event, sockets)
        return "?"

    def _time_wait(self, event: CallEvent, sockets: Mapping[str, Facts]) -> str:
        """Which end the kernel keeps in TIME_WAIT: each end's latest reading (an open
        socket whose connection is in TIME_WAIT reads TIME_WAIT too), or "not known yet"
        while a FIN is still unanswered."""
        states: dict[str | None, str | None] = {}
        for name in (self.socket, self.peer):
            facts = sockets.get(name) if name else None
            kernel = facts.kernel if facts is not None else None
            if name == self.socket:
                kernel = kernel or event.kernel
            states[name] = kernel
        unsettled = [
            f"{name} in {kernel}"
            for name, kernel in states.items()
            if kernel in UNSETTLED or (name == self.peer and kernel == "FIN_WAIT2")
        ]
        if unsettled:
            return f"{NOT_YET}: {', '.join(unsettled)} when the run moved on"
        waiting = [
            name for name, kernel in states.items() if kernel == "TIME_WAIT" and name is not None
        ]
        return BOTH if len(waiting) == 2 else (waiting[0] if waiting else NEITHER)


def _datagram_answer(nbytes: int | None, datagram: int | None) -> str:
    """What a ``recvfrom`` read, from its byte count and the datagram's size as sent."""
    if datagram is None or nbytes is None:
        return "not known: the datagram's sending was not seen"
    if nbytes == datagram:
        return ONE_DATAGRAM
    return PART if nbytes < datagram else MERGED


def _port(address: str | None) -> str | None:
    return address.rpartition(":")[2] if address else None


class Datagrams:
    """The datagrams sent in a run, by where they went, so a ``recvfrom`` can be matched
    with the ``sendto`` that sent what it read (by the two ports, then by the bytes: one
    lost on the way is passed over). Fed every call event in order."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str | None, str | None], list[tuple[int, bytes]]] = {}

    def seen(self, event: CallEvent) -> int | None:
        """Keep a datagram sent; for one read, the size it was sent with (None: not seen)."""
        if event.type != Transport.DGRAM.value or event.error or event.nbytes is None:
            return None
        if event.call in (Call.SEND, Call.SENDTO):
            key = (_port(event.remote), _port(event.local))
            self.sent.setdefault(key, []).append((event.nbytes, event.data or b""))
            return None
        if event.call not in (Call.RECV, Call.RECVFROM):
            return None
        queue = self.sent.get((_port(event.local), _port(event.remote)), [])
        got = event.data or b""
        while queue:
            size, data = queue.pop(0)
            common = min(len(data), len(got))
            if data[:common] == got[:common]:
                return size
        return None


def _wire_answer(kind: str, asker: str, caused: Sequence[Segment]) -> str:
    """The true choice of a wire question, from the segments the call caused."""
    flags = [segment.flags or "" for segment in caused]
    if kind == "wire-connect":
        if flags[:3] == ["SYN", "SYN,ACK", "ACK"]:
            return HANDSHAKE
        if flags[:1] == ["SYN"]:
            return SYN_RST if any(f.startswith("RST") for f in flags[1:]) else SYN_ONLY
        return NOTHING
    if kind == "wire-refused":
        back = [f for segment, f in zip(caused, flags, strict=True) if segment.source != asker]
        return back[0] if back else NO_ANSWER
    if kind == "wire-fin":
        fin = next((segment.source for segment in caused if "FIN" in (segment.flags or "")), None)
        if fin is None and any("RST" in (segment.flags or "") for segment in caused):
            return RST_NOT_FIN  # (SO_LINGER 0, or bytes left unread: close() resets)
        return fin or NO_FIN
    return "?"


def _peer(facts: Facts, sockets: Mapping[str, Facts]) -> Facts | None:
    """The socket at the other end of a connection (ours too: both are in the run)."""
    if not facts.remote:
        return None
    for other in sockets.values():
        if other.name != facts.name and other.local == facts.remote and other.remote == facts.local:
            return other
    return None


def ask(pending: StepPending, sockets: Mapping[str, Facts], wire: bool = False) -> Question | None:
    """A question about the pending step, or None when it has nothing to guess
    (``socket()``, ``setsockopt()``, a plain send). ``wire``: the run's segments are
    watched, so the wire can answer questions of its own."""
    if pending.with_previous or pending.with_next:
        # (two calls on one key, at the same moment: which one's segment, and so which
        # state each is read in, is a race between two threads, not a lesson to guess)
        return None
    call, name = pending.call, pending.socket
    facts = sockets.get(name)
    who = f"{name}.{call.value}()"
    if wire and facts is not None:
        question = _ask_wire(pending, facts, sockets, who)
        if question is not None:
            return question
    if pending.expect_error:
        others = [e for e in ERRORS.get(call, ()) if e != pending.expect_error]
        choices = (SUCCEEDS, *sorted([pending.expect_error, *others[:2]]))
        return Question(pending.step, "outcome", name, f"What will {who} return?", choices)
    if call is Call.HANDSHAKE:  # (does this call end the handshake, or must it wait?)
        choices = (SUCCEEDS, *sorted(ERRORS[Call.HANDSHAKE]))
        return Question(pending.step, "outcome", name, f"What will {who} return?", choices)
    if facts is None:
        return None  # a socket not made yet: accept's and socket()'s own questions below
    stream = facts.type == Transport.STREAM.value
    if call is Call.CLOSE and stream and facts.state in (State.CONNECTED, State.HALF_CLOSED):
        peer = _peer(facts, sockets)
        if peer is not None and peer.state in (State.CLOSED, State.HALF_CLOSED):
            done = (
                "has already closed"
                if peer.state is State.CLOSED
                else "has shut down its sending side, and its socket is still open"
            )
            return Question(
                pending.step,
                "time-wait",
                name,
                f"{peer.name} {done}. After {who}, which end of the connection will the "
                "kernel keep in TIME_WAIT (an open socket's end too)?",
                (name, peer.name, BOTH, NEITHER),
                peer=peer.name,
            )
        return Question(
            pending.step,
            "kernel",
            name,
            f"When {who} returns, which TCP state does the kernel show for {name}?",
            AFTER_FIN,
        )
    if call in (Call.BIND, Call.LISTEN, Call.CONNECT, Call.SHUTDOWN):
        choices = tuple(s.value for s in ROLE_STATES[facts.role] if s is not facts.state)
        return Question(
            pending.step,
            "state",
            name,
            f"{name} is {facts.state.value if facts.state else 'new'}. "
            f"After {who}, what will its state be?",
            choices,
        )
    if call is Call.ACCEPT:
        return Question(
            pending.step,
            "accept",
            name,
            f"What will {who} give back?",
            (NEW_SOCKET, SAME_SOCKET, AN_ERROR),
        )
    if call in (Call.RECV, Call.RECVFROM):
        if not stream:
            return Question(
                pending.step,
                "recv",
                name,
                f"What will {who} return?",
                (ONE_DATAGRAM, PART, MERGED, AN_ERROR),
            )
        return Question(
            pending.step, "recv", name, f"What will {who} return?", (RECV_BYTES, RECV_EOF, AN_ERROR)
        )
    return None


def _ask_wire(
    pending: StepPending, facts: Facts, sockets: Mapping[str, Facts], who: str
) -> Question | None:
    """The wire's questions: what connect() sends, what a SYN to a closed port gets back,
    who sends the first FIN."""
    if facts.type != Transport.STREAM.value:
        return None
    name = facts.name
    if pending.call is Call.CONNECT and pending.expect_error == "ECONNREFUSED":
        return Question(
            pending.step,
            "wire-refused",
            name,
            f"{who} sends a SYN to a port where nothing listens. What comes back on the wire?",
            ("SYN,ACK", "RST,ACK", NO_ANSWER, ICMP),
        )
    if (
        pending.call is Call.CONNECT
        and not pending.expect_error
        and facts.kernel not in ("SYN_SENT", "ESTABLISHED")
    ):
        # (a connect() that ends one begun with EINPROGRESS sends no SYN of its own)
        return Question(
            pending.step,
            "wire-connect",
            name,
            f"What will {who} put on the wire before it returns?",
            (SYN_ONLY, HANDSHAKE, SYN_RST, NOTHING),
        )
    if pending.call in (Call.CLOSE, Call.SHUTDOWN) and facts.state is State.CONNECTED:
        peer = _peer(facts, sockets)
        if peer is not None and peer.state is State.CONNECTED:
            return Question(
                pending.step,
                "wire-fin",
                name,
                f"Both ends are connected. Once {who} returns, which socket's "
                "kernel will have sent the first FIN?",
                (name, peer.name, NO_FIN, RST_NOT_FIN),
            )
    return None
