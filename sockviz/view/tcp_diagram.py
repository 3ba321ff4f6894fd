"""Each TCP connection's two ends through RFC 9293's state diagram, as this run moved them.

The diagram's eleven states and its arrows are one table (:data:`ARROWS`). An end moves
along an arrow only when the run showed what the arrow needs: a call the run made
(``listen()``), or a segment that crossed - sent by that end, or received by it (a segment
a two-host link lost is sent and never received; one it held is received when let go).
Each move keeps the event that made it, so the diagram names it on its arrow.

The kernel's own reading of each socket (``TCP_INFO``, ``ss``) is kept beside the state
the wire says: where no segment was watched (no capture here), the path is the kernel's
readings and the calls they were read after, and the diagram says the segments are not
known; where the two disagree, the diagram shows both.

A :class:`Diagrams` is immutable: the fold replaces it, so a view's copy shares it and
going back in time costs nothing. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sockviz.engine.events import (
    UNDELIVERED,
    CallEvent,
    KernelEvent,
    LinkEvent,
    Segment,
    WireStatus,
)
from sockviz.engine.states import Call

CLOSED, LISTEN, SYN_SENT, SYN_RECEIVED = "CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED"
ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2 = "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2"
CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT = "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"

#: RFC 9293's eleven states, in the order its Figure 5 reads them.
STATES = (
    CLOSED,
    LISTEN,
    SYN_SENT,
    SYN_RECEIVED,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    CLOSE_WAIT,
    CLOSING,
    LAST_ACK,
    TIME_WAIT,
)

#: The arrows of RFC 9293's Figure 5 (and of its text: a FIN that also acknowledges ours
#: goes from FIN-WAIT-1 straight to TIME-WAIT; a reset ends any state), each with the
#: RFC's words for what moves an end along it.
ARROWS: dict[tuple[str, str], str] = {
    (CLOSED, LISTEN): "passive OPEN",
    (CLOSED, SYN_SENT): "active OPEN / snd SYN",
    (LISTEN, SYN_RECEIVED): "rcv SYN / snd SYN,ACK",
    (LISTEN, SYN_SENT): "SEND / snd SYN",
    (LISTEN, CLOSED): "CLOSE",
    (SYN_SENT, SYN_RECEIVED): "rcv SYN / snd SYN,ACK",
    (SYN_SENT, ESTABLISHED): "rcv SYN,ACK / snd ACK",
    (SYN_SENT, CLOSED): "CLOSE, or rcv RST",
    (SYN_RECEIVED, ESTABLISHED): "rcv ACK of SYN",
    (SYN_RECEIVED, FIN_WAIT_1): "CLOSE / snd FIN",
    (SYN_RECEIVED, LISTEN): "rcv RST",
    (ESTABLISHED, FIN_WAIT_1): "CLOSE / snd FIN",
    (ESTABLISHED, CLOSE_WAIT): "rcv FIN / snd ACK",
    (FIN_WAIT_1, FIN_WAIT_2): "rcv ACK of FIN",
    (FIN_WAIT_1, CLOSING): "rcv FIN / snd ACK",
    (FIN_WAIT_1, TIME_WAIT): "rcv FIN and ACK of FIN / snd ACK",
    (FIN_WAIT_2, TIME_WAIT): "rcv FIN / snd ACK",
    (CLOSE_WAIT, LAST_ACK): "CLOSE / snd FIN",
    (CLOSING, TIME_WAIT): "rcv ACK of FIN",
    (LAST_ACK, CLOSED): "rcv ACK of FIN",
    (TIME_WAIT, CLOSED): "Timeout = 2 MSL",
}
#: A reset (sent or received) ends a connection from any state but these.
RESET_FROM = frozenset(STATES) - {CLOSED, LISTEN}

#: Linux's names for its TCP states (include/net/tcp_states.h) -> the RFC's.
KERNEL_NAMES = {
    "CLOSE": CLOSED,
    "LISTEN": LISTEN,
    "SYN_SENT": SYN_SENT,
    "SYN_RECV": SYN_RECEIVED,
    "NEW_SYN_RECV": SYN_RECEIVED,
    "ESTABLISHED": ESTABLISHED,
    "FIN_WAIT1": FIN_WAIT_1,
    "FIN_WAIT2": FIN_WAIT_2,
    "CLOSE_WAIT": CLOSE_WAIT,
    "CLOSING": CLOSING,
    "LAST_ACK": LAST_ACK,
    "TIME_WAIT": TIME_WAIT,
}

#: Connections kept at most (the oldest closed ones go first), and moves kept per end.
MAX_CONNECTIONS = 12
MAX_MOVES = 24
#: Calls remembered to name a segment's cause (a step's segments follow its call).
RECENT_CALLS = 16


@dataclass(frozen=True, slots=True)
class Move:
    """One arrow an end went along, and what in the run moved it."""

    before: str
    after: str
    why: str
    """The run's event, in words: ``close(): FIN sent``, ``SYN,ACK received``."""
    seq: int
    """The event's place in the run."""
    t: float
    kernel: bool = False
    """Seen only as the kernel's reading (no segment showed it)."""
    short: str = ""
    """The same in a few words, for its arrow in the figure: ``close(): snd FIN,ACK``."""


@dataclass(frozen=True, slots=True)
class End:
    """One end of a connection: its address, its socket, its state and how it got there."""

    address: str
    peer: str
    name: str
    """The run's socket at this end (the listener's name until accept() names it)."""
    state: str = CLOSED
    moves: tuple[Move, ...] = ()
    kernel: str | None = None
    """The kernel's last reading of its socket (Linux's name), or None: not read."""
    fin: int | None = None
    """Just past its FIN in its own sequence space: the ACK of the FIN reaches this."""
    syn_sent: bool = False
    """Its SYN (or SYN,ACK) has been sent: a later one is the kernel sending it again."""

    @property
    def path(self) -> tuple[str, ...]:
        """The states it has been in, in order."""
        return (
            (self.moves[0].before, *(m.after for m in self.moves)) if self.moves else (self.state,)
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection's two ends: the one that opened it (sent the first SYN) first."""

    ends: tuple[End, End]
    first: int
    """The ``seq`` of its first segment."""

    def end(self, address: str, peer: str) -> int | None:
        for i, end in enumerate(self.ends):
            if end.address == address and end.peer == peer:
                return i
        return None

    @property
    def closed(self) -> bool:
        return all(e.state == CLOSED and e.moves for e in self.ends)

    def title(self) -> str:
        opener, other = self.ends
        return f"{opener.name} {opener.address} ⇄ {other.name} {other.address}"


@dataclass(frozen=True, slots=True)
class Diagrams:
    """The run's TCP connections as the diagram shows them (immutable)."""

    connections: tuple[Connection, ...] = ()
    listeners: tuple[tuple[str, str, int, float], ...] = ()
    """Sockets that called listen(): (address, name, seq, t)."""
    calls: tuple[tuple[int, str, str], ...] = ()
    """The newest calls: (seq, socket, call), to name a segment's cause."""
    held: tuple[Segment, ...] = ()
    """Segments a link holds: received by their end when let go."""
    in_flight: tuple[tuple[float, Segment], ...] = ()
    """Segments crossing a link, with when each arrives (run time, soonest first): the
    receiver moves then, not when the sender sent it (a FIN sent while the peer's FIN is
    on its way is how both ends come to CLOSING)."""
    wired: bool = False
    """The run's segments are watched (else the paths are the kernel's readings)."""
    dropped: int = 0
    """Connections let go to stay within :data:`MAX_CONNECTIONS`."""


#: Where a run's segments are watched (:class:`WireStatus`), so the wire draws the paths.
WATCHED = frozenset({"host", "private", "recorded", "link"})


# --- the fold -----------------------------------------------------------------------------
def on_wire(d: Diagrams, status: WireStatus) -> Diagrams:
    """Said before the first call: whether segments will come (a call's line comes before
    the segments it caused: the wire, not the kernel's reading, must draw its move)."""
    return replace(d, wired=status.where in WATCHED)


def on_call(d: Diagrams, event: CallEvent) -> Diagrams:
    """A call: remembered (it names the segments it causes), a listen() noted, and the
    kernel's reading after it kept on the end its socket is."""
    if event.type != "SOCK_STREAM" or event.family == "AF_UNIX":
        return d
    d = _arrive(d, event.t)
    calls = (*d.calls[-(RECENT_CALLS - 1) :], (event.seq, event.socket, event.call.value))
    d = replace(d, calls=calls)
    if event.call is Call.LISTEN and event.error is None and event.local:
        d = replace(d, listeners=(*d.listeners, (event.local, event.socket, event.seq, event.t)))
    if event.local and event.remote and event.kernel is not None:
        if not d.wired and event.kernel != "CLOSE":  # (no capture: known from the kernel)
            d = _new(d, event.local, event.remote, event.socket, "", event.seq)
        d = _name(d, event.local, event.remote, event.socket)
        d = _read(d, event.local, event.remote, event.kernel, event.seq, event.t, event.call)
    return d


def on_kernel(d: Diagrams, event: KernelEvent) -> Diagrams:
    if event.local and event.remote and event.type == "SOCK_STREAM":
        d = _arrive(d, event.t)
        return _read(d, event.local, event.remote, event.kernel, event.seq, event.t, None)
    return d


def on_segment(d: Diagrams, seg: Segment) -> Diagrams:
    """A segment: its sender's move now; its receiver's now, when the link lets it go, or
    never (lost on the link)."""
    if seg.proto != "TCP" or seg.flags is None:
        return d
    if not d.wired:  # (a run that did not say where its wire is: the segments say it)
        d = replace(d, wired=True)
    d = _arrive(d, seg.t)
    flags = set(seg.flags.split(","))
    if "SYN" in flags and "ACK" not in flags:
        d = _new(d, seg.local, seg.remote, seg.source, seg.target, seg.seq)
    d = _sent(d, seg, flags)
    if seg.link in UNDELIVERED:
        return d
    if seg.link == "held":
        return replace(d, held=(*d.held[-63:], seg))
    if seg.link is not None and seg.delay:
        return _crossing(d, seg, seg.t + seg.delay)
    return _received(d, seg, flags)


def fold(d: Diagrams, event: object) -> Diagrams:
    """``d`` after ``event``, whichever kind it is (what the run's view does, one kind at a
    time, beside its own folding: :mod:`sockviz.view.fold`)."""
    if isinstance(event, CallEvent):
        return on_call(d, event)
    if isinstance(event, KernelEvent):
        return on_kernel(d, event)
    if isinstance(event, Segment):
        return on_segment(d, event)
    if isinstance(event, LinkEvent):
        return on_released(d, event)
    if isinstance(event, WireStatus):
        return on_wire(d, event)
    return d


def on_released(d: Diagrams, event: LinkEvent) -> Diagrams:
    seg = next((s for s in d.held if s.seq == event.segment), None)
    if seg is None or seg.flags is None:
        return d
    d = replace(d, held=tuple(s for s in d.held if s is not seg))
    return _arrive(_crossing(d, seg, event.t + (event.delay or 0.0)), event.t)


# --- inside the fold ----------------------------------------------------------------------
def _crossing(d: Diagrams, seg: Segment, arrives: float) -> Diagrams:
    flight = sorted((*d.in_flight, (arrives, seg)), key=lambda item: (item[0], item[1].seq))
    return replace(d, in_flight=tuple(flight[-256:]))


def _arrive(d: Diagrams, now: float) -> Diagrams:
    """Every segment that has crossed by ``now``, received by its end, in order."""
    while d.in_flight and d.in_flight[0][0] <= now:
        (arrived, seg), rest = d.in_flight[0], d.in_flight[1:]
        d = replace(d, in_flight=rest)
        if seg.flags is not None:
            d = _received(d, seg, set(seg.flags.split(",")), seg.seq, arrived)
    return d


def _new(d: Diagrams, address: str, peer: str, name: str, peer_name: str, seq: int) -> Diagrams:
    """A connection opened from ``address`` (its first SYN, or with no capture the first
    kernel reading of a socket with both addresses), unless it is known already. The
    other end's path begins with its listener's listen(), when the run made one there."""
    for c in d.connections:
        if c.end(address, peer) is not None or c.end(peer, address) is not None:
            return d
    other = End(peer, address, peer_name)
    listened = next((x for x in d.listeners if x[0] == peer), None)
    if listened is not None:
        _, listener, at, t = listened
        move = Move(CLOSED, LISTEN, "listen()", at, t, short="listen()")
        other = replace(other, name=peer_name or listener, state=LISTEN, moves=(move,))
    connections = (*d.connections, Connection((End(address, peer, name), other), seq))
    dropped = d.dropped
    while len(connections) > MAX_CONNECTIONS:
        gone = next((c for c in connections if c.closed), connections[0])
        connections = tuple(c for c in connections if c is not gone)
        dropped += 1
    return replace(d, connections=connections, dropped=dropped)


def _change(d: Diagrams, address: str, peer: str, change: Callable[[End], End]) -> Diagrams:
    """``d`` with the end at ``address`` (talking to ``peer``) replaced by ``change(end)``."""
    for ci, c in enumerate(d.connections):
        i = c.end(address, peer)
        if i is None:
            continue
        end = c.ends[i]
        new = change(end)
        if new is end:
            return d
        ends = (new, c.ends[1]) if i == 0 else (c.ends[0], new)
        connections = (*d.connections[:ci], replace(c, ends=ends), *d.connections[ci + 1 :])
        return replace(d, connections=connections)
    return d


def _moved(
    end: End, after: str, why: str, seq: int, t: float, kernel: bool = False, short: str = ""
) -> End:
    if after == end.state:
        return end
    move = Move(end.state, after, why, seq, t, kernel, short or why)
    return replace(end, state=after, moves=(*end.moves, move)[-MAX_MOVES:])


def _cause(d: Diagrams, seg: Segment) -> str:
    """``close(): `` for a segment a call of the run caused, else nothing."""
    if seg.cause is None or seg.retry is not None:
        return ""
    call = next((c for s, n, c in d.calls if s == seg.cause and n == seg.source), None)
    return f"{call}(): " if call else ""


def _sent(d: Diagrams, seg: Segment, flags: set[str]) -> Diagrams:
    cause, what = _cause(d, seg), seg.flags
    again = " again" if seg.retry is not None else ""
    snd = f"{cause}{what}" if cause else f"snd {what}"  # (a call's: it sent it)

    def change(end: End) -> End:
        if "RST" in flags:
            if end.state in RESET_FROM:
                return _moved(end, CLOSED, f"{cause}{what} sent", seg.seq, seg.t, short=snd)
            return end
        if "SYN" in flags:
            end = replace(end, syn_sent=True)
            if "ACK" not in flags and end.state == CLOSED:
                return _moved(
                    end, SYN_SENT, f"{cause}{what} sent{again}", seg.seq, seg.t, short=snd
                )
            if "ACK" in flags and end.state == LISTEN:
                why = f"SYN received, {what} sent"
                return _moved(end, SYN_RECEIVED, why, seg.seq, seg.t, short=f"rcv SYN, snd {what}")
            return end
        if "FIN" in flags:
            fin = None if seg.summed or seg.seq_rel is None else seg.seq_rel + seg.nbytes + 1
            end = replace(end, fin=fin if end.fin is None else end.fin)
            after = {ESTABLISHED: FIN_WAIT_1, SYN_RECEIVED: FIN_WAIT_1, CLOSE_WAIT: LAST_ACK}
            if end.state in after:
                why = f"{cause}{what} sent"
                return _moved(end, after[end.state], why, seg.seq, seg.t, short=snd)
        return end

    return _change(d, seg.local, seg.remote, change)


def _received(
    d: Diagrams, seg: Segment, flags: set[str], seq: int | None = None, t: float | None = None
) -> Diagrams:
    at, when = seg.seq if seq is None else seq, seg.t if t is None else t
    what, rcv = f"{seg.flags} received", f"rcv {seg.flags}"

    def change(end: End) -> End:
        if "RST" in flags:
            return (
                _moved(end, CLOSED, what, at, when, short=rcv) if end.state in RESET_FROM else end
            )
        acked = seg.ack_rel if "ACK" in flags else None
        fin_acked = end.fin is not None and acked is not None and acked >= end.fin
        if "SYN" in flags:
            if "ACK" in flags and end.state == SYN_SENT:
                return _moved(end, ESTABLISHED, what, at, when, short=rcv)
            if "ACK" in flags and end.state == SYN_RECEIVED and acked is not None and acked >= 1:
                return _moved(
                    end, ESTABLISHED, f"{what}: its SYN acknowledged", at, when, short=rcv
                )
            if "ACK" not in flags and end.state == SYN_SENT:
                return _moved(end, SYN_RECEIVED, f"{what} (both ends opened)", at, when, short=rcv)
            return end
        if end.state == SYN_RECEIVED and acked is not None and acked >= 1:
            end = _moved(end, ESTABLISHED, f"{what}: its SYN acknowledged", at, when, short=rcv)
        if "FIN" in flags:
            if end.state == ESTABLISHED:
                return _moved(end, CLOSE_WAIT, what, at, when, short=rcv)
            if end.state == FIN_WAIT_1 and fin_acked:
                return _moved(
                    end, TIME_WAIT, f"{what}: its own FIN acknowledged too", at, when, short=rcv
                )
            if end.state == FIN_WAIT_1:
                return _moved(end, CLOSING, f"{what} (both ends closing)", at, when, short=rcv)
            if end.state == FIN_WAIT_2:
                return _moved(end, TIME_WAIT, what, at, when, short=rcv)
            return end
        if fin_acked:
            after = {FIN_WAIT_1: FIN_WAIT_2, CLOSING: TIME_WAIT, LAST_ACK: CLOSED}.get(end.state)
            if after is not None:
                return _moved(end, after, f"{what}: its FIN acknowledged", at, when, short=rcv)
        return end

    return _change(d, seg.remote, seg.local, change)


def _name(d: Diagrams, local: str, remote: str, name: str) -> Diagrams:
    """The socket a call was made on owns the end at its addresses (accept() names the
    server's end, which until then was its listener's)."""
    return _change(d, local, remote, lambda e: e if e.name == name else replace(e, name=name))


def _read(
    d: Diagrams,
    local: str,
    remote: str,
    kernel: str,
    seq: int,
    t: float,
    after: Call | None,
) -> Diagrams:
    """The kernel's reading of a socket, kept on its end. With no segment seen it is the
    path: the end moves to what the kernel said, named by the call it was read after. With
    segments, only a forgotten TIME-WAIT moves it (no segment says that timer ran out)."""
    state = KERNEL_NAMES.get(kernel)

    def change(end: End) -> End:
        end = replace(end, kernel=kernel)
        if state == CLOSED and end.state == TIME_WAIT:
            why = "the kernel forgot it: TIME-WAIT's timer ran out"
            return _moved(end, CLOSED, why, seq, t, short="its timer ran out")
        if d.wired or state is None:
            return end
        why = f"read after {after.value}()" if after is not None else "the kernel's reading"
        return _moved(end, state, why, seq, t, kernel=True)

    return _change(d, local, remote, change)


def kernel_state(end: End) -> str | None:
    """The kernel's last reading of the end, in the RFC's name (None: not read)."""
    return None if end.kernel is None else KERNEL_NAMES.get(end.kernel, end.kernel)
