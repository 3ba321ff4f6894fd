"""The live app on real loopback sockets, driven through its keys with Pilot."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from textual import events

from sockviz.app.app import MESSAGE_LIMIT
from sockviz.app.messages import EngineEvents
from sockviz.app.screens.help import HelpScreen
from sockviz.app.screens.picker import ScenarioPicker
from sockviz.engine.events import CallEvent
from sockviz.engine.states import Call, Role, State
from tests.app.app_helpers import crop, live_app, outside_app, settle, steps, until
from tests.engine.test_runner import BLOCKED_IN_ACCEPT, BLOCKED_IN_RECV
from tests.helpers import engine_processes, engine_threads, open_fds, process_fds

SIZE = (100, 30)

# After step n: the socket that moved, its state, kernel badge, bytes sent, bytes received.
TCP_ECHO = [
    ("server", "created", "CLOSE", 0, 0),
    ("server", "created", "CLOSE", 0, 0),
    ("server", "bound", "CLOSE", 0, 0),
    ("server", "listening", "LISTEN", 0, 0),
    ("client", "created", "CLOSE", 0, 0),
    ("client", "connected", "ESTABLISHED", 0, 0),
    ("conn-1", "connected", "ESTABLISHED", 0, 0),
    ("client", "connected", "ESTABLISHED", 14, 0),
    ("conn-1", "connected", "ESTABLISHED", 0, 14),
    ("conn-1", "connected", "ESTABLISHED", 14, 14),
    ("client", "connected", "ESTABLISHED", 14, 14),
    ("client", "closed", "FIN_WAIT2", 14, 14),
    ("conn-1", "connected", "CLOSE_WAIT", 14, 14),
    ("conn-1", "closed", "CLOSE", 14, 14),
    ("server", "closed", "CLOSE", 0, 0),
]


async def test_tcp_echo_one_real_call_per_press():
    """→ fifteen times: each press is exactly one call; cards, badges and bytes follow."""
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.run_screen.history.calls == 0 and not app.run_screen.stage.cards
        for n, (name, state, kernel, sent, received) in enumerate(TCP_ECHO, start=1):
            await steps(pilot, 1)
            assert app.run_screen.history.calls == n, (
                f"press {n} made {app.run_screen.history.calls - n + 1} calls"
            )
            model = app.run_screen.view.models[name]
            assert (model.state.value, model.kernel, model.sent, model.received) == (
                state,
                kernel,
                sent,
                received,
            ), f"after step {n}"
            card = app.run_screen.stage.cards[name]
            if state in ("created", "bound"):  # (no connection: no badge, not "CLOSE")
                assert str(card.border_subtitle) == ""
            else:
                assert kernel in card.border_subtitle
            assert f"sent {sent} B" in str(card.render())
            if n == 12:
                assert app.run_screen.view.models["conn-1"].kernel == "CLOSE_WAIT"
            if n == 8:
                rows = app.run_screen.view.shown_rows()
                sent_row = next(row for row in reversed(rows) if row.packet is None)
                assert sent_row.data == b"hello, sockviz"
                if (
                    app.run_screen.view.wire.where is not None
                ):  # and under it, what crossed the wire
                    after = [row.label for row in rows[rows.index(sent_row) + 1 :]]
                    assert after == ["PSH,ACK 14 B", "ACK 15"]
                assert not sent_row.delivered(app.run_screen.view.folded)
            if n == 9:
                assert app.run_screen.view.shown_rows()[-2].delivered(app.run_screen.view.folded)
        assert app.run_screen.view.models["client"].kernel == "TIME_WAIT"
        assert "TIME_WAIT" in app.run_screen.stage.cards["client"].border_subtitle
        assert all(m.state is State.CLOSED for m in app.run_screen.view.models.values())
        assert app.run_screen.view.models["client"].implicit_bind
        assert State.BOUND in app.run_screen.view.models["client"].visited
        assert (
            app.run_screen.view.outcome is not None
            and app.run_screen.view.outcome.outcome == "done"
        )
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.parametrize(
    ("scenario", "call"), [(BLOCKED_IN_ACCEPT, "accept"), (BLOCKED_IN_RECV, "recv")]
)
async def test_quit_while_blocked_ends_within_a_second(scenario, call):
    fds, threads = open_fds(), engine_threads()
    app = live_app("blocking", step=False, scenarios={"blocking": scenario}, pace=0.1)
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 5
        while not (
            app.run_screen.view.pending
            and app.run_screen.view.pending.call.value == call
            and app.session.runner.gate.waiting == 0
        ):
            assert time.monotonic() < deadline, "never reached the blocking call"
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        assert (
            app.run_screen.view.pending.call.value == call and not app.session.runner.finished
        )  # still inside it
        started = time.monotonic()
        await pilot.press("q")
    assert app.session.stop_seconds < 1.0 and app.session.stopped_cleanly, app.session.stop_parts
    assert time.monotonic() - started < 5.0  # includes the test harness's own teardown
    assert engine_threads() == threads
    assert open_fds() <= fds


async def test_typed_message_is_sent_for_real():
    """i, type, Enter: the client sends it at the conversation's place; keys typed stay text."""
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 2)
        await pilot.press("i")
        await pilot.press("q", "u", "i", "t")  # letters typed into the input, not commands
        assert app.is_running
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.runner.total_steps == 19
        await steps(pilot, 1)  # the step keys work again once Enter left the input
        assert app.run_screen.view.steps_done == 3
        await steps(pilot, 16)
        assert app.run_screen.view.models["conn-1"].received == 14 + 4
        assert app.run_screen.view.models["client"].received == 14 + 4
        assert any(e.data == b"quit" for e in app.run_screen.view.shown_rows())
        assert app.run_screen.view.outcome.outcome == "done"


async def test_escape_leaves_the_input_without_sending():
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i", "a", "b", "escape")
        assert app.focused is None
        await steps(pilot, 1)
        assert app.run_screen.view.steps_done == 1 and app.session.runner.total_steps == 15


async def test_the_footer_shows_the_message_lines_keys_while_typing():
    """Typing, + and - are text (the pace stays) and the footer says Enter and Escape, not
    the run's keys; once Escape leaves the line, the run's keys are back."""

    def shown(app) -> set[str]:
        return {
            b.binding.description for b in app.screen.active_bindings.values() if b.binding.show
        }

    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert {"Step", "Quit", "Speed"} <= shown(app)
        pace = app.session.pace
        await pilot.press("i", "a", "plus", "equals_sign", "minus")
        assert app.query_one("#message").value == "a+=-" and app.session.pace == pace
        assert shown(app) == {"Send", "Back to the run"}
        await pilot.press("escape")
        await pilot.pause()
        assert {"Step", "Quit", "Speed"} <= shown(app)


async def test_plays_by_itself():
    """Without --step the story plays on its own, to TIME_WAIT."""
    app = live_app("tcp-echo", step=False, pace=0.1)
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 15
        while app.run_screen.view.outcome is None:
            assert time.monotonic() < deadline
            await pilot.pause(0.1)
        await settle(pilot)
        assert app.run_screen.view.steps_done == 15
        assert app.run_screen.view.models["client"].kernel == "TIME_WAIT"


async def test_restart_and_switch_family():
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 4)
        await pilot.press("r")
        await settle(pilot)
        assert app.run_screen.history.calls == 0 and not app.run_screen.stage.cards
        await steps(pilot, 3)
        assert app.run_screen.view.models["server"].state is State.BOUND
        await pilot.press("f")
        await settle(pilot)
        assert app.config.family == "ipv6" and not app.run_screen.stage.cards
        await steps(pilot, 3)
        assert app.run_screen.view.models["server"].local.startswith("[::1]:")
        assert app.run_screen.view.models["server"].family == "AF_INET6"


async def test_space_toggles_play_and_pause():
    app = live_app("tcp-echo", step=True, pace=5.0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space")
        assert app.mode.value == "play" and app.session.runner.gate.mode.value == "play"
        await pilot.press("plus", "plus")
        assert app.session.pace < 5.0 and app.session.runner.gate.pace == app.session.pace
        await pilot.press("space")
        assert app.mode.value == "step"


async def test_help_and_scenario_picker():
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 2)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("s")
        assert isinstance(app.screen, ScenarioPicker)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.config.scenario == "udp-echo" and not app.run_screen.stage.cards
        await steps(pilot, 5)
        assert app.run_screen.view.models["server"].type == "SOCK_DGRAM"
        assert app.run_screen.view.models["server"].received == 14
        assert app.run_screen.view.models["server"].kernel is None


async def test_ctrl_q_quits_mid_run_with_every_socket_closed():
    fds, threads = open_fds(), engine_threads()
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 9)  # connected, bytes in flight both ways
        engine = app.session.engine.pid
        sockets = [f for f in process_fds(engine).values() if f.startswith("socket:")]
        assert len(sockets) >= 3, sockets  # listener, connection, client: in the engine process
        started = time.monotonic()
        await pilot.press("ctrl+q")
    assert app.session.stop_seconds < 1.0 and app.session.stopped_cleanly, app.session.stop_parts
    assert time.monotonic() - started < 5.0  # includes the test harness's own teardown
    assert app.return_code == 0
    assert engine_threads() == threads and open_fds() <= fds
    assert engine_processes() == [] and not os.path.exists(f"/proc/{engine}")


async def test_a_batch_that_arrives_while_the_app_closes_is_dropped():
    """Quitting mid-flood: a batch already queued for the app can land after its screen
    has gone. It must be dropped quietly, not crash the app on its way out (it did: a new
    card or ladder row was mounted on a screen that was no longer there)."""
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 6)
        applied = app.run_screen.events_applied
    late = CallEvent(
        seq=99,
        t=1.0,
        socket="late",
        role=Role.CLIENT,
        call=Call.SOCKET,
        state=State.CREATED,
        family="AF_INET",
        type="SOCK_STREAM",
        local=None,
        remote=None,
        nbytes=None,
        sent_total=0,
        recv_total=0,
    )
    app.on_engine_events(EngineEvents([late], app.session.generation))
    assert app.run_screen.events_applied == applied and "late" not in app.run_screen.view.models


async def test_the_lower_panels_come_after_the_first_frame_and_catch_up():
    """The panels mount just after the first frame, on the main screen even if a quick
    ? has opened the help over it, and then show what happened before they were up."""
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.run_screen.panels == "ready")
        await steps(pilot, 3)
        # take them down; a call is made while they are away, and the help is opened
        await app.query_one("#lower").remove()
        app.run_screen.panels = None
        app.run_screen.action_step()
        await until(pilot, lambda: app.run_screen.history.calls == 4)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        app.run_screen._mount_lower()
        await until(pilot, lambda: app.run_screen.panels == "ready")
        assert not app.screen.query("#lower")  # not on the help screen...
        await pilot.press("escape")
        assert app.query_one("#lower").screen is app.default_screen  # ...but under it
        assert "Step 4/15" in str(app.query_one("#explain-done").render())
        log = app.query_one("#log")
        assert log.line_count == 4 and "listen(5)" in log.lines[3]  # the whole run's
        await steps(pilot, 1)
        assert log.line_count == 5 and "socket(" in log.lines[4]


async def test_log_numbers_every_call_with_its_outcome():
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 7)
        every = list(app.query_one("#log").lines)
        lines = [line for line in every if " kernel:" not in line and " wire → " not in line]
        assert len(lines) == 7
        if app.run_screen.view.wire.where is not None:
            wire = [line.split(": ", 1)[1] for line in every if " wire → " in line]
            assert wire == [
                "SYN seq 0  (after call 6)",
                "SYN,ACK seq 0 ack 1  (after call 6)",
                "ACK 1  (after call 6)",
            ]
        assert lines[0].split()[0] == "1" and "server" in lines[0] and "socket(" in lines[0]
        assert "bind(('127.0.0.1', 0))" in lines[2] and "→ bound" in lines[2]
        assert "accept()" in lines[6] and "ESTABLISHED" in lines[6]


async def test_listen_mode_shows_a_real_outside_client():
    """--listen in the TUI: a client that is not sockviz connects, sends, closes; all shown."""
    app = outside_app(listen=("127.0.0.1", 0))
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 5
        while (
            "server" not in app.run_screen.view.models
            or app.run_screen.view.models["server"].kernel != "LISTEN"
        ):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        port = int(app.run_screen.view.models["server"].local.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as peer:
            peer.sendall(b"GET / HTTP/1.0\r\n\r\n\x1b]2;pwned\x07")
        deadline = time.monotonic() + 5
        while (
            "conn-1" not in app.run_screen.view.models
            or app.run_screen.view.models["conn-1"].state is not State.CLOSED
        ):
            assert time.monotonic() < deadline, "the outside client was not seen to the end"
            await pilot.pause(0.05)
        payload = b"GET / HTTP/1.0\r\n\r\n\x1b]2;pwned\x07"
        assert app.run_screen.view.models["conn-1"].received == len(payload)
        data = [e.data for e in app.run_screen.view.shown_rows() if e.data]
        assert data == [payload]  # shown arriving from outside, with its preview
        ladder = "\n".join(crop(app, "#ladder"))
        assert chr(27) not in ladder and "GET / HTTP/1.0" in ladder
        await pilot.press("s")  # not for an outside peer: a notice, no picker
        assert not isinstance(app.screen, ScenarioPicker)
        await pilot.press("q")
    assert engine_threads() == []


async def test_connect_mode_sends_typed_lines_to_a_real_server():
    """--connect in the TUI: i, type, Enter sends the line for real to an outside server."""
    server = socket.create_server(("127.0.0.1", 0))
    got = bytearray()

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            while b"ping" not in got:
                chunk = conn.recv(100)
                if not chunk:
                    break
                got.extend(chunk)
            conn.sendall(b"pong")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    app = outside_app(connect=("127.0.0.1", server.getsockname()[1]))
    try:
        async with app.run_test(size=SIZE) as pilot:
            deadline = time.monotonic() + 5
            while (
                "client" not in app.run_screen.view.models
                or app.run_screen.view.models["client"].state is not State.CONNECTED
            ):
                assert time.monotonic() < deadline, "never connected"
                await pilot.pause(0.05)
            await pilot.press("i", "p", "i", "n", "g", "enter")
            deadline = time.monotonic() + 5
            while app.run_screen.view.models["client"].received < 4:
                assert time.monotonic() < deadline, "no answer shown"
                await pilot.pause(0.05)
            assert bytes(got) == b"ping" and app.run_screen.view.models["client"].sent == 4
            await pilot.press("q")
    finally:
        server.close()
        thread.join(2)
    assert engine_threads() == []


async def test_notifications_show_markup_as_text():
    """A reason quoting '[/]' or '[bold]' is shown as written: no MarkupError, no styling."""
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        app.notify("client.sendall(b'[/]oops [bold]x') failed: EPIPE", title="stopped")
        deadline = time.monotonic() + 3
        while not app.screen.query("Toast"):
            assert time.monotonic() < deadline, "no notification shown"
            await pilot.pause(0.05)
        toast = app.screen.query("Toast").first()
        assert "[/]oops [bold]x" in str(toast.render())
        # (on the run screen it is said in the notice line, the toast hidden)
        assert "[/]oops [bold]x" in str(app.screen.query_one("#notice").render())


async def test_a_huge_paste_is_cut_with_a_notice_and_the_rest_still_works():
    """1 MB pasted into the message line: cut to the limit, said so, and sent for real."""
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await steps(pilot, 2)
        await pilot.press("i")
        app.query_one("#message").post_message(events.Paste("x" * 1_000_000 + "\nsecond"))
        await until(pilot, lambda: len(app.query_one("#message").value) == MESSAGE_LIMIT)
        notes = [n.message for n in app._notifications]
        assert any("first of 2 lines" in n for n in notes)
        assert any(f"{MESSAGE_LIMIT} of 1000000" in n for n in notes)
        await pilot.press("enter")
        await settle(pilot)
        await steps(pilot, app.session.runner.total_steps - app.run_screen.view.steps_done)
        assert (
            app.run_screen.view.models["conn-1"].received == 14 + MESSAGE_LIMIT
        )  # every byte counted
        assert app.run_screen.view.outcome.outcome == "done"
