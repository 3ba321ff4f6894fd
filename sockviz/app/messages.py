"""Messages from the engine's threads to the UI: the only way they meet."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from sockviz.engine.events import Event


@dataclass
class EngineEvents(Message):
    """A batch of engine events, in order (at most
    :data:`~sockviz.app.session.UI_BATCH_RATE` batches a second: 7)."""

    events: list[Event]
    """The events, oldest first."""
    generation: int
    """Which run they belong to: batches from a run that was restarted are dropped."""
