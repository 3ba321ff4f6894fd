"""What a scenario is: the sockets, and every call in the one order it will always run in.

A scenario is data. Each :class:`Step` names the thread (``actor``) that makes the call,
the socket it is made on, the call and its arguments. The runner plays the steps in list
order, handing a baton from thread to thread, so a scenario gives the same sequence of
calls every run, in every gate mode: this order is the *choreography*.

Arguments that are only known while the scenario runs are written as markers:

* :data:`BIND_ADDRESS` - the loopback address of the chosen family, with the chosen port;
* :data:`SERVER_ADDRESS` - the address the server's socket really got (``getsockname``);
* :data:`ECHO` - every byte this socket's last ``recv``/``recvfrom`` returned;
* :data:`LAST_PEER` - the address this socket's last datagram came from;
* :data:`MESSAGE` - in a scenario's ``exchange``: the text a user typed for the client;
* :data:`OWN_ADDRESS` - an address of the socket's own (a Unix datagram client must bind
  one, or nobody can answer it);
* :class:`Produce` - bytes made by the scenario's protocol object when the step runs (the
  WebSocket scenario asks a real WebSocket implementation what to send next).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sockviz.engine.states import (
    BIRTH,
    INITIAL,
    Call,
    IllegalTransition,
    Role,
    State,
    Transport,
    next_state,
)


class Marker(enum.Enum):
    """A step argument filled in when the step runs. See the module docstring."""

    BIND_ADDRESS = "the loopback address and the chosen port"
    SERVER_ADDRESS = "the server's address"
    ECHO = "the bytes just received"
    LAST_PEER = "the sender of the last datagram"
    MESSAGE = "the message the user typed"
    OWN_ADDRESS = "an address of the socket's own"

    def __repr__(self) -> str:
        return self.name


BIND_ADDRESS = Marker.BIND_ADDRESS
SERVER_ADDRESS = Marker.SERVER_ADDRESS
ECHO = Marker.ECHO
LAST_PEER = Marker.LAST_PEER
MESSAGE = Marker.MESSAGE
OWN_ADDRESS = Marker.OWN_ADDRESS


@dataclass(frozen=True)
class AddressOf:
    """The address another socket of the scenario really got (``getsockname``)."""

    socket: str

    def __repr__(self) -> str:
        return f"<address of {self.socket}>"


@dataclass(frozen=True)
class Produce:
    """Bytes the scenario's protocol object makes when the step runs: ``protocol.<name>(run)``."""

    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


@dataclass(frozen=True)
class SocketSpec:
    """A socket the scenario uses."""

    name: str
    """Its stable name in events: ``server``, ``client``, ``conn-1`` ..."""
    role: Role
    """What it is for."""
    transport: Transport
    """Stream (TCP) or datagram (UDP)."""
    lane: str | None = None
    """``client`` or ``server``: the side of the screen its card stands on, where its role
    does not say (two clients that connect to each other); None: its role's."""


@dataclass(frozen=True)
class Expect:
    """What a step's call should do, checked when it runs (scenario files say it)."""

    state: State | None = None
    """The lifecycle state the call leaves its socket in."""
    error: str | None = None
    """The errno name it fails with."""
    nbytes: int | None = None
    """How many bytes it moves."""
    kernel: str | None = None
    """The kernel's TCP state for the socket right after the call."""
    seconds: float | None = None
    """On two hosts: the call takes at least this many seconds (a lost SYN: about 1)."""
    retries: int | None = None
    """On two hosts: at least this many segments of the call's connection sent again by
    the time it returns (which call a retry falls under is the kernel's timers' doing)."""

    def describe(self) -> str:
        parts = []
        if self.state is not None:
            parts.append(f"state {self.state.value}")
        if self.error is not None:
            parts.append(self.error)
        if self.nbytes is not None:
            parts.append(f"{self.nbytes} bytes")
        if self.kernel is not None:
            parts.append(f"kernel {self.kernel}")
        if self.seconds is not None:
            parts.append(f"at least {self.seconds:g} s")
        if self.retries is not None:
            parts.append(f"at least {self.retries} sent again")
        return ", ".join(parts)


@dataclass(frozen=True)
class Step:
    """One call of the scenario."""

    actor: str
    """The thread that makes the call: ``server`` or ``client``."""
    socket: str
    """The socket the call is made on (for ``accept``: the listener)."""
    call: Call
    """The call."""
    args: tuple[object, ...] = ()
    """Its arguments; markers are filled in when it runs. ``accept`` takes the new name."""
    explain: str = ""
    """What the call does and why the state changes, in plain words."""
    expect_error: str | None = None
    """The errno name this step is meant to fail with (a failure is then not an abort)."""
    timeout: float | None = 10.0
    """Seconds a blocking call may wait for its peer before it is made anyway (and
    reports EAGAIN/EINPROGRESS); None waits until the run is stopped."""
    only: tuple[str, ...] = ()
    """The families this step belongs to (empty: all of them)."""
    wait: bool = True
    """For ``connect``: False returns at once, as a non-blocking connect does (EINPROGRESS)."""
    together: bool = False
    """Run this step and the next (another actor's) at the same time; the run goes on when
    both have finished. For transfers too big for one side to finish alone."""
    one_key: bool = False
    """With ``together``: the next step is made on the same key, not a key of its own -
    two programs acting at the same moment (both ends closing at once), which a key
    between them would make one after the other."""
    then: bool = False
    """The next step, the same program's, is made as soon as this one returns, on the same
    key - one program's calls back to back (a write, then a write), whose lesson a key
    between them would undo (the kernel's timers would run out in the pause)."""
    size: int | None = None
    """For a bulk ``sendall``/``recv``: the number of bytes to move, streamed in chunks
    (``args`` then holds the chunk size); 0 means "what ``--size`` says"."""
    expect: Expect | None = None
    """What the call should do, checked when it runs (a :class:`~sockviz.engine.events.Checked`
    event says whether it did)."""


def on_the_same_key(steps: tuple[Step, ...] | list[Step], index: int) -> bool:
    """Whether step ``index`` is made on the key of the step before (``one_key``, or the
    same program's ``then``): it does not wait at the gate."""
    if not 0 < index <= len(steps):
        return False
    before = steps[index - 1]
    return (before.together and before.one_key) or before.then


@dataclass(frozen=True)
class Scenario:
    """A named choreography of real socket calls."""

    name: str
    """What ``--scenario`` takes."""
    summary: str
    """One line for ``--list`` and the picker."""
    sockets: tuple[SocketSpec, ...]
    """Every socket, including connections born from ``accept``."""
    steps: tuple[Step, ...]
    """Every call, in the order it always runs."""
    families: tuple[str, ...] = ("ipv4", "ipv6")
    """The address families it can run on."""
    about: str = ""
    """A paragraph for the help and picker screens."""
    actors: tuple[str, ...] = field(default=("server", "client"))
    """The threads, in the order they are started."""
    exchange: tuple[Step, ...] = ()
    """The steps of one more round trip, with :data:`MESSAGE` as the client's data: what
    runs when a user types a message for the client to send."""
    exchange_at: int = 0
    """The step before which such round trips are inserted (where the conversation is)."""
    protocol: object = None
    """A callable returning a fresh object per run whose methods :class:`Produce` names."""
    bulk: bool = False
    """True when the scenario moves ``--size`` bytes (``bulk``)."""
    default_size: int | None = None
    """For a bulk scenario: the bytes it moves when ``--size`` is not given (None: the
    runner's default)."""
    loopback_only: str | None = None
    """Why the scenario's lesson needs loopback (it is refused two hosts and a link), or
    None."""
    link_only: str | None = None
    """Why the scenario's lesson needs two hosts and its link (where they cannot be made it
    is refused, not run on loopback), or None."""
    link: tuple[str, tuple[str, ...], bool] | None = None
    """Two hosts and a link (a scenario file's ``[link]`` table): (settings as ``--link``
    takes them, ``--drop`` faults, hold each segment in step mode); None: loopback."""

    def socket_spec(self, name: str) -> SocketSpec:
        for spec in self.sockets:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def steps_for(self, family: str) -> tuple[Step, ...]:
        """The steps that run on ``family`` (steps marked ``only`` for others left out)."""
        return tuple(s for s in self.steps if not s.only or family in s.only)

    def exchange_at_for(self, family: str) -> int:
        """Where the exchange goes among :meth:`steps_for` ``family``."""
        return sum(1 for s in self.steps[: self.exchange_at] if not s.only or family in s.only)

    def validate(self) -> None:
        """Walk the steps through the lifecycle table; ValueError naming the first bad step.

        A step that is expected to fail leaves the state as it was, as a failed call does.
        The walk is made for each family; if the scenario has an ``exchange``, again with
        it inserted.
        """
        for family in self.families:
            self._validate_family(family)

    def _validate_family(self, family: str) -> None:
        steps = self.steps_for(family)
        self._walk(steps)
        for index, step in enumerate(steps):
            if step.one_key and not step.together:
                raise ValueError(f"{self.name} step {index}: 'one_key' needs 'together'")
            if step.then and (
                step.together or index + 1 >= len(steps) or steps[index + 1].actor != step.actor
            ):
                raise ValueError(
                    f"{self.name} step {index}: 'then' needs a next step made by the same actor"
                )
            if step.together and (index + 1 >= len(steps) or steps[index + 1].actor == step.actor):
                raise ValueError(
                    f"{self.name} step {index}: 'together' needs a next step made by another actor"
                )
        if self.exchange:
            if not any(Marker.MESSAGE in step.args for step in self.exchange):
                raise ValueError(f"{self.name}: the exchange never sends MESSAGE")
            if not 0 <= self.exchange_at <= len(self.steps):
                raise ValueError(f"{self.name}: exchange_at is outside the steps")
            at = self.exchange_at_for(family)
            self._walk(steps[:at] + self.exchange + steps[at:])

    def _walk(self, steps: tuple[Step, ...]) -> None:
        """Walk ``steps`` through the lifecycle table. The first that cannot come where it is
        raises ValueError or IllegalTransition with ``step_index``, its place in ``steps``:
        a scenario file names that step's line after one walk, not one walk per prefix."""
        states: dict[str, State] = {}
        names = {spec.name for spec in self.sockets}
        for index, step in enumerate(steps):
            try:
                self._walk_step(index, step, states, names)
            except (ValueError, IllegalTransition) as exc:
                exc.step_index = index  # type: ignore[union-attr]  # (read by _check_order)
                raise

    def _walk_step(self, index: int, step: Step, states: dict[str, State], names: set[str]) -> None:
        where = f"{self.name} step {index} ({step.socket}.{step.call.value})"
        if step.actor not in self.actors:
            raise ValueError(f"{where}: unknown actor {step.actor!r}")
        if step.socket not in names:
            raise ValueError(f"{where}: unknown socket {step.socket!r}")
        spec = self.socket_spec(step.socket)
        if step.call is Call.SOCKET:
            if step.socket in states or BIRTH[spec.role] is not Call.SOCKET:
                raise ValueError(f"{where}: this socket cannot be created here")
            if step.expect_error is None:
                states[step.socket] = INITIAL[spec.role]
            return
        if step.socket not in states:
            raise ValueError(f"{where}: the socket does not exist yet")
        after = next_state(spec.transport, spec.role, states[step.socket], step.call)
        if step.expect_error is not None:
            return
        states[step.socket] = after
        if step.call is Call.ACCEPT:
            (new_name,) = step.args
            if new_name not in names:
                raise ValueError(f"{where}: unknown connection {new_name!r}")
            states[new_name] = INITIAL[Role.CONNECTION]
