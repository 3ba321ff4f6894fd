"""The gate every call waits at: step, play or fast.

In ``step`` mode a call may pass only when someone calls :meth:`Gate.step` - one press of
a key, one real call. In ``play`` mode each call waits ``pace`` seconds (changeable while a
thread is waiting: the wait is re-measured from when it began). In ``fast`` mode nothing
waits. The mode may be switched at any time; a waiting thread sees the switch at once.

The gate decides *when* the next call happens, never *which* call: that order is fixed by
the scenario, so the three modes give the same sequence of calls.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable


class Mode(enum.Enum):
    """How the gate lets calls through."""

    STEP = "step"
    """One call per :meth:`Gate.step`."""
    PLAY = "play"
    """One call per ``pace`` seconds."""
    FAST = "fast"
    """No waiting at all."""


class GateClosed(Exception):
    """The gate was closed while a thread waited at it: the run is stopping."""


class GateSettings:
    """A gate's mode and pace, as a UI sets and reads them: kept by the :class:`Gate` itself,
    and by its stand-in in the UI's process when the gate is in the engine process
    (:class:`~sockviz.engine.run.engine_process.RemoteGate`) - one clamp for both."""

    MIN_PACE = 0.05
    MAX_PACE = 10.0

    def __init__(self, mode: Mode = Mode.FAST, pace: float = 1.0) -> None:
        self._mode = mode
        self._pace = self.clamp(pace)

    @classmethod
    def clamp(cls, pace: float) -> float:
        """Seconds between calls in play mode, within what the gate (and every screen) takes."""
        return min(cls.MAX_PACE, max(cls.MIN_PACE, float(pace)))

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def pace(self) -> float:
        return self._pace


class Gate(GateSettings):
    """A thread-safe gate with three modes. See the module docstring."""

    def __init__(self, mode: Mode = Mode.FAST, pace: float = 1.0) -> None:
        super().__init__(mode, pace)
        self._cond = threading.Condition()
        self._permits = 0
        self._closed = False
        self._waiting = 0
        self.on_waiting: Callable[[int], object] | None = None
        """Told how many threads wait, each time that changes (under the gate's lock, so it
        must be quick): the engine process reports it to the UI's process."""

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        """How many threads are waiting at the gate right now with nothing to let them
        through: a step granted but not yet taken by its thread does not count, so "the
        engine waits" is never seen between a key press and the call it lets through."""
        return self._held()

    def _held(self) -> int:
        return 0 if self._mode is Mode.STEP and self._permits > 0 else self._waiting

    def set_mode(self, mode: Mode) -> None:
        """Switch mode; threads waiting at the gate re-check at once."""
        with self._cond:
            self._mode = mode
            if mode is not Mode.STEP:
                self._permits = 0
            self._cond.notify_all()

    def set_pace(self, pace: float) -> None:
        """Seconds between calls in play mode, clamped to a sane range."""
        with self._cond:
            self._pace = self.clamp(pace)
            self._cond.notify_all()

    def step(self) -> None:
        """Let exactly one waiting (or the next) call through in step mode."""
        with self._cond:
            if self._mode is Mode.STEP:
                self._permits += 1
                self._cond.notify_all()
                if self.on_waiting is not None:
                    self.on_waiting(self._held())

    def close(self) -> None:
        """Release every waiting thread with :class:`GateClosed`, now and from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self) -> None:
        """Block until the gate lets one call through, or raise :class:`GateClosed`."""
        mode = self._mode  # (read once here: another thread may switch it meanwhile)
        if mode is Mode.FAST:  # (straight through: nothing to wait for or to tell -
            if self._closed:  # a flood's calls were each reporting a wait)
                raise GateClosed()
            return
        started = time.monotonic()
        with self._cond:
            self._waiting += 1
            if self.on_waiting is not None:
                self.on_waiting(self._held())
            try:
                while True:
                    if self._closed:
                        raise GateClosed()
                    if self._mode is Mode.FAST:
                        return
                    if self._mode is Mode.STEP:
                        if self._permits > 0:
                            self._permits -= 1
                            return
                        self._cond.wait()
                        continue
                    remaining = started + self._pace - time.monotonic()
                    if remaining <= 0:
                        return
                    self._cond.wait(remaining)
            finally:
                self._waiting -= 1
                if self.on_waiting is not None:
                    self.on_waiting(self._held())
