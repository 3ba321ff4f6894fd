"""What the screen says about a run is what that run did (issue 23, "Every word true"):
the ladder's lines are the run on screen's, not an earlier run's; a card's badge and its
timers come from the kernel lines seen. Real sockets on loopback, through Pilot."""

from __future__ import annotations

from sockviz.app.widgets.ladder import Ladder
from tests.app.helpers import live_app, settle, steps, until


def ladder_text(app) -> str:
    ladder = app.query_one(Ladder)
    return "\n".join(ladder.render_line(y).text for y in range(ladder.size.height))


async def test_after_switching_family_the_ladder_shows_the_new_runs_addresses():
    app = live_app("tcp-echo", family="ipv4")
    async with app.run_test(size=(110, 40)) as pilot:
        await steps(pilot, 3)  # socket(), setsockopt(), bind()
        assert "bind 127.0.0.1:" in ladder_text(app)
        await pilot.press("f")  # the same scenario again, on IPv6
        await until(pilot, lambda: app.config.family == "ipv6")
        await steps(pilot, 3)
        bound = app.view.models["server"].local
        assert bound.startswith("[::1]:")
        text = ladder_text(app)
        assert f"bind {bound}" in text
        assert "127.0.0.1" not in text
        await pilot.press("q")
