"""Predict mode's question: asked before a step's call is made, answered with the keyboard.

A digit from 1 to the number of choices (or ↑/↓ and Enter) chooses; the choice comes back
to the app, which makes the call and, once it has settled, reveals what really happened.
Escape goes back without making it.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sockviz.engine.predict_questions import Question


class QuizScreen(ModalScreen[int | None]):
    """Returns the index of the chosen answer, or None (no guess, no call)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Back, no call"),
        *(Binding(str(n), f"choose({n - 1})", show=False) for n in range(1, 10)),
    ]

    def __init__(self, question: Question, score: tuple[int, int]) -> None:
        super().__init__()
        self.question = question
        self.score = score

    def compose(self) -> ComposeResult:
        right, asked = self.score
        with Vertical(id="quiz-box") as box:
            box.border_title = f"predict · step {self.question.step + 1}"
            # (the keys said are the keys that answer: as many digits as choices)
            box.border_subtitle = (
                f"score {right}/{asked} · " if asked else ""
            ) + f"1-{len(self.question.choices)} or enter answers · escape: back, no call"
            yield Static(Content.assemble((self.question.text, "bold")), id="quiz-question")
            yield OptionList(
                *(
                    Option(Content(f"{n}. {choice}"), id=str(n - 1))
                    for n, choice in enumerate(self.question.choices, start=1)
                ),
                id="quiz-choices",
            )

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.highlighted = 0
        choices.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))  # (every choice has its index as its id)

    def action_choose(self, index: int) -> None:
        if index < min(len(self.question.choices), 9):
            self.dismiss(index)

    def action_cancel(self) -> None:
        self.dismiss(None)
