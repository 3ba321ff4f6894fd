"""``refused``: connect to a port where nothing listens -> ECONNREFUSED."""

from sockviz.engine.scenarios.common import ALL
from sockviz.engine.scenarios.model import (
    BIND_ADDRESS,
    SERVER_ADDRESS,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, Role, Transport

SCENARIO = Scenario(
    name="refused",
    summary="connect() to a port where nothing listens: the kernel answers RST, ECONNREFUSED",
    about=(
        "A socket holds the port (bound, so nothing else can take it) but never calls "
        "listen(). The client's SYN is answered with RST and connect() fails with "
        "ECONNREFUSED: 'connection refused' means nobody is listening there."
    ),
    families=ALL,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
    ),
    steps=(
        Step("server", "server", Call.SOCKET,
             explain="A socket that will hold the port, so that no other program can listen "
             "on it while we try."),
        Step("server", "server", Call.BIND, (BIND_ADDRESS,),
             explain="bind() takes the address. It will never call listen(): bound is not "
             "listening."),
        Step("client", "client", Call.SOCKET, explain="The client makes its socket."),
        Step("client", "client", Call.CONNECT, (SERVER_ADDRESS,), expect_error="ECONNREFUSED",
             explain="connect() sends SYN to the bound port. Nothing listens there, so the "
             "kernel answers with RST and connect() fails: ECONNREFUSED."),
        Step("client", "client", Call.CLOSE,
             explain="A failed connect leaves a socket that must still be closed."),
        Step("server", "server", Call.CLOSE, explain="The port is released."),
    ),
)
