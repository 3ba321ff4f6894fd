"""The log: one entry per call and kernel change of the view shown, newest at the bottom.

A line-API widget drawing the view's own log lines (it copies none of them), looking like
Textual's ``Log``: going back to another moment shows that moment's lines at once, with no
rewrite of thousands of lines and no second layout while a worker measures them. An entry
wider than the log is wrapped at its spaces, the rest indented under its socket's column:
on a narrow terminal a line cut at the edge lost what the call returned.
"""

from __future__ import annotations

import bisect
import textwrap

from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sockviz.view.run_view import LOG_LINES, RunView
from sockviz.view.words import log_text

#: Where an entry's wrapped lines start: under the socket's name (``  17  conn-1   …``).
INDENT = 6


def wrap_entry(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` cells, broken at spaces (a word longer than a
    line - an escaped payload - is broken where it must be), each after the first indented
    under the socket's column."""
    if width <= 0 or cell_len(text) <= width:
        return [text]
    indent = " " * (INDENT if width >= 3 * INDENT else 1)
    return textwrap.wrap(
        text,
        width,
        subsequent_indent=indent,
        break_on_hyphens=False,
        replace_whitespace=False,
    ) or [text]


class RunLog(ScrollView, can_focus=True):
    """The log of the view shown. See the module docstring."""

    DEFAULT_CSS = """
    RunLog {
        background: $surface;
        color: $text;
        overflow-x: hidden;
        overflow-y: scroll;
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
        self._wrapped: list[list[str] | None] = []
        """Each entry's lines at :attr:`_wrap_width`, made when first needed."""
        self._starts: list[int] = []
        """The line each entry starts on, at :attr:`_wrap_width`."""
        self._wrap_width = 0

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

    def _lines_of(self, index: int) -> list[str]:
        lines = self._wrapped[index]
        if lines is None:
            lines = self._wrapped[index] = wrap_entry(self._text(index), self._wrap_width)
        return lines

    def _lay_out(self, start: int) -> None:
        """Where each entry from ``start`` on begins, at the width the log has."""
        del self._starts[start:]
        line = self._starts[-1] + len(self._lines_of(start - 1)) if start else 0
        for index in range(start, len(self._events)):
            self._starts.append(line)
            line += len(self._lines_of(index))
        self.virtual_size = Size(self._wrap_width, line)

    def show(self, view: RunView, added: list | None = None) -> None:
        """Show ``view``'s log: whole (``added`` None), or with the lines it just added."""
        if added is None:
            self._events = view.log()
            self._texts = [None] * len(self._events)
            self._wrapped = [None] * len(self._events)
            start = 0
        elif added:
            self._events.extend(added[-LOG_LINES:])
            self._texts.extend([None] * min(len(added), LOG_LINES))
            self._wrapped.extend([None] * min(len(added), LOG_LINES))
            start = len(self._starts)
            extra = len(self._events) - LOG_LINES
            if extra > 0:
                del self._events[:extra]
                del self._texts[:extra]
                del self._wrapped[:extra]
                start = 0
        else:
            return
        self._lay_out(min(start, len(self._events)))
        self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def on_resize(self) -> None:
        self._rewrap()

    def _rewrap(self) -> None:
        """The entries wrapped again for the width the log has now."""
        width = self.scrollable_content_region.width
        if width != self._wrap_width:
            self._wrap_width = width
            self._wrapped = [None] * len(self._events)
            self._lay_out(0)
            self.scroll_end(animate=False, x_axis=False)
            self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0 and self.scrollable_content_region.width != self._wrap_width:
            # (a log shown in its tab does not always get a resize of its own)
            self.call_later(self._rewrap)
        style = self.rich_style
        line = scroll_y + y
        if not self._starts or line >= self.virtual_size.height:
            return Strip.blank(width, style)
        index = bisect.bisect_right(self._starts, line) - 1
        lines = self._lines_of(index)
        sub = line - self._starts[index]
        text = lines[sub] if sub < len(lines) else ""
        strip = Strip([Segment(text, style)], cell_len(text))
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, line)
