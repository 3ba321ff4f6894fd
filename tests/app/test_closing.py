"""Closing the app while a run is still sending it events.

As the app shuts down, Textual takes the screen's widgets down one by one while messages
already queued (a batch of events, a ladder row chosen) are still handled. None of them may
reach for a widget that has gone (CI caught one: NoMatches for the status bar).
"""

from __future__ import annotations

from sockviz.engine.run.gate import Mode
from tests.app.app_helpers import replay_app


async def test_quitting_in_the_middle_of_a_fast_run_never_fails():
    for i in range(24):  # the moment of quitting moves across the run
        app = replay_app("multi-client-ipv4", "multi-client", step=False)
        app.session.pace = 0.1
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.05 + (i % 8) * 0.03)
            app.run_screen.set_mode(Mode.FAST)  # events pour in as the app closes
            await pilot.pause(0.01 * (i % 5))
        assert app.return_code in (0, None), i  # (an exception in a handler fails it)
