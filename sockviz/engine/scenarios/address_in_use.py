"""``address-in-use``: EADDRINUSE, and what SO_REUSEADDR does and does not allow."""

from sockviz.engine.scenarios.common_steps import IP, client_connects, listener
from sockviz.engine.scenarios.scenario_types import AddressOf, Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

SERVER = AddressOf("server")

SCENARIO = Scenario(
    name="address-in-use",
    summary="a second bind() to a taken port fails (EADDRINUSE); SO_REUSEADDR and TIME_WAIT",
    about=(
        "A port can have one listener. A second socket's bind() fails with EADDRINUSE, even "
        "with SO_REUSEADDR. Then the server closes a connection first, leaving TIME_WAIT on "
        "its port: after the listener is gone, a new bind() still fails without "
        "SO_REUSEADDR, and succeeds with it - on Linux because the listener that "
        "connection came from had SO_REUSEADDR too (a connection inherits it); had it not, "
        "the new bind() would fail even with the option. That is what SO_REUSEADDR is for."
    ),
    families=IP,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("second", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
        SocketSpec("third", Role.LISTENER, Transport.STREAM),
    ),
    steps=(
        *listener(),
        Step(
            "server",
            "second",
            Call.SOCKET,
            explain="A second socket, which will try to take the same port.",
        ),
        Step(
            "server",
            "second",
            Call.SETSOCKOPT,
            ("SOL_SOCKET", "SO_REUSEADDR", 1),
            explain="Even with SO_REUSEADDR set on both sockets...",
        ),
        Step(
            "server",
            "second",
            Call.BIND,
            (SERVER,),
            expect_error="EADDRINUSE",
            explain="...bind() to a port that has a listener fails: EADDRINUSE. SO_REUSEADDR "
            "does not let two sockets listen on one port.",
        ),
        Step("server", "second", Call.CLOSE, explain="The second socket gives up."),
        *client_connects(),
        Step(
            "server",
            "conn-1",
            Call.CLOSE,
            explain="This time the SERVER closes the connection first, so the server's side "
            "will be the one left in TIME_WAIT, on the server's own port.",
        ),
        Step(
            "client",
            "client",
            Call.RECV,
            (1024,),
            explain="The client reads end of stream (0 bytes)...",
        ),
        Step(
            "client",
            "client",
            Call.CLOSE,
            explain="...and closes. conn-1's side of the connection is now in TIME_WAIT.",
        ),
        Step(
            "server",
            "server",
            Call.CLOSE,
            explain="The listener closes too. Nothing listens on the port now; only the "
            "TIME_WAIT entry remains.",
        ),
        Step(
            "server",
            "third",
            Call.SOCKET,
            explain="A restarted server makes a new socket for the same port.",
        ),
        Step(
            "server",
            "third",
            Call.BIND,
            (SERVER,),
            expect_error="EADDRINUSE",
            explain="Without SO_REUSEADDR, bind() fails: the TIME_WAIT connection still "
            "holds the port. (This is the 'address already in use' after a restart.)",
        ),
        Step(
            "server",
            "third",
            Call.SETSOCKOPT,
            ("SOL_SOCKET", "SO_REUSEADDR", 1),
            explain="SO_REUSEADDR allows binding a port whose only users are in TIME_WAIT "
            "- on Linux only when they had it set as well: the old listener did, and its "
            "connection inherited it.",
        ),
        Step(
            "server",
            "third",
            Call.BIND,
            (SERVER,),
            explain="Now bind() succeeds, while the old connection is still in TIME_WAIT.",
        ),
        Step("server", "third", Call.LISTEN, (5,), explain="And the new server listens."),
        Step("server", "third", Call.CLOSE, explain="Done: the new listener closes."),
    ),
)
