"""Two hosts and a link in the TUI, with its real engine process: the link strip, the lost
SYN on the ladder and in what just happened, the kernel's RTT and window on the card, a
held segment crossing on →, and quitting mid-run leaving nothing behind."""

from __future__ import annotations

import re

import pytest

from sockviz.app.app import AppConfig, make_app
from sockviz.app.widgets.ladder import Ladder
from sockviz.app.widgets.linkstrip import LinkStrip
from sockviz.cli import build_parser
from sockviz.launch import serve_command
from sockviz.options import check, from_arguments
from tests.app.app_helpers import THEME, settle, steps, until
from tests.helpers import engine_processes, engine_threads
from tests.test_lab import needs_hosts

pytestmark = needs_hosts
SIZE = (110, 40)


def gap(label: str) -> float:
    """Seconds in a ladder label's ``· 998 ms`` or ``· 1.0 s``."""
    match = re.search(r"· ([0-9.]+) (ms|s)\b", label)
    assert match, label
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def link_app(**config) -> object:
    return make_app(AppConfig(step=True, **config), theme=THEME)


async def test_the_lost_syn_lab_on_screen():
    app = link_app(scenario="lost-syn")
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 6)  # up to the client's connect(), a second long
        await until(
            pilot,
            lambda: (
                app.run_screen.view.link is not None
                and any(m.flow for m in app.run_screen.view.models.values())
            ),
        )
        await settle(pilot)
        strip = str(app.query_one(LinkStrip).visual)
        assert "10.217.0.2 ⇄ 10.217.0.1 · delay 20 ms · drop syn" in strip
        assert "dropped 1" in strip
        labels = [row.label for row in app.query_one(Ladder).rows if row.packet is not None]
        assert labels[0] == "SYN seq 0 ✗ lost" and labels[1].startswith("↻ SYN seq 0 · ")
        # The kernel's SYN timer is a second; each SYN is timed when the link's thread read
        # it off its device, so a first SYN read a little late under load shows the retry
        # sooner (a burner CI run: "998 ms").
        assert 0.9 <= gap(labels[1]) <= 1.5, labels[1]
        said = str(app.query_one("#explain-done").visual).replace("\n", " ")
        assert "The link lost client's SYN seq 0 on purpose (a drop fault)" in said
        assert "client's kernel sent SYN seq 0 again" in said
        client = app.run_screen.view.models["client"]
        rtt, cwnd, again = client.flow
        assert rtt >= 40 and cwnd == 10 and again == 1  # (the kernel's own counts)
        assert "two hosts and a link" in app.sub_title
        await pilot.press("q")
    assert app.session.stopped_cleanly and app.session.stop_seconds < 1.0, app.session.stop_parts
    assert engine_processes() == []


async def test_held_segments_cross_one_key_at_a_time():
    app = link_app(link=("delay=10ms", (), True))
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 5)
        await pilot.press("right")  # connect(): its SYN waits at the client's side
        await until(
            pilot, lambda: app.run_screen.view.link is not None and app.run_screen.view.link.held
        )
        assert app.run_screen.view.steps_done == 5
        held = app.run_screen.view.link.held[0]
        assert (held.source, held.flags) == ("client", "SYN")
        await until(
            pilot, lambda: "lets client's SYN cross" in str(app.query_one("#status").visual)
        )
        await pilot.press("right")  # the SYN crosses; the server's SYN-ACK waits in turn
        await until(
            pilot,
            lambda: (
                app.run_screen.view.link.held
                and app.run_screen.view.link.held[0].flags == "SYN,ACK"
            ),
        )
        await pilot.press("right")  # the SYN-ACK crosses: connect() returns
        await until(pilot, lambda: app.run_screen.view.steps_done == 6)
        rows = [row.label for row in app.query_one(Ladder).rows if row.packet is not None]
        assert rows[:2] == ["SYN seq 0", "SYN seq 0 crosses"]
        await pilot.press("q")
    assert engine_processes() == []


@pytest.mark.parametrize("held", [False, True])
async def test_quitting_while_connect_waits_on_the_link_leaves_nothing(held):
    threads = engine_threads()
    app = link_app(scenario="lost-syn", link=("delay=20ms", ("syn",), held) if held else None)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 5)
        await pilot.press("right")  # connect(): blocked a second on the lost SYN
        await until(
            pilot, lambda: app.run_screen.view.link is not None and app.run_screen.view.link.sent
        )
        await pilot.press("q")
    assert app.return_code == 0
    assert app.session.stopped_cleanly and app.session.stop_seconds < 1.0, app.session.stop_parts
    assert engine_threads() == threads and engine_processes() == []


def test_every_served_tab_gets_the_link_it_was_asked_for():
    command = serve_command(
        check(
            from_arguments(
                build_parser().parse_args(
                    ["--serve", "--link", "delay=50ms", "--drop", "syn", "--drop", "fin", "--hold"]
                )
            )
        )
    )
    assert command[-7:] == ["--link", "delay=50ms", "--drop", "syn", "--drop", "fin", "--hold"]
