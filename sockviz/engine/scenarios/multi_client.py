"""``multi-client``: one listener, three clients, a new connection socket for each."""

from sockviz.engine.scenarios.common_steps import IP, listener
from sockviz.engine.scenarios.scenario_types import SERVER_ADDRESS, Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

N = 3

SCENARIO = Scenario(
    name="multi-client",
    summary="three clients, one listener: accept() returns a new socket per client",
    about=(
        "The listener never talks to anyone: it stays listening, and each accept() returns a "
        "new connection socket. All three share the server's local address; the kernel tells "
        "them apart by the client's address (a different port for each)."
    ),
    families=IP,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        *(SocketSpec(f"client-{i}", Role.CLIENT, Transport.STREAM) for i in range(1, N + 1)),
        *(SocketSpec(f"conn-{i}", Role.CONNECTION, Transport.STREAM) for i in range(1, N + 1)),
    ),
    steps=(
        *listener(),
        *(
            step
            for i in range(1, N + 1)
            for step in (
                Step("client", f"client-{i}", Call.SOCKET, explain=f"Client {i} makes its socket."),
                Step(
                    "client",
                    f"client-{i}",
                    Call.CONNECT,
                    (SERVER_ADDRESS,),
                    explain=f"Client {i} connects; the kernel picks it an ephemeral port, "
                    "different from the other clients'.",
                ),
                Step(
                    "server",
                    "server",
                    Call.ACCEPT,
                    (f"conn-{i}",),
                    explain=f"accept() returns a NEW socket, conn-{i}: same local address as "
                    f"the listener, remote address = client {i}. The listener stays "
                    "listening.",
                ),
            )
        ),
        *(
            step
            for i in range(1, N + 1)
            for step in (
                Step(
                    "client",
                    f"client-{i}",
                    Call.SENDALL,
                    (f"hello from client {i}".encode(),),
                    explain=f"Client {i} sends on its own connection.",
                ),
                Step(
                    "server",
                    f"conn-{i}",
                    Call.RECV,
                    (1024,),
                    explain=f"The server reads it from conn-{i}, and only client {i}'s bytes "
                    "are there.",
                ),
            )
        ),
        *(
            step
            for i in range(1, N + 1)
            for step in (
                Step("client", f"client-{i}", Call.CLOSE, explain=f"Client {i} closes."),
                Step(
                    "server",
                    f"conn-{i}",
                    Call.RECV,
                    (1024,),
                    explain=f"conn-{i} reads end of stream.",
                ),
                Step("server", f"conn-{i}", Call.CLOSE, explain=f"conn-{i} closes."),
            )
        ),
        Step("server", "server", Call.CLOSE, explain="Only now does the listener close."),
    ),
)
