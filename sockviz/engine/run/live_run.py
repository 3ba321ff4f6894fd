"""A run on real sockets, whoever decides its calls: the start, the stop and the end that
the scenario :class:`~sockviz.engine.run.runner.Runner` and the outside peers' runners
(:mod:`sockviz.engine.run.outside_peers`) share, written once.

Both trace their calls through a :class:`~sockviz.engine.sockets.tracer.Tracer`, run their
calls in threads of their own beside a thread that reads the kernel, stop from any point
within half a second, and announce their end exactly once. What differs - which threads,
what they call - each says in the hooks :meth:`LiveRun._threads_to_start`,
:meth:`LiveRun._wake`, :meth:`LiveRun._ended` and :meth:`LiveRun._release`.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

from sockviz.engine.events import CallEvent, RunFinished, WireStatus
from sockviz.engine.run.gate import Gate, Mode
from sockviz.engine.run.run_controls import KERNEL_POLL_INTERVAL, RunControls
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.scenarios.scenario_types import Step
from sockviz.engine.sockets.traced_socket import TracedSocket
from sockviz.engine.sockets.tracer import Tracer


def one_line(exc: BaseException) -> str:
    """An exception as the one line a run that ended on it says."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


class KernelPoller:
    """The watcher thread: reads the kernel every ``interval`` seconds (the issue's ceiling
    is 10 Hz) until ``halt`` is set, so that changes between calls (a TIME_WAIT running
    out) become events too."""

    def __init__(
        self,
        poll: Callable[[], object],
        halt: threading.Event,
        interval: float = KERNEL_POLL_INTERVAL,
    ) -> None:
        self._poll = poll
        self._halt = halt
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="sockviz-kernel", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end (once ``halt`` is set); True if it did in time."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._halt.wait(self._interval):
            try:
                self._poll()
            except Exception:
                continue


class LiveRun(RunControls[Gate]):
    """A run on real sockets: its tracer, its threads and a kernel watcher, one stop, one
    end. See the module docstring."""

    def __init__(
        self,
        consumer: EventSink,
        steps: list[Step],
        *,
        mode: Mode,
        pace: float,
        wire: WireStatus | None,
    ) -> None:
        """``wire``: where the wire is watched, said to the consumer first (None: nothing
        said)."""
        super().__init__(consumer, Gate(mode, pace), steps)
        self.tracer = Tracer(consumer)
        self._wire = wire
        self.sockets: dict[str, TracedSocket] = {}
        """The run's own sockets by name."""
        self.poll_interval = KERNEL_POLL_INTERVAL
        """How often the watcher reads the kernel."""
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watcher: KernelPoller | None = None
        self._teardown_lock = threading.Lock()
        self._torn_down = False

    # --- control ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the run's threads and the kernel watcher."""
        self._start_once()
        if self._wire is not None:
            self._consumer(self._wire)
        self._threads = self._threads_to_start()
        self._watcher = KernelPoller(self.tracer.poll_kernel, self._halt, self.poll_interval)
        for thread in self._threads:
            thread.start()
        self._watcher.start()

    def stop(self, timeout: float = 0.5) -> bool:
        """End the run now, close every socket, join every thread. True if all ended in time."""
        deadline = time.monotonic() + timeout
        self._halt.set()
        self.gate.close()
        self.tracer.stop()
        self._wake()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        joined = not any(thread.is_alive() for thread in self._threads)
        self._teardown("stopped")
        if self._watcher is not None:  # (the same deadline: it only waits on _halt, set)
            joined = self._watcher.join(max(0.1, deadline - time.monotonic())) and joined
        self._release()
        self.tracer.close()
        return joined

    # --- the end ----------------------------------------------------------------------
    def _abort(self, reason: str, event: CallEvent | None) -> None:
        """End the run on a failure (the first reason given stands)."""
        if self.result is None:
            self.result = RunFinished("aborted", reason, event)
        self._halt.set()
        self._wake()

    def _teardown(self, outcome: str) -> None:
        """Close what is still open and announce the end, once."""
        with self._teardown_lock:
            if self._torn_down:
                return
            self._torn_down = True
        try:
            self.tracer.close_all()
            if self.result is None:
                self.result = RunFinished(outcome)
            self._consumer(self.result)
        except Exception as exc:
            self.result = RunFinished(
                "aborted", f"internal error while ending the run: {one_line(exc)}", None
            )
        finally:
            self._ended()
            self._finished.set()  # (whatever happened: wait() returns, nothing hangs)

    # --- what each kind of run says for itself -----------------------------------------
    def _threads_to_start(self) -> list[threading.Thread]:
        """The threads that make the run's calls, not started yet (after anything the run
        says before its first call)."""
        raise NotImplementedError

    def _wake(self) -> None:
        """Wake the run's threads where they wait for each other: the run is halting."""

    def _ended(self) -> None:
        """The end has been announced: stop what must stop with it."""

    def _release(self) -> None:
        """Free what the run holds beyond the tracer (on stop, after its threads)."""
