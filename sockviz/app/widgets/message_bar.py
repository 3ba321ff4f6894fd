"""The bar under the lower panels that holds the notices and the message line: shown only
while it has something to show.

**Notices** (a file written, predict mode's verdict, a run stopped, …) are said here, on a
line of their own in place of the footer's keys, whole words wrapped, for as long as each
lasts: a toast over the screen covered what just happened for seconds, and cut words at
its edge. The newest is shown; an older one not yet over comes back when it ends; a click
ends the one shown.

**The message line** is hidden until ``i``, and its input mounted only when first needed
(an Input is a noticeable part of the start). The bar takes what was typed, refuses what is
too long to send in one go, and hands the bytes on as :class:`MessageBar.Typed`; the app
gives them to the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static

from sockviz.app.config import MESSAGE_LIMIT

if TYPE_CHECKING:  # (types only: the input's module is imported after the first frame)
    from textual.widgets import Input

    from sockviz.app.widgets.lower_row import MessageInput


@dataclass(frozen=True)
class Notice:
    """One notice: its words (inert text already) and until when it is shown."""

    title: str
    message: str
    severity: str
    """information, warning or error (the stylesheet colours each)."""
    until: float
    """On the monotonic clock."""

    def content(self) -> Content:
        title = (f"{self.title}: ", "bold") if self.title else ""
        return Content.assemble(title, self.message)


class MessageBar(Vertical):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.notices: list[Notice] = []
        """The notices not over yet, oldest first: the last is shown."""
        self._typing = False
        """The message line is open."""
        self._ends: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="notice")

    def notice(self, title: str, message: str, severity: str, seconds: float) -> None:
        """Say ``message`` for ``seconds`` (``title`` and ``message``: inert text)."""
        self.notices.append(Notice(title, message, severity, time.monotonic() + seconds))
        self._show_notice()

    @property
    def said(self) -> Notice | None:
        """The notice on show."""
        return self.notices[-1] if self.notices else None

    def _show_notice(self) -> None:
        now = time.monotonic()
        self.notices = [n for n in self.notices if n.until > now]
        if self._ends is not None:
            self._ends.stop()
            self._ends = None
        line = self.query_one("#notice", Static)
        said = self.said
        if said is not None:
            line.update(said.content())
            line.set_classes(f"-{said.severity}")
            self._ends = self.set_timer(said.until - now, self._show_notice)
        line.display = said is not None
        self._fit()

    def on_click(self, event: events.Click) -> None:
        if event.widget is not None and event.widget.id == "notice" and self.notices:
            self.notices.pop()  # (a click ends the notice shown)
            self._show_notice()

    def _fit(self) -> None:
        """Shown while it has a notice or the message line is open; while a notice shows,
        the footer's keys make way for it (the screen's ``-notice``)."""
        self.display = self._typing or bool(self.notices)
        for line in self.query("#message"):
            line.display = self._typing
        if self.is_attached:
            self.screen.set_class(bool(self.notices), "-notice")

    class Typed(Message):
        """A message for the client to send, typed and short enough."""

        def __init__(self, data: bytes) -> None:
            super().__init__()
            self.data = data
            """The message, encoded in UTF-8."""

    def line(self) -> MessageInput:
        """The message line, mounted (hidden in its bar) the first time it is needed."""
        # (imported only now: after the first frame, or when i is pressed before it)
        from sockviz.app.widgets.lower_row import MessageInput

        existing = self.query(MessageInput)
        if existing:
            return existing.first()
        line = MessageInput(
            placeholder="a message for the client to send · Enter sends · Escape leaves",
            id="message",
            max_length=MESSAGE_LIMIT,
        )
        line.display = self._typing  # (the bar may be up for a notice alone)
        self.mount(line)
        return line

    def open(self) -> None:
        """Show the line and give it the keys."""
        self._typing = True
        self._fit()
        line = self.line()
        if line.is_mounted:
            line.focus()
        else:  # pressed before it was up: focus it as soon as it is
            self.call_after_refresh(line.focus)

    def on_input_submitted(self, message: Input.Submitted) -> None:
        data = message.value.encode("utf-8")
        if len(data) > MESSAGE_LIMIT:  # keep the text: nothing typed is lost
            self.notify(
                f"The message is {len(data)} bytes in UTF-8; at most {MESSAGE_LIMIT} "
                "can be sent in one go.",
                title="not sent",
                severity="warning",
            )
            return
        message.input.clear()
        self.screen.set_focus(None)
        self.close()
        self.post_message(self.Typed(data))

    def on_message_input_left(self) -> None:
        self.close()

    def close(self) -> None:
        """Hide the message line (the keys are the run's again)."""
        self._typing = False
        self._fit()
