"""The link as the view folds it, without Textual: counters, held segments, gap rows, the
kernel's retry in words, and a run whose two hosts could not be made."""

from __future__ import annotations

from sockviz.engine.events import LinkEvent, LinkStatus, Segment, StepPending
from sockviz.engine.scenarios import get
from sockviz.engine.states import Call
from sockviz.view import linkview
from sockviz.view.fold import apply
from sockviz.view.run_view import RunView


def segment(seq: int, t: float, flags: str, link: str, **more) -> Segment:
    return Segment(
        seq=seq,
        t=t,
        proto="TCP",
        flags=flags,
        source="client",
        target="server",
        seq_rel=0,
        ack_rel=None,
        window=64240,
        nbytes=0,
        options=None,
        cause=None,
        family="AF_INET",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        link=link,
        **more,
    )


def folded(*events) -> RunView:
    view = RunView(get("lost-syn"))
    for n, event in enumerate(events):
        apply(view, event, float(n))
    return view


STATUS = LinkStatus("delay 20 ms · drop syn", "10.217.0.1", "10.217.0.2")
PENDING = StepPending(
    step=5, actor="client", socket="client", call=Call.CONNECT, args=None, explain=""
)


def test_a_lost_syn_and_its_retry_counted_drawn_and_said():
    lost = segment(6, 0.02, "SYN", "dropped")
    again = segment(8, 1.04, "SYN", "crossed", delay=0.02, retry=1.02)
    view = folded(STATUS, PENDING, lost, again)
    link = view.link
    assert (link.sent, link.dropped, link.in_flight, link.delivered) == (2, 1, 1, 0)
    labels = [row.label for row in view.shown_rows()]
    assert labels == [
        "connect() begins",
        "SYN seq 0 ✗ lost",
        "┊ 1.02 s pass ┊",
        "↻ SYN seq 0 · 1.02 s",
    ]
    said = linkview.link_story(link, 0, None)
    assert said.startswith("The link lost client's SYN seq 0 on purpose (a drop fault)")
    assert "client's kernel sent SYN seq 0 again, 1.02 s after the first" in said
    assert "10.217.0.2 ⇄ 10.217.0.1 · delay 20 ms · drop syn │ sent 2" in linkview.settings_line(
        link
    )


def test_a_key_wait_is_not_a_gap_and_a_held_segment_crosses_on_release():
    held = segment(6, 0.02, "SYN", "held")
    crossed = LinkEvent(
        seq=7,
        t=3.0,
        what="released",
        segment=6,
        source="client",
        target="server",
        flags="SYN",
        family="AF_INET",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        delay=0.02,
    )
    view = folded(STATUS, held, PENDING, crossed)
    assert view.link.held == () and view.link.in_flight == 1
    assert [row.label for row in view.shown_rows()] == ["SYN seq 0", "SYN seq 0 crosses"]
    before = folded(STATUS, held)
    assert linkview.next_key(before.link) == "lets client's SYN cross"


def test_two_hosts_missing_leave_the_view_on_loopback_with_the_reason():
    view = folded(LinkStatus("", "", "", missing="/dev/net/tun cannot be opened"))
    assert view.link is None and view.link_missing == "/dev/net/tun cannot be opened"


def test_a_lab_exported_marks_the_lost_segment_and_the_retry():
    from pathlib import Path

    from sockviz.engine.record.trace_format import read_trace
    from sockviz.view.export import to_mermaid, to_text

    data = Path(__file__).parents[1] / "app" / "data" / "lost-syn-ipv4.jsonl"
    events = read_trace(data.read_text().splitlines())
    mermaid = to_mermaid(events, "lost-syn", get("lost-syn"))
    assert "P1--xP2: SYN seq 0 ✗ lost" in mermaid
    assert "P1-->>P2: ↻ SYN seq 0 · 1.02 s" in mermaid  # (the recording's retry: 1.023 s)
    assert "SYN seq 0 ✗ lost" in to_text(events, "lost-syn", get("lost-syn"))


def test_a_handshake_read_while_connect_waited_is_still_connects_story():
    """Over a 100 ms link the SYN and SYN-ACK are seen while connect() still waits (no
    call to name as their cause yet): they are the call's all the same, and the round trip
    is said."""
    from sockviz.engine.events import CallEvent
    from sockviz.engine.states import Role, State
    from sockviz.view.wirewords import story

    def sent(seq, t, flags, source, target, cause=None):
        return Segment(
            seq=seq,
            t=t,
            proto="TCP",
            flags=flags,
            source=source,
            target=target,
            seq_rel=0,
            ack_rel=1 if "ACK" in flags else None,
            window=64240,
            nbytes=0,
            options=None,
            cause=cause,
            family="AF_INET",
            local="10.217.0.2:40000",
            remote="10.217.0.1:5000",
            link="crossed",
            delay=0.1,
        )

    connect = CallEvent(
        seq=9,
        t=0.21,
        socket="client",
        role=Role.CLIENT,
        call=Call.CONNECT,
        state=State.CONNECTED,
        family="AF_INET",
        type="SOCK_STREAM",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        nbytes=None,
        sent_total=0,
        recv_total=0,
        step=5,
    )
    view = folded(
        STATUS,
        PENDING,
        sent(6, 0.0, "SYN", "client", "server"),
        sent(7, 0.1, "SYN,ACK", "server", "client"),
        connect,
        sent(10, 0.2, "ACK", "client", "server", cause=9),
    )
    assert [s.flags for s in view.caused] == ["SYN", "SYN,ACK", "ACK"]
    said = story(connect, view.caused, view.models, None)
    assert said.startswith("connect() sent SYN; server's kernel answered SYN-ACK")
    assert (
        "One round trip: the SYN-ACK was back 200 ms after the SYN crossing set off."
        in linkview.link_story(view.link, view.link_from, said, view.link_during)
    )


def test_a_bulk_transfer_the_link_counted_is_in_its_counters():
    """slow-link's megabyte crosses as two summed lines (the link counted its packets
    without reading them): the strip's 'sent' counts every one of them, not one a line."""
    data = Segment(
        seq=20,
        t=1.0,
        proto="TCP",
        flags=None,
        source="client",
        target="conn-1",
        seq_rel=None,
        ack_rel=None,
        window=None,
        nbytes=1 << 20,
        options=None,
        cause=18,
        family="AF_INET",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        count=725,
        largest=None,
        is_sum=True,
    )
    acks = Segment(
        seq=21,
        t=1.0,
        proto="TCP",
        flags=None,
        source="conn-1",
        target="client",
        seq_rel=None,
        ack_rel=None,
        window=None,
        nbytes=0,
        options=None,
        cause=19,
        family="AF_INET",
        local="10.217.0.1:5000",
        remote="10.217.0.2:40000",
        count=569,
        largest=0,
        is_sum=True,
    )
    view = RunView(get("slow-link"))
    apply(view, LinkStatus("delay 40 ms · rate 8 Mbit/s", "10.217.0.1", "10.217.0.2"), 0.0)
    before = view.link.sent
    for event in (data, acks):
        apply(view, event, 1.0)
    assert view.link.sent == before + 725 + 569


def test_a_segment_is_not_in_flight_once_the_run_is_past_its_arrival():
    """The last ACK of a run crosses in 20 ms; the listener's close() comes seconds later:
    the strip says nothing is in flight then (it said 'in flight 1' to the end, seen in
    tmux on lost-syn)."""
    from sockviz.engine.events import CallEvent
    from sockviz.engine.states import Role, State

    ack = Segment(
        seq=30,
        t=5.0,
        proto="TCP",
        flags="ACK",
        source="client",
        target="conn-1",
        seq_rel=25,
        ack_rel=25,
        window=64240,
        nbytes=0,
        options="ts",
        cause=None,
        family="AF_INET",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        link="crossed",
        delay=0.02,
    )
    close = CallEvent(
        seq=31,
        t=7.0,
        socket="server",
        role=Role.LISTENER,
        call=Call.CLOSE,
        state=State.CLOSED,
        family="AF_INET",
        type="SOCK_STREAM",
        local="10.217.0.1:5000",
        remote=None,
        nbytes=None,
        sent_total=0,
        recv_total=0,
        step=14,
    )
    view = RunView(get("lost-syn"))
    apply(view, LinkStatus("delay 20 ms · drop syn", "10.217.0.1", "10.217.0.2"), 0.0)
    apply(view, ack, 5.0)
    assert view.link.in_flight == 1
    apply(view, close, 7.0)
    assert view.link.in_flight == 0 and view.link.delivered == view.link.sent
