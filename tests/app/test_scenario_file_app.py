"""A scenario file in the TUI: its calls run for real in the engine process, and each step
with an expectation says, under "what just happened", whether the real call met it."""

from __future__ import annotations

import pathlib

from sockviz.app.app import AppConfig, SockvizApp
from sockviz.engine.scenarios.scenario_files import load, loads
from tests.app.app_helpers import THEME, crop, steps

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "echo.toml"


def file_app(scenario) -> SockvizApp:
    app = SockvizApp(
        AppConfig(scenario=scenario.name, step=True),
        scenarios={scenario.name: scenario},
        theme=THEME,
    )
    app.animation_level = "none"
    return app


async def test_a_met_expectation_is_shown_with_the_step():
    app = file_app(load(EXAMPLE))
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 8)  # ... client.sendall(b"ping\n")
        assert app.run_screen.view.checks[7].met
        assert "Expected: 5 bytes ✓" in "\n".join(crop(app, "#explain"))


async def test_an_unmet_expectation_says_what_really_happened():
    text = EXAMPLE.read_text().replace('data = "ping\\n"', 'data = "ping!\\n"')
    app = file_app(loads(text, "wrong.toml"))
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 8)
        assert not app.run_screen.view.checks[7].met
        assert "Expected: 5 bytes ✗ - got 6 bytes" in "\n".join(crop(app, "#explain"))
        toasts = [str(n.message) for n in app._notifications]
        assert any("expected 5 bytes, got 6 bytes" in t for t in toasts), toasts
