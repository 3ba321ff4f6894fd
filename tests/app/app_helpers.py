"""Building the app for tests: replaying recorded real runs, or live on loopback."""

from __future__ import annotations

import inspect
import pathlib
import pickle
import time

from pytest_textual_snapshot import (
    PseudoApp,
    PseudoConsole,
    SVGImageExtension,
    node_to_report_path,
)
from rich.console import Console

from sockviz.app.app import AppConfig, SockvizApp, make_app
from sockviz.app.screenshot import recording_console
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.replay_runner import ReplayRunner
from sockviz.options import Options
from sockviz.peers import outside_engine_factory

DATA = pathlib.Path(__file__).parent / "data"
THEME = "sockviz-dark"
FROZEN = 1000.0


def replay_app(
    fixture: str, scenario: str, family: str = "ipv4", step: bool = True, closer: str | None = None
) -> SockvizApp:
    """The app fed a recorded real run, with a frozen clock and a fixed theme."""
    events = read_trace((DATA / f"{fixture}.jsonl").read_text().splitlines())

    def factory(sc, consumer, **kwargs):
        return ReplayRunner(sc, consumer, events, **kwargs)

    app = make_app(
        AppConfig(scenario=scenario, family=family, port=5000, step=step, closer=closer),
        runner_factory=factory,
        clock=lambda: FROZEN,
        theme=THEME,
    )
    app.animation_level = "none"
    return app


def live_app(
    scenario: str = "tcp-echo",
    family: str = "ipv4",
    step: bool = True,
    scenarios=None,
    pace: float = 1.5,
) -> SockvizApp:
    """The app on real sockets."""
    app = make_app(AppConfig(scenario=scenario, family=family, step=step, pace=pace), theme=THEME)
    if scenarios:
        app.scenarios.update(scenarios)
    app.animation_level = "none"
    return app


async def settle(pilot, timeout: float = 5.0) -> None:
    """Wait until the engine waits and the UI has applied everything it emitted."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        if app.run_screen.settled:
            await pilot.pause()
            if app.run_screen.settled:
                return
    raise AssertionError("the app did not settle")


async def steps(pilot, n: int) -> None:
    """Press → ``n`` times, each time waiting for its call to show."""
    await settle(pilot)
    for _ in range(n):
        before = pilot.app.run_screen.view.steps_done
        await pilot.press("right")
        deadline = time.monotonic() + 5
        while (
            pilot.app.run_screen.view.steps_done <= before
            and pilot.app.run_screen.view.outcome is None
        ):
            assert time.monotonic() < deadline, "a step did not happen"
            await pilot.pause(0.02)
        await settle(pilot)


async def jump(pilot, n: int) -> None:
    """Press → ``n`` times without waiting in between, then wait for the n-th call to show.

    The gate counts the presses, so the engine makes exactly ``n`` calls; for a replay the
    screen after it is the same as after pressing one at a time, only sooner.
    """
    await settle(pilot)
    if n:
        await pilot.press(*["right"] * n)
    deadline = time.monotonic() + 10
    while pilot.app.run_screen.view.steps_done < n and pilot.app.run_screen.view.outcome is None:
        assert time.monotonic() < deadline, "the steps did not happen"
        await pilot.pause(0.02)
    await settle(pilot)


async def until(pilot, condition, timeout: float = 10.0) -> None:
    """Wait (letting the app run) until ``condition()`` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.01)


def outside_app(
    *,
    listen: tuple | None = None,
    connect: tuple | None = None,
    send: bytes | None = None,
    reply: bytes | None = None,
) -> SockvizApp:
    """The app as ``sockviz --listen``/``--connect`` builds it, playing fast: the other end
    is a real program the test starts."""
    factory = outside_engine_factory(
        Options(listen=listen, connect=connect, send=send, reply=reply)
    )
    config = AppConfig(
        scenario=factory.scenario.name,
        outside="listen" if listen is not None else "connect",
        where=str(factory.endpoint),
    )
    app = SockvizApp(
        config,
        runner_factory=factory,
        scenarios={factory.scenario.name: factory.scenario},
        theme=THEME,
    )
    app.mode = Mode.FAST
    app.animation_level = "none"
    return app


def screen_text(app) -> list[str]:
    """The screen as plain text, one string per row (what a snapshot shows, uncoloured)."""
    width, height = app.size
    console = recording_console(width, height)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False).splitlines()


def crop(app, selector: str) -> list[str]:
    """The rows and columns of the screen one widget covers, as plain text."""
    region = app.query_one(selector).region
    rows = screen_text(app)[region.y : region.y + region.height]
    return [row[region.x : region.x + region.width] for row in rows]


def at_step(n: int, *keys: str):
    """A snapshot's ``run_before``: the run to step ``n``, then these keys."""

    async def run_before(pilot) -> None:
        try:
            await jump(pilot, n)
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
        except BaseException:
            # The screenshot harness would wait for ever for an app whose pilot failed:
            # end it, so the test fails (no screenshot) instead of hanging.
            pilot.app.exit(None)
            raise

    return run_before


def svg_snapshots(snapshot, request):
    """``compare(app, label)``: snap_compare's check of the screen an app shows now, for a test
    that takes several screens of one running app (each stored as the test's name and
    ``[label]``, and shown in the snapshot report as snap_compare's are)."""
    stored = snapshot.use_extension(SVGImageExtension)

    async def compare(pilot, label: str) -> bool:
        # The waits take_svg_screenshot makes before its screenshot, then its screenshot.
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        app = pilot.app
        svg = app.export_screenshot(title=app.title, simplify=True)
        expected = stored(name=label)
        result = expected == svg
        console = Console(legacy_windows=False, force_terminal=True)
        path, line, name = request.node.reportinfo()
        data = (
            result,
            str(expected),
            svg,
            PseudoApp(PseudoConsole(console.legacy_windows, console.size)),
            path,
            line,
            f"{name}[{label}]",
            inspect.getdoc(request.node.function) or "",
            "",
            True,
        )
        report = node_to_report_path(request.node)
        report.with_name(f"{report.name}_{label}").write_bytes(pickle.dumps(data))
        return result

    return compare
