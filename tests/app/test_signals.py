"""The real `sockviz` in a pseudo-terminal: SIGTERM, SIGHUP and SIGINT quit cleanly.

Cleanly means: exit status 0, within a second of the signal, and the terminal given back
(the app leaves the alternate screen) - not a process killed mid-screen.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from tests.helpers import read_until, session
from tests.terminal_spawn import spawn_sockviz

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pty")

LEAVE_ALT_SCREEN = b"\x1b[?1049l"


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: signal.Signals(s).name
)
def test_signal_quits_cleanly(signum):
    # the real command line, in a terminal of its own
    pid, fd = spawn_sockviz(["--step"], {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"})
    try:
        screen = read_until(fd, b"calls made", timeout=15)
        assert b"calls made" in screen, "the app never drew its status line"
        time.sleep(0.3)
        assert len(session(pid)) == 2, "the app and its engine process"
        started = time.monotonic()
        os.kill(pid, signum)
        rest = read_until(fd, LEAVE_ALT_SCREEN, timeout=5)
        _, status = os.waitpid(pid, 0)
        elapsed = time.monotonic() - started
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert session(pid) == [], "a process of the app's outlived it"
    assert elapsed < 1.5  # the app's own stop is held under 1 s by the Pilot tests
    assert LEAVE_ALT_SCREEN in rest
    assert b"Traceback" not in rest
