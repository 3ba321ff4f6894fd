"""A segment's part in TCP flow control, told from the segments the run captured before it.

A receiver offers a window in every segment it sends: how many more bytes it has room for.
Three things a lesson names are read off the segments, never assumed:

* **window 0** - the segment offers no room at all: its sender's receive buffer is full;
* **a zero-window probe** - a segment that carries no new byte (nothing, one below what the
  peer acknowledged, as Linux sends it; or one byte at it) while the peer's last offer was
  a window of 0: it makes the peer's kernel answer with its window;
* **a window update** - a segment that offers room again after its sender's last offer was 0;
* **a keepalive** - the same shape as Linux's probe (no payload, one below what the peer
  acknowledged) while the peer's window is open: nothing waits to be sent; the sender's
  kernel asks whether the peer is still there (``SO_KEEPALIVE``).

The fold keeps, for each direction, the last acknowledgement and window its segments
carried (:data:`Offers`), and a note for each segment that is one of these. Standard
library only.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from sockviz.engine.events import UNDELIVERED, Segment

#: For each direction (sender's address, receiver's): the last (ack_rel, window) it sent.
Offers = MutableMapping[tuple[str, str], tuple[int | None, int]]

ZERO, PROBE, UPDATE = "window 0", "window probe", "window update"
KEEPALIVE = "keepalive"
_MOD = 1 << 32


def note(segment: Segment, offers: Mapping[tuple[str, str], tuple[int | None, int]]) -> str | None:
    """:data:`ZERO`, :data:`PROBE`, :data:`UPDATE`, :data:`KEEPALIVE`, or None for a
    segment that is none of these (or is not a single TCP segment)."""
    if segment.proto != "TCP" or segment.summed or segment.window is None:
        return None
    flags = set((segment.flags or "").split(","))
    if flags & {"SYN", "RST", "FIN"}:
        return None
    peer = offers.get((segment.remote, segment.local))
    if peer is not None and peer[0] is not None and segment.seq_rel is not None:
        acked = peer[0]
        below = segment.nbytes == 0 and (segment.seq_rel + 1) % _MOD == acked
        if peer[1] == 0 and (below or (segment.nbytes == 1 and segment.seq_rel == acked)):
            return PROBE
        if peer[1] and below:  # (the peer has room: not a window probe - a connection's
            return KEEPALIVE  # idle timer asking whether the peer is still there)
    if segment.window == 0:
        return ZERO
    mine = offers.get((segment.local, segment.remote))
    if mine is not None and mine[1] == 0:
        return UPDATE
    return None


def offered(offers: Offers, segment: Segment) -> None:
    """Remember what ``segment`` offered (a TCP segment that crossed; a SYN-ACK's window,
    never scaled, is never 0 either: it says the window is open)."""
    if segment.proto != "TCP" or segment.summed or segment.window is None:
        return
    if segment.link in UNDELIVERED:
        return
    offers[(segment.local, segment.remote)] = (segment.ack_rel, segment.window)
