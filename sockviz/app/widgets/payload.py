"""The payload view: hex and ASCII of the selected message, escaped and capped."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from sockviz.engine.record.trace_format import escape_bytes
from sockviz.view.header_words import header_lines
from sockviz.view.run_view import Row

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


#: The width a row of 16 bytes takes (offset, hex, ASCII); narrower, rows of 8.
WIDE_ROW = len(hexdump(bytes(16)))


class HexBody(Widget):
    """The frame lines and hex rows, laid out for the width it is drawn at: 16 bytes a row
    when they fit, else 8. (Worked out when drawn, not when the message is chosen: its tab
    may not be laid out yet then, or a scrollbar may come and take two columns.)"""

    DEFAULT_CSS = "HexBody { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data: bytes | None = None
        self.before = ""

    def text(self, width: int) -> str:
        if self.data is None:
            return ""
        per_row = 16 if width >= WIDE_ROW else 8
        dump = hexdump(self.data, per_row=per_row)
        if not dump and self.before:  # (a segment: its header, spelled out)
            return self.before
        return self.before + (dump or "(no bytes)")

    def get_content_height(self, container, viewport, width: int) -> int:
        text = self.text(width)
        return (
            sum(max(1, -(-len(line) // max(1, width))) for line in text.split("\n")) if text else 0
        )

    def render(self) -> Content:
        return Content(self.text(self.size.width))


class PayloadView(VerticalScroll):
    """Shows one message's bytes."""

    def compose(self):
        yield Static("Select a message in the ladder to see its bytes.", id="payload-head")
        yield HexBody(id="payload-hex")

    decode_websocket = False
    """Set by the app for the websocket scenario: describe frames above the hex."""

    def show(self, entry: Row | None) -> None:
        self._entry = entry
        head = self.query_one("#payload-head", Static)
        body = self.query_one("#payload-hex", HexBody)
        if entry is not None and entry.packet is not None:
            head.update(
                Content.styled(
                    f"{entry.packet.source} → {entry.packet.target} · on the wire · {entry.label}",
                    "bold $wire",
                )
            )
            body.data, body.before = b"", "\n".join(header_lines(entry.packet))
            body.refresh(layout=True)
            return
        if entry is None or entry.data is None:
            head.update("Select a message in the ladder to see its bytes.")
            body.data, body.before = None, ""
            body.refresh(layout=True)
            return
        kept = len(entry.data)
        note = ""
        if entry.nbytes > min(kept, SHOWN):
            note = f"  (first {min(kept, SHOWN)} of {entry.nbytes} bytes shown)"
        head.update(
            Content.assemble(
                (f"{entry.socket} · {entry.call}() · {entry.nbytes} bytes", "bold"),
                (f" {entry.peer}" if entry.peer else "", "$text-quiet"),
                (note, "$text-warning"),
            )
        )
        before = ""
        if self.decode_websocket:
            from sockviz.engine.wire import ws_frames as wsframe  # only a WebSocket run needs it

            lines = wsframe.describe(entry.data)
            frame = wsframe.parse(entry.data)
            if frame is not None and not entry.data.startswith((b"GET ", b"HTTP/")):
                lines.append("payload: " + escape_bytes(frame.payload[:200]))
            if lines:
                before = "\n".join(lines) + "\n\n"
        body.data, body.before = entry.data, before
        body.refresh(layout=True)
