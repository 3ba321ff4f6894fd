"""Bytes from a peer are shown, never interpreted.

A real client process (not sockviz) connects to `--listen` in the TUI and sends terminal
escapes (CSI clear, OSC 2 title, OSC 52 clipboard), BEL, NUL, invalid UTF-8 and Textual
markup. The screen must show them as visible text and contain none of them raw.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from sockviz.app.app import AppConfig, SockvizApp
from sockviz.app.widgets.ladder import row_content
from sockviz.app.widgets.payload import PayloadView
from sockviz.engine.states import State
from sockviz.options import Options
from sockviz.peers import outside_runner_factory
from tests.helpers import engine_threads

HOSTILE = (
    b"\x1b[2J\x1b[H"  # CSI: clear the screen, cursor home
    b"\x1b]2;pwned\x07"  # OSC 2: set the window title, ended by BEL
    b"\x1b]52;c;aGVsbG8=\x07"  # OSC 52: write the clipboard
    b"\x00\x07\x08"  # NUL, BEL, backspace
    b"\xff\xfe\xc3("  # invalid UTF-8
    b"[bold]loud[/bold] [/] [link=x]"  # Textual/Rich markup
)

CLIENT = (
    "import socket, sys\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "s.sendall(sys.stdin.buffer.read())\n"
    "s.close()\n"
)


async def test_hostile_bytes_from_a_real_client_are_only_shown():
    factory = outside_runner_factory(Options(listen=("127.0.0.1", 0)))
    config = AppConfig(
        scenario=factory.scenario.name, outside="listen", where=str(factory.endpoint)
    )
    app = SockvizApp(
        config,
        runner_factory=factory,
        scenarios={factory.scenario.name: factory.scenario},
        theme="textual-dark",
    )
    app.mode = app.mode.FAST
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 5
        while (
            "server" not in app.run_screen.view.models
            or app.run_screen.view.models["server"].kernel != "LISTEN"
        ):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        port = app.run_screen.view.models["server"].local.rsplit(":", 1)[1]
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", CLIENT, port],
            input=HOSTILE,
            timeout=10,
            check=True,
        )
        deadline = time.monotonic() + 5
        while (
            "conn-1" not in app.run_screen.view.models
            or app.run_screen.view.models["conn-1"].state is not State.CLOSED
        ):
            assert time.monotonic() < deadline, "the client was not seen to the end"
            await pilot.pause(0.05)
        assert app.run_screen.view.models["conn-1"].received == len(HOSTILE)  # every byte counted
        await pilot.press("p")
        await pilot.pause(0.2)
        screen = app.export_screenshot()
        payload = str(app.query_one(PayloadView).query_one("#payload-hex").render())
        ladder_text = "\n".join(
            str(row_content(r, 200, True)) for r in app.run_screen.view.shown_rows()
        )
        await pilot.press("q")
    for text in (ladder_text, payload):
        for raw in ("\x1b", "\x07", "\x00", "\x08"):
            assert raw not in text
    assert "\\x1b[2J" in ladder_text  # the escape shown as text, in the preview
    rows = [line for line in payload.splitlines() if line[:4].isalnum() and line[4:6] == "  "]
    per_row = len(rows[0][6:].split("  ")[0].split())
    ascii_column = "".join(line[6 + per_row * 3 - 1 + 2 :] for line in rows)
    assert "pwned" in ascii_column  # the hex dump's ASCII column: harmless text
    assert "[bold]loud[/bold] [/] [link=x]" in ascii_column  # markup shown, not applied
    assert "\x1b]2;pwned" not in screen and "\x1b]52" not in screen
    assert ">loud<" not in screen or "[bold]loud" in screen  # markup was not applied
    assert engine_threads() == []
