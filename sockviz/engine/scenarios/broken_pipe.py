"""``broken-pipe``: writing after the peer has gone -> EPIPE (and no death by SIGPIPE)."""

from sockviz.engine.scenarios.common_steps import IP, client_connects, listener
from sockviz.engine.scenarios.scenario_types import Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

SCENARIO = Scenario(
    name="broken-pipe",
    summary="the server has closed; the client writes anyway: RST back, then EPIPE",
    about=(
        "The server closes. The client does not read, so it does not notice, and writes. "
        "That first send() succeeds - the bytes reach a kernel with no program behind them, "
        "which answers RST. The next send() fails with EPIPE. (In C this also raises "
        "SIGPIPE, which kills a program that does not ignore it; Python ignores it.)"
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
        Step(
            "server",
            "conn-1",
            Call.CLOSE,
            explain="The server closes the connection (FIN). The client's side goes to "
            "CLOSE_WAIT, but the client program has not looked.",
        ),
        Step(
            "client",
            "client",
            Call.SEND,
            (b"first",),
            explain="send() succeeds: the bytes are handed to the kernel and sent. The "
            "server's kernel has no socket for them any more and answers RST.",
        ),
        Step(
            "client",
            "client",
            Call.SEND,
            (b"second",),
            expect_error="EPIPE",
            explain="The RST arrived, so this send() fails: EPIPE, 'broken pipe'. Nobody is "
            "there to read.",
        ),
        Step("client", "client", Call.CLOSE, explain="The client closes."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
