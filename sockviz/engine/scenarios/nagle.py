"""``nagle``: small writes, Nagle's algorithm and the delayed ACK - the 40 ms stall they make
together, and TCP_NODELAY taking it away."""

from sockviz.engine.scenarios.common_steps import (
    IP,
    ONE_CONNECTION,
    client_connects,
    close,
    listener,
)
from sockviz.engine.scenarios.scenario_types import Expect, Scenario, Step
from sockviz.engine.states import Call

HEAD, BODY = b"GET /", b" HTTP/1.0\r\n\r\n"
REQUEST = len(HEAD) + len(BODY)


def _write_write_read(explain_head: str, explain_body: str, explain_read: str) -> tuple[Step, ...]:
    """The client's request in two small writes, back to back on one key; the server
    reading until the whole request has come."""
    return (
        Step("client", "client", Call.SEND, (HEAD,), then=True, explain=explain_head),
        Step("client", "client", Call.SEND, (BODY,), explain=explain_body),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            size=REQUEST,
            expect=Expect(nbytes=REQUEST),
            explain=explain_read,
        ),
    )


SCENARIO = Scenario(
    name="nagle",
    summary="two small writes: Nagle's algorithm and the delayed ACK make a 40 ms stall; "
    "TCP_NODELAY takes it away",
    about=(
        "A program that writes a request in two small pieces (a write, a write, then a "
        "read) meets two kernel habits that each make sense alone. Nagle's algorithm: "
        "while bytes the client sent are unacknowledged, its kernel holds a small "
        "segment back, to send it with whatever comes next. The delayed ACK: the server's "
        "kernel does not acknowledge at once once a connection is interactive (it expects "
        "to answer with data, and the ACK can ride along), but after a timer - 40 ms at "
        "least on Linux. Together: the second piece waits for an ACK that waits for a "
        "timer. The run does it twice, one key making both writes each time (a key "
        "between them would give the timer time to run out): first as the kernel "
        "defaults, then with TCP_NODELAY, which turns Nagle off. A first exchange before "
        "makes the connection interactive (a new one acknowledges at once). The packet "
        "lines show when each piece left and what it waited for."
    ),
    families=IP,
    sockets=ONE_CONNECTION,
    steps=(
        *listener(),
        *client_connects(),
        Step(
            "client",
            "client",
            Call.SEND,
            (b"hello",),
            explain="A first exchange: the client says hello ...",
        ),
        Step("server", "conn-1", Call.RECV, (1024,), explain="... the server reads it ..."),
        Step(
            "server",
            "conn-1",
            Call.SEND,
            (b"hi",),
            explain="... and answers. Now the connection is interactive: its kernels delay "
            "their ACKs, hoping to send them with data.",
        ),
        Step("client", "client", Call.RECV, (1024,), explain="The client reads the answer."),
        *_write_write_read(
            f"The request, first piece: send() of {len(HEAD)} bytes. It goes at once: nothing "
            "is unacknowledged. The next piece is sent on this same key.",
            f"Second piece, at once after the first: send() of {len(BODY)} bytes. The kernel "
            "takes them - and, by Nagle's algorithm, holds them while the first piece is "
            "unacknowledged. The packet lines say when they left.",
            f"The server reads until the whole request ({REQUEST} bytes) has come: recv() "
            "after recv().",
        ),
        Step(
            "client",
            "client",
            Call.SETSOCKOPT,
            ("IPPROTO_TCP", "TCP_NODELAY", 1),
            explain="TCP_NODELAY: Nagle's algorithm off for this socket - each send() goes "
            "at once, however small.",
        ),
        *_write_write_read(
            "The same request again, first piece.",
            "Second piece, at once: with TCP_NODELAY it leaves at once too.",
            "The server reads the whole request.",
        ),
        close("client", "client", "The client closes."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="End of stream for the server."),
        close("server", "conn-1", "The server's connection closes."),
        close("server", "server", "The listener closes."),
    ),
)
