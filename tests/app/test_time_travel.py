"""Time travel: ← (and b) shows earlier moments of the run, → walks forward through what was
recorded and, at the live edge, makes the next real call.

A moment is "this many calls made". Its screen is what the app showed, live, once that many
calls were made: the tests take that screen, go further, come back, and compare - cards,
ladder, explanation, payload and log. Only the status line (it says you are looking back)
and the Next panel's key hint (→ no longer makes that call) may differ.
"""

from __future__ import annotations

import pytest

from sockviz.engine.events import CallEvent
from sockviz.engine.run.gate import Mode
from sockviz.view import history as history_module
from tests.app.app_helpers import crop, jump, live_app, replay_app, settle, steps, until

SIZE = (100, 30)


def moment(app) -> dict:
    """What the screen shows of the run, beside the status line and the Next panel."""
    return {
        "stage": crop(app, "#stage"),
        "explain": crop(app, "#explain"),
        "log": [str(line) for line in app.query_one("#log").lines],
        "payload": crop(app, "#tabs"),
        "cards": {
            name: (m.state, m.kernel, m.local, m.remote, m.sent, m.received, m.error)
            for name, m in app.run_screen.view.models.items()
        },
        "card classes": {
            name: sorted(card.classes) for name, card in app.run_screen.stage.cards.items()
        },
        "ladder": [
            (e.label, e.delivered(app.run_screen.view.folded), e.data)
            for e in app.run_screen.view.shown_rows()
        ],
        "ladder drawn": crop(app, "#ladder"),
        "selected": getattr(app.run_screen.payload, "label", None),
        "calls made": app.run_screen.view.steps_done,
        "lanes scrolled": [
            app.query_one(f"#{lane}").scroll_y for lane in ("client-lane", "server-lane")
        ],
    }


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize(("forward", "back"), [(6, 3), (11, 3), (15, 7), (4, 4)])
async def test_going_back_shows_that_moments_screen(forward, back):
    """Forward six, back three: the screen of step three (and the same for other pairs,
    payload and TIME_WAIT included)."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, forward - back)
        await press(pilot, "p")
        then = moment(app)
        await steps(pilot, back)
        assert app.run_screen.view.steps_done == forward
        await press(pilot, *["left"] * back, "p")  # (→ had shown the Next tab)
        assert (
            app.run_screen.position == forward - back and app.run_screen.history.moments == forward
        )
        assert moment(app) == then
        status = crop(app, "#status")[0]
        assert "looking back" in status and "no call" in status and f"live: {forward}" in status


async def test_b_is_left_and_forward_again_gives_the_live_screen():
    """b steps back like ←; → walks forward through recorded moments to the live edge,
    whose screen is the one left."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 9)
        live = moment(app)
        await press(pilot, "b", "b", "left")
        assert app.run_screen.position == 6
        await press(pilot, "right", "right")
        assert app.run_screen.position == 8 and app.run_screen.view.steps_done == 8
        await press(pilot, "right")
        assert app.run_screen.position is None and moment(app) == live
        assert "looking back" not in crop(app, "#status")[0]


async def test_right_makes_no_call_until_the_live_edge():
    """Looking back, → makes no socket call; at the live edge it makes exactly one."""
    app = live_app("tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 6)
        await press(pilot, "left", "left", "left")
        assert app.run_screen.history.calls == 6
        await press(pilot, "right", "right", "right")
        await pilot.pause(0.3)
        await settle(pilot)
        assert (
            app.run_screen.position is None and app.run_screen.history.calls == 6
        )  # three moments, no call
        await steps(pilot, 1)
        assert app.run_screen.history.calls == 7 and app.run_screen.view.steps_done == 7


async def test_going_back_pauses_a_playing_run():
    """← while playing pauses at the gate: nothing new happens while you look back."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo", step=False)
    app.session.pace = 0.1
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.run_screen.view.steps_done >= 3)
        await press(pilot, "left")
        assert app.mode is Mode.STEP and app.run_screen.position is not None
        await settle(pilot)  # (a call let through just before ← may still be on its way)
        made = app.run_screen.history.moments
        await pilot.pause(0.5)
        assert app.run_screen.history.moments == made
        await press(pilot, "space")  # playing goes on from the live edge
        assert app.run_screen.position is None and app.mode is Mode.PLAY


async def test_home_end_and_the_start_of_the_run():
    """Home shows the first moment (no call made), End the live edge; ← at the start says
    there is nothing before it."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "left")
        assert app.run_screen.position is None  # nothing made yet: nowhere to go
        await jump(pilot, 5)
        live = moment(app)
        await press(pilot, "home")
        assert (
            app.run_screen.position == 0
            and not app.run_screen.stage.cards
            and app.run_screen.view.steps_done == 0
        )
        assert "The client's sockets appear here" in "\n".join(crop(app, "#stage"))
        await press(pilot, "left")
        assert app.run_screen.position == 0
        await press(pilot, "end")
        assert app.run_screen.position is None and moment(app) == live


async def test_a_countdown_shows_its_moment_and_runs_on_at_the_live_edge():
    """Looking back at TIME_WAIT shows the timer as the kernel gave it then; back at the live
    edge the countdown shows the time left now."""
    now = [1000.0]
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    app.clock = lambda: now[0]
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 15)
        assert app.run_screen.view.models["client"].kernel == "TIME_WAIT"
        now[0] += 20
        app.run_screen._tick()
        await pilot.pause()
        assert "TIME_WAIT 40s" in "\n".join(crop(app, "#client-lane"))
        await press(pilot, "left")
        assert "TIME_WAIT 60s" in "\n".join(crop(app, "#client-lane"))
        now[0] += 5
        app.run_screen._tick()  # looking back, the moment does not tick
        await pilot.pause()
        assert "TIME_WAIT 60s" in "\n".join(crop(app, "#client-lane"))
        await press(pilot, "right")
        assert "TIME_WAIT 35s" in "\n".join(crop(app, "#client-lane"))


async def test_restart_while_looking_back_starts_afresh():
    """r from the past: a new run at its live edge, its history empty."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 4)
        await press(pilot, "left", "left")
        await press(pilot, "r")
        await settle(pilot)
        assert (
            app.run_screen.position is None
            and app.run_screen.history.moments == 0
            and not app.run_screen.stage.cards
        )
        await jump(pilot, 2)
        assert app.run_screen.view.steps_done == 2


async def test_a_run_past_the_history_kept_cannot_be_gone_back_through(monkeypatch):
    """History is bounded: past HISTORY_KEPT events the run goes on but ← says why it
    cannot go back; outgrowing it while looking back returns to the live edge."""
    monkeypatch.setattr(history_module, "HISTORY_KEPT", 12)  # (moment 4 is 9 events in)
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await jump(pilot, 4)
        assert not app.run_screen.history.dropped
        await press(pilot, "left")
        assert app.run_screen.position == 3
        app.session.step()  # the run goes on while we look back: 11 events ...
        app.session.step()  # ... then 14
        await until(pilot, lambda: app.run_screen.history.dropped)
        await settle(pilot)
        assert (
            app.run_screen.position is None
            and app.run_screen.view.steps_done == 6
            and not app.run_screen.history.events
        )
        assert any("going back through it is off" in n.message for n in app._notifications)
        await press(pilot, "left")
        assert app.run_screen.position is None
        await steps(pilot, 2)
        assert app.run_screen.view.steps_done == 8 and app.run_screen.history.moments == 8
        calls = [e for e in app.run_screen.history.trace if isinstance(e, CallEvent)]
        assert len(calls) == 8  # export still has the whole run


async def test_going_back_keeps_the_cards_it_still_has():
    """Drawing a moment again keeps the card widgets both moments have (no flicker, and
    cheap for a long run); the ladder is drawn from the same rows, none made again."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 8)
        card, rows = app.run_screen.stage.cards["server"], app.run_screen.view.shown_rows()
        await press(pilot, "left", "left", "left")
        assert (
            app.run_screen.stage.cards["server"] is card
            and "conn-1" not in app.run_screen.stage.cards
        )
        kept = app.run_screen.view.shown_rows()
        assert all(a is b for a, b in zip(kept, rows, strict=False)) and len(kept) < len(rows)
        await press(pilot, "right", "right", "right")
        assert app.run_screen.position is None and app.run_screen.stage.cards["server"] is card
        assert all(a is b for a, b in zip(app.run_screen.view.shown_rows(), rows, strict=True))


async def test_one_step_forward_moves_its_card_as_it_did_live():
    """→ through recorded moments lights the arrow into the new state, as the live call
    did; a longer walk (End) and going back draw the cards still."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    app.animation_level = "full"
    async with app.run_test(size=SIZE) as pilot:
        app.run_screen.flash_seconds = 600  # (what moved is asserted, not how long it lasts)
        await jump(pilot, 6)
        await press(pilot, "left", "left", "left")  # 3 calls made: bind was the last
        assert app.run_screen.position == 3
        assert not any(card.has_class("-moving") for card in app.run_screen.stage.cards.values())
        await press(pilot, "right")  # listen(), recorded: the listener moves to listening
        moving = [
            name for name, card in app.run_screen.stage.cards.items() if card.has_class("-moving")
        ]
        assert (
            moving == ["server"] and app.run_screen.view.models["server"].state.value == "listening"
        )
        await press(pilot, "home", "end")
        assert app.run_screen.position is None
        assert not any(card.has_class("-moving") for card in app.run_screen.stage.cards.values())


async def test_a_flash_ends_by_itself_and_an_older_ones_end_leaves_a_newer_one_lit():
    """A card lit by a call goes still on its own; a card lit again before an earlier
    light ended stays lit for the whole of the newer one."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    app.animation_level = "full"
    async with app.run_test(size=SIZE) as pilot:
        app.run_screen.flash_seconds = 0.2
        await jump(pilot, 3)  # bind(): the server's card lit for 0.2 s
        await until(pilot, lambda: not app.run_screen.stage.cards["server"].has_class("-moving"))
        await steps(pilot, 1)  # listen(): lit again for 0.2 s ...
        app.run_screen.flash_seconds = 600
        await press(pilot, "left", "right")  # ... and once more, for long, before it ends
        assert app.run_screen.stage.cards["server"].has_class("-moving")
        await pilot.pause(0.5)  # the 0.2 s light's end has come and gone
        assert app.run_screen.stage.cards["server"].has_class("-moving")


async def test_a_click_on_the_timeline_shows_that_moment_and_makes_no_call():
    """Each mark of the timeline is a moment: a click shows it (the same screen ← gives);
    a click on a call not made yet goes to the live edge and makes no call."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 9)
        live = moment(app)
        await press(pilot, *["left"] * 6)
        three = moment(app)
        await press(pilot, "end")

        async def click(mark: int) -> None:
            start = app.query_one("#status")._bar[0]
            await pilot.click("#status", offset=(1 + start + mark, 0))  # (1: the padding)
            await pilot.pause()

        await click(3)
        assert app.run_screen.position == 3 and moment(app) == three
        await click(14)  # a call not made yet: the live edge, and no call
        assert (
            app.run_screen.position is None
            and app.run_screen.view.steps_done == 9
            and moment(app) == live
        )
        await click(0)
        assert app.run_screen.position == 0 and not app.run_screen.stage.cards
