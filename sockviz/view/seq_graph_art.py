"""A time-sequence graph drawn: its lines in the run's numbers, then in braille for the
terminal (the SVG and PNG exports draw the same lines: :mod:`sockviz.view.seq_graph_svg`).

:func:`shapes` turns one direction of a :class:`~sockviz.view.seq_graph.Flow` into lines
in data coordinates (seconds of the run, relative sequence numbers), each on a *layer*
that says what it shows; :func:`braille` puts them on a grid of braille dots, two across
and four down a cell, each cell coloured by the most telling layer among its dots;
:func:`caption` says in words what the graph shows, from the same counts. Standard library
only.
"""

from __future__ import annotations

from typing import NamedTuple

from sockviz.view.seq_graph import Flow, marks

#: What a line shows, least telling first: a cell with dots of several takes the last.
LAYERS = ("window", "ack", "sack", "data", "resent", "lost")

#: Each layer in a word or two, for the legend.
LEGEND = {
    "data": "data sent",
    "resent": "sent again",
    "lost": "lost on the link",
    "ack": "ACK",
    "window": "window edge",
    "sack": "SACK",
}

#: The braille dot of each (row, column) in a cell: U+2800 plus these bits.
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


class Line(NamedTuple):
    """A line of the graph from (t0, y0) to (t1, y1): seconds of the run, bytes."""

    layer: str
    t0: float
    y0: int
    t1: float
    y1: int


class Scale(NamedTuple):
    """The graph's ranges: seconds from ``t0`` over ``span``, bytes from 0 to ``top``."""

    t0: float
    span: float
    top: int
    above: int | None = None
    """The window edge's highest, where it is far above everything else and the graph
    leaves it out above its top (None: it fits)."""

    def x(self, t: float, pixels: int) -> int:
        return round((t - self.t0) / self.span * (pixels - 1))

    def y(self, value: int, pixels: int) -> int:
        return pixels - 1 - round(value / self.top * (pixels - 1))


def shapes(flow: Flow, sender: int) -> list[Line]:
    """One direction's lines: the sender's segments (a bar from first byte to last; a SYN
    or FIN one sequence number), and the other side's ACK line, window edge and SACK
    blocks, each a step from one of its segments to the next."""
    lines = []
    for mark in marks(flow.sides[sender].chain):
        p = mark.point
        span = p.nbytes or (1 if "SYN" in mark.flags or "FIN" in mark.flags else 0)
        if not span:
            continue
        layer = "lost" if mark.lost else "resent" if p.resent else "data"
        lines.append(Line(layer, p.t, p.seq_rel, p.t, p.seq_rel + span))
    before: tuple[float, int, int] | None = None
    for mark in marks(flow.sides[1 - sender].chain):
        p = mark.point
        if p.ack_rel is None:
            continue
        edge = p.ack_rel + (p.window or 0)
        if before is not None:
            t, ack, was = before
            lines += [
                Line("ack", t, ack, p.t, ack),
                Line("ack", p.t, ack, p.t, p.ack_rel),
                Line("window", t, was, p.t, was),
                Line("window", p.t, was, p.t, edge),
            ]
        for left, right in p.sack or ():
            lines.append(Line("sack", p.t, left, p.t, right))
        before = (p.t, p.ack_rel, edge)
    if before is not None and not any(line.layer == "ack" for line in lines):
        t, ack, edge = before  # (one ACK alone: a dot each)
        lines += [Line("ack", t, ack, t, ack), Line("window", t, edge, t, edge)]
    return lines


#: The window edge is left out above the top when it is this many times higher than the
#: data and ACKs (a small transfer under a large window would be a line along the floor).
TALL_WINDOW = 3


def scale(lines: list[Line]) -> Scale:
    """Ranges that hold every line (a run whose segments all came in one instant still
    gets a millisecond across) - but a window edge far above the rest, which runs off the
    top (:attr:`Scale.above`)."""
    times = [t for line in lines for t in (line.t0, line.t1)]
    t0 = min(times, default=0.0)
    span = max(max(times, default=0.0) - t0, 0.001)
    top = max((max(line.y0, line.y1) for line in lines), default=1)
    rest = max((max(ln.y0, ln.y1) for ln in lines if ln.layer != "window"), default=0)
    if rest and top > TALL_WINDOW * rest:
        return Scale(t0, span, rest + rest // 8, above=top)
    return Scale(t0, span, max(top, 1))


def braille(
    lines: list[Line], width: int, height: int, frame: Scale | None = None
) -> list[list[tuple[str, str | None]]]:
    """The lines on ``width`` x ``height`` cells of braille: each row a list of runs of
    (text, layer), the layer None for blank cells."""
    s = frame or scale(lines)
    px, py = width * 2, height * 4
    cells: dict[tuple[int, int], list[int]] = {}
    for line in lines:
        rank = LAYERS.index(line.layer)
        x0, x1 = sorted((s.x(line.t0, px), s.x(line.t1, px)))
        y0, y1 = sorted((s.y(line.y0, py), s.y(line.y1, py)))
        for x in range(max(x0, 0), min(x1, px - 1) + 1):
            for y in range(max(y0, 0), min(y1, py - 1) + 1):
                cell = cells.setdefault((x // 2, y // 4), [0, -1])
                cell[0] |= _DOTS[y % 4][x % 2]
                cell[1] = max(cell[1], rank)
    rows = []
    for row in range(height):
        runs: list[tuple[str, str | None]] = []
        for col in range(width):
            bits, rank = cells.get((col, row), (0, -1))
            char, layer = (chr(0x2800 + bits), LAYERS[rank]) if bits else (" ", None)
            if runs and runs[-1][1] == layer:
                runs[-1] = (runs[-1][0] + char, layer)
            else:
                runs.append((char, layer))
        rows.append(runs)
    return rows


def bytes_label(value: int) -> str:
    """A sequence number on the axis: ``262,145``."""
    return f"{value:,}"


def time_label(t: float, span: float) -> str:
    """A moment of the run on the axis, in ms under ten seconds' span."""
    return f"{t * 1000:,.0f} ms" if span < 10 else f"{t:,.1f} s"


def caption(flow: Flow, sender: int) -> list[str]:
    """What the graph shows, in this run's numbers."""
    side, other = flow.sides[sender], flow.sides[1 - sender]
    parts = [f"{side.nbytes:,} bytes in {side.segments:,} segment{'s' * (side.segments != 1)}"]
    if side.resent:
        parts.append(f"{side.resent:,} sent again")
    if side.lost:
        parts.append(f"{side.lost:,} lost on the link")
    out = [f"{flow.title(sender)}: " + ", ".join(parts) + "."]
    if side.unread:
        out.append(
            f"{side.unread:,} of its segments were counted by the kernel, not read (on "
            "loopback a transfer's cross faster than they can be read; --pcap reads each): "
            "they are not drawn."
        )
    drawn = side.shown + other.shown
    total = side.segments + other.segments - side.unread - other.unread
    if drawn < total:
        out.append(
            f"Drawn: {drawn:,} of the {total:,} segments both ways, spread over the "
            "transfer (every one sent again, with SACK or a zero window among them)."
        )
    sacks = sum(1 for m in marks(other.chain) if m.point.sack)
    if sacks:
        out.append(
            f"{other.name} sent {sacks:,} segment{'s' if sacks > 1 else ''} with SACK blocks."
        )
    return out
