"""What the screen says about a run is what that run did (issue 23, "Every word true"):
the ladder's lines are the run on screen's, not an earlier run's; a card's badge and its
timers come from the kernel lines seen. Real sockets on loopback, through Pilot."""

from __future__ import annotations

import re
import shutil
import subprocess

from sockviz.app.app import AppConfig, make_app
from sockviz.app.widgets.ladder import Ladder
from tests.app.app_helpers import live_app, steps, until
from tests.test_lab import needs_hosts


def ladder_text(app) -> str:
    ladder = app.query_one(Ladder)
    return "\n".join(ladder.render_line(y).text for y in range(ladder.size.height))


async def test_after_switching_family_the_ladder_shows_the_new_runs_addresses():
    app = live_app("tcp-echo", family="ipv4")
    async with app.run_test(size=(110, 40)) as pilot:
        await steps(pilot, 3)  # socket(), setsockopt(), bind()
        assert "bind 127.0.0.1:" in ladder_text(app)
        await pilot.press("f")  # the same scenario again, on IPv6
        await until(pilot, lambda: app.config.family == "ipv6")
        await steps(pilot, 3)
        bound = app.run_screen.view.models["server"].local
        assert bound.startswith("[::1]:")
        text = ladder_text(app)
        assert f"bind {bound}" in text
        assert "127.0.0.1" not in text
        await pilot.press("q")


async def test_a_new_socket_wears_no_close_badge():
    """TCP_INFO says CLOSE of a socket just made or only bound; ``ss`` does not list it:
    there is no connection, and a CLOSE badge would say one was closed."""
    app = live_app("tcp-echo")
    async with app.run_test(size=(110, 40)) as pilot:
        await steps(pilot, 1)  # server = socket()
        server, card = app.run_screen.view.models["server"], app.run_screen.stage.cards["server"]
        assert server.kernel == "CLOSE"  # (what TCP_INFO said)
        assert str(card.border_subtitle) == ""
        await steps(pilot, 2)  # setsockopt(), bind()
        assert server.kernel == "CLOSE" and server.local.startswith("127.0.0.1:")
        if shutil.which("ss"):  # the witness: no connection of that address is listed
            listed = subprocess.run(
                ["ss", "-tanH"], capture_output=True, text=True, timeout=10
            ).stdout
            assert server.local not in listed
        assert str(card.border_subtitle) == ""
        await steps(pilot, 1)  # listen()
        assert "LISTEN" in str(card.border_subtitle)
        await pilot.press("q")


@needs_hosts
async def test_a_lost_syn_stands_under_the_connect_that_sent_it():
    """The client's SYN is lost while connect() blocks: it is drawn under a row saying
    connect() began (not under socket()), the last call's story keeps out of it, the next
    panel says connect() waits for the kernel's retry, and the card shows the address the
    SYN carried."""
    app = live_app("lost-syn")
    async with app.run_test(size=(110, 40)) as pilot:
        await steps(pilot, 5)  # up to client = socket()
        await pilot.press("right")  # connect(): its SYN is lost; it blocks about a second
        await until(
            pilot,
            lambda: (
                app.run_screen.view.link is not None
                and app.run_screen.view.link.dropped == 1
                and app.run_screen.view.steps_done == 5
            ),
            timeout=5,
        )
        await pilot.pause(0.1)
        labels = [row.label for row in app.run_screen.view.shown_rows()]
        lost = labels.index("SYN seq 0 ✗ lost")
        assert labels[lost - 1] == "connect() begins"
        assert labels[lost - 2] == "client = socket()"
        done = str(app.query_one("#explain-done").visual)
        assert "lost" not in done and done.count("socket() sent nothing") == 1
        upcoming = str(app.query_one("#next-body").visual).replace("\n", " ")
        assert (
            "connect() is waiting: its SYN seq 0 was lost on the link; client's kernel "
            "will send it again"
        ) in upcoming
        syn = app.run_screen.view.link.recent[-1]
        assert app.run_screen.view.models["client"].local == syn.local  # (the SYN's source address)
        assert syn.local in str(app.run_screen.stage.cards["client"].render())
        await until(pilot, lambda: app.run_screen.view.steps_done == 6, timeout=5)
        await pilot.press("q")


@needs_hosts
async def test_an_orphaned_fin_wait2_counts_down_its_kernel_timer():
    """The client closes first across a link: its FIN_WAIT2, orphaned, has a timer the
    kernel line read (ss shows it as well); the card counts it down and the explanation says
    the kernel drops the connection when it runs out."""
    app = make_app(
        AppConfig(scenario="time-wait", step=True, link=("delay=20ms", (), False)),
        theme="textual-dark",
    )
    app.animation_level = "none"
    async with app.run_test(size=(110, 40)) as pilot:
        await steps(pilot, 8)  # ... client.close()
        client = app.run_screen.view.models["client"]
        await until(
            pilot,
            lambda: client.kernel == "FIN_WAIT2" and client.kernel_deadline is not None,
            timeout=5,
        )
        await pilot.pause(0.1)
        badge = str(app.run_screen.stage.cards["client"].border_subtitle)
        left = int(re.search(r"FIN_WAIT2 (\d+)s", badge).group(1))
        assert 50 <= left <= 60  # (net.ipv4.tcp_fin_timeout is 60 here: read, not assumed)
        done = str(app.query_one("#explain-done").visual).replace("\n", " ")
        assert "Its kernel drops the connection when its timer runs out" in done
        assert f"{left} s left" in done or f"{left - 1} s left" in done
        await pilot.press("q")
