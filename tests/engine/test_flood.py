"""A flood of real connections: ``sockviz --listen --trace`` keeps every one, and a display
that falls behind gets whole connections condensed, every call and byte still counted.

The client is a real process of its own (``sockviz.bench.flood_bench.flood``, what the benchmark
uses): it keeps eight connections going, each sending a request, shutting its side,
reading the answer to the end and closing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from sockviz.bench.flood_bench import CLIENT, REPLY, REQUEST, TIME_WAIT, free_port
from sockviz.engine.events import (
    CallEvent,
    Condensed,
    KernelEvent,
    Segment,
    StepPending,
)
from sockviz.engine.run.event_batcher import KEEP_CONNECTIONS, condense
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.listen_runner import ListenRunner
from sockviz.engine.states import Call
from tests.helpers import Collector


def client(port: int, count: int, *flags: str) -> subprocess.Popen:
    """The flood client (a process of its own), started: ``count`` connections, each
    answered with :data:`REPLY` (``quiet``: with nothing; ``TIME_WAIT``: the server's side
    closes first and waits in TIME_WAIT)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port), str(count), *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return proc


def test_five_thousand_connections_into_listen_trace_each_one_seen(tmp_path):
    count, port = 5000, free_port()
    trace = tmp_path / "trace.jsonl"
    with trace.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sockviz",
                "--listen",
                f"127.0.0.1:{port}",
                "--trace",
                "--reply",
                REPLY,
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            peer = client(port, count)
            _took, received = peer.stdout.readline().split()
            assert peer.wait(60) == 0
        finally:
            time.sleep(0.3)  # (the last close's line)
            server.send_signal(signal.SIGINT)
            _, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    assert int(received) == (count + 1) * len(REPLY) - len(REPLY)  # (the probe is apart)
    calls: dict[str, list[str]] = {}
    got = sent = 0
    for line in trace.read_text().splitlines():
        record = json.loads(line)
        if record["call"] in ("packet", "packets", "kernel") or record["socket"] == "server":
            continue
        calls.setdefault(record["socket"], []).append(record["call"])
        if record["call"] == "recv":
            got += record["nbytes"] or 0
        if record["call"] == "sendall":
            sent += record["nbytes"]
    # every connection (the client's probe first) accepted, read, answered and closed
    assert len(calls) == count + 1
    assert all(
        seen == ["accept", "recv", "sendall", "shutdown", "recv", "close"]
        for seen in calls.values()
    )
    assert got == (count + 1) * len(REQUEST)
    assert sent == (count + 1) * len(REPLY)


def test_a_flood_condensed_for_a_display_keeps_the_newest_and_counts_the_rest():
    collector = Collector()
    runner = ListenRunner(collector, "127.0.0.1", 0, "ipv4", reply=REPLY.encode(), mode=Mode.FAST)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not any(e.call is Call.LISTEN for e in collector.calls):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        port = int(next(e for e in collector.calls if e.call is Call.BIND).local.rsplit(":")[1])
        peer = client(port, 40)
        assert peer.wait(30) == 0
        peer.stdout.close()
        peer.stdin.close()
        deadline = time.monotonic() + 10
        while sum(e.call is Call.CLOSE for e in collector.calls) < 41:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        runner.stop()
    events = list(collector.events)
    out = condense(events)
    summed = [e for e in out if isinstance(e, Condensed)]
    assert len(summed) == 1
    whole = [
        e.socket
        for e in events
        if isinstance(e, CallEvent) and e.call is Call.CLOSE and e.socket.startswith("conn-")
    ]
    kept, gone = whole[-KEEP_CONNECTIONS:], set(whole[:-KEEP_CONNECTIONS])
    total = summed[0]
    assert (total.count, total.first, total.last) == (
        len(gone),
        whole[0],
        whole[-KEEP_CONNECTIONS - 1],
    )
    gone_calls = [e for e in events if isinstance(e, CallEvent) and e.socket in gone]
    assert total.calls == len(gone_calls) == 6 * len(gone)
    assert total.received == len(gone) * len(REQUEST)
    assert total.sent == len(gone) * len(REPLY)
    # nothing of theirs is left; the newest connections and the listener are kept whole
    assert not [
        e for e in out if isinstance(e, (CallEvent, KernelEvent, StepPending)) and e.socket in gone
    ]
    for name in ("server", *kept):
        assert [e for e in out if getattr(e, "socket", None) == name] == [
            e for e in events if getattr(e, "socket", None) == name
        ]
    assert [e for e in out if isinstance(e, Segment)] == [
        e for e in events if isinstance(e, Segment)
    ]  # (no wire watched in this run)
    # a batch with no more whole connections than are kept is left as it is
    closes = [
        i
        for i, e in enumerate(events)
        if isinstance(e, CallEvent) and e.call is Call.CLOSE and e.socket.startswith("conn-")
    ]
    few = events[: closes[KEEP_CONNECTIONS] + 1]
    assert condense(few) == few


def test_condensed_connections_are_one_row_and_one_log_line_and_late_news_of_them_no_card():
    from sockviz.engine.run.outside_peers import listen_scenario, resolve
    from sockviz.engine.states import Role, State
    from sockviz.view.history import History
    from sockviz.view.words import log_text

    history = History(listen_scenario(resolve(None, 0, "ipv4")))
    summed = Condensed(
        first="conn-2",
        last="conn-40",
        count=39,
        calls=234,
        segments=390,
        received=39 * 31,
        sent=39 * 40,
    )
    history.add(0.0, summed)
    view = history.live
    assert view.rows[0].label.startswith("… 39 connections, conn-2 to conn-40")
    assert "234 calls" in log_text(summed) and "390 segments" in log_text(summed)
    # the kernel letting one of them go, a minute later: no card comes back for it
    history.add(
        60.0,
        KernelEvent(
            seq=9,
            t=60.0,
            socket="conn-7",
            role=Role.CONNECTION,
            state=State.CLOSED,
            family="AF_INET",
            type="SOCK_STREAM",
            local=None,
            remote=None,
            sent_total=40,
            recv_total=31,
            kernel="CLOSE",
            previous="TIME_WAIT",
            timer=None,
            source="proc",
        ),
    )
    assert "conn-7" not in view.models


def _listen(reply: bytes | None) -> tuple[ListenRunner, Collector, int]:
    collector = Collector()
    runner = ListenRunner(collector, "127.0.0.1", 0, "ipv4", reply=reply, mode=Mode.FAST)
    runner.start()
    deadline = time.monotonic() + 10
    while not any(e.call is Call.LISTEN for e in collector.calls):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    port = int(next(e for e in collector.calls if e.call is Call.BIND).local.rsplit(":")[1])
    return runner, collector, port


def _closed(collector: Collector) -> int:
    return sum(e.call is Call.CLOSE and e.socket.startswith("conn-") for e in collector.calls)


def test_time_wait_sleeps_and_the_watch_reads_only_what_may_change():
    """The server closes first (its side ends in TIME_WAIT): an outside run keeps only a
    small record of each such socket, not read again until its minute is up; then the
    kernel is asked, and a ``kernel`` line says it let the connection go."""
    import heapq

    from sockviz.engine.events import KernelEvent

    runner, collector, port = _listen(REPLY.encode())
    try:
        assert client(port, 60, TIME_WAIT).wait(30) == 0
        deadline = time.monotonic() + 10
        while _closed(collector) < 61 and time.monotonic() < deadline:
            time.sleep(0.01)
        registry = runner.tracer.registry
        asleep = sorted(registry._let_go)
        assert len(asleep) >= 60
        assert all(a.name.startswith("conn-") and a.sent == len(REPLY) for a in asleep)
        assert [ts.name for ts in registry.all] == ["server"]
        assert [ts.name for ts in registry.watched] == ["server"]
        # a late segment on one of their addresses is the listener's now
        assert registry.at(asleep[0].local, asleep[0].remote) == (None, "server", True)
        # their time comes: the kernel still holds them (TIME_WAIT lasts 60 s) - they wait
        # on; one whose connection the kernel has let go gets its line
        gone = asleep[0]._replace(remote="127.0.0.1:1")
        registry._let_go = [a._replace(when=0.0) for a in asleep[1:]] + [gone._replace(when=0.0)]
        heapq.heapify(registry._let_go)
        # (the listener may have a line of its own - its accept queue read again after the
        # flood, under load a moment later than before: not what this test is about)
        lines = [e for e in runner.tracer.poll_kernel() if e.socket != "server"]
        assert [(e.socket, e.previous, e.kernel) for e in lines] == [
            (gone.name, "TIME_WAIT", "CLOSE")
        ]
        assert isinstance(lines[0], KernelEvent) and lines[0].remote == "127.0.0.1:1"
        assert len(registry._let_go) == len(asleep) - 1
        assert all(a.when > time.monotonic() + 30 for a in registry._let_go)
    finally:
        runner.stop()


def test_an_outside_run_forgets_each_connection_once_the_kernel_lets_it_go():
    """With no reply the client closes first: the server's side goes through LAST_ACK to
    CLOSE at once, and the run keeps nothing of it after the next look at the kernel."""
    runner, collector, port = _listen(None)
    try:
        assert client(port, 200, "quiet").wait(30) == 0
        deadline = time.monotonic() + 10
        registry = runner.tracer.registry
        while time.monotonic() < deadline and (_closed(collector) < 201 or len(registry.all) > 1):
            time.sleep(0.05)
        assert _closed(collector) == 201
        assert [ts.name for ts in registry.all] == ["server"]
        assert not registry._pairs and not registry._paired_at
        assert list(registry._alone) == [f"127.0.0.1:{port}"]
    finally:
        runner.stop()
