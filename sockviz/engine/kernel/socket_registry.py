"""The run's sockets as the tracer and the wire look them up: by address, and by what the
kernel may still do with them - so that no lookup costs more with 10,000 sockets than with 10.

* **By address**: a captured segment is named after the run's socket at its addresses
  (:meth:`SocketRegistry.at`): a few dictionary lookups, not a scan of every socket the run made
  - nor of every connection a listener has accepted on its one address.
* **Watched**: a socket whose kernel state may still change is read by the kernel watch.
  One that the kernel holds in TIME_WAIT changes only when its timer runs out, so it
  *sleeps* until then (:meth:`SocketRegistry.sleep`) and no reading looks at it meanwhile - a
  flood leaves thousands of them behind, each for a minute.
* **Forgetting**: a real outside peer's run may last for hours and millions of connections.
  There (:attr:`SocketRegistry.forget`) a socket that is closed and that the kernel has let go of
  is dropped altogether; a scenario's run keeps every socket to the end.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeAlias

from sockviz.engine.states import Role, State, Transport

_WILDCARDS = ("0.0.0.0:", "[::]:")

Address: TypeAlias = Any
"""A socket address as ``getsockname()`` gives it: ``(host, port)``, IPv6's four fields, or a
Unix path (the standard library types it ``Any`` too)."""


_TRANSPORTS = {"TCP": Transport.STREAM, "UDP": Transport.DGRAM}
"""A frame's protocol -> the transport of the sockets it can be to or from."""


class RunSocket(Protocol):
    """What the kernel side needs of one of the run's sockets: the registry files it by its
    addresses, the kernel watch reads its kernel state and writes its kernel lines, the tracer
    closes what a stopped run left open. A Protocol, so that none of them imports the traced
    socket, which imports them."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def state(self) -> State | None: ...
    @property
    def family(self) -> int: ...
    @property
    def family_name(self) -> str: ...
    @property
    def transport(self) -> Transport: ...
    @property
    def sock(self) -> socket.socket | None: ...
    @property
    def inode(self) -> int:
        """Its file's inode while it was open (0 if it never had one)."""

    @property
    def watchable(self) -> bool:
        """TCP over IPv4 or IPv6: a socket whose kernel state the watch reads."""

    @property
    def local(self) -> str | None: ...
    @property
    def remote(self) -> str | None: ...
    @property
    def last_local(self) -> Address | None: ...
    @property
    def last_remote(self) -> Address | None: ...
    @property
    def sent_total(self) -> int: ...
    @property
    def recv_total(self) -> int: ...
    def close(self, step: int | None = None) -> object: ...


class Asleep(NamedTuple):
    """A forgotten socket waiting out TIME_WAIT: what its ``kernel`` line will say when the
    kernel lets it go (all that is kept of it: a flood leaves tens of thousands)."""

    when: float
    """When to look at it again (``time.monotonic()``)."""
    order: int
    name: str
    role: Role
    family: str
    type: str
    local: str
    remote: str
    sent: int
    received: int


class SocketRegistry:
    """Every socket of one run that still matters. See the module docstring."""

    def __init__(self) -> None:
        self.all: dict[RunSocket, None] = {}
        """The run's sockets in order of birth (less those forgotten)."""
        self.watched: dict[RunSocket, None] = {}
        """Sockets whose kernel state the watch reads (TCP over IPv4/IPv6, not asleep)."""
        self._pairs: dict[tuple[str, str], RunSocket] = {}
        """(local, remote) -> the (newest) connected socket at that pair of addresses."""
        self._paired_at: dict[str, dict[RunSocket, None]] = {}
        """Local address -> the connected sockets there (a listener's every connection)."""
        self._alone: dict[str, dict[RunSocket, None]] = {}
        """Local address -> the sockets there with no remote (a listener, a bound socket)."""
        self._placed: dict[RunSocket, tuple[str, str | None]] = {}
        """Socket -> the (local, remote) it is filed under."""
        self._wildcards = 0
        """How many of them are filed under a wildcard address (``0.0.0.0:P``)."""
        self._asleep: list[tuple[float, int, RunSocket]] = []
        """(when to look again, tie-break, socket): TIME_WAIT sockets, soonest first."""
        self._let_go: list[Asleep] = []
        """Forgotten sockets in TIME_WAIT (:attr:`forget`), soonest first."""
        self._order = itertools.count()
        self.forget = False
        """Drop a socket once it is closed and the kernel has let it go (outside peers)."""
        self.forgotten: Callable[[RunSocket], None] | None = None
        """Told of each socket dropped or asleep in TIME_WAIT, where :attr:`forget` says
        so (the wire forgets its connection's numbers)."""

    # --- membership -------------------------------------------------------------------
    def add(self, ts: RunSocket) -> None:
        self.all[ts] = None
        if ts.watchable:
            self.watched[ts] = None
        self.place(ts)

    def place(self, ts: RunSocket) -> None:
        """File ``ts`` under its addresses now (after a call that may have changed them)."""
        local, remote = ts.local, ts.remote
        old = self._placed.get(ts)
        if old == (local, remote) or ts not in self.all:
            return
        if old is not None:
            self._unfile(ts, old)
        if local is None:
            return
        self._placed[ts] = (local, remote)
        if remote is None:
            self._alone.setdefault(local, {})[ts] = None
        else:
            self._pairs[local, remote] = ts  # (the newest at a pair, as the kernel's lookup)
            self._paired_at.setdefault(local, {})[ts] = None
        if local.startswith(_WILDCARDS):
            self._wildcards += 1

    def _unfile(self, ts: RunSocket, where: tuple[str, str | None]) -> None:
        local, remote = where
        if remote is not None and self._pairs.get((local, remote)) is ts:
            del self._pairs[local, remote]
        filed = [(self._alone, local)] if remote is None else [(self._paired_at, local)]
        for index, key in filed:
            sockets = index.get(key)
            if sockets is not None:
                sockets.pop(ts, None)
                if not sockets:
                    del index[key]
        self._placed.pop(ts, None)
        if local.startswith(_WILDCARDS):
            self._wildcards -= 1

    def released(self, ts: RunSocket) -> None:
        """The kernel has let ``ts`` go (it is closed, and its connection is gone): no
        longer watched, and forgotten where :attr:`forget` says so."""
        self.watched.pop(ts, None)
        if self.forget and ts.state is State.CLOSED:
            self._drop(ts)

    def _drop(self, ts: RunSocket) -> None:
        self.all.pop(ts, None)
        where = self._placed.get(ts)
        if where is not None:
            self._unfile(ts, where)
        if self.forgotten is not None:
            self.forgotten(ts)

    # --- lookups ----------------------------------------------------------------------
    def at(
        self, own: str, other: str, proto: str | None = None
    ) -> tuple[str | None, str | None, bool]:
        """Who is at address ``own`` talking to ``other``: (the socket connected exactly
        so, the socket that owns ``own`` otherwise - a listener first - and whether that
        one listens). Sockets bound to the wildcard address count on its port (a UDP
        client's, once it sent, owns its port on every address). ``proto`` ("TCP" or "UDP"):
        only a socket of that transport - TCP and UDP number their ports apart, and another
        program's UDP datagram on the number of the run's TCP port is not the run's. A few
        dictionary lookups, however many connections share a listener's address."""
        transport = _TRANSPORTS.get(proto or "")
        keys: tuple[str, ...] = (own,)
        if self._wildcards:
            port = own.rpartition(":")[2]
            keys = (own, f"0.0.0.0:{port}", f"[::]:{port}")
        exact: str | None = None
        owner: str | None = None
        listens = False
        for key in keys:
            pair = self._pairs.get((key, other))
            if pair is not None and transport in (None, pair.transport):
                exact = pair.name
            for ts in self._alone.get(key, ()):
                if transport not in (None, ts.transport):
                    continue
                listening = ts.state is State.LISTENING or (  # (or it did: frames read
                    ts.role is Role.LISTENER and ts.state is State.CLOSED
                )  # after its close)
                if owner is None or listening:
                    owner, listens = ts.name, listening
        if owner is None:
            for key in keys:
                for ts in self._paired_at.get(key, ()):
                    if ts.name != exact and transport in (None, ts.transport):
                        return exact, ts.name, False
        return exact, owner, listens

    # --- sleeping through TIME_WAIT ---------------------------------------------------
    def sleep(self, ts: RunSocket, seconds: float) -> None:
        """Nothing changes ``ts`` for ``seconds`` (its TIME_WAIT timer): read it again then.
        Where :attr:`forget` says so, the socket itself is let go now and only an
        :class:`Asleep` is kept (:meth:`due` gives it back when its time is up)."""
        local, remote = ts.local, ts.remote
        if ts not in self.watched or local is None or remote is None:
            return  # (TIME_WAIT is a connection's: it has both addresses)
        del self.watched[ts]
        when = time.monotonic() + seconds
        if not self.forget:
            heapq.heappush(self._asleep, (when, next(self._order), ts))
            return
        heapq.heappush(
            self._let_go,
            Asleep(
                when,
                next(self._order),
                ts.name,
                ts.role,
                ts.family_name,
                ts.transport.value,
                local,
                remote,
                ts.sent_total,
                ts.recv_total,
            ),
        )
        self._drop(ts)

    def wake(self) -> None:
        """Watch again every socket whose time asleep is over."""
        now = time.monotonic()
        while self._asleep and self._asleep[0][0] <= now:
            ts = heapq.heappop(self._asleep)[2]
            if ts in self.all:
                self.watched[ts] = None

    def due(self) -> list[Asleep]:
        """The forgotten sockets whose TIME_WAIT should be over by now (taken out)."""
        now, out = time.monotonic(), list[Asleep]()
        while self._let_go and self._let_go[0].when <= now:
            out.append(heapq.heappop(self._let_go))
        return out

    def again(self, asleep: Asleep, seconds: float) -> None:
        """Still in TIME_WAIT: look again in ``seconds``."""
        heapq.heappush(
            self._let_go, asleep._replace(when=time.monotonic() + seconds, order=next(self._order))
        )

    @property
    def watching(self) -> bool:
        """True while some socket's kernel state may still change."""
        return bool(self.watched) or bool(self._asleep) or bool(self._let_go)


def address_of(text: str) -> tuple[str, int]:
    """``127.0.0.1:5000`` or ``[::1]:5000`` as a socket address."""
    if text.startswith("["):
        host, _, port = text[1:].rpartition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port)
