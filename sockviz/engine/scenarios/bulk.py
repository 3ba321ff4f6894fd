"""``bulk``: ``--size`` bytes over TCP, as fast as the kernel takes them."""

from sockviz.engine.scenarios.common import ALL, client_connects, listener
from sockviz.engine.scenarios.model import Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

CHUNK = 256 * 1024

SCENARIO = Scenario(
    name="bulk",
    summary="--size bytes (e.g. 64M, 4G) over TCP with a live throughput sparkline",
    about=(
        "A bulk transfer: the client sends --size bytes while the server reads them. "
        "sendall() is many send() calls, each taking what fits in the kernel's buffers - "
        "often less than offered (a partial send). The data phase is one step on each side; "
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
        Step("client", "client", Call.SENDALL, (CHUNK,), size=0, together=True, timeout=30,
             explain="sendall() of the whole size: send() after send(), as fast as the "
             "server's reading frees buffer space. Runs together with the server's reading."),
        Step("server", "conn-1", Call.RECV, (CHUNK,), size=0, timeout=30,
             explain="The server reads until every byte has come: recv() after recv()."),
        Step("client", "client", Call.CLOSE, explain="The client closes."),
        Step("server", "conn-1", Call.RECV, (1024,), explain="End of stream for the server."),
        Step("server", "conn-1", Call.CLOSE, explain="The server's connection closes."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
