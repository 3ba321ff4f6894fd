"""One direction of a bulk transfer's segments, added up into one event.

Why apart from :mod:`sockviz.engine.wire.segments`: a bulk transfer's tens of thousands of
segments are never drawn one by one; while the reader is
:attr:`~sockviz.engine.wire.segments.SegmentReader.summing` they are folded here - counts,
bytes, the largest, and what started below the highest already sent (a retransmission) -
and the reader gives one event each way at the end. Standard library only.
"""

from __future__ import annotations

import dataclasses

from sockviz.engine.events import Segment
from sockviz.engine.wire.headers import FLAG_ORDER


class BulkSum:
    """One direction's segments of a bulk transfer, added up."""

    __slots__ = ("count", "first", "flags", "high", "largest", "last", "nbytes", "retransmissions")

    def __init__(self, first: Segment) -> None:
        self.first = self.last = first
        self.count = self.nbytes = self.largest = self.retransmissions = 0
        self.flags: set[str] = set()
        self.high: int | None = None

    def add(self, segment: Segment) -> None:
        self.count += 1
        self.nbytes += segment.nbytes
        self.largest = max(self.largest, segment.nbytes)
        self.last = segment
        if segment.flags:
            self.flags.update(segment.flags.split(","))
        if segment.seq_rel is not None and segment.nbytes:
            end = segment.seq_rel + segment.nbytes
            if self.high is not None and end <= self.high:
                self.retransmissions += 1
            self.high = end if self.high is None else max(self.high, end)

    def segment(self, seq: int, cause: int | None) -> Segment:
        flags = None
        if self.first.proto == "TCP":
            flags = ",".join(name for name in FLAG_ORDER if name in self.flags)
        return dataclasses.replace(
            self.first,
            seq=seq,
            t=self.last.t,
            flags=flags,
            ack_rel=self.last.ack_rel,
            window=self.last.window,
            nbytes=self.nbytes,
            options=None,
            cause=cause,
            count=self.count,
            largest=self.largest,
            retransmissions=self.retransmissions,
            is_sum=True,
        )
