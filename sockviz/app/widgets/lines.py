"""Updating a Static only when what it shows has changed.

Every ``Static.update`` costs a refresh, and by default a layout of the whole screen - tens
of milliseconds on a full sockviz screen, time the engine's threads then wait for the GIL.
Events arrive up to 30 times a second and mostly change a number or two, so each line
remembers what it shows and is updated only when that changes; a same-length change
(a counter ticking) skips the layout, since its size cannot have changed.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


def update_if_changed(widget: Static, content: Content, *, fixed: bool = False) -> bool:
    """Show ``content`` in ``widget`` unless it already does; True if it was updated.

    ``fixed``: the widget's size never depends on its content (``height: 1`` in the
    stylesheet), so no update of it needs a layout.
    """
    key = (content.plain, tuple(content.spans))  # Content's == compares the text only
    shown = getattr(widget, "_sockviz_shown", None)
    if shown == key:
        return False
    same_size = shown is not None and shown[0].count("\n") == key[0].count("\n") and (
        len(shown[0]) == len(key[0]))
    widget._sockviz_shown = key
    widget.update(content, layout=not (fixed or same_size))
    return True
