"""A process that ends with the process that started it, however that one ends (``kill -9``
too): the engine process with its app, a served tab's app with its server.

Standard library only.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable

#: The environment variable naming the process a child must not outlive (its parent's pid,
#: as the parent saw itself): the child compares it with getppid(), so a parent that died
#: before the child could look is noticed too.
PARENT_ENV = "SOCKVIZ_PARENT_PID"

#: Seconds a child whose parent has gone has to end by itself before it ends at once.
ORPHAN_GRACE = 1.5


def end_with_parent(
    quit_softly: Callable[[], object] | None = None, grace: float = ORPHAN_GRACE
) -> bool:
    """Make this process end when the parent named in :data:`PARENT_ENV` ends, however it
    ends (``kill -9`` too): ``quit_softly()`` is called (from a daemon thread) to let it
    end cleanly, and ``grace`` seconds later the process exits regardless. False (and
    nothing done) when no parent is named.

    Not ``PR_SET_PDEATHSIG``: that signal follows the parent's *thread* that started the
    child (a worker thread ending would kill a healthy child), and a SIGTERM cannot end a
    process whose event loop is stuck. A pidfd (Linux 5.3+) wakes when the whole parent
    process ends; elsewhere getppid() is looked at twice a second.
    """
    try:
        parent = int(os.environ.get(PARENT_ENV, ""))
    except ValueError:
        return False
    pidfd = None
    try:
        pidfd = os.pidfd_open(parent)
    except (AttributeError, OSError):
        pass  # no pidfd here, or the parent is gone already (the check below sees it)

    def watch() -> None:
        try:
            if pidfd is not None and os.getppid() == parent:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll()  # readable once the parent has ended
            while os.getppid() == parent:  # (without a pidfd; returns at once with one)
                time.sleep(0.5)
            if quit_softly is not None:
                quit_softly()
            time.sleep(grace)
        finally:
            os._exit(1)  # the parent is gone and the process did not end in time

    threading.Thread(target=watch, name="sockviz-parent-watch", daemon=True).start()
    return True
