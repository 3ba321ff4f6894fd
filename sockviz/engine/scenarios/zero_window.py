"""``zero-window``: flow control - a reader that stops reading, the window that closes, the
sender's kernel probing it, and the window opening again when the reader reads."""

from sockviz.engine.scenarios.common_steps import IP, ONE_CONNECTION, close
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    SERVER_ADDRESS,
    Expect,
    Scenario,
    Step,
)
from sockviz.engine.states import Call

#: What the client sends: several times what the server's small buffer holds.
SIZE = 64 * 1024
#: The receive buffer the server asks for (the kernel doubles it, for its bookkeeping).
RCVBUF = 4096
#: The client's send buffer (doubled too).
SNDBUF = 16384
#: Seconds the server waits for another client while its connection's buffer is full: the
#: client's kernel probes the zero window 0.2 s and 0.6 s in (its timer doubles from the
#: 200 ms minimum RTO); the next probe, at 1.4 s, comes after it.
WAIT = 1.0

SCENARIO = Scenario(
    name="zero-window",
    summary="flow control: the reader stops reading, the window closes to 0, the sender probes",
    about=(
        "TCP's flow control: a receiver offers a window - how many more bytes it has room "
        "for - in every segment it sends, and the sender may not send beyond it. Here the "
        "server's connection has a small receive buffer and does not read. The client's "
        "send() of 64 KiB takes what fits in its own small buffer and says how much; its "
        "kernel sends from there as far as the server's window allows. Once the server's "
        "buffer is full its kernel offers a window of 0, and the client's may send nothing "
        "more: it asks now and then whether the window has opened (a zero-window probe: a "
        "segment with no new byte, which the receiver must answer with its window), on a "
        "timer that doubles each time. When the server reads, its kernel offers the window "
        "again (a window update) and the rest flows. The packet lines say each window this "
        "run's kernels offered, and G draws it."
    ),
    families=IP,
    sockets=ONE_CONNECTION,
    steps=(
        Step(
            "server",
            "server",
            Call.SOCKET,
            explain="The server asks the kernel for a new stream socket.",
        ),
        Step(
            "server",
            "server",
            Call.SETSOCKOPT,
            ("SOL_SOCKET", "SO_RCVBUF", RCVBUF),
            explain="SO_RCVBUF: a small receive buffer (4 KiB asked; the kernel doubles it "
            "for its bookkeeping). Set on the listener, before listen(): the connections it "
            "accepts take it, and their window is sized from it in the handshake.",
        ),
        Step(
            "server",
            "server",
            Call.BIND,
            (BIND_ADDRESS,),
            explain="bind() gives the listener its address.",
        ),
        Step("server", "server", Call.LISTEN, (5,), explain="listen() makes it a listener."),
        Step("client", "client", Call.SOCKET, explain="The client asks for a stream socket."),
        Step(
            "client",
            "client",
            Call.SETSOCKOPT,
            ("SOL_SOCKET", "SO_SNDBUF", SNDBUF),
            explain="SO_SNDBUF: a small send buffer for the client too (16 KiB asked, "
            "doubled), so that what it sends waits in its kernel where the class can count it.",
        ),
        Step(
            "client",
            "client",
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect(): the handshake. The server's SYN-ACK offers its first window, "
            "sized from its small buffer.",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            ("conn-1",),
            explain="accept() takes the connection: conn-1.",
        ),
        Step(
            "client",
            "client",
            Call.SEND,
            (bytes(range(256)) * (SIZE // 256),),
            explain="send() of 64 KiB: the kernel takes what fits in the client's send "
            "buffer and says how much (one call: it does not wait for room). Its kernel sends "
            "from the buffer as far as the server's window allows.",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            ("conn-2",),
            timeout=WAIT,
            expect_error="EAGAIN",
            expect=Expect(error="EAGAIN"),
            explain="The server does not read: it waits for another client instead (accept(), "
            "up to 1 s), and none comes. Meanwhile its connection's bytes wait in its buffer; "
            "the packet lines say what the two kernels said to each other about room.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (65536,),
            explain="The server reads once: recv() takes what its buffer held. The room "
            "that frees is a window its kernel offers the client's again.",
        ),
        close("client", "client", "The client closes."),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (65536,),
            size=1 << 30,
            timeout=60,
            explain="The server reads the rest: recv() after recv() until the end of the "
            "stream (the client's FIN, sent after its last byte). Each read frees room, and "
            "the client's kernel sends on into it.",
        ),
        close("server", "conn-1", "The server's connection closes."),
        close("server", "server", "The listener closes."),
    ),
)
