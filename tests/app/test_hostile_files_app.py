"""Text from a recording or a scenario file is shown inert in the TUI: no escape reaches the
terminal, no markup is applied, no action or link is drawn, nothing crashes.

The screen is read the way the terminal would get it - the compositor's segments - and
each segment's text is checked for raw controls, each segment's style for a click action
or a link.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from sockviz.app.app import AppConfig, SockvizApp, make_app
from sockviz.engine.events import CallEvent, KernelEvent, TcpSettings
from sockviz.engine.record.recordings import read_recording
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.run.replay_runner import replay_factory
from sockviz.engine.scenarios.scenario_files import loads
from tests.app.app_helpers import THEME, jump, settle
from tests.hostile import HOSTILE, fixture_lines, raw_in, with_field, write_recording

SIZE = (120, 40)
EVERYTHING = "".join(HOSTILE.values())


def drawn(app) -> tuple[str, list[str]]:
    """The screen's text as the terminal would get it, and every action or link drawn."""
    update = app.screen._compositor.render_full_update()
    text, actions = [], []
    for line in update.strips:
        for strip in line:
            for segment in strip:
                text.append(segment.text)
                style = segment.style
                if style is not None:
                    meta = style.meta or {}
                    actions += [f"{k}={v}" for k, v in meta.items() if k == "@click"]
                    if style.link:
                        actions.append(f"link={style.link}")
    return "".join(text), actions


async def look_everywhere(pilot) -> None:
    """Every panel once (explanation, payload, log) and the help and picker screens, the
    screen checked each time."""
    app = pilot.app
    for key in ("e", "p", "l"):
        await pilot.press(key)
        await pilot.pause()
        text, actions = drawn(app)
        assert not raw_in(text), (key, raw_in(text))
        assert actions == [], (key, actions)
    assert "\\x1b" in drawn(app)[0] or "\\x1b" in "\n".join(map(str, app.query_one("#log").lines))


def hostile_events() -> list:
    """A real run's events with every text field the app shows carrying every hostile
    string at once - what a recording could say if nothing checked it."""
    events = read_trace(json.dumps(r) for r in fixture_lines())
    fields = ("socket", "local", "remote", "error_text", "kernel", "args", "previous", "parent")
    out = []
    for event in events:
        changes = {
            f: f"{getattr(event, f)}{EVERYTHING}"
            for f in fields
            if hasattr(event, f) and getattr(event, f) is not None
        }
        if isinstance(event, CallEvent) and event.error is None and event.call.value == "send":
            changes["error"] = f"EPIPE{EVERYTHING}"
        out.append(dataclasses.replace(event, **changes))
    assert all(isinstance(e, CallEvent | KernelEvent | TcpSettings) for e in out)
    return out


async def test_unchecked_hostile_events_are_drawn_inert():
    """Past the file checks (as if they had a hole), the app's own boundary still holds:
    every socket name, address, errno, kernel state and argument is drawn inert."""
    app = make_app(
        AppConfig(scenario="tcp-echo", step=True),
        runner_factory=replay_factory(hostile_events()),
        theme=THEME,
    )
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 12)
        await look_everywhere(pilot)
        assert app.is_running and len(app.run_screen.stage.cards) >= 3
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_recordings_free_text_is_drawn_inert(tmp_path):
    """Arguments and the OS's words pass the file checks as text: drawn, never acted on."""
    lines = with_field(with_field(fixture_lines(), "args", EVERYTHING), "error_text", EVERYTHING)
    recording = read_recording(str(write_recording(tmp_path / "r.jsonl", lines)))
    app = make_app(
        AppConfig(scenario="tcp-echo", step=True, replay=str(tmp_path / "r.jsonl")),
        runner_factory=replay_factory(recording.events),
        theme=THEME,
    )
    app.animation_level = "none"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await jump(pilot, 15)
        await settle(pilot)
        await look_everywhere(pilot)
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_scenario_files_markup_is_shown_as_text(tmp_path):
    """Markup in a scenario file's summary, about and explanations passes the file checks as
    text (an author may write brackets); the TUI shows it and draws no action or link. The
    data a step sends goes out for real and is shown escaped."""
    markup = HOSTILE["click"] + " " + HOSTILE["link"] + " " + HOSTILE["close-tag"]
    text = (pathlib.Path(__file__).resolve().parents[2] / "examples" / "echo.toml").read_text()
    text = text.replace('summary = "a TCP echo', f'summary = "{markup} a TCP echo')
    text = text.replace('explain = "The server asks', f'explain = "{markup} The server asks')
    text = text.replace('data = "ping\\n"', 'data = "\\u001b]2;PWNED\\u0007[/]"')
    scenario = loads(text, "hostile.toml")
    app = SockvizApp(
        AppConfig(scenario=scenario.name, step=True),
        scenarios={scenario.name: scenario},
        theme=THEME,
    )
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 9)  # ... the client's message sent and received
        await pilot.press("s")  # the picker shows the summary
        await pilot.pause()
        text_shown, actions = drawn(app)
        assert actions == [] and not raw_in(text_shown)
        assert "[@click=app.screenshot" in text_shown
        await pilot.press("escape")
        await look_everywhere(pilot)
        await pilot.press("q")
    assert app.return_code == 0


def slow_link_events(**flow) -> list:
    """A real slow-link run with ``flow`` (rtt, cwnd, retrans) put on every kernel line
    that carries the path's numbers - past the file checks, as if they had a hole."""
    events = read_trace(json.dumps(r) for r in fixture_lines("slow-link-ipv4"))
    return [
        dataclasses.replace(e, **flow) if getattr(e, "cwnd", None) is not None else e
        for e in events
    ]


async def test_a_kernel_lines_unknown_or_huge_path_numbers_are_drawn(tmp_path):
    """The socket card's path line copes with what no check lets through: an RTT not known
    (the issue's TypeError at 80x24) and numbers wider than the card (at 120 columns), shown
    as '—' and cut to the card, never a crash; → to the end, ←, Home, End and the panels."""
    for size, flow in (
        ((80, 24), {"rtt": None}),
        ((120, 40), {"rtt": None, "cwnd": 2147483648, "retrans": 1 << 62}),
        ((80, 24), {"rtt": 1e300, "cwnd": 1 << 70, "retrans": None}),
    ):
        app = make_app(
            AppConfig(scenario="slow-link", step=True),
            runner_factory=replay_factory(slow_link_events(**flow)),
            theme=THEME,
        )
        app.animation_level = "none"
        async with app.run_test(size=size) as pilot:
            await jump(pilot, 13)
            await settle(pilot)
            shown = [
                card for card in app.run_screen.stage.cards.values() if card.model.flow is not None
            ]
            assert shown, "no card drew the path's numbers"
            for key in ("left", "home", "end", "w", "p", "l"):
                await pilot.press(key)
                await pilot.pause()
            assert app.is_running
            await pilot.press("q")
        assert app.return_code == 0, (size, flow)
