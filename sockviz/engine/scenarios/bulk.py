"""``bulk``: ``--size`` bytes over TCP, as fast as the kernel takes them."""

from sockviz.engine.scenarios.common_steps import ALL, client_connects, listener
from sockviz.engine.scenarios.scenario_types import Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

CHUNK = 256 * 1024


def transfer(send: str, receive: str, timeout: float) -> tuple[Step, ...]:
    """The data phase and the goodbyes of a bulk scenario: the client's sendall of
    ``--size`` bytes running together with the server's reading (explained by ``send`` and
    ``receive``; each may wait ``timeout`` seconds for the other), then both close."""
    return (
        Step(
            "client",
            "client",
            Call.SENDALL,
            (CHUNK,),
            size=0,
            together=True,
            timeout=timeout,
            explain=send,
        ),
        Step("server", "conn-1", Call.RECV, (CHUNK,), size=0, timeout=timeout, explain=receive),
        Step("client", "client", Call.CLOSE, explain="The client closes."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="End of stream for the server."),
        Step("server", "conn-1", Call.CLOSE, explain="The server's connection closes."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    )


SCENARIO = Scenario(
    name="bulk",
    summary="--size bytes (e.g. 64M, 4G) over TCP with a live throughput sparkline",
    about=(
        "A bulk transfer: the client sends --size bytes while the server reads them. "
        "sendall() is many send() calls, each taking what fits in the kernel's buffers - "
        "often less than offered (a partial send), because sockviz keeps its sockets "
        "non-blocking (a blocking send() would wait until it had taken it all). The data "
        "phase is one step on each side; "
        "the counters and the sparkline follow it live."
    ),
    families=ALL,
    bulk=True,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
    ),
    steps=(
        *listener(),
        *client_connects(),
        *transfer(
            "sendall() of the whole size: send() after send(), as fast as the server's "
            "reading frees buffer space. Runs together with the server's reading.",
            "The server reads until every byte has come: recv() after recv().",
            30,
        ),
    ),
)
