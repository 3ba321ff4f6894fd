"""Random keys into the live app (real sockets): no exception, and q still quits.

Bounded: a dozen short key sequences, each in a fresh app; every key the app binds (predict
mode's g and its answers too), plus letters, digits, Enter and Escape (so the message input
gets typed into). The same dozen every run; --hypothesis-profile=explore draws new ones.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.app.app_helpers import live_app
from tests.helpers import engine_threads

KEYS = [
    "right",
    "n",
    "space",
    "plus",
    "minus",
    "r",
    "s",
    "f",
    "i",
    "question_mark",
    "escape",
    "enter",
    "up",
    "down",
    "e",
    "p",
    "l",
    "tab",
    "a",
    "z",
    "1",
    "2",
    "3",
    "left",
    "b",
    "home",
    "end",
    "backspace",
    "g",
    "t",
]
SCENARIOS = ["tcp-echo", "udp-echo", "half-close", "message-boundaries", "refused"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=st.sampled_from(SCENARIOS), keys=st.lists(st.sampled_from(KEYS), max_size=25))
async def test_random_keys_never_crash_and_q_quits(scenario, keys):
    app = live_app(scenario, step=True, pace=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.05)
        # leave any modal screen and the input, then quit
        for _ in range(3):
            if len(app.screen_stack) > 1:
                await pilot.press("escape")
        if app.focused is not None:
            await pilot.press("escape")
        started = time.monotonic()
        await pilot.press("q")
    assert app.session.stop_seconds < 1.0 and app.session.stopped_cleanly, (
        keys,
        app.session.stop_seconds,
        app.session.stop_parts,
    )
    assert time.monotonic() - started < 5.0  # the test harness's own teardown included
    assert app.return_code == 0
    assert engine_threads() == []
