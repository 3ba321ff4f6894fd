"""``tcp-echo``: the whole life of a TCP connection, from ``socket()`` to TIME_WAIT.

The order of calls is chosen so that every call completes at once, which is what lets a
teacher run it one key press at a time: the client's ``connect`` comes before the
server's ``accept`` (the kernel finishes the handshake on its own and queues the
connection), and every ``recv`` comes after the ``send`` it will read. The client closes
first, so the client is the side that ends in TIME_WAIT.
"""

from sockviz.engine.scenarios.common_steps import ALL, IP
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    ECHO,
    MESSAGE,
    SERVER_ADDRESS,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, Role, Transport

GREETING = b"hello, sockviz"

SCENARIO = Scenario(
    name="tcp-echo",
    summary="a TCP client connects, sends a line, the server echoes it, both close (TIME_WAIT)",
    about=(
        "The classic echo: the server makes a listening socket, the client connects, sends "
        "a short text and reads it back. Both close; the side that closed first keeps the "
        "connection in TIME_WAIT for 60 s (Linux's fixed TCP_TIMEWAIT_LEN)."
    ),
    families=ALL,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
    ),
    steps=(
        Step(
            "server",
            "server",
            Call.SOCKET,
            explain="The server asks the kernel for a new TCP socket: an endpoint for a byte "
            "stream. It gets a file descriptor, but no address yet.",
        ),
        Step(
            "server",
            "server",
            Call.SETSOCKOPT,
            ("SOL_SOCKET", "SO_REUSEADDR", 1),
            only=IP,
            explain="SO_REUSEADDR lets a restarted server bind its port again while old "
            "connections on it wait in TIME_WAIT - on Linux only if the sockets that left "
            "them had it set too (this listener, which its connections inherit it from); "
            "a listener still open on the port makes bind() fail all the same.",
        ),
        Step(
            "server",
            "server",
            Call.BIND,
            (BIND_ADDRESS,),
            explain="bind() gives the socket its address (IP + port, or a file path for a Unix "
            "socket), so clients know where to find it. Port 0 asks the kernel to pick a "
            "free port.",
        ),
        Step(
            "server",
            "server",
            Call.LISTEN,
            (5,),
            explain="listen() makes it a listener: from now on the kernel answers handshakes "
            "for it and queues finished connections until accept() takes them: Linux "
            "admits one more than the backlog, 6 for listen(5).",
        ),
        Step(
            "client",
            "client",
            Call.SOCKET,
            explain="The client asks for its own TCP socket.",
        ),
        Step(
            "client",
            "client",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect() runs TCP's three-way handshake (SYN, SYN-ACK, ACK). The client "
            "never called bind(), so the kernel gives it an address now, with an ephemeral "
            "port. The handshake completes before the server calls accept().",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            ("conn-1",),
            explain="accept() takes the finished connection off the listener's queue and "
            "returns a new socket, conn-1, for talking to this one client. The listener "
            "goes on listening.",
        ),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (GREETING,),
            explain="sendall() hands the bytes to the kernel, which carries them over the "
            "connection into the server's receive buffer.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            explain="recv() returns whatever bytes have arrived, up to 1024. TCP carries a "
            "stream of bytes, not messages.",
        ),
        Step(
            "server",
            "conn-1",
            Call.SENDALL,
            (ECHO,),
            explain="The server sends the very same bytes back: that is the echo.",
        ),
        Step(
            "client",
            "client",
            Call.RECV,
            (1024,),
            explain="The client reads the echo from its receive buffer.",
        ),
        Step(
            "client",
            "client",
            Call.CLOSE,
            explain="The client closes first. Its kernel sends FIN; once the server's kernel "
            "acknowledges it, the client waits in FIN_WAIT2 and the server's side of the "
            "connection sits in CLOSE_WAIT until the server closes too.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            explain="recv() returns 0 bytes: end of stream. That is how a program learns "
            "that its peer has closed.",
        ),
        Step(
            "server",
            "conn-1",
            Call.CLOSE,
            explain="The server closes its connection socket. Its FIN reaches the client, "
            "which ACKs it and enters TIME_WAIT: Linux holds it a fixed 60 s "
            "(TCP_TIMEWAIT_LEN; RFC 9293 says 2 MSL), to send that ACK again if it is lost "
            "and the server's FIN comes again, and so late segments of this connection "
            "die out before a new one with the same addresses.",
        ),
        Step(
            "server",
            "server",
            Call.CLOSE,
            explain="Closing the listener stops new connections and frees the port.",
        ),
    ),
    exchange=(
        Step(
            "client",
            "client",
            Call.SENDALL,
            (MESSAGE,),
            explain="The client sends the message you typed over the same connection.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (65536,),
            explain="The server reads it. A short message on loopback arrives in one piece; "
            "TCP itself promises only the bytes and their order, not the pieces.",
        ),
        Step(
            "server",
            "conn-1",
            Call.SENDALL,
            (ECHO,),
            explain="The server echoes your message back.",
        ),
        Step(
            "client",
            "client",
            Call.RECV,
            (65536,),
            explain="The client reads the echo of your message.",
        ),
    ),
    exchange_at=11,
)
