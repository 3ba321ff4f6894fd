"""``time-wait``: TIME_WAIT appears only on the side that closed first (``--closer``)."""

from sockviz.engine.scenarios.common_steps import IP, client_connects, listener
from sockviz.engine.scenarios.scenario_types import Scenario, SocketSpec, Step
from sockviz.engine.states import Call, Role, Transport


def build(closer: str = "client") -> Scenario:
    """The scenario with ``closer`` (``client`` or ``server``) closing first."""
    if closer not in ("client", "server"):
        raise ValueError(f"--closer must be client or server, not {closer!r}")
    first, second = ("client", "conn-1") if closer == "client" else ("conn-1", "client")
    first_actor = "client" if closer == "client" else "server"
    second_actor = "server" if closer == "client" else "client"
    return Scenario(
        name="time-wait",
        summary="TIME_WAIT (60 s) appears on the side that closes first (--closer)",
        about=(
            f"Here the {closer} closes first. The side that sends the first FIN ends in "
            "TIME_WAIT, which Linux holds a fixed 60 s (TCP_TIMEWAIT_LEN, not the 2 MSL of "
            "RFC 9293, and not tcp_fin_timeout): to ACK the peer's FIN again if that last "
            "ACK is lost, and so that late segments of this connection die out before a "
            "new one with the same addresses. The other side goes CLOSE_WAIT -> LAST_ACK -> "
            "gone. (Were both to close at once, both would pass CLOSING to TIME_WAIT.) Run "
            "again with --closer "
            f"{'server' if closer == 'client' else 'client'} to see it move."
        ),
        families=IP,
        sockets=(
            SocketSpec("server", Role.LISTENER, Transport.STREAM),
            SocketSpec("client", Role.CLIENT, Transport.STREAM),
            SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
        ),
        steps=(
            *listener(),
            *client_connects(),
            Step(
                first_actor,
                first,
                Call.CLOSE,
                explain=f"{first} closes first: its kernel sends FIN. {first} waits in "
                f"FIN_WAIT2 (closed by its program, it waits at most tcp_fin_timeout for "
                f"the peer's FIN: help shows this machine's); {second} is in CLOSE_WAIT.",
            ),
            Step(
                second_actor,
                second,
                Call.RECV,
                (1024,),
                explain=f"{second} reads 0 bytes: the peer has closed.",
            ),
            Step(
                second_actor,
                second,
                Call.CLOSE,
                explain=f"{second} closes: its FIN puts {first} into TIME_WAIT, and "
                f"{second}'s side is gone once {first} acknowledges it.",
            ),
            Step("server", "server", Call.CLOSE, explain="The listener closes."),
        ),
    )


SCENARIO = build("client")
