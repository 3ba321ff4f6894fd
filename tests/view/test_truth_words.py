"""The wire's words and the ladder's labels are what the run's own segments say (issue 23,
"Every word true"): a retransmission, a delayed ACK, an answer are the kernels', never a
call's; a call row names no segment it was not seen to send; a lost segment's arrow in the
.txt export stops short. Each run is real (``sockviz --trace`` in a process of its own, on
loopback or two hosts and a link), checked against tshark on the run's --pcap where a time
is said."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sockviz.engine.events import CallEvent, Segment
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.replay_runner import ReplayRunner
from sockviz.engine.scenarios import get
from sockviz.engine.states import Call
from sockviz.view.fold import apply
from sockviz.view.linkview import link_story
from sockviz.view.run_view import RunView
from sockviz.view.wirewords import story
from tests.test_lab import needs_hosts

ROOT = Path(__file__).resolve().parents[2]


def sockviz(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sockviz", "--trace", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def stories(
    scenario: str, *args: str, lines: list[str] | None = None
) -> tuple[dict[str, list[str]], RunView]:
    """Each step's call (``socket.call``) -> what the wire's words said of it, once the
    segments that came before the next step's call were folded; and the view at the end.
    The run's trace goes through the replay runner, as ``--replay`` and the app take it
    (each step announced before what came while it was under way); ``lines``: a trace
    given instead of a new run's."""
    if lines is None:
        lines = sockviz("--scenario", scenario, *args).splitlines()
    events = read_trace(lines)
    played: list = []
    runner = ReplayRunner(get(scenario), played.append, events, mode=Mode.FAST)
    runner.start()
    assert runner.wait(10)
    view = RunView(get(scenario))
    said: dict[str, list[str]] = {}

    def say() -> None:
        if view.last_done is not None:
            call = view.last_done[0]
            wire = story(call, view.caused, view.models, view.wire)
            if view.link is not None:  # (as the app says it: with the link's own story)
                wire = link_story(view.link, view.link_from, wire, view.link_during)
            said.setdefault(f"{call.socket}.{call.call.value}", []).append(wire or "")

    for event in played:
        if isinstance(event, CallEvent) and event.step is not None:
            say()
        apply(view, event, getattr(event, "t", 0.0))
    say()
    return said, view


@needs_hosts
def test_a_fin_sent_again_is_the_kernels_not_close():
    said, _view = stories("tcp-echo", "--drop", "fin")
    close = said["client.close"][0]
    assert close.count("close() sent FIN,ACK") == 1
    assert re.search(r"client's kernel sent FIN,ACK again, \d+ ms after the first", close), close


@needs_hosts
def test_data_sent_again_is_not_called_an_acknowledgement():
    said, view = stories("lost-data")
    send = said["client.sendall"][0]
    again = [s for s in view.caused if s.retry is not None] or [
        row.packet
        for row in view.shown_rows()
        if row.packet is not None and row.packet.retry is not None
    ]
    assert again and again[0].nbytes > 0 and again[0].flags == "ACK"  # (bytes, flags ACK)
    assert f"client's kernel sent ACK {again[0].nbytes} B again, " in send
    # an acknowledgement is an ACK with no payload: never one that carries bytes
    assert not re.search(r"acknowledged[^;]*\(\S*ACK \d+ B\)", send), send
    assert "sendall() sent ACK 1448 B again" not in send
    # (its own data segments said once, counted: 8 KiB in a few segments)
    assert re.search(r"sendall\(\) sent \d+ segments, 8,192 B \(1,448 B at most", send), send


@pytest.mark.skipif(not shutil.which("tshark"), reason="no tshark here")
def test_the_delayed_ack_of_a_fin_is_named_with_the_time_tshark_measures(tmp_path):
    pcap = tmp_path / "run.pcap"
    said, view = stories("tcp-echo", "--pcap", str(pcap))
    close = said["client.close"][0]
    client = view.models["client"].local.rpartition(":")[2]
    rows = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-T",
            "fields",
            "-e",
            "frame.time_relative",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.flags.fin",
            "-e",
            "tcp.len",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.ack",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split("\n")
    frames = [r.split("\t") for r in rows if r.count("\t") == 5]
    fin = next(f for f in frames if f[1] == client and f[2] in ("1", "True"))
    ack = next(
        f
        for f in frames
        if f[1] != client
        and float(f[0]) > float(fin[0])
        and f[3] == "0"
        and int(f[5]) == int(fin[4]) + 1
    )
    late = (float(ack[0]) - float(fin[0])) * 1000
    found = re.search(
        r"conn-1's kernel acknowledged the FIN (\d+) ms later, on its own: "
        r"a delayed ACK",
        close,
    )
    if late >= 10:  # (the delayed-ACK timer held it: it must be said, with its time)
        assert found, close
        assert abs(int(found.group(1)) - late) <= 1.0, (close, late)
    else:
        assert found is None and "delayed" not in close


def test_a_call_row_names_no_segment_it_was_not_seen_to_send():
    """reset: the server's close() sends RST,ACK (SO_LINGER 0), the client's close() after
    the reset sends nothing: neither row says FIN, and the wire's rows under them say what
    crossed."""
    _said, view = stories("reset")
    rows = view.shown_rows()
    closes = [i for i, row in enumerate(rows) if row.call == "close" and row.packet is None]
    labels = [row.label for row in rows]
    assert not [label for label in labels if "FIN" in label]
    conn = next(i for i in closes if rows[i].socket == "conn-1")
    assert labels[conn] == "close()" and not rows[conn].arrow
    assert labels[conn + 1] == "RST,ACK"
    client = next(i for i in closes if rows[i].socket == "client")
    assert labels[client] == "close()"
    assert all(row.packet is None or row.packet.source != "client" for row in rows[client:])
    text = sockviz("--scenario", "reset", "--export", "text")
    assert "· FIN" not in text and "conn-1: RST,ACK" in text


def test_with_no_wire_watched_a_call_row_says_nothing_of_the_wire():
    text = sockviz("--scenario", "half-close", "--wire", "off", "--export", "text")
    assert "shutdown(SHUT_WR)" in text
    # (a segment's name, not a kernel state's: FIN_WAIT2 is what the kernel said)
    assert not re.search(r"\b(FIN|SYN|RST)\b(?!_)", text), text


@needs_hosts
def test_a_lost_segments_arrow_stops_short_in_the_text_export():
    text = sockviz("--scenario", "lost-syn", "--export", "text")
    lost = [line for line in text.splitlines() if "✗ lost" in line]
    crossed = [line for line in text.splitlines() if "client: ↻ SYN" in line]
    assert lost and crossed
    assert lost[0].endswith("✗") and "▶" not in lost[0]
    assert len(lost[0]) < len(crossed[0]) and crossed[0].endswith("▶")


@needs_hosts
def test_what_was_read_at_a_calls_return_is_that_calls_story_not_the_next():
    """lost-syn: the SYN sent again while connect() waited is read when connect() returns,
    after its line; it is connect()'s story, and accept()'s (the next call) says nothing of
    it - the link's doings in a step's story are those after the call before returned."""
    said, _view = stories("lost-syn")
    assert "SYN seq 0 again" in said["client.connect"][0], said["client.connect"]
    assert "again" not in said["conn-1.accept"][0], said["conn-1.accept"]
    assert "round trip" not in said["conn-1.accept"][0].lower()


def _beside(rows: list[dict], at: int, call: str, after: bool) -> list[dict]:
    """The trace's lines with line ``at`` moved just before (or after) the line of
    ``call``, numbered again in their new order as the run would have numbered them
    (``seq``, and a ``cause`` naming a renumbered line)."""
    order = [row for n, row in enumerate(rows) if n != at]
    where = next(n for n, row in enumerate(order) if row["call"] == call)
    order.insert(where + after, rows[at])
    changed = [n for n, (old, new) in enumerate(zip(rows, order, strict=True)) if old is not new]
    if not changed:
        return list(rows)
    low, high = changed[0], changed[-1]
    numbers = [row["seq"] for row in rows[low : high + 1]]
    renumber = {row["seq"]: numbers[n] for n, row in enumerate(order[low : high + 1])}
    out = []
    for n, row in enumerate(order):
        row = dict(row)
        if low <= n <= high:
            row["seq"] = numbers[n - low]
        if row.get("cause") in renumber:
            row["cause"] = renumber[row["cause"]]
        out.append(row)
    return out


@needs_hosts
def test_a_segment_read_before_the_calls_line_is_still_that_calls_story():
    """Under load the background watch can read lost-syn's SYN sent again while
    connect() still waits, so that its line comes before connect()'s in the trace (as in
    a CI run with a CPU burner): the story is connect()'s all the same, as when it came
    after - the same run's trace both ways, so this holds on any machine."""
    rows = [json.loads(line) for line in sockviz("--scenario", "lost-syn").splitlines()]
    again = next(
        at
        for at, row in enumerate(rows)
        if row["call"] == "packet" and row.get("retry") is not None and row["flags"] == "SYN"
    )
    early = _beside(rows, again, "connect", after=False)
    late = _beside(rows, again, "connect", after=True)
    calls = [(row["call"], row.get("retry")) for row in early]
    assert calls.index(("packet", rows[again]["retry"])) + 1 == calls.index(("connect", None))
    lines = [json.dumps(row) for row in late]
    early = [json.dumps(row) for row in early]
    for trace in (lines, early):
        said, _view = stories("lost-syn", lines=trace)
        assert "SYN seq 0 again" in said["client.connect"][0], said["client.connect"]
        assert "again" not in said["conn-1.accept"][0], said["conn-1.accept"]


@needs_hosts
def test_what_the_kernels_did_between_two_calls_is_said_once():
    """lost-fin: the FIN lost and sent again after close() returned, before the server's
    recv(), is close()'s story (the step on screen while it happened); recv() does not say
    it again."""
    said, _view = stories("lost-fin")
    close, recv = said["client.close"][0], said["conn-1.recv"][-1]
    assert "FIN,ACK again" in close and "lost" in close, close
    assert "again" not in recv and "lost" not in recv, recv


def test_an_ack_of_a_fin_sent_again_says_so():
    """A FIN lost on the link and sent again, then the peer's bare ACK 44 ms after the
    second one arrived (as a stepped lost-fin run shows): the ACK answers the FIN sent
    again, and the words say which (a --trace run has the server close at once, its FIN
    carrying that ACK, so the segments are written out here as a stepped run had them)."""
    from sockviz.engine.states import Role, State

    def seg(
        seq, t, flags, source, target, seq_rel, ack_rel, cause=None, link="crossed", retry=None
    ):
        return Segment(
            seq=seq,
            t=t,
            proto="TCP",
            flags=flags,
            source=source,
            target=target,
            seq_rel=seq_rel,
            ack_rel=ack_rel,
            window=64240,
            nbytes=0,
            options="ts",
            cause=cause,
            family="AF_INET",
            local="10.217.0.2:40000",
            remote="10.217.0.1:5000",
            link=link,
            delay=None if link == "dropped" else 0.02,
            retry=retry,
        )

    close = CallEvent(
        seq=19,
        t=0.1019,
        socket="client",
        role=Role.CLIENT,
        call=Call.CLOSE,
        state=State.CLOSED,
        family="AF_INET",
        type="SOCK_STREAM",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        nbytes=None,
        sent_total=8,
        recv_total=0,
        step=9,
    )
    caused = (
        seg(20, 0.102, "FIN,ACK", "client", "conn-1", 9, 1, cause=19, link="dropped"),
        seg(22, 0.3668, "FIN,ACK", "client", "conn-1", 9, 1, retry=0.265),
        seg(23, 0.4308, "ACK", "conn-1", "client", 1, 10),
    )
    said = story(close, caused, {})
    assert "conn-1's kernel acknowledged the FIN sent again 44 ms later" in said, said
