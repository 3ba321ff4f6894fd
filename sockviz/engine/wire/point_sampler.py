"""Some of a bulk transfer's segments, kept for its time-sequence graph in bounded memory.

Why apart from :mod:`sockviz.engine.wire.bulk_sums`: a transfer's segments are summed into
one event each way, but a graph of sequence numbers against time needs segments one by one.
Keeping every one would grow with the transfer (a gigabyte is ~700,000 segments on a
link), so a :class:`Sampler` keeps at most :data:`LIMIT` of them spread evenly over the
transfer - each time it has twice that many it drops every other one and from then on
keeps one in twice as many - plus, up to :data:`LIMIT` more, every one that shows an event
a graph must not miss (a retransmission, a SACK, a zero window), and always the last.
Both the frames a reader reads and the packets a two-host link samples while it only
counts (:class:`~sockviz.engine.lab.link_packets.LinkSampler`) go through it. Standard
library only.
"""

from __future__ import annotations

from typing import Generic, TypeVar

#: Ordinary segments kept each way (a terminal graph is a few hundred dots wide; an
#: exported one ~800 pixels), and at most as many marked ones besides.
LIMIT = 400

T = TypeVar("T")


class Sampler(Generic[T]):
    """At most :data:`LIMIT` items spread over a stream, every marked one (up to as many
    again), and the last, in the order they came."""

    __slots__ = ("_kept", "_last", "_limit", "_marked", "_ordinary", "_seen", "_stride")

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._kept: list[tuple[T, bool]] = []
        self._last: T | None = None
        self._seen = self._marked = self._ordinary = 0
        self._stride = 1

    def add(self, item: T, marked: bool = False) -> None:
        self._seen += 1
        self._last = item
        if marked and self._marked < self._limit:
            self._marked += 1
            self._kept.append((item, True))
            return
        if (self._seen - 1) % self._stride:
            return
        self._kept.append((item, False))
        self._ordinary += 1
        if self._ordinary >= 2 * self._limit:
            every_other, kept = 0, []
            for entry in self._kept:
                if not entry[1]:
                    every_other += 1
                    if every_other % 2 == 0:
                        continue
                kept.append(entry)
            self._kept, self._ordinary = kept, self._ordinary - self._ordinary // 2
            self._stride *= 2

    @property
    def seen(self) -> int:
        """How many items came."""
        return self._seen

    def items(self) -> list[T]:
        """The items kept, in the order they came, the last among them."""
        out = [item for item, _marked in self._kept]
        if self._last is not None and (not out or out[-1] is not self._last):
            out.append(self._last)
        return out
