"""Two calls made on one key: a scenario's two programs acting at the same moment (both ends
closing, or connecting to each other, at once).

Why apart from the runner: it is one question of two threads meeting, with its own small
state. The runner's baton gives the second step to its thread only once the first has
passed the gate; here the first then waits until that thread has the step in hand, and
the second waits until the first call has begun, then :data:`GAP` more. So both threads
are running when the first call is made, and the second follows it by a few milliseconds
however loaded the machine is (a thread woken only then could take longer than a link's
crossing, and the two segments would not cross). Standard library only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: How long after the first call begins the second is made: the first's segment goes first
#: every run, and both are on a link's wire long before either crosses it.
GAP = 0.005
#: How long either thread waits for the other (a run being stopped ends the wait at once).
PATIENCE = 1.0


class OneKey:
    """See the module docstring. ``cond`` is the runner's baton lock, ``halt`` its stop,
    ``pass_baton(i)`` lets step ``i`` be claimed (called with ``cond`` held)."""

    def __init__(
        self,
        cond: threading.Condition,
        halt: threading.Event,
        pass_baton: Callable[[int], None],
    ) -> None:
        self._cond, self._halt, self._pass = cond, halt, pass_baton
        self._in_hand: set[int] = set()

    def first(self, index: int) -> None:
        """Step ``index`` has its key and the next step is made on it too: hand that step
        over, wait until its thread has it, then say this call begins."""
        with self._cond:
            self._pass(index + 1)
            self._wait_for(index + 1)
            self._in_hand.add(index)
            self._cond.notify_all()

    def second(self, index: int) -> None:
        """Step ``index`` is made on the key of the one before: say it is in hand, wait
        until that call begins, then :data:`GAP` more."""
        with self._cond:
            self._in_hand.add(index)
            self._cond.notify_all()
            self._wait_for(index - 1)
        self._halt.wait(GAP)

    def _wait_for(self, index: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while index not in self._in_hand and not self._halt.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)
