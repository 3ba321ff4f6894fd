"""The real `sockviz` in a pseudo-terminal: SIGTERM, SIGHUP and SIGINT quit cleanly.

Cleanly means: exit status 0, the terminal given back (the app leaves the alternate
screen) - not a process killed mid-screen - and soon: the app's own stop (every socket
closed, every thread and the engine process ended) is held under a second by the Pilot
tests; the whole process, Python's own exit included, is held here to "no hang", 2 s (0.3 s
on an idle 2-CPU machine; 1.7 s once, beside a CPU burner and a CI run).
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
        given_back = time.monotonic() - started
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
    assert elapsed < 2.0, f"terminal back after {given_back:.2f} s, gone after {elapsed:.2f} s"
    assert LEAVE_ALT_SCREEN in rest
    assert b"Traceback" not in rest
