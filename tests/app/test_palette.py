"""The command palette (ctrl+p): sockviz's commands, found by name, each doing what its key
does - on the real app, through Textual's own palette."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette

from sockviz.app.commands import COMMANDS
from sockviz.app.screens.help import HelpScreen
from sockviz.app.screens.picker import ScenarioPicker
from sockviz.app.user_settings import THEME_NAMES
from sockviz.app.widgets.ladder import Ladder
from tests.app.app_helpers import jump, replay_app, until

SIZE = (100, 30)


async def palette_shows(pilot, typed: str) -> list[str]:
    """Open the palette, type ``typed``, wait for its list; the commands listed."""
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
    if typed:
        await pilot.press(*typed)
    listed = pilot.app.screen.query_one(CommandList)
    await until(pilot, lambda: listed.option_count > 0 and listed.highlighted is not None)
    await pilot.pause(0.1)  # (every provider has answered)
    return [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]


async def run_command(pilot, typed: str) -> None:
    """ctrl+p, type, enter: the best match runs."""
    await palette_shows(pilot, typed)
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(pilot.app.screen, CommandPalette))
    await pilot.pause()


async def test_the_palette_lists_sockviz_commands():
    """Opened with nothing typed, the palette lists every sockviz command with its key, a
    command per theme, and none of Textual's own theme or screenshot commands."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 2)
        shown = await palette_shows(pilot, "")
        text = "\n".join(shown)
        for command in COMMANDS:
            assert f"{command.title}  ({command.key})" in text, command.title
        for name in THEME_NAMES:
            assert f"Theme: {name}" in text
        assert "Change the current theme" not in text and "Quit" in text
        assert not any(line.startswith("Screenshot\n") for line in shown)


@pytest.mark.parametrize(("typed", "key"), [("wire", "w"), ("predict", "g")])
async def test_a_run_screen_command_does_what_its_key_does(typed, key):
    """Wire and predict through the palette change what their keys change, and the key
    changes it back."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 6)
        ladder = app.run_screen.query_one(Ladder)

        def state():
            return ladder.show_wire, app.run_screen.predict.predictions.on

        before = state()
        await run_command(pilot, typed)
        changed = state()
        assert changed != before
        await pilot.press(key)
        await pilot.pause()
        assert state() == before


async def test_theme_commands_switch_the_theme():
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 2)
        await run_command(pilot, "projector")
        assert app.theme == "sockviz-projector"
        await run_command(pilot, "theme: sockviz-light")
        assert app.theme == "sockviz-light"
        await run_command(pilot, "theme: next")
        assert app.theme == "sockviz-projector"


async def test_scenario_and_help_open_their_screens():
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 2)
        await run_command(pilot, "scenario")
        assert isinstance(app.screen, ScenarioPicker)
        await pilot.press("escape")
        await run_command(pilot, "help")
        assert isinstance(app.screen, HelpScreen)


async def test_export_and_screenshot_write_their_files(tmp_path, monkeypatch):
    """Export and Screenshot through the palette write what x and ctrl+s write."""
    monkeypatch.chdir(tmp_path)
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 11)
        await run_command(pilot, "export")
        await until(pilot, lambda: len(list(tmp_path.iterdir())) >= 2)
        await run_command(pilot, "screenshot")
        await until(pilot, lambda: any(p.suffix == ".svg" for p in tmp_path.iterdir()))
    suffixes = sorted(p.suffix for p in tmp_path.iterdir())
    assert ".mmd" in suffixes and ".txt" in suffixes and ".svg" in suffixes


async def test_family_switches_from_the_palette():
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 2)
        await run_command(pilot, "family")
        assert app.config.family == "ipv6"


async def test_no_sockviz_key_is_the_palette_key():
    """ctrl+p is Textual's palette key, no sockviz binding takes it, and it opens the
    palette from the run screen."""
    from sockviz.app.app import SockvizApp
    from sockviz.app.run_screen import RunScreen

    keys = {
        key.strip()
        for binding in [*SockvizApp.BINDINGS, *RunScreen.BINDINGS, *HelpScreen.BINDINGS]
        for key in binding.key.split(",")  # type: ignore[union-attr]
    }
    assert "right" in keys and "t" in keys  # (the bindings were read)
    assert SockvizApp.COMMAND_PALETTE_BINDING == "ctrl+p"
    assert "ctrl+p" not in keys
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 1)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
