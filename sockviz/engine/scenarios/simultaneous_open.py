"""``simultaneous-open``: two programs connect() to each other at the same moment, neither
listening; their SYNs cross on the link and each end passes SYN-RECEIVED - a handshake of
four segments with no listener and no accept().

The two sockets bind to known addresses first (each on its own host, the run's port), and
one key makes both connect() calls, in two threads: with a key between them the first SYN
would have crossed, and found nothing listening (a reset), before the second was sent.
"""

from sockviz.engine.scenarios.common_steps import IP
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    AddressOf,
    Expect,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, Role, State, Transport

SCENARIO = Scenario(
    name="simultaneous-open",
    summary="two programs connect() to each other at once: the SYNs cross, no listener",
    about=(
        "Two hosts joined by a link with a 50 ms delay each way. Neither program listens: "
        "each binds its socket to a known address and connect()s to the other's, at the "
        "same moment (one key makes both calls, in two threads, the second 5 ms after the "
        "first: both SYNs are on the link before either crosses it). Each kernel sends a SYN "
        "and waits in SYN_SENT; the other's SYN arrives first - RFC 9293's simultaneous "
        "open. Each answers it with a SYN,ACK - its own SYN again (the same sequence number: "
        "the ladder and Wireshark mark it sent again, ↻), now acknowledging the other's - "
        "and waits in SYN_RECEIVED; when the other's SYN,ACK comes, acknowledging its own "
        "SYN, it is ESTABLISHED. One connection, two "
        "connect() calls, no accept(). The TCP state diagram (d) draws both paths from the "
        "segments this run's link carried; the cards show what each kernel said."
    ),
    families=IP,
    link=("delay=50ms", (), False),
    link_only=(
        "on loopback a SYN arrives within its sender's connect(): the other end, not yet "
        "connecting, answers it with a reset"
    ),
    sockets=(
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("peer", Role.CLIENT, Transport.STREAM, lane="server"),
    ),
    steps=(
        Step(
            "server",
            "peer",
            Call.SOCKET,
            explain="On the server's host, a program asks for a TCP socket - not to "
            "listen: it will connect, as a client does.",
        ),
        Step(
            "server",
            "peer",
            Call.BIND,
            (BIND_ADDRESS,),
            expect=Expect(state=State.BOUND),
            explain="peer binds to its host's address and a known port, so the client "
            "knows where to connect.",
        ),
        Step(
            "client",
            "client",
            Call.SOCKET,
            explain="On the client's host, the client asks for its own TCP socket.",
        ),
        Step(
            "client",
            "client",
            Call.BIND,
            (BIND_ADDRESS,),
            expect=Expect(state=State.BOUND),
            explain="The client binds too (its host's address, the same port): peer "
            "will connect to it.",
        ),
        Step(
            "client",
            "client",
            Call.CONNECT,
            (AddressOf("peer"),),
            together=True,
            one_key=True,
            expect=Expect(kernel="ESTABLISHED"),
            explain="The client connect()s to peer and peer connect()s to the client, "
            "on this one key, in two threads: each kernel sends a SYN before the other's "
            "can cross the link's 50 ms.",
        ),
        Step(
            "server",
            "peer",
            Call.CONNECT,
            (AddressOf("client"),),
            expect=Expect(kernel="ESTABLISHED"),
            explain="peer's connect(), made on the same key as the client's. A kernel "
            "waiting in SYN_SENT that receives a SYN answers it with a SYN,ACK "
            "(SYN_RECEIVED, RFC 9293's simultaneous open) and is ESTABLISHED when its own "
            "SYN is acknowledged; whether this run's SYNs crossed, the wire's words, the "
            "kernel badges and d say.",
        ),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (b"hello, peer",),
            explain="One connection, made by two connect() calls: the client sends on it.",
        ),
        Step("server", "peer", Call.RECV, (1024,), explain="peer reads the bytes."),
        Step("client", "client", Call.CLOSE, explain="The client closes: FIN."),
        Step(
            "server",
            "peer",
            Call.RECV,
            (1024,),
            expect=Expect(nbytes=0),
            explain="peer reads 0 bytes: end of stream.",
        ),
        Step("server", "peer", Call.CLOSE, explain="peer closes its end: FIN."),
    ),
)
