"""Children are started without running Python between fork and exec.

Python 3.12 and later warn when a process with threads forks (``os.fork``, ``pty.fork``):
the child may inherit a lock another thread held and hang before its ``exec``. The warning
cannot be made an error (CPython clears it), so these tests look for the calls themselves,
and check that the way the tests start a program on a terminal gives what ``pty.fork`` gave
- a session leader whose controlling terminal is the pty - with a thread running and no
warning.
"""

from __future__ import annotations

import ast
import os
import pathlib
import sys
import threading
import warnings

import pytest

from tests.helpers import read_until
from tests.terminal_spawn import spawn_on_terminal

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Calls that run Python in a forked child (and, below, subprocess's preexec_fn).
FORKS = {("os", "fork"), ("os", "forkpty"), ("pty", "fork")}


def _forks(path: pathlib.Path, root: pathlib.Path = ROOT) -> list[str]:
    """Each call in ``path`` that forks Python, as ``FILE:LINE CALL``."""
    where = path.relative_to(root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in FORKS
            ):
                found.append(f"{where}:{node.lineno} {func.value.id}.{func.attr}")
            found += [
                f"{where}:{node.lineno} preexec_fn"
                for keyword in node.keywords
                if keyword.arg == "preexec_fn"
            ]
    return found


def test_nothing_forks_python():
    """No fork, forkpty or preexec_fn in sockviz, its tests or its scripts."""
    paths = [p for top in ("sockviz", "tests", "scripts") for p in (ROOT / top).rglob("*.py")]
    assert len(paths) > 50
    assert [hit for path in sorted(paths) for hit in _forks(path)] == []


def test_the_check_sees_a_fork(tmp_path):
    """The check above can fail: it finds each kind of call it looks for."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, pty, subprocess\n"
        "pid, fd = pty.fork()\n"
        "os.fork()\n"
        "subprocess.run(['true'], preexec_fn=os.setsid)\n"
    )
    hits = [hit.split(" ", 1)[1] for hit in _forks(sample, tmp_path)]
    assert hits == ["pty.fork", "os.fork", "preexec_fn"]


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # state ppid pgrp session tty_nr ...


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pty and /proc")
def test_a_program_on_a_terminal_of_its_own_with_a_thread_running():
    """spawn_on_terminal, with another thread alive: no fork warning; the child leads its
    own session, the pty is its controlling terminal and its 0, 1 and 2."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    script = (
        "import os, sys\n"
        "print('tty', os.ttyname(0) == os.ttyname(1) == os.ttyname(2), flush=True)\n"
        "sys.stdin.readline()\n"
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pid, master = spawn_on_terminal([sys.executable, "-c", script], dict(os.environ))
    finally:
        stop.set()
        thread.join()
    try:
        assert b"tty True" in read_until(master, b"tty True", timeout=10)
        fields = _stat(pid)
        assert int(fields[3]) == pid, "not a session leader"
        assert int(fields[4]) == os.stat(os.readlink(f"/proc/{pid}/fd/0")).st_rdev
        os.write(master, b"\n")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [str(w.message) for w in caught] == []
