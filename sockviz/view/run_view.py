"""The run as data: everything the screen shows of a run, as plain values.

A :class:`RunView` is what the run looks like at one moment - the sockets' cards, the
ladder's rows, the log, the call made last and the one pending, the expectations checked,
the outcome. :func:`sockviz.view.fold.apply` builds it one event at a time; the app draws
it and holds none of these facts itself.

The ladder's rows and the log's lines only ever grow (a row's one change - its bytes read
by the peer - happens once, at a known point of the run), so they live in stores shared by
every view of the same run: a view says how many of them it shows and up to which event, and
an earlier moment is the same store seen through a shorter window. The rest (the cards, the
sends still in flight) is small and copied when a view is kept (:meth:`RunView.copy`).

Standard library only: this package never imports Textual.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sockviz.engine.events import (
    CallEvent,
    Checked,
    Event,
    RunFinished,
    Segment,
    StepPending,
    TcpSettings,
    WireStatus,
)
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.states import INITIAL, TRANSITIONS, Call, Role, State, Transport
from sockviz.view.linkview import LinkView
from sockviz.view.seq_graph import Graphs
from sockviz.view.tcp_diagram import Diagrams

T = TypeVar("T")

#: The lifecycle states in the order a card's strip shows them.
ORDER = (
    State.CREATED,
    State.BOUND,
    State.LISTENING,
    State.CONNECTED,
    State.HALF_CLOSED,
    State.CLOSED,
)

#: Cards kept at most (closed ones go first): a listener flooded with clients must not grow
#: cards for ever, and each card kept is laid out again on every frame. A scenario has
#: at most 7 sockets; a lane shows about 5 cards on a projector.
MAX_CARDS = 12

#: Lines the log shows at most.
LOG_LINES = 2000


@dataclass
class CardModel:
    """One socket as its card shows it."""

    name: str
    role: Role
    family: str
    type: str
    path: tuple[State, ...]
    """The states this socket's strip shows, in order."""
    born: int = 0
    """Events folded when the socket first showed: cards stand in this order."""
    state: State | None = None
    previous: State | None = None
    visited: set[State] = field(default_factory=set)
    local: str | None = None
    remote: str | None = None
    implicit_bind: bool = False
    sent: int = 0
    received: int = 0
    kernel: str | None = None
    kernel_deadline: float | None = None
    """When the kernel's timer (TIME_WAIT) runs out, on the clock events arrive by."""
    error: str | None = None
    error_text: str | None = None
    error_call: str | None = None
    expected: bool = False
    """The error is the scenario's lesson (e.g. ECONNREFUSED in refused), not a fault."""
    queue: tuple[int, int] | None = None
    """A listener's accept queue: (waiting, backlog)."""
    rates: list[float] = field(default_factory=list)
    """Recent throughput samples of a bulk transfer, bytes per second."""
    transfer: tuple[int, int] | None = None
    """A bulk transfer under way: (bytes so far, bytes in all)."""
    last_progress: tuple[int, float] | None = None
    """The last progress seen: (bytes, seconds), to turn the next one into a rate."""
    segments_out: int = 0
    """Segments (or datagrams) seen on the wire from this socket."""
    segments_in: int = 0
    """... and to it."""
    flow: tuple[float | None, int, int] | None = None
    """On a two-host run: the kernel's (RTT in ms, congestion window, segments sent again)."""
    cwnds: tuple[int, ...] = ()
    """... the congestion windows seen, oldest first (the newest 60)."""

    side: str | None = None
    """The side its scenario puts it on (:func:`lane_of`); None: its role's."""

    @property
    def lane(self) -> str:
        """Which side of the screen the card goes on: ``client`` or ``server``."""
        return self.side or ("client" if self.role is Role.CLIENT else "server")

    @property
    def left(self) -> bool:
        """On the ladder's left (the client's) side."""
        return self.lane == "client"

    def copy(self) -> CardModel:
        twin = copy.copy(self)
        twin.visited = set(self.visited)
        twin.rates = list(self.rates)
        return twin


def lane_of(scenario: Scenario | None, name: str, role: Role | None) -> str:
    """The side of the screen socket ``name`` stands on: what its scenario says, else its
    role's (a client on the left, everything else on the right)."""
    if scenario is not None:
        spec = next((s for s in scenario.sockets if s.name == name), None)
        if spec is not None and spec.lane is not None:
            return spec.lane
    return "client" if role is Role.CLIENT else "server"


def plan_path(scenario: Scenario, name: str, role: Role, transport: Transport) -> tuple[State, ...]:
    """The states a socket's strip shows: those its scenario steps take it through.

    A socket whose first ``connect``/``sendto`` binds it implicitly shows ``bound`` too,
    lit when the kernel binds it.
    """
    state = INITIAL[role]
    seen = {state}
    for step in scenario.steps + scenario.exchange:
        if step.socket != name or step.expect_error or step.call in (Call.SOCKET, Call.ACCEPT):
            continue
        after = TRANSITIONS.get((transport, role, state, step.call))
        if after is None:
            continue
        if state is State.CREATED and step.call in (Call.CONNECT, Call.SENDTO):
            seen.add(State.BOUND)
        seen.add(after)
        state = after
    if len(seen) == 1:  # not in the scenario (a replay of something else): every state
        seen = {s for (t, r, s, _), a in TRANSITIONS.items() if t is transport and r is role}
        seen |= {State.CLOSED, INITIAL[role]}
    return tuple(s for s in ORDER if s in seen)


@dataclass(slots=True, eq=False)
class Row:
    """One row of the ladder: a note on one side's lifeline, or an arrow across."""

    index: int
    """Its place on the run's ladder: 0, 1, ..."""
    made_at: int
    """How many events of the run had been folded when it was made (its moment)."""
    side: str
    """``left`` (the client's side) or ``right`` (the server's)."""
    label: str
    arrow: bool = False
    """True: drawn from ``side`` to the other side. False: a note on ``side``."""
    data: bytes | None = None
    """The bytes it carried (a preview), for rows of data."""
    nbytes: int = 0
    error: bool = False
    socket: str = ""
    call: str = ""
    peer: str = ""
    """Where the bytes went or came from, in words: ``→ 127.0.0.1:5000``."""
    over: str = ""
    """The socket whose lifeline it belongs on in a diagram of one lifeline per socket."""
    to: str | None = None
    """For an arrow: the socket it goes to, or the outside address it goes to."""
    delivered_at: int | None = 0
    """Events folded when the peer had read all its bytes (None: some still in its
    buffer). A note is delivered from the start."""
    seq: int = 0
    """The trace event it came from."""
    packet: Segment | None = None
    """For a row of the wire: the segment (or a bulk transfer's sum of them) it shows."""

    @property
    def selectable(self) -> bool:
        """A row the payload view can show: bytes a call moved, or a segment."""
        return self.data is not None or self.packet is not None

    def delivered(self, at: int) -> bool:
        """Whether the peer had read all of its bytes once ``at`` events were folded."""
        return self.delivered_at is not None and self.delivered_at <= at


class Store(Generic[T]):
    """An append-only list shared by every view of one run; the oldest items can be let go
    (:meth:`trim`) while indexes stay the same."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self.first = 0
        """The index of ``items[0]`` (items before it were let go)."""

    def __len__(self) -> int:
        return self.first + len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index - self.first]

    def put(self, index: int, item: T) -> T:
        """The item at ``index``: the one there if a view folded it already (the fold is
        deterministic: the same item), else ``item``, appended."""
        if index < len(self):
            return self.items[index - self.first] if index >= self.first else item
        self.items.append(item)
        return item

    def window(self, end: int, count: int) -> list[T]:
        """The last ``count`` items before index ``end`` that are still kept."""
        start = max(self.first, end - count)
        return self.items[start - self.first : max(0, end - self.first)]

    def trim(self, keep: int) -> None:
        """Let go of all but the newest ``keep`` items."""
        extra = len(self.items) - keep
        if extra > 0:
            del self.items[:extra]
            self.first += extra


@dataclass
class RunView:
    """The run at one moment. See the module docstring."""

    scenario: Scenario
    rows: Store[Row] = field(default_factory=Store)
    """The run's ladder rows (shared); this view shows the first :attr:`row_count`."""
    lines: Store[Event] = field(default_factory=Store)
    """The run's log lines, as the events they say (shared; :func:`sockviz.view.words.log_text`
    makes their text); this view shows the first :attr:`line_count`."""
    notes: dict[int | None, tuple[str, str | None]] = field(default_factory=dict)
    """What steps said before they ran (shared, set once each): step ->
    (explanation, the errno it is meant to fail with)."""
    folded: int = 0
    """Events folded into this view: its moment, in events."""
    time: float = 0.0
    """When the last event folded arrived (a TIME_WAIT countdown counts from it)."""
    models: dict[str, CardModel] = field(default_factory=dict)
    """The sockets shown, in order of birth."""
    row_count: int = 0
    line_count: int = 0
    inflight: dict[tuple[str, str], list[list[Any]]] = field(default_factory=dict)
    """Sends whose bytes the peer has not read all of: (to port, from port) -> [[row, bytes
    left], ...], oldest first."""
    connecting: set[str] = field(default_factory=set)
    """Sockets whose connect() returned "in progress": the next connect() completes it."""
    pending: StepPending | None = None
    """The call waiting at the gate."""
    last_done: tuple[CallEvent, State | None] | None = None
    """The last step's call, and the state its socket was in before it."""
    steps_done: int = 0
    outcome: RunFinished | None = None
    checks: dict[int, Checked] = field(default_factory=dict)
    """A scenario file's expectations, checked: step -> the verdict."""
    newest_data: int | None = None
    """The newest row that carries bytes (what the payload view follows)."""
    lane_last: dict[str, str] = field(default_factory=dict)
    """Each lane's socket that did something last (the one to keep in sight): lane -> name."""
    wire: WireStatus | None = None
    """Where the run's segments are watched (None: not said)."""
    earlier: tuple[Segment, ...] = ()
    """The segments just before :attr:`caused` (the newest few): what its ACKs answer, and
    what a segment the kernel held back waited for."""
    caused: tuple[Segment, ...] = ()
    """The segments the last step's call caused (it, or a call made alongside it)."""
    caused_since: int | None = None
    """The ``seq`` of that call: segments caused by it or a later call are its."""
    link: LinkView | None = None
    """A two-host run's link (:class:`~sockviz.view.linkview.LinkView`, immutable)."""
    during: tuple[Segment, ...] = ()
    """On a link: what it carried while the pending step's call was under way (read before
    the call returned, so no call is named as their cause): the call's own, when it
    returns."""
    link_missing: str | None = None
    """Two hosts were asked for and cannot be made here: why (the run is on loopback)."""
    link_from: int = 0
    """The ``seq`` of the last step's call: the link's doings after its line (read at its
    return, or since, until the next call) are that step's story ..."""
    link_during: tuple[int, ...] = ()
    """... and those seen while it was under way, before its line (a SYN lost while
    connect() waited). What came between the call before and this one's start is the call
    before's story, never said again."""
    under_way: int | None = None
    """The ``seq`` of the first segment only the pending call could have sent (its SYN,
    its bytes, its FIN): that call has begun and not returned. None: not known to have
    begun (a call waiting at the gate sends nothing)."""
    tcp: dict[str | None, TcpSettings] = field(default_factory=dict)
    """The kernel's TCP settings for the run (host, None for the run's one network ->
    :class:`~sockviz.engine.events.TcpSettings`); empty when the run did not say them (an
    older recording): words that need them say they are not known. Replaced, never changed
    in place (a copy shares it)."""
    diagrams: Diagrams = field(default_factory=Diagrams)
    """The run's TCP connections through RFC 9293's state diagram
    (:class:`~sockviz.view.tcp_diagram.Diagrams`, immutable: a copy shares it)."""
    offers: dict[tuple[str, str], tuple[int | None, int]] = field(default_factory=dict)
    """Each direction's last acknowledgement and window (:mod:`sockviz.view.flow_control`)."""
    flow_notes: dict[int, str] = field(default_factory=dict)
    """The newest segments' parts in flow control (``seq`` -> window 0, probe, update)."""
    graphs: Graphs = field(default_factory=Graphs)
    """The run's TCP connections' segments for their time-sequence graphs
    (:class:`~sockviz.view.seq_graph.Graphs`, immutable: a copy shares it)."""

    def copy(self) -> RunView:
        """A view to fold on from here without changing this one (the shared stores stay
        shared)."""
        twin = copy.copy(self)
        twin.models = {name: model.copy() for name, model in self.models.items()}
        twin.inflight = {
            key: [list(item) for item in queue] for key, queue in self.inflight.items()
        }
        twin.connecting = set(self.connecting)
        twin.checks = dict(self.checks)
        twin.lane_last = dict(self.lane_last)
        twin.offers = dict(self.offers)
        twin.flow_notes = dict(self.flow_notes)
        return twin

    def shown_rows(self) -> list[Row]:
        """The ladder rows this view shows that are still kept, oldest first."""
        return self.rows.window(self.row_count, self.row_count)

    def log(self, count: int = LOG_LINES) -> list[Event]:
        """The last ``count`` log lines this view shows, as the events they say."""
        return self.lines.window(self.line_count, count)

    def explain(self, step: int | None) -> str:
        return self.notes.get(step, ("", None))[0]

    def planned_error(self, step: int | None) -> str | None:
        """The errno step ``step`` is meant to fail with, if any."""
        return self.notes.get(step, ("", None))[1]
