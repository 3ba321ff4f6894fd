"""``slow-link``: a bulk transfer over a long, thin link - the kernel's congestion control,
drawn by the kernel (which one is this machine's setting, named from the run's own reading)."""

from sockviz.engine.scenarios.bulk import transfer
from sockviz.engine.scenarios.common_steps import IP, client_connects, listener
from sockviz.engine.scenarios.scenario_types import Scenario, SocketSpec
from sockviz.engine.states import Role, Transport

SCENARIO = Scenario(
    name="slow-link",
    summary="1 MiB over a 40 ms, 8 Mbit/s link: congestion control and the window growing",
    about=(
        "Two hosts joined by a long, thin link: 40 ms each way, 8 Mbit/s. A new connection "
        "does not know how much the path can carry, so the sender's kernel starts with a "
        "congestion window of 10 segments and may have only that many unacknowledged at "
        "once. How it goes on is its congestion control's choice: the hosts' "
        "net.ipv4.tcp_congestion_control, read at the start (help shows it; the transfer's "
        "story names it and says what it does). Reno and CUBIC grow the window in slow "
        "start, about doubling it every round trip; BBR paces its sending at a multiple of "
        "the bandwidth it measures. Over this link 10 segments take 80 ms to come back "
        "acknowledged, so the first round trips move little: that is why the first request "
        "over a long link is slow. Once the sender puts more on the link than it carries, "
        "segments wait in the link's queue (it has no limit) and the kernel's measured RTT "
        "grows with the queue. The "
        "client card shows the kernel's RTT, congestion window and retransmissions "
        "(TCP_INFO) as they change, ten times a second."
    ),
    families=IP,
    bulk=True,
    default_size=1 << 20,
    link=("delay=40ms,rate=8mbit", (), False),
    sockets=(
        SocketSpec("server", Role.LISTENER, Transport.STREAM),
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
    ),
    steps=(
        *listener(),
        *client_connects(),
        *transfer(
            "sendall() of the whole size. The kernel takes what fits its buffers; what it "
            "may put on the link is bounded by the congestion window, which starts at 10 "
            "segments and grows as the kernel's congestion control decides (the story "
            "below names it, from this run's settings).",
            "The server reads until every byte has come - at the link's pace.",
            60,
        ),
    ),
)
