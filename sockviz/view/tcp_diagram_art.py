"""RFC 9293's state diagram laid out in a terminal's cells: where each state's name stands,
the lines of each arrow, and its words.

Laid out once, as data: a state is a place, an arrow a list of corner points and a label.
:func:`draw` turns them into rows of text in which every cell says what it belongs to (a
state, or the arrows that pass through it), so a widget can light an end's state and the
arrows it took without knowing the layout. Arrows the figure has no room for (a reset from
any state, a close() before the handshake ends) are not drawn: the path under the figure
names every move. Standard library only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sockviz.view.tcp_diagram import (
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    LISTEN,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
)

#: The second CLOSED, at the foot: where a connection ends (the one at the top is where
#: it begins).
CLOSED_END = "CLOSED "

Point = tuple[int, int]

#: Where each state's name starts: (row, column).
PLACES: dict[str, Point] = {
    CLOSED: (0, 36),
    LISTEN: (3, 8),
    SYN_SENT: (3, 58),
    SYN_RECEIVED: (6, 5),
    ESTABLISHED: (9, 31),
    FIN_WAIT_1: (13, 3),
    CLOSING: (13, 36),
    CLOSE_WAIT: (13, 57),
    FIN_WAIT_2: (17, 3),
    TIME_WAIT: (17, 35),
    LAST_ACK: (17, 59),
    CLOSED_END: (20, 36),
}


@dataclass(frozen=True, slots=True)
class ArrowArt:
    """One arrow: ``before`` to ``after``, along ``points`` (the last is its head), and its
    words at ``at``."""

    before: str
    after: str
    points: tuple[Point, ...]
    label: str
    at: Point


ART: tuple[ArrowArt, ...] = (
    ArrowArt(CLOSED, LISTEN, ((0, 34), (0, 11), (2, 11)), "listen()", (0, 15)),
    ArrowArt(CLOSED, SYN_SENT, ((0, 43), (0, 62), (2, 62)), "connect(): SYN", (0, 46)),
    ArrowArt(LISTEN, SYN_SENT, ((3, 15), (3, 56)), "SEND: snd SYN", (3, 30)),
    ArrowArt(LISTEN, SYN_RECEIVED, ((4, 11), (5, 11)), "rcv SYN, snd SYN,ACK", (4, 13)),
    ArrowArt(SYN_SENT, SYN_RECEIVED, ((4, 60), (6, 60), (6, 18)), "rcv SYN, snd SYN,ACK", (6, 29)),
    ArrowArt(SYN_SENT, ESTABLISHED, ((4, 64), (9, 64), (9, 43)), "rcv SYN,ACK, snd ACK", (8, 42)),
    ArrowArt(SYN_RECEIVED, ESTABLISHED, ((7, 11), (9, 11), (9, 29)), "rcv ACK of SYN", (8, 13)),
    ArrowArt(
        ESTABLISHED, FIN_WAIT_1, ((10, 34), (11, 34), (11, 9), (12, 9)), "close(): FIN", (10, 16)
    ),
    ArrowArt(
        ESTABLISHED,
        CLOSE_WAIT,
        ((10, 40), (11, 40), (11, 62), (12, 62)),
        "rcv FIN, snd ACK",
        (10, 42),
    ),
    ArrowArt(FIN_WAIT_1, CLOSING, ((13, 14), (13, 34)), "rcv FIN", (13, 20)),
    ArrowArt(FIN_WAIT_1, FIN_WAIT_2, ((14, 6), (16, 6)), "rcv ACK of FIN", (15, 8)),
    ArrowArt(
        FIN_WAIT_1,
        TIME_WAIT,
        ((13, 10), (14, 10), (14, 37), (16, 37)),
        "rcv FIN + ACK of FIN",
        (14, 13),
    ),
    ArrowArt(CLOSING, TIME_WAIT, ((14, 41), (16, 41)), "rcv ACK of FIN", (15, 43)),
    ArrowArt(CLOSE_WAIT, LAST_ACK, ((14, 62), (16, 62)), "close(): FIN", (15, 64)),
    ArrowArt(FIN_WAIT_2, TIME_WAIT, ((17, 14), (17, 33)), "rcv FIN", (17, 20)),
    ArrowArt(TIME_WAIT, CLOSED_END, ((18, 39), (19, 39)), "2 MSL", (18, 41)),
    ArrowArt(LAST_ACK, CLOSED_END, ((18, 62), (20, 62), (20, 43)), "rcv ACK of FIN", (19, 46)),
)

#: Owner of a cell: a state's name, or the arrows (before, after) through it.
Owner = str | frozenset[tuple[str, str]] | None

_DIRS = {(-1, 0): "n", (1, 0): "s", (0, -1): "w", (0, 1): "e"}
_LINES = {
    "ew": "─", "ns": "│", "es": "┌", "sw": "┐", "ne": "└", "nw": "┘",
    "nes": "├", "nsw": "┤", "esw": "┬", "new": "┴", "nesw": "┼",
    "e": "─", "w": "─", "n": "│", "s": "│",
}  # fmt: skip
_HEADS = {(1, 0): "▼", (-1, 0): "▲", (0, 1): "▶", (0, -1): "◀"}


def _step(a: Point, b: Point) -> Point:
    return ((b[0] > a[0]) - (b[0] < a[0]), (b[1] > a[1]) - (b[1] < a[1]))


def draw() -> list[list[tuple[str, Owner]]]:
    """The figure: rows of cells, each ``(character, owner)``."""
    dirs: dict[Point, set[str]] = {}
    owners: dict[Point, set[tuple[str, str]]] = {}
    heads: dict[Point, str] = {}
    for arrow in ART:
        key = (arrow.before, arrow.after)
        points = arrow.points
        for a, b in itertools.pairwise(points):
            dr, dc = _step(a, b)
            cell = a
            while cell != b:
                nxt = (cell[0] + dr, cell[1] + dc)
                dirs.setdefault(cell, set()).add(_DIRS[(dr, dc)])
                dirs.setdefault(nxt, set()).add(_DIRS[(-dr, -dc)])
                owners.setdefault(cell, set()).add(key)
                cell = nxt
            owners.setdefault(b, set()).add(key)
        last = _step(points[-2], points[-1]) if len(points) > 1 else (0, 1)
        heads[points[-1]] = _HEADS[last]
    width = max(
        [c + 1 for _, c in dirs]
        + [a.at[1] + len(a.label) + 1 for a in ART]
        + [c + len(s.strip()) + 1 for s, (_, c) in PLACES.items()]
    )
    height = max(r for r, _ in PLACES.values()) + 1
    grid: list[list[tuple[str, Owner]]] = [[(" ", None)] * width for _ in range(height)]
    for cell, ds in dirs.items():
        grid[cell[0]][cell[1]] = (
            _LINES["".join(sorted(ds, key="nesw".index))],
            frozenset(owners[cell]),
        )
    for cell, head in heads.items():
        grid[cell[0]][cell[1]] = (head, frozenset(owners[cell]))
    for arrow in ART:
        row, col = arrow.at
        text = f" {arrow.label} "
        for i, ch in enumerate(text):
            grid[row][col - 1 + i] = (ch, frozenset({(arrow.before, arrow.after)}))
    for state, (row, col) in PLACES.items():
        text = f" {state.strip()} "
        for i, ch in enumerate(text):
            grid[row][col - 1 + i] = (ch, state)
    return grid


def label_room(grid: list[list[tuple[str, Owner]]], arrow: ArrowArt) -> int:
    """How many cells the arrow's words may take, from where they start: its label, and
    the blank cells and the level stretch of its own line after it, up to a corner, a
    head or anything else's (a run's words for the arrow are longer than the RFC's)."""
    row, col = arrow.at
    key = frozenset({(arrow.before, arrow.after)})
    start = col - 1
    end = start
    while end < len(grid[row]):
        ch, owner = grid[row][end]
        past_label = end >= start + len(arrow.label) + 2
        if (owner is not None and owner != key) or (past_label and ch not in " ─"):
            break
        end += 1
    return end - start


def plain() -> str:
    """The figure as plain text (the docs and the tests read it)."""
    return "\n".join("".join(ch for ch, _ in row).rstrip() for row in draw())
