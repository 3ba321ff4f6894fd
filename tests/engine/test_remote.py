"""The engine process: runs played in a child, on real loopback, controlled from here."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sockviz.engine.events import CallEvent, RunFinished
from sockviz.engine.run.engine_process import EngineProcess
from sockviz.engine.run.gate import Mode
from sockviz.engine.scenarios import get
from tests.helpers import (
    Collector,
    engine_processes,
    process_fds,
    process_threads,
    run_scenario,
    threads_after,
)


@pytest.fixture
def engine():
    engine = EngineProcess()
    yield engine
    engine.close()
    assert engine_processes() == []


def run(engine, name: str, collector: Collector, mode: Mode = Mode.FAST, **options):
    runner = engine(get(name), collector, family="ipv4", port=0, mode=mode, pace=1.0, **options)
    runner.start()
    return runner


def sockets_of(pid: int) -> list[str]:
    return [f for f in process_fds(pid).values() if f.startswith("socket:")]


def test_a_run_in_the_engine_process_makes_the_calls_a_runner_here_makes(engine):
    here = run_scenario(get("tcp-echo"))
    there = Collector()
    runner = run(engine, "tcp-echo", there)
    assert runner.wait(10)
    assert [(e.socket, e.call, e.state, e.error) for e in there.calls] == [
        (e.socket, e.call, e.state, e.error) for e in here.calls
    ]
    assert there.finished == [RunFinished("done")]
    assert engine.pid != os.getpid() and engine.pid in engine_processes()
    assert runner.stop()


def test_each_step_is_one_call_in_the_child(engine):
    got = Collector()
    runner = run(engine, "tcp-echo", got, mode=Mode.STEP)
    assert got.wait_for(lambda c: c.pending and runner.gate.waiting > 0)
    assert got.calls == []
    for n in range(1, 6):
        runner.step()
        assert got.wait_for(lambda c, n=n: len(c.calls) == n)
        got.wait_quiet(0.2)
        assert len(got.calls) == n  # one step, one call: no more
    assert runner.gate.waiting > 0 and not runner.finished
    assert len(sockets_of(engine.pid)) >= 2  # the calls' sockets live in the child
    assert runner.stop()
    assert sockets_of(engine.pid) == []  # stop closed every one of them
    assert runner.finished and got.finished[-1].outcome == "stopped"


def test_mode_and_pace_reach_the_childs_gate(engine):
    got = Collector()
    runner = run(engine, "tcp-echo", got, mode=Mode.STEP)
    assert got.wait_for(lambda c: runner.gate.waiting > 0)
    runner.gate.set_pace(0.05)
    runner.gate.set_mode(Mode.PLAY)
    assert runner.gate.mode is Mode.PLAY and runner.gate.pace == 0.05
    assert runner.wait(10), "play mode did not run the scenario to its end"
    assert got.finished == [RunFinished("done")]
    runner.stop()


def test_a_typed_message_is_queued_in_the_child(engine):
    got = Collector()
    runner = run(engine, "tcp-echo", got, mode=Mode.STEP)
    assert got.wait_for(lambda c: runner.gate.waiting > 0)
    before = runner.total_steps
    at = runner.queue_message(b"hello from the parent")
    assert at > 0 and runner.total_steps > before
    with pytest.raises(ValueError, match="empty"):
        runner.queue_message(b"")
    runner.gate.set_mode(Mode.FAST)
    assert runner.wait(10)
    sent = [e for e in got.calls if e.data == b"hello from the parent"]
    assert sent, "the message was never sent"
    runner.stop()


def test_runs_one_after_another_share_one_process_and_leave_nothing(engine):
    first = Collector()
    run(engine, "udp-echo", first).wait(10)
    pid = engine.pid
    fds, threads = set(process_fds(pid)), process_threads(pid)
    for _ in range(20):
        got = Collector()
        runner = run(engine, "udp-echo", got, mode=Mode.STEP)
        assert got.wait_for(lambda c, r=runner: c.pending and r.gate.waiting > 0)
        runner.step()
        assert got.wait_for(lambda c: c.calls)  # a socket made, held when stop comes
        assert runner.stop()
    assert engine.pid == pid
    assert set(process_fds(pid)) <= fds
    assert threads_after(pid, threads) <= threads


def test_a_killed_engine_process_ends_the_run_with_a_reason(engine):
    got = Collector()
    runner = run(engine, "tcp-echo", got, mode=Mode.STEP)
    assert got.wait_for(lambda c: c.pending)
    os.kill(engine.pid, signal.SIGKILL)
    assert got.wait_for(lambda c: c.finished)
    assert got.finished[-1].outcome == "aborted"
    assert "engine process" in got.finished[-1].reason
    assert runner.finished
    started = time.monotonic()
    runner.step()  # to a process that is gone: nothing happens, nothing raises
    with pytest.raises(ValueError):
        runner.queue_message(b"x")
    assert runner.stop() is True
    assert time.monotonic() - started < 1.0


def test_close_ends_the_process_within_a_second_even_mid_transfer():
    engine = EngineProcess()
    got = Collector()
    run(engine, "bulk", got, size=64 * 1024**3)  # 64 GiB: far from done when we close
    assert got.wait_for(lambda c: any(e.call.value == "accept" for e in c.calls), 10)
    pid = engine.pid
    started = time.monotonic()
    engine.close()
    assert time.monotonic() - started < 1.0
    assert not os.path.exists(f"/proc/{pid}")
    assert engine_processes() == []


def test_the_child_ends_when_its_parent_goes_away():
    engine = EngineProcess()
    got = Collector()
    run(engine, "tcp-echo", got, mode=Mode.STEP)
    assert got.wait_for(lambda c: c.pending)
    proc = engine._proc
    proc.stdin.close()  # what the child sees when its parent dies: the end of its input
    assert proc.wait(2) == 0
    engine.close()


def test_a_run_the_child_cannot_start_says_why(engine):
    got = Collector()
    runner = engine(get("tcp-echo"), got, family="ipv4", port=70000, mode=Mode.FAST, pace=1.0)
    runner.start()
    assert got.wait_for(lambda c: c.finished, 10)
    assert got.finished[-1].outcome == "aborted"
    assert not [
        e
        for e in got.calls
        if isinstance(e, CallEvent) and e.error is None and e.call.value == "bind"
    ]
    runner.stop()


def test_what_a_runner_refuses_is_refused_before_any_process_starts():
    engine = EngineProcess()
    with pytest.raises(ValueError, match="does not run on"):
        engine(get("websocket"), Collector(), family="unix", port=0, mode=Mode.FAST, pace=1.0)
    assert engine.pid is None
    engine.close()
