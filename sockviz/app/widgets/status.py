"""The status line: what runs, in which mode, how far along, and where in the run you look.

Its right end is the timeline: one mark per moment of the run (a moment is "this many calls
made"). Looking back through the history, the bar shows where you are and where the live
edge is; at the live edge the next → makes a real call.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from sockviz.app.widgets.changed_static import update_if_changed

#: The timeline is left out below this many cells (a narrow terminal keeps the words).
MIN_BAR = 6


@dataclass(frozen=True)
class Position:
    """Where the screen is in the run."""

    at: int
    """The moment shown: this many calls made."""
    live: int
    """The moment at the live edge."""
    total: int
    """Calls the scenario makes in all (0: not known, an outside peer decides)."""

    @property
    def looking_back(self) -> bool:
        return self.at < self.live


def _scale(position: Position, cells: int) -> tuple[int, int]:
    """(the last moment the bar shows, how many marks it has) for at most ``cells``."""
    last = max(position.total, position.live, 1)
    return last, max(2, min(cells, last + 1))


def moment_at(position: Position, cells: int, mark: int) -> int:
    """The first moment the bar of at most ``cells`` marks shows at mark ``mark``."""
    last, cells = _scale(position, cells)
    mark = max(0, min(mark, cells - 1))
    return -(-mark * last // (cells - 1))  # (rounded up)


def timeline(position: Position, cells: int) -> Content:
    """The run as a bar of at most ``cells`` marks: ``━`` moments behind the one shown
    (``●``), ``─`` recorded moments ahead of it up to the live edge (``◆``), ``·`` calls
    not made yet."""
    last, cells = _scale(position, cells)

    def cell(moment: int) -> int:
        return moment * (cells - 1) // last

    at, live = cell(position.at), cell(position.live)
    marks = []
    for c in range(cells):
        if c == at:
            marks.append(
                ("●", "bold $text-warning" if position.looking_back else "bold $text-success")
            )
        elif c < at:
            marks.append(("━", "$text-accent"))
        elif c == live:
            marks.append(("◆", "$text-success"))
        elif c < live:
            marks.append(("─", "$text-quiet"))
        else:
            marks.append(("·", "$text-faint"))
    return Content.assemble(*marks)


class StatusBar(Static):
    """One line under the header. A click on the timeline asks for that moment."""

    class MomentChosen(Message):
        """A mark of the timeline was clicked: show this moment."""

        def __init__(self, moment: int) -> None:
            super().__init__()
            self.moment = moment

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._last: dict | None = None
        self._bar: tuple[int, Position, int] | None = None
        """Where the timeline is drawn: (first cell, position, room it was given)."""

    def show(
        self,
        *,
        mode: str,
        pace: float,
        done: int,
        total: int,
        outcome: str | None,
        replay: bool = False,
        position: Position | None = None,
        quiz: tuple[int, int] | None = None,
        held: str | None = None,
    ) -> None:
        """``held``: what → does instead of a call while the link holds a segment."""
        self._last = {
            "mode": mode,
            "pace": pace,
            "done": done,
            "total": total,
            "outcome": outcome,
            "replay": replay,
            "position": position,
            "quiz": quiz,
            "held": held,
        }
        back = position is not None and position.looking_back
        if back:
            left = ("⏪ looking back", "bold $text-warning")
            hint = " · → replays it, no call · End: live"
        elif mode == "step":
            left = ("⏸ step mode", "bold $text-warning")
            # A replay makes no call: each key shows the next one it recorded.
            hint = f" · → one {'recorded' if replay else 'real'} call · space plays"
            if held:
                hint = f" · → {held} · space plays"
        elif mode == "play":
            left = ("▶ playing", "bold $text-success")
            hint = f" · a call every {pace:.2g} s · space pauses"
        else:
            left = ("⏩ fast", "bold")
            hint = ""
        progress = f"  calls made: {done}/{total}" if total else f"  calls made: {done}"
        if back:
            pass  # the run's outcome is news from the live edge, not of this moment
        elif outcome == "done":
            progress = f"  ✓ all {total} calls made · r: again"
        elif outcome == "aborted":
            progress = "  ✗ stopped by an error · r: again"
        if quiz is not None:
            progress += f" · quiz {quiz[0]}/{quiz[1]}"
        text = Content.assemble(left, (hint, "$text-quiet"), (progress, "bold"))
        self._bar = None
        if position is not None:
            label = (
                (f" live: {position.live}", "$text-success") if back else (" live", "$text-success")
            )
            # (cells, not characters: ⏪ and ⏩ are two cells wide)
            room = (self.size.width or 100) - 2 - text.cell_length - 2 - len(label[0])
            if room >= MIN_BAR:
                self._bar = (text.cell_length + 2, position, room)
                text = Content.assemble(text, "  ", timeline(position, room), label)
        update_if_changed(self, text, fixed=True)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if self._bar is None or offset is None:
            return
        start, position, room = self._bar
        _, cells = _scale(position, room)
        if start <= offset.x < start + cells:
            self.post_message(self.MomentChosen(moment_at(position, room, offset.x - start)))

    def on_resize(self) -> None:
        if self._last is not None:
            self.show(**self._last)  # the timeline takes the room there is
