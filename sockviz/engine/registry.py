"""The run's sockets as the tracer and the wire look them up: by address, and by what the
kernel may still do with them - so that no lookup costs more with 10,000 sockets than with 10.

* **By local address**: a captured segment is named after the run's socket at its address
  (:meth:`Registry.at`), one dictionary lookup, not a scan of every socket the run made.
* **Watched**: a socket whose kernel state may still change is read by the kernel watch.
  One that the kernel holds in TIME_WAIT changes only when its timer runs out, so it
  *sleeps* until then (:meth:`Registry.sleep`) and no reading looks at it meanwhile - a
  flood leaves thousands of them behind, each for a minute.
* **Forgetting**: a real outside peer's run may last for hours and millions of connections.
  There (:attr:`Registry.forget`) a socket that is closed and that the kernel has let go of
  is dropped altogether; a scenario's run keeps every socket to the end.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sockviz.engine.states import Role, State

if TYPE_CHECKING:
    from sockviz.engine.traced import TracedSocket

#: (socket name, its local address, its remote address, whether it is a listener), as
#: the wire names a segment's sender and receiver; addresses as the trace writes them.
Known = tuple[str, str | None, str | None, bool]


_WILDCARDS = ("0.0.0.0:", "[::]:")


class Registry:
    """Every socket of one run that still matters. See the module docstring."""

    def __init__(self) -> None:
        self.all: dict[TracedSocket, None] = {}
        """The run's sockets in order of birth (less those forgotten)."""
        self.watched: dict[TracedSocket, None] = {}
        """Sockets whose kernel state the watch reads (TCP over IPv4/IPv6, not asleep)."""
        self._by_local: dict[str, list[TracedSocket]] = {}
        self._placed: dict[TracedSocket, str] = {}
        """Socket -> the local address it is filed under in :attr:`_by_local`."""
        self._wildcards = 0
        """How many of them are filed under a wildcard address (``0.0.0.0:P``)."""
        self._asleep: list[tuple[float, int, TracedSocket]] = []
        """(when to look again, tie-break, socket): TIME_WAIT sockets, soonest first."""
        self._order = itertools.count()
        self.forget = False
        """Drop a socket once it is closed and the kernel has let it go (outside peers)."""
        self.forgotten: Callable[[TracedSocket], None] | None = None
        """Told of each socket dropped (the wire forgets its connection's numbers)."""

    # --- membership -------------------------------------------------------------------
    def add(self, ts: TracedSocket) -> None:
        self.all[ts] = None
        if ts.watchable:
            self.watched[ts] = None
        self.place(ts)

    def place(self, ts: TracedSocket) -> None:
        """File ``ts`` under its local address now (after a call that may have changed it)."""
        key = ts.local
        old = self._placed.get(ts)
        if old == key or ts not in self.all:
            return
        if old is not None:
            self._unfile(ts, old)
        if key is not None:
            self._by_local.setdefault(key, []).append(ts)
            self._placed[ts] = key
            if key.startswith(_WILDCARDS):
                self._wildcards += 1

    def _unfile(self, ts: TracedSocket, key: str) -> None:
        filed = self._by_local.get(key)
        if filed is not None:
            filed.remove(ts)
            if not filed:
                del self._by_local[key]
        self._placed.pop(ts, None)
        if key.startswith(_WILDCARDS):
            self._wildcards -= 1

    def released(self, ts: TracedSocket) -> None:
        """The kernel has let ``ts`` go (it is closed, and its connection is gone): no
        longer watched, and forgotten where :attr:`forget` says so."""
        self.watched.pop(ts, None)
        if self.forget and ts.state is State.CLOSED:
            self.all.pop(ts, None)
            key = self._placed.get(ts)
            if key is not None:
                self._unfile(ts, key)
            if self.forgotten is not None:
                self.forgotten(ts)

    # --- lookups ----------------------------------------------------------------------
    def at(self, own: str) -> list[Known]:
        """The run's sockets at address ``own``, and those bound to the wildcard address
        on its port (a UDP client's, once it sent, owns its port on every address)."""
        keys: tuple = (own,)
        if self._wildcards:
            port = own.rpartition(":")[2]
            keys = (own, f"0.0.0.0:{port}", f"[::]:{port}")
        out = []
        for key in keys:
            for ts in self._by_local.get(key, ()):
                out.append((ts.name, key, ts.remote,
                            ts.state is State.LISTENING or ts.role is Role.LISTENER))
        return out

    # --- sleeping through TIME_WAIT ---------------------------------------------------
    def sleep(self, ts: TracedSocket, seconds: float) -> None:
        """Nothing changes ``ts`` for ``seconds`` (its TIME_WAIT timer): read it again then."""
        if ts in self.watched:
            del self.watched[ts]
            heapq.heappush(self._asleep, (time.monotonic() + seconds, next(self._order), ts))

    def wake(self) -> None:
        """Watch again every socket whose time asleep is over."""
        now = time.monotonic()
        while self._asleep and self._asleep[0][0] <= now:
            ts = heapq.heappop(self._asleep)[2]
            if ts in self.all:
                self.watched[ts] = None

    @property
    def watching(self) -> bool:
        """True while some socket's kernel state may still change."""
        return bool(self.watched) or bool(self._asleep)
