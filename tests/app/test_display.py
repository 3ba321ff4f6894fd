"""The display a class sees: each theme on one busy step, and the help screen scrolling by
keys as soon as it opens (snapshots from a recorded real run, fixed clock and size)."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll

from sockviz.app.run_screen import RunScreen
from sockviz.app.screens.help import KEYS, HelpScreen
from sockviz.app.user_settings import THEME_NAMES
from tests.app.app_helpers import at_step, jump, replay_app, screen_text, until

SIZE = (100, 30)


def themed(theme: str):
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    app.theme_name = theme
    return app


@pytest.mark.parametrize("theme", THEME_NAMES)
def test_busy_step_in_each_theme(snap_compare, theme):
    """tcp-echo after the echo came back (three cards, both arrows, badges) in the theme."""
    assert snap_compare(themed(theme), terminal_size=SIZE, run_before=at_step(11))


def test_help_scrolled_by_page_down(snap_compare):
    """? then PageDown at once (no Tab first): the help has moved a page, to the keys'
    end and how to read the screen."""
    assert snap_compare(
        themed("sockviz-dark"),
        terminal_size=SIZE,
        run_before=at_step(4, "question_mark", "pagedown"),
    )


def help_rows(app) -> list[str]:
    """The help box's rows as plain text."""
    region = app.screen.query_one("#help-box").region
    rows = screen_text(app)[region.y : region.bottom]
    return [row[region.x : region.right] for row in rows]


async def open_help(pilot) -> VerticalScroll:
    await jump(pilot, 4)
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
    await pilot.pause()
    return pilot.app.screen.query_one("#help-box", VerticalScroll)


@pytest.mark.parametrize("key", ["pagedown", "down", "end"])
async def test_help_scrolls_by_keys_at_once(key):
    """At 100x30 the help overflows, and the first key scrolls it: no Tab needed."""
    app = themed("sockviz-dark")
    async with app.run_test(size=SIZE) as pilot:
        box = await open_help(pilot)
        assert box.max_scroll_y > 0 and box.scroll_y == 0
        await pilot.press(key)
        await until(pilot, lambda: box.scroll_y > 0)


@pytest.mark.parametrize(
    ("key", "heading"),
    [("h", "How to read the screen"), ("m", "This machine's TCP")],
)
async def test_help_parts_are_reached_by_keys(key, heading):
    """h and m scroll their part's heading into the box - to its top, as far as the text
    goes (the last part is short: it shows whole); k goes back to the keys."""
    app = themed("sockviz-dark")
    async with app.run_test(size=SIZE) as pilot:
        box = await open_help(pilot)
        assert not any(heading in row for row in help_rows(app))
        await pilot.press(key)
        await pilot.pause()
        rows = help_rows(app)
        at = [i for i, row in enumerate(rows) if heading in row]
        assert at, rows
        assert at[0] <= 2 or box.scroll_y == box.max_scroll_y, (at, rows)
        await pilot.press("k")
        await pilot.pause()
        assert box.scroll_y == 0


def test_help_lists_keys_in_the_footers_order():
    """The help's keys begin as the footer does, and every key the footer shows (and t)
    is in the help."""
    shown = [b for b in RunScreen.BINDINGS if b.show]  # type: ignore[union-attr]
    assert [b.description for b in shown[:3]] == ["Step", "Back", "Play"]  # type: ignore[union-attr]
    firsts = [key.split()[0] for key, _ in KEYS]
    assert firsts[:5] == ["→", "←", "space", "?", "q"]
    assert "t" in firsts and "ctrl+p" in firsts


async def test_the_footer_begins_with_step_and_back():
    app = themed("sockviz-dark")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 1)
        footer = screen_text(app)[-1]
        assert footer.lstrip().startswith("→ Step ← Back space Play ? Help"), footer
