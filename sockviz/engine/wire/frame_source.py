"""What a :class:`~sockviz.engine.wire.segments.SegmentReader` reads from, and how it puts
a frame's time on the run's clock.

Why apart from the reader: the two wires (the loopback capture and the two hosts' link)
and the runners that hand one to a reader need these names, not the reader's rules.
Standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sockviz.engine.wire.frame_parser import Frame
from sockviz.engine.wire.resends import Direction


class ClockOffset:
    """What to add to a wall-clock time (a frame's kernel stamp) to put it on the run's
    clock. Both clocks are read side by side; a reading taken across a preemption is off by
    up to the time the process was away (on a loaded machine 1.3 ms, every frame of that
    read late against tshark's stamps), by at most half the gap between its two run-clock
    readings. So the reading kept is the one with the smallest gap yet, and a new one
    replaces it only when closer, or when it disagrees by more than both gaps and
    :data:`STEP` (the wall clock was set: from then on frames are stamped on the new one)."""

    STEP = 0.005

    def __init__(self) -> None:
        self.gap = float("inf")
        self.offset = 0.0

    def __call__(self, now: Callable[[], float]) -> float:
        for _ in range(3):
            before = now()
            wall = time.time()
            after = now()
            gap, offset = after - before, (before + after) / 2 - wall
            stepped = abs(offset - self.offset) > self.STEP + gap + self.gap
            if gap < self.gap or stepped:
                self.gap, self.offset = gap, offset
        return self.offset


class Released(Protocol):
    """A held segment a two-host link let cross (:class:`~sockviz.engine.lab.link.Released`)."""

    @property
    def packet(self) -> int: ...
    @property
    def t(self) -> float: ...
    @property
    def crossing(self) -> float: ...


class FrameSource(Protocol):
    """What :class:`SegmentReader` asks of a wire: the loopback capture
    (:class:`~sockviz.engine.wire.capture.Capture`) or the two hosts' link
    (:class:`~sockviz.engine.lab.link.Link`)."""

    def read(self) -> Sequence[Frame | Released]: ...
    def watch_ports(self, ports: set[int]) -> None: ...
    def pause(self, count: Direction | None = None) -> None: ...
    def resume(self) -> dict[Direction, int]: ...
    def samples(self) -> dict[Direction, list[tuple[Frame, bool]]]: ...
    def undelivered(self) -> dict[Direction, int]: ...
    def close(self) -> object: ...  # (the link says whether its thread ended)
