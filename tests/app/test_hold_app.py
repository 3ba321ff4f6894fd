"""--hold at classroom pace in the real app, on two real hosts: the link strip says up front
that a held segment is really late and the kernels' timers keep running, with the retry
times of the settings this run read; a SYN held past its timer comes back as the client
kernel's retransmission in "what just happened"; and at 120 columns every held, retried
and crossing row of the ladder is drawn whole."""

from __future__ import annotations

import asyncio

from sockviz.app.app import AppConfig, make_app
from sockviz.app.widgets.ladder import Ladder
from sockviz.app.widgets.linkstrip import LinkStrip
from sockviz.engine.kernel import tcp_settings
from sockviz.view.hold_words import fitted, hold_words
from tests.app.app_helpers import THEME, crop, screen_text, settle, steps, until
from tests.helpers import engine_processes
from tests.test_lab import needs_hosts

pytestmark = needs_hosts


async def test_a_held_syn_at_classroom_pace_at_120_columns():
    """The teacher holds the SYN for 1.3 s per key: the strip said the retry was coming
    (with this run's numbers), the story says whose it was and why, and the rows are
    whole."""
    app = make_app(AppConfig(step=True, link=("delay=20ms", (), True)), theme=THEME)
    async with app.run_test(size=(120, 30)) as pilot:
        await steps(pilot, 5)
        view = app.run_screen.view
        settings = view.tcp.get("client")
        assert settings is not None  # (read by the run, inside the client's host)
        strip = str(app.query_one(LinkStrip).visual)
        said = strip.splitlines()[1]
        times = tcp_settings.syn_schedule(
            tcp_settings.number(settings, "tcp_syn_linear_timeouts") or 0,
            tcp_settings.number(settings, "tcp_syn_retries") or 0,
        )
        assert said == hold_words(view.link, app.query_one(LinkStrip).size.width - 2)
        assert "really late" in said and "timers keep running" in said
        assert ", ".join(f"{t:g} s" for t in times) in said
        # the up-front line is on screen, whole
        assert any(said in line for line in crop(app, "LinkStrip"))
        await pilot.press("right")  # connect(): its SYN waits at the client's side
        for _ in range(8):  # a key every 1.3 s: past the client kernel's first timeout
            await asyncio.sleep(1.3)
            await pilot.press("right")
            if app.run_screen.view.steps_done > 5:
                break
        await until(pilot, lambda: app.run_screen.view.steps_done > 5, timeout=15)
        await settle(pilot)
        rows = [row for row in app.query_one(Ladder).rows if row.packet is not None]
        assert any(row.label.startswith("↻ SYN seq 0 · 1.") for row in rows)
        told = str(app.query_one("#explain-done").visual).replace("\n", " ")
        assert "client's kernel sent SYN seq 0 again" in told
        assert "a retransmission, not a new connect() -" in told
        assert "no SYN-ACK had reached it in time" in told
        assert told.count("connect() sent SYN seq 0") <= 1
        # every wire row in sight is drawn whole at 120 columns: its words (a handshake
        # segment's without the relative numbers where the row is too narrow), no "…"
        ladder = app.query_one(Ladder)
        box = ladder.content_region
        lines = [line[box.x : box.right] for line in screen_text(app)[box.y : box.bottom]]
        inner = ladder.scrollable_content_region.width - 2
        seen = []
        for y, line in enumerate(lines):
            found = ladder._at_line(int(ladder.scroll_offset.y) + y)
            if found is None or found[0].packet is None or found[1]:
                continue
            row = found[0]
            stops = row.packet.link in ("held", "dropped", "lost")
            words = fitted(row.label, row.packet, inner - 3 - stops)
            assert "…" not in words and f" {words} " in line, (words, line)
            seen.append(words)
        assert any("↻" in w or "crosses" in w for w in seen) and len(seen) >= 5, seen
        await pilot.press("q")
    assert app.session.stopped_cleanly
    assert engine_processes() == []
