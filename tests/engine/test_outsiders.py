"""Another program at the run's port: the run says so, instead of a bare EINPROGRESS.

Real strangers: plain sockets of this test connect to the port a stepped run listens on,
between its ``listen()`` and its client's ``connect()``.
"""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
from sockviz.engine.states import Call
from tests.helpers import Collector

FAMILIES = {"ipv4": (socket.AF_INET, "127.0.0.1"), "ipv6": (socket.AF_INET6, "::1")}


def _free_port(af: int, host: str) -> int:
    with socket.socket(af) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _quick_connect(scenario):
    """tcp-echo with a connect() that gives up after one second, not ten."""
    steps = tuple(replace(s, timeout=1.0) if s.call is Call.CONNECT else s for s in scenario.steps)
    return replace(scenario, steps=steps)


def _run_with_strangers(family: str, strangers: int):
    """Step tcp-echo to its listen(), connect ``strangers`` sockets of our own to its port,
    then let it run. Returns the runner's result."""
    af, host = FAMILIES[family]
    port = _free_port(af, host)
    collector = Collector()
    runner = Runner(
        _quick_connect(get("tcp-echo")), collector, family=family, port=port, mode=Mode.STEP
    )
    held: list[socket.socket] = []
    runner.start()
    try:
        while not any(e.call is Call.LISTEN for e in collector.calls):
            made = len(collector.calls)
            runner.step()
            assert collector.wait_for(lambda c, made=made: len(c.calls) > made, 5)
        for _ in range(strangers):
            s = socket.socket(af)
            s.setblocking(False)
            s.connect_ex((host, port))
            held.append(s)
        runner.gate.set_mode(Mode.FAST)
        assert runner.wait(15), "the run did not end"
    finally:
        assert runner.stop()
        for s in held:
            s.close()
    return runner.result


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_stranger_accepted_is_named(family):
    result = _run_with_strangers(family, 1)
    assert result.outcome == "aborted"
    assert "accept() returned a connection from" in result.reason
    assert "which this run did not make" in result.reason
    assert "--port 0" in result.reason


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_full_queue_is_named(family):
    result = _run_with_strangers(family, 12)
    assert result.outcome == "aborted" and result.failed.call is Call.CONNECT
    assert "accept queue was full" in result.reason
    assert "not made by this run" in result.reason


def test_the_run_alone_is_not_a_stranger():
    af, host = FAMILIES["ipv4"]
    collector = Collector()
    runner = Runner(get("tcp-echo"), collector, port=_free_port(af, host))
    runner.start()
    try:
        assert runner.wait(10)
    finally:
        assert runner.stop()
    assert runner.result.outcome == "done"
