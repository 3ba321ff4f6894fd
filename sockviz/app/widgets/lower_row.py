"""The lower row of the main screen and the message line.

Both are mounted just after the app's first frame (the tabs, log and input they are made
of cost a noticeable part of the start-up), so this module is imported only then.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, TabbedContent, TabPane

from sockviz.app.widgets.explain_panel import ExplainPanel, NextPanel
from sockviz.app.widgets.payload import PayloadView
from sockviz.app.widgets.runlog import RunLog


class LowerPanels(Horizontal):
    """The lower row: what just happened, and the next call / payload / log tabs.

    The costliest part of the screen to build, so the app mounts it just after its first
    frame: the header, lanes and ladder show that much sooner.
    """

    class Ready(Message):
        """The panels and everything in them are mounted."""

    def compose(self) -> ComposeResult:
        yield ExplainPanel(id="explain")
        yield NextPanel(id="next-wide")
        with TabbedContent(id="tabs", initial="tab-next"):
            with TabPane("Next", id="tab-next"):
                yield NextPanel(id="next")
            with TabPane("Payload", id="tab-payload"):
                yield PayloadView(id="payload")
            with TabPane("Log", id="tab-log"):
                yield RunLog(id="log")

    def on_mount(self) -> None:
        # after a refresh: by then the tabs inside the TabbedContent exist too
        self.call_after_refresh(self.post_message, self.Ready())


class MessageInput(Input):
    """The message line. A paste it cannot take whole is cut to fit - and says so.

    (A plain Input refuses a paste that would pass ``max_length``: the text would be lost
    without a word.)

    While it has the keyboard, the footer shows its own keys: the run's single-key
    bindings (q, r, +, …) type those characters here instead.
    """

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "submit", "Send"),
        Binding("escape", "app.leave_input", "Back to the run"),
    ]

    def _on_paste(self, event) -> None:
        event.stop()
        lines = (event.text or "").splitlines()
        if not lines:
            return
        if len(lines) > 1:
            self.app.notify(f"Pasted the first of {len(lines)} lines: a message is one line.",
                            title="paste", timeout=5)
        selection = self.selection
        start, end = sorted((selection.start, selection.end))
        room = self.max_length - (len(self.value) - (end - start))
        line = lines[0]
        if len(line) > room:
            self.app.notify(f"Pasted {room} of {len(line)} characters: a message holds "
                            f"at most {self.max_length}.", title="paste", severity="warning",
                            timeout=6)
            line = line[: max(0, room)]
        if selection.is_empty:
            self.insert_text_at_cursor(line)
        else:
            self.replace(line, start, end)
