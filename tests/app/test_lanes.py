"""The lanes keep the socket that last did something in view - also when its card was made
in the same batch of events, before it had a place in its lane (a fast run, a busy machine,
or a moment of the run drawn again)."""

from __future__ import annotations

from sockviz.app.messages import EngineEvents
from sockviz.engine.record.trace_format import read_trace
from tests.app.app_helpers import DATA, jump, replay_app

SIZE = (100, 30)


def in_view(app, lane_id: str, name: str) -> bool:
    lane, card = app.query_one(f"#{lane_id}"), app.run_screen.stage.cards[name]
    return lane.region.contains_region(card.region)


async def test_a_card_made_in_the_batch_that_moves_it_is_scrolled_to():
    """multi-client's thirteen calls arriving as one batch: client-3, made and connected in
    it, is in view at the foot of the client lane, as when the calls come one by one."""
    app = replay_app("multi-client-ipv4", "multi-client")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        events = read_trace((DATA / "multi-client-ipv4.jsonl").read_text().splitlines())
        upto = next(i for i, e in enumerate(events) if getattr(e, "socket", "") == "conn-3")
        app.on_engine_events(EngineEvents(events[: upto + 1], app.session.generation))
        await pilot.pause()
        await pilot.pause()
        assert app.query_one("#client-lane").scroll_y > 0
        assert in_view(app, "client-lane", "client-3")


async def test_home_then_end_scrolls_the_lanes_as_they_were():
    app = replay_app("multi-client-ipv4", "multi-client")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 13)
        lanes = [app.query_one(f"#{lane}") for lane in ("client-lane", "server-lane")]
        live = [lane.scroll_y for lane in lanes]
        assert live[0] > 0 and in_view(app, "client-lane", "client-3")
        await pilot.press("home", "end")
        await pilot.pause()
        await pilot.pause()
        assert [lane.scroll_y for lane in lanes] == live
        assert in_view(app, "client-lane", "client-3")
