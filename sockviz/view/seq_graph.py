"""Each TCP connection's segments as a time-sequence graph needs them (Stevens', tcptrace's).

For one direction of a connection - its *data* - the graph puts sequence numbers against
time: each segment the sender sent as a bar from its first byte to its last, those that
carried bytes sent before (a retransmission) and those a two-host link lost apart; and from
the other direction, the segments that acknowledged them: the ACK line (what the receiver
had acknowledged), the receive window's edge (ACK + window: how far the sender may send)
and the SACK blocks (bytes received beyond a gap).

Everything here is a segment the run captured, with its numbers as captured (relative to
each side's first, as the trace has them). A bulk transfer's segments come summed; where
their frames were read the sum carries some of them, spread over the transfer (every
retransmission, SACK and zero window among them, up to a bound: :attr:`Flow.shown`), and
where the kernel counted them and nobody read them (a loopback transfer without
``--pcap``) there is nothing to draw: :attr:`Flow.unread` says how many.

A :class:`Graphs` is immutable and its points are a chain new points are put in front of,
so a view's copy shares them and going back in time costs nothing. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from sockviz.engine.events import UNDELIVERED, Point, Segment

#: Connections kept (the newest); a long --listen session's older ones are let go.
MAX_FLOWS = 32


class Mark(NamedTuple):
    """One segment in a connection's graph."""

    point: Point
    lost: bool
    """A two-host link lost it (or dropped it: a ``--drop`` fault): sent, never received."""
    flags: str


#: A chain of marks, newest first: (mark, the rest) or None.
Chain = tuple[Mark, "Chain"] | None


def marks(chain: Chain) -> list[Mark]:
    """A chain's marks, oldest first."""
    out = []
    while chain is not None:
        out.append(chain[0])
        chain = chain[1]
    out.reverse()
    return out


@dataclass(frozen=True, slots=True)
class Side:
    """What one end of a connection sent."""

    address: str
    name: str
    chain: Chain = None
    shown: int = 0
    """Segments in :attr:`chain`."""
    segments: int = 0
    """Segments it sent (a sum's every one, drawn or not)."""
    nbytes: int = 0
    """Bytes of payload it sent, retransmissions counted again."""
    resent: int = 0
    """Segments that carried bytes it had sent before."""
    lost: int = 0
    """Segments a link lost or dropped."""
    unread: int = 0
    """Segments of a sum whose frames nobody read: counted, not drawn."""


@dataclass(frozen=True, slots=True)
class Flow:
    """A TCP connection's two sides, the one that sent first first."""

    sides: tuple[Side, Side]
    first: int
    """The ``seq`` of its first segment."""
    ended: bool = False
    """A FIN or RST crossed: a SYN on the same addresses begins a new connection."""

    def side(self, address: str) -> int | None:
        for i, side in enumerate(self.sides):
            if side.address == address:
                return i
        return None

    def title(self, sender: int) -> str:
        """``client 10.0.0.1:41000 → conn-1 10.0.0.2:5000``: its data's way."""
        a, b = self.sides[sender], self.sides[1 - sender]
        return f"{a.name} {a.address} → {b.name} {b.address}"


@dataclass(frozen=True, slots=True)
class Graphs:
    """The run's TCP connections as their graphs show them (immutable)."""

    flows: tuple[Flow, ...] = ()
    dropped: int = 0
    """Connections let go to stay within :data:`MAX_FLOWS`."""

    def directions(self) -> list[tuple[int, int]]:
        """(flow, sending side) of every direction that carried bytes, the flows in the
        order they began - or each flow's first side where none did."""
        out = [
            (i, side)
            for i, flow in enumerate(self.flows)
            for side in (0, 1)
            if flow.sides[side].nbytes
        ]
        return out or [(i, 0) for i in range(len(self.flows))]


def on_segment(g: Graphs, seg: Segment) -> Graphs:
    """A segment (or a sum of them) the run captured, added to its connection's graph."""
    if seg.proto != "TCP" or (seg.is_sum and seg.count <= 0):
        return g
    flags = set((seg.flags or "").split(","))
    index = next(
        (
            i
            for i in range(len(g.flows) - 1, -1, -1)
            if g.flows[i].side(seg.local) is not None and g.flows[i].side(seg.remote) is not None
        ),
        None,
    )
    opening = "SYN" in flags and "ACK" not in flags
    if index is None or (opening and g.flows[index].ended):
        flow = Flow((Side(seg.local, seg.source), Side(seg.remote, seg.target)), first=seg.seq)
        flows = (*g.flows, flow)
        dropped = g.dropped + max(0, len(flows) - MAX_FLOWS)
        g = Graphs(flows[-MAX_FLOWS:], dropped)
        index = len(g.flows) - 1
    flow = g.flows[index]
    at = flow.side(seg.local)
    assert at is not None
    side, other = _sent(flow.sides[at], seg, flags), flow.sides[1 - at]
    if ":" not in seg.source:  # (the newest name: accept() made the connection's socket
        side = replace(side, name=seg.source)  # after the listener answered its SYN)
    if ":" not in seg.target:
        other = replace(other, name=seg.target)
    sides = (side, other) if at == 0 else (other, side)
    flow = replace(flow, sides=sides, ended=flow.ended or bool(flags & {"FIN", "RST"}))
    return replace(g, flows=(*g.flows[:index], flow, *g.flows[index + 1 :]))


def _sent(side: Side, seg: Segment, flags: set[str]) -> Side:
    lost = seg.link in UNDELIVERED
    if seg.is_sum:
        points = seg.points or ()
        chain, shown = side.chain, side.shown
        for point in points:
            chain, shown = (Mark(point, False, ""), chain), shown + 1
        return replace(
            side,
            chain=chain,
            shown=shown,
            segments=side.segments + seg.count,
            nbytes=side.nbytes + seg.nbytes,
            resent=side.resent + seg.retransmissions,
            lost=side.lost + (seg.lost or 0),
            unread=side.unread + (0 if points else seg.count),
        )
    if seg.seq_rel is None:
        return side
    resent = seg.retry is not None and (seg.nbytes > 0 or bool(flags & {"SYN", "FIN"}))
    point = Point(seg.t, seg.seq_rel, seg.nbytes, seg.ack_rel, seg.window, resent, seg.sack)
    return replace(
        side,
        chain=(Mark(point, lost, seg.flags or ""), side.chain),
        shown=side.shown + 1,
        segments=side.segments + 1,
        nbytes=side.nbytes + seg.nbytes,
        resent=side.resent + resent,
        lost=side.lost + lost,
    )
