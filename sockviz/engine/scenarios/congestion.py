"""``congestion``: the same transfer under each congestion control this kernel has, one
after another over the same thin link with a bounded queue - the loss and recovery each
makes, and their time-sequence graphs side by side (``G``, and ``x`` exports them)."""

from __future__ import annotations

from pathlib import Path

from sockviz.engine.scenarios.common_steps import IP, listener
from sockviz.engine.scenarios.scenario_types import SERVER_ADDRESS, Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport

#: Where the kernel lists the congestion controls it has (built in or loaded).
AVAILABLE = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")
#: The order they are compared in: the oldest first; others after, as the kernel lists them.
ORDER = ("reno", "cubic", "bbr")
#: At most this many (each a transfer of --size).
MOST = 4
CHUNK = 64 * 1024


def available(path: Path = AVAILABLE) -> tuple[str, ...]:
    """The congestion controls this kernel has, read now: the ones sockviz describes first,
    in :data:`ORDER` (``cubic`` alone where the list cannot be read: Linux's default)."""
    try:
        names = path.read_text().split()
    except OSError:
        names = []
    names = [n for n in names if n.replace("_", "").isalnum() and len(n) <= 15]
    ordered = [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]
    return tuple(ordered[:MOST]) or ("cubic",)


def _one(name: str, i: int) -> tuple[Step, ...]:
    conn = f"conn-{i}"
    return (
        Step("client", name, Call.SOCKET, explain=f"A client socket for {name}."),
        Step(
            "client",
            name,
            Call.SETSOCKOPT,
            ("IPPROTO_TCP", "TCP_CONGESTION", name.encode()),
            explain=f"TCP_CONGESTION: this socket's sending is paced by {name}, whatever "
            "the host's default (net.ipv4.tcp_congestion_control) is.",
        ),
        Step(
            "client",
            name,
            Call.CONNECT,
            (SERVER_ADDRESS,),
            explain="connect(): the handshake, over the 40 ms link.",
        ),
        Step(
            "server",
            "server",
            Call.ACCEPT,
            (conn,),
            explain=f"accept() returns {conn}, this client's connection.",
        ),
        Step(
            "client",
            name,
            Call.SENDALL,
            (CHUNK,),
            size=0,
            together=True,
            timeout=60,
            explain=f"sendall() of the whole size, paced by {name}: how much it puts on the "
            "link at once is its congestion window. The link's queue holds 20 packets; one "
            "more is lost, and the kernel finds out from the ACKs.",
        ),
        Step(
            "server",
            conn,
            Call.RECV,
            (CHUNK,),
            size=0,
            timeout=60,
            explain="The server reads until every byte has come.",
        ),
        Step("client", name, Call.CLOSE, explain=f"{name}'s client closes."),
        Step("server", conn, Call.RECV, (1024,), explain="End of stream."),
        Step("server", conn, Call.CLOSE, explain=f"{conn} closes."),
    )


def build(names: tuple[str, ...] | None = None) -> Scenario:
    """The scenario for ``names`` (default: what this kernel has, :func:`available`)."""
    names = names or available()
    listed = ", ".join(names)
    return Scenario(
        name="congestion",
        summary=f"one transfer under each congestion control this kernel has ({listed}), "
        "over a bounded queue",
        about=(
            "Two hosts joined by a link of 8 Mbit/s and 20 ms each way whose queue holds "
            "20 packets, as a router's does: a packet that comes when 20 wait their turn "
            "is lost. The same transfer runs once under each congestion control this "
            f"kernel has ({listed}; read from tcp_available_congestion_control when sockviz "
            "started), each chosen for its socket with setsockopt(TCP_CONGESTION). "
            "Loss-based ones (Reno, CUBIC) grow their window until the queue overflows, "
            "then back off; BBR paces its sending to the bandwidth it measures. Each "
            "client card shows its kernel's RTT, congestion window and retransmissions as "
            "they change; G draws each transfer's time-sequence graph, one after another, "
            "and x writes them all into one picture."
        ),
        families=IP,
        bulk=True,
        default_size=512 * 1024,
        link=("delay=20ms,rate=8mbit,queue=20", (), False),
        link_only=(
            "its lesson is the link's bounded queue overflowing (on loopback nothing is "
            "lost, and an unprivileged user may not choose every congestion control)"
        ),
        sockets=(
            SocketSpec("server", Role.LISTENER, Transport.STREAM),
            *(SocketSpec(name, Role.CLIENT, Transport.STREAM) for name in names),
            *(
                SocketSpec(f"conn-{i}", Role.CONNECTION, Transport.STREAM)
                for i in range(1, len(names) + 1)
            ),
        ),
        steps=(
            *listener(),
            *(step for i, name in enumerate(names, 1) for step in _one(name, i)),
            Step("server", "server", Call.CLOSE, explain="The listener closes."),
        ),
    )


SCENARIO = build()
