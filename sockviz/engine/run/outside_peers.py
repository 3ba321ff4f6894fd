"""Real outside peers: a listener that waits for real clients, a client for a real server.

A scenario plays both ends of a conversation on this machine, so every call is known in
advance. Here one end is outside - curl, nc, telnet, a browser, ``python -m http.server`` -
and what it does next is not known: so there are no scenario steps. One thread waits for
whatever the peer does (a connection to accept, bytes to read, the end of its stream) and
makes the one call that answers it. Each call still goes through the gate (step / play /
fast) and a :class:`~sockviz.engine.sockets.traced_socket.TracedSocket`, so it is still one
event, and every wait is a ``poll()`` on the tracer's wake-up pipe, so :meth:`stop` still
ends the run from any point within half a second.

* :class:`~sockviz.engine.run.listen_runner.ListenRunner` - ``socket``, ``setsockopt``,
  ``bind``, ``listen``, then ``accept`` each client (``conn-1``, ``conn-2`` ...), ``recv``
  what each sends and ``close`` each one its peer is done with, until stopped.
* :class:`~sockviz.engine.run.connect_runner.ConnectRunner` - ``socket``, ``connect``,
  ``sendall`` the text to send (and any typed later,
  :meth:`~sockviz.engine.run.connect_runner.ConnectRunner.queue_message`), ``recv`` until
  the server closes or goes quiet, ``close``.

Hosts are resolved by :func:`resolve` *before* a runner is made, so a host that does not
resolve is a clean error (:class:`ResolveError`), not a failed run.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sockviz.engine.events import CallEvent, RunFinished, StepPending, WireStatus
from sockviz.engine.families import FAMILIES, OUTSIDE_TIMEOUT, Family
from sockviz.engine.run.gate import GateClosed, Mode
from sockviz.engine.run.live_run import LiveRun, one_line
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.sockets.call_words import call_args, format_address
from sockviz.engine.sockets.traced_socket import TracedSocket
from sockviz.engine.sockets.tracer import Stopped
from sockviz.engine.states import Call, Role, Transport
from sockviz.engine.wire.frame_source import FrameSource

__all__ = [
    "DEFAULT_TIMEOUT",
    "Endpoint",
    "ResolveError",
    "connect_scenario",
    "listen_scenario",
    "resolve",
]

#: Seconds ``--connect`` waits for the handshake, and for the server to say anything more.
DEFAULT_TIMEOUT = OUTSIDE_TIMEOUT
#: The listener's backlog: connections the kernel may queue before ``accept``.
BACKLOG = 16
#: How much one ``recv`` may take.
BUFSIZE = 65536
_WOULD_BLOCK = ("EAGAIN", "EWOULDBLOCK")
#: ``accept`` errors that mean "that client is gone", not "the listener is broken".
_ACCEPT_TRANSIENT = ("EAGAIN", "EWOULDBLOCK", "ECONNABORTED", "EPROTO", "EINTR", "EPERM")


class ResolveError(ValueError):
    """A host that gives no address to use; the message is one line for the user."""


@dataclass(frozen=True)
class Endpoint:
    """A TCP socket address on the far side (``--connect``) or our own (``--listen``)."""

    host: str
    """The host as the user wrote it (``localhost``), or the loopback address by default."""
    ip: str
    """The address it resolved to (``127.0.0.1``, ``::1``)."""
    port: int
    """The port (0 for a listener: the kernel picks one)."""
    family: Family
    """The address family of ``ip`` (one of :data:`~sockviz.engine.run.runner.FAMILIES`)."""

    @property
    def address(self) -> tuple[str, int]:
        """What ``bind()`` and ``connect()`` take."""
        return (self.ip, self.port)

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the address."""
        try:
            return ipaddress.ip_address(self.ip.split("%", 1)[0]).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        shown = format_address(self.family.af, self.address) or f"{self.ip}:{self.port}"
        if self.host and self.host != self.ip:
            return f"{self.host} ({shown})"
        return shown


def resolve(host: str | None, port: int, family: str | Family = "ipv4") -> Endpoint:
    """Turn ``host`` (a name, an IPv4 or an IPv6 address, None for loopback) into an address.

    ``family`` is the one to prefer when a name has addresses of both families; an address
    written out decides its family itself. :class:`ResolveError` when nothing usable comes
    back; ValueError for a port out of range.
    """
    fam = FAMILIES.get(family) if isinstance(family, str) else family
    if fam is None or fam.af not in (socket.AF_INET, socket.AF_INET6):
        raise ResolveError(f"real outside peers use TCP over ipv4 or ipv6, not {family}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range (use 0-65535)")
    if not host:
        return Endpoint(fam.loopback, fam.loopback, port, fam)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ResolveError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    except (UnicodeError, ValueError, OSError) as exc:
        raise ResolveError(f"cannot resolve host {host!r}: {exc}") from None
    usable = [info for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not usable:
        raise ResolveError(f"host {host!r} has no IPv4 or IPv6 address")
    preferred = [info for info in usable if info[0] == fam.af] or usable
    af, _type, _proto, _name, sockaddr = preferred[0]
    resolved = FAMILIES["ipv6" if af == socket.AF_INET6 else "ipv4"]
    return Endpoint(host, str(sockaddr[0]), port, resolved)


def listen_scenario(endpoint: Endpoint) -> Scenario:
    """What a :class:`ListenRunner` plays, for a title and a picker: no steps, no sockets."""
    scenario = Scenario(
        name="listen",
        summary=f"wait on {format_address(endpoint.family.af, endpoint.address)} for real "
        "outside clients; show each connection, its bytes and its close",
        about=(
            "A listener on this machine waits for real clients from outside sockviz: curl, "
            "nc, telnet, a browser. Each connection it accepts becomes a socket of its own "
            "(conn-1, conn-2 ...); every byte it receives is shown, escaped, and when the "
            "client closes its side the connection is closed too."
        ),
        sockets=(),
        steps=(),
        families=(endpoint.family.name,),
        actors=("server",),
    )
    scenario.validate()
    return scenario


def connect_scenario(endpoint: Endpoint) -> Scenario:
    """What a :class:`ConnectRunner` plays, for a title and a picker: no steps, no sockets."""
    scenario = Scenario(
        name="connect",
        summary=f"connect to the real server at {endpoint}, send, and read what it answers",
        about=(
            "A client on this machine connects to a real server outside sockviz, sends the "
            "text it was given (and any line typed while it is connected), and reads what "
            "the server answers until the server closes or goes quiet."
        ),
        sockets=(),
        steps=(),
        families=(endpoint.family.name,),
        actors=("client",),
    )
    scenario.validate()
    return scenario


def open_socket(ts: TracedSocket) -> socket.socket:
    """``ts``'s socket, open while the run's thread uses it: :class:`Stopped` when the run's
    stop has closed it under the thread."""
    if ts.sock is None:
        raise Stopped()
    return ts.sock


def _reason(event: CallEvent) -> str:
    """One line saying which call failed and why (as the scenario runner says it)."""
    return (
        f"{event.socket}.{event.call.value}({event.args or ''}) failed: "
        f"{event.error} ({event.error_text})"
    )


_T = TypeVar("_T")


class _OutsideRunner(LiveRun):
    """What both runners share: the peer's address, the tracer, one thread, the calls
    numbered as they are made."""

    actor = "server"

    def __init__(
        self,
        consumer: EventSink,
        host: str | None,
        port: int,
        family: str | Family,
        *,
        mode: Mode,
        pace: float,
        capture: FrameSource | None = None,
        wire: WireStatus | None = None,
    ) -> None:
        """``host``, ``port``, ``family``: the peer's address (:func:`resolve` resolves
        it); ``capture``: where to read the run's segments (None: not watched); ``wire``:
        where it is watched, said first (None: nothing said)."""
        self.endpoint = endpoint = resolve(host, port, family)
        self.scenario = self._scenario_for(endpoint)
        self.family = endpoint.family
        self.port = endpoint.port
        super().__init__(consumer, [], mode=mode, pace=pace, wire=wire)
        # (no steps, ever: what an outside peer does is not known in advance)
        self._announce = getattr(consumer, "wants_steps", True)
        """Each call is announced first (a StepPending), unless the consumer has no use."""
        self.tracer.settle = False  # (a real peer's calls: no order to protect)
        self.tracer.registry.forget = True  # (a session may see millions of connections)
        if capture is not None:  # (the peer's port, for a client's first SYN to it)
            self.tracer.watch_wire(capture).watch(f"{endpoint.ip}:{endpoint.port}")
        self._next = 0

    def _scenario_for(self, endpoint: Endpoint) -> Scenario:
        """What the run plays, for a title and a picker (ValueError: an address this kind
        of runner cannot use)."""
        raise NotImplementedError

    # --- control ----------------------------------------------------------------------
    def _threads_to_start(self) -> list[threading.Thread]:
        return [
            threading.Thread(target=self._main, name=f"sockviz-{self.scenario.name}", daemon=True)
        ]

    @property
    def next_step(self) -> int:
        """The index the next call will have (calls are numbered as they happen)."""
        return self._next

    # --- the thread -------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._run()
        except (Stopped, GateClosed):
            pass
        except Exception as exc:
            self._abort(f"internal error in the {self.actor} thread: {one_line(exc)}", None)
        finally:
            if self.result is not None:
                self._teardown("aborted")
            elif not self._halt.is_set():
                self.result = RunFinished("done")
                self._teardown("done")
            # else: stop() was called; it tears down after joining this thread

    def _run(self) -> None:
        raise NotImplementedError

    def _make(
        self, ts_name: str, call: Call, args: str | None, explain: str, perform: Callable[[int], _T]
    ) -> _T:
        """Announce the next call, wait at the gate, make it; numbered in order of making."""
        index = self._next
        if self._announce:
            self._consumer(
                StepPending(
                    step=index,
                    actor=self.actor,
                    socket=ts_name,
                    call=call,
                    args=args,
                    explain=explain,
                )
            )
        self.gate.wait()
        outcome = perform(index)
        self._next = index + 1
        return outcome

    def _create(self, name: str, role: Role, explain: str) -> TracedSocket | None:
        af = self.family.af
        event, ts = self._make(
            name,
            Call.SOCKET,
            call_args(Call.SOCKET, af, Transport.STREAM),
            explain,
            lambda i: TracedSocket.create(self.tracer, name, role, af, Transport.STREAM, step=i),
        )
        if not event.ok:
            self._abort(_reason(event), event)
            return None
        self.sockets[name] = ts
        return ts

    def _close(self, ts: TracedSocket, explain: str) -> CallEvent:
        return self._make(ts.name, Call.CLOSE, "", explain, lambda i: ts.close(step=i))
