"""``websocket``: a WebSocket (RFC 6455) conversation riding on one TCP connection.

The protocol is spoken by wsproto, a sans-IO WebSocket implementation: one client and
one server state machine per run, fed the bytes each side really received and asked what
to send next (:class:`~sockviz.engine.scenarios.scenario_types.Produce`). sockviz only carries
those bytes over real sockets, so every byte on screen is one a real WebSocket peer made.
wsproto is imported when a run starts, not when the engine is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from sockviz.engine.scenarios.common_steps import IP, client_connects, listener
from sockviz.engine.scenarios.scenario_types import Produce, Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

if TYPE_CHECKING:  # (wsproto's types only: it is imported when a run starts)
    from wsproto import WSConnection
    from wsproto.events import Event as WsEvent

GREETING = "hello, websocket"


class SocketSoFar(Protocol):
    """What a step's bytes are made from: one of the run's sockets as it stands."""

    @property
    def remote(self) -> str | None: ...

    @property
    def last_received(self) -> bytes: ...


class RunSoFar(Protocol):
    """The run a :class:`Produce` step is made in (the runner's), as far as it is read here."""

    @property
    def sockets(self) -> Mapping[str, SocketSoFar]: ...


class WebSocketPair:
    """A wsproto client and server; each method returns the next bytes one side sends."""

    def __init__(self) -> None:
        from wsproto import ConnectionType, WSConnection  # (when a run starts: ~30 ms)

        self.client = WSConnection(ConnectionType.CLIENT)
        self.server = WSConnection(ConnectionType.SERVER)

    @staticmethod
    def _feed(connection: WSConnection, data: bytes) -> list[WsEvent]:
        connection.receive_data(data)
        return list(connection.events())

    def client_handshake(self, run: RunSoFar) -> bytes:
        from wsproto.events import Request  # (wsproto: when a run starts)

        host = run.sockets["client"].remote or "localhost"
        return self.client.send(Request(host=host, target="/chat"))

    def server_accept(self, run: RunSoFar) -> bytes:
        from wsproto.events import AcceptConnection, Request  # (wsproto: when a run starts)

        events = self._feed(self.server, run.sockets["conn-1"].last_received)
        if not any(isinstance(e, Request) for e in events):
            raise ValueError("the server did not receive a WebSocket upgrade request")
        return self.server.send(AcceptConnection())

    def client_text(self, run: RunSoFar) -> bytes:
        from wsproto.events import AcceptConnection, TextMessage  # (wsproto: when a run starts)

        events = self._feed(self.client, run.sockets["client"].last_received)
        if not any(isinstance(e, AcceptConnection) for e in events):
            raise ValueError("the client's upgrade was not accepted")
        return self.client.send(TextMessage(data=GREETING))

    def server_text(self, run: RunSoFar) -> bytes:
        from wsproto.events import TextMessage  # (wsproto: when a run starts)

        events = self._feed(self.server, run.sockets["conn-1"].last_received)
        text = "".join(e.data for e in events if isinstance(e, TextMessage))
        return self.server.send(TextMessage(data=f"echo: {text}"))

    def client_close(self, run: RunSoFar) -> bytes:
        from wsproto.events import CloseConnection  # (wsproto: when a run starts)

        self._feed(self.client, run.sockets["client"].last_received)
        return self.client.send(CloseConnection(code=1000, reason="bye"))

    def server_close(self, run: RunSoFar) -> bytes:
        from wsproto.events import CloseConnection  # (wsproto: when a run starts)

        events = self._feed(self.server, run.sockets["conn-1"].last_received)
        close = next((e for e in events if isinstance(e, CloseConnection)), None)
        if close is None:
            raise ValueError("the server did not receive a close frame")
        return self.server.send(close.response())


SCENARIO = Scenario(
    name="websocket",
    summary="a WebSocket on a TCP socket: HTTP Upgrade, one masked text frame each way, close",
    about=(
        "WebSocket is a protocol that rides on a TCP socket. It starts as HTTP: the client "
        "asks to Upgrade, the server answers 101 Switching Protocols. From then on both send "
        "frames - a small header (FIN, opcode, MASK, length) and a payload; frames from the "
        "client are masked. A close frame each way ends the WebSocket; then TCP closes. The "
        "Payload tab decodes each frame's header."
    ),
    families=IP,
    protocol=WebSocketPair,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
    ),
    steps=(
        *listener(),
        *client_connects(),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (Produce("client_handshake"),),
            explain="The client sends an HTTP request asking to Upgrade to websocket, with "
            "a random Sec-WebSocket-Key.",
        ),
        Step("server", "conn-1", Call.RECV, (4096,), explain="The server reads the request."),
        Step(
            "server",
            "conn-1",
            Call.SENDALL,
            (Produce("server_accept"),),
            explain="It answers 101 Switching Protocols, proving it read the key "
            "(Sec-WebSocket-Accept). From here on, the connection speaks WebSocket.",
        ),
        Step("client", "client", Call.RECV, (4096,), explain="The client reads the 101."),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (Produce("client_text"),),
            explain="A text frame: FIN=1, opcode 1 (text), MASK=1 with a 4-byte key - "
            "a client must mask every frame it sends.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (4096,),
            explain="The server reads the frame and unmasks the payload.",
        ),
        Step(
            "server",
            "conn-1",
            Call.SENDALL,
            (Produce("server_text"),),
            explain="The server's text frame: not masked (servers never mask).",
        ),
        Step("client", "client", Call.RECV, (4096,), explain="The client reads it."),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (Produce("client_close"),),
            explain="A close frame (opcode 8) with status 1000, 'normal closure'.",
        ),
        Step("server", "conn-1", Call.RECV, (4096,), explain="The server reads the close..."),
        Step(
            "server",
            "conn-1",
            Call.SENDALL,
            (Produce("server_close"),),
            explain="...and answers with its own close frame. The WebSocket is closed.",
        ),
        Step("client", "client", Call.RECV, (4096,), explain="The client reads the answer."),
        Step(
            "server",
            "conn-1",
            Call.CLOSE,
            explain="RFC 6455 has the server close the TCP connection first, so TIME_WAIT "
            "lands on the server, not on the client.",
        ),
        Step("client", "client", Call.RECV, (4096,), explain="End of stream for the client."),
        Step("client", "client", Call.CLOSE, explain="The client closes its socket."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
