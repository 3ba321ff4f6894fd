"""The ``s`` scenario picker: a modal list; Enter runs the chosen one, Escape keeps the old."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sockviz.engine.record.inert_text import inert, inert_lines
from sockviz.engine.scenarios.scenario_types import Scenario


class ScenarioPicker(ModalScreen[str | None]):
    """Returns the chosen scenario's name, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, scenarios: Mapping[str, Scenario], current: str) -> None:
        super().__init__()
        self.scenarios = scenarios
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box") as box:
            box.border_title = "choose a scenario"
            box.border_subtitle = "enter runs it · escape cancels"
            options = [
                Option(
                    Content.assemble(
                        (inert(name, 40), "bold"),
                        ("  (running)" if name == self.current else "", "$text-quiet"),
                        "\n",
                        (inert(scenario.summary, 200), "$text-quiet"),
                    ),
                    id=name,
                )
                for name, scenario in self.scenarios.items()
            ]
            yield OptionList(*options, id="picker-list")
            yield Static(id="picker-about")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = list(self.scenarios)
        options.highlighted = names.index(self.current) if self.current in names else 0
        options.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        scenario = self.scenarios[event.option.id or self.current]  # (every option has one)
        self.query_one("#picker-about", Static).update(Content(inert_lines(scenario.about)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
