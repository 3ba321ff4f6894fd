"""``--listen``: a listener on this machine for real outside clients (see
:mod:`sockviz.engine.run.outside_peers`)."""

from __future__ import annotations

import socket

from sockviz.engine.events import WireStatus
from sockviz.engine.families import Family
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.outside_peers import (
    _ACCEPT_TRANSIENT,
    _WOULD_BLOCK,
    BACKLOG,
    BUFSIZE,
    Endpoint,
    _OutsideRunner,
    _reason,
    listen_scenario,
    open_socket,
)
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.sockets.call_words import call_args, format_address
from sockviz.engine.sockets.traced_socket import TracedSocket
from sockviz.engine.sockets.tracer import Waiter
from sockviz.engine.states import Call, Role, State
from sockviz.engine.wire.frame_source import FrameSource

#: A listener's open connections, by their socket (what its selector wakes with).
Connections = dict[socket.socket, TracedSocket]


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
        consumer: EventSink,
        host: str | None = None,
        port: int = 0,
        family: str | Family = "ipv4",
        reply: bytes | None = None,
        *,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
        capture: FrameSource | None = None,
        wire: WireStatus | None = None,
    ) -> None:
        super().__init__(
            consumer, host, port, family, mode=mode, pace=pace, capture=capture, wire=wire
        )
        self.reply = bytes(reply) if reply else None
        self._accepted = 0

    def _scenario_for(self, endpoint: Endpoint) -> Scenario:
        return listen_scenario(endpoint)

    def queue_message(self, data: bytes) -> int:
        """A listener has nobody to send to of its own accord: always ValueError."""
        raise ValueError(
            "the listener only answers its clients: type in the client (curl, nc ...), "
            "or give --reply TEXT to answer each connection"
        )

    def _run(self) -> None:
        listener = self._create(
            "server",
            Role.LISTENER,
            "The server asks the kernel for a new TCP socket, to be the listener that "
            "outside clients connect to.",
        )
        if listener is None:
            return
        setup = (
            (
                Call.SETSOCKOPT,
                call_args(Call.SETSOCKOPT, "SOL_SOCKET", "SO_REUSEADDR", 1),
                (
                    "SO_REUSEADDR lets the port be bound again while old connections on it still "
                    "wait in TIME_WAIT (on Linux, those left by a listener that had it set too)."
                ),
                lambda i: listener.setsockopt("SOL_SOCKET", "SO_REUSEADDR", 1, step=i),
            ),
            (
                Call.BIND,
                call_args(Call.BIND, self.endpoint.address),
                (
                    f"bind() gives the listener its address, {self._where()}: where curl, nc or a "
                    "browser will connect. Port 0 asks the kernel to pick a free port."
                ),
                lambda i: listener.bind(self.endpoint.address, step=i),
            ),
            (
                Call.LISTEN,
                repr(BACKLOG),
                (
                    "listen() makes it a listener: from now on the kernel answers outside clients' "
                    f"handshakes by itself and queues up to {BACKLOG + 1} connections for accept() "
                    f"(Linux admits one more than the backlog, {BACKLOG})."
                ),
                lambda i: listener.listen(BACKLOG, step=i),
            ),
        )
        for call, args, explain, perform in setup:
            event = self._make("server", call, args, explain, perform)
            if not event.ok:
                self._abort(_reason(event), event)
                return
        connections: Connections = {}
        # One selector over the listener and every open connection, as a real server has:
        # each socket registered once, however many are open.
        waiter = self.tracer.waiter()
        waiter.add(open_socket(listener))
        try:
            while True:
                for sock in waiter.wait():
                    if sock is listener.sock:
                        if not self._accept(listener, connections, waiter):
                            return
                    elif sock in connections:
                        self._read(connections, connections[sock], waiter)
        finally:
            waiter.close()

    def _where(self) -> str:
        return format_address(self.family.af, self.endpoint.address) or self.endpoint.ip

    def _accept(self, listener: TracedSocket, connections: Connections, waiter: Waiter) -> bool:
        """Accept the waiting client; False when the listener itself is failing."""
        name = f"conn-{self._accepted + 1}"
        event, conn = self._make(
            name,
            Call.ACCEPT,
            "",
            "A client has connected: the kernel finished the handshake and queued the "
            f"connection. accept() takes it off the queue as a new socket, {name}; the "
            "listener goes on listening.",
            lambda i: listener.accept(name, step=i, timeout=0.0),
        )
        if conn is not None:
            self._accepted += 1
            sock = open_socket(conn)
            connections[sock] = conn
            waiter.add(sock)
            return True
        if event.error in _ACCEPT_TRANSIENT:
            return True  # the client gave up before we took it: nothing to do
        self._abort(_reason(event), event)  # e.g. EMFILE: it would fail again at once
        return False

    def _end(
        self, connections: Connections, waiter: Waiter, conn: TracedSocket, explain: str
    ) -> None:
        """The connection is done with: out of the selector, then closed."""
        sock = open_socket(conn)
        connections.pop(sock, None)
        waiter.discard(sock)
        self._close(conn, explain)

    def _read(self, connections: Connections, conn: TracedSocket, waiter: Waiter) -> None:
        event = self._make(
            conn.name,
            Call.RECV,
            repr(BUFSIZE),
            f"{conn.name}'s client has sent bytes, or closed its side: recv() takes what "
            "has arrived (up to 65536 bytes). 0 bytes means the client is done sending.",
            lambda i: conn.recv(BUFSIZE, step=i, timeout=0.0),
        )
        if event.error in _WOULD_BLOCK:
            return  # woken for nothing after all
        if event.error is not None or event.nbytes == 0:
            self._end(
                connections,
                waiter,
                conn,
                f"{conn.name}'s client is gone: close() releases the connection."
                if event.error
                else f"{conn.name}'s client has closed its side (end of stream): close() "
                "ends ours too.",
            )
            return
        # (answered once: the reply is all a connection ever sends)
        if self.reply is None or conn.sent_total or conn.state is not State.CONNECTED:
            return
        reply = self.reply
        sent = self._make(
            conn.name,
            Call.SENDALL,
            call_args(Call.SENDALL, reply),
            f"Answer {conn.name}'s client with the --reply text ({len(reply)} bytes).",
            lambda i: conn.sendall(reply, step=i),
        )
        if not sent.ok:
            self._end(
                connections,
                waiter,
                conn,
                f"{conn.name}'s client is gone: close() releases the connection.",
            )
            return
        self._make(
            conn.name,
            Call.SHUTDOWN,
            call_args(Call.SHUTDOWN, socket.SHUT_WR),
            "shutdown(SHUT_WR): the answer is complete, so send FIN. The connection is kept "
            "until the client closes too, so no unread byte makes the kernel reset it.",
            lambda i: conn.shutdown(socket.SHUT_WR, step=i),
        )
