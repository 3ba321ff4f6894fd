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

from sockviz.view.model import LOG_LINES, RunView


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
        self.lines: list[str] = []
        """The lines shown, oldest first (at most :data:`LOG_LINES`)."""
        self._width = 0

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def show(self, view: RunView, added: list[str] | None = None) -> None:
        """Show ``view``'s log: whole (``added`` None), or with the lines it just added."""
        if added is None:
            self.lines = view.log()
            self._width = max(map(cell_len, self.lines), default=0)
        elif added:
            self.lines.extend(added)
            del self.lines[:-LOG_LINES]
            self._width = max(self._width, *map(cell_len, added))
        else:
            return
        self.virtual_size = Size(self._width, len(self.lines))
        self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        style = self.rich_style
        line = scroll_y + y
        if line >= len(self.lines):
            return Strip.blank(width, style)
        text = self.lines[line].expandtabs()
        strip = Strip([Segment(text, style)], cell_len(text))
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, line)
