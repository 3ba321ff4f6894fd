"""The lower row of the run screen and the message line.

Both are mounted just after the app's first frame (the tabs, log and input they are made
of cost a noticeable part of the start-up), so this module is imported only then. The row
shows what the run screen hands it (:mod:`sockviz.app.panel_words` says the words); it
keeps only which tab is up.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, TabbedContent, TabPane, Tabs

from sockviz.app.widgets.explain_panel import ExplainPanel, NextPanel
from sockviz.app.widgets.payload import PayloadView
from sockviz.app.widgets.runlog import RunLog
from sockviz.engine.events import Event
from sockviz.view.run_view import Row, RunView

#: Below this many columns the lower row is slim (see :meth:`LowerPanels.on_resize`).
SLIM = 100


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

    def on_resize(self) -> None:
        # Narrower than SLIM: what just happened takes the larger share and a lighter frame
        # (the stylesheet's .-slim), so more of it shows without scrolling.
        self.set_class(self.size.width < SLIM, "-slim")
        # Grown wide, the screen shows the next call in its own column and hides its tab
        # (checked after a refresh, once the screen's breakpoint class is the new size's).
        self.call_after_refresh(self._next_in_its_column)

    def _next_in_its_column(self) -> None:
        """On a wide screen the hidden Next tab is never the one up: the payload's is."""
        for tabs in self.query(TabbedContent):  # (none before its first compose)
            if self.screen.has_class("-wide") and tabs.active == "tab-next":
                tabs.active = "tab-payload"

    def ready(self, payload: Row | None, view: RunView) -> None:
        """Up at last: titled, and showing what came before (``payload``: the ladder's
        choice; ``view``: the view on screen)."""
        self.query_one("#explain").border_title = "what just happened"
        self.query_one("#next-wide").border_title = "next"
        for tabs in self.query(Tabs):
            tabs.can_focus = False  # → must always step, never move between tabs
        self.show_payload(payload)
        self.show_log(view)

    def show_log(self, view: RunView, added: list[Event] | None = None) -> None:
        self.query_one(RunLog).show(view, added)

    def show_payload(self, row: Row | None) -> None:
        self.query_one(PayloadView).show(row)

    def show_done(self, done: Content | None) -> None:
        self.query_one(ExplainPanel).show(done)

    def show_next(self, upcoming: Content, websocket: bool) -> None:
        """The next call, in its tab and in its wide column (``websocket``: the payload
        view decodes frames)."""
        self.query_one(PayloadView).decode_websocket = websocket
        for panel in self.query(NextPanel):
            panel.show(upcoming)
        self._next_in_its_column()

    def show_tab(self, tab: str) -> None:
        if tab == "tab-next" and self.screen.has_class("-wide"):
            return  # the next call has its own column on a wide screen
        self.query_one(TabbedContent).active = tab


class MessageInput(Input):
    """The message line. A paste it cannot take whole is cut to fit - and says so.

    (A plain Input refuses a paste that would pass ``max_length``: the text would be lost
    without a word.)

    While it has the keyboard, the footer shows its own keys: the run's single-key
    bindings (q, r, +, …) type those characters here instead.
    """

    class Left(Message):
        """Escape: the keys go back to the run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send"),
        Binding("escape", "leave", "Back to the run"),
    ]

    def action_leave(self) -> None:
        """Give the keys back to the run, and hide the line's bar."""
        self.screen.set_focus(None)
        self.post_message(self.Left())  # (its bar hides it)

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        lines = (event.text or "").splitlines()
        if not lines:
            return
        if len(lines) > 1:
            self.app.notify(
                f"Pasted the first of {len(lines)} lines: a message is one line.",
                title="paste",
                timeout=5,
            )
        selection = self.selection
        start, end = sorted((selection.start, selection.end))
        assert self.max_length is not None  # (the line is made with one: MessageBar.line)
        room = self.max_length - (len(self.value) - (end - start))
        line = lines[0]
        if len(line) > room:
            self.app.notify(
                f"Pasted {room} of {len(line)} characters: a message holds "
                f"at most {self.max_length}.",
                title="paste",
                severity="warning",
                timeout=6,
            )
            line = line[: max(0, room)]
        if selection.is_empty:
            self.insert_text_at_cursor(line)
        else:
            self.replace(line, start, end)
