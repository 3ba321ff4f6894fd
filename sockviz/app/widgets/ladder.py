"""The ladder (sequence) diagram: the client's lifeline on the left, the server's on the right.

Calls that send something across are arrows; calls that stay on one side (``bind``,
``listen``, ``accept``, ``recv``) are notes against their side's lifeline. A send is drawn
dashed while its bytes sit in the peer's receive buffer, and solid once a ``recv`` on the
other side has taken them: the bytes really wait in the kernel until the program reads.

The wire's segments, when watched, are thin arrows in a colour of their own under the call
that caused them (``w`` hides and shows them). A line-API widget, as Textual's ``Log`` and
``DataTable`` are: it draws the rows of a :class:`~sockviz.view.run_view.RunView` one screen
line at a time, only those in sight, with no widget per row - so a run of thousands of rows
scrolls back to its first as cheaply as a short one. Rows that carry bytes, and segments,
can be selected (click, or ↑/↓ when the ladder has focus); the payload view shows the
selected one. The selection is this widget's own state; the rows
are the view's. Peer bytes are shown escaped.
"""

from __future__ import annotations

import bisect
from typing import ClassVar

from rich.style import Style as RichStyle
from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.visual import Visual

from sockviz.engine.events import UNDELIVERED
from sockviz.view.hold_words import fitted
from sockviz.view.run_view import Row, RunView
from sockviz.view.words import preview


def row_content(row: Row, width: int, delivered: bool) -> Content:
    """A row's one or two lines (a row of data shows a preview of its bytes under it)."""
    width = max(12, width)
    inner = width - 2
    line = "─" if delivered else "╌"
    style = "$text-error" if row.error else ("$accent" if row.arrow else "$foreground")
    bold, head = "bold", ("▶", "◀")
    cut = 0  # (cells of a link's arrow not drawn: it was lost, or waits at its sender)
    if row.packet is not None:  # the wire: a thin arrow in a colour of its own
        line, style, bold, head = "┄", "$wire", "$wire", ("›", "‹")
        if row.packet.link in UNDELIVERED:
            style, bold, head, cut = "$lost", "$lost", ("✗", "✗"), inner // 4
        elif row.packet.link == "held":
            style, bold, head, cut = "$held", "$held", ("⏸", "⏸"), inner // 3
    if row.arrow:
        # (a wire row's words whole before the gap of an arrow that stops short: that gap
        # shrinks to one cell, and a narrow ladder gets the segment's shorter wording)
        text = row.label
        if row.packet is not None and row.packet.link is not None:  # (a link's row)
            text = fitted(text, row.packet, inner - 3 - (1 if cut else 0))
            cut = max(1, min(cut, inner - 3 - len(text))) if cut else 0
        label = f" {text} "[: inner - 1 - cut]
        body = inner - 1 - cut
        left = (body - len(label)) // 2
        right = body - len(label) - left
        if row.side == "left":
            middle = Content.assemble(
                (line * left, style), (label, bold), (line * right + head[0], style), " " * cut
            )
        else:
            middle = Content.assemble(
                " " * cut, (head[1] + line * left, style), (label, bold), (line * right, style)
            )
    else:
        text = row.label[: inner - 2]
        pad = inner - len(text) - 2
        if row.side == "left":
            middle = Content.assemble(" ", (text, style), " " * (pad + 1))
        else:
            middle = Content.assemble(" " * (pad + 1), (text, style), " ")
    edge = ("│", "$state-future")
    lines = [Content.assemble(edge, middle, edge)]
    if row.data is not None:
        shown = preview(row.data, inner - 2)
        pad = inner - len(shown)
        lines.append(
            Content.assemble(
                edge, " " * (pad // 2), (shown, "italic"), " " * (pad - pad // 2), edge
            )
        )
    return Content("\n").join(lines)


class Ladder(ScrollView, can_focus=True):
    """The sequence diagram of the view it is shown. See the module docstring."""

    DEFAULT_CSS = "Ladder { overflow-x: hidden; }"
    COMPONENT_CLASSES: ClassVar[set[str]] = {"ladder--head", "ladder--selected", "ladder--hover"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "select(-1)", "Previous message", show=False),
        Binding("down", "select(1)", "Next message", show=False),
    ]

    class MessageChosen(Message):
        """A row with bytes was selected (by the user, or by following the newest)."""

        def __init__(self, row: Row, by_user: bool) -> None:
            super().__init__()
            self.row = row
            self.by_user = by_user

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: RunView | None = None
        self.rows: list[Row] = []
        """The rows shown (the view's, those still kept), oldest first."""
        self._starts: list[int] = []
        """The screen line each row starts on (line 0 is the client/server heading)."""
        self.selected: Row | None = None
        self.follow = True
        """Select each new message as it comes, until the user picks one."""
        self._hover: Row | None = None
        self._newest: int | None = None
        """The newest message seen (the selection follows it when it changes)."""
        self._cache: dict[tuple, list[Strip]] = {}
        self.show_wire = True
        """Draw the wire's rows (w hides and shows them)."""

    # --- what is shown ----------------------------------------------------------------
    def show(self, view: RunView, again: bool = True) -> bool:
        """Show ``view``'s rows. ``again``: another moment of the run (or another run) -
        the selection follows the newest message afresh; else the view has grown from the
        one shown, and what it added is drawn. True if the selection changed (to
        :attr:`selected`: the caller shows it; no message is posted for it)."""
        if self.view is not None and view.rows is not self.view.rows:
            # another run: its rows are numbered from 0 again, with other words (the lines
            # drawn are kept by row number - an IPv6 run must not show IPv4's addresses)
            self._cache.clear()
        rows = view.shown_rows()
        if not self.show_wire:
            rows = [row for row in rows if row.packet is None]
        # Every view of a run shows a beginning of the same rows: the lines worked out for
        # the rows both show stand.
        keep = 0
        if self.rows and rows and rows[0] is self.rows[0]:
            keep = min(len(self.rows), len(rows))
        del self._starts[keep:]
        line = self._starts[-1] + self._height(rows[keep - 1]) if keep else 1
        for row in rows[keep:]:
            self._starts.append(line)
            line += self._height(row)
        added = again or len(rows) > len(self.rows)
        self.view, self.rows = view, rows
        if again:
            self.selected, self.follow, self._hover = None, True, None
        elif self.selected is not None and (
            not self._is_shown(self.selected) or self.selected not in rows
        ):
            self.selected = None
        self.virtual_size = Size(self.scrollable_content_region.width, line)
        if added:
            self.scroll_end(animate=False, x_axis=False)
        newest, chosen = view.newest_data, again
        if again or newest != self._newest:
            self._newest = newest
            newest_row = self._row(newest) if newest is not None and self.follow else None
            if newest_row is not None:
                self.selected, chosen = newest_row, True
        self.refresh()
        return chosen

    def wire_rows(self, on: bool, view: RunView) -> None:
        """Show the wire's rows, or hide them; ``view`` drawn again either way."""
        self.show_wire = on
        self.rows, self._starts = [], []  # (another set of rows: every line worked out anew)
        self._cache.clear()
        self.show(view, again=False)

    def _is_shown(self, row: Row) -> bool:
        return bool(self.rows) and self.rows[0].index <= row.index <= self.rows[-1].index

    def _row(self, index: int) -> Row | None:
        if not self.rows or not self.rows[0].index <= index <= self.rows[-1].index:
            return None
        if self.show_wire:
            return self.rows[index - self.rows[0].index]
        at = bisect.bisect_left(self.rows, index, key=lambda row: row.index)
        return self.rows[at] if at < len(self.rows) and self.rows[at].index == index else None

    @staticmethod
    def _height(row: Row) -> int:
        return 2 if row.data is not None else 1

    def _at_line(self, line: int) -> tuple[Row, int] | None:
        """The row drawn on screen line ``line``, and which of its lines."""
        if line < 1 or not self._starts:
            return None
        i = bisect.bisect_right(self._starts, line) - 1
        row = self.rows[i]
        sub = line - self._starts[i]
        return (row, sub) if sub < self._height(row) else None

    # --- drawing ------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line = self.scroll_offset.y + y
        if line == 0:
            return self._strips(("head", width), self._heading(), "ladder--head", width)[0]
        found = self._at_line(line)
        if found is None or self.view is None:
            return Strip.blank(width, self._background())
        row, sub = found
        delivered = row.delivered(self.view.folded)
        look = (
            "ladder--selected"
            if row is self.selected
            else "ladder--hover"
            if row is self._hover
            else ""
        )
        key = (row.index, width, delivered, look, row.error)
        return self._strips(key, row_content(row, width, delivered), look, width)[sub]

    def _heading(self) -> Content:
        width = max(12, self.size.width - 1)
        gap = " " * max(1, width - len("client") - len("server"))
        return Content.assemble(("client", "bold"), gap, ("server", "bold"))

    def _strips(self, key: tuple, content: Content, look: str, width: int) -> list[Strip]:
        strips = self._cache.get(key)
        if strips is None:
            style = self.get_visual_style(look) if look else self.get_visual_style()
            pad = self._background(style.rich_style)
            strips = [
                strip.extend_cell_length(width, pad)
                for strip in Visual.to_strips(self, content, width, None, style)
            ]
            if len(self._cache) > 2000:
                self._cache.clear()
            self._cache[key] = strips
        return strips

    def _background(self, style: RichStyle | None = None) -> RichStyle:
        """What an empty cell is drawn with: the background alone (as the screen draws the
        space a widget leaves), so blank cells merge with their neighbours'."""
        return RichStyle.from_color(bgcolor=(style or self.rich_style).bgcolor)

    def notify_style_update(self) -> None:
        self._cache.clear()
        super().notify_style_update()

    def on_resize(self) -> None:
        self._cache.clear()
        if self.view is not None:
            self.virtual_size = Size(self.scrollable_content_region.width, self.virtual_size.height)
            if self.follow:  # (shorter - a notice's line took a row: the newest stays in sight)
                self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)

    # --- choosing a message -----------------------------------------------------------
    def _select(self, row: Row, by_user: bool) -> None:
        self.selected = row
        if by_user:
            data = [r for r in self.rows if r.data is not None]
            self.follow = bool(data) and row is data[-1]
        self.refresh()
        self.post_message(self.MessageChosen(row, by_user))

    def on_click(self, event: events.Click) -> None:
        found = self._at_line(event.y + int(self.scroll_offset.y))
        if found is not None and found[0].selectable:
            self._select(found[0], by_user=True)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        found = self._at_line(event.y + int(self.scroll_offset.y))
        hover = found[0] if found is not None else None
        if hover is not self._hover:
            self._hover = hover
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()

    def action_select(self, delta: int) -> None:
        data = [r for r in self.rows if r.selectable]
        if not data:
            return
        if self.selected in data:
            i = max(0, min(len(data) - 1, data.index(self.selected) + delta))
        else:
            i = len(data) - 1
        self._select(data[i], by_user=True)
        top = self._starts[self.rows.index(data[i])]
        self.scroll_to_region_lines(top)

    def scroll_to_region_lines(self, top: int) -> None:
        """Bring the screen lines from ``top`` (a row of data: two) into sight."""
        self.scroll_to_region(Region(0, top, 1, 2), animate=False)
