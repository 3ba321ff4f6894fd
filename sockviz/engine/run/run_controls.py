"""What a UI may ask of any runner - live, in the engine process, replayed, or facing an
outside peer: step, wait, how far along.

Apart from the runner so that the TUI, which plays its runs in an engine process, need not
import the machinery that makes the calls.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from sockviz.engine.events import RunFinished
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner_protocols import EventSink, GateControls
from sockviz.engine.scenarios.scenario_types import Step

#: How often the watcher thread reads the kernel (the issue's ceiling is 10 Hz).
KERNEL_POLL_INTERVAL = 0.25

GateT = TypeVar("GateT", bound=GateControls)


class RunControls(Generic[GateT]):
    """What a UI may ask of any runner, live or replayed: step, wait, how far along.

    Every runner hands over where its events go, its gate (a real one, or the engine
    process's stand-in) and its steps; this keeps them, with how the run ends.
    """

    def __init__(self, consumer: EventSink, gate: GateT, steps: list[Step]) -> None:
        self._consumer = consumer
        """Where every event of the run goes, in order (see :class:`EventSink`)."""
        self.gate = gate
        self.steps = steps
        """The steps this run will make: the scenario's, plus any queued messages."""
        self.result: RunFinished | None = None
        """How the run ended, once it has."""
        self._finished = threading.Event()
        self._started = False

    def _start_once(self) -> None:
        """Refuse a second start: a run's threads, sockets and events belong to one run."""
        if self._started:
            raise RuntimeError("a runner runs once; make a new one to run again")
        self._started = True

    @property
    def mode(self) -> Mode:
        """How the gate lets calls through now."""
        return self.gate.mode

    @property
    def pace(self) -> float:
        """Seconds between calls in play mode."""
        return self.gate.pace

    def step(self) -> None:
        """Let exactly one call happen (in step mode)."""
        self.gate.step()

    @property
    def finished(self) -> bool:
        """True once every step has run, or the run was aborted or stopped."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to finish; True if it did within ``timeout``."""
        return self._finished.wait(timeout)

    @property
    def total_steps(self) -> int:
        """How many steps this run has (a queued message adds some)."""
        return len(self.steps)

    def queue_message(self, data: bytes) -> int:
        """Add a message for the run to send: the index of the first step added. A run
        that cannot send one says why, in a ValueError."""
        raise ValueError("this run cannot send a message")
