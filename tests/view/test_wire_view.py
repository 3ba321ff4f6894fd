"""The wire in the view: rows under the calls, counts on the cards, what crossed in words, the
wire's quiz questions - folded from real runs recorded with their segments (tests/app/data)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sockviz.engine import predict_questions as quiz
from sockviz.engine.events import CallEvent, StepPending, WireStatus
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.scenarios import get
from sockviz.view.fold import apply
from sockviz.view.header_words import header_lines
from sockviz.view.run_view import RunView
from sockviz.view.wirewords import story, wire_note

DATA = Path(__file__).resolve().parents[1] / "app" / "data"


def events(name: str) -> list:
    return read_trace((DATA / f"{name}.jsonl").read_text().splitlines())


def fold_until(name: str, scenario: str, stop=None) -> RunView:
    """Fold a recorded run (until the call ``stop`` says to stop after, and what followed
    it before the next call)."""
    view = RunView(get(scenario))
    apply(view, WireStatus("recorded"), 0.0)
    seen = False
    for event in events(name):
        if seen and isinstance(event, CallEvent):
            break
        apply(view, event, 0.0)
        seen = seen or (stop is not None and isinstance(event, CallEvent) and stop(event))
    return view


def test_segments_are_thin_rows_under_the_call_that_caused_them():
    view = fold_until("tcp-echo-wire-ipv4", "tcp-echo")
    rows = view.shown_rows()
    wire = [row for row in rows if row.packet is not None]
    assert [row.label for row in wire[:3]] == ["SYN seq 0", "SYN,ACK seq 0 ack 1", "ACK 1"]
    assert [row.side for row in wire[:3]] == ["left", "right", "left"]
    connect = next(i for i, row in enumerate(rows) if row.call == "connect")
    assert [row.packet is not None for row in rows[connect + 1 : connect + 4]] == [True] * 3
    assert all(row.selectable for row in wire) and len(wire) == 11
    assert view.models["client"].segments_out == 6 and view.models["client"].segments_in == 5
    assert view.models["server"].segments_out == 1  # the SYN-ACK, before accept()


def test_what_crossed_is_said_from_what_was_captured():
    connect = fold_until("tcp-echo-wire-ipv4", "tcp-echo", lambda e: e.call.value == "connect")
    said = story(connect.last_done[0], connect.caused, connect.models)
    assert said.startswith(
        "connect() sent SYN; server's kernel answered SYN-ACK before "
        "accept() was called - the connection waited in the accept queue"
    )
    assert "client's kernel sent the ACK" in said
    accept = fold_until("tcp-echo-wire-ipv4", "tcp-echo", lambda e: e.call.value == "accept")
    assert accept.caused == ()
    assert story(accept.last_done[0], (), accept.models).startswith("accept() sent nothing")
    send = fold_until("tcp-echo-wire-ipv4", "tcp-echo", lambda e: e.call.value == "sendall")
    assert "sent PSH,ACK 14 B" in story(send.last_done[0], send.caused, send.models)
    assert "acknowledged at once" in story(send.last_done[0], send.caused, send.models)
    refused = fold_until("refused-wire-ipv4", "refused", lambda e: e.call.value == "connect")
    assert "answered RST,ACK" in story(refused.last_done[0], refused.caused, refused.models)


def test_a_segments_header_spelled_out():
    view = fold_until("tcp-echo-wire-ipv4", "tcp-echo")
    syn_ack = next(row.packet for row in view.shown_rows() if row.label.startswith("SYN,ACK"))
    lines = header_lines(syn_ack)
    assert lines[1] == "from server to client" and "flags: SYN,ACK" in lines
    assert "seq 0 (relative)   ack 1 (relative)" in lines
    assert any(line.startswith("options: mss=") for line in lines)
    assert lines[-1].startswith("caused by call ")


def test_the_wire_asks_its_own_questions():
    """Before connect() and before the first close, predict mode asks about the wire."""
    steps = get("tcp-echo").steps_for("ipv4")
    kinds = []
    for call in ("connect", "close"):
        index = next(i for i, s in enumerate(steps) if s.call.value == call)
        step = steps[index]
        view = fold_until("tcp-echo-wire-ipv4", "tcp-echo", lambda e, i=index: e.step == i - 1)
        pending = StepPending(index, step.actor, step.socket, step.call, None, "", None)
        kinds.append(quiz.ask(pending, view.models, wire=True).kind)
        assert quiz.ask(pending, view.models, wire=False).kind in ("state", "kernel")
    assert kinds == ["wire-connect", "wire-fin"]


def test_connect_and_first_close_answers():
    view = fold_until("tcp-echo-wire-ipv4", "tcp-echo", lambda e: e.call.value == "connect")
    question = quiz.Question(5, "wire-connect", "client", "?", ())
    assert question.answer(view.last_done[0], view.models, view.caused) == quiz.HANDSHAKE
    closing = fold_until("tcp-echo-wire-ipv4", "tcp-echo", lambda e: e.call.value == "close")
    question = quiz.Question(13, "wire-fin", "client", "?", ())
    assert question.answer(closing.last_done[0], closing.models, closing.caused) == "client"
    refused = fold_until("refused-wire-ipv4", "refused", lambda e: e.call.value == "connect")
    question = quiz.Question(1, "wire-refused", "client", "?", ())
    assert question.answer(refused.last_done[0], refused.models, refused.caused) == "RST,ACK"


def test_a_run_without_the_wire_says_why_once():
    assert wire_note(WireStatus("host")) is None
    assert wire_note(WireStatus(None, "no user namespaces here")) == "no user namespaces here"


def test_a_bulk_transfers_sums_in_words():
    from sockviz.engine.events import Segment
    from sockviz.view.words import segment_label

    # (as the kernel counted it, frames never read: flags and sizes were seen by nobody)
    data = Segment(
        seq=15,
        t=0.1,
        proto="TCP",
        flags=None,
        source="client",
        target="conn-1",
        seq_rel=None,
        ack_rel=None,
        window=None,
        nbytes=1 << 30,
        options=None,
        cause=13,
        family="AF_INET",
        local="127.0.0.1:40000",
        remote="127.0.0.1:5000",
        count=19890,
        largest=None,
        retransmissions=2,
        is_sum=True,
    )
    assert segment_label(data) == "TCP ×19,890 1.0 GiB, 2 again"
    lines = header_lines(data)
    assert "frames counted by the kernel as they crossed, never read" in lines[1]
    assert "largest segment: not seen: the frames were counted, not read" in lines
    assert "flags: not seen: the frames were counted, not read" in lines
    call = next(
        e
        for e in events("tcp-echo-wire-ipv4")
        if isinstance(e, CallEvent) and e.call.value == "sendall"
    )
    assert story(call, (data,), {}) == (
        "The transfer on the wire: client sent 19,890 segments, 1.0 GiB, 2 sent again."
    )
    # (read frame by frame, as --pcap does: then what was seen is said)
    read = replace(data, flags="PSH,ACK", seq_rel=1, largest=65483)
    assert segment_label(read) == "PSH,ACK ×19,890 1.0 GiB, 2 again"
    assert "largest segment: 65,483 B" in header_lines(read)
    assert story(call, (read,), {}) == (
        "The transfer on the wire: client sent 19,890 "
        "segments, 1.0 GiB (largest 63.9 KiB), 2 sent again."
    )


def test_a_call_keeps_its_name_at_the_start_of_a_sentence():
    closing = fold_until("tcp-echo-wire-ipv4", "tcp-echo", lambda e: e.call.value == "close")
    said = story(closing.last_done[0], closing.caused, closing.models)
    assert said.startswith(
        "close() sent FIN,ACK; conn-1's kernel acknowledged the FIN 40 ms "
        "later, on its own: a delayed ACK"
    )


def test_nagle_and_the_delayed_ack_are_told_from_the_segments():
    """nagle: the second small write's bytes wait in the kernel (its story says so); the
    server's recv() story says the ACK came late (a delayed ACK) and the held piece left
    right after it (Nagle's algorithm) - both from the segments' times."""
    calls = [e for e in events("nagle-ipv4") if isinstance(e, CallEvent)]
    second = [e for e in calls if e.call.value == "send" and e.socket == "client"][2]
    view = fold_until("nagle-ipv4", "nagle", lambda e: e.seq == second.seq)
    said = story(second, view.caused, view.models, view.wire, view.flow_notes, view.earlier)
    assert "none crossed before it returned: they wait in its send buffer" in (said or "")
    read = next(e for e in calls if e.seq > second.seq and e.call.value == "recv")
    view = fold_until("nagle-ipv4", "nagle", lambda e: e.seq == read.seq)
    said = story(read, view.caused, view.models, view.wire, view.flow_notes, view.earlier) or ""
    assert "a delayed ACK" in said and "Nagle's algorithm" in said, said


def test_an_icmp_error_is_said_with_who_answered_and_why():
    """udp-loss: the datagram sent after the server closed is answered by the server host's
    kernel with an ICMP port unreachable - a thin arrow of its own, and the send's story
    says who answered, why, and what a connected socket makes of it."""
    view = fold_until("udp-loss-ipv4", "udp-loss")
    labels = [row.label for row in view.shown_rows()]
    assert any(label.startswith("ICMP port unreachable") for label in labels), labels
    last_send = [
        e for e in events("udp-loss-ipv4") if isinstance(e, CallEvent) and e.call.value == "send"
    ][-1]
    sent = fold_until("udp-loss-ipv4", "udp-loss", lambda e: e.seq == last_send.seq)
    said = story(last_send, sent.caused, sent.models, sent.wire, sent.flow_notes) or ""
    assert "the kernel at 10.217.0.1 answered client with ICMP port unreachable" in said, said
    assert "nothing listens on port 5000 there" in said and "ECONNREFUSED" in said


def test_select_and_setblocking_are_said_on_the_ladder_and_in_the_log():
    view = fold_until("nonblocking-ipv4", "nonblocking")
    labels = [row.label for row in view.shown_rows()]
    assert "setblocking(False)" in labels
    assert "select() → client:w" in labels and labels.count("select() → conn-1") == 2
    assert any(label.endswith("accept: EAGAIN") for label in labels)
