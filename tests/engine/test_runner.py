"""The runner: the same calls in the same order every run; stop ends everything, fast."""

from __future__ import annotations

import socket
import time

import pytest

from sockviz.engine.events import CallEvent, RunFinished
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    SERVER_ADDRESS,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, Role, State, Transport
from tests.helpers import Collector, engine_threads, on_loopback, open_fds, run_scenario

SCENARIOS = sorted(on_loopback())


def shape(collector: Collector) -> tuple:
    """What must be identical between runs: every call and its outcome, in order, and each
    socket's own sequence of kernel states.

    Where the kernel changes state on a timer of its own (a SYN retried after a second in
    backlog-full), the moment the watcher sees it - and so where that line falls among
    other sockets' lines - is the kernel's business; the order of that socket's states is
    not.
    """
    calls = [(e.socket, str(e.call), e.state, e.nbytes, e.error) for e in collector.calls]
    kernel: dict[str, list] = {}
    for e in collector.trace:
        seen = kernel.setdefault(e.socket, [])
        now = (e.kernel, e.queue)
        if e.kernel is not None and (not seen or seen[-1] != now):
            seen.append(now)
    return calls, kernel


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_same_calls_in_the_same_order_every_run_and_mode(name, family):
    """Each scenario run fast, stepped a key at a time, played (IPv4) and fast again: the
    same calls with the same outcomes in every run; in the two fast runs the same kernel
    states too, socket by socket (stepped or played, a state the kernel reaches on a timer
    of its own, like a SYN retry, may be seen at another moment); every socket lives its life
    in order; and stepping makes exactly one call a step."""
    first = run_scenario(get(name), family)
    lives_its_life_in_order(first)
    calls, kernel = shape(first)
    assert shape(stepped_one_call_a_step(name, family))[0] == calls
    if family == "ipv4":
        collector = Collector()
        runner = Runner(get(name), collector, mode=Mode.PLAY, pace=0.05)
        runner.start()
        try:
            assert runner.wait(10)
        finally:
            runner.stop()
        assert shape(collector)[0] == calls
    assert shape(run_scenario(get(name), family)) == (calls, kernel)


def stepped_one_call_a_step(name: str, family: str) -> Collector:
    """The scenario in step mode, a step at a time: each step makes its call and no other
    (a call made on the key of the one before comes with it; one of two calls that must
    finish together waits for its partner)."""
    scenario = get(name)
    collector = Collector()
    runner = Runner(scenario, collector, family=family, mode=Mode.STEP)
    runner.start()
    try:
        assert collector.wait_for(lambda c: c.pending)
        time.sleep(0.05)  # (time enough for a call the gate wrongly let through to show)
        assert collector.calls == []
        assert collector.pending[-1].step == 0  # the first call is announced, not made
        steps = runner.steps
        for n in range(1, len(steps) + 1):
            if steps[n - 2].then if n > 1 else False:
                continue  # (made on the key of the step before: one program's calls)
            runner.step()
            if steps[n - 1].together:  # it needs its partner, the next step, to finish
                time.sleep(0.05)
                assert len(collector.calls) == n - 1
                continue
            made = n
            while made < len(steps) and steps[made - 1].then:
                made += 1  # (then: the next call is made on this key too, at once)
            assert collector.wait_for(lambda c, made=made: len(c.calls) >= made, 10)
            time.sleep(0.02)
            assert len(collector.calls) == made, f"step {n} made {len(collector.calls)} calls"
            assert {e.step for e in collector.calls[-2:]} >= {made - 1}
        assert runner.wait(2) and runner.result.outcome == "done"
    finally:
        runner.stop()
    return collector


def lives_its_life_in_order(collector: Collector) -> None:
    """Each socket's states only move forward, created to closed, and end closed."""
    assert collector.finished[-1].outcome == "done"
    order = [
        State.CREATED,
        State.BOUND,
        State.LISTENING,
        State.CONNECTED,
        State.HALF_CLOSED,
        State.CLOSED,
    ]
    by_socket: dict[str, list[State]] = {}
    for e in collector.calls:
        by_socket.setdefault(e.socket, []).append(e.state)
    for sock, states in by_socket.items():
        ranks = [order.index(s) for s in states]
        assert ranks == sorted(ranks), (sock, states)
        assert states[-1] is State.CLOSED


# backlog-full waits a second for the kernel's SYN retry in most of its steps; stopping in
# the middle of that wait is test_stop_while_blocked[connect].
@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "backlog-full"])
def test_stop_from_every_step(name):
    """Stopped before each step in turn: gone in 0.5 s, no thread or descriptor left."""
    scenario = get(name)
    for k in range(len(scenario.steps_for("ipv4")) + 1):
        fds, threads = open_fds(), engine_threads()
        collector = Collector()
        runner = Runner(scenario, collector, mode=Mode.STEP)
        runner.start()
        for n in range(1, k + 1):
            runner.step()
            if runner.steps[n - 1].together:
                continue
            assert collector.wait_for(lambda c, n=n: len(c.calls) >= n, 10)
        started = time.monotonic()
        assert runner.stop(0.5)
        elapsed = time.monotonic() - started
        assert elapsed < 0.5, f"stop before step {k} took {elapsed:.3f}s"
        assert engine_threads() == threads
        assert open_fds() <= fds, f"descriptors left after stop before step {k}"
        opened = {e.socket for e in collector.calls if e.call in (Call.SOCKET, Call.ACCEPT)}
        closed = {e.socket for e in collector.calls if e.call is Call.CLOSE and e.ok}
        assert opened == closed
        assert isinstance(collector.events[-1], RunFinished)


def _blocking(extra_sockets, extra_steps) -> Scenario:
    return Scenario(
        name="blocking",
        summary="test",
        sockets=(SocketSpec("server", Role.LISTENER, Transport.STREAM), *extra_sockets),
        steps=(
            Step("server", "server", Call.SOCKET),
            Step("server", "server", Call.BIND, (BIND_ADDRESS,)),
            Step("server", "server", Call.LISTEN, (0,)),
            *extra_steps,
        ),
    )


BLOCKED_IN_ACCEPT = _blocking(
    [SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM)],
    [Step("server", "server", Call.ACCEPT, ("conn-1",), timeout=None)],
)
BLOCKED_IN_RECV = _blocking(
    [
        SocketSpec("client", Role.CLIENT, Transport.STREAM),
        SocketSpec("conn-1", Role.CONNECTION, Transport.STREAM),
    ],
    [
        Step("client", "client", Call.SOCKET),
        Step("client", "client", Call.CONNECT, (SERVER_ADDRESS,)),
        Step("server", "server", Call.ACCEPT, ("conn-1",)),
        Step("server", "conn-1", Call.RECV, (100,), timeout=None),
    ],
)
# listen(0) with nobody accepting: the kernel queues one or two connections, then drops
# the next SYNs, and that client's connect() waits (SYN_SENT) until stopped.
BLOCKED_IN_CONNECT = _blocking(
    [SocketSpec(f"client-{i}", Role.CLIENT, Transport.STREAM) for i in range(1, 5)],
    [
        step
        for i in range(1, 5)
        for step in (
            Step("client", f"client-{i}", Call.SOCKET),
            Step("client", f"client-{i}", Call.CONNECT, (SERVER_ADDRESS,), timeout=None),
        )
    ],
)


@pytest.mark.parametrize(
    ("scenario", "blocked_call"),
    [
        (BLOCKED_IN_ACCEPT, Call.ACCEPT),
        (BLOCKED_IN_RECV, Call.RECV),
        (BLOCKED_IN_CONNECT, Call.CONNECT),
    ],
    ids=["accept", "recv", "connect"],
)
def test_stop_while_blocked(scenario, blocked_call):
    fds, threads = open_fds(), engine_threads()
    collector = Collector()
    runner = Runner(scenario, collector, mode=Mode.FAST)
    runner.start()
    collector.wait_quiet(0.4)
    assert not runner.finished
    pending = collector.pending[-1]
    assert pending.call is blocked_call
    assert not any(e.step == pending.step for e in collector.calls)  # really still in it
    started = time.monotonic()
    assert runner.stop(0.5)
    assert time.monotonic() - started < 0.5
    assert engine_threads() == threads
    assert open_fds() <= fds
    assert runner.result.outcome == "stopped"


def test_an_unexpected_failure_aborts_and_closes_everything():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        collector = Collector()
        runner = Runner(get("tcp-echo"), collector, port=port)
        runner.start()
        assert runner.wait(5)
        runner.stop()
    finally:
        holder.close()
    result = runner.result
    assert result.outcome == "aborted" and result.failed.error == "EADDRINUSE"
    assert "bind" in result.reason and "EADDRINUSE" in result.reason
    assert not any(e.call is Call.LISTEN for e in collector.calls)
    last = collector.calls[-1]
    assert (last.socket, last.call, last.state) == ("server", Call.CLOSE, State.CLOSED)


def test_a_runner_runs_once():
    runner = Runner(get("udp-echo"), Collector())
    runner.start()
    try:
        with pytest.raises(RuntimeError):
            runner.start()
    finally:
        runner.stop()


def test_pending_announces_each_call_before_it_happens():
    collector = run_scenario(get("tcp-echo"))
    kinds = []
    for e in collector.events:
        if type(e).__name__ == "StepPending":
            kinds.append(("pending", e.step))
        elif isinstance(e, CallEvent):
            kinds.append(("call", e.step))
    for i in range(len(get("tcp-echo").steps)):
        assert kinds.index(("pending", i)) < kinds.index(("call", i))
    pend = {p.step: p for p in collector.pending}
    assert pend[2].args.startswith("('127.0.0.1', 0)")
    assert pend[7].args == "b'hello, sockviz'" and pend[7].explain


def test_a_teardown_that_raises_ends_the_run_all_the_same(monkeypatch):
    """A consumer that raises as the run ends (``--trace >&-`` wrote to None): wait()
    returns, the run is aborted with a reason, no thread dies with a traceback."""
    import threading

    died: list = []
    monkeypatch.setattr(threading, "excepthook", died.append)

    def consumer(event):
        if isinstance(event, RunFinished):
            raise AttributeError("'NoneType' object has no attribute 'write'")

    runner = Runner(get("tcp-echo"), consumer, mode=Mode.FAST)
    runner.start()
    try:
        assert runner.wait(5)
    finally:
        assert runner.stop(1)
    assert runner.result.outcome == "aborted"
    assert "internal error while ending the run" in runner.result.reason
    assert "NoneType" in runner.result.reason
    assert not died and not engine_threads()
