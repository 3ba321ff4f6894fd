"""The status line: what runs, in which mode, how far along, and what comes next."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from sockviz.app.widgets.lines import update_if_changed


class StatusBar(Static):
    """One line under the header."""

    def show(self, *, mode: str, pace: float, done: int, total: int,
             outcome: str | None, replay: bool = False) -> None:
        if mode == "step":
            left = ("⏸ step mode", "bold $text-warning")
            # A replay makes no call: each key shows the next one it recorded.
            hint = f" · → one {'recorded' if replay else 'real'} call · space plays"
        elif mode == "play":
            left = ("▶ playing", "bold $text-success")
            hint = f" · a call every {pace:.2g} s · space pauses"
        else:
            left = ("⏩ fast", "bold")
            hint = ""
        progress = f"  calls made: {done}/{total}" if total else f"  calls made: {done}"
        if outcome == "done":
            progress = f"  ✓ all {total} calls made · r: again"
        elif outcome == "aborted":
            progress = "  ✗ stopped by an error · r: again"
        update_if_changed(self, Content.assemble(left, (hint, "$foreground 70%"),
                                                 (progress, "bold")), fixed=True)
