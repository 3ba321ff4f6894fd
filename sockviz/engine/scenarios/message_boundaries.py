"""``message-boundaries``: three quick sends over TCP arrive merged; over UDP, one by one."""

from sockviz.engine.scenarios.common_steps import ALL, IP, client_connects, listener
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    AddressOf,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, Role, Transport

WORDS = (b"one;", b"two;", b"three;")
UDP_SERVER = AddressOf("udp-server")

SCENARIO = Scenario(
    name="message-boundaries",
    summary="the same three sends over TCP and UDP: one TCP recv gets all three; UDP keeps them",
    about=(
        "TCP carries a stream of bytes: three send() calls are not three messages, and one "
        "recv() returns whatever has arrived - here, all three run together. UDP carries "
        "datagrams: each recvfrom() returns at most one, never more; given a buffer smaller "
        "than the datagram, it returns the first bytes and the kernel discards the rest "
        "(MSG_TRUNC) - a datagram never arrives in two parts. A protocol on TCP must mark "
        "its own message boundaries (a length, a newline...)."
    ),
    families=ALL,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
        SocketSpec("udp-server", Role.SERVER, Transport.DGRAM),
        SocketSpec("udp-client", Role.CLIENT, Transport.DGRAM),
    ),
    steps=(
        *listener(),
        Step("client", "client", Call.SOCKET, explain="The TCP client makes its socket."),
        Step(
            "client",
            "client",
            Call.SETSOCKOPT,
            ("IPPROTO_TCP", "TCP_NODELAY", 1),
            only=IP,
            explain="TCP_NODELAY turns off Nagle's algorithm, so each send() goes out at "
            "once: the merging below is not Nagle's doing.",
        ),
        *client_connects()[1:],
        *(
            Step(
                "client",
                "client",
                Call.SEND,
                (word,),
                explain=f"send() number {i + 1}: {len(word)} bytes, as its own call.",
            )
            for i, word in enumerate(WORDS)
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            explain="One recv() returns all three sends run together: TCP kept the bytes "
            "and their order, not the boundaries between send() calls.",
        ),
        Step("server", "udp-server", Call.SOCKET, explain="Now the same over UDP."),
        Step(
            "server",
            "udp-server",
            Call.BIND,
            (BIND_ADDRESS,),
            explain="The UDP server binds its own address.",
        ),
        Step("client", "udp-client", Call.SOCKET, explain="The UDP client makes its socket."),
        *(
            Step(
                "client",
                "udp-client",
                Call.SENDTO,
                (word, UDP_SERVER),
                explain=f"sendto() number {i + 1}: one datagram of {len(word)} bytes.",
            )
            for i, word in enumerate(WORDS)
        ),
        *(
            Step(
                "server",
                "udp-server",
                Call.RECVFROM,
                (1024,),
                explain=f"recvfrom() number {i + 1} returns exactly one datagram, though "
                "there was room for all three.",
            )
            for i in range(len(WORDS))
        ),
        Step("client", "udp-client", Call.CLOSE, explain="The UDP client closes."),
        Step("server", "udp-server", Call.CLOSE, explain="The UDP server closes."),
        Step("client", "client", Call.CLOSE, explain="The TCP client closes."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="End of stream for the server."),
        Step("server", "conn-1", Call.CLOSE, explain="The server's connection closes."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
