"""The bar under the stage that holds the message line: hidden until ``i``, and its input
mounted only when first needed (an Input is a noticeable part of the start).

The bar takes what was typed, refuses what is too long to send in one go, and hands the
bytes on as :class:`MessageBar.Typed`; the app gives them to the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical
from textual.message import Message

from sockviz.app.config import MESSAGE_LIMIT

if TYPE_CHECKING:  # (types only: the input's module is imported after the first frame)
    from textual.widgets import Input

    from sockviz.app.widgets.lower_row import MessageInput


class MessageBar(Vertical):
    """See the module docstring."""

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
        self.mount(line)
        return line

    def open(self) -> None:
        """Show the line and give it the keys."""
        self.display = True
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
        self.display = False
        self.post_message(self.Typed(data))
