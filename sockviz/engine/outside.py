"""Real outside peers: a listener that waits for real clients, a client for a real server.

A scenario plays both ends of a conversation on this machine, so every call is known in
advance. Here one end is outside - curl, nc, telnet, a browser, ``python -m http.server`` -
and what it does next is not known: so there are no scenario steps. One thread waits for
whatever the peer does (a connection to accept, bytes to read, the end of its stream) and
makes the one call that answers it. Each call still goes through the gate (step / play /
fast) and a :class:`~sockviz.engine.traced.TracedSocket`, so it is still one event, and
every wait is a ``poll()`` on the tracer's wake-up pipe, so :meth:`stop` still ends the
run from any point within half a second.

* :class:`ListenRunner` - ``socket``, ``setsockopt``, ``bind``, ``listen``, then ``accept``
  each client (``conn-1``, ``conn-2`` ...), ``recv`` what each sends and ``close`` each one
  its peer is done with, until stopped.
* :class:`ConnectRunner` - ``socket``, ``connect``, ``sendall`` the text to send (and any
  typed later, :meth:`ConnectRunner.queue_message`), ``recv`` until the server closes or
  goes quiet, ``close``.

Hosts are resolved by :func:`resolve` *before* a runner is made, so a host that does not
resolve is a clean error (:class:`ResolveError`), not a failed run.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import EllipsisType

from sockviz.engine.controls import RunControls
from sockviz.engine.events import CallEvent, Event, RunFinished, StepPending
from sockviz.engine.families import FAMILIES, OUTSIDE_TIMEOUT, Family
from sockviz.engine.gate import Gate, GateClosed, Mode
from sockviz.engine.scenarios.model import Scenario
from sockviz.engine.states import Call, Role, State, Transport
from sockviz.engine.traced import (
    Stopped,
    TracedSocket,
    Tracer,
    call_args,
    format_address,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ConnectRunner",
    "Endpoint",
    "ListenRunner",
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
    """The address family of ``ip`` (one of :data:`~sockviz.engine.runner.FAMILIES`)."""

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
    return Endpoint(host, sockaddr[0], port, resolved)


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


def _reason(event: CallEvent) -> str:
    """One line saying which call failed and why (as the scenario runner says it)."""
    return (
        f"{event.socket}.{event.call.value}({event.args or ''}) failed: "
        f"{event.error} ({event.error_text})"
    )


class _OutsideRunner(RunControls):
    """What both runners share: the gate, the tracer, one thread, a kernel watch, stop."""

    actor = "server"

    def __init__(
        self,
        consumer: Callable[[Event], None],
        endpoint: Endpoint,
        scenario: Scenario,
        *,
        mode: Mode,
        pace: float,
    ) -> None:
        self.endpoint = endpoint
        self.scenario = scenario
        self.family = endpoint.family
        self.port = endpoint.port
        self.gate = Gate(mode, pace)
        self.steps = []
        """Always empty: what an outside peer does is not known in advance."""
        self._consumer = consumer
        self.tracer = Tracer(consumer)
        self.sockets: dict[str, TracedSocket] = {}
        self.result: RunFinished | None = None
        self._next = 0
        self._halt = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._teardown_lock = threading.Lock()
        self._torn_down = False
        self._started = False

    # --- control ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the peer's thread and the kernel watcher."""
        if self._started:
            raise RuntimeError("a runner runs once; make a new one to run again")
        self._started = True
        self._thread = threading.Thread(
            target=self._main, name=f"sockviz-{self.scenario.name}", daemon=True
        )
        self._watcher = threading.Thread(target=self._watch, name="sockviz-kernel", daemon=True)
        self._thread.start()
        self._watcher.start()

    @property
    def next_step(self) -> int:
        """The index the next call will have (calls are numbered as they happen)."""
        return self._next

    def stop(self, timeout: float = 0.5) -> bool:
        """End the run now, close every socket, join every thread. True if all ended in time."""
        deadline = time.monotonic() + timeout
        self._halt.set()
        self.gate.close()
        self.tracer.stop()
        joined = True
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            joined = not self._thread.is_alive()
        self._teardown("stopped")
        if self._watcher is not None:
            self._watcher.join(max(0.0, deadline - time.monotonic()))
            joined = joined and not self._watcher.is_alive()
        self._release()
        self.tracer.close()
        return joined

    def queue_message(self, data: bytes) -> int:  # pragma: no cover - overridden
        raise ValueError("this run cannot send a message")

    # --- the thread -------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._run()
        except (Stopped, GateClosed):
            pass
        except Exception as exc:  # noqa: BLE001 - a bug must end the run, never hang it or leak a traceback
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._abort(f"internal error in the {self.actor} thread: {detail}", None)
        finally:
            if self.result is not None:
                self._teardown("aborted")
            elif not self._halt.is_set():
                self.result = RunFinished("done")
                self._teardown("done")
            # else: stop() was called; it tears down after joining this thread

    def _run(self) -> None:
        raise NotImplementedError

    def _make(self, ts_name: str, call: Call, args: str | None, explain: str,
              perform: Callable[[int], object]):
        """Announce the next call, wait at the gate, make it; numbered in order of making."""
        index = self._next
        self._consumer(StepPending(step=index, actor=self.actor, socket=ts_name, call=call,
                                   args=args, explain=explain))
        self.gate.wait()
        outcome = perform(index)
        self._next = index + 1
        return outcome

    def _create(self, name: str, role: Role, explain: str) -> TracedSocket | None:
        af = self.family.af
        event, ts = self._make(
            name, Call.SOCKET, call_args(Call.SOCKET, af, Transport.STREAM), explain,
            lambda i: TracedSocket.create(self.tracer, name, role, af, Transport.STREAM, step=i),
        )
        if not event.ok:
            self._abort(_reason(event), event)
            return None
        self.sockets[name] = ts
        return ts

    def _close(self, ts: TracedSocket, explain: str) -> CallEvent:
        return self._make(ts.name, Call.CLOSE, "", explain, lambda i: ts.close(step=i))

    def _abort(self, reason: str, event: CallEvent | None) -> None:
        if self.result is None:
            self.result = RunFinished("aborted", reason, event)
        self._halt.set()

    def _teardown(self, outcome: str) -> None:
        """Close what is still open and announce the end, once."""
        with self._teardown_lock:
            if self._torn_down:
                return
            self._torn_down = True
        self.tracer.close_all()
        if self.result is None:
            self.result = RunFinished(outcome)
        self._consumer(self.result)
        self._finished.set()

    def _release(self) -> None:
        """Free what a subclass holds beyond the tracer (after the thread has gone)."""


class ListenRunner(_OutsideRunner):
    """A listener on this machine for real outside clients, until :meth:`stop`.

    ``host`` and ``port`` are where to listen (``host`` an address or a name, resolved
    here; None for the loopback of ``family``). With ``reply``, each connection is answered
    once, after the first bytes it sends: ``sendall(reply)``, then ``shutdown(SHUT_WR)``,
    and closed when the client has closed too. (Closing at once, with the client's bytes
    maybe still unread, would make the kernel send a reset, which can destroy the answer
    before the client reads it.)
    """

    actor = "server"

    def __init__(
        self,
        consumer: Callable[[Event], None],
        host: str | None = None,
        port: int = 0,
        family: str | Family = "ipv4",
        reply: bytes | None = None,
        *,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
    ) -> None:
        endpoint = resolve(host, port, family)
        super().__init__(consumer, endpoint, listen_scenario(endpoint), mode=mode, pace=pace)
        self.reply = bytes(reply) if reply else None
        self._accepted = 0

    def queue_message(self, data: bytes) -> int:
        """A listener has nobody to send to of its own accord: always ValueError."""
        raise ValueError(
            "the listener only answers its clients: type in the client (curl, nc ...), "
            "or give --reply TEXT to answer each connection"
        )

    def _run(self) -> None:
        listener = self._create(
            "server", Role.LISTENER,
            "The server asks the kernel for a new TCP socket, to be the listener that "
            "outside clients connect to.",
        )
        if listener is None:
            return
        setup = (
            (Call.SETSOCKOPT, call_args(Call.SETSOCKOPT, "SOL_SOCKET", "SO_REUSEADDR", 1),
             ("SO_REUSEADDR lets the port be bound again at once, even while old connections "
             "on it still wait in TIME_WAIT."),
             lambda i: listener.setsockopt("SOL_SOCKET", "SO_REUSEADDR", 1, step=i)),
            (Call.BIND, call_args(Call.BIND, self.endpoint.address),
             (f"bind() gives the listener its address, {self._where()}: where curl, nc or a "
             "browser will connect. Port 0 asks the kernel to pick a free port."),
             lambda i: listener.bind(self.endpoint.address, step=i)),
            (Call.LISTEN, repr(BACKLOG),
             ("listen() makes it a listener: from now on the kernel answers outside clients' "
             f"handshakes by itself and queues up to {BACKLOG} connections for accept()."),
             lambda i: listener.listen(BACKLOG, step=i)),
        )
        for call, args, explain, perform in setup:
            event = self._make("server", call, args, explain, perform)
            if not event.ok:
                self._abort(_reason(event), event)
                return
        connections: dict[socket.socket, TracedSocket] = {}
        answered: set[str] = set()
        while True:
            watched = [listener.sock, *connections]
            for sock in self.tracer.wait_any(watched, None):
                if sock is listener.sock:
                    if not self._accept(listener, connections):
                        return
                elif sock in connections:
                    self._read(connections, connections[sock], answered)

    def _where(self) -> str:
        return format_address(self.family.af, self.endpoint.address) or self.endpoint.ip

    def _accept(self, listener: TracedSocket, connections: dict) -> bool:
        """Accept the waiting client; False when the listener itself is failing."""
        name = f"conn-{self._accepted + 1}"
        event, conn = self._make(
            name, Call.ACCEPT, "",
            "A client has connected: the kernel finished the handshake and queued the "
            f"connection. accept() takes it off the queue as a new socket, {name}; the "
            "listener goes on listening.",
            lambda i: listener.accept(name, step=i, timeout=0.0),
        )
        if conn is not None:
            self._accepted += 1
            self.sockets[name] = conn
            connections[conn.sock] = conn
            return True
        if event.error in _ACCEPT_TRANSIENT:
            return True  # the client gave up before we took it: nothing to do
        self._abort(_reason(event), event)  # e.g. EMFILE: it would fail again at once
        return False

    def _read(self, connections: dict, conn: TracedSocket, answered: set[str]) -> None:
        event = self._make(
            conn.name, Call.RECV, repr(BUFSIZE),
            f"{conn.name}'s client has sent bytes, or closed its side: recv() takes what "
            "has arrived (up to 65536 bytes). 0 bytes means the client is done sending.",
            lambda i: conn.recv(BUFSIZE, step=i, timeout=0.0),
        )
        if event.error in _WOULD_BLOCK:
            return  # woken for nothing after all
        if event.error is not None or event.nbytes == 0:
            connections.pop(conn.sock, None)
            self._close(conn, f"{conn.name}'s client is gone: close() releases the connection."
                        if event.error else
                        f"{conn.name}'s client has closed its side (end of stream): close() "
                        "ends ours too.")
            return
        if self.reply is None or conn.name in answered or conn.state is not State.CONNECTED:
            return
        answered.add(conn.name)
        reply = self.reply
        sent = self._make(
            conn.name, Call.SENDALL, call_args(Call.SENDALL, reply),
            f"Answer {conn.name}'s client with the --reply text ({len(reply)} bytes).",
            lambda i: conn.sendall(reply, step=i),
        )
        if not sent.ok:
            connections.pop(conn.sock, None)
            self._close(conn, f"{conn.name}'s client is gone: close() releases the connection.")
            return
        self._make(
            conn.name, Call.SHUTDOWN, call_args(Call.SHUTDOWN, socket.SHUT_WR),
            "shutdown(SHUT_WR): the answer is complete, so send FIN. The connection is kept "
            "until the client closes too, so no unread byte makes the kernel reset it.",
            lambda i: conn.shutdown(socket.SHUT_WR, step=i),
        )


class ConnectRunner(_OutsideRunner):
    """A client on this machine for a real server elsewhere (or here, outside sockviz).

    It connects to ``host``:``port`` (waiting at most ``timeout`` seconds for the
    handshake), sends ``send`` if given, then reads until the server closes its side, or
    until nothing has arrived for ``idle`` seconds (default ``timeout``; None: read until
    the server closes or the run is stopped), and closes. While connected,
    :meth:`queue_message` hands it more bytes to send.
    """

    actor = "client"

    def __init__(
        self,
        consumer: Callable[[Event], None],
        host: str | None = None,
        port: int = 0,
        family: str | Family = "ipv4",
        send: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        idle: float | None | EllipsisType = ...,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
    ) -> None:
        endpoint = resolve(host, port, family)
        if endpoint.port == 0:
            raise ValueError("port 0 cannot be connected to (use 1-65535)")
        if timeout is None or timeout <= 0:
            raise ValueError("the timeout must be a number of seconds above 0")
        super().__init__(consumer, endpoint, connect_scenario(endpoint), mode=mode, pace=pace)
        self.send = bytes(send) if send else None
        self.timeout = float(timeout)
        self.idle: float | None = self.timeout if idle is ... else idle
        self._lock = threading.Lock()
        self._outbox: deque[bytes] = deque()
        self._connected = False
        self._closing = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._pipe_open = True

    def queue_message(self, data: bytes) -> int:
        """Send ``data`` on the connection as soon as possible, as one ``sendall``.

        Returns the index the send will have if nothing from the server is read first.
        ValueError, with a reason a user can read, when not connected (yet or any more).
        """
        if not data:
            raise ValueError("the message is empty")
        with self._lock:
            if self._closing or self._halt.is_set() or self.finished:
                raise ValueError("the connection is closed; press r to connect again")
            if not self._connected:
                raise ValueError("not connected yet: the message can go once connect() "
                                 "has succeeded")
            self._outbox.append(bytes(data))
            at = self._next + len(self._outbox) - 1
            if self._pipe_open:
                try:
                    os.write(self._wake_w, b"!")
                except OSError:  # full: the thread is awake anyway
                    pass
        return at

    def _release(self) -> None:
        with self._lock:
            if not self._pipe_open:
                return
            self._pipe_open = False
            for fd in (self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except OSError:
            pass

    def _run(self) -> None:
        client = self._create(
            "client", Role.CLIENT,
            "The client asks the kernel for a new TCP socket, to connect to the real server.",
        )
        if client is None:
            return
        address = self.endpoint.address
        event = self._make(
            "client", Call.CONNECT, call_args(Call.CONNECT, address),
            f"connect() starts the three-way handshake with the real server at "
            f"{self.endpoint}, waiting at most {self.timeout:g} s. The kernel gives the "
            "client an address of its own choosing (an ephemeral port).",
            lambda i: client.connect(address, step=i, timeout=self.timeout),
        )
        if not event.ok:
            self._abort(_reason(event), event)
            return
        with self._lock:
            self._connected = True
        if self.send and not self._sendall(client, self.send, "the --send text"):
            return
        self._read_until_done(client)
        with self._lock:
            self._closing = True
            self._connected = False
        self._close(client, "The conversation is over: close() releases the client's socket "
                    "(the side that closes first keeps the connection in TIME_WAIT).")

    def _sendall(self, client: TracedSocket, data: bytes, what: str) -> bool:
        event = self._make(
            "client", Call.SENDALL, call_args(Call.SENDALL, data),
            f"sendall() sends {what} ({len(data)} bytes) to the server, with as many "
            "send() calls as it takes.",
            lambda i: client.sendall(data, step=i, timeout=self.timeout),
        )
        if not event.ok:
            self._abort(_reason(event), event)
            return False
        return True

    def _send_queued(self, client: TracedSocket) -> bool:
        while True:
            with self._lock:
                if not self._outbox:
                    return True
                data = self._outbox.popleft()
            if not self._sendall(client, data, "the typed message"):
                return False

    def _read_until_done(self, client: TracedSocket) -> None:
        """recv() until the server closes, resets, or goes quiet for ``idle`` seconds."""
        quiet_since = time.monotonic()
        while True:
            if not self._send_queued(client):
                return
            remaining = None
            if self.idle is not None:
                remaining = max(0.0, quiet_since + self.idle - time.monotonic())
            ready = self.tracer.wait_any([client.sock, self._wake_r], remaining)
            if self._wake_r in ready:
                self._drain_wake()
            if ready and client.sock not in ready:
                continue  # only a message to send
            quiet = not ready
            explain = (
                f"Nothing has arrived for {self.idle:g} s: this recv() finds nothing to "
                "take (EAGAIN), so the client stops reading."
                if quiet else
                "The server has sent bytes, or closed its side: recv() takes what has "
                "arrived (up to 65536 bytes). 0 bytes means the server is done."
            )
            event = self._make("client", Call.RECV, repr(BUFSIZE), explain,
                               lambda i: client.recv(BUFSIZE, step=i, timeout=0.0))
            if event.error in _WOULD_BLOCK:
                if quiet:
                    return  # idle: stop reading
                continue
            if event.error in ("ECONNRESET", "EPIPE"):
                return  # the server reset the connection: that ends it too
            if event.error is not None:
                self._abort(_reason(event), event)
                return
            if event.nbytes == 0:
                return
            quiet_since = time.monotonic()
