"""The ladder (sequence) diagram: the client's lifeline on the left, the server's on the right.

Calls that send something across are arrows; calls that stay on one side (``bind``,
``listen``, ``accept``, ``recv``) are notes against their side's lifeline. A send is drawn
dashed while its bytes sit in the peer's receive buffer, and solid once a ``recv`` on the
other side has taken them: the bytes really wait in the kernel until the program reads.

The ladder keeps the newest :data:`MAX_ROWS` rows (a peer can make calls faster than anyone
can read them; the log and the cards' totals still count everything). Rows added while a
batch of events is applied are mounted together by :meth:`Ladder.flush`.

Rows that carry bytes can be selected (click, or ↑/↓ when the ladder has focus); the
payload view shows the selected one. Peer bytes arrive here already escaped.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from sockviz.app.widgets.mounting import mount_in_order
from sockviz.engine.trace import escape_bytes

#: Rows kept on the ladder; older ones scroll away for good.
MAX_ROWS = 300


@dataclass
class LadderEntry:
    """One row of the ladder."""

    index: int
    side: str
    """``left`` (the client's side) or ``right`` (the server's)."""
    label: str
    arrow: bool = False
    """True: drawn from ``side`` to the other side. False: a note on ``side``."""
    data: bytes | None = None
    nbytes: int = 0
    delivered: bool = True
    error: bool = False
    socket: str = ""
    call: str = ""
    peer: str = ""


def preview(data: bytes, width: int) -> str:
    """A short escaped preview in quotes, cut to ``width`` with an ellipsis."""
    text = escape_bytes(data)
    if len(text) + 2 > width:
        text = text[: max(0, width - 3)] + "…"
    return f'"{text}"'


class LadderRow(Widget):
    """One entry, drawn to the width it is given."""

    DEFAULT_CSS = "LadderRow { height: auto; }"

    class Selected(Message):
        def __init__(self, row: LadderRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, entry: LadderEntry) -> None:
        super().__init__(classes="ladder-row")
        self.entry = entry
        self.set_class(entry.data is not None, "-data")
        self.set_class(entry.error, "-error")

    def get_content_height(self, container, viewport, width: int) -> int:
        return 2 if self.entry.data is not None else 1

    def render(self) -> Content:
        width = max(12, self.size.width)
        inner = width - 2
        e = self.entry
        line = "╌" if not e.delivered else "─"
        style = "$text-error" if e.error else ("$accent" if e.arrow else "$foreground")
        if e.arrow:
            label = f" {e.label} "
            body = inner - 1
            label = label[:body]
            left = (body - len(label)) // 2
            right = body - len(label) - left
            if e.side == "left":
                middle = Content.assemble((line * left, style), (label, "bold"),
                                          (line * right + "▶", style))
            else:
                middle = Content.assemble(("◀" + line * left, style), (label, "bold"),
                                          (line * right, style))
        else:
            text = e.label[: inner - 2]
            pad = inner - len(text) - 2
            if e.side == "left":
                middle = Content.assemble(" ", (text, style), " " * (pad + 1))
            else:
                middle = Content.assemble(" " * (pad + 1), (text, style), " ")
        rows = [Content.assemble(("│", "$state-future"), middle, ("│", "$state-future"))]
        if e.data is not None:
            shown = preview(e.data, inner - 2)
            pad = inner - len(shown)
            left_pad = pad // 2
            rows.append(
                Content.assemble(
                    ("│", "$state-future"),
                    " " * left_pad,
                    (shown, "italic"),
                    " " * (pad - left_pad),
                    ("│", "$state-future"),
                )
            )
        return Content("\n").join(rows)

    def on_click(self) -> None:
        if self.entry.data is not None:
            self.post_message(self.Selected(self))


def _key(entry: LadderEntry) -> tuple:
    """What makes two drawings of a run's row the same row."""
    return entry.index, entry.side, entry.label, entry.socket


class Ladder(VerticalScroll, can_focus=True):
    """The sequence diagram. The app adds entries; the ladder keeps its own selection."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("up", "select(-1)", "Previous message", show=False),
        Binding("down", "select(1)", "Next message", show=False),
    ]

    class MessageChosen(Message):
        """A row with bytes was selected (by the user, or by following the newest)."""

        def __init__(self, entry: LadderEntry, by_user: bool) -> None:
            super().__init__()
            self.entry = entry
            self.by_user = by_user

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: list[LadderEntry] = []
        """The rows kept (the newest :data:`MAX_ROWS`), drawn or about to be."""
        self.rows: list[LadderRow] = []
        """The drawn rows, oldest first."""
        self.selected: LadderRow | None = None
        self.follow = True
        """Select each new message as it comes, until the user picks one."""
        self.count = 0
        """Entries ever added (the next entry's index)."""
        self._new: collections.deque[LadderEntry] = collections.deque()
        self._newest_data: LadderEntry | None = None
        self._reusable: dict[tuple, LadderRow] | None = None

    def compose(self):
        yield Static(Content.assemble(("client", "bold"), ""), id="ladder-head")

    def on_resize(self) -> None:
        head = self.query_one("#ladder-head", Static)
        width = max(12, self.size.width - 1)
        gap = max(1, width - len("client") - len("server"))
        head.update(Content.assemble(("client", "bold"), " " * gap, ("server", "bold")))

    def clear(self, redraw: bool = False) -> None:
        """Forget every row. ``redraw``: the same run is about to be drawn again (another
        moment of it) - rows that come back are kept on screen, not made anew."""
        if redraw:
            self._reusable = {_key(row.entry): row for row in self.rows}
        else:
            for row in self.rows:
                if row.is_mounted:
                    row.remove()
        self.entries.clear()
        self.rows.clear()
        self._new.clear()
        self._newest_data = None
        self.selected = None
        self.follow = True
        self.count = 0

    def add(self, entry: LadderEntry) -> None:
        """Add a row; it is drawn at the next :meth:`flush` (if it is still kept then: a
        flood's rows that scroll away before they are drawn cost no widget)."""
        self.count += 1
        self.entries.append(entry)
        self._new.append(entry)
        if entry.data is not None and self.follow:
            self._newest_data = entry
        while len(self.entries) > MAX_ROWS:
            old = self.entries.pop(0)
            if self.rows and self.rows[0].entry is old:
                row = self.rows.pop(0)
                row.remove()
                if row is self.selected:
                    self.selected = None
            elif self._new and self._new[0] is old:
                self._new.popleft()
            if self._newest_data is old:
                self._newest_data = None

    def flush(self) -> None:
        """Draw the rows added since the last flush, newest in view."""
        if self._reusable is not None:
            self._redraw()
        new = [LadderRow(entry) for entry in self._new]
        self._new.clear()
        if new:
            self.rows.extend(new)
            self.mount(*new)
            self.scroll_end(animate=False)
        newest, self._newest_data = self._newest_data, None
        if newest is not None:
            row = next((r for r in reversed(self.rows) if r.entry is newest), None)
            if row is not None:
                self._select(row, by_user=False)

    def _redraw(self) -> None:
        """After ``clear(redraw=True)``: keep the rows that are drawn already (updated to
        their entry now), make the others, and put each in its place."""
        reusable, self._reusable = self._reusable, None
        rows: list[LadderRow] = []
        for entry in self._new:
            row = reusable.pop(_key(entry), None)
            if row is None:
                row = LadderRow(entry)
            else:
                row.entry = entry
                row.set_class(entry.error, "-error")
                row.remove_class("-selected")
                row.refresh()
            rows.append(row)
        self._new.clear()
        for row in reusable.values():
            row.remove()
        mount_in_order(self, rows)
        self.rows = rows
        self.scroll_end(animate=False)

    def refresh_entry(self, entry: LadderEntry) -> None:
        for row in self.rows:
            if row.entry is entry:
                row.set_class(entry.error, "-error")
                row.refresh()

    def _select(self, row: LadderRow, by_user: bool) -> None:
        if self.selected is not None:
            self.selected.remove_class("-selected")
        self.selected = row
        row.add_class("-selected")
        if by_user:
            self.follow = row is self._data_rows()[-1]
        self.post_message(self.MessageChosen(row.entry, by_user))

    def _data_rows(self) -> list[LadderRow]:
        return [r for r in self.rows if r.entry.data is not None]

    def on_ladder_row_selected(self, message: LadderRow.Selected) -> None:
        message.stop()
        self._select(message.row, by_user=True)

    def action_select(self, delta: int) -> None:
        rows = self._data_rows()
        if not rows:
            return
        if self.selected in rows:
            i = max(0, min(len(rows) - 1, rows.index(self.selected) + delta))
        else:
            i = len(rows) - 1
        self._select(rows[i], by_user=True)
        self.scroll_to_widget(rows[i], animate=False)
