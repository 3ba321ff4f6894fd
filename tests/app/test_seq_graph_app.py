"""The time-sequence graph in the app (``G``): in the stage's place, stepping and going back
with the run, one direction after another, and saying so when there is nothing to draw
(recorded real runs, fixed clock and size)."""

from __future__ import annotations

from sockviz.app.widgets.seq_graph_panel import SeqGraph
from tests.app.app_helpers import at_step, jump, replay_app, until

SIZE = (100, 42)


def graph_text(app) -> str:
    return str(app.run_screen.query_one(SeqGraph).render())


def test_the_graph_of_a_lost_segment(snap_compare):
    """lost-data once the server has read every byte: the lost segment on the floor, the
    SACK blocks above it, the same bytes sent again, and the ACK jumping past them all."""
    app = replay_app("graph-lost-data-ipv4", "lost-data")
    assert snap_compare(app, terminal_size=SIZE, run_before=at_step(9, "G"))


def test_the_graph_of_a_transfer_over_a_slow_link(snap_compare):
    """slow-link's 256 KiB: the points its sum carries, the window edge above the data."""
    app = replay_app("graph-slow-link-ipv4", "slow-link")
    assert snap_compare(app, terminal_size=(100, 30), run_before=at_step(9, "G"))


async def test_g_steps_goes_back_and_goes_through_each_direction():
    app = replay_app("graph-lost-data-ipv4", "lost-data")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 7)
        await pilot.press("G")
        await until(pilot, lambda: app.run_screen.has_class("-graph"))
        assert not app.run_screen.query_one("#stage").display
        assert "0 bytes in" in graph_text(app)  # (the handshake only: no data yet)
        await pilot.press("right", "right")  # (sendall, then the server's recv)
        await until(pilot, lambda: "1 sent again" in graph_text(app))
        assert "1 lost on the link" in graph_text(app) and "SACK" in graph_text(app)
        await pilot.press("left", "left")
        await until(pilot, lambda: "1 sent again" not in graph_text(app))
        await pilot.press("end")
        await until(pilot, lambda: "1 sent again" in graph_text(app))
        first = graph_text(app).splitlines()[1]
        await pilot.press("right")  # (conn-1's reply: a second direction with bytes)
        await until(pilot, lambda: "Time-sequence graph 1 of 2" in graph_text(app))
        await pilot.press("G")
        await until(pilot, lambda: "Time-sequence graph 2 of 2" in graph_text(app))
        assert graph_text(app).splitlines()[1] != first
        assert graph_text(app).splitlines()[1].startswith("conn-1 ")
        await pilot.press("d")  # (the state diagram takes the graph's place)
        await until(pilot, lambda: app.run_screen.has_class("-diagram"))
        assert not app.run_screen.has_class("-graph")
        await pilot.press("G", "G", "G")  # (open, the next direction, closed)
        await until(pilot, lambda: not app.run_screen.has_class("-graph"))
        assert app.run_screen.query_one("#stage").display


async def test_no_tcp_segment_says_so():
    app = replay_app("udp-echo-ipv4", "udp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 6)
        await pilot.press("G")
        await until(pilot, lambda: "No TCP segment yet" in graph_text(app))
