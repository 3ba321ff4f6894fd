"""The payload view: hex and ASCII of the selected message, escaped and capped."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from sockviz.app.widgets.ladder import LadderEntry
from sockviz.engine.trace import escape_bytes

#: How many bytes the hex view shows; the event keeps up to 4096, the totals count all.
SHOWN = 512


def hexdump(data: bytes, limit: int = SHOWN, per_row: int = 16) -> str:
    """Offset, ``per_row`` hex bytes, and their ASCII (anything unprintable as a dot)."""
    lines = []
    for offset in range(0, min(len(data), limit), per_row):
        chunk = data[offset : offset + per_row]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:04x}  {hexes:<{per_row * 3 - 1}}  {text}")
    return "\n".join(lines)


class PayloadView(VerticalScroll):
    """Shows one message's bytes."""

    def compose(self):
        yield Static("Select a message in the ladder to see its bytes.", id="payload-head")
        yield Static(id="payload-hex")

    def on_resize(self) -> None:
        self.show(getattr(self, "_entry", None))

    def _again_once_sized(self, entry: LadderEntry) -> None:
        if self.size.width and getattr(self, "_entry", None) is entry:
            self.show(entry)

    decode_websocket = False
    """Set by the app for the websocket scenario: describe frames above the hex."""

    def show(self, entry: LadderEntry | None) -> None:
        self._entry = entry
        head = self.query_one("#payload-head", Static)
        body = self.query_one("#payload-hex", Static)
        if entry is None or entry.data is None:
            head.update("Select a message in the ladder to see its bytes.")
            body.update("")
            return
        kept = len(entry.data)
        note = ""
        if entry.nbytes > min(kept, SHOWN):
            note = f"  (first {min(kept, SHOWN)} of {entry.nbytes} bytes shown)"
        head.update(
            Content.assemble(
                (f"{entry.socket} · {entry.call}() · {entry.nbytes} bytes", "bold"),
                (f" {entry.peer}" if entry.peer else "", "$foreground 60%"),
                (note, "$text-warning"),
            )
        )
        per_row = 16 if self.size.width >= 74 or not self.size.width else 8
        if not self.size.width:  # not laid out yet (its tab just shown): draw again once it is
            self.call_after_refresh(self._again_once_sized, entry)
        text = hexdump(entry.data, per_row=per_row) or "(no bytes)"
        if self.decode_websocket:
            from sockviz.engine import wsframe  # only a WebSocket run needs it

            lines = wsframe.describe(entry.data)
            frame = wsframe.parse(entry.data)
            if frame is not None and not entry.data.startswith((b"GET ", b"HTTP/")):
                lines.append("payload: " + escape_bytes(frame.payload[:200]))
            if lines:
                text = "\n".join(lines) + "\n\n" + text
        body.update(Content(text))
