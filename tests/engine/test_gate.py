"""The gate: step lets exactly one call through, play waits its pace, fast never waits."""

from __future__ import annotations

import threading
import time

import pytest

from sockviz.engine.run.gate import Gate, GateClosed, Mode


def passer(gate: Gate, passed: list, count: int):
    def run():
        try:
            for _ in range(count):
                gate.wait()
                passed.append(time.monotonic())
        except GateClosed:
            passed.append("closed")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_step_lets_exactly_one_through_per_step():
    gate = Gate(Mode.STEP)
    passed: list = []
    thread = passer(gate, passed, 3)
    time.sleep(0.05)
    assert passed == []
    for expected in (1, 2, 3):
        gate.step()
        deadline = time.monotonic() + 1
        while len(passed) < expected and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.03)
        assert len(passed) == expected
    thread.join(1)
    assert not thread.is_alive()


def test_fast_never_waits():
    gate = Gate(Mode.FAST)
    start = time.monotonic()
    for _ in range(1000):
        gate.wait()
    assert time.monotonic() - start < 1


def test_play_waits_its_pace_and_the_pace_can_change_while_waiting():
    gate = Gate(Mode.PLAY, pace=5.0)
    passed: list = []
    thread = passer(gate, passed, 1)
    time.sleep(0.1)
    assert passed == []
    gate.set_pace(0.05)  # the waiting thread re-measures from when it began
    thread.join(1)
    assert len(passed) == 1


def test_switching_mode_releases_a_waiting_thread():
    gate = Gate(Mode.STEP)
    passed: list = []
    thread = passer(gate, passed, 2)
    time.sleep(0.05)
    gate.set_mode(Mode.FAST)
    thread.join(1)
    assert len(passed) == 2


def test_close_releases_waiters_with_gate_closed():
    gate = Gate(Mode.STEP)
    passed: list = []
    thread = passer(gate, passed, 1)
    time.sleep(0.05)
    gate.close()
    thread.join(1)
    assert passed == ["closed"]
    with pytest.raises(GateClosed):
        gate.wait()


def test_pace_is_clamped():
    gate = Gate(Mode.PLAY, pace=0)
    assert gate.pace == Gate.MIN_PACE
    gate.set_pace(1e9)
    assert gate.pace == Gate.MAX_PACE
