"""A process sockviz starts ends with the process that started it, however that one dies.

``kill -9`` gives the parent no chance to end its children, and a pipe is not always enough
to tell them: here the test itself holds the child's stdin open, as a process that inherited
the pipe could, so the only sign left is the parent's end. The child is started by a
middle process, which is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.test_serve import alive, descendants, read_line, wait_until

#: A parent that names itself to its child, as sockviz's parents do (in the environment:
#: sockviz.engine.run.parent_watch.PARENT_ENV), and says the child's pid.
MIDDLE = (
    "import os, subprocess, sys\n"
    "env = dict(os.environ, SOCKVIZ_PARENT_PID=str(os.getpid()))\n"
    "child = subprocess.Popen(sys.argv[1:], env=env)\n"
    "print(child.pid, file=sys.stderr, flush=True)\n"
    "child.wait()\n"
)


def start_middle(*command: str, env: dict | None = None):
    """(middle process, its child's pid); the child's stdin and stdout are pipes this test
    holds open (stdout is drained, as textual-serve drains a tab's)."""
    middle = subprocess.Popen(
        [sys.executable, "-c", MIDDLE, *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    threading.Thread(
        target=lambda: [None for _ in iter(lambda: middle.stdout.read(65536), b"")], daemon=True
    ).start()
    return middle, int(read_line(middle.stderr))


def kill_all(*pids: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_an_engine_process_ends_when_its_app_is_killed_though_its_stdin_stays_open():
    middle, child = start_middle(sys.executable, "-m", "sockviz.engine.run.engine_child", "off")
    try:
        wait_until(
            lambda: b"engine_child" in Path(f"/proc/{child}/cmdline").read_bytes(),
            10,
            "the engine process did not start",
        )
        middle.kill()
        middle.wait(5)
        wait_until(
            lambda: not alive(child),
            4,
            "the engine process outlived its app by 4 s (nothing closed its stdin)",
        )
    finally:
        kill_all(child)
        middle.kill()
        middle.wait(5)


def test_a_served_tab_ends_with_its_engine_when_its_server_dies_though_its_pipes_stay():
    env = dict(
        os.environ, TEXTUAL_DRIVER="sockviz.app.terminal:WebTabDriver", COLUMNS="100", ROWS="30"
    )
    middle, app = start_middle(
        sys.executable, "-m", "sockviz", "--scenario", "udp-echo", "--step", env=env
    )
    tree: list[int] = [app]
    try:
        wait_until(
            lambda: any(b"engine_child" in cmd for _, cmd in descendants(app)),
            20,
            "the tab's app did not start its engine",
        )
        tree += [pid for pid, _ in descendants(app)]
        middle.kill()
        middle.wait(5)
        wait_until(
            lambda: not any(alive(pid) for pid in tree),
            4,
            "the tab's app or engine outlived its server by 4 s: "
            f"{[pid for pid in tree if alive(pid)]}",
        )
    finally:
        kill_all(*tree)
        middle.kill()
        middle.wait(5)
