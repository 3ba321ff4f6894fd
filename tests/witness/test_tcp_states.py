"""The TCP state diagram's paths against the kernel, on live runs of every TCP scenario.

The diagram moves each end by the segments sockviz captured and the calls it made; the
kernel's own readings of the same sockets (``TCP_INFO`` while held, sock_diag after) share
nothing with that capture. Every state the kernel reported must lie on the path the
segments drew, in the order it was read, and the path must end where the kernel last said;
every move must be an arrow of RFC 9293's diagram (or a reset, or TIME-WAIT's timer).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sockviz.engine.events import CallEvent, KernelEvent, Segment, WireStatus
from sockviz.engine.record.trace_format import from_record
from sockviz.view import tcp_diagram as td
from tests.witness.test_packets import FAMS
from tests.witness.test_packets import runs as packet_runs
from tests.witness.witnesses import Run, no_mismatch, run_all, scratch


def runs(family: str) -> list[tuple[str, ...]]:
    """test_packets' runs of one family that are TCP (not udp-echo, udp-loss), without its
    faults (a drop's lesson is the wire). Each family is a test of its own."""
    return [
        r
        for r in packet_runs(family)
        if not any(a.startswith("udp-") for a in r) and "--drop" not in r
    ]


def check(run: Run) -> list[str]:
    events = [from_record(r) for r in run.records]
    if not any(isinstance(e, Segment) and e.proto == "TCP" for e in events):
        return ["no TCP segment captured: the diagram had only the kernel to go by"]
    d = td.on_wire(td.Diagrams(), WireStatus("host"))
    readings: dict[tuple[str, str], list[str]] = {}
    for e in events:
        d = td.fold(d, e)
        kernel = e.kernel if isinstance(e, (CallEvent, KernelEvent)) else None
        if kernel and e.local and e.remote and e.type == "SOCK_STREAM":
            seen = readings.setdefault((e.local, e.remote), [])
            state = td.KERNEL_NAMES[kernel]
            if not seen or seen[-1] != state:
                seen.append(state)
    problems = []
    compared = 0
    for c in d.connections:
        for end in c.ends:
            path = list(end.path)
            for m in end.moves:
                reset = m.after == td.CLOSED and "RST" in m.why
                forgot = (m.before, m.after) == (td.TIME_WAIT, td.CLOSED)
                if (m.before, m.after) not in td.ARROWS and not (reset or forgot):
                    problems.append(f"{end.name}: {m.before} -> {m.after} is no arrow ({m.why})")
            said = readings.get((end.address, end.peer), [])
            if not said:
                continue
            compared += 1
            at = 0
            for state in said:
                if state not in path[at:]:
                    problems.append(f"{end.name}: the kernel said {said}, the wire drew {path}")
                    break
                at = path.index(state, at)
            if end.state != said[-1]:
                problems.append(f"{end.name}: ends {end.state}, the kernel last said {said[-1]}")
    if compared == 0 and "refused" not in run.name:
        problems.append("no end of any connection had a kernel reading to compare")
    return problems


@pytest.mark.parametrize("family", FAMS)
def test_every_tcp_scenarios_diagram_follows_its_kernel(family):
    with scratch() as place:
        done = run_all(runs(family), Path(place), pcap=False)
    problems = []
    for run in done:
        problems += [f"[{run.name}] {p}" for p in check(run)]
    no_mismatch(problems)
