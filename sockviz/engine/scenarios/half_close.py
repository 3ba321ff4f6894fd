"""``half-close``: shutdown(SHUT_WR) ends one direction; the other keeps working."""

from sockviz.engine.scenarios.common import ALL, client_connects, listener
from sockviz.engine.scenarios.model import Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

SCENARIO = Scenario(
    name="half-close",
    summary="the client shutdown(SHUT_WR)s; the server reads EOF, still replies, then closes",
    about=(
        "shutdown(SHUT_WR) says 'I have nothing more to send' (FIN) without closing the "
        "socket: the client can still read. The server reads to end of stream, knows the "
        "request is complete, sends its reply over the half that is still open, and closes. "
        "The client's kernel sits in FIN_WAIT2, the server's in CLOSE_WAIT, until then."
    ),
    families=ALL,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
    ),
    steps=(
        *listener(),
        *client_connects(),
        Step("client", "client", Call.SENDALL, (b"the whole request",),
             explain="The client sends its whole request."),
        Step("client", "client", Call.SHUTDOWN, ("SHUT_WR",),
             explain="shutdown(SHUT_WR): no more sending. The kernel sends FIN; the client's "
             "side waits in FIN_WAIT2, the server's in CLOSE_WAIT. Reading still works."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="The server reads the request..."),
        Step("server", "conn-1", Call.RECV, (1024,),
             explain="...and then 0 bytes: end of stream. The request is complete."),
        Step("server", "conn-1", Call.SENDALL, (b"the reply",),
             explain="The server still sends its reply: only the client-to-server direction "
             "is closed."),
        Step("client", "client", Call.RECV, (1024,),
             explain="The half-closed client reads the reply."),
        Step("server", "conn-1", Call.CLOSE,
             explain="The server closes; its FIN puts the client's side in TIME_WAIT."),
        Step("client", "client", Call.RECV, (1024,),
             explain="The client reads end of stream (0 bytes)."),
        Step("client", "client", Call.CLOSE, explain="The client closes its socket."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
