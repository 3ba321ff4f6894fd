"""The footer of keys, each shown whole or not at all.

Textual's footer lays its keys out in a row that runs off the right edge of a narrow
terminal: at 80 columns the run screen's ended at ``i Message +`` - a key with no word, and
the keys after it gone without a sign. This footer keeps the keys in the order the screen
gives them and leaves out, from the end, those that do not fit whole - never the help key,
which lists every key.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # (its keys: the footer has no public name)

#: The action whose key is always shown: it lists the others.
HELP_ACTION = "app.help"


def key_width(key: FooterKey) -> int:
    """The cells a compact footer gives a key: the key, a space, its word, and the margin
    after it."""
    words = f" {key.description}" if key.description else ""
    return cell_len(key.key_display) + cell_len(words) + 1


def fitting(keys: list[FooterKey], width: int) -> list[FooterKey]:
    """The keys that fit whole in ``width`` cells, in their order: the help key first
    taken into account, then the others as long as each fits in what is left."""
    budget = width + 1  # (the last key's margin may fall past the edge)
    budget -= sum(key_width(key) for key in keys if key.action == HELP_ACTION)
    kept = []
    for key in keys:
        if key.action == HELP_ACTION:
            kept.append(key)
        elif key_width(key) <= budget:
            kept.append(key)
            budget -= key_width(key)
    return kept


class KeysFooter(Footer):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._laid_width = 0
        """The width the keys were chosen for."""

    def compose(self) -> ComposeResult:
        widgets: list[Widget] = list(super().compose())
        width = self.size.width
        self._laid_width = width
        if not width:  # (not laid out yet: every key, until the first resize)
            yield from widgets
            return
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        # (the command palette's key is docked at the right, after a border and a space)
        palette = [key for key in keys if key.has_class("-command-palette")]
        docked = sum(key_width(key) + 2 for key in palette)
        kept = set(fitting([key for key in keys if key not in palette], width - docked))
        kept.update(palette)
        yield from (w for w in widgets if not isinstance(w, FooterKey) or w in kept)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._laid_width:
            self.call_after_refresh(self.recompose)
