"""Building blocks shared by several scenarios: the usual ways to open and close a pair.

Each function returns a tuple of steps; a scenario is mostly these joined together, with
its own story in between.
"""

from __future__ import annotations

from sockviz.engine.scenarios.scenario_types import BIND_ADDRESS, SERVER_ADDRESS, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

IP = ("ipv4", "ipv6")
ALL = ("ipv4", "ipv6", "unix")

#: The sockets of one TCP connection made by :func:`listener` and :func:`client_connects`.
ONE_CONNECTION = (
    SocketSpec("server", Role.LISTENER, Transport.STREAM),
    SocketSpec("client", Role.CLIENT, Transport.STREAM),
    SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
)


def listener(name: str = "server", backlog: int = 5, reuse: bool = True) -> tuple[Step, ...]:
    """socket, [SO_REUSEADDR], bind, listen."""
    steps = [
        Step(
            "server",
            name,
            Call.SOCKET,
            explain="The server asks the kernel for a new stream socket. It has no address yet.",
        ),
    ]
    if reuse:
        steps.append(
            Step(
                "server",
                name,
                Call.SETSOCKOPT,
                ("SOL_SOCKET", "SO_REUSEADDR", 1),
                only=IP,
                explain="SO_REUSEADDR lets a restarted server bind its port again while old "
                "connections on it wait in TIME_WAIT - on Linux only if the sockets that left "
                "them had it set too (the listener they were accepted from).",
            )
        )
    steps += [
        Step(
            "server",
            name,
            Call.BIND,
            (BIND_ADDRESS,),
            explain="bind() gives the socket its address, so clients know where to find it.",
        ),
        Step(
            "server",
            name,
            Call.LISTEN,
            (backlog,),
            explain=f"listen({backlog}) makes it a listener: the kernel now completes "
            f"handshakes for it and queues finished connections until accept() takes them "
            f"(Linux admits one more than the backlog: {backlog + 1}).",
        ),
    ]
    return tuple(steps)


def client_connects(
    client: str = "client", conn: str = "conn-1", listener_name: str = "server"
) -> tuple[Step, ...]:
    """socket, connect, accept."""
    return (
        Step("client", client, Call.SOCKET, explain=f"{client} asks for its own stream socket."),
        Step(
            "client",
            client,
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect() runs the three-way handshake; the kernel gives the client an "
            "address of its own on the way (an ephemeral port).",
        ),
        Step(
            "server",
            listener_name,
            Call.ACCEPT,
            (conn,),
            explain=f"accept() takes the finished connection off the queue as a new socket, "
            f"{conn}. The listener keeps listening.",
        ),
    )


def close(actor: str, name: str, explain: str) -> Step:
    return Step(actor, name, Call.CLOSE, explain=explain)
