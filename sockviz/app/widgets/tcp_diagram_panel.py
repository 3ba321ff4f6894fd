"""The TCP state diagram (``d``): RFC 9293's states and arrows, one connection's two ends
lit where the run has them, and the path each took, every arrow named by the segment or
call that moved it.

It shows what :mod:`sockviz.view.tcp_diagram` folded into the view on screen, so it steps
and goes back with everything else; it keeps only which connection it shows. The figure's
layout is :mod:`sockviz.view.tcp_diagram_art`'s.
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from sockviz.view.run_view import RunView
from sockviz.view.tcp_diagram import CLOSED, Connection, Diagrams, End, kernel_state
from sockviz.view.tcp_diagram_art import ART, CLOSED_END, PLACES, draw, label_room

Arrows = frozenset[tuple[str, str]]
#: Each end's colour: the one that opened the connection, and the other; and what both took.
END_COLOURS = ("$text-accent", "$text-primary")
BOTH = "bold $text"
_FIGURE = draw()
#: Where each arrow's words go: (before, after) -> (row, first column, cells it may take).
_WORDS = {(a.before, a.after): (a.at[0], a.at[1] - 1, label_room(_FIGURE, a)) for a in ART}


def _run_words(ends: tuple[End, ...]) -> dict[tuple[int, int], tuple[str, Arrows]]:
    """The cells of each arrow an end took, spelling what moved it in this run (``close():
    FIN,ACK``, ``rcv ACK``) in place of the RFC's words, cut to the room the figure has
    (the path under it says it whole, with its time); each cell the arrow's own."""
    cells: dict[tuple[int, int], tuple[str, Arrows]] = {}
    for end in reversed(ends):  # (an arrow both took: the opener's words)
        for move in end.moves:
            after = CLOSED_END if move.after == CLOSED else move.after
            spot = _WORDS.get((move.before, after))
            if spot is None:
                continue
            row, col, room = spot
            text = f" {move.short} "
            if len(text) > room:
                text = text[: room - 2] + "… "
            # (what is left of the RFC's words: its line again where they stood on one)
            label = len(next(a.label for a in ART if (a.before, a.after) == (move.before, after)))
            beyond = (
                _FIGURE[row][col + label + 2][0] if col + label + 2 < len(_FIGURE[row]) else " "
            )
            text = text.ljust(label + 2, "─" if beyond == "─" else " ")
            owner = frozenset({(move.before, after)})
            for i, ch in enumerate(text):
                cells[(row, col + i)] = (ch, owner)
    return cells


def _place(end: End) -> str:
    """Where the end's state stands in the figure (a connection ends at the foot)."""
    return CLOSED_END if end.state == CLOSED and end.moves else end.state


def figure(connection: Connection | None) -> Content:
    """The figure, with each end's state lit (reversed, in its colour; a state both ends
    are in is split between the two), its earlier states and its arrows in its colour."""
    ends = connection.ends if connection is not None else ()
    here = [_place(e) for e in ends]
    visited = [{m.before for m in e.moves} | {m.after for m in e.moves} for e in ends]
    for seen, end in zip(visited, ends, strict=False):
        if end.moves and end.moves[0].before == CLOSED:
            seen.add(CLOSED)
        if any(m.after == CLOSED for m in end.moves):
            seen.add(CLOSED_END)
    taken = [
        {(m.before, CLOSED_END if m.after == CLOSED else m.after) for m in e.moves} for e in ends
    ]
    words = _run_words(ends)
    rows = []
    for r, row in enumerate(_FIGURE):
        parts: list[tuple[str, str]] = []
        for col, cell in enumerate(row):
            ch, owner = words.get((r, col), cell)
            style = "$text-quiet"
            if isinstance(owner, str):
                style = _state_style(owner, col, here, visited)
            elif isinstance(owner, frozenset):
                took = [i for i, arrows in enumerate(taken) if owner & arrows]
                if len(took) == 2:
                    style = BOTH
                elif took:
                    style = f"bold {END_COLOURS[took[0]]}"
            parts.append((ch, style))
        rows.append(Content.assemble(*parts).rstrip())
    return Content("\n").join(rows)


def _state_style(state: str, col: int, here: list[str], visited: list[set[str]]) -> str:
    at = [i for i, place in enumerate(here) if place == state]
    if len(at) == 2:  # (both ends: the name's first half in one's colour, the rest the other's)
        start = PLACES[state][1] - 1
        half = (len(state.strip()) + 2) // 2
        return f"bold reverse {END_COLOURS[0 if col - start < half else 1]}"
    if at:
        return f"bold reverse {END_COLOURS[at[0]]}"
    been = [i for i, seen in enumerate(visited) if state in seen]
    if len(been) == 2:
        return BOTH
    return f"bold {END_COLOURS[been[0]]}" if been else "$text-quiet"


def _name(end: End) -> str:
    return end.name if end.name and ":" not in end.name else "no socket of this run"


def paths(connection: Connection, wired: bool) -> Content:
    """Each end's moves in words, with the kernel's own reading where it differs."""
    out: list[Content] = []
    for i, end in enumerate(connection.ends):
        now = Content.assemble(
            (f"■ {_name(end)} {end.address}", f"bold {END_COLOURS[i]}"),
            f"  now {end.state}",
        )
        read = kernel_state(end)
        if read is not None and read != end.state:
            now += Content.styled(f" · the kernel's last reading: {end.kernel}", "$text-warning")
        elif end.kernel is not None:
            now += Content.styled(f" · kernel: {end.kernel}", "$text-quiet")
        out.append(now)
        for move in end.moves:
            out.append(
                Content.assemble(
                    f"   {move.before} → {move.after}  ",
                    (move.why, "$text-quiet" if move.kernel else ""),
                    (f"  t={move.t:.3f}s", "$text-quiet"),
                )
            )
    if not wired:
        out.append(
            Content.styled(
                "No segment of this run was watched: each state is the kernel's reading after "
                "a call, and the segments that moved it are not known.",
                "$text-warning",
            )
        )
    return Content("\n").join(out)


def words(diagrams: Diagrams, choice: int) -> tuple[Content, Connection | None]:
    """The header above the figure, and the connection chosen (None: none yet)."""
    if not diagrams.connections:
        return (
            Content.styled(
                "No TCP connection yet: the diagram lights each end's state from the "
                "connection's first SYN (UDP and Unix sockets have no TCP states).",
                "$text-quiet",
            ),
            None,
        )
    index = choice % len(diagrams.connections)
    connection = diagrams.connections[index]
    total = len(diagrams.connections)
    more = f" (and {diagrams.dropped} earlier, let go)" if diagrams.dropped else ""
    opener, other = connection.ends
    head = Content.assemble(
        (f"TCP connection {index + 1} of {total}{more}: ", "bold"),
        connection.title(),
        ("   d: the next connection" if index + 1 < total else "   d: close", "$text-quiet"),
        "\n",
        (f"■ {_name(opener)}", f"bold {END_COLOURS[0]}"),
        "  ",
        (f"■ {_name(other)}", f"bold {END_COLOURS[1]}"),
        "  ",
        ("■ both", BOTH),
        ("   lit: where each end is now; an arrow taken: this run's event", "$text-quiet"),
    )
    return head, connection


class StateDiagram(VerticalScroll):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.choice = 0
        """Which of the run's connections it shows (the only thing it keeps)."""

    def compose(self):
        yield Static(id="diagram-head")
        yield Static(id="diagram-figure")
        yield Static(id="diagram-paths")

    def show(self, view: RunView) -> None:
        diagrams = view.diagrams
        head, connection = words(diagrams, self.choice)
        self.query_one("#diagram-head", Static).update(head)
        self.query_one("#diagram-figure", Static).update(figure(connection))
        body = paths(connection, diagrams.wired) if connection is not None else Content("")
        self.query_one("#diagram-paths", Static).update(body)
        if connection is not None:
            self.call_after_refresh(self._follow, connection)

    def _follow(self, connection: Connection) -> None:
        """Keep the state the newest move lit in sight (the figure is taller than a small
        terminal's stage)."""
        moved = [e for e in connection.ends if e.moves]
        if not moved or not self.is_attached:
            return
        newest = max(moved, key=lambda e: e.moves[-1].seq)
        row = PLACES[_place(newest)][0] + 3  # (the header, two rows, and its margin)
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        if not top <= row < top + height - 1:
            self.scroll_to(y=max(0, row - height // 2), animate=False, immediate=True)

    def advance(self, view: RunView) -> bool:
        """Show the next connection; False once past the last (the diagram closes)."""
        count = len(view.diagrams.connections)
        if self.choice + 1 >= max(1, count):
            self.choice = 0
            return False
        self.choice += 1
        self.show(view)
        return True
