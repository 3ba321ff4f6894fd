"""Text from data made inert: safe to put on a terminal, in a file or on the screen.

Recordings, scenario files, peers and the command line are untrusted. Text from any of
them can carry terminal escapes (``ESC ] 2 ;`` retitles the window, OSC 52 writes the
clipboard, ``CSI 2 J`` clears the screen), C1 controls that some terminals take as
escapes (U+009B is a CSI on its own), bidirectional overrides that make text read other
than it is, and lone surrogates from undecodable bytes. :func:`inert` shows every such
character as a visible escape (``\\x1b``, ``\\u202e``), so what is shown is what is there
and nothing is acted on. Every place that shows text from data - the TUI, stdout, stderr,
exports, notifications, titles - passes it through here.

Markup (``[bold]``, ``[@click=...]``) is not this module's business: the TUI never parses
data as markup (it builds Content, not markup strings); see ``sockviz.app.widgets.changed_static``.
Standard library only.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import Any, ClassVar, Protocol, TypeVar

#: How a few common controls are written; the rest are ``\\xNN``/``\\uNNNN``.
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

#: Unicode categories never shown as themselves: controls (C0, DEL, C1), format characters
#: (bidi overrides and isolates, zero-width marks), surrogates, unassigned code points, and
#: the line and paragraph separators.
_HIDDEN = {"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"}

ELLIPSIS = "…"


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_inert(text: str) -> bool:
    """Whether ``text`` has nothing :func:`inert` would change (its length aside)."""
    if text.isascii():
        return text.isprintable()
    return all(unicodedata.category(ch) not in _HIDDEN for ch in text)


def inert(text: object, limit: int | None = None) -> str:
    """``text`` (``str()`` of it) with every control, format and surrogate character shown
    as a visible escape; at most ``limit`` characters of that, ``…`` ending a cut (never in
    the middle of an escape)."""
    text = text if isinstance(text, str) else str(text)
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]  # (an escape is never shorter than what it stands for)
    if is_inert(text):
        return text[: limit - 1] + ELLIPSIS if cut and limit is not None else text
    pieces = [_escape(ch) if unicodedata.category(ch) in _HIDDEN else ch for ch in text]
    if limit is None or (not cut and sum(map(len, pieces)) <= limit):
        return "".join(pieces)
    out: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS


def inert_lines(text: str, limit: int | None = None) -> str:
    """Like :func:`inert`, but line breaks stay line breaks (an explanation's paragraphs)."""
    shown = "\n".join(inert(line) for line in text.split("\n"))
    return inert(shown, limit) if limit is not None and len(shown) > limit else shown


#: Event fields that hold paragraphs rather than one line.
_PARAGRAPHS = frozenset({"explain"})


class _Dataclass(Protocol):
    """Any dataclass instance (an event, or a dataclass one holds)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


E = TypeVar("E", bound=_Dataclass)


#: Each event type's field names, read once (the app passes every event of a flood here).
_FIELDS: dict[type, tuple[str, ...]] = {}


def inert_event(event: E) -> E:
    """The event with every text field made inert (the same object when nothing needed
    it, which is nearly always): the app applies this to each event it takes in, so nothing
    a recording, a scenario file or a peer put in one reaches the screen as an escape."""
    names = _FIELDS.get(type(event))
    if names is None:
        names = _FIELDS[type(event)] = tuple(f.name for f in dataclasses.fields(event))
    changes: dict[str, object] = {}
    for name in names:
        value = getattr(event, name)
        if isinstance(value, str):
            if not is_inert(value.replace("\n", " ") if name in _PARAGRAPHS else value):
                changes[name] = inert_lines(value) if name in _PARAGRAPHS else inert(value)
        elif hasattr(type(value), "__dataclass_fields__"):  # (a dataclass instance)
            cleaned = inert_event(value)
            if cleaned is not value:
                changes[name] = cleaned
    return dataclasses.replace(event, **changes) if changes else event
