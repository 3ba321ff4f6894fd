"""A frame's kernel stamp is put on the run's clock by :class:`ClockOffset`: a reading of
the two clocks taken across a preemption must not move every frame of a read (CI under a
CPU burner: one read's frames all 1.3 ms late against tshark's stamps). The clocks here
are the real ones; the preemption is a real sleep inside one reading."""

from __future__ import annotations

import time

from sockviz.engine.wire.frame_source import ClockOffset

SLEEP = 0.004


def run_clock(started: float, stalls: set[int]):
    """The run's clock (monotonic, from ``started``), which stalls ``SLEEP`` right after its
    n-th reading for each n in ``stalls`` - the process preempted between two readings."""
    calls = 0

    def now() -> float:
        nonlocal calls
        calls += 1
        t = time.monotonic() - started
        if calls in stalls:
            time.sleep(SLEEP)
        return t

    return now


def truth(started: float) -> float:
    return (time.monotonic() - started) - time.time()


def test_a_reading_across_a_stall_does_not_move_the_offset():
    started = time.monotonic()
    clock = ClockOffset()
    calm = clock(run_clock(started, set()))
    assert abs(calm - truth(started)) < 0.0005
    # every first reading of the next read stalls between the run clock and the wall clock
    stalled = clock(run_clock(started, {1, 3, 5}))
    assert abs(stalled - calm) < 0.0005, (stalled, calm)


def test_the_first_read_keeps_its_closest_reading():
    started = time.monotonic()
    clock = ClockOffset()
    # two of the three readings stall: the third decides
    offset = clock(run_clock(started, {1, 3}))
    assert abs(offset - truth(started)) < 0.0005
    assert clock.gap < SLEEP


def test_a_wall_clock_set_is_followed():
    started = time.monotonic()
    clock = ClockOffset()
    clock(run_clock(started, set()))
    # (the wall clock set 2 s back: what the kept reading says is 2 s off now)
    clock.offset += 2.0
    assert abs(clock(run_clock(started, set())) - truth(started)) < 0.0005
