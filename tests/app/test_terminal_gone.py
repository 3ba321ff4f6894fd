"""The real `sockviz` on a pseudo-terminal that goes away: the app, and its engine, end.

A closed terminal window or ``tmux kill-session`` closes the pty's master side. Before
sockviz.app.terminal, Textual's writer thread died of EIO, its queue filled, and the app
hung for ever in ``WriterThread.stop`` (reparented to init, deaf to SIGTERM).

Two ways the master can close:

* without SIGHUP: the app is started with ``start_new_session`` on a pty from
  ``os.openpty()`` (opened O_NOCTTY), so it leads a session that has no controlling
  terminal, and the kernel has nobody to send SIGHUP to when the pty hangs up (the test
  checks that the app has no controlling terminal). Only the terminal itself tells: EOF
  or EIO on reading it, EIO on writing it, POLLHUP;
* with SIGHUP (what tmux does): ``tests.terminal_spawn`` makes the pty the app's controlling
  terminal, and its hang-up sends the app SIGHUP and SIGCONT.

The ``--listen`` cases run the outside mode (no engine process; a listener in the app).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import termios
import threading
import time

import pytest
from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

from sockviz.app.terminal import _Output
from tests.helpers import process_threads, read_until, session, where_stuck
from tests.terminal_spawn import spawn_sockviz

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pty")

LEAVE_ALT_SCREEN = b"\x1b[?1049l"
FIRST_FRAME = b"calls made"
MODES = {"step": ["--step"], "listen": ["--listen", "127.0.0.1:0"]}
ENV = {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}


def controlling_tty(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[4])  # state ppid pgrp session tty_nr


def wait_exit(pid: int, timeout: float) -> int | None:
    """The child's wait status once it has ended, or None if it is still there."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)


def kill_session(sid: int) -> None:
    """Clean-up after a failure: whatever the test started, by pid."""
    for pid in session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def expected_processes(args: list[str]) -> int:
    return 2  # the app, and its engine process (a listener's too)


@pytest.mark.parametrize("mode", MODES)
def test_terminal_closed_without_sighup_ends_the_app(mode):
    args = MODES[mode]
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sockviz", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env={**os.environ, **ENV},
    )
    os.close(slave)
    try:
        assert FIRST_FRAME in read_until(master, FIRST_FRAME, timeout=15)
        time.sleep(0.3)
        assert controlling_tty(proc.pid) == 0, "the app has a controlling tty: SIGHUP would come"
        assert len(session(proc.pid)) == expected_processes(args)
        started = time.monotonic()
        os.close(master)
        master = -1
        status = wait_exit(proc.pid, timeout=2)
        elapsed = time.monotonic() - started
        assert status is not None, "the app outlived its terminal by 2 s:\n" + where_stuck(
            session(proc.pid)
        )
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if master >= 0:
            os.close(master)
        kill_session(proc.pid)
        proc.wait()
    assert session(proc.pid) == [], "a process of the app's outlived it"
    assert proc.returncode == 0  # it quit as q does: no panic, no signal, no failed flush
    assert elapsed < 1.5


@pytest.mark.parametrize("mode", MODES)
def test_terminal_hung_up_with_sighup_ends_the_app(mode):
    args = MODES[mode]
    pid, master = spawn_sockviz(args, ENV)  # a session leader, the pty its controlling tty
    status = None
    try:
        assert FIRST_FRAME in read_until(master, FIRST_FRAME, timeout=15)
        time.sleep(0.3)
        assert controlling_tty(pid) != 0
        assert len(session(pid)) == expected_processes(args)
        started = time.monotonic()
        os.close(master)  # as kill-session does: the kernel sends SIGHUP and SIGCONT
        master = -1
        status = wait_exit(pid, timeout=2)
        elapsed = time.monotonic() - started
        assert status is not None, "the app outlived its terminal by 2 s:\n" + where_stuck(
            session(pid)
        )
    finally:
        if master >= 0:
            os.close(master)
        kill_session(pid)
        if status is None:
            os.waitpid(pid, 0)
    assert session(pid) == [], "a process of the app's outlived it"
    assert os.waitstatus_to_exitcode(status) == 0
    assert elapsed < 1.5


def test_sigcont_without_a_suspend_changes_nothing_and_q_still_quits():
    """SIGCONT that no SIGTSTP preceded (it comes with every hang-up) starts no second
    writer or input thread; the terminal is given back as it was on q."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sockviz", "--step"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env={**os.environ, **ENV},
    )
    try:
        assert FIRST_FRAME in read_until(master, FIRST_FRAME, timeout=15)
        time.sleep(0.5)
        threads = process_threads(proc.pid)
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.5)
        assert process_threads(proc.pid) == threads
        started = time.monotonic()
        os.write(master, b"q")
        rest = read_until(master, LEAVE_ALT_SCREEN, timeout=5)
        proc.wait(5)
        elapsed = time.monotonic() - started
        after = termios.tcgetattr(slave)
    finally:
        kill_session(proc.pid)
        proc.wait()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0
    assert LEAVE_ALT_SCREEN in rest and b"Traceback" not in rest
    assert after == before
    assert elapsed < 1.5


class _DeadTerminal:
    """A file whose every write fails as a hung-up pty's does."""

    def write(self, text: str) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def flush(self) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def fileno(self) -> int:
        return 2


def test_writer_on_a_dead_terminal_drains_and_stops():
    """The root cause in small: more writes than Textual's writer queue holds, to a
    terminal that fails each one, and stop() still returns (with the stock file the
    writer dies at the first write and stop() waits for ever on the full queue)."""
    lost = []
    writer = WriterThread(_Output(_DeadTerminal(), lost.append))
    writer.start()
    for _ in range(MAX_QUEUED_WRITES * 3):
        writer.write("frame")
    stopper = threading.Thread(target=writer.stop, daemon=True)
    stopper.start()
    stopper.join(2)
    assert not stopper.is_alive() and not writer.is_alive()
    assert lost == ["writing the terminal: Input/output error"]
