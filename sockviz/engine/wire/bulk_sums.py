"""One direction of a bulk transfer's segments, added up into one event.

Why apart from :mod:`sockviz.engine.wire.segments`: a bulk transfer's tens of thousands of
segments are never drawn one by one; while the reader is
:attr:`~sockviz.engine.wire.segments.SegmentReader.summing` they are folded here - counts,
bytes, the largest, and what started below the highest already sent (a retransmission) -
and the reader gives one event each way at the end, with some of the segments themselves
(:mod:`~sockviz.engine.wire.point_sampler`) for the time-sequence graph. Standard library
only.
"""

from __future__ import annotations

import dataclasses

from sockviz.engine.events import UNDELIVERED, Point, Segment
from sockviz.engine.wire.headers import FLAG_ORDER
from sockviz.engine.wire.point_sampler import Sampler


class BulkSum:
    """One direction's segments of a bulk transfer, added up."""

    __slots__ = (
        "count",
        "first",
        "flags",
        "high",
        "largest",
        "last",
        "lost",
        "nbytes",
        "points",
        "retransmissions",
    )

    def __init__(self, first: Segment) -> None:
        self.first = self.last = first
        self.count = self.nbytes = self.largest = self.retransmissions = 0
        self.flags: set[str] = set()
        self.high: int | None = None
        self.lost: int | None = None
        self.points: Sampler[Point] = Sampler()

    def add(self, segment: Segment) -> None:
        self.count += 1
        self.nbytes += segment.nbytes
        self.largest = max(self.largest, segment.nbytes)
        self.last = segment
        if segment.link is not None:
            self.lost = (self.lost or 0) + (segment.link in UNDELIVERED)
        if segment.flags:
            self.flags.update(segment.flags.split(","))
        resent = False
        if segment.seq_rel is not None and segment.nbytes:
            end = segment.seq_rel + segment.nbytes
            if self.high is not None and end <= self.high:
                self.retransmissions += 1
                resent = True
            self.high = end if self.high is None else max(self.high, end)
        if segment.seq_rel is not None:
            self.points.add(
                Point(
                    segment.t,
                    segment.seq_rel,
                    segment.nbytes,
                    segment.ack_rel,
                    segment.window,
                    resent,
                    segment.sack,
                ),
                resent or segment.sack is not None or segment.window == 0,
            )

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
            lost=self.lost,
            is_sum=True,
            sack=None,
            points=tuple(self.points.items()) or None,
        )
