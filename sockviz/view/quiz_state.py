"""Predict mode's bookkeeping: the question put, the guess, what really happened, the score.

The questions themselves and how a real outcome answers one live in
:mod:`sockviz.engine.predict_questions`; this keeps what a session of guessing has been through,
so the app only asks it what to put and shows what it says. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from sockviz.engine.events import CallEvent
from sockviz.view.run_view import RunView

if TYPE_CHECKING:  # (the questions are imported when first needed, after the first frame)
    from sockviz.engine.predict_questions import Datagrams, Question


class Reveal(NamedTuple):
    """What a guess met: the step, the guess, and the truth."""

    step: int
    guess: str
    truth: str

    @property
    def right(self) -> bool:
        return self.guess == self.truth


class Predictions:
    """One session of predict mode (it outlives restarts: the score is the session's).
    (A plain class: made at every start, and a dataclass costs its import a millisecond.)"""

    def __init__(self, on: bool = False) -> None:
        self.on = on
        self.asked: tuple[Question, str] | None = None
        """The question whose call is being made, and the guess."""
        self.call: CallEvent | None = None
        """That call's event, once it has come."""
        self.datagram: int | None = None
        """For a ``recvfrom`` asked about: the size its datagram was sent with."""
        self.datagrams: Datagrams | None = None
        """The run's datagrams so far (an engine ``Datagrams``, made at the first call)."""
        self.said: dict[int, tuple[str, str]] = {}
        """Step -> (guess, what really happened), for the explanation of that step."""
        self.right = 0
        self.answered = 0

    @property
    def score(self) -> tuple[int, int]:
        return (self.right, self.answered)

    def question(self, view: RunView) -> Question | None:
        """The question to put before the pending call, if predict mode is on and the call
        has something to guess."""
        if not self.on or view.pending is None:
            return None
        from sockviz.engine.predict_questions import ask  # (predict mode only: not at every start)

        return ask(
            view.pending, view.models, wire=view.wire is not None and view.wire.where is not None
        )

    def guessed(self, question: Question, choice: int) -> None:
        self.asked = (question, question.choices[choice])
        self.call = self.datagram = None

    def saw(self, event: CallEvent) -> None:
        """A call was made: the asked one's event is kept for the reveal (and every
        datagram sent, so a ``recvfrom`` can be told what it read was whole)."""
        if self.datagrams is None:
            from sockviz.engine.predict_questions import Datagrams  # (after the first frame)

            self.datagrams = Datagrams()
        size = self.datagrams.seen(event)
        if self.asked is not None and event.step == self.asked[0].step:
            self.call, self.datagram = event, size

    def reveal(self, view: RunView, now: bool = False) -> Reveal | None:
        """Once the asked call has been made and the run has moved on (the next call is
        pending, or the run is over): what it was, the score kept. None until then - and
        while the kernel has not settled the answer yet (a FIN still on its way over a slow
        link: each new event asks again), unless ``now`` (→ pressed: told as it stands)."""
        if self.asked is None:
            return None
        question, guess = self.asked
        moved_on = view.outcome is not None or (
            view.pending is not None
            and view.pending.step > question.step
            # (a call made together with the next one: that one is pending before the
            # asked one has returned - its answer waits for it)
            and (self.call is not None or now)
        )
        if not moved_on:
            return None
        truth = question.answer(self.call, view.models, view.caused, self.datagram)
        from sockviz.engine.predict_questions import NOT_YET  # (predict mode only)

        if truth.startswith(NOT_YET) and not now and view.outcome is None:
            return None
        self.asked = None
        self.right += guess == truth
        self.answered += 1
        self.said[question.step] = (guess, truth)
        return Reveal(question.step, guess, truth)

    def forget_run(self) -> None:
        """A new run: no question under way, no guesses to explain (the score stays: it is
        the session's)."""
        self.asked = None
        self.call = None
        self.datagram = None
        self.datagrams = None
        self.said = {}
