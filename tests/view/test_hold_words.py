"""A held run's words, folded without Textual: the up-front statement made from the kernel
settings the run read, and the held SYN's retry said as the client kernel's retransmission."""

from __future__ import annotations

from dataclasses import replace

from sockviz.engine.events import CallEvent, LinkEvent, LinkStatus, TcpSettings
from sockviz.engine.states import Call, Role, State
from sockviz.view import linkview
from sockviz.view.hold_words import hold_words
from sockviz.view.wirewords import story
from tests.view.test_linkview import PENDING, folded, segment

HOLD = LinkStatus("delay 20 ms · each segment waits for →", "10.217.0.1", "10.217.0.2", hold=True)


def settings(linear: str | None = "4", retries: str | None = "6") -> TcpSettings:
    """The client host's settings as the run read them; only the SYN ones matter here."""
    return TcpSettings(
        "client",
        (
            ("tcp_congestion_control", "bbr"),
            ("tcp_syn_retries", retries),
            ("tcp_synack_retries", "5"),
            ("tcp_syn_linear_timeouts", linear),
        ),
    )


def test_the_up_front_statement_is_made_from_the_settings_the_run_read():
    """The same held run with only tcp_syn_linear_timeouts read differently says other
    retry times; with no settings read it says it does not know when."""
    four = hold_words(folded(HOLD, settings("4")).link)
    one = hold_words(folded(HOLD, settings("1")).link)
    assert four is not None and one is not None
    assert "really late" in four and "timers keep running" in four
    assert "1 s, 2 s, 3 s, 4 s, 5 s, 7 s after the first" in four
    assert "tcp_syn_linear_timeouts = 4, tcp_syn_retries = 6" in four
    assert "1 s, 2 s, 4 s, 8 s, 16 s, 32 s after the first" in one
    assert "tcp_syn_linear_timeouts = 1" in one
    fewer = hold_words(folded(HOLD, settings("4", "2")).link)
    assert fewer is not None and "at 1 s, 2 s after the first" in fewer
    older = hold_words(folded(HOLD, settings(None)).link)
    assert older is not None and "no tcp_syn_linear_timeouts on this kernel" in older
    assert "1 s, 3 s, 7 s, 15 s, 31 s, 63 s" in older  # (the wait doubles from the first)
    unknown = hold_words(folded(HOLD).link)
    assert unknown is not None and "not known" in unknown and " s, " not in unknown


def test_the_statement_fits_its_room_and_only_a_held_run_makes_one():
    link = folded(HOLD, settings()).link
    for room in (200, 118, 98, 78, 50):
        words = hold_words(link, room)
        assert words is not None and len(words) <= room, (room, words)
        assert "1, 2, 3, 4, 5, 7 s" in words or "1 s, 2 s, 3 s, 4 s, 5 s, 7 s" in words
    assert "(tcp_syn_linear_timeouts = 4)" in (hold_words(link, 158) or "")
    plain = LinkStatus("delay 20 ms", "10.217.0.1", "10.217.0.2")
    assert hold_words(folded(plain, settings()).link) is None
    assert hold_words(None) is None


def held_handshake():
    """A connect() whose SYN the link held past two of the client kernel's timeouts."""
    return folded(
        HOLD,
        settings(),
        PENDING,
        segment(6, 0.02, "SYN", "held"),
        segment(8, 1.04, "SYN", "held", retry=1.02),
        segment(9, 2.06, "SYN", "held", retry=2.04),
    )


def test_a_held_syns_retry_is_said_as_the_client_kernels_retransmission():
    view = held_handshake()
    said = linkview.link_story(view.link, 0, None)
    assert said is not None
    assert (
        "client's kernel sent SYN seq 0 again twice, 1.02 s and 2.04 s after the first: a "
        "retransmission, not a new connect() - no SYN-ACK had reached it in time, so its "
        "retransmission timer ran out (the link was holding this handshake's "
        "segments for a key" in said
    )
    # the rule from the settings read, once
    assert said.count("This kernel (tcp_syn_linear_timeouts = 4)") == 1
    assert said.count("sent SYN seq 0 again") == 1


def test_the_retry_words_follow_the_settings_read():
    changed = folded(
        HOLD,
        settings("1"),
        PENDING,
        segment(6, 0.02, "SYN", "held"),
        segment(8, 1.04, "SYN", "held", retry=1.02),
    )
    said = linkview.link_story(changed.link, 0, None) or ""
    assert "(tcp_syn_linear_timeouts = 1)" in said and "1 s, 2 s, 4 s, 8 s" in said
    assert "again, 1.02 s after the first: a retransmission" in said


def test_a_syn_ack_sent_again_while_the_ack_was_held_says_why():
    server = {"local": "10.217.0.1:5000", "remote": "10.217.0.2:40000"}
    ack = segment(12, 1.2, "ACK", "held")
    back = {"source": "server", "target": "client", **server}
    synack = replace(segment(10, 0.3, "SYN,ACK", "crossed", delay=0.02), **back)
    again = replace(segment(13, 1.33, "SYN,ACK", "held", retry=1.03), **back)
    said = linkview.link_story(folded(HOLD, settings(), ack, synack, again).link, 0, None) or ""
    assert "server's kernel sent SYN,ACK seq 0 again, 1.03 s after the first" in said
    assert "no ACK had reached it in time, so its timer ran out (the link was holding" in said


def test_the_connect_story_names_the_first_syn_only_as_the_calls():
    """The wire's story of a connect() whose SYN was held and sent again: connect() sent
    it once; every later sending is the kernel's (said by the link's story)."""
    view = held_handshake()
    connect = CallEvent(
        seq=20,
        t=2.5,
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
    said = story(connect, view.during, view.models)
    assert said is not None and said.count("connect() sent SYN seq 0") == 1, said


def test_a_held_handshakes_repeated_acks_are_said_as_answers_to_syn_acks_sent_again():
    """Holding a SYN-ACK past the server kernel's timer makes it send the SYN-ACK again;
    the client's kernel answers each that reaches it with the same ACK 1."""
    view = held_handshake()
    back = {"source": "server", "target": "client"}
    first = replace(segment(21, 2.6, "ACK", "held"), cause=20, ack_rel=1, seq_rel=1)
    synack = replace(segment(22, 3.3, "SYN,ACK", "held", retry=1.03), ack_rel=1, **back)
    again = replace(first, seq=23, t=3.4, cause=None)
    connect = CallEvent(
        seq=20,
        t=2.5,
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
    said = story(connect, (*view.during, first, synack, again, replace(again, seq=24)), {})
    assert said is not None
    assert "client's kernel acknowledged a SYN-ACK sent again (ACK 1), on its own (2 times)" in (
        said
    ), said
    # without the SYN-ACK sent again, the same ACKs are not said to answer one
    plain = story(connect, (*view.during, first, again), {}) or ""
    assert "SYN-ACK sent again" not in plain


def test_a_held_segment_let_cross_is_said_in_the_past():
    view = held_handshake()
    assert "The link holds client's SYN seq 0 until → lets it cross." in (
        linkview.link_story(view.link, 0, None) or ""
    )
    crossed = LinkEvent(
        seq=10, t=2.2, what="released", segment=6, source="client", target="server",
        flags="SYN", family="AF_INET", local="10.217.0.2:40000", remote="10.217.0.1:5000",
        delay=0.02,
    )  # fmt: skip
    let = folded(HOLD, PENDING, segment(6, 0.02, "SYN", "held"), crossed)
    said = linkview.link_story(let.link, 0, None) or ""
    assert "The link held client's SYN seq 0 until a key let it cross." in said
    assert "holds client's SYN" not in said


def test_a_replayed_held_run_says_it_once_its_first_segment_is_held():
    """A recording does not keep --hold (its replay's link status says nothing of it); the
    first held segment shows the run held them, and the statement comes with it."""
    replayed = LinkStatus("as recorded", "10.217.0.1", "10.217.0.2")
    assert hold_words(folded(replayed, settings()).link) is None
    view = folded(replayed, settings(), PENDING, segment(6, 0.02, "SYN", "held"))
    said = hold_words(view.link)
    assert said is not None and "1 s, 2 s, 3 s, 4 s, 5 s, 7 s" in said
    assert view.link is not None and "held 1" in view.link.counters()
