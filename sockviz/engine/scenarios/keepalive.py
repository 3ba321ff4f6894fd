"""``keepalive``: an idle connection whose client's kernel asks, now and then, whether the
server is still there - answered while the link works; then the link breaks, the probes go
unanswered, and the kernel gives the connection up."""

from sockviz.engine.scenarios.common_steps import IP, ONE_CONNECTION, close, listener
from sockviz.engine.scenarios.scenario_types import SERVER_ADDRESS, Expect, Scenario, Step
from sockviz.engine.states import Call

#: Seconds of quiet before the first probe, between probes, and probes unanswered.
IDLE, INTERVAL, COUNT = 1, 1, 3
#: The link breaks at its 6th packet: the handshake's three, the first keepalive and its
#: answer have crossed; from the second keepalive on, nothing does.
CUT = 6


def _option(name: str, value: int, why: str) -> Step:
    level = "SOL_SOCKET" if name.startswith("SO_") else "IPPROTO_TCP"
    return Step("client", "client", Call.SETSOCKOPT, (level, name, value), explain=why)


SCENARIO = Scenario(
    name="keepalive",
    summary="an idle connection probed by its kernel; the link breaks, the probes go "
    "unanswered, the connection is given up",
    about=(
        "TCP sends nothing on an idle connection: if the peer's host vanished, a program "
        "waiting in recv() would wait for ever. SO_KEEPALIVE asks the kernel to check: "
        "after TCP_KEEPIDLE seconds of quiet it sends a keepalive (a segment with no new "
        "byte, one below what the peer acknowledged), which the peer's kernel must answer "
        "with an ACK; unanswered, it tries again every TCP_KEEPINTVL seconds, and after "
        "TCP_KEEPCNT unanswered ones it gives the connection up: the waiting call fails "
        "with ETIMEDOUT. Linux's defaults are 7200 s, 75 s and 9; here 1 s, 1 s and 3. "
        "Two hosts joined by a 20 ms link that breaks at its 6th packet (--drop cut:6): "
        "the handshake and the first keepalive and its answer cross, nothing after them. "
        "The server's kernel hears nothing of it - not even the reset the client's kernel "
        "sends when it gives up - so for the server the connection is still open."
    ),
    families=IP,
    link=("delay=20ms", (f"cut:{CUT}",), False),
    link_only="its lesson is a link that breaks (loopback never does)",
    sockets=ONE_CONNECTION,
    steps=(
        *listener(),
        Step("client", "client", Call.SOCKET, explain="The client asks for a stream socket."),
        _option(
            "SO_KEEPALIVE",
            1,
            "SO_KEEPALIVE: the kernel checks on this connection when it has been idle.",
        ),
        _option(
            "TCP_KEEPIDLE",
            IDLE,
            f"TCP_KEEPIDLE: after {IDLE} s of quiet (Linux's default: 2 hours).",
        ),
        _option(
            "TCP_KEEPINTVL",
            INTERVAL,
            f"TCP_KEEPINTVL: again every {INTERVAL} s while unanswered (default 75 s).",
        ),
        _option(
            "TCP_KEEPCNT",
            COUNT,
            f"TCP_KEEPCNT: {COUNT} unanswered and the connection is given up (default 9).",
        ),
        Step(
            "client",
            "client",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect(): the handshake, over the 20 ms link.",
        ),
        Step("server", "server", Call.ACCEPT, ("conn-1",), explain="accept(): conn-1."),
        Step(
            "client",
            "client",
            Call.RECV,
            (1024,),
            timeout=30,
            expect_error="ETIMEDOUT",
            expect=Expect(error="ETIMEDOUT"),
            explain="The client waits for the server to say something - it never does. "
            "Meanwhile its kernel's keepalives are on the packet lines: the first answered, "
            "then the link breaks. After the unanswered ones, recv() fails with ETIMEDOUT.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            timeout=1,
            expect_error="EAGAIN",
            expect=Expect(error="EAGAIN"),
            explain="The server waits a second for the client: nothing comes - not even the "
            "client's kernel's reset, lost on the broken link. Its kernel still says the "
            "connection is open (a half-open connection).",
        ),
        close("client", "client", "The client closes its failed socket."),
        close("server", "conn-1", "The server closes conn-1: its FIN is lost on the link."),
        close("server", "server", "The listener closes."),
    ),
)
