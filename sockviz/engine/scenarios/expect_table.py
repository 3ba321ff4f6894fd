"""A scenario file step's ``expect`` table: what its call should do, checked as it runs.

    expect = { state = "connected", kernel = "ESTABLISHED" }
    expect = { state = "connected", min_seconds = 0.9, retries = 1 }   # on two hosts

Read by :mod:`sockviz.engine.scenarios.scenario_files` (its reader reports a bad value with the
file's line). ``min_seconds`` and ``retries`` are about a link (a lost SYN costs a second and
one retry): on loopback they are not checked. Standard library only.
"""

from __future__ import annotations

import errno
import math

from sockviz.engine.scenarios.quoted_values import shown as _shown
from sockviz.engine.scenarios.scenario_reader import Table, TableReader
from sockviz.engine.scenarios.scenario_types import Expect
from sockviz.engine.states import State

EXPECT_KEYS = {
    "state": "a lifecycle state",
    "error": 'an errno name, e.g. "ECONNREFUSED"',
    "bytes": "how many bytes the call moves",
    "kernel": 'a TCP state, e.g. "FIN_WAIT2"',
    "min_seconds": "on two hosts: the call takes at least this long",
    "retries": "on two hosts: at least this many segments of its "
    "connection sent again by the time it returns",
}
KERNEL_STATES = (
    "LISTEN",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
)


def expectation(
    read: TableReader, table: Table, data: object, max_bytes: int
) -> tuple[Expect | None, str | None]:
    """The step's :class:`Expect`, and the errno it is meant to fail with (or None)."""
    if data is None:
        return None, None
    if not isinstance(data, dict) or not data:
        read.fail(
            table,
            "expect",
            'expect must be a table: { state = "...", error = "...", bytes = N, kernel = "..." }',
        )
    read.only_keys(table, data, EXPECT_KEYS)
    state = data.get("state")
    if state is not None:
        state = State(read.choice(table, data, "state", [s.value for s in State]))
    error = data.get("error")
    if error is not None and (
        not read.required_string(table, data, "error").startswith("E") or not hasattr(errno, error)
    ):
        read.fail(
            table,
            "error",
            f"error = {_shown(error)}: expected an errno name such "
            'as "ECONNREFUSED" or "EADDRINUSE"',
        )
    nbytes = data.get("bytes")
    if nbytes is not None:  # no call moves more than a recv may take
        nbytes = read.number(table, data, "bytes", 0, high=max_bytes)
    kernel = data.get("kernel")
    if kernel is not None:
        read.choice(table, data, "kernel", KERNEL_STATES)
    seconds = data.get("min_seconds")
    if seconds is not None and (
        type(seconds) not in (int, float) or not math.isfinite(seconds) or not 0 <= seconds <= 3600
    ):
        read.fail(
            table,
            "min_seconds",
            f"min_seconds = {_shown(seconds)}: expected a number "
            "of seconds from 0 to 3600, such as 0.9",
        )
    retries = data.get("retries")
    if retries is not None:
        retries = read.number(table, data, "retries", 0, high=1000)
    return Expect(
        state=state,
        error=error,
        nbytes=nbytes,
        kernel=kernel,
        seconds=None if seconds is None else float(seconds),
        retries=retries,
    ), error
