"""``simultaneous-close``: both ends close at once, so their FINs cross on the link and each
end passes CLOSING - the one state an ordinary close never shows - on its way to TIME_WAIT.

On loopback a FIN arrives within the sender's own close(): the other end has always read it
before it can close. Two hosts joined by a link with a delay put the two FINs on the wire at
the same time; the two close() calls are made together (one key, two threads), as two
programs closing at the same moment would.
"""

from sockviz.engine.scenarios.common_steps import IP, ONE_CONNECTION, client_connects, listener
from sockviz.engine.scenarios.scenario_types import Expect, Scenario, Step
from sockviz.engine.states import Call

SCENARIO = Scenario(
    name="simultaneous-close",
    summary="both ends close at once: the FINs cross on the link, both pass CLOSING to TIME_WAIT",
    about=(
        "Two hosts joined by a link with a 50 ms delay each way. After one exchange, the "
        "client and the server close their ends at the same moment (one key makes both "
        "close() calls, in two threads, the second 5 ms after the first). Each kernel "
        "sends its FIN and waits in FIN_WAIT1 "
        "for it to be acknowledged; instead the other end's FIN arrives first, sent before "
        "it had seen this one. RFC 9293 calls that CLOSING: each end acknowledges the FIN it "
        "received, and when the ACK of its own comes, it goes to TIME_WAIT. So both ends "
        "wait in TIME_WAIT, where an ordinary close leaves only the first closer there. The "
        "TCP state diagram (d) draws each end's path from the segments this run's link "
        "carried; the cards show what each kernel said."
    ),
    families=IP,
    link=("delay=50ms", (), False),
    link_only=(
        "on loopback a FIN arrives within its sender's close(): the other end has read "
        "it before it can close"
    ),
    sockets=ONE_CONNECTION,
    steps=(
        *listener(),
        *client_connects(),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (b"bye?",),
            explain="The client sends a few bytes, so the connection has carried data.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            expect=Expect(nbytes=4),
            explain="The server reads them.",
        ),
        Step(
            "client",
            "client",
            Call.CLOSE,
            together=True,
            one_key=True,
            explain="The client and the server close at the same moment: this key makes "
            "both close() calls, in two threads, so each end's FIN is on its way before "
            "the other's can cross the link's 50 ms.",
        ),
        Step(
            "server",
            "conn-1",
            Call.CLOSE,
            explain="conn-1's close(), made on the same key as the client's. An end that "
            "receives the other's FIN while its own is still unacknowledged is in what "
            "RFC 9293 calls CLOSING, and goes to TIME_WAIT when its FIN's ACK comes; "
            "whether this run's FINs crossed, the wire's words, the kernel badges and d "
            "say.",
        ),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
