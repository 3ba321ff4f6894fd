"""Issue 23, findings 9 and 12 on screen: what was just done is named as the Python line
names it (``server.accept()``, which gives back conn-1), predict mode's dialog offers the
keys there are, and its reveal is the kernel's word - on real runs."""

from __future__ import annotations

from sockviz.app.screens.quiz_screen import QuizScreen
from tests.app.app_helpers import crop, jump, live_app, settle, until

SIZE = (100, 30)


async def test_accept_is_named_as_the_python_line_names_it():
    app = live_app("tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 7)  # socket, setsockopt, bind, listen, socket, connect, accept
        event, _before = app.run_screen.view.last_done
        assert (
            event.call.value == "accept" and event.socket == "conn-1" and event.parent == "server"
        )
        text = "\n".join(crop(app, "#explain"))
        assert "Step 7/" in text and "server.accept()" in text, text
        assert "conn-1.accept()" not in text
        assert "conn_1, address = server.accept()" in text  # (the Python line agrees)


async def walk_to(pilot, kind: str) -> QuizScreen:
    """Answer every question with its first choice until one of ``kind`` is open."""
    app = pilot.app
    await settle(pilot)
    while app.run_screen.view.outcome is None:
        before = app.run_screen.view.steps_done
        await pilot.press("right")
        await until(
            pilot,
            lambda before=before: (
                isinstance(app.screen, QuizScreen)
                or app.run_screen.view.steps_done > before
                or app.run_screen.view.outcome is not None
            ),
        )
        if isinstance(app.screen, QuizScreen):
            if app.screen.question.kind == kind:
                return app.screen
            done = app.run_screen.view.steps_done
            await pilot.press("1")
            await until(
                pilot,
                lambda done=done: (
                    app.run_screen.view.steps_done > done
                    and app.run_screen.predict.predictions.asked is None
                ),
            )
        await settle(pilot)
    raise AssertionError(f"no {kind} question came")


async def test_the_dialogs_keys_are_as_many_as_its_choices():
    app = live_app("tcp-echo")
    app.config.quiz = True  # (predict mode from the start, in step mode: live_app's)
    async with app.run_test(size=SIZE) as pilot:
        screen = await walk_to(pilot, "accept")
        assert len(screen.question.choices) == 3
        assert "1-3 or enter answers" in str(screen.query_one("#quiz-box").border_subtitle)
        await pilot.press("4")  # no fourth choice: nothing is chosen, nothing is called
        await pilot.pause(0.2)
        assert app.screen is screen and app.run_screen.predict.predictions.asked is None


async def test_half_close_the_client_end_is_in_time_wait_though_its_socket_is_open():
    """half-close step 14: conn-1 closes after the client only shut down its sending side;
    the kernel keeps the client's end in TIME_WAIT (ss shows it so), and the reveal says
    "client" is right."""
    app = live_app("half-close")
    app.config.quiz = True  # (predict mode from the start, in step mode: live_app's)
    async with app.run_test(size=SIZE) as pilot:
        screen = await walk_to(pilot, "time-wait")
        question = screen.question
        assert question.step == 13 and question.peer == "client"
        assert "still open" in question.text and "end of the connection" in question.text
        assert "1-4 or enter answers" in str(screen.query_one("#quiz-box").border_subtitle)
        done = app.run_screen.view.steps_done
        await pilot.press(str(question.choices.index("client") + 1))
        await until(
            pilot,
            lambda: (
                app.run_screen.view.steps_done > done
                and app.run_screen.predict.predictions.asked is None
            ),
        )
        await settle(pilot)
        assert app.run_screen.predict.predictions.said[13] == ("client", "client")
        assert app.run_screen.view.models["client"].kernel == "TIME_WAIT"


async def test_a_time_wait_answer_waits_for_the_kernel_over_a_slow_link():
    """lost-fin, two hosts: when conn-1 closes, the client's lost FIN has not been sent
    again yet - nothing is settled when the next call comes. The reveal waits for the
    kernels (each new event asks again) and then names the end they put in TIME_WAIT."""
    app = live_app("lost-fin")
    app.config.quiz = True  # (predict mode from the start, in step mode: live_app's)
    async with app.run_test(size=SIZE) as pilot:
        screen = await walk_to(pilot, "time-wait")
        step = screen.question.step
        done = app.run_screen.view.steps_done
        await pilot.press(str(screen.question.choices.index("client") + 1))
        await until(pilot, lambda: app.run_screen.view.steps_done > done)
        await until(pilot, lambda: app.run_screen.predict.predictions.asked is None, timeout=15)
        guess, truth = app.run_screen.predict.predictions.said[step]
        assert not truth.startswith("not known"), truth
        ends = {
            name: app.run_screen.view.models[name].kernel
            for name in (screen.question.socket, screen.question.peer)
        }
        waiting = [name for name, kernel in ends.items() if kernel == "TIME_WAIT"]
        assert truth == (waiting[0] if len(waiting) == 1 else "both" if waiting else "neither"), (
            truth,
            ends,
        )
        assert truth == guess == "client"
