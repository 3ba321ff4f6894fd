"""What the engine tells the world: one frozen dataclass per kind of event.

Three kinds are *trace events*, written one a line by ``--trace`` and kept by a recording:

* :class:`CallEvent` - a real socket call was made (and succeeded or failed);
* :class:`KernelEvent` - the kernel's TCP state of a socket changed;
* :class:`Segment` - a TCP segment or UDP datagram crossed the wire (when it is watched).

The others are notices about the run itself, never written to a trace because no socket
call stands behind them: :class:`StepPending` (the call about to run, so a teacher can
explain it before pressing the key) and :class:`RunFinished`.

Events carry plain values only (strings, ints, bytes, enums), so a UI, a test or a JSON
writer can use them without touching a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sockviz.engine.states import Call, Role, State


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One real socket call and what came of it."""

    seq: int
    """Position in the run: 1, 2, ... over every trace event (calls and kernel changes)."""
    t: float
    """Seconds since the run started, taken when the call returned."""
    socket: str
    """The socket's stable name: ``server``, ``client``, ``conn-1`` ..."""
    role: Role
    """What the socket is for (listener, connection, client, server)."""
    call: Call
    """The call that was made."""
    state: State
    """Our lifecycle state *after* the call (unchanged when the call failed)."""
    family: str
    """``AF_INET``, ``AF_INET6`` or ``AF_UNIX``."""
    type: str
    """``SOCK_STREAM`` or ``SOCK_DGRAM``."""
    local: str | None
    """The local socket address after the call, from ``getsockname()``; None if unbound."""
    remote: str | None
    """The peer's socket address: ``getpeername()``, or the datagram's peer for
    ``sendto``/``recvfrom``; None if there is none."""
    nbytes: int | None
    """Bytes moved by this call (send/recv family only). 0 from ``recv`` means end of stream."""
    sent_total: int
    """Bytes this socket has sent so far, this call included."""
    recv_total: int
    """Bytes this socket has received so far, this call included."""
    error: str | None = None
    """The errno name when the call failed (``ECONNREFUSED``, ``EADDRINUSE`` ...)."""
    error_text: str | None = None
    """The operating system's words for that error (``Connection refused``)."""
    kernel: str | None = None
    """The kernel's TCP state right after the call; None for UDP or off Linux."""
    args: str | None = None
    """The call's arguments as they would be written in Python, e.g. ``('127.0.0.1', 0)``."""
    data: bytes | None = None
    """The first bytes that crossed (at most :data:`PREVIEW_CAP`); untrusted, never shown raw."""
    implicit_bind: bool = False
    """True when this call made the kernel give the socket an address it was not given
    by ``bind()`` (a client's ``connect``, a first ``sendto``): ``local`` shows it."""
    parent: str | None = None
    """For ``accept``: the listener the new connection came from."""
    step: int | None = None
    """The index of the scenario step that made this call, if a scenario did."""
    parts: int | None = None
    """For ``sendall`` and bulk ``recv``: how many system calls it took."""
    partial: int | None = None
    """For ``sendall``: how many of those ``send()`` calls took fewer bytes than offered."""
    queue: tuple[int, int] | None = None
    """For a listener: (connections waiting in its accept queue, the backlog it allows)."""
    timer: float | None = None
    """Seconds left on the kernel's timer for this socket's connection right after the call,
    as ``ss`` shows it: an orphaned FIN_WAIT2's (``close()`` on loopback leaves it there at
    once, so no ``kernel`` line follows to carry it) or TIME_WAIT's; None when none was read."""
    ready: tuple[str, ...] | None = None
    """For ``select()``: the sockets it returned ready, by name - ``conn-1`` readable, and
    ``client:w`` for one writable (empty: it timed out with none); None for other calls."""

    @property
    def ok(self) -> bool:
        """True if the call succeeded."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class KernelEvent:
    """The kernel's TCP state of a socket changed between (or because of) calls."""

    seq: int
    """Position in the run, shared with :class:`CallEvent`."""
    t: float
    """Seconds since the run started, taken when the change was seen."""
    socket: str
    """The socket's stable name."""
    role: Role
    """What the socket is for."""
    state: State
    """Our lifecycle state at the time (the kernel often moves after we have closed)."""
    family: str
    """``AF_INET`` or ``AF_INET6``."""
    type: str
    """Always ``SOCK_STREAM``: only TCP has kernel states."""
    local: str | None
    """The local socket address last known for the socket."""
    remote: str | None
    """The peer's socket address last known for the socket."""
    sent_total: int
    """Bytes the socket had sent."""
    recv_total: int
    """Bytes the socket had received."""
    kernel: str
    """The new kernel state: ``ESTABLISHED``, ``CLOSE_WAIT``, ``TIME_WAIT``, ``CLOSE`` ..."""
    previous: str | None
    """The kernel state seen before this one."""
    timer: float | None = None
    """Seconds left on the kernel's timer for this socket when seen (TIME_WAIT's countdown)."""
    source: str = "tcp_info"
    """Where the state was read: ``tcp_info`` (a socket we hold) or ``proc`` (one we closed)."""
    queue: tuple[int, int] | None = None
    """For a listener: (connections waiting in its accept queue, the backlog it allows)."""
    rtt: float | None = None
    """On a two-host run: the kernel's smoothed round-trip time, in milliseconds
    (``tcpi_rtt``); None elsewhere."""
    cwnd: int | None = None
    """On a two-host run: the congestion window, in segments (``tcpi_snd_cwnd``)."""
    retrans: int | None = None
    """On a two-host run: segments the kernel has sent again (``tcpi_total_retrans``)."""

    call = "kernel"
    """Not a field: lets code treat every trace event alike (``event.call``)."""


class Point(NamedTuple):
    """One segment of a bulk transfer, as its time-sequence graph needs it (a named tuple:
    a sum carries hundreds)."""

    t: float
    """Seconds since the run started, when it was read."""
    seq_rel: int
    """Its sequence number, relative to its sender's first."""
    nbytes: int
    """Bytes of payload it carried."""
    ack_rel: int | None
    """What it acknowledged, relative to the receiver's first; None without ACK."""
    window: int | None
    """The receive window it offered, in bytes (scaled)."""
    resent: bool
    """It carried bytes its sender had sent before (a retransmission)."""
    sack: tuple[tuple[int, int], ...] | None
    """Its SACK blocks, as :attr:`Segment.sack`."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A TCP segment or UDP datagram that crossed the wire - captured as it went, not drawn
    from what a textbook says a call sends (see :mod:`sockviz.engine.wire.segments`)."""

    seq: int
    """Position in the run, shared with the calls and kernel changes."""
    t: float
    """Seconds since the run started, when it was read."""
    proto: str
    """``TCP``, ``UDP``, or ``ICMP`` (an ICMP or ICMPv6 error about one of the run's
    packets: from the address it could not reach, to the socket that sent it)."""
    flags: str | None
    """TCP flags, joined by commas as a capture tool shows them: ``SYN,ACK``; for ICMP its
    kind (``port-unreachable``, :data:`~sockviz.engine.wire.headers.ICMP_ERRORS`); None
    for UDP."""
    source: str
    """Who sent it: a socket of the run (``client``, ``server``, ``conn-1``), or the address
    of a real outside peer. (``from`` in the trace.)"""
    target: str
    """Who it went to, named the same way. (``to`` in the trace.)"""
    seq_rel: int | None
    """The sequence number relative to the sender's first (its SYN's); None for UDP."""
    ack_rel: int | None
    """The acknowledgement number relative to the receiver's first; None without ACK."""
    window: int | None
    """The receive window it offers, in bytes (scaled); None for UDP."""
    nbytes: int
    """Bytes of payload it carried."""
    options: str | None
    """TCP options: ``mss=65495,sack_ok,ts,wscale=7``; None when it had none."""
    cause: int | None
    """The ``seq`` of the call whose return revealed it; None when the kernel sent it on
    its own, later (a delayed ACK, a retransmission, a keepalive)."""
    family: str
    """``AF_INET`` or ``AF_INET6``."""
    local: str
    """The sender's address."""
    remote: str
    """The receiver's address."""
    count: int = 1
    """How many segments this is: more than one for a bulk transfer's, summed (each field
    then says what the first one had, and ``flags`` every flag any of them had)."""
    largest: int | None = None
    """For a sum: the largest payload of one segment; None where the frames were counted by
    the kernel, not read (then nobody saw their sizes), and for a single segment."""
    retransmissions: int = 0
    """For a sum: how many carried bytes already sent (the kernel sending them again)."""
    lost: int | None = None
    """For a sum on a two-host run's link: how many of its segments the link never
    delivered (dropped, lost or its queue full); None on loopback."""
    link: str | None = None
    """On a two-host run's link, what the link did with it: ``crossed``, ``dropped`` (a
    ``--drop`` fault), ``lost`` (random loss) or ``held`` (until a key lets it cross); None
    on loopback."""
    delay: float | None = None
    """On a link: seconds it spends crossing (None: it has not set off)."""
    retry: float | None = None
    """The kernel sending it again: seconds since it first sent the same (a SYN, a FIN or
    the same bytes); None for a first sending."""

    is_sum: bool = False
    """A bulk transfer's segments in one (``"call": "packets"`` in the trace)."""
    sack: tuple[tuple[int, int], ...] | None = None
    """The SACK blocks it carried: each a (left, right) edge of bytes received beyond what
    it acknowledges, relative as ``ack_rel`` is; None when it carried none."""
    tls: tuple[str, ...] | None = None
    """The TLS records that begin in it, named (``ClientHello``, ``ApplicationData``; ``…``:
    one whose header lies past the bytes captured), as
    :mod:`~sockviz.engine.wire.tls_records` reads them; None on a connection that is not TLS
    or where none begins."""
    points: tuple[Point, ...] | None = None
    """For a sum whose frames were read: some of its segments, one :class:`Point` each,
    spread over the transfer (every retransmission, SACK and zero window among them, up to
    a bound), for the time-sequence graph; None where none was read."""

    call = "packet"
    """Not a field: lets code treat every trace event alike (``event.call``)."""

    @property
    def summed(self) -> bool:
        """A bulk transfer's segments in one (``"call": "packets"`` in the trace)."""
        return self.is_sum

    @property
    def socket(self) -> str:
        """The run's socket it belongs to: its sender, or its receiver when an outside
        peer sent it (addresses have a colon; socket names never do)."""
        return self.source if ":" not in self.source else self.target


#: What a two-host link did with a segment that never reached its receiver: ``dropped`` (a
#: ``--drop`` fault), ``lost`` (random loss), ``overflow`` (its queue was full, as a
#: router's is), ``too-big`` (bigger than its router's next hop takes: ``pmtu=``).
UNDELIVERED = frozenset({"dropped", "lost", "overflow", "too-big"})


@dataclass(frozen=True, slots=True)
class StepPending:
    """The next scenario step is waiting at the gate (not a trace event: nothing ran yet)."""

    step: int
    """The index of the step in the scenario."""
    actor: str
    """The thread that will make the call: ``server`` or ``client``."""
    socket: str
    """The socket that will make it."""
    call: Call
    """The call that will be made."""
    args: str | None
    """Its arguments as they will be written in Python, when known in advance."""
    explain: str
    """What the step does, in plain words."""
    expect_error: str | None = None
    """The errno the scenario means this call to fail with (the lesson, not a fault)."""
    with_previous: bool = False
    """Made on the same key as the step before, at the same moment (its premise is that
    call's, under way: nothing to guess about it alone)."""
    with_next: bool = False
    """The step after is made on the same key, at the same moment (which of the two a
    segment comes from first is a race, not a lesson)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """A bulk transfer under way (not a trace event: its calls are counted in the one
    ``sendall``/``recv`` event that ends it). Sent at most ten times a second."""

    socket: str
    """The socket moving the bytes."""
    call: Call
    """``sendall`` or ``recv``."""
    done: int
    """Bytes moved so far."""
    total: int
    """Bytes to move in all."""
    calls: int
    """System calls made so far."""
    elapsed: float
    """Seconds since the transfer began."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run ended (not a trace event)."""

    outcome: str
    """``done`` (every step ran), ``stopped`` (``stop()`` was called) or ``aborted``."""
    reason: str | None = None
    """For ``aborted``: which call failed and why, in one line."""
    failed: CallEvent | None = None
    """For ``aborted``: the call event that ended the run."""


@dataclass(frozen=True, slots=True)
class Elided:
    """Routine data calls a display could not keep up with, summed instead of drawn one by
    one (not a trace event: a trace writes every call). Only successful ``send``/``recv``
    calls that moved bytes and changed no state are ever summed; the call events around
    them, kept, carry the socket's true totals."""

    socket: str
    call: Call
    count: int
    """How many calls."""
    nbytes: int
    """Bytes those calls moved."""


@dataclass(frozen=True, slots=True)
class Condensed:
    """Whole connections of a flood a display could not keep up with - each accepted,
    served and closed while the display was still drawing earlier ones - summed into one
    line (not a trace event: a trace writes every call and segment)."""

    first: str
    """The first of them (``conn-12``)."""
    last: str
    """The last of them (``conn-487``)."""
    count: int
    """How many connections."""
    calls: int
    """The calls made on them."""
    segments: int
    """The segments they sent and got."""
    received: int
    """Bytes they received, all told."""
    sent: int
    """Bytes they sent, all told."""


#: What an AF_UNIX run shows instead of a wire.
UNIX_NO_WIRE = (
    "Unix-domain sockets have no wire: the kernel copies the bytes from one "
    "socket's buffer to the other's, no segments, no ports"
)


@dataclass(frozen=True, slots=True)
class WireStatus:
    """Where the run's segments are watched, said once before its first event (not a trace
    event: the packet lines are)."""

    where: str | None
    """``host`` (this machine's loopback), ``private`` (a network of the run's own),
    ``recorded`` (a replay's recorded segments), or None: the wire is not watched."""
    note: str | None = None
    """When not watched: why, in one line."""


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A two-host run's link, said once before its first event (the packet lines carry
    what it did to each segment)."""

    settings: str
    """What the link does, in a few words: ``delay 50 ms · drop syn``."""
    server: str
    """The server's host address (IPv4 or IPv6, as the run's family)."""
    client: str
    """The client's host address."""
    hold: bool = False
    """Each segment waits at its sending side until a key lets it cross."""
    missing: str | None = None
    """Two hosts were asked for and cannot be made here: why, in one line (the run goes on
    loopback; the other fields are empty)."""


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """The link let a held segment cross (a ``"call": "link"`` line in the trace)."""

    seq: int
    t: float
    what: str
    """``released``."""
    segment: int
    """The ``seq`` of the segment's packet line (when it was held)."""
    source: str
    """Who sent it (``from``)."""
    target: str
    """Who it goes to (``to``)."""
    flags: str | None
    family: str
    local: str
    remote: str
    delay: float | None = None
    """Seconds it spends crossing from now."""

    call = "link"
    """Not a field: lets code treat every trace event alike (``event.call``)."""

    @property
    def socket(self) -> str:
        return self.source if ":" not in self.source else self.target


@dataclass(frozen=True, slots=True)
class TcpSettings:
    """The kernel's TCP settings for the run, read once at its start (``/proc/sys/net/ipv4``
    in the run's network namespace: :mod:`sockviz.engine.kernel.tcp_settings`), so that what is said
    of retries, timers and congestion control is this kernel's. A trace writes it as a
    ``"call": "tcp"`` line with ``seq`` 0 before the run's first line; a recording keeps it."""

    host: str | None
    """``client`` or ``server`` on two hosts (each is read inside its own); None: the run's
    one network."""
    values: tuple[tuple[str, str | None], ...]
    """(sysctl name, its value as the kernel writes it, or None when this kernel lacks it)."""

    seq = 0
    """Not a field: before every trace event (the run's own start at 1)."""
    t = 0.0
    socket = None
    """Not a field: the settings are no socket's."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A step's expected outcome (a scenario file's ``expect``) against what its call really
    did (not a trace event: the call event beside it is)."""

    step: int
    socket: str
    call: Call
    expected: str
    """What the file expects, in words: ``state connected, 14 bytes``."""
    got: str
    """What happened, said the same way."""
    met: bool


Event = (
    CallEvent
    | KernelEvent
    | Segment
    | StepPending
    | Progress
    | RunFinished
    | Elided
    | Condensed
    | Checked
    | WireStatus
    | LinkStatus
    | LinkEvent
    | TcpSettings
)

#: How many bytes of each message an event keeps. Totals always count everything.
PREVIEW_CAP = 4096
