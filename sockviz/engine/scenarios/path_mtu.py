"""``path-mtu``: two hosts whose devices take 1500-byte packets, joined through a router whose
next hop takes only 1280 - path MTU discovery: the too-big segments, the router's ICMP
error, and the sender's kernel sending the bytes again in segments that fit."""

from sockviz.engine.scenarios.common_steps import (
    IP,
    ONE_CONNECTION,
    client_connects,
    close,
    listener,
)
from sockviz.engine.scenarios.scenario_types import Expect, Scenario, Step
from sockviz.engine.states import Call

#: What the client sends: enough for several full-size segments.
SIZE = 8192
#: The router's next hop's MTU (the hosts' own devices take 1500).
PMTU = 1280

SCENARIO = Scenario(
    name="path-mtu",
    summary=f"a router whose next hop takes {PMTU} bytes: ICMP 'too big', and the sender "
    "cutting its segments to fit (path MTU discovery)",
    about=(
        "Two hosts whose devices take packets of 1500 bytes, so each SYN offers an MSS "
        "that fills them - but between them a router (the link) whose next hop takes at "
        f"most {PMTU}. The client sends 8 KiB: its first full-size segments, marked "
        "\"don't fragment\" as Linux's TCP marks every one, are too big for the router, "
        "which does not carry them and tells the client's kernel so with an ICMP error "
        '(IPv4 "fragmentation needed", IPv6 "packet too big") that names the MTU it can '
        "take. The client's kernel lowers what it sends to that host (its path MTU) and "
        "sends the same bytes again in segments that fit - this run's sizes are on the "
        "packet lines, and G draws the bars too big and the ones sent again."
    ),
    families=IP,
    link=(f"delay=20ms,pmtu={PMTU}", (), False),
    link_only="its lesson is a router on the way (loopback has none)",
    sockets=ONE_CONNECTION,
    steps=(
        *listener(),
        *client_connects(),
        Step(
            "server",
            "conn-1",
            Call.SETSOCKOPT,
            ("SOL_SOCKET", "SO_RCVLOWAT", SIZE),
            explain="SO_RCVLOWAT: conn-1 reads only once 8 KiB have come, so its one recv() "
            "gets every segment's bytes.",
        ),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (bytes(range(256)) * (SIZE // 256),),
            explain="sendall() of 8 KiB: the kernel cuts it into segments as big as the MSS "
            "allows - too big for the router's next hop, as the packet lines show.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (65536,),
            expect=Expect(nbytes=SIZE),
            explain="recv() returns once all 8 KiB have come: those sent again in smaller "
            "segments too.",
        ),
        close("client", "client", "The client closes."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="End of stream for the server."),
        close("server", "conn-1", "The server's connection closes."),
        close("server", "server", "The listener closes."),
    ),
)
