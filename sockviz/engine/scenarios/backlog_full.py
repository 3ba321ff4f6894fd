"""``backlog-full``: listen(1), nobody accepting; the queue fills, a client waits in SYN_SENT."""

from sockviz.engine.scenarios.common_steps import IP, listener
from sockviz.engine.scenarios.scenario_types import SERVER_ADDRESS, Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

N = 3

SCENARIO = Scenario(
    name="backlog-full",
    loopback_only=(
        "its lesson needs every handshake done the moment it starts, and on a "
        "link each takes a round trip"
    ),
    summary="listen(1) and no accept() yet: two clients get in, the third waits in SYN_SENT",
    about=(
        "The kernel completes handshakes for a listener before the program calls accept(), "
        "and queues them - up to the backlog (Linux allows one more). When the queue is "
        "full, new SYNs are dropped: that client waits in SYN_SENT and sends its SYN again "
        "1 s later, then as this kernel's tcp_syn_linear_timeouts says (help shows it: with "
        "4, five retries 1 s apart, then the wait doubles; a kernel without the setting "
        "doubles from the first: 1 s, 3 s, 7 s ...). Once accept() makes room, its next try "
        "gets in. The listener's badge "
        "shows the queue: waiting/backlog. The clients connect without blocking, so you can "
        "watch them wait."
    ),
    families=IP,
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        *(SocketSpec(f"client-{i}", Role.CLIENT, Transport.STREAM) for i in range(1, N + 1)),
        *(SocketSpec(f"conn-{i}", Role.CONNECTION, Transport.STREAM) for i in range(1, N + 1)),
    ),
    steps=(
        *listener(backlog=1),
        *(
            step
            for i in range(1, N + 1)
            for step in (
                Step("client", f"client-{i}", Call.SOCKET, explain=f"Client {i} makes a socket."),
                Step(
                    "client",
                    f"client-{i}",
                    Call.CONNECT,
                    (SERVER_ADDRESS,),
                    wait=False,
                    expect_error="EINPROGRESS",
                    explain=(
                        "A non-blocking connect(): it returns at once with EINPROGRESS and "
                        "the handshake goes on in the kernel. "
                        + (
                            "There is room in the queue, so it completes (ESTABLISHED) though "
                            "nobody has called accept()."
                            if i < N
                            else "The queue is full (2 waiting for a backlog of 1): the kernel "
                            "drops this SYN, and the client waits in SYN_SENT."
                        )
                    ),
                ),
            )
        ),
        Step(
            "client",
            "client-1",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect() again tells the program how it went: 0, connected.",
        ),
        Step(
            "client",
            "client-2",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="Client 2 is connected too, still without any accept().",
        ),
        Step(
            "client",
            f"client-{N}",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            wait=False,
            expect_error="EALREADY",
            explain=f"Client {N} asks again: EALREADY, still trying. Its SYN keeps being "
            "dropped while the queue is full.",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            ("conn-1",),
            explain="accept() takes the first connection off the queue: room for one more.",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            ("conn-2",),
            explain="accept() takes the second. The queue is empty.",
        ),
        Step(
            "client",
            f"client-{N}",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain=f"Client {N} waits for its next SYN retry, which now finds room: the "
            "handshake completes and connect() reports success. (This one takes up to a few "
            "seconds: the retry timer is the kernel's.)",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            (f"conn-{N}",),
            explain=f"accept() returns client {N}'s connection.",
        ),
        *(
            Step("client", f"client-{i}", Call.CLOSE, explain=f"Client {i} closes.")
            for i in range(1, N + 1)
        ),
        *(
            Step("server", f"conn-{i}", Call.CLOSE, explain=f"conn-{i} closes.")
            for i in range(1, N + 1)
        ),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
