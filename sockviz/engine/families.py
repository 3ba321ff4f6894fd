"""The address families sockviz runs on, and the defaults every way of running shares.

Apart from the runner so that a UI can check a ``--family`` and offer the families without
importing the machinery that makes calls (the TUI plays its runs in an engine process, and
starts faster for not loading it).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """An address family sockviz can run a scenario on."""

    name: str
    """What ``--family`` takes."""
    af: int
    """The ``socket.AF_*`` constant."""
    loopback: str
    """The loopback address used by default (for Unix sockets: none, they use paths)."""


FAMILIES: dict[str, Family] = {
    "ipv4": Family("ipv4", socket.AF_INET, "127.0.0.1"),
    "ipv6": Family("ipv6", socket.AF_INET6, "::1"),
}
if hasattr(socket, "AF_UNIX"):
    FAMILIES["unix"] = Family("unix", socket.AF_UNIX, "")

#: Seconds ``--connect`` waits for the handshake, and for the server to say anything more
#: (``--timeout``).
OUTSIDE_TIMEOUT = 5.0
