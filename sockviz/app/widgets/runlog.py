"""The log: one line per call and kernel change of the view shown, newest at the bottom.

A line-API widget drawing the view's own log lines (it copies none of them), looking like
Textual's ``Log``: going back to another moment shows that moment's lines at once, with no
rewrite of thousands of lines and no second layout while a worker measures them.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sockviz.view.run_view import LOG_LINES, RunView
from sockviz.view.words import log_text


class RunLog(ScrollView, can_focus=True):
    """The log of the view shown. See the module docstring."""

    DEFAULT_CSS = """
    RunLog {
        background: $surface;
        color: $text;
        overflow: scroll;
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._events: list = []
        """The lines shown, as the events they say, oldest first (at most
        :data:`LOG_LINES`)."""
        self._texts: list[str | None] = []
        """Their text, made when first needed (drawn, or measured)."""
        self._width = 0

    @property
    def line_count(self) -> int:
        return len(self._events)

    @property
    def lines(self) -> list[str]:
        """The lines shown, as text."""
        return [self._text(i) for i in range(len(self._events))]

    def _text(self, index: int) -> str:
        text = self._texts[index]
        if text is None:
            text = self._texts[index] = log_text(self._events[index]).expandtabs()
        return text

    def show(self, view: RunView, added: list | None = None) -> None:
        """Show ``view``'s log: whole (``added`` None), or with the lines it just added."""
        if added is None:
            self._events = view.log()
            self._texts = [None] * len(self._events)
            self._width = max(
                (cell_len(self._text(i)) for i in range(len(self._events))), default=0
            )
        elif added:
            self._events.extend(added[-LOG_LINES:])
            self._texts.extend([None] * min(len(added), LOG_LINES))
            extra = len(self._events) - LOG_LINES
            if extra > 0:
                del self._events[:extra]
                del self._texts[:extra]
            start = len(self._events) - min(len(added), LOG_LINES)
            self._width = max(
                self._width, *(cell_len(self._text(i)) for i in range(start, len(self._events)))
            )
        else:
            return
        self.virtual_size = Size(self._width, len(self._events))
        self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        style = self.rich_style
        line = scroll_y + y
        if line >= len(self._events):
            return Strip.blank(width, style)
        text = self._text(line)
        strip = Strip([Segment(text, style)], cell_len(text))
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, line)
