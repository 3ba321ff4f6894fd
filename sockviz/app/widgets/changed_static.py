"""Updating a Static only when what it shows has changed.

Every ``Static.update`` costs a refresh, and by default a layout of the whole screen - tens
of milliseconds on a full sockviz screen, time the engine's threads then wait for the GIL.
Batches of events arrive up to 7 times a second and mostly change a number or two, so each
line remembers what it shows and is updated only when that changes. A line whose size is
fixed by the stylesheet (``fixed``) is updated without a layout at all.
"""

from __future__ import annotations

import weakref

from textual.content import Content
from textual.widgets import Static

_SHOWN: weakref.WeakKeyDictionary[Static, tuple[object, ...]] = weakref.WeakKeyDictionary()
"""What each line shows now (its text and styles), kept no longer than the line."""


def update_if_changed(widget: Static, content: Content, *, fixed: bool = False) -> bool:
    """Show ``content`` in ``widget`` unless it already does; True if it was updated.

    ``fixed``: the widget's size never depends on its content (``height: 1`` in the
    stylesheet), so no update of it needs a layout. (Any other change may wrap differently,
    so it gets one.)
    """
    key = (content.plain, tuple(content.spans))  # Content's == compares the text only
    if _SHOWN.get(widget) == key:
        return False
    _SHOWN[widget] = key
    widget.update(content, layout=not fixed)
    return True
