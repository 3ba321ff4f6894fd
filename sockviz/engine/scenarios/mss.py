"""``mss``: two hosts whose link carries packets of at most 1280 bytes - the MSS each SYN
offers, and a transfer's segments cut to fit.

The MTU is set on both hosts' devices (the link's ``mtu``), so each kernel knows it before
its first segment: what it offers in its SYN is that MTU less the IP and TCP headers, and
no segment it sends is bigger. (Path MTU discovery - a router in between with a smaller
MTU, and the ICMP that tells the sender - is not this lab.)
"""

from sockviz.engine.scenarios.common_steps import (
    IP,
    ONE_CONNECTION,
    client_connects,
    close,
    listener,
)
from sockviz.engine.scenarios.scenario_types import Expect, Scenario, Step
from sockviz.engine.states import Call

#: What the client sends: enough for several segments of the MSS this link allows.
SIZE = 8192

SCENARIO = Scenario(
    name="mss",
    summary="a 1280-byte MTU on the link: the MSS each SYN offers, and segments cut to fit",
    about=(
        "Two hosts joined by a link with a 20 ms delay, whose devices take packets of at "
        "most 1280 bytes (their MTU; loopback's is 65,536). In its SYN each kernel offers "
        "a maximum segment size (the mss option): the MTU less a 20-byte TCP header and "
        "the IP header - 20 bytes for IPv4, 40 for IPv6. Each side then sends segments "
        "no bigger than the smaller of the two offers, less the options every segment "
        "carries (timestamps: 12 bytes). The client sends 8 KiB: the packet lines of the "
        "handshake show each offer, and those under sendall() each segment's size - this "
        "run's numbers, read from the link."
    ),
    families=IP,
    link=("delay=20ms,mtu=1280", (), False),
    sockets=ONE_CONNECTION,
    steps=(
        *listener(),
        *client_connects(),
        Step(
            "server",
            "conn-1",
            Call.SETSOCKOPT,
            ("SOL_SOCKET", "SO_RCVLOWAT", SIZE),
            explain="SO_RCVLOWAT: conn-1 reads only once 8 KiB have come (its kernel says "
            "it is readable from then on), so its one recv() gets every segment's bytes.",
        ),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (bytes(range(256)) * (SIZE // 256),),
            explain="sendall() of 8 KiB: the kernel cuts it into segments no bigger than "
            "the MSS the server offered, less the options each carries.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (65536,),
            expect=Expect(nbytes=SIZE),
            explain="recv() returns once all 8 KiB have come (SO_RCVLOWAT): the bytes of "
            "every segment, at once.",
        ),
        close("client", "client", "The client closes."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="End of stream for the server."),
        close("server", "conn-1", "The server's connection closes."),
        close("server", "server", "The listener closes."),
    ),
)
