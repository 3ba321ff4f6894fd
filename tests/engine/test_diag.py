"""The kernel's state of a closed connection asked by exact lookup (socket diagnostics over
netlink) says what /proc/net/tcp{,6} says - the same states, the same timers - on every
scenario, IPv4 and IPv6; and where netlink is refused, /proc is read instead, with the same
trace."""

from __future__ import annotations

import json
import socket
import sys
import time

import pytest

from sockviz.engine.events import CallEvent
from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.kernel.sock_diag import open_diag
from sockviz.engine.record.trace_format import to_record
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
from sockviz.engine.states import State
from tests.conftest import FAMILIES
from tests.helpers import on_loopback

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or open_diag() is None,
    reason="needs netlink socket diagnostics (Linux)",
)
TCP = sorted(name for name in on_loopback() if name not in ("udp-echo", "bulk"))


def both_sources(runner: Runner, diag) -> list[tuple]:
    """For every closed TCP socket of the run now: (name, netlink's view, /proc's view)."""
    out = []
    for ts in list(runner.tracer.sockets):
        if ts.state is not State.CLOSED or ts.last_local is None or not ts.watchable:
            continue
        six = ts.family == socket.AF_INET6
        remote = ts.last_remote or ("::" if six else "0.0.0.0", 0)
        found = diag.lookup(ts.last_local, remote)
        netlink = ("CLOSE", None) if found is None else (found.state, found.timer)
        proc = kernel.closed_state(
            ts.last_local, ts.last_remote, kernel.read_proc(("tcp6",) if six else ("tcp",))
        )
        out.append((ts.name, netlink, proc))
    return out


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("scenario", TCP)
def test_netlink_and_proc_agree_at_every_call(scenario, family):
    diag = open_diag()
    runner = None
    seen: list[tuple] = []

    def compare(event) -> None:  # (on the engine's thread, right after each call)
        if isinstance(event, CallEvent) and runner is not None:
            seen.extend(both_sources(runner, diag))

    sc = get(scenario)
    if family not in sc.families:
        pytest.skip(f"{scenario} does not run on {family}")
    runner = Runner(sc, compare, family=family, mode=Mode.FAST)
    runner.start()
    try:
        assert runner.wait(30)
    finally:
        runner.stop()
        seen.extend(both_sources(runner, diag))
        diag.close()
    assert seen, "no closed socket was ever looked at"
    for name, netlink, proc in seen:
        assert netlink[0] == proc[0], (name, netlink, proc)
        if proc[1] is not None or netlink[1] is not None:  # (the two read moments apart)
            assert abs(netlink[1] - proc[1]) < 1.0, (name, netlink, proc)
    assert any(state == "TIME_WAIT" for _n, (state, _t), _p in seen) or scenario in (
        "refused",
        "address-in-use",
        "reset",
        "backlog-full",
        "broken-pipe",
    )


def trace_of(scenario: str, netlink: bool) -> list[tuple]:
    lines: list[dict] = []
    runner = Runner(
        get(scenario),
        lambda e: (
            lines.append(to_record(e))
            if isinstance(e, CallEvent) or type(e).__name__ == "KernelEvent"
            else None
        ),
        mode=Mode.FAST,
    )
    if not netlink:
        runner.tracer.kernel.netlink = False  # (as where the kernel refuses netlink)
    runner.start()
    try:
        assert runner.wait(30)
    finally:
        runner.stop()
    return [(r["socket"], r["call"], r["kernel"], r["state"]) for r in lines]


@pytest.mark.parametrize("scenario", ["tcp-echo", "time-wait", "half-close"])
def test_where_netlink_is_refused_proc_gives_the_same_trace(scenario):
    assert trace_of(scenario, netlink=True) == trace_of(scenario, netlink=False)


def test_a_lookup_costs_the_same_among_ten_thousand_in_time_wait():
    """Exact lookup: one connection asked of the kernel, however many it holds."""
    diag = open_diag()
    with socket.create_server(("127.0.0.1", 0), backlog=128) as server:
        address = server.getsockname()
        first = None
        for _i in range(2000):
            client = socket.create_connection(address)
            peer, _ = server.accept()
            if first is None:
                first = (client.getsockname(), address)
            client.close()  # (the client closes first: its side stays in TIME_WAIT)
            peer.close()
        time.sleep(0.05)
        found = diag.lookup(*first)
        assert found is not None and found.state == "TIME_WAIT" and 0 < found.timer <= 60
        gone = diag.lookup(("127.0.0.1", 1), address)
        assert gone is None
    diag.close()
    assert json.dumps(found.state)
