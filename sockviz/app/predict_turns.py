"""Predict mode's turns on screen: a question before the call, the truth after it.

:class:`~sockviz.view.quiz_state.Predictions` keeps the book (the question under way, the
guesses, the score) without Textual; this object does the talking - it puts the question
in a :class:`~sockviz.app.screens.quiz_screen.QuizScreen`, makes the call once it is
answered, and says whether the guess was right. The run screen holds one for the session
(the score outlives restarts).
"""

from __future__ import annotations

from typing import Any

from textual.app import App

from sockviz.app.session import Session
from sockviz.view.quiz_state import Predictions
from sockviz.view.run_view import RunView


class PredictTurns:
    """See the module docstring."""

    def __init__(self, session: Session, on: bool) -> None:
        self.session = session
        self.predictions = Predictions(on=on)
        """Predict mode's session: on or off, the question under way, the score."""

    def toggle(self, app: App[Any]) -> bool:
        """Predict mode on or off, said; True when it is now on."""
        self.predictions.on = not self.predictions.on
        app.notify(
            "Predict mode on: before each call → asks what it will do; answer with "
            "the choice's number or ↑↓ Enter."
            if self.predictions.on
            else "Predict mode off.",
            timeout=4,
        )
        return self.predictions.on

    def ask(self, app: App[Any], live: RunView) -> bool:
        """Put a question about the pending call; True if one was put (the call is made
        once it is answered - or not at all, on escape or once the run has ended)."""
        question = self.predictions.question(live)
        if question is None:
            return False

        def answered(index: int | None) -> None:
            if index is None or self.session.runner is None or live.outcome is not None:
                return  # escape: no guess, no call
            self.predictions.guessed(question, index)
            self.session.step()

        # (imported only when predict mode asks: not part of the start)
        from sockviz.app.screens.quiz_screen import QuizScreen

        app.push_screen(QuizScreen(question, self.predictions.score), answered)
        return True

    def reveal(self, app: App[Any], live: RunView, now: bool = False) -> bool:
        """Once the asked call has been made and the run has moved on, say what really
        happened and keep the score (``now``: even if the kernel has not settled it yet);
        True if it was said (the panels then show the guess)."""
        reveal = self.predictions.reveal(live, now)
        if reveal is None:
            return False
        if reveal.right:
            app.notify(f"Right: {reveal.truth}.", title=f"step {reveal.step + 1}", timeout=4)
        else:
            app.notify(
                f"You said {reveal.guess}; it was {reveal.truth}.",
                title=f"step {reveal.step + 1}",
                severity="warning",
                timeout=6,
            )
        return True
