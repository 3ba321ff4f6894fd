"""Flow control in words, on zero-window's recorded real run (no Textual): the window of 0,
the probes and the window updates named on the ladder and in the stories, each from the
segments before it."""

from __future__ import annotations

from sockviz.engine.events import CallEvent, Segment
from sockviz.engine.states import Call
from sockviz.view import flow_control as fc
from sockviz.view.wirewords import story
from tests.view.test_wire_view import events, fold_until

RUN, SCENARIO = "zero-window-ipv4", "zero-window"


def notes() -> list[tuple[Segment, str | None]]:
    offers: dict = {}
    out = []
    for e in events(RUN):
        if isinstance(e, Segment):
            out.append((e, fc.note(e, offers)))
            fc.offered(offers, e)
    return out


def test_each_note_is_what_the_segments_before_it_show():
    named = notes()
    zero = [s for s, n in named if n == fc.ZERO]
    probes = [s for s, n in named if n == fc.PROBE]
    updates = [s for s, n in named if n == fc.UPDATE]
    assert zero and probes and updates
    assert all(s.window == 0 and s.source == "conn-1" for s in zero)
    for probe in probes:  # (one below what conn-1 acknowledged last, no byte, window 0)
        before = [s for s, _ in named if s.seq < probe.seq and s.source == "conn-1"]
        assert before[-1].window == 0 and probe.seq_rel == before[-1].ack_rel - 1
        assert probe.nbytes == 0 and probe.source == "client" and probe.cause is None
    for update in updates:
        before = [s for s, _ in named if s.seq < update.seq and s.source == update.source]
        assert before[-1].window == 0 and update.window > 0
    # between a zero window and its update, the client sent no byte (it may not)
    first_zero, first_update = zero[0].seq, updates[0].seq
    assert not any(
        s.source == "client" and s.nbytes for s, _ in named if first_zero < s.seq < first_update
    )


def test_the_ladder_and_the_stories_name_them():
    view = fold_until(RUN, SCENARIO)
    labels = [row.label for row in view.shown_rows()]
    assert any(label.endswith(" · window 0") for label in labels)
    assert any(label.endswith(" · window probe") for label in labels)
    assert any(label.endswith(" · window update") for label in labels)
    # the send's story, as the screen says it once the send returned (and the kernels
    # went on on their own while the server waited)
    sent = fold_until(RUN, SCENARIO, lambda e: e.call is Call.SEND)
    send = next(e for e in events(RUN) if isinstance(e, CallEvent) and e.call is Call.SEND)
    said = story(send, sent.caused, sent.models, sent.wire, sent.flow_notes) or ""
    assert "offered a window of 0" in said and "zero-window probe" in said
    read = fold_until(RUN, SCENARIO, lambda e: e.call is Call.RECV)
    recv = next(e for e in events(RUN) if isinstance(e, CallEvent) and e.call is Call.RECV)
    said = story(recv, read.caused, read.models, read.wire, read.flow_notes) or ""
    assert "offered its window again" in said and "window update" in said


def test_keepalives_are_named_and_told():
    """keepalive's recorded run: the client's idle probes, each ``· keepalive`` on the
    ladder, and the recv()'s story says what they are."""
    view = fold_until("keepalive-ipv4", "keepalive")
    labels = [row.label for row in view.shown_rows()]
    assert sum(label.startswith("ACK 1 · keepalive") for label in labels) == 4, labels
    waited = fold_until("keepalive-ipv4", "keepalive", lambda e: e.call is Call.RECV)
    recv = next(
        e for e in events("keepalive-ipv4") if isinstance(e, CallEvent) and e.call is Call.RECV
    )
    said = story(recv, waited.caused, waited.models, waited.wire, waited.flow_notes) or ""
    assert "sent a keepalive" in said
