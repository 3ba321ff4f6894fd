"""Play back a recorded real run, with the same controls as a live one, opening no socket.

:class:`ReplayRunner` has the :class:`~sockviz.engine.run.runner.Runner` interface and the same
:class:`~sockviz.engine.run.gate.Gate`, so step, play and fast behave exactly as live. It is
what the snapshot tests and ``scripts/screenshots.py`` feed the app: a trace recorded from
a real run (test data), so the screen is the same every time - same ports, same bytes -
while every value on it still comes from a system call that really happened once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

from sockviz.engine.events import (
    UNIX_NO_WIRE,
    CallEvent,
    Event,
    KernelEvent,
    LinkStatus,
    RunFinished,
    Segment,
    StepPending,
    WireStatus,
)
from sockviz.engine.families import FAMILIES
from sockviz.engine.run.expectations import abort_reason, is_unexpected_failure
from sockviz.engine.run.gate import Gate, GateClosed, Mode
from sockviz.engine.run.run_controls import RunControls
from sockviz.engine.run.runner_protocols import EventSink, RunnerFactory
from sockviz.engine.scenarios.scenario_types import Scenario, on_the_same_key

#: One step's share of a recording: its index (None: what came before any call), what came
#: while it waited to be made, then its call and what followed it.
Group = tuple[int | None, list[Event], list[Event]]


class ReplayRunner(RunControls[Gate]):
    """Emits recorded events step by step through a gate. See the module docstring."""

    def __init__(
        self,
        scenario: Scenario,
        consumer: EventSink,
        events: Sequence[Event],
        *,
        family: str = "ipv4",
        port: int = 0,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
    ) -> None:
        self.scenario = scenario
        self.family = FAMILIES[family]
        self.port = port
        super().__init__(consumer, Gate(mode, pace), list(scenario.steps_for(family)))
        self._groups = self._group(list(events))
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0

    @staticmethod
    def _group(events: list[Event]) -> list[Group]:
        """Split into one group per step: what came while it waited to be made, its call,
        then what followed it before the next. (What a link carried with no call behind it
        just before a call - a lost SYN while ``connect()`` waited - was read while that
        call was under way: it goes with it, after the step is announced, as it came.)"""
        groups: list[Group] = []
        for event in events:
            if isinstance(event, CallEvent) and event.step is not None:
                before: list[Event] = []
                if groups:
                    trailing = groups[-1][2]
                    at = len(trailing)
                    while at > 1 and (
                        type(trailing[at - 1]) is KernelEvent or _unasked(trailing[at - 1])
                    ):
                        at -= 1
                    while at < len(trailing) and not _unasked(trailing[at]):
                        at += 1  # (the last call's own kernel changes stay with it)
                    before = trailing[at:]
                    del trailing[at:]
                groups.append((event.step, before, [event]))
            elif groups:
                groups[-1][2].append(event)
            else:
                groups.append((None, [], [event]))
        return groups

    def start(self) -> None:
        self._start_once()
        self._thread = threading.Thread(target=self._run, name="sockviz-replay", daemon=True)
        self._thread.start()

    @property
    def next_step(self) -> int:
        return self._next

    def queue_message(self, data: bytes) -> int:
        raise ValueError("this is a replay of a recorded run: nothing new can be sent")

    def stop(self, timeout: float = 0.5) -> bool:
        self._stopped.set()
        self.gate.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _link_status(self) -> LinkStatus:
        """What a recording made on two hosts says of its link: the scenario's own settings
        (a lab's), or that it was recorded (``--link`` given on a command line is not in
        the recording)."""
        # (here: only a recording made on two hosts needs the lab - some 60 ms of imports,
        # ctypes among them, that --replay's first frame need not wait for)
        from sockviz.engine.lab.link_spec import LinkSpec, describe
        from sockviz.engine.lab.two_hosts import CLIENT_IP, CLIENT_IP6, SERVER_IP, SERVER_IP6

        six = self.family.af == socket.AF_INET6
        settings = "as recorded"
        if self.scenario.link is not None:
            text, drops, _hold = self.scenario.link
            settings = describe(LinkSpec.parse(text, drops))
        return LinkStatus(
            settings, SERVER_IP6 if six else SERVER_IP, CLIENT_IP6 if six else CLIENT_IP
        )

    # --- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        outcome = RunFinished("done")
        recorded = any(
            type(e) is Segment
            for _index, before, events in self._groups
            for e in (*before, *events)
        )
        # (a recording made without the wire has nothing to say of it)
        self._consumer(
            WireStatus("recorded")
            if recorded
            else WireStatus(
                None, UNIX_NO_WIRE if self.family.af == getattr(socket, "AF_UNIX", None) else None
            )
        )
        if any(
            type(e) is Segment and e.link is not None
            for _index, before, events in self._groups
            for e in (*before, *events)
        ):
            self._consumer(self._link_status())
        try:
            for index, before, events in self._groups:
                if self._stopped.is_set():
                    outcome = RunFinished("stopped")
                    break
                self._next = index if index is not None else self._next
                first = events[0]  # (a step's call, when the group has a step)
                if index is not None and index < len(self.steps):
                    step = self.steps[index]
                    args = first.args if isinstance(first, CallEvent) else None
                    self._consumer(
                        StepPending(
                            index,
                            step.actor,
                            step.socket,
                            step.call,
                            args,
                            step.explain,
                            step.expect_error,
                            on_the_same_key(self.steps, index),
                            on_the_same_key(self.steps, index + 1),
                        )
                    )
                    if not on_the_same_key(self.steps, index):
                        self.gate.wait()
                for event in (*before, *events):
                    self._consumer(event)
                if index is not None and index < len(self.steps):
                    step = self.steps[index]
                    if isinstance(first, CallEvent) and is_unexpected_failure(step, first):
                        outcome = RunFinished("aborted", abort_reason(step, first), first)
                self._next = (index + 1) if index is not None else self._next
        except GateClosed:
            outcome = RunFinished("stopped")
        except Exception as exc:
            outcome = RunFinished("aborted", f"the replay could not go on: {exc}")
        self.result = outcome
        try:
            self._consumer(outcome)
        finally:
            self._finished.set()  # (whatever happened: nothing may wait on a dead thread)


def _unasked(event: Event) -> bool:
    """A segment a link carried that no call had caused yet (read while one was under
    way)."""
    return type(event) is Segment and event.link is not None and event.cause is None


def replay_factory(events: Sequence[Event]) -> RunnerFactory:
    """A runner factory (as the app takes one) that plays recorded events (``--replay``,
    the tests' recorded runs): no socket is opened."""

    def factory(
        scenario: Scenario,
        consumer: EventSink,
        /,
        *,
        family: str,
        port: int,
        mode: Mode,
        pace: float,
        size: int | None = None,
    ) -> ReplayRunner:
        return ReplayRunner(
            scenario, consumer, events, family=family, port=port, mode=mode, pace=pace
        )

    return factory
