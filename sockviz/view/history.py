"""A run's events, kept, and the view of the run at any moment of it.

A *moment* is "this many calls made": moment ``p`` shows everything that came before the
call of step ``p`` (that call's announcement included). :class:`History` keeps every event
with the time it arrived, folds each into the live view as it comes, and every
:data:`CHECKPOINT_EVERY` events keeps a copy of the view. The view at moment ``p`` is then
the checkpoint before it plus a fold of the few events since - never a replay of the run
through a screen - so going back costs the same early in a run as late in a long one.

Bounded: past ``limit`` events the history is let go (the live view goes on, and says
nothing can be gone back through); the ladder and log stores keep only their newest rows
then. Standard library only.
"""

from __future__ import annotations

import array
import bisect
import collections
from dataclasses import replace

from sockviz.engine.events import CallEvent, Elided, Event, KernelEvent, Segment
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.view.fold import Changes, apply
from sockviz.view.run_view import LOG_LINES, RunView

#: Events kept for going back through a run. A classroom scenario makes a few dozen; a
#: --listen session of 400 connections about 3,700.
HISTORY_KEPT = 60_000

#: Events between two kept copies of the view: going back folds at most this many.
CHECKPOINT_EVERY = 1000

#: Ladder rows kept once a run has outgrown its history (the screen shows the newest).
ROWS_KEPT = 5_000

#: Bytes of a message kept for the screen (the payload view shows 512; a trace keeps up
#: to 4096, and every byte is counted in the totals either way).
DATA_KEPT = 512

#: Calls and kernel changes of a run kept for export (x).
TRACE_KEPT = 20_000


class History:
    """The events of one run, the live view, and the view at any moment. See the module
    docstring."""

    def __init__(
        self, scenario: Scenario, limit: int = HISTORY_KEPT, every: int = CHECKPOINT_EVERY
    ) -> None:
        self.live = RunView(scenario)
        """The run as it stands now, every event folded in."""
        self.events: list[Event] = []
        self.times = array.array("d")
        """When each event arrived (a TIME_WAIT countdown counts from it)."""
        self.step_starts = array.array("q")
        """Where each step's call is in :attr:`events`: moment ``p`` is
        ``events[:step_starts[p]]``."""
        self.trace: collections.deque[Event] = collections.deque(maxlen=TRACE_KEPT)
        """The run's calls and kernel changes, for export; past the cap the oldest go."""
        self.calls = 0
        """Call events received."""
        self.moments = 0
        """The moment at the live edge: how many steps' calls the run has made."""
        self.limit = limit
        self.every = every
        self.dropped = False
        """The run outgrew :attr:`limit`: there is no going back in it."""
        self._checkpoints: list[tuple[int, RunView]] = [(0, self.live.copy())]
        self._marks = [0]

    # --- taking events ------------------------------------------------------------------
    def add(self, arrived: float, event: Event, changes: Changes | None = None) -> Changes:
        """Keep ``event`` and fold it into the live view."""
        if type(event) is CallEvent:
            self.calls += 1
            if event.data is not None and len(event.data) > DATA_KEPT:
                event = replace(event, data=event.data[:DATA_KEPT])
            if event.step is not None and event.step >= self.moments:
                self.moments += 1
                if not self.dropped:
                    self.step_starts.append(len(self.events))
        if type(event) in (CallEvent, KernelEvent, Segment, Elided):
            self.trace.append(event)
        changes = apply(self.live, event, arrived, changes)
        if not self.dropped:
            self.events.append(event)
            self.times.append(arrived)
            if len(self.events) > self.limit:
                self.drop()
            elif len(self.events) % self.every == 0:
                self._checkpoints.append((len(self.events), self.live.copy()))
                self._marks.append(len(self.events))
        return changes

    def drop(self) -> None:
        """Let the history go: the live view goes on, bounded."""
        self.dropped = True
        self.events = []
        self.times = array.array("d")
        self.step_starts = array.array("q")
        self._checkpoints = []
        self._marks = []
        self.live.rows.trim(ROWS_KEPT)
        self.live.lines.trim(LOG_LINES)

    # --- moments ------------------------------------------------------------------------
    def cut(self, moment: int) -> int:
        """How many events moment ``moment`` shows."""
        if moment >= len(self.step_starts):
            return len(self.events)
        return self.step_starts[moment]

    def view_at(self, moment: int) -> RunView:
        """The run as it stood once ``moment`` calls were made (a view of its own: folding
        on from it changes nothing else)."""
        if self.dropped:
            raise LookupError("this run's history was let go")
        end = self.cut(moment)
        if end >= len(self.events):
            return self.live.copy()
        start, kept = self._checkpoints[bisect.bisect_right(self._marks, end) - 1]
        view = kept.copy()
        for index in range(start, end):
            apply(view, self.events[index], self.times[index])
        return view

    def after(self, view: RunView, moment: int) -> Changes:
        """Fold into ``view`` (at an earlier moment) what came until ``moment``; what
        changed (one step forward: the cards that moved, as they moved live)."""
        changes = Changes()
        for index in range(view.folded, self.cut(moment)):
            apply(view, self.events[index], self.times[index], changes)
        return changes
