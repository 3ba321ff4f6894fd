"""``udp-loss``: UDP on a lossy link - datagrams lost without anyone being told - then a
datagram to a port where nothing listens, the ICMP port unreachable its host's kernel
answers, and the connected socket's next call failing with ECONNREFUSED."""

from sockviz.engine.scenarios.common_steps import IP
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    SERVER_ADDRESS,
    Expect,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, Role, Transport

#: The datagrams the client sends while the server listens.
SENT = 4
#: The link's random loss, and its seed: with these, the link loses one of the four (the
#: same one every run: the seed decides per datagram) and nothing after.
LOSS, SEED = 25, 20


def _datagram(n: int) -> bytes:
    return f"datagram {n}".encode()


SCENARIO = Scenario(
    name="udp-loss",
    summary="UDP over a lossy link: datagrams lost without notice; then ICMP port "
    "unreachable, and ECONNREFUSED",
    about=(
        "UDP sends each datagram once and never hears whether it arrived: no "
        "acknowledgement, no retransmission. Two hosts joined by a 20 ms link that loses "
        f"{LOSS}% of packets at random (seed {SEED}: the same ones every run). The client "
        "connects its UDP socket (which only sets the address it talks to: nothing "
        f"crosses) and sends {SENT} datagrams; every send() succeeds. The server reads "
        "what came; the one the link lost is simply not there, and its last read waits in "
        "vain. Then the server closes its socket, and the client sends once more: the "
        "server's kernel finds nothing listening on that port and answers with an ICMP "
        "port unreachable, which crosses the link back. The client's socket is connected, "
        "so its kernel tells it: the next recv() fails with ECONNREFUSED."
    ),
    families=IP,
    link=(f"delay=20ms,loss={LOSS}%,seed={SEED}", (), False),
    link_only="its lesson is a link that loses datagrams (loopback never does)",
    sockets=(
        SocketSpec("server", Role.SERVER, Transport.DGRAM),
        SocketSpec("client", Role.CLIENT, Transport.DGRAM),
    ),
    steps=(
        Step("server", "server", Call.SOCKET, explain="The server asks for a datagram socket."),
        Step(
            "server",
            "server",
            Call.BIND,
            (BIND_ADDRESS,),
            explain="bind() gives it the server host's address and a port.",
        ),
        Step("client", "client", Call.SOCKET, explain="The client asks for a datagram socket."),
        Step(
            "client",
            "client",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect() on a UDP socket sends nothing: it sets the one address the "
            "socket sends to and hears from - and asks its kernel to report errors about it.",
        ),
        *(
            Step(
                "client",
                "client",
                Call.SEND,
                (_datagram(n),),
                explain=f"send() of datagram {n}: it returns as soon as the datagram is on "
                "its way - whether it arrives, nobody will say.",
            )
            for n in range(1, SENT + 1)
        ),
        *(
            Step(
                "server",
                "server",
                Call.RECVFROM,
                (1024,),
                timeout=1,
                expect_error="EAGAIN" if n == SENT else None,
                explain="recvfrom() takes the next datagram that came, in the order they came"
                + (
                    " - or, once none is left, waits a second in vain (EAGAIN): the one the "
                    "link lost is not coming."
                    if n == SENT
                    else "."
                ),
            )
            for n in range(1, SENT + 1)
        ),
        Step(
            "server",
            "server",
            Call.CLOSE,
            explain="The server closes its socket: nothing listens on its port now.",
        ),
        Step(
            "client",
            "client",
            Call.SEND,
            (b"anyone there?",),
            explain="send() of one more datagram: it succeeds - the client's kernel does not "
            "know yet that nobody is listening.",
        ),
        Step(
            "client",
            "client",
            Call.RECV,
            (1024,),
            timeout=2,
            expect_error="ECONNREFUSED",
            expect=Expect(error="ECONNREFUSED"),
            explain="recv() on the connected socket: it fails with ECONNREFUSED, the ICMP "
            "error its kernel received, reported to the socket it was about.",
        ),
        Step("client", "client", Call.CLOSE, explain="The client closes its socket."),
    ),
)
