"""Readable at any size: every scenario's busiest step at 80x24, 100x30 and 160x45, and at
80x24 nothing a lesson needs cut - the kernel badges, the footer's keys, the log, the
notices.

The busiest step of each scenario is the one with the most on screen: the step after which
a 160x45 screen of the recorded run (tests/app/data) has the most non-blank cells, measured
over every step of each recording (a one-off measure; the steps are written down here).
"""

from __future__ import annotations

import re

import pytest
from textual.widgets import Footer, TabbedContent

from sockviz.app.widgets.keys_footer import HELP_ACTION
from sockviz.app.widgets.message_bar import MessageBar
from sockviz.app.widgets.runlog import RunLog
from sockviz.app.widgets.socket_card import SocketCard
from sockviz.engine.scenarios import REGISTRY
from sockviz.engine.scenarios.scenario_types import on_the_same_key
from tests.app.app_helpers import (
    crop,
    jump,
    replay_app,
    screen_text,
    settle,
    svg_snapshots,
    until,
)

#: (fixture, scenario, the busiest step) - one row per scenario.
BUSIEST = [
    ("tcp-echo-wire-ipv4", "tcp-echo", 12),
    ("udp-echo-ipv4", "udp-echo", 6),
    ("multi-client-ipv4", "multi-client", 20),
    ("backlog-full-ipv4", "backlog-full", 19),
    ("refused-wire-ipv4", "refused", 4),
    ("address-in-use-ipv4", "address-in-use", 17),
    ("reset-ipv4", "reset", 12),
    ("broken-pipe-ipv4", "broken-pipe", 8),
    ("half-close-ipv4", "half-close", 9),
    ("time-wait-ipv4", "time-wait", 8),
    ("message-boundaries-ipv4", "message-boundaries", 24),
    ("bulk-ipv4", "bulk", 10),
    ("websocket-ipv4", "websocket", 20),
    ("lost-syn-ipv4", "lost-syn", 15),
    ("lost-data-ipv4", "lost-data", 9),
    ("slow-link-ipv4", "slow-link", 13),
    ("lost-fin-ipv4", "lost-fin", 11),
    ("simultaneous-close-ipv4", "simultaneous-close", 12),
    ("simultaneous-open-ipv4", "simultaneous-open", 11),
    ("mss-ipv4", "mss", 10),
    ("zero-window-ipv4", "zero-window", 10),
    ("congestion-ipv4", "congestion", 28),
    ("keepalive-ipv4", "keepalive", 12),
    ("udp-loss-ipv4", "udp-loss", 15),
    ("nagle-ipv4", "nagle", 14),
    ("nonblocking-ipv4", "nonblocking", 18),
    ("path-mtu-ipv4", "path-mtu", 10),
    ("tls-ipv4", "tls", 19),
]
IDS = [row[1] for row in BUSIEST]
SIZES = [(80, 24), (100, 30), (160, 45)]


def app_for(fixture: str, scenario: str):
    return replay_app(fixture, scenario, closer="client" if scenario == "time-wait" else None)


def keys_for(scenario: str, n: int) -> int:
    """The keys that make the first ``n`` calls: one fewer for each call made on the key of
    the one before (a simultaneous open's or close's second call)."""
    steps = REGISTRY[scenario].steps
    return n - sum(on_the_same_key(steps, i) for i in range(min(n, len(steps))))


async def to_step(pilot, n: int, scenario: str) -> None:
    """The run to its ``n``-th call, then back to the start and forward again through the
    history a step a key: each lane scrolled as a class stepping through sees it, from the
    same place every time (after a jump, the lanes follow whichever batch came last)."""
    await jump(pilot, keys_for(scenario, n))
    await pilot.press("home")
    for _ in range(n):  # (each step's scroll done before the next: where a lane stands
        await settle(pilot)  # depends on every scroll on the way)
        await pilot.press("right")
    await settle(pilot)


@pytest.mark.parametrize(("fixture", "scenario", "n"), BUSIEST, ids=IDS)
async def test_busiest_step(snapshot, request, fixture, scenario, n):
    """The scenario's busiest step at 80x24, then the same app grown to 100x30 and 160x45 (a
    window made bigger as a class watches): every card's badge and bytes whole, the footer's
    keys whole, what just happened given the room the size allows. Then, back at 80x24,
    nothing a lesson needs is cut."""
    compare = svg_snapshots(snapshot, request)
    app = app_for(fixture, scenario)
    async with app.run_test(size=SIZES[0]) as pilot:
        await to_step(pilot, n, scenario)
        differ = []
        for size in SIZES:
            if size != app.size:
                await pilot.resize_terminal(*size)
                await settle(pilot)
            if not await compare(pilot, f"{size[0]}x{size[1]}"):
                differ.append(size)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        await nothing_cut_at_80x24(pilot)
    assert differ == [], f"the screen differs from its snapshot at {differ}"


async def nothing_cut_at_80x24(pilot) -> None:
    """At 80x24, on the screen as drawn: each card's kernel badge and lines whole (no '…'),
    each footer key whole and inside the footer (? Help among them), each log entry in sight
    whole (wrapped, not cut at the edge)."""
    app = pilot.app
    assert app.size == (80, 24)
    await pilot.press("l")  # the log's tab
    await settle(pilot)
    log = app.query_one(RunLog)
    await until(pilot, lambda: log.size.width > 0)
    for _ in range(3):  # (the log lays its entries out for the width it has been given)
        await pilot.pause(0.05)
    screen = screen_text(app)
    for card in app.query(SocketCard):
        if not card.display or card.region.height == 0:
            continue
        badge = str(card.border_subtitle).strip()
        bottom = card.region.bottom - 1
        lane = card.parent.content_region  # (a card scrolled past has its edge out of sight)
        if badge and lane.y <= bottom < lane.bottom:
            assert badge in screen[bottom], (card.model.name, badge, screen[bottom])
    for lane in ("#client-lane", "#server-lane"):
        assert "…" not in "\n".join(crop(app, lane)), lane

    footer = app.screen.query_one(Footer)
    drawn = "".join(crop(app, "Footer"))
    shown = [key for key in footer.query("FooterKey") if key.display]
    assert any(key.action == HELP_ACTION for key in shown)
    for key in shown:
        assert key.region.right <= footer.region.right, key.description
        assert f"{key.key_display} {key.description}" in drawn, (key.description, drawn)

    # The rows in sight, read in order, are a stretch of the log's text: a line cut at
    # the edge drops what follows it (spaces aside: wrapping puts its breaks there).
    width = log.scrollable_content_region.width
    rows = [row[:width] for row in crop(app, "#log")]
    seen = re.sub(r"\s+", "", "".join(rows))
    assert len(seen) > 40, rows
    assert seen in re.sub(r"\s+", "", "".join(log.lines)), rows


async def test_a_notice_has_a_line_of_its_own(tmp_path, monkeypatch):
    """x at 80x24: where it wrote is said whole in the notice line, in place of the footer,
    over nothing - what just happened and the next call keep their rows, no toast shows;
    a click ends the notice and the footer's keys come back."""
    monkeypatch.chdir(tmp_path)
    app = replay_app("tcp-echo-wire-ipv4", "tcp-echo")
    async with app.run_test(size=(80, 24)) as pilot:
        await jump(pilot, 8)
        explain_before = crop(app, "#explain")
        await pilot.press("x")
        bar = app.screen.query_one(MessageBar)
        await until(pilot, lambda: bar.said is not None and bar.region.height > 0)
        await pilot.pause()
        notice = app.screen.query_one("#notice")
        box = notice.content_region
        drawn = [row[box.x : box.right] for row in screen_text(app)[box.y : box.bottom]]
        said = "".join(drawn).replace(" ", "")  # (a path longer than a line is folded)
        message = bar.said.message if bar.said else ""
        assert said == ("ladder and graphs written: " + message).replace(" ", ""), (drawn, message)
        assert "sockviz-tcp-echo-1.mmd" in message and ".txt" in message and ".graph.png" in message
        assert not app.screen.query_one(Footer).display
        assert not any(toast.region.height for toast in app.screen.query("Toast"))
        for panel in ("#explain", "#tabs", "#stage"):
            assert not notice.region.overlaps(app.screen.query_one(panel).region), panel
        assert crop(app, "#explain")[:5] == explain_before[:5]  # (its words still there)

        await pilot.click("#notice")
        await until(pilot, lambda: bar.said is None)
        await pilot.pause()
        assert app.screen.query_one(Footer).display
        assert "? Help" in "".join(crop(app, "Footer"))


async def test_a_screen_grown_wide_puts_the_next_call_in_its_column():
    """A window made bigger past the wide breakpoint: the Next tab (up on the narrow screen)
    gives way to the payload's, and the next call shows in its own column - not the hidden
    tab's words in the payload's place with no tab lit (found growing 80x24 to 160x45)."""
    app = app_for("tcp-echo-wire-ipv4", "tcp-echo")
    async with app.run_test(size=(80, 24)) as pilot:
        await jump(pilot, 6)
        tabs = app.query_one("#tabs", TabbedContent)
        assert tabs.active == "tab-next"
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        await pilot.pause()
        assert tabs.active == "tab-payload"
        assert app.query_one("#next-wide").region.height > 0
        assert "next" in "".join(crop(app, "#next-wide"))
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        await pilot.pause()
        assert tabs.active == "tab-payload"  # (what the class was shown stays up)


async def test_a_resize_under_the_help_screen_still_settles_with_the_card_in_sight():
    """The window resized while help is up, help closed at once: the lanes' scrolls queued
    meanwhile went with the help screen in Textual's queue; they are asked for again when
    the run's screen is back, so the run settles (it once waited for ever: a burner CI
    run's "the app did not settle") and each lane shows its card."""
    app = app_for("multi-client-ipv4", "multi-client")
    async with app.run_test(size=(80, 24)) as pilot:
        await jump(pilot, 14)
        stage = app.run_screen.stage
        for _ in range(5):
            await pilot.press("question_mark")
            app.screen.refresh(layout=True)  # (help has a repaint due: it runs what waits
            stage.on_resize()  # for a refresh only after it)
            await pilot.press("escape")
            await settle(pilot)
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        for card in stage._in_view.values():
            lane = card.parent
            top, bottom = lane.scroll_y, lane.scroll_y + lane.scrollable_content_region.height
            assert top <= card.virtual_region.y and card.virtual_region.bottom <= bottom + 1


@pytest.mark.parametrize("late", [False, True], ids=["at-once", "redrawn-late"])
async def test_a_card_redrawn_late_after_a_resize_leaves_the_lanes_card_in_sight(late, monkeypatch):
    """A window made bigger, then a card above a lane's newest one growing after the scrolls
    that followed the resize had stopped (a card draws itself again for its new width a
    refresh later; under load later still - a burner CI run's address-in-use at 160x45 had
    the listener's card cut): the lane brings its newest card back into sight. Redrawn
    late, each card's redrawing 0.3 s after its refresh: the screen is not settled until
    it is done (a burner CI run's settled screen had the card cut, the redrawing to come)."""
    if late:
        relay = SocketCard.relay

        def relay_late(card: SocketCard) -> None:
            if getattr(card, "_held", False):
                card._held = False
                relay(card)
            else:
                card._held = True
                card.set_timer(0.3, card.relay)

        monkeypatch.setattr(SocketCard, "relay", relay_late)
    app = app_for("address-in-use-ipv4", "address-in-use")
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, 17, "address-in-use")
        stage = app.run_screen.stage
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        for grow in (6, 9):
            for card in stage._in_view.values():
                first = card.parent.query(SocketCard).first()
                if first is not card:  # (the lane's first card grows: the newest moves down)
                    first.styles.height = first.outer_size.height + grow
            await settle(pilot)
            for card in stage._in_view.values():
                lane = card.parent
                top = lane.scroll_y
                bottom = top + lane.scrollable_content_region.height
                assert top <= card.virtual_region.y, (grow, lane.id, top, card.virtual_region)
                assert card.virtual_region.bottom <= bottom + 1, (grow, lane.id, bottom)
