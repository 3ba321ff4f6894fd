"""The batcher's rate cap, record -> replay equality, and queued messages on a live run."""

from __future__ import annotations

import json
import threading
import time

import pytest

from sockviz.engine.gate import Mode
from sockviz.engine.replay import ReplayRunner
from sockviz.engine.runner import Runner
from sockviz.engine.scenarios import get
from sockviz.engine.sink import Batcher
from sockviz.engine.trace import TraceFormatError, read_trace, to_line, to_record
from tests.helpers import Collector, run_scenario


def test_batcher_caps_the_rate_and_keeps_every_event_in_order():
    batches: list[list] = []
    batcher = Batcher(batches.append, rate=30)
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 0.5:  # a flood from two threads
        batcher(n)
        n += 1
    batcher.close()
    elapsed = time.monotonic() - started
    flat = [e for b in batches for e in b]
    assert flat == list(range(n))
    assert len(batches) <= 30 * elapsed + 3, f"{len(batches)} batches in {elapsed:.2f}s"
    assert batcher.delivered == n and batcher.batches == len(batches)


def test_batcher_delivers_a_lone_event_at_once():
    got = threading.Event()
    batcher = Batcher(lambda batch: got.set(), rate=1)
    started = time.monotonic()
    batcher("x")
    assert got.wait(1) and time.monotonic() - started < 0.2
    batcher.close()


@pytest.mark.parametrize("name", ["tcp-echo", "udp-echo"])
def test_record_then_replay_gives_the_same_events(name):
    recorded = run_scenario(get(name))
    lines = [to_line(e) for e in recorded.trace]
    events = read_trace(lines)
    assert [to_record(e) for e in events] == [json.loads(line) for line in lines]
    collector = Collector()
    replay = ReplayRunner(get(name), collector, events, mode=Mode.STEP)
    replay.start()
    steps = get(name).steps_for("ipv4")
    for n in range(1, len(steps) + 1):
        replay.step()
        assert collector.wait_for(lambda c, n=n: len(c.calls) >= n, 2)
    assert replay.wait(2)
    replay.stop()
    assert [to_line(e) for e in collector.trace] == lines
    assert collector.finished[-1].outcome == "done"
    assert [p.step for p in collector.pending] == list(range(len(steps)))


def test_a_bad_trace_line_is_named():
    good = to_line(run_scenario(get("udp-echo")).trace[0])
    with pytest.raises(TraceFormatError) as info:
        read_trace([good, '{"seq": 2}'])
    assert info.value.line_number == 2 and "missing keys" in str(info.value)
    with pytest.raises(TraceFormatError) as info:
        read_trace([good, good, "not json"])
    assert info.value.line_number == 3


def test_a_queued_message_is_sent_where_the_conversation_is(family):
    collector = Collector()
    runner = Runner(get("tcp-echo"), collector, family=family, mode=Mode.STEP)
    runner.start()
    try:
        at = runner.queue_message(b"one more")
        assert at == 11 and runner.total_steps == 19
        assert runner.queue_message(b"and another") == 15  # queued after the first
        runner.gate.set_mode(Mode.FAST)
        assert runner.wait(5)
    finally:
        runner.stop()
    data = [(e.socket, e.call.value, e.data) for e in collector.calls if e.data]
    assert ("client", "sendall", b"one more") in data
    assert ("conn-1", "recv", b"one more") in data
    assert ("client", "recv", b"and another") in data
    assert runner.result.outcome == "done"
    client = [e for e in collector.calls if e.socket == "client"][-1]
    assert client.sent_total == 14 + 8 + 11 == client.recv_total


def test_too_late_for_a_message():
    collector = Collector()
    runner = Runner(get("tcp-echo"), collector, mode=Mode.STEP)
    runner.start()
    try:
        for n in range(1, 12):  # up to and including the client's last recv
            runner.step()
            assert collector.wait_for(lambda c, n=n: len(c.calls) >= n, 2)
        time.sleep(0.05)  # the client's close is now waiting at the gate
        with pytest.raises(ValueError, match="too late"):
            runner.queue_message(b"late")
        with pytest.raises(ValueError, match="empty"):
            runner.queue_message(b"")
    finally:
        runner.stop()


def test_replay_refuses_to_send():
    replay = ReplayRunner(get("tcp-echo"), lambda e: None, [])
    with pytest.raises(ValueError, match="replay"):
        replay.queue_message(b"x")
    replay.start()
    assert replay.wait(1) and replay.result.outcome == "done"
    replay.stop()
