"""Predict mode (--quiz, g): a question before each call, answered with the keyboard alone;
the call is made once it is answered, then the app says what really happened and keeps score.
"""

from __future__ import annotations

from sockviz.app.app import AppConfig, make_app
from sockviz.app.screens.quiz_screen import QuizScreen
from sockviz.cli import build_parser, main
from sockviz.engine.run.gate import Mode
from sockviz.launch import serve_command
from sockviz.options import check, from_arguments
from tests.app.app_helpers import FROZEN, THEME, crop, jump, replay_app, settle, until

SIZE = (100, 30)


def quiz_app():
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    app.config.quiz = True  # (predict mode from the start, in step mode: replay_app's)
    return app


async def answer(pilot, *keys: str) -> None:
    """Answer the open question with ``keys``; wait for the call and the reveal."""
    app = pilot.app
    assert isinstance(app.screen, QuizScreen), "no question is open"
    before = app.run_screen.view.steps_done
    await pilot.press(*keys)
    await until(
        pilot,
        lambda: (
            app.run_screen.view.steps_done > before
            and app.run_screen.predict.predictions.asked is None
        ),
    )
    await settle(pilot)


async def test_a_question_before_the_call_then_the_reveal_and_the_score():
    app = quiz_app()
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 2)  # socket() and setsockopt(): nothing to guess
        await pilot.press("right")
        await until(pilot, lambda: isinstance(app.screen, QuizScreen))
        assert app.screen.question.text.endswith("After server.bind(), what will its state be?")
        assert app.run_screen.view.steps_done == 2, "the call waits for the answer"
        await answer(pilot, "1")  # bound
        assert app.run_screen.predict.predictions.said[2] == (
            "bound",
            "bound",
        ) and app.run_screen.predict.predictions.score == (1, 1)
        assert "You predicted: bound ✓ right" in "\n".join(crop(app, "#explain"))
        assert "quiz 1/1" in crop(app, "#status")[0]

        await pilot.press("right")
        await until(pilot, lambda: isinstance(app.screen, QuizScreen))
        choices = app.screen.question.choices
        await answer(pilot, str(choices.index("closed") + 1))
        assert app.run_screen.predict.predictions.score == (1, 2)
        assert "closed ✗ - it was listening" in "\n".join(crop(app, "#explain"))


async def test_escape_makes_no_call_and_arrows_and_enter_answer():
    app = quiz_app()
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 2)
        await pilot.press("right")
        await until(pilot, lambda: isinstance(app.screen, QuizScreen))
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, QuizScreen)
        assert (
            app.run_screen.view.steps_done == 2
            and app.run_screen.history.calls == 2
            and app.run_screen.predict.predictions.score == (0, 0)
        )
        await pilot.press("right")
        await until(pilot, lambda: isinstance(app.screen, QuizScreen))
        await answer(pilot, "down", "enter")  # the second choice: listening
        assert app.run_screen.predict.predictions.said[2] == (
            "listening",
            "bound",
        ) and app.run_screen.predict.predictions.score == (0, 1)


async def test_the_time_wait_question_is_answered_by_the_kernel():
    """Walk tcp-echo answering every question; at the last close, the kernel puts the
    client - which closed first - in TIME_WAIT."""
    app = quiz_app()
    async with app.run_test(size=SIZE) as pilot:
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
                question = app.screen.question
                pick = "client" if question.kind == "time-wait" else question.choices[0]
                await answer(pilot, str(question.choices.index(pick) + 1))
            await settle(pilot)
        kinds = {
            app.run_screen.predict.predictions.said[s][1]
            for s in app.run_screen.predict.predictions.said
        }
        assert "client" in kinds  # the time-wait question's true answer
        step = next(
            s
            for s, (guess, truth) in app.run_screen.predict.predictions.said.items()
            if truth == "client"
        )
        assert app.run_screen.predict.predictions.said[step] == ("client", "client")
        right, asked = app.run_screen.predict.predictions.score
        assert asked == len(app.run_screen.predict.predictions.said) == 9 and right >= 1


async def test_g_turns_predict_mode_on_and_pauses():
    app = replay_app("tcp-echo-ipv4", "tcp-echo", step=False)
    app.session.pace = 5.0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.mode is Mode.PLAY and not app.run_screen.predict.predictions.on
        await pilot.press("g")
        assert app.run_screen.predict.predictions.on and app.mode is Mode.STEP
        await pilot.press("g")
        assert not app.run_screen.predict.predictions.on


async def test_quiz_from_the_command_line_starts_in_step_mode():
    args = build_parser().parse_args(["--quiz"])
    assert args.quiz
    app = make_app(
        AppConfig(quiz=True),
        runner_factory=replay_app("tcp-echo-ipv4", "tcp-echo").session.factory,
        clock=lambda: FROZEN,
        theme=THEME,
    )
    assert app.mode is Mode.STEP
    async with app.run_test(size=SIZE):
        assert app.run_screen.predict.predictions.on
    served = check(from_arguments(build_parser().parse_args(["--serve", "--quiz"])))
    assert "--quiz" in serve_command(served)


def test_quiz_is_for_the_tui(capsys):
    assert main(["--quiz", "--trace"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--quiz" in err
