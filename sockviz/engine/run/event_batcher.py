"""Batching: engine threads may emit thousands of events a second; a UI wants ~30 updates.

:class:`Batcher` is a consumer for a :class:`~sockviz.engine.run.runner.Runner`. Engine threads
call it with each event (cheap: an append under a lock); its own thread hands the events
on as one list at most ``rate`` times a second. The first event after a quiet spell goes
out at once, so stepping feels immediate; a flood is coalesced.

A consumer slower than the engine (a UI drawing a peer's flood) must not build an endless
queue. With ``acknowledge=True`` the batcher hands on the next list only after
:meth:`Batcher.ack` says the last one was taken in, so at most one list is in flight; and
while it waits, a backlog over ``backlog`` events is compacted: successful data calls that
changed nothing but the byte counts (a ``recv`` among thousands) are summed into one
:class:`~sockviz.engine.events.Elided` per socket and call, keeping the last of each run -
whose totals are the socket's true totals. And a flood of whole connections (a load
generator's: each accepted, served and closed within the backlog) becomes one
:class:`~sockviz.engine.events.Condensed` for all but the newest :data:`KEEP_CONNECTIONS`
of them, with their calls, segments and bytes counted. Everything else is kept, in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeGuard

from sockviz.engine.events import (
    CallEvent,
    Condensed,
    Elided,
    Event,
    KernelEvent,
    Progress,
    Segment,
    StepPending,
)
from sockviz.engine.states import Call

#: Calls a compacted backlog may sum rather than keep one by one.
ROUTINE = frozenset({Call.SEND, Call.SENDALL, Call.SENDTO, Call.RECV, Call.RECVFROM})

#: Events a waiting backlog may hold before it is compacted.
BACKLOG = 2000

#: Whole connections of a compacted backlog kept one by one (the newest: the lanes show them).
KEEP_CONNECTIONS = 4

#: How many times longer the wait between batches is while a flood is condensed.
FLOOD_SLOWER = 3

#: Whole connections in one batch that make it a flood, condensed even with no backlog (no
#: scenario makes so many; a load generator makes thousands a second).
FLOOD = 16


def _routine(event: Event) -> TypeGuard[CallEvent]:
    return (
        isinstance(event, CallEvent)
        and event.call in ROUTINE
        and event.error is None
        and bool(event.nbytes)
        and not event.parts
    )


#: The events that belong to one socket: a condensed connection takes its own with it.
_PER_SOCKET = (CallEvent, KernelEvent, StepPending, Elided, Progress)


def condense(events: list[Event], keep: int = KEEP_CONNECTIONS, least: int = 2) -> list[Event]:
    """Whole connections in ``events`` - accepted and closed within them - but the newest
    ``keep``, as one :class:`Condensed` where the last of them closed, when there are at
    least ``least`` to condense; the rest in order."""
    opened: dict[str, int] = {}
    whole: list[str] = []
    for event in events:
        if type(event) is CallEvent and event.ok:
            if event.call is Call.ACCEPT and event.parent is not None:
                opened[event.socket] = 1
            elif event.call is Call.CLOSE and event.socket in opened:
                whole.append(event.socket)
    gone = set(whole[:-keep] if keep else whole)
    if len(gone) < max(least, 2):
        return events
    pairs: set[frozenset[str | None]] = set()
    last: dict[str, CallEvent] = {}
    calls = segments = 0
    for event in events:
        if type(event) is CallEvent and event.socket in gone:
            calls += 1
            last[event.socket] = event
            if event.local and event.remote:
                pairs.add(frozenset((event.local, event.remote)))
    out: list[Event] = []
    for event in events:
        if type(event) is Segment and frozenset((event.local, event.remote)) in pairs:
            segments += event.count
            continue
        if isinstance(event, _PER_SOCKET) and event.socket in gone:
            if (
                type(event) is CallEvent
                and event.call is Call.CLOSE
                and event.socket == whole[len(gone) - 1]
            ):
                out.append(
                    Condensed(
                        first=whole[0],
                        last=event.socket,
                        count=len(gone),
                        calls=calls,
                        segments=segments,
                        received=sum(e.recv_total for e in last.values()),
                        sent=sum(e.sent_total for e in last.values()),
                    )
                )
            continue
        out.append(event)
    return out


def compact(events: list[Event]) -> list[Event]:
    """Sum routine data calls and condense whole connections (see the module docstring);
    keep everything else in order.

    Per socket and call, the last routine event is kept as it is (it carries the totals);
    the ones before it become one :class:`Elided` in its place, and the steps they were
    announced with are dropped with them. Progress keeps only its latest per socket.
    """
    last: dict[tuple[str, Call], int] = {}
    last_progress: dict[str, int] = {}
    for i, event in enumerate(events):
        if _routine(event):
            last[(event.socket, event.call)] = i
        elif isinstance(event, Progress):
            last_progress[event.socket] = i
    summed: dict[tuple[str, Call], list[int]] = {}
    dropped_steps: set[int] = set()
    for i, event in enumerate(events):
        if _routine(event) and last[(event.socket, event.call)] != i:
            total = summed.setdefault((event.socket, event.call), [0, 0])
            total[0] += 1
            total[1] += event.nbytes or 0
            if event.step is not None:
                dropped_steps.add(event.step)
    out: list[Event] = []
    for i, event in enumerate(events):
        if isinstance(event, StepPending) and event.step in dropped_steps:
            continue
        if isinstance(event, Progress) and last_progress[event.socket] != i:
            continue
        if _routine(event):
            key = (event.socket, event.call)
            if last[key] != i:
                continue
            if key in summed:
                count, nbytes = summed[key]
                out.append(Elided(event.socket, event.call, count, nbytes))
        out.append(event)
    return condense(out)


class Batcher:
    """Collect events from any thread; deliver them in order, in lists, from one thread."""

    def __init__(
        self,
        deliver: Callable[[list[Event]], object],
        rate: float = 30.0,
        *,
        acknowledge: bool = False,
        backlog: int = BACKLOG,
    ) -> None:
        self._deliver = deliver
        self._interval = 1.0 / rate
        self._acknowledge = acknowledge
        self._backlog = backlog
        self._acked = threading.Event()
        self._acked.set()
        self.elided = 0
        """Events a compaction took out: routine calls summed, superseded progress."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._pending: list[Event] = []
        self.delivered = 0
        """How many events have been handed on (for tests and the benchmark)."""
        self.batches = 0
        """How many lists have been handed on."""
        self.flooded = False
        """The last list had whole connections condensed: a flood is on."""
        self._thread = threading.Thread(target=self._run, name="sockviz-batcher", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._pending.append(event)
            if self._acknowledge and len(self._pending) > self._backlog:
                before = len(self._pending)
                self._pending = compact(self._pending)
                self.elided += before - len(self._pending)
                if len(self._pending) > self._backlog // 2:
                    self._backlog = 2 * len(self._pending)  # little to sum: grow, rarely
        self._wake.set()

    def ack(self) -> None:
        """The last list handed on has been taken in: the next may go."""
        self._acked.set()

    @property
    def idle(self) -> bool:
        """True when nothing is waiting to be delivered."""
        with self._lock:
            return not self._pending

    def _take(self) -> list[Event]:
        with self._lock:
            batch, self._pending = self._pending, []
        self.flooded = False
        if self._acknowledge and len(batch) > FLOOD:  # (a display: a flood of connections)
            before = len(batch)
            batch = condense(batch, least=FLOOD - KEEP_CONNECTIONS)
            self.elided += before - len(batch)
            self.flooded = len(batch) < before
        return batch

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._closing.is_set():
                break
            while not self._acked.wait(self._interval):  # the consumer is still busy
                if self._closing.is_set():
                    return
            self._wake.clear()
            batch = self._take()
            if batch:
                self._hand_on(batch)
                # At most `rate` batches a second: whatever arrives meanwhile waits its turn.
                # In a flood, FLOOD_SLOWER times fewer: each batch then costs a display its
                # most (cards come and go), and keys pressed meanwhile must not wait.
                if self._closing.wait(self._interval * (FLOOD_SLOWER if self.flooded else 1)):
                    break
        batch = self._take()
        if batch:
            self._hand_on(batch)

    def _hand_on(self, batch: list[Event]) -> None:
        if self._acknowledge:
            self._acked.clear()
        try:
            self._deliver(batch)
        except Exception:
            return
        self.delivered += len(batch)
        self.batches += 1

    def close(self, timeout: float = 0.5) -> None:
        """Deliver what is left and end the thread."""
        self._closing.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


class Tee:
    """A consumer that hands each event to several consumers, in order (a recording file,
    then the display or the trace writer)."""

    def __init__(self, *consumers: Callable[[Event], object]) -> None:
        self.consumers = consumers

    def __call__(self, event: Event) -> None:
        for consumer in self.consumers:
            consumer(event)
