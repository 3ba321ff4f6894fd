"""Batching: engine threads may emit thousands of events a second; a UI wants ~30 updates.

:class:`Batcher` is a consumer for a :class:`~sockviz.engine.runner.Runner`. Engine threads
call it with each event (cheap: an append under a lock); its own thread hands the events
on as one list at most ``rate`` times a second. The first event after a quiet spell goes
out at once, so stepping feels immediate; a flood is coalesced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sockviz.engine.events import Event


class Batcher:
    """Collect events from any thread; deliver them in order, in lists, from one thread."""

    def __init__(self, deliver: Callable[[list[Event]], object], rate: float = 30.0) -> None:
        self._deliver = deliver
        self._interval = 1.0 / rate
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._pending: list[Event] = []
        self.delivered = 0
        """How many events have been handed on (for tests and the benchmark)."""
        self.batches = 0
        """How many lists have been handed on."""
        self._thread = threading.Thread(target=self._run, name="sockviz-batcher", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._pending.append(event)
        self._wake.set()

    @property
    def idle(self) -> bool:
        """True when nothing is waiting to be delivered."""
        with self._lock:
            return not self._pending

    def _take(self) -> list[Event]:
        with self._lock:
            batch, self._pending = self._pending, []
        return batch

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._closing.is_set():
                break
            self._wake.clear()
            batch = self._take()
            if batch:
                self._hand_on(batch)
                # At most `rate` batches a second: whatever arrives meanwhile waits its turn.
                if self._closing.wait(self._interval):
                    break
        batch = self._take()
        if batch:
            self._hand_on(batch)

    def _hand_on(self, batch: list[Event]) -> None:
        try:
            self._deliver(batch)
        except Exception:  # noqa: BLE001 - a receiver that has gone must not stop the engine
            return
        self.delivered += len(batch)
        self.batches += 1

    def close(self, timeout: float = 0.5) -> None:
        """Deliver what is left and end the thread."""
        self._closing.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
