"""A datagram that never came, on two hosts: UDP's lesson, not a failure.

On loopback a datagram sent is a datagram received. Over a link that loses packets
(``--link loss=N%``) UDP promises nothing: the receive waits out the time its step states
and returns EAGAIN - a real call with its real result, shown as such. The run does not
stop there as it would for a call gone wrong: the steps that answered the missing datagram
(an echo sent back to its sender, the reply received) have nothing to answer, so the run
goes on at the first ``close()`` after it and ends as it always does. What the link did
with the datagram is in its packet line (``lost``), nowhere else. Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sockviz.engine.events import CallEvent
from sockviz.engine.scenarios.scenario_types import Scenario, Step
from sockviz.engine.states import Call, Transport


class _Run(Protocol):
    """What is read of the run (a :class:`~sockviz.engine.run.runner.Runner`)."""

    @property
    def hosts(self) -> object:
        """Its two hosts, or None on loopback."""
        ...

    @property
    def scenario(self) -> Scenario: ...

    @property
    def steps(self) -> Sequence[Step]: ...


#: The receives a missing datagram leaves waiting.
RECEIVES = (Call.RECV, Call.RECVFROM)


def never_came(runner: _Run, index: int, step: Step, event: CallEvent | None) -> int | None:
    """The step to go on at when step ``index``'s receive on a UDP socket between two
    hosts timed out (EAGAIN): the first ``close()`` after it (or the end). None for any
    other call or result (on loopback: always None)."""
    if (
        runner.hosts is None
        or event is None
        or event.error != "EAGAIN"
        or step.call not in RECEIVES
    ):
        return None
    if runner.scenario.socket_spec(step.socket).transport is not Transport.DGRAM:
        return None
    return next(
        (n for n in range(index + 1, len(runner.steps)) if runner.steps[n].call is Call.CLOSE),
        len(runner.steps),
    )
