"""``--connect``: a client of a real outside server (see
:mod:`sockviz.engine.run.outside_peers`)."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from types import EllipsisType

from sockviz.engine.events import WireStatus
from sockviz.engine.families import Family
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.outside_peers import (
    _WOULD_BLOCK,
    BUFSIZE,
    DEFAULT_TIMEOUT,
    Endpoint,
    _OutsideRunner,
    _reason,
    connect_scenario,
    open_socket,
)
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.sockets.call_words import call_args
from sockviz.engine.sockets.traced_socket import TracedSocket
from sockviz.engine.states import Call, Role
from sockviz.engine.wire.frame_source import FrameSource


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
        consumer: EventSink,
        host: str | None = None,
        port: int = 0,
        family: str | Family = "ipv4",
        send: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        idle: float | EllipsisType | None = ...,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
        capture: FrameSource | None = None,
        wire: WireStatus | None = None,
    ) -> None:
        if timeout is None or timeout <= 0:
            raise ValueError("the timeout must be a number of seconds above 0")
        super().__init__(
            consumer, host, port, family, mode=mode, pace=pace, capture=capture, wire=wire
        )
        self.send = bytes(send) if send else None
        self.timeout = float(timeout)
        self.idle: float | None = self.timeout if isinstance(idle, EllipsisType) else idle
        self._lock = threading.Lock()
        self._outbox: deque[bytes] = deque()
        self._connected = False
        self._closing = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._pipe_open = True

    def _scenario_for(self, endpoint: Endpoint) -> Scenario:
        if endpoint.port == 0:
            raise ValueError("port 0 cannot be connected to (use 1-65535)")
        return connect_scenario(endpoint)

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
                raise ValueError(
                    "not connected yet: the message can go once connect() has succeeded"
                )
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
            "client",
            Role.CLIENT,
            "The client asks the kernel for a new TCP socket, to connect to the real server.",
        )
        if client is None:
            return
        address = self.endpoint.address
        event = self._make(
            "client",
            Call.CONNECT,
            call_args(Call.CONNECT, address),
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
        self._close(
            client,
            "The conversation is over: close() releases the client's socket "
            "(the side that closes first keeps the connection in TIME_WAIT).",
        )

    def _sendall(self, client: TracedSocket, data: bytes, what: str) -> bool:
        event = self._make(
            "client",
            Call.SENDALL,
            call_args(Call.SENDALL, data),
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
            sock = open_socket(client)
            ready = self.tracer.wait_any([sock, self._wake_r], remaining)
            if self._wake_r in ready:
                self._drain_wake()
            if ready and sock not in ready:
                continue  # only a message to send
            quiet = not ready
            explain = (
                f"Nothing has arrived for {self.idle:g} s: this recv() finds nothing to "
                "take (EAGAIN), so the client stops reading."
                if quiet
                else "The server has sent bytes, or closed its side: recv() takes what has "
                "arrived (up to 65536 bytes). 0 bytes means the server is done."
            )
            event = self._make(
                "client",
                Call.RECV,
                repr(BUFSIZE),
                explain,
                lambda i: client.recv(BUFSIZE, step=i, timeout=0.0),
            )
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
