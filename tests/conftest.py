"""Shared fixtures."""

from __future__ import annotations

import os
import socket

# The snapshots must not depend on the caller's terminal preferences: Textual reads (and
# pops) NO_COLOR when an App is made, and TEXTUAL_THEME when it is imported. The tests set
# the theme themselves.
os.environ.pop("NO_COLOR", None)
os.environ.pop("TEXTUAL_THEME", None)

import pytest
import textual._wait
from hypothesis import settings

# Textual's pilot waits after every key (twice) and every pause for the process to look
# idle, in windows of 20 ms: most of an app test's time, and no part of what it checks
# (the tests wait for the app's own state: settle, until). Windows of 5 ms are the same
# wait, sooner. (textual is pinned exactly; tests/app/test_pilot_waits.py holds these names to it.)
textual._wait.SLEEP_GRANULARITY = 0.005
textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20

# The property tests draw the same examples on every run, so a CI run cannot fail on an
# example no run before it drew. To look for new ones: pytest --hypothesis-profile=explore
# (a random seed each run, and more examples).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", max_examples=200)
settings.load_profile("repeatable")


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: two workers a CPU this process may use (``SOCKVIZ_TEST_WORKERS=N`` sets
    N). Much of the suite waits rather than computes - a kernel's timer (a SYN sent again
    after a second, keepalive probes, a delayed ACK), a link's delay, a subprocess - and a
    worker waiting leaves its CPU idle."""
    asked = os.environ.get("SOCKVIZ_TEST_WORKERS", "")
    if asked.isdigit() and int(asked) > 0:
        return int(asked)
    return 2 * len(os.sched_getaffinity(0))


def _ipv6_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


IPV6 = _ipv6_works()

FAMILIES = [
    "ipv4",
    pytest.param("ipv6", marks=pytest.mark.skipif(not IPV6, reason="no IPv6 loopback here")),
]


@pytest.fixture(params=FAMILIES)
def family(request) -> str:
    """Each test that takes ``family`` runs on IPv4 and IPv6 loopback."""
    return request.param
