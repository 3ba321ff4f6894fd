"""The link strip: a two-host run's link between the lanes - its two ends, its settings and
its counters, and the segment it holds (the next → lets it cross). Hidden on loopback.

When segments are held (``--hold``) it says up front, on a second line, that a held segment
is really late and the kernels' timers keep running, with this kernel's SYN retry times
(:func:`~sockviz.view.hold_words.hold_words`): a class that holds a SYN past a second sees
the retry coming, as the lesson it is."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from sockviz.app.widgets.changed_static import update_if_changed
from sockviz.view import linkview
from sockviz.view.hold_words import hold_words


class LinkStrip(Static):
    """One line under the status line; see the module docstring."""

    DEFAULT_CSS = """
    LinkStrip {
        height: auto; max-height: 2; padding: 0 1; display: none;
        background: $boost; color: $wire;
    }
    """

    def show(self, link: linkview.LinkView | None) -> None:
        if self.display != (link is not None):
            self.display = link is not None
        if link is None:
            return
        self._link = link
        status = link.status
        room = (self.size.width or self.app.size.width) - 2
        ends = f"{status.client} ⇄ {status.server} · "
        for where, counters in (
            (ends, link.counters()),
            ("", link.counters()),
            ("", linkview.short_counters(link)),
        ):
            text = f"{where}{status.settings}  │ {counters}"
            if len(text) + 5 <= room:
                break
        content = Content.assemble(("link ", "bold"), (text, ""))
        held = hold_words(link, room)
        if held is not None:
            content = Content.assemble(content, "\n", (held, "bold"))
        lines = 1 + (held is not None)  # (a layout only when its height changes)
        update_if_changed(self, content, fixed=lines == getattr(self, "_lines", lines))
        self._lines = lines

    def on_resize(self) -> None:
        link = getattr(self, "_link", None)
        if link is not None:
            self.show(link)
