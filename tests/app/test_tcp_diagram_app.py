"""The TCP state diagram in the app (``d``): in the stage's place, stepping and going back
with the run, one connection after another, and saying so when there is none (recorded
real runs, fixed clock and size)."""

from __future__ import annotations

from textual.widgets import Static

from tests.app.app_helpers import at_step, jump, replay_app, steps, until

SIZE = (100, 42)


def diagram_text(app) -> str:
    """What the diagram says: its header, figure and paths (scrolled into view or not)."""
    parts = ("#diagram-head", "#diagram-figure", "#diagram-paths")
    return "\n".join(str(app.run_screen.query_one(part, Static).content) for part in parts)


def now_line(app, name: str) -> str:
    """The path's first line for the end ``name``: ``■ client … now STATE …``."""
    lines = diagram_text(app).splitlines()
    return next((line for line in lines if f"■ {name} " in line and " now " in line), "")


def test_the_diagram_at_the_servers_close(snap_compare):
    """tcp-echo, captured, after conn-1.close(): the client lit in TIME-WAIT, conn-1 in
    CLOSED at the foot, each one's arrows in its colour, named by the run's segments."""
    app = replay_app("tcp-echo-wire-ipv4", "tcp-echo")
    assert snap_compare(app, terminal_size=SIZE, run_before=at_step(14, "d"))


def test_the_diagram_of_a_simultaneous_close(snap_compare):
    """simultaneous-close after both close() calls and the listener's: both ends lit in
    TIME-WAIT (the name split between their colours), both paths through CLOSING."""
    app = replay_app("simultaneous-close-ipv4", "simultaneous-close")
    assert snap_compare(app, terminal_size=SIZE, run_before=at_step(11, "d"))


async def test_d_steps_and_goes_back_with_the_run():
    app = replay_app("tcp-echo-wire-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 6)
        await pilot.press("d")
        await until(pilot, lambda: app.run_screen.has_class("-diagram"))
        assert not app.run_screen.query_one("#stage").display
        assert "now ESTABLISHED" in now_line(app, "client")
        await steps(pilot, 6)  # (through the client's close())
        await until(pilot, lambda: "now FIN-WAIT-2" in now_line(app, "client"))
        # an arrow taken says this run's event; one not taken, RFC 9293's words
        figure = str(app.run_screen.query_one("#diagram-figure", Static).content)
        assert " close(): FIN,ACK " in figure and " rcv ACK " in figure
        assert "close(): FIN " not in figure and " rcv FIN + ACK of FIN " in figure
        await pilot.press("left", "left", "left")
        await until(pilot, lambda: "now ESTABLISHED" in now_line(app, "client"))
        assert "FIN-WAIT-1 → FIN-WAIT-2" not in diagram_text(app)
        await pilot.press("end")
        await until(pilot, lambda: "now FIN-WAIT-2" in now_line(app, "client"))
        await pilot.press("d")  # (one connection: d again closes it)
        await until(pilot, lambda: not app.run_screen.has_class("-diagram"))
        assert app.run_screen.query_one("#stage").display


async def test_d_goes_through_each_connection_then_closes():
    app = replay_app("multi-client-ipv4", "multi-client")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 40)
        seen = []
        for _ in range(3):
            await pilot.press("d")
            await pilot.pause()
            head = diagram_text(app).splitlines()[0]
            seen.append(head.split(":")[0].strip())
            # without a capture, every state is the kernel's reading, and the screen says so
            assert "No segment of this run was watched" in diagram_text(app)
        assert seen == [f"TCP connection {i} of 3" for i in (1, 2, 3)]
        await pilot.press("d")
        await until(pilot, lambda: not app.run_screen.has_class("-diagram"))


async def test_no_tcp_connection_says_so():
    app = replay_app("udp-echo-ipv4", "udp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 6)
        await pilot.press("d")
        await until(pilot, lambda: "No TCP connection yet" in diagram_text(app))
