"""What ``--drop`` (or a scenario's ``[link] drop``) can lose in a scenario, known before it
runs from its sockets and calls alone; no Textual, no engine run."""

from __future__ import annotations

from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.states import Call, Transport

#: The kinds of segment --drop names, as they are said in a sentence.
SAID = {
    "syn": "SYN",
    "syn-ack": "SYN-ACK",
    "ack": "bare ACK",
    "data": "data segment",
    "fin": "FIN",
}


def never_dropped(scenario: Scenario, drops: tuple[str, ...]) -> tuple[str, str] | None:
    """The first drop that can never happen in ``scenario``, and why - known before it
    runs from its sockets and calls alone: UDP only (no TCP segment at all), no connect()
    that is meant to succeed (no SYN-ACK, no data, no FIN: only a SYN and what answers it),
    nothing ever sent (no data). None: each may happen (whether the Nth one comes is known
    at the end of the run)."""
    stream = {s.name for s in scenario.sockets if s.transport is Transport.STREAM}
    steps = [s for s in (*scenario.steps, *scenario.exchange) if s.socket in stream]
    connects = [s for s in steps if s.call is Call.CONNECT]
    sends = scenario.bulk or any(s.call in (Call.SEND, Call.SENDALL, Call.SENDTO) for s in steps)
    for text in drops:
        kind = text.strip().lower().partition(":")[0]
        if kind == "cut":  # (the link broken: every packet from the Nth on, of any kind)
            continue
        if not stream:
            return (
                text,
                f"{scenario.name} sends UDP datagrams only, and --drop loses TCP "
                "segments (syn, syn-ack, ack, data, fin); --link loss=N% loses "
                "datagrams too",
            )
        if not connects:
            return (
                text,
                f"{scenario.name} never calls connect() on a TCP socket, so no "
                "TCP segment crosses the link",
            )
        if kind in ("syn-ack", "data", "fin") and all(s.expect_error for s in connects):
            return (
                text,
                f"{scenario.name}'s connect() is meant to fail, so no {SAID[kind]} "
                "crosses the link: only a SYN and what answers it",
            )
        if kind == "data" and not sends:
            return (
                text,
                f"{scenario.name} sends no bytes over TCP, so no data segment crosses the link",
            )
    return None
