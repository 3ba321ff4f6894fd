"""``nonblocking``: non-blocking sockets and an event loop - EAGAIN, EINPROGRESS then
writable, and a select() server loop where each readiness is a step."""

from sockviz.engine.scenarios.common_steps import IP, ONE_CONNECTION, close, listener
from sockviz.engine.scenarios.scenario_types import SERVER_ADDRESS, Expect, Scenario, Step
from sockviz.engine.states import Call

#: Seconds a select() waits at most.
WAIT = 2.0
HELLO = b"hello, event loop"


def _select(actor: str, reads: tuple[str, ...], writes: tuple[str, ...], why: str) -> Step:
    return Step(actor, (reads or writes)[0], Call.SELECT, (reads, writes, WAIT), explain=why)


def _off(actor: str, name: str, why: str) -> Step:
    return Step(actor, name, Call.SETBLOCKING, (False,), explain=why)


SCENARIO = Scenario(
    name="nonblocking",
    summary="non-blocking sockets: EAGAIN, EINPROGRESS then writable, and a select() loop",
    about=(
        "A blocking call waits: accept() until a client comes, recv() until bytes do. A "
        "server with many clients cannot wait on one of them. Made non-blocking "
        "(setblocking(False)), a call that would wait fails at once instead - EAGAIN, or "
        "EINPROGRESS for a connect() whose handshake goes on in the kernel - and the "
        "program asks the kernel which sockets are ready with select() (poll and epoll "
        "do the same), then makes only the calls that will not wait. Here each readiness "
        "select() reports is a step, and every call after it is made on a socket select() "
        "said was ready."
    ),
    families=IP,
    sockets=ONE_CONNECTION,
    steps=(
        *listener(),
        _off("server", "server", "setblocking(False): the listener's calls never wait now."),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            ("conn-1",),
            expect_error="EAGAIN",
            expect=Expect(error="EAGAIN"),
            explain="accept() with no client yet: a blocking one would wait; this one fails "
            "at once with EAGAIN.",
        ),
        Step("client", "client", Call.SOCKET, explain="The client asks for a stream socket."),
        _off("client", "client", "setblocking(False) on the client too."),
        Step(
            "client",
            "client",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            expect_error="EINPROGRESS",
            expect=Expect(error="EINPROGRESS"),
            explain="connect() returns at once with EINPROGRESS: the SYN is on its way and "
            "the handshake goes on in the kernel, without the program.",
        ),
        _select(
            "client",
            (),
            ("client",),
            "select() on the client for writing: it is ready once the handshake is done "
            "(a connect()ing socket becomes writable).",
        ),
        Step(
            "client",
            "client",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect() again: the handshake is over, and it reports how it ended - "
            "connected.",
        ),
        _select(
            "server",
            ("server",),
            (),
            "The server's loop: select() on the listener. Readable means a finished "
            "connection waits in its accept queue.",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            ("conn-1",),
            explain="accept() now cannot wait: select() said a connection was there.",
        ),
        _off("server", "conn-1", "setblocking(False) on the new connection too."),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            expect_error="EAGAIN",
            expect=Expect(error="EAGAIN"),
            explain="recv() before anything came: EAGAIN, at once.",
        ),
        Step(
            "client",
            "client",
            Call.SEND,
            (HELLO,),
            explain="The client sends a line (send() on a non-blocking socket takes what "
            "fits its buffer; a short line fits).",
        ),
        _select(
            "server",
            ("server", "conn-1"),
            (),
            "The loop: select() on the listener and the connection. Which is ready tells "
            "the server which call to make.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            expect=Expect(nbytes=len(HELLO)),
            explain="recv() on the one select() named: the line is there.",
        ),
        close("client", "client", "The client closes: its FIN goes out."),
        _select(
            "server",
            ("server", "conn-1"),
            (),
            "The loop again: the connection is readable - at end of stream, a recv() "
            "that returns 0 is ready too.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (1024,),
            expect=Expect(nbytes=0),
            explain="recv() returns 0: the client closed. The loop drops the connection.",
        ),
        close("server", "conn-1", "The server closes the connection."),
        close("server", "server", "The listener closes."),
    ),
)
