"""What folding some events changed (:class:`Changes`), for a screen to redraw just that.

Its own module because the fold's parts (:mod:`sockviz.view.fold`,
:mod:`sockviz.view.ladder_rows`) and the app all speak it. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sockviz.engine.events import Event
from sockviz.view.run_view import Row


@dataclass
class Changes:
    """What folding some events changed, for a screen to redraw just that."""

    added: list[str] = field(default_factory=list)
    """Cards made, in order."""
    removed: list[str] = field(default_factory=list)
    """Cards let go (the oldest closed ones, past the cap)."""
    changed: set[str] = field(default_factory=set)
    """Cards whose socket changed in any way."""
    moved: set[str] = field(default_factory=set)
    """Cards whose socket moved into another lifecycle state."""
    scroll: dict[str, str] = field(default_factory=dict)
    """Each lane's socket that did something last: lane -> name."""
    rows: int = 0
    """Ladder rows added."""
    delivered: list[Row] = field(default_factory=list)
    """Rows whose bytes the peer has now read."""
    lines: list[Event] = field(default_factory=list)
    """Log lines added (the events they say: :func:`sockviz.view.words.log_text`)."""
    panels: bool = False
    """The call just made, the pending one, the outcome or a check changed."""
