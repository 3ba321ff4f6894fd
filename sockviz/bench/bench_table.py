"""``python -m sockviz.bench``: sockviz against plain sockets, measured side by side.

Every figure is a ratio of two things measured in the same run on the same machine, never
an absolute time alone (a slow machine slows both sides):

* throughput, engine: ``bulk`` through the engine, with an event consumer running, against
  the same transfer over plain Python sockets (same size, same 256 KiB chunks) - higher is
  better, target >= 0.90;
* throughput, whole process: ``sockviz --trace --scenario bulk --size S`` against a plain
  script moving the same bytes, each a fresh process - target >= 0.85;
* throughput, TUI: the same ``bulk`` with the app running headless (drawing every frame
  as it would on a terminal; the run itself in the app's engine process, as ``sockviz``
  plays it) against plain sockets, the two run turn about - target >= 0.85; and how many
  batches of events the UI was handed a second (target <= ~30);
* responsiveness: ``bulk`` in the app again, now with a key pressed (switching the lower
  tab) every 100 ms, faster than anyone types: how long until a frame shows each press
  (95th percentile, target <= 100 ms) and the longest gap between frames while the bytes
  flow (target <= 150 ms);
* memory: peak RSS of a big ``bulk`` run minus that of a 64 MiB one - target <= 40 MiB;
* startup: process start to the first frame drawn, sockviz against a bare Textual app, in a
  pseudo-terminal - lower is better, target <= 1.3; with ``--startup-against REV``, sockviz
  as it stands against sockviz at git revision REV, wall and CPU, ratios of the medians -
  target <= 1.05, "no slower" (see :mod:`sockviz.bench.startup_bench`; ``--startup-only``
  runs these rows alone);
* time travel and history: going back to the start of a long ``--listen`` session and
  forward to its live edge, and the memory a history of 50,000 events takes (see
  :mod:`sockviz.bench.view_bench`);
* floods of real connections (see :mod:`sockviz.bench.flood_bench` and
  :mod:`sockviz.bench.tui_bench`): connections a second through ``--listen --trace`` and
  through the TUI against a plain selector server, by wall time and by CPU time (targets
  >= 0.3 and >= 0.2), key press to frame during the TUI's flood (p95 <= 100 ms), the cost
  of a call with 10,000 connections in TIME_WAIT against none (<= 1.2), and peak RSS of a
  100,000-connection flood over a 1,000-connection one (<= 40 MiB).

``--quick`` uses smaller transfers so the whole run takes well under a minute. The
engine, TUI and startup rows run sockviz and its plain twin turn about several times and
report the median of the turns' ratios (on a shared machine a spell of other work falls
on both runs of a turn, and one lucky run does not decide the row); the whole-process and
memory rows keep the best of three of each side, as timeit does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

from textual import events as textual_events

from sockviz.app.app import AppConfig, make_app
from sockviz.bench.link_bench import link_rows, sample_rows
from sockviz.bench.plain_side import PLAIN_SCRIPT, plain_transfer
from sockviz.bench.startup_bench import startup_rows
from sockviz.bench.tui_bench import flood_rows, quit_app
from sockviz.bench.view_bench import history_rss, time_travel_alone
from sockviz.engine.events import CallEvent, Event
from sockviz.engine.run.engine_process import EngineProcess
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get

#: How often the responsiveness run presses a key: faster than anyone types.
PRESS_EVERY = 0.1
MiB = 1024 * 1024


def engine_transfer(total: int) -> float:
    """Seconds for the data phase of ``bulk`` through the engine, events consumed.

    Measured as plain_transfer is, once connected: from the ``accept`` event to the event
    of the ``recv`` that took the last byte (the events carry the times of their calls).
    """
    events: list[Event] = []
    started = time.perf_counter()
    runner = Runner(get("bulk"), events.append, mode=Mode.FAST, size=total)
    runner.start()
    runner.wait(600)
    runner.stop()
    if runner.result is None or runner.result.outcome != "done":
        raise RuntimeError(f"the bulk run did not finish: {runner.result}")
    calls = [e for e in events if isinstance(e, CallEvent)]
    accepted = next(e.t for e in calls if e.call.value == "accept")
    received = next(e.t for e in calls if e.call.value == "recv" and e.nbytes == total)
    del started
    return received - accepted


def tui_transfer(total: int, press_every: float | None = None) -> dict[str, float]:
    """``bulk`` in the app, headless, at full speed.

    Returns the data phase in seconds (timed as :func:`engine_transfer` times it), the
    share of that time the UI thread was busy, and the batches a second the app was handed.
    With ``press_every``, a key (switching the lower tab) is pressed that often while the
    bytes flow, and it also returns the key press latencies (seconds until a frame showed
    the change; their 95th percentile and count) and the longest gap between frames.
    """
    times: dict[str, float] = {}
    finished: list = []  # [loop, asyncio.Event], once the app runs
    engine = EngineProcess("auto")  # as the app's own would be, with the bench's tee in between

    def factory(scenario, consumer, **options):
        def tee(event):
            if type(event).__name__ == "CallEvent":
                if event.call.value == "accept":
                    times["accepted"] = event.t
                    times["begun"] = time.perf_counter()
                elif event.call.value == "recv" and event.nbytes == total:
                    times["received"] = event.t
                    times["ended"] = time.perf_counter()
                    if finished:
                        loop, done = finished
                        loop.call_soon_threadsafe(done.set)
            consumer(event)

        return engine(scenario, tee, **options)

    # Paused at first, so the transfer does not share the start with the app's first
    # frames; then fast, as if the user had pressed a key.
    app = make_app(AppConfig(scenario="bulk", size=total, step=True), runner_factory=factory)
    frames: list[tuple[float, str]] = []
    display = app._display
    found: list = []  # the lower tabs, once mounted (they come after the first frame)

    def timed_display(screen, renderable):
        display(screen, renderable)
        if renderable is not None:
            if not found:  # query once: a query walks the whole DOM, ~3 ms a frame here
                found.extend(app.query("#tabs"))
            frames.append((time.perf_counter(), found[0].active if found else ""))

    async def run() -> dict[str, float]:
        finished[:] = [asyncio.get_running_loop(), asyncio.Event()]
        async with app.run_test(size=(100, 30)) as pilot:
            if press_every is not None:  # the throughput run carries no measuring of ours
                app._display = timed_display  # type: ignore[method-assign]  # frames timed
            await pilot.pause(0.5)
            app.run_screen.set_mode(Mode.FAST)
            deadline = time.monotonic() + 600
            while "accepted" not in times:
                assert time.monotonic() < deadline, "bulk never connected"
                await pilot.pause(0.005)
            batcher = app.session.batcher
            assert batcher is not None, "the app's session hands no batches"
            batches, cpu = batcher.batches, time.thread_time()
            presses: list[tuple[float, str]] = []
            keys = {"l": "tab-log", "p": "tab-payload"}
            while "received" not in times:
                assert time.monotonic() < deadline, "bulk never finished"
                if press_every is None:  # no polling: it would cost the UI thread
                    await asyncio.wait_for(finished[1].wait(), deadline - time.monotonic())
                    continue
                key = "l" if len(presses) % 2 == 0 else "p"
                presses.append((time.perf_counter(), keys[key]))
                app.post_message(textual_events.Key(key, key))
                await asyncio.sleep(press_every)
            batches, cpu = batcher.batches - batches, time.thread_time() - cpu
            await pilot.pause(0.2)
            await quit_app(app)
        begun, ended = times["begun"], times["ended"]
        latencies = []
        for i, (pressed, tab) in enumerate(presses[:-1]):
            shown = next((t for t, active in frames if t >= pressed and active == tab), None)
            if shown is not None and shown < presses[i + 1][0] + 1.0:
                latencies.append(shown - pressed)
        during = [t for t, _ in frames if begun <= t <= ended]
        gaps = [b - a for a, b in zip([begun, *during], [*during, ended], strict=True)]
        return {
            "seconds": times["received"] - times["accepted"],
            "p95": sorted(latencies)[int(0.95 * (len(latencies) - 1))] if latencies else 0.0,
            "presses": float(len(latencies)),
            "gap": max(gaps),
            "batches": batches / max(ended - begun, 1e-9),
            "ui_busy": cpu / max(ended - begun, 1e-9),
        }

    try:
        return asyncio.run(run())
    finally:
        engine.close()


def _child(argv: list[str]) -> tuple[float, int]:
    """Run a command; (seconds, peak RSS in bytes) from the kernel's accounting."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed: {proc.stderr.read().decode()[:300] if proc.stderr else ''}"
        )
    return elapsed, usage.ru_maxrss * 1024


def sockviz_process(size: int) -> tuple[float, int]:
    return _child(
        [sys.executable, "-m", "sockviz", "--trace", "--scenario", "bulk", "--size", str(size)]
    )


def plain_process(size: int) -> tuple[float, int]:
    return _child([sys.executable, "-c", PLAIN_SCRIPT, str(size)])


def paired(plain_fn, ours_fn, turns: int):
    """Run the plain side and ours turn about, ``turns`` times (odd), and return the median
    of the turns' ratios plain/ours (of seconds), with ours' result from that turn.

    On a shared machine a spell of other work falls on both runs of a turn alike, and the
    median of the turns is not swayed by one lucky or unlucky run, as a best-of on each
    side is. ``ours_fn`` returns seconds, or a dict with ``seconds`` and more."""
    results = []
    for _ in range(turns):
        plain = plain_fn()
        ours = ours_fn()
        results.append((plain / (ours["seconds"] if isinstance(ours, dict) else ours), ours))
    results.sort(key=lambda r: r[0])
    return results[len(results) // 2]


def best(fn, repeats: int):
    results = [fn() for _ in range(repeats)]
    return min(results, key=lambda r: r[0] if isinstance(r, tuple) else r)


def cpu_times() -> list[int] | None:
    """The machine's CPU time so far by kind (Linux ``/proc/stat``), or None elsewhere."""
    try:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def stolen(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of CPU time a hypervisor took for other guests between two readings
    (``steal``, the 8th field): what makes identical runs on a shared VM differ."""
    if not before or not after or len(before) < 8:
        return None
    spent = [b - a for a, b in zip(before, after, strict=False)]
    return spent[7] / max(sum(spent), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sockviz.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small transfers: under a minute")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny transfers, one turn each: that every row runs (the test "
        "suite's); its ratios say little",
    )
    parser.add_argument(
        "--startup-against",
        metavar="REV",
        help="also start sockviz at git revision REV (a temporary worktree) turn about with "
        "the code as it stands, and print the ratios of the medians of their first frames, "
        "wall and CPU (needs the git history; e.g. 675a1e7, the code before issue 25)",
    )
    parser.add_argument(
        "--startup-only",
        action="store_true",
        help="only the startup rows (with --startup-against, the row against REV too)",
    )
    parser.add_argument(
        "--startup-turns",
        type=int,
        metavar="N",
        help="turns of the startup rows (default: 11, --quick 7, --smoke 1)",
    )
    args = parser.parse_args(argv)
    args.quick = args.quick or args.smoke
    big = 512 * MiB if args.quick else 4096 * MiB
    engine_size = 256 * MiB if args.quick else 2048 * MiB
    repeats = 3
    turns = 3 if args.quick else 5
    small = 64 * MiB  # (the memory row's smaller run)
    if args.smoke:  # (the suite runs it beside three other workers: the least that runs)
        big, engine_size, small, repeats, turns = 32 * MiB, 16 * MiB, 16 * MiB, 1, 1
    startup_turns = args.startup_turns or (1 if args.smoke else 2 * turns + 1)
    cpu_before = cpu_times()
    if args.startup_only:
        rows = startup_rows(startup_turns, args.startup_against)
        _print_table(rows, f"(startup: median of {startup_turns} turns run turn about)")
        _print_steal(cpu_before)
        return 0
    rows = []

    ratio, _ = paired(
        lambda: plain_transfer(engine_size), lambda: engine_transfer(engine_size), turns
    )
    rows.append(
        (
            f"throughput, engine vs plain sockets ({engine_size // MiB} MiB)",
            f"{ratio:.2f}x",
            ">= 0.90",
            "ok" if ratio >= 0.90 else "BELOW",
        )
    )

    # Responsiveness first, in a process that has run no app yet: every app run in one
    # process leaves objects behind (~15,000 for sockviz's; a bare Textual app with tabs
    # and a log leaves ~6,000), and after nine a full garbage collection took ~100 ms - a
    # frame gap that a real session, one app in its process, does not have.
    keys = tui_transfer(
        big if not args.quick else 1024 * MiB if not args.smoke else big, press_every=PRESS_EVERY
    )

    # The size of the whole-process row: what is measured is a flood's steady flow, and
    # the app's one-off work as the connection arrives (a card mounted, ~0.15 s of layout
    # here) would weigh twice as much in a transfer half as long. More turns than the
    # engine row: a TUI turn also starts an app, and its ratio moves more turn to turn.
    tui_size = (16 * MiB if args.smoke else 256 * MiB) if args.quick else big
    tui_turns = turns if args.quick else 2 * turns - 1
    ratio, tui = paired(lambda: plain_transfer(tui_size), lambda: tui_transfer(tui_size), tui_turns)
    rows.append(
        (
            f"throughput, TUI headless vs plain sockets ({tui_size // MiB} MiB)",
            f"{ratio:.2f}x",
            ">= 0.85",
            "ok" if ratio >= 0.85 else "BELOW",
        )
    )
    rate = tui["batches"]
    rows.append(
        (
            "responsiveness, batches of events handed to the UI a second",
            f"{rate:.1f}/s",
            "<= ~30/s",
            "ok" if rate <= 31 else "ABOVE",
        )
    )
    ms = 1000 * keys["p95"]
    rows.append(
        (
            f"responsiveness, key press to frame, p95 of {keys['presses']:.0f}",
            f"{ms:.0f} ms",
            "<= 100 ms",
            "ok" if ms <= 100 else "ABOVE",
        )
    )
    ms = 1000 * keys["gap"]
    rows.append(
        (
            "responsiveness, longest gap between frames (that run)",
            f"{ms:.0f} ms",
            "<= 150 ms",
            "ok" if ms <= 150 else "ABOVE",
        )
    )

    plain_p = best(lambda: plain_process(big), repeats)[0]
    sockviz_p, big_rss = best(lambda: sockviz_process(big), repeats)
    ratio = plain_p / sockviz_p
    rows.append(
        (
            f"throughput, sockviz --trace vs plain script ({big // MiB} MiB)",
            f"{ratio:.2f}x",
            ">= 0.85",
            "ok" if ratio >= 0.85 else "BELOW",
        )
    )

    small_rss = best(lambda: sockviz_process(small), repeats)[1]
    extra = (big_rss - small_rss) / MiB
    rows.append(
        (
            f"memory, peak RSS {big // MiB} MiB bulk minus {small // MiB} MiB bulk",
            f"{extra:+.1f} MiB",
            "<= 40 MiB",
            "ok" if extra <= 40 else "ABOVE",
        )
    )

    rows += startup_rows(startup_turns, args.startup_against)

    connections = 30 if args.smoke else 100 if args.quick else 400
    travel = time_travel_alone(connections)
    for key, words in (
        ("home", "Home: back to the first moment"),
        ("end", "End: forward to the live edge"),
    ):
        measure = (
            f"time travel, {words}, UI thread CPU ({connections} connections, "
            f"{travel['events']:,} events)"
        )
        rows.append(
            (measure, f"{travel[key]:.2f} s", "<= 0.2 s", "ok" if travel[key] <= 0.2 else "ABOVE")
        )
    events = 10_000 if args.smoke else 50_000
    extra = history_rss(events)
    rows.append(
        (
            f"memory, RSS of a run's history of {events:,} events",
            f"+{extra:.1f} MiB",
            "<= 30 MiB",
            "ok" if extra <= 30 else "ABOVE",
        )
    )

    rows += flood_rows(args.quick, args.smoke)

    rows += link_rows(args.quick)
    rows += sample_rows(args.quick, args.smoke)

    _print_table(
        rows,
        f"(engine, TUI, startup: median of {turns}, {tui_turns} and {startup_turns} turns run "
        f"turn about with the plain side; the rest best of {repeats}; {os.cpu_count()} "
        f"CPUs; Python {sys.version.split()[0]})",
    )
    _print_steal(cpu_before)
    return 0


def _print_table(rows: list[tuple[str, str, str, str]], footnote: str) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'ratio':>10}  {'target':>9}")
    for name, value, target, verdict in rows:
        print(f"{name:<{width}}  {value:>10}  {target:>9}  {verdict}")
    print(footnote)


def _print_steal(cpu_before: list[int] | None) -> None:
    steal = stolen(cpu_before, cpu_times())
    if steal is not None:
        print(
            f"(CPU time taken by the hypervisor during the run, steal: {100 * steal:.0f}%; "
            "on a shared VM it slows one side of a turn more than the other)"
        )


def run_main() -> None:
    """The table printed, for ``python -m sockviz.bench``."""
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # `python -m sockviz.bench | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None


if __name__ == "__main__":
    run_main()
