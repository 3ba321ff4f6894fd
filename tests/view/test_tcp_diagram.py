"""The TCP state diagram's fold and figure, on recorded real runs (no Textual).

Each end's path is driven by the run's segments and calls; these hold it against what the
recorded runs' kernels said (their ``TCP_INFO`` / ``ss`` readings), move by move where the
lesson is the path (a lost FIN, a refused connect), and the figure against its own layout.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sockviz.engine.events import CallEvent, KernelEvent, LinkEvent, Segment, WireStatus
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.scenarios import REGISTRY
from sockviz.view import tcp_diagram as td
from sockviz.view.history import History
from sockviz.view.tcp_diagram_art import ART, CLOSED_END, PLACES, draw, plain

DATA = Path(__file__).parents[1] / "app" / "data"
WIRED = (
    "tcp-echo-wire-ipv4",
    "lost-syn-ipv4",
    "lost-data-ipv4",
    "lost-fin-ipv4",
    "slow-link-ipv4",
    "refused-wire-ipv4",
    "tcp-echo-hold-ipv4",
    "simultaneous-close-ipv4",
    "simultaneous-open-ipv4",
)
UNWIRED = ("tcp-echo-ipv4", "half-close-ipv4", "time-wait-server-ipv4", "multi-client-ipv4")


def events(fixture: str) -> list:
    return read_trace((DATA / f"{fixture}.jsonl").read_text().splitlines())


def diagrams(fixture: str) -> td.Diagrams:
    """Folded as the run's view folds them: the wire said first, as a run says it."""
    evs = events(fixture)
    d = td.Diagrams()
    if any(isinstance(e, Segment) for e in evs):
        d = td.on_wire(d, WireStatus("recorded"))
    for e in evs:
        d = td.fold(d, e)
    return d


def moves(end: td.End) -> list[tuple[str, str, str]]:
    return [(m.before, m.after, m.why) for m in end.moves]


def test_an_echo_walks_both_ends_through_the_textbook_paths():
    """Loopback, captured: the opener's active close and the server's passive one, each
    arrow named by its segment or call."""
    (c,) = diagrams("tcp-echo-wire-ipv4").connections
    client, server = c.ends
    assert (client.name, server.name) == ("client", "conn-1")
    assert moves(client) == [
        ("CLOSED", "SYN-SENT", "connect(): SYN sent"),
        ("SYN-SENT", "ESTABLISHED", "SYN,ACK received"),
        ("ESTABLISHED", "FIN-WAIT-1", "close(): FIN,ACK sent"),
        ("FIN-WAIT-1", "FIN-WAIT-2", "ACK received: its FIN acknowledged"),
        ("FIN-WAIT-2", "TIME-WAIT", "FIN,ACK received"),
    ]
    assert moves(server) == [
        ("CLOSED", "LISTEN", "listen()"),
        ("LISTEN", "SYN-RECEIVED", "SYN received, SYN,ACK sent"),
        ("SYN-RECEIVED", "ESTABLISHED", "ACK received: its SYN acknowledged"),
        ("ESTABLISHED", "CLOSE-WAIT", "FIN,ACK received"),
        ("CLOSE-WAIT", "LAST-ACK", "close(): FIN,ACK sent"),
        ("LAST-ACK", "CLOSED", "ACK received: its FIN acknowledged"),
    ]


def test_a_fin_acknowledged_by_the_peers_fin_skips_fin_wait_2():
    """lost-fin: the client's FIN is lost and sent again; the server's FIN,ACK that answers
    it acknowledges it too, so the client goes from FIN-WAIT-1 straight to TIME-WAIT - as
    its kernel said (FIN_WAIT1 -> TIME_WAIT)."""
    (c,) = diagrams("lost-fin-ipv4").connections
    client = c.ends[0]
    assert [m.after for m in client.moves][-2:] == ["FIN-WAIT-1", "TIME-WAIT"]
    assert "its own FIN acknowledged too" in client.moves[-1].why
    assert client.kernel == "TIME_WAIT"


def test_a_simultaneous_close_takes_both_ends_through_closing():
    """simultaneous-close: the two FINs cross on the link, each received while its
    receiver's own FIN is unacknowledged - CLOSING at both ends, as both kernels said."""
    (c,) = diagrams("simultaneous-close-ipv4").connections
    for end in c.ends:
        assert [m.after for m in end.moves][-3:] == ["FIN-WAIT-1", "CLOSING", "TIME-WAIT"]
        assert end.moves[-2].why == "FIN,ACK received (both ends closing)"
    said = [
        (e.socket, e.kernel)
        for e in events("simultaneous-close-ipv4")
        if isinstance(e, KernelEvent) and e.kernel == "CLOSING"
    ]
    assert sorted(said) == [("client", "CLOSING"), ("conn-1", "CLOSING")]


def test_a_simultaneous_open_takes_both_ends_through_syn_received():
    """simultaneous-open: no listener; each end's SYN crosses the other's, each answers
    with a SYN,ACK from SYN-RECEIVED - as both kernels said (SYN_RECV)."""
    (c,) = diagrams("simultaneous-open-ipv4").connections
    for end in c.ends:
        assert [m.after for m in end.moves][:3] == ["SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"]
        assert end.moves[0].before == "CLOSED"  # (no listen(): nobody listened)
    said = {
        e.socket
        for e in events("simultaneous-open-ipv4")
        if isinstance(e, KernelEvent) and e.kernel == "SYN_RECV"
    }
    assert said == {"client", "peer"}


def test_a_refused_connect_ends_in_closed_by_the_reset():
    (c,) = diagrams("refused-wire-ipv4").connections
    client, other = c.ends
    assert moves(client) == [
        ("CLOSED", "SYN-SENT", "connect(): SYN sent"),
        ("SYN-SENT", "CLOSED", "RST,ACK received"),
    ]
    assert other.moves == ()  # (nothing listened there: no socket, no state)


def test_a_held_segment_moves_its_receiver_only_once_it_has_crossed():
    """--hold: a segment held on the link is sent (its sender moves) but not received
    until it is let go and has crossed the link's delay."""
    d = td.on_wire(td.Diagrams(), WireStatus("link"))
    synack = release = established = None
    for e in events("tcp-echo-hold-ipv4"):
        d = td.fold(d, e)
        if isinstance(e, Segment) and e.flags == "SYN,ACK":
            synack = e
            client, server = d.connections[0].ends
            assert (client.state, server.state) == ("SYN-SENT", "SYN-RECEIVED")
        elif isinstance(e, LinkEvent) and synack is not None and e.segment == synack.seq:
            release = e
        if (
            established is None
            and d.connections
            and d.connections[0].ends[0].state == "ESTABLISHED"
        ):
            established = e
    assert synack is not None and release is not None and established is not None
    assert established.seq > release.seq
    move = next(m for m in d.connections[0].ends[0].moves if m.after == "ESTABLISHED")
    assert move.t == pytest.approx(release.t + (release.delay or 0.0))


@pytest.mark.parametrize("fixture", WIRED)
def test_every_move_is_an_arrow_of_the_diagram(fixture):
    for c in diagrams(fixture).connections:
        for end in c.ends:
            for m in end.moves:
                reset = m.after == "CLOSED" and "RST" in m.why
                forgot = (m.before, m.after) == ("TIME-WAIT", "CLOSED")
                assert (m.before, m.after) in td.ARROWS or reset or forgot, (fixture, m)
                assert not m.kernel, (fixture, m)  # (captured: the wire drew every move)


@pytest.mark.parametrize("fixture", [f for f in WIRED + UNWIRED if not f.startswith("refused")])
def test_the_kernels_readings_lie_on_the_path_in_order(fixture):
    """Two witnesses that share nothing: every state the kernel reported for an end (its
    TCP_INFO or sock_diag reading, in the trace) is on the path the segments drew, in the
    order it was read; and the last reading is where the path ends."""
    d = diagrams(fixture)
    assert d.wired is (fixture in WIRED)
    readings: dict[tuple[str, str], list[str]] = {}
    for e in events(fixture):
        kernel = e.kernel if isinstance(e, (CallEvent, KernelEvent)) else None
        if kernel and e.local and e.remote and e.family != "AF_UNIX":
            seen = readings.setdefault((e.local, e.remote), [])
            state = td.KERNEL_NAMES[kernel]
            if not seen or seen[-1] != state:
                seen.append(state)
    checked = 0
    for c in d.connections:
        for end in c.ends:
            said = readings.get((end.address, end.peer), [])
            if not said:
                continue
            path = list(end.path)
            at = 0
            for state in said:
                assert state in path[at:], (fixture, end.name, said, path)
                at = path.index(state, at)
            assert end.state == said[-1], (fixture, end.name, said, path)
            checked += 1
    assert checked >= 2


def test_without_a_capture_the_path_is_the_kernels_and_says_so():
    (c,) = diagrams("tcp-echo-ipv4").connections
    client = c.ends[0]
    assert all(m.kernel for m in client.moves)
    assert client.moves[0].why == "read after connect()"


def test_going_back_shows_the_diagram_of_that_moment():
    """The diagram is part of the view: an earlier moment has its own (nothing redrawn
    from the widgets)."""
    scenario = REGISTRY["tcp-echo"]
    history = History(scenario)
    for i, e in enumerate([WireStatus("recorded"), *events("tcp-echo-wire-ipv4")]):
        history.add(float(i), e)
    states = []
    for moment in range(history.moments + 1):
        connections = history.view_at(moment).diagrams.connections
        states.append(connections[0].ends[0].state if connections else None)
    assert states[0] is None
    assert "ESTABLISHED" in states and states[-1] == "TIME-WAIT"
    assert states.index("ESTABLISHED") < states.index("FIN-WAIT-2") < states.index("TIME-WAIT")


def test_connections_are_capped_and_say_how_many_went():
    d = td.on_wire(td.Diagrams(), WireStatus("host"))
    for port in range(td.MAX_CONNECTIONS + 5):
        syn = Segment(
            seq=port, t=0.0, proto="TCP", flags="SYN", source="client", target="server",
            seq_rel=0, ack_rel=None, window=0, nbytes=0, options=None, cause=None,
            family="AF_INET", local=f"127.0.0.1:{40000 + port}", remote="127.0.0.1:5000",
        )  # fmt: skip
        d = td.on_segment(d, syn)
    assert len(d.connections) == td.MAX_CONNECTIONS and d.dropped == 5


def test_the_figure_has_every_state_once_and_every_drawn_arrow_whole():
    text = plain()
    for state in td.STATES:
        count = len(re.findall(rf"(?<![\w-]){state}(?![\w-])", text))
        assert count == (2 if state == "CLOSED" else 1), (state, count)
    grid = draw()
    for arrow in ART:
        assert (arrow.before, arrow.after.strip()) in td.ARROWS, arrow
        # its label reads whole: no other arrow's line and no state's name over it
        row, col = arrow.at
        cells = grid[row][col - 1 : col + len(arrow.label) + 1]
        assert "".join(ch for ch, _ in cells) == f" {arrow.label} ", arrow
        assert {o for _, o in cells} == {frozenset({(arrow.before, arrow.after)})}, arrow
        # its head stands next to the name of the state it points at
        hr, hc = arrow.points[-1]
        neighbours = {
            grid[hr + dr][hc + dc][1]
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
            if 0 <= hr + dr < len(grid) and 0 <= hc + dc < len(grid[0])
        }
        assert arrow.after in neighbours, arrow
    assert CLOSED_END in PLACES
    assert max(len(line) for line in text.splitlines()) <= 78  # (80 columns, with a border)
