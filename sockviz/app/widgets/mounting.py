"""Putting widgets back in order when a moment of the run is drawn again.

Going back keeps the widgets both moments have (they stay mounted) and makes the others;
each new one must land just before the next kept one, so the container ends up in the order
given - as if every widget had been mounted afresh, without the cost or the flicker.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widget import Widget


def mount_in_order(parent: Widget, widgets: Sequence[Widget]) -> None:
    """Mount the ones of ``widgets`` not in ``parent`` yet so that it holds them all in
    this order (the others are ``parent``'s children already, in this order; a widget
    counts as in it from its mount call, before Textual has finished mounting it)."""
    waiting: list[Widget] = []
    for widget in widgets:
        if widget.parent is not parent:
            waiting.append(widget)
        elif waiting:
            parent.mount(*waiting, before=widget)
            waiting = []
    if waiting:
        parent.mount(*waiting)
