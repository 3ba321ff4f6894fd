"""Many runs and restarts in one process: descriptors and threads return to the baseline."""

from __future__ import annotations

import time

from sockviz.engine.scenarios import get
from tests.app.app_helpers import live_app, settle
from tests.helpers import (
    engine_processes,
    engine_threads,
    open_fds,
    process_fds,
    process_threads,
    run_scenario,
    threads_after,
)


def test_two_hundred_runs_leave_nothing_behind():
    run_scenario(get("udp-echo"))  # warm up imports and lazily opened files
    fds, threads = open_fds(), engine_threads()
    names = ["udp-echo"] * 9 + ["tcp-echo"]  # tcp-echo waits out real delayed ACKs: fewer
    for i in range(200):
        collector = run_scenario(get(names[i % len(names)]))
        assert collector.finished[-1].outcome == "done"
    assert engine_threads() == threads
    assert open_fds() <= fds, sorted(open_fds() - fds)


async def test_restarting_the_app_many_times_leaves_nothing_behind():
    fds, threads = open_fds(), engine_threads()
    app = live_app("tcp-echo", step=True, pace=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        engine = app.session.engine.pid  # the run's sockets and threads are in the engine process
        engine_fds, engine_thread_count = set(process_fds(engine)), process_threads(engine)
        for i in range(16):
            await pilot.press(*["right"] * (i % 8))  # restart from a different step each time
            await pilot.press("r")
        await settle(pilot)
        await pilot.press("space")  # the last run plays to its end
        deadline = time.monotonic() + 30
        while app.run_screen.view.outcome is None:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        await settle(pilot)
        assert app.run_screen.view.outcome.outcome == "done"
        assert app.session.engine.pid == engine  # one engine process served every restart
        # (The kernel watcher may hold /proc/net/tcp open for a moment: give it one.)
        deadline = time.monotonic() + 2
        while not set(process_fds(engine)) <= engine_fds and time.monotonic() < deadline:
            await pilot.pause(0.05)
        kept = {fd: what for fd, what in process_fds(engine).items() if fd not in engine_fds}
        assert not kept, f"the engine process kept descriptors: {kept}"
        assert threads_after(engine, engine_thread_count) <= engine_thread_count, (
            "the engine process kept threads"
        )
        await pilot.press("q")
    assert engine_processes() == []
    assert engine_threads() == threads
    assert open_fds() <= fds, sorted(open_fds() - fds)
