"""The link strip: a two-host run's link between the lanes - its two ends, its settings and
its counters, and the segment it holds (the next → lets it cross). Hidden on loopback."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from sockviz.app.widgets.lines import update_if_changed
from sockviz.view import linkview


class LinkStrip(Static):
    """One line under the status line; see the module docstring."""

    DEFAULT_CSS = """
    LinkStrip { height: 1; padding: 0 1; display: none; background: $boost; color: $wire; }
    """

    def show(self, link: linkview.LinkView | None) -> None:
        if self.display != (link is not None):
            self.display = link is not None
        if link is None:
            return
        status = link.status
        parts = [("link ", "bold"), (f"{status.client} ⇄ {status.server}", ""),
                 (f" · {status.settings}", "")]
        counters = f"  │ {link.counters()}"
        update_if_changed(self, Content.assemble(*parts, (counters, "")), fixed=True)
