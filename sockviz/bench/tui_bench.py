"""The benchmark's row for a flood of real connections into the TUI (``python -m
sockviz.bench`` prints it; see :mod:`sockviz.bench.flood_bench` for the client and the plain
server it is measured against).

The app runs headless in this process, listening as ``sockviz --listen 127.0.0.1:P --reply
...`` does (its runner in an engine process of its own, fast), while the flood client - a
process of its own - makes its connections; a key (switching the lower tab) is pressed
every 100 ms, and each press is timed until a frame shows it. CPU time is this process's
and the engine process's.
"""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import time

from textual import events as textual_events

from sockviz.app.app import AppConfig, SockvizApp
from sockviz.bench.flood_bench import (
    REPLY,
    flood_rss,
    free_port,
    plain_command,
    ratios,
    run_flood,
    timewait_cost,
    trace_flood,
)
from sockviz.cli import build_parser
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.parent_watch import PARENT_ENV
from sockviz.options import check, from_arguments
from sockviz.peers import outside_engine_factory

#: How often a key is pressed during the flood: faster than anyone types.
PRESS_EVERY = 0.1


def listening_at(app: SockvizApp) -> str | None:
    """The listener's address once the run's view (on its screen) has it."""
    server = app.run_screen.view.models.get("server")
    return server.local if server is not None else None


#: How long (seconds) a benchmarked app has to end once q is pressed.
QUIT_LIMIT = 10.0


async def quit_app(app: SockvizApp) -> None:
    """Press q as a user does and wait for the app to end (at most :data:`QUIT_LIMIT`).

    Not ``pilot.press("q")``: after each key it waits for the app's animations to finish,
    and an app that ends in the middle of one (a tab's underline moving, after the
    benchmark's own keys) never finishes it - the benchmark waited forever, 4 runs in
    about 130 of a flood beside a CPU burner."""
    app.post_message(textual_events.Key("q", "q"))
    deadline = time.monotonic() + QUIT_LIMIT
    while app.return_code is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app did not end within {QUIT_LIMIT:.0f} s of q")
        await asyncio.sleep(0.01)


def tui_flood(count: int) -> dict[str, float]:
    """The flood through the app: its wall seconds and CPU seconds (this process's, less the
    client's), and the key press to frame latencies' 95th percentile and count."""
    port = free_port()
    options = check(
        from_arguments(
            build_parser().parse_args(["--listen", f"127.0.0.1:{port}", "--reply", REPLY])
        )
    )
    factory = outside_engine_factory(options)
    scenario = factory.scenario
    app = SockvizApp(
        AppConfig(scenario=scenario.name, outside="listen"),
        runner_factory=factory,
        scenarios={scenario.name: scenario},
    )
    app.mode = Mode.FAST
    frames: list[tuple[float, str]] = []
    display = app._display
    found: list = []

    def timed_display(screen, renderable):
        display(screen, renderable)
        if renderable is not None:
            if not found:
                found.extend(app.query("#tabs"))
            frames.append((time.perf_counter(), found[0].active if found else ""))

    async def run() -> dict[str, float]:
        async with app.run_test(size=(120, 40)) as pilot:
            app._display = timed_display  # type: ignore[method-assign]  # frames timed
            while not listening_at(app):
                await pilot.pause(0.05)
            flood = asyncio.ensure_future(asyncio.to_thread(run_flood, os.getpid(), count, port))
            presses: list[tuple[float, str]] = []
            keys = {"l": "tab-log", "p": "tab-payload"}
            while not flood.done():
                key = "l" if len(presses) % 2 == 0 else "p"
                presses.append((time.perf_counter(), keys[key]))
                app.post_message(textual_events.Key(key, key))
                await asyncio.sleep(PRESS_EVERY)
            result = flood.result()
            await quit_app(app)
        latencies = []
        for i, (pressed, tab) in enumerate(presses[:-1]):
            shown = next((t for t, active in frames if t >= pressed and active == tab), None)
            if shown is not None and shown < presses[i + 1][0] + 1.0:
                latencies.append(shown - pressed)
        latencies.sort()
        return {
            "seconds": result["seconds"],
            "server_cpu": result["server_cpu"] - result["client_cpu"],  # (a child of ours)
            "client_cpu": result["client_cpu"],
            "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0,
            "presses": float(len(latencies)),
        }

    return asyncio.run(run())


ALONE = """
import sys
from sockviz.bench.tui_bench import tui_flood
from sockviz.engine.run.parent_watch import end_with_parent
end_with_parent()  # (a benchmark stopped - its test timed out - takes this one with it)
print(repr(tui_flood(int(sys.argv[1]))))
"""


def tui_flood_alone(count: int) -> dict[str, float]:
    """:func:`tui_flood` in a process that has run no app before."""
    proc = subprocess.run(
        [sys.executable, "-c", ALONE, str(count)],
        env={**os.environ, PARENT_ENV: str(os.getpid())},
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


def flood_rows(quick: bool, smoke: bool = False) -> list[tuple[str, str, str, str]]:
    """The benchmark's rows about floods of connections (name, value, target, verdict);
    ``smoke``: a few hundred connections each, that every row runs."""
    rows = []
    count, turns = (300, 1) if smoke else (1000, 1) if quick else (5000, 5)
    wall, cpu, rate = trace_flood(count, turns)
    for kind, ratio in (("wall", wall), ("CPU", cpu)):
        rows.append(
            (
                (
                    f"connections/s, --listen --trace vs plain selector server, {kind} "
                    f"({count:,}; sockviz {rate:,.0f}/s)"
                ),
                f"{ratio:.3f}x",
                ">= 0.3",
                "ok" if ratio >= 0.3 else "BELOW",
            )
        )
    tui_count = 200 if smoke else 500 if quick else 3000
    port = free_port()
    plain = run_flood(plain_command(port), tui_count, port)
    tui = tui_flood_alone(tui_count)
    wall, cpu = ratios(plain, tui)
    rate = tui_count / tui["seconds"]
    for kind, ratio in (("wall", wall), ("CPU", cpu)):
        rows.append(
            (
                (
                    f"connections/s, TUI headless vs plain selector server, {kind} "
                    f"({tui_count:,}; sockviz {rate:,.0f}/s)"
                ),
                f"{ratio:.3f}x",
                ">= 0.2",
                "ok" if ratio >= 0.2 else "BELOW",
            )
        )
    ms = 1000 * tui["p95"]
    rows.append(
        (
            (f"responsiveness during that flood, key press to frame, p95 of {tui['presses']:.0f}"),
            f"{ms:.0f} ms",
            "<= 100 ms",
            "ok" if ms <= 100 else "ABOVE",
        )
    )
    before = 500 if smoke else 2000 if quick else 10_000
    ratio = timewait_cost(before, 100 if smoke else 300 if quick else 1000)
    rows.append(
        (
            (f"cost of a traced call, {before:,} connections in TIME_WAIT vs none (CPU)"),
            f"{ratio:.2f}x",
            "<= 1.2",
            "ok" if ratio <= 1.2 else "ABOVE",
        )
    )
    big, small = (2000, 500) if smoke else (5000, 1000) if quick else (100_000, 1000)
    extra = flood_rss(small, big)
    rows.append(
        (
            f"memory, peak RSS {big:,}-connection flood minus {small:,}-connection one",
            f"{extra:+.1f} MiB",
            "<= 40 MiB",
            "ok" if extra <= 40 else "ABOVE",
        )
    )
    return rows
