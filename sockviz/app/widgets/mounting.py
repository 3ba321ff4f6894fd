"""Putting widgets back in order when a moment of the run is drawn again.

Going back keeps the widgets both moments have (they stay mounted) and makes the others;
each new one must land just before the next kept one, so the container ends up in the order
given - as if every widget had been mounted afresh, without the cost or the flicker.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widget import Widget


def mount_in_order(parent: Widget, widgets: Sequence[Widget]) -> None:
    """Mount the ones of ``widgets`` not mounted yet so that ``parent`` holds them all in
    this order (the mounted ones are ``parent``'s children already, in this order)."""
    waiting: list[Widget] = []
    for widget in widgets:
        if not widget.is_mounted:
            waiting.append(widget)
        elif waiting:
            parent.mount(*waiting, before=widget)
            waiting = []
    if waiting:
        parent.mount(*waiting)
