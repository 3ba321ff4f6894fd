"""The batcher's rate cap, record -> replay equality, and queued messages on a live run."""

from __future__ import annotations

import json
import threading
import time

import pytest

from sockviz.engine.record.trace_format import TraceFormatError, read_trace, to_line, to_record
from sockviz.engine.run.event_batcher import Batcher
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.replay_runner import ReplayRunner
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
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
        # the client's close is now next: wait until its thread has claimed it
        assert collector.wait_for(lambda c: c.pending and c.pending[-1].step == 11, 2)
        deadline = time.monotonic() + 2
        while runner.gate.waiting == 0:
            assert time.monotonic() < deadline
            time.sleep(0.005)
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


def test_a_slow_consumer_gets_one_batch_at_a_time_and_every_byte_counted():
    """A real flood into --listen's runner, read by a consumer that stalls: at most one
    batch is in flight, the backlog is summed (Elided), and the totals stay exact."""
    import socket

    from sockviz.engine.events import CallEvent, Elided, RunFinished
    from sockviz.engine.run.listen_runner import ListenRunner
    from sockviz.engine.states import Call, State

    batches: list[list] = []
    delivered = threading.Event()

    def slow(batch):
        batches.append(batch)
        delivered.set()

    batcher = Batcher(slow, acknowledge=True, backlog=100)
    runner = ListenRunner(batcher, "127.0.0.1", 0)
    runner.start()
    try:
        assert delivered.wait(5)
        deadline = time.monotonic() + 5
        while not any(
            isinstance(e, CallEvent) and e.call is Call.LISTEN for b in batches for e in b
        ):
            assert time.monotonic() < deadline
            batcher.ack()
            time.sleep(0.01)
        port = next(
            e for b in batches for e in b if isinstance(e, CallEvent) and e.call is Call.LISTEN
        ).local
        port = int(port.rsplit(":", 1)[1])
        stalled = len(batches)
        total = 0
        with socket.create_connection(("127.0.0.1", port)) as peer:
            for _ in range(3000):  # small pieces: many recv() calls
                peer.sendall(b"y" * 1000)
                total += 1000
                if total % 10_000 == 0:
                    time.sleep(0.001)  # let the reader catch up: many small recv() calls
        time.sleep(0.5)
        assert len(batches) == stalled  # the last batch is not acknowledged: nothing went
        while not any(
            isinstance(e, CallEvent) and e.socket == "conn-1" and e.state is State.CLOSED
            for b in batches
            for e in b
        ):
            batcher.ack()
            time.sleep(0.02)
            assert time.monotonic() < deadline + 10
    finally:
        runner.stop()
        batcher.close()
    events = [e for b in batches for e in b if not isinstance(e, RunFinished)]
    recvs = [
        e
        for e in events
        if isinstance(e, CallEvent) and e.socket == "conn-1" and e.call is Call.RECV
    ]
    elided = [e for e in events if isinstance(e, Elided)]
    assert elided and batcher.elided > 0, "the backlog was never summed"
    assert all(e.socket == "conn-1" and e.call is Call.RECV for e in elided)
    assert sum(e.nbytes or 0 for e in recvs) + sum(e.nbytes for e in elided) == total
    assert recvs[-1].recv_total == total and recvs[-1].nbytes == 0  # EOF, every byte counted
    assert max(e.recv_total for e in recvs) == total
