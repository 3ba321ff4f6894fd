"""The ladder of a run as a diagram to keep: Mermaid ``sequenceDiagram`` or plain text.

Both are made from trace events (``--trace``'s, a recording's, or the app's own) folded
into a :class:`~sockviz.view.run_view.RunView`, so a diagram says each call in the very words
of the TUI's ladder (:mod:`sockviz.view.words`): calls with no peer as notes on their
socket, data and handshakes as arrows to the socket that got them (found by address), and
kernel TCP states as notes. Peer bytes are previews, escaped as the trace escapes them,
shortened, and everything is made inert (no control character reaches a terminal).
"""

from __future__ import annotations

from collections.abc import Iterable

from sockviz.engine.events import UNDELIVERED, CallEvent, Event, KernelEvent, Segment
from sockviz.engine.record.inert_text import inert
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.states import Call
from sockviz.view import linkview, words
from sockviz.view.fold import apply
from sockviz.view.run_view import RunView, lane_of
from sockviz.view.seq_graph_svg import to_graph_svg

#: Characters of a data preview shown on an arrow.
PREVIEW = 24

#: The width of the plain-text ladder.
WIDTH = 78

_FAMILY = {"AF_INET": "ipv4", "AF_INET6": "ipv6", "AF_UNIX": "unix"}


class _Ladder:
    """Who is who (sockets in order of appearance, each on a side) and the rows, in order:
    (lifeline, the lifeline an arrow goes to or None, words, it is a segment on the
    wire: True, or ``"lost"`` for one lost on a two-host run's link)."""

    def __init__(self, events: list[Event], scenario: Scenario | None) -> None:
        self.order: list[str] = []
        self.side: dict[str, str] = {}
        self.rows: list[tuple[str, str | None, str, bool | str]] = []
        view = RunView(scenario or Scenario("run", "", sockets=(), steps=()))
        self._expectations(view, events)
        kernel: dict[str, str] = {}  # socket: its kernel state as last seen
        for event in events:
            if isinstance(event, (CallEvent, KernelEvent)):
                lane = lane_of(scenario, event.socket, event.role)
                self._meet(event.socket, "left" if lane == "client" else "right")
            if isinstance(event, Segment):  # the wire, as it crossed: an arrow each
                self._meet(
                    event.source,
                    self._across(event.target)
                    if ":" in event.source
                    else ("left" if self.side.get(event.source) != "right" else "right"),
                )
                self._meet(event.target, self._across(event.source))
                lost = event.link in UNDELIVERED
                self.rows.append(
                    (
                        event.source,
                        event.target,
                        words.segment_label(event) if event.link is None else linkview.label(event),
                        "lost" if lost else True,
                    )
                )
                continue
            first = view.row_count
            apply(view, event, 0.0)
            if isinstance(event, KernelEvent):
                self.rows.append((event.socket, None, words.kernel_note(event), False))
                kernel[event.socket] = event.kernel
                continue
            for row in view.rows.window(view.row_count, view.row_count - first):
                text = row.label
                if row.data:
                    text += " " + words.preview(row.data, PREVIEW + 2)
                if (
                    isinstance(event, CallEvent)
                    and event.kernel
                    and event.error is None
                    and event.call is not Call.SOCKET  # (a new socket is CLOSE: nothing yet)
                    and row.to != event.socket
                    and kernel.get(event.socket) != event.kernel
                ):
                    text += f" · {event.kernel}"  # what the call did in the kernel
                self._meet(row.over, self._across(row.to) if row.to else "right")
                if row.to is not None:
                    self._meet(row.to, self._across(row.over))
                self.rows.append((row.over, row.to if row.arrow else None, inert(text), False))
            if isinstance(event, CallEvent) and event.kernel:
                kernel[event.socket] = event.kernel

    @staticmethod
    def _expectations(view: RunView, events: list[Event]) -> None:
        """What each step means to fail with, from the scenario (a trace has no step
        announcements): so a planned error reads as the lesson, as on screen."""
        family = next(
            (_FAMILY.get(e.family) for e in events if isinstance(e, CallEvent | KernelEvent)), None
        )
        if family is None or not view.scenario.steps:
            return
        for index, step in enumerate(view.scenario.steps_for(family)):
            view.notes[index] = (step.explain, step.expect_error)

    def _across(self, name: str | None) -> str:
        return "right" if self.side.get(name or "") == "left" else "left"

    def _meet(self, name: str, side: str) -> None:
        if name not in self.side:
            self.order.append(name)
            self.side[name] = side


#: What Mermaid would read as syntax, as its entity codes (``%%{init: ...}%%`` is a
#: directive wherever it appears, so ``%`` too).
_MERMAID_CODES = {"#": "#35;", ";": "#59;", "%": "#37;", "<": "#lt;", ">": "#gt;"}


def _mermaid_text(text: str) -> str:
    """Words safe on a Mermaid line (and on a terminal: no control character passes)."""
    return "".join(_MERMAID_CODES.get(ch, ch) for ch in inert(text))


def to_mermaid(
    events: Iterable[Event], title: str | None = None, scenario: Scenario | None = None
) -> str:
    """A Mermaid ``sequenceDiagram`` of the run (paste it in a ```` ```mermaid ```` block)."""
    ladder = _Ladder(list(events), scenario)
    left = [n for n in ladder.order if ladder.side[n] == "left"]
    right = [n for n in ladder.order if ladder.side[n] == "right"]
    ids = {name: f"P{i + 1}" for i, name in enumerate(left + right)}
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_mermaid_text(title)}")
    lines += [f"    participant {ids[name]} as {_mermaid_text(name)}" for name in left + right]
    for socket, peer, text, wire in ladder.rows:
        if peer is not None and peer in ids:  # (a segment on the wire: a dotted arrow)
            arrow = "--x" if wire == "lost" else "-->>" if wire else "->>"
            lines.append(f"    {ids[socket]}{arrow}{ids[peer]}: {_mermaid_text(text)}")
        else:
            lines.append(f"    Note over {ids[socket]}: {_mermaid_text(text)}")
    return "\n".join(lines) + "\n"


def to_text(
    events: Iterable[Event], title: str | None = None, scenario: Scenario | None = None
) -> str:
    """The ladder as plain text: client sockets' calls on the left, the server's on the
    right, data as arrows between them."""
    ladder = _Ladder(list(events), scenario)
    half = WIDTH // 2
    lines = [inert(title)] if title else []
    lines.append("client".ljust(half) + "server".rjust(WIDTH - half))
    lines.append("─" * WIDTH)
    for socket, peer, text, wire in ladder.rows:
        side = ladder.side.get(socket, "left")
        if peer is not None:
            label = f" {socket}: {text} "
            short = WIDTH // 4 if wire == "lost" else 0  # (lost: it never got there)
            room = WIDTH - 2 - short
            label = label if len(label) <= room - 4 else label[: room - 5] + "… "
            dashes = room - len(label)
            line = "┄" if wire else "─"  # (a segment on the wire: a thin arrow)
            body = line * (dashes // 2) + label + line * (dashes - dashes // 2)
            head = ("✗", "✗") if short else ("◀", "▶")
            lines.append(
                " " * short + head[0] + body + "─" if side == "right" else "─" + body + head[1]
            )
        else:
            line = f"{socket}: {text}" if not text.startswith(f"{socket} =") else text
            line = line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"
            lines.append(line if side == "left" else line.rjust(WIDTH))
    return "\n".join(inert(line) for line in lines) + "\n"


#: What ``--export`` takes, and the suffix a file of it gets.
FORMATS = {
    "mermaid": (to_mermaid, ".mmd"),
    "text": (to_text, ".txt"),
    "graph": (to_graph_svg, ".graph.svg"),
}
