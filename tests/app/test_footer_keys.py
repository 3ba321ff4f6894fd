"""The footer keeps → Step and ← Back first after a click, as the browser needs one.

In a browser page the terminal takes keys only once it has been clicked, and the click
focuses the panel under it; each scroll panel binds ← and → (hidden) to scroll sideways,
and the footer showed those in place of Step and Back - it began at ``space Play``.
"""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from tests.app.app_helpers import replay_app, settle, steps


def footer_keys(app) -> list[str]:
    return [key.key for key in app.screen.query(FooterKey)]


async def test_a_click_on_a_panel_leaves_step_and_back_first():
    """After a click on the ladder, a card's lane or the explanation, the footer still
    starts with → Step and ← Back, and → still makes the next call."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=(142, 40)) as pilot:
        await steps(pilot, 2)
        assert footer_keys(app)[:2] == ["right", "left"]
        for where in ((70, 16), (20, 8), (30, 30)):
            await pilot.click(offset=where)
            await pilot.pause()
            await pilot.pause()
            assert app.focused is not None  # (the click did focus a panel)
            assert set(footer_keys(app)[:2]) == {"right", "left"}, where
            before = app.run_screen.view.steps_done
            await pilot.press("right")
            await settle(pilot)
            assert app.run_screen.view.steps_done == before + 1


async def test_the_message_line_keeps_its_arrow_keys():
    """While a message is typed, ← and → move in the line: they make no call."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 9)
        await pilot.press("i")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "message"
        line = app.focused
        line.value = ""
        before = app.run_screen.view.steps_done
        await pilot.press("a", "b", "left", "X", "right", "c")
        await pilot.pause()
        assert line.value == "aXbc"
        assert app.run_screen.view.steps_done == before
