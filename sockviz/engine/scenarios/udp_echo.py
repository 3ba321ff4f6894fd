"""``udp-echo``: one datagram there and back. No connection, no handshake, no TIME_WAIT.

On two hosts over a link that loses packets a datagram may never come: each receive waits
at most :data:`RECEIVE_TIMEOUT` and returns EAGAIN, and the run goes on to its closes
(:mod:`sockviz.engine.run.lost_datagrams`) - UDP's lesson, not a failure. On loopback every
datagram arrives at once.
"""

from sockviz.engine.scenarios.common_steps import ALL
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    ECHO,
    LAST_PEER,
    MESSAGE,
    OWN_ADDRESS,
    SERVER_ADDRESS,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, Role, Transport

GREETING = b"hello, sockviz"
#: Seconds a receive waits for a datagram (one lost on a link never comes).
RECEIVE_TIMEOUT = 2.0

SCENARIO = Scenario(
    name="udp-echo",
    summary="a UDP client sends one datagram, the server sends it back; no connection at all",
    about=(
        "UDP sends independent datagrams: no handshake, no connection, no closing "
        "ceremony. The server learns who wrote to it from each datagram it receives."
    ),
    families=ALL,
    sockets=(
        SocketSpec("server", Role.SERVER, Transport.DGRAM),
        SocketSpec("client", Role.CLIENT, Transport.DGRAM),
    ),
    steps=(
        Step(
            "server",
            "server",
            Call.SOCKET,
            explain="The server asks the kernel for a UDP socket: an endpoint for datagrams.",
        ),
        Step(
            "server",
            "server",
            Call.BIND,
            (BIND_ADDRESS,),
            explain="bind() gives the socket its address, so clients know where to send. "
            "There is no listen() in UDP: a bound socket can receive straight away.",
        ),
        Step(
            "client",
            "client",
            Call.SOCKET,
            explain="The client asks for its own UDP socket.",
        ),
        Step(
            "client",
            "client",
            Call.BIND,
            (OWN_ADDRESS,),
            only=("unix",),
            explain="A Unix datagram client binds an address of its own: the kernel gives an "
            "unbound Unix socket no address, and the server could not answer it.",
        ),
        Step(
            "client",
            "client",
            Call.SENDTO,
            (GREETING, SERVER_ADDRESS),
            explain="sendto() sends one datagram to the server's address. The client never "
            "called bind(), so the kernel gives it an address (an ephemeral port) now.",
        ),
        Step(
            "server",
            "server",
            Call.RECVFROM,
            (1024,),
            timeout=RECEIVE_TIMEOUT,
            explain="recvfrom() returns exactly one datagram, and the address of who sent it.",
        ),
        Step(
            "server",
            "server",
            Call.SENDTO,
            (ECHO, LAST_PEER),
            explain="The server sends the same bytes back to the address the datagram came from.",
        ),
        Step(
            "client",
            "client",
            Call.RECVFROM,
            (1024,),
            timeout=RECEIVE_TIMEOUT,
            explain="The client receives the echoed datagram.",
        ),
        Step(
            "client",
            "client",
            Call.CLOSE,
            explain="close() releases the client's socket. Nothing is sent: UDP has no "
            "connection to end.",
        ),
        Step(
            "server",
            "server",
            Call.CLOSE,
            explain="close() releases the server's socket and its port.",
        ),
    ),
    exchange=(
        Step(
            "client",
            "client",
            Call.SENDTO,
            (MESSAGE, SERVER_ADDRESS),
            explain="The client sends the message you typed as one datagram.",
        ),
        Step(
            "server",
            "server",
            Call.RECVFROM,
            (65536,),
            timeout=RECEIVE_TIMEOUT,
            explain="The server receives exactly that datagram, and who sent it.",
        ),
        Step(
            "server",
            "server",
            Call.SENDTO,
            (ECHO, LAST_PEER),
            explain="The server sends it back to the sender.",
        ),
        Step(
            "client",
            "client",
            Call.RECVFROM,
            (65536,),
            timeout=RECEIVE_TIMEOUT,
            explain="The client receives the echoed datagram.",
        ),
    ),
    exchange_at=7,
)
