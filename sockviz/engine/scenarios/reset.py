"""``reset``: a peer closes with SO_LINGER 0 -> RST -> ECONNRESET on the other side."""

from sockviz.engine.scenarios.common import IP, client_connects, listener
from sockviz.engine.scenarios.model import Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

SCENARIO = Scenario(
    name="reset",
    summary="the server closes with SO_LINGER 0: RST instead of FIN; the client gets ECONNRESET",
    about=(
        "With SO_LINGER set to on, 0 seconds, close() throws the connection away: the kernel "
        "sends RST instead of FIN, drops unsent data and keeps no TIME_WAIT. The peer's next "
        "recv() fails with ECONNRESET."
    ),
    families=IP,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
    ),
    steps=(
        *listener(),
        *client_connects(),
        Step("client", "client", Call.SENDALL, (b"are you there?",),
             explain="The client sends a question."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="The server reads it."),
        Step("server", "conn-1", Call.SETSOCKOPT, ("SOL_SOCKET", "SO_LINGER", (1, 0)),
             explain="SO_LINGER on, with a 0 second timeout: close() will abort the "
             "connection instead of ending it politely."),
        Step("server", "conn-1", Call.CLOSE,
             explain="close() now sends RST, not FIN. The server's side is gone at once: no "
             "FIN_WAIT, no TIME_WAIT."),
        Step("client", "client", Call.RECV, (1024,), expect_error="ECONNRESET",
             explain="The client's recv() fails with ECONNRESET: 'connection reset by peer'. "
             "Its kernel already dropped the connection (CLOSE)."),
        Step("client", "client", Call.CLOSE, explain="The client closes its socket."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
