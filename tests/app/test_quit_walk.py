"""Quit from every kind of step of every scenario: q, ctrl+q, SIGTERM and SIGINT, in turn.

A kind of step is a pair: the call made last and the call waiting (each with its socket's
role - which program's thread is in the call - and how the waiting one is made: blocking or
not, on the key of the one before). Each pair any loopback scenario has is walked once, in
the first scenario (in the registry's order) that has it, and one quit half-way through a
scenario that has no kind of its own: 113 quits where every step of every scenario is
324 - the same kinds met, in a suite that must stay under six minutes.
``SOCKVIZ_QUIT_WALK=every`` walks every step.

For each step index k chosen the live app (real sockets on loopback) makes k calls,
then is told to quit - by a key, or by a real signal sent to this process, which the app
handles while it runs. Its run must be stopped within a second, every engine thread ended
and every socket closed, and the app gone soon after. (That the terminal is given back is
checked on the real command line in a pseudo-terminal: tests/app/test_signals.py.)
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from sockviz.engine.scenarios import REGISTRY
from tests.app.app_helpers import live_app, until
from tests.helpers import engine_processes, engine_threads, on_loopback, open_fds

QUITS = ("q", "ctrl+q", signal.SIGTERM, signal.SIGINT)


async def quit_after(name: str, k: int, how) -> tuple[float, object]:
    """Make ``k`` calls of scenario ``name``, quit by ``how``; (seconds to exit, app)."""
    app = live_app(name, step=True)
    async with app.run_test(size=(100, 30)) as pilot:
        # Repaints are held back throughout: this walks quitting, not drawing (the snapshot
        # and live tests draw), and drawing every step would make it several times slower.
        with app.batch_update():
            for _ in range(k):  # k presses of → at once: the gate counts them
                app.run_screen.action_step()
            # the engine now waits to make call k (in bulk, the sendall that one press
            # started blocks on full buffers until the reader's step comes)
            await until(
                pilot,
                lambda: (
                    app.run_screen.view.outcome is not None
                    or (
                        app.run_screen.view.pending is not None
                        and app.run_screen.view.pending.step >= k
                        and app.session.runner.gate.waiting > 0
                        and app.session.batcher.idle
                    )
                ),
            )
            started = time.monotonic()
            if isinstance(how, str):
                await pilot.press(how)
            else:
                os.kill(os.getpid(), how)
            while app.return_code is None:
                assert time.monotonic() - started < 2, f"{how} did not quit at step {k}"
                await pilot.pause(0.01)
            elapsed = time.monotonic() - started
    return elapsed, app


EVERY = os.environ.get("SOCKVIZ_QUIT_WALK") == "every"


def kind(name: str, k: int) -> tuple:
    """Scenario ``name`` after ``k`` calls: the call made last and the call waiting."""
    steps = REGISTRY[name].steps
    roles = {spec.name: spec.role for spec in REGISTRY[name].sockets}

    def call(i: int) -> tuple | None:
        if not 0 <= i < len(steps):
            return None
        step = steps[i]
        who = roles.get(step.socket, step.socket)
        return (who, step.call, step.wait, step.together, step.one_key, step.size)

    return call(k - 1), call(k)


def walked() -> dict[str, list[int]]:
    """Scenario -> the step indexes its quits come at (all of them with ``every``). A
    scenario whose kinds all came before still gets one quit of its own, half-way."""
    seen: set[tuple] = set()
    chosen: dict[str, list[int]] = {}
    for name in on_loopback():
        chosen[name] = []
        for k in range(len(REGISTRY[name].steps) + 1):
            if EVERY or kind(name, k) not in seen:
                seen.add(kind(name, k))
                chosen[name].append(k)
        if not chosen[name]:
            chosen[name].append(len(REGISTRY[name].steps) // 2)
    return chosen


WALKED = walked()


def test_the_walk_meets_every_kind_of_step():
    kinds = {kind(name, k) for name in on_loopback() for k in range(len(REGISTRY[name].steps) + 1)}
    assert {kind(name, k) for name, ks in WALKED.items() for k in ks} == kinds
    assert all(WALKED.values()), "a scenario with no quit of its own"
    every = sum(len(REGISTRY[name].steps) + 1 for name in on_loopback())
    quits = sum(map(len, WALKED.values()))
    if EVERY:
        assert quits == every
    else:  # (each kind once; at most one more a scenario, for a scenario met no new kind)
        assert len(kinds) <= quits <= len(kinds) + len(WALKED) < every


@pytest.mark.parametrize("name", on_loopback())
async def test_quit_from_every_step(name):
    fds, threads = open_fds(), engine_threads()
    offset = list(REGISTRY).index(name)  # each way of quitting meets many kinds of step
    for k in WALKED[name]:
        how = QUITS[(k + offset) % len(QUITS)]
        elapsed, app = await quit_after(name, k, how)
        label = f"{name}: {how!s} at step {k}"
        assert app.return_code == 0, label
        # The promise - every socket closed, every thread and the engine process ended - is
        # the session's stop, within a second. The key press to the app's end also holds
        # Textual's own teardown and the test harness: ~0.1-0.3 s here, more on a machine
        # loaded by other work, so it is only held to "no hang".
        assert app.session.stopped_cleanly and app.session.stop_seconds < 1.0, (
            label,
            app.session.stop_parts,
        )
        assert elapsed < 2.0, f"{label} took {elapsed:.2f} s"
        assert engine_threads() == threads, label
        assert engine_processes() == [], f"{label}: the engine process outlived the app"
        assert open_fds() <= fds, f"{label}: {sorted(open_fds() - fds)} left open"


async def test_quit_while_the_engine_process_is_still_starting(tmp_path, monkeypatch):
    """On a loaded machine the engine process can take a second and more to start (Python,
    its imports): a quit in that time must not wait for it. A real child made slow to start
    (a ``sitecustomize`` that sleeps, on its PYTHONPATH) stands for that machine."""
    (tmp_path / "sitecustomize.py").write_text("import time\ntime.sleep(3)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    fds = open_fds()
    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.session.engine is not None and app.session.engine.starting
        started = time.monotonic()
        await pilot.press("q")
        while app.return_code is None:
            assert time.monotonic() - started < 2, "q did not quit"
            await pilot.pause(0.01)
    assert app.return_code == 0
    assert app.session.stop_seconds < 1.0, app.session.stop_parts
    assert engine_processes() == [], "the engine process outlived the app"
    assert open_fds() <= fds, f"{sorted(open_fds() - fds)} left open"
