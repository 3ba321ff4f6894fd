"""What a UI may ask of any runner - live, in the engine process, replayed, or facing an
outside peer: step, wait, how far along.

Apart from the runner so that the TUI, which plays its runs in an engine process, need not
import the machinery that makes the calls.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sockviz.engine.run.gate import Gate, Mode
    from sockviz.engine.scenarios.scenario_types import Step


#: How often the watcher thread reads the kernel (the issue's ceiling is 10 Hz).
KERNEL_POLL_INTERVAL = 0.25


class RunControls:
    """What a UI may ask of any runner, live or replayed: step, wait, how far along.

    A subclass sets ``gate``, ``steps`` and ``_finished`` (a :class:`threading.Event`), and
    for the kernel watcher ``tracer`` and ``_halt``.
    """

    gate: Gate
    steps: list[Step]
    _finished: threading.Event

    def step(self) -> None:
        """Let exactly one call happen (in step mode)."""
        self.gate.step()

    @property
    def mode(self) -> Mode:
        """How the gate lets calls through now."""
        return self.gate.mode

    @property
    def pace(self) -> float:
        """Seconds between calls in play mode."""
        return self.gate.pace

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

    def _watch(self) -> None:
        """The kernel watcher thread: read the kernel at most 1/KERNEL_POLL_INTERVAL a second
        until the run halts (needs ``tracer`` and ``_halt``)."""
        while not self._halt.wait(getattr(self, "poll_interval", KERNEL_POLL_INTERVAL)):
            try:
                self.tracer.poll_kernel()
            except Exception:  # noqa: BLE001, S112 - the kernel view is a bonus: never end the run
                continue
