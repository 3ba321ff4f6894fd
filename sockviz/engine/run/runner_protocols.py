"""What the rest of sockviz may count on from a run, written as types: where events go, what
a runner answers to, how a runner is made.

The app, the headless commands and the tests play runs of several kinds - live on real
sockets, in the engine's own process, replayed from a recording, facing an outside peer.
Each kind is a class of its own; these protocols say the little they share, so a caller
names the one type it needs and imports none of the machinery behind it (this module
imports nothing that runs a socket).

The route of an event: a traced call makes it, the run hands it to its :class:`EventSink`
(a batcher, a recorder, a trace writer), and on to the screen.
"""

from __future__ import annotations

from typing import Protocol

from sockviz.engine.events import Event, RunFinished
from sockviz.engine.run.gate import Mode
from sockviz.engine.scenarios.scenario_types import Scenario


class EventSink(Protocol):
    """What receives a run's events, one at a time and in order, from the engine's threads:
    it must be quick and must not touch a UI directly."""

    def __call__(self, event: Event, /) -> None: ...


class GateControls(Protocol):
    """The controls of a run's gate a UI uses (a live :class:`~sockviz.engine.run.gate.Gate`,
    or its stand-in across the pipe to the engine process)."""

    @property
    def mode(self) -> Mode: ...

    @property
    def pace(self) -> float: ...

    @property
    def waiting(self) -> int:
        """Threads waiting at the gate with nothing to let them through."""
        ...

    def set_mode(self, mode: Mode) -> None: ...

    def set_pace(self, pace: float) -> None: ...

    def step(self) -> None: ...


class Runner(Protocol):
    """What a UI may ask of any runner: start it, step it, switch its mode and pace, queue a
    typed message, wait for it, stop it, and how far along it is."""

    @property
    def gate(self) -> GateControls: ...

    @property
    def result(self) -> RunFinished | None:
        """How the run ended, once it has."""
        ...

    @property
    def mode(self) -> Mode: ...

    @property
    def pace(self) -> float: ...

    @property
    def finished(self) -> bool: ...

    @property
    def total_steps(self) -> int: ...

    def start(self) -> None: ...

    def step(self) -> None: ...

    def queue_message(self, data: bytes) -> int:
        """The index of the first step added; ValueError with the reason when it cannot."""
        ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def stop(self, timeout: float = 0.5) -> bool:
        """End the run: sockets closed, threads joined; True if all ended in time."""
        ...


class RunnerFactory(Protocol):
    """How the app makes a runner for each run: the engine process, a replay, an outside
    peer's factory, a test's recorded run. ``size``: a bulk transfer's bytes (None: the
    scenario's own); keyword options a factory does not know (``pcap``, ``link``) are given
    only to the engine process."""

    def __call__(
        self,
        scenario: Scenario,
        consumer: EventSink,
        /,
        *,
        family: str,
        port: int,
        mode: Mode,
        pace: float,
        size: int | None = None,
    ) -> Runner: ...
