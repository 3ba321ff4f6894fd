"""A program started on a pseudo-terminal of its own, as a terminal window starts a shell.

``pty.fork()`` forks this very process and runs Python in the child until ``exec``: in a
process with threads (an xdist worker always has execnet's) the child can inherit a lock
some other thread held and hang before it gets there, which is why Python 3.12 warns
("This process is multi-threaded, use of forkpty() may lead to deadlocks in the child").
``os.posix_spawn`` runs no Python in the child: the C library makes it a session leader,
opens the pty's terminal side by name - which, for a session leader without one, makes it
the controlling terminal, as ``pty.fork()`` did - puts it on 0, 1 and 2, and execs.
"""

from __future__ import annotations

import os
import sys


def spawn_on_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Start ``argv`` (``argv[0]`` a path) with ``env`` as the leader of a new session
    whose controlling terminal is a new pty; return its pid and the pty's master side
    (the caller reaps the pid and closes the master)."""
    master, slave = os.openpty()  # (both non-inheritable: the child gets only 0, 1, 2)
    try:
        name = os.ttyname(slave)
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, name, os.O_RDWR, 0),
                (os.POSIX_SPAWN_DUP2, 0, 1),
                (os.POSIX_SPAWN_DUP2, 0, 2),
            ],
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return pid, master


def spawn_sockviz(args: list[str], env: dict[str, str]) -> tuple[int, int]:
    """``python -m sockviz ARGS`` on a terminal of its own, with this environment plus
    ``env``."""
    return spawn_on_terminal([sys.executable, "-m", "sockviz", *args], {**os.environ, **env})
