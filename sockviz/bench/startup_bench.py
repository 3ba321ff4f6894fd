"""The benchmark's rows about starting the TUI: process start to the first frame drawn, in a
pseudo-terminal (``python -m sockviz.bench`` prints them).

Two comparisons, each run turn about so that a spell of other work on a shared machine falls
on both sides alike:

* sockviz against a bare Textual app (what sockviz adds to Textual's own start);
* with ``--startup-against REV``: sockviz as it stands against sockviz at git revision REV
  (checked out with ``git worktree add`` into a temporary folder and run with ``PYTHONPATH``
  set to it), by wall time and by the CPU time of its process tree, as the ratio of the two
  sides' medians. Issue 25 asks that a restructure leave the start no slower; this row is
  how that is held. It needs the git history, so it runs only when asked.

It lives apart from :mod:`sockviz.bench.bench_table` because it is a subject of its own:
starting processes in a terminal and checking out another revision.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sockviz.bench.flood_bench import tree_cpu

BARE_APP = "from textual.app import App\nApp().run()\n"

#: The first frame: the first render moves the cursor home.
FIRST_FRAME = b"\x1b[1;1H"

#: The TUI as a user starts it, paused so that no run competes with the first frame.
SOCKVIZ = ["-m", "sockviz", "--step"]

#: "No slower", with room for the noise of a shared machine.
NO_SLOWER = 1.05


def first_frame(
    argv: list[str],
    marker: bytes = FIRST_FRAME,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[float, float]:
    """Seconds from starting ``argv`` in a pseudo-terminal until ``marker`` is drawn, and the
    CPU seconds its process tree spent by then (the app and an engine process it started:
    work moved from one to the other is still counted)."""
    child_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    child_env.update(env or {})
    # Both sides read compiled bytecode, as an installed program does (a checkout run
    # with PYTHONDONTWRITEBYTECODE would compile sockviz afresh on every start).
    child_env.pop("PYTHONDONTWRITEBYTECODE", None)
    fd, terminal = os.openpty()
    started = time.perf_counter()
    # subprocess runs no Python between fork and exec (pty.fork does: in a process with
    # threads, as this one may be after the in-process runs, its child can deadlock).
    proc = subprocess.Popen(
        argv,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        env=child_env,
        cwd=cwd,
    )
    os.close(terminal)
    pid = proc.pid
    seen = b""
    try:
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.02)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        elapsed = time.perf_counter() - started
        cpu = tree_cpu(pid) if os.path.exists(f"/proc/{pid}/stat") else None
    finally:
        os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # (reaped here, for the rusage)
        os.close(fd)
    if marker not in seen:
        raise RuntimeError(f"{argv} drew no {marker!r} within {timeout} s")
    if cpu is None:  # no /proc: what the kernel counted up to the kill
        cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu


def against_bare_textual(turns: int) -> float:
    """sockviz's first frame over a bare Textual app's: the median of ``turns`` turns'
    ratios, the two started turn about."""
    ratios = []
    for _ in range(turns):
        bare, _ = first_frame([sys.executable, "-c", BARE_APP])
        ours, _ = first_frame([sys.executable, *SOCKVIZ])
        ratios.append(ours / bare)
    return statistics.median(ratios)


def source_root() -> Path:
    """The folder that holds the ``sockviz`` package this process runs."""
    return Path(__file__).resolve().parents[2]


@contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """``revision`` of the repository this code is in, checked out in a temporary folder
    (a detached git worktree, removed afterwards)."""
    repo = source_root()
    folder = Path(tempfile.mkdtemp(prefix="sockviz-before-"))
    tree = folder / "tree"
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(tree), revision],
        check=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False
        )
        shutil.rmtree(folder, ignore_errors=True)


def _imported_from(env: dict[str, str], cwd: str) -> str:
    """Where ``import sockviz`` finds the package with this environment: so that each side
    is known to run its own code (a ``PYTHONPATH`` that lost to an installed copy would
    compare the code with itself)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sockviz; print(sockviz.__file__)"],
        env={**os.environ, **env},
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


def against_revision(revision: str, turns: int) -> dict[str, float]:
    """The first frame of sockviz as it stands and of sockviz at ``revision``, started turn
    about ``turns`` times: the ratios now/before of the medians, wall and CPU, and the
    medians themselves."""
    sides: dict[str, list[tuple[float, float]]] = {"now": [], "before": []}
    with checked_out(revision) as before, tempfile.TemporaryDirectory() as neutral:
        # Each side from a folder of its own choosing: `python -m` puts the working folder
        # first on sys.path, and the checkout this runs from must not shadow the other.
        envs = {"now": {"PYTHONPATH": str(source_root())}, "before": {"PYTHONPATH": str(before)}}
        for side, env in envs.items():
            found = Path(_imported_from(env, neutral)).resolve()
            if not found.is_relative_to(Path(env["PYTHONPATH"]).resolve()):
                raise RuntimeError(f"the {side} side imports sockviz from {found}")
        for env in envs.values():  # one start each, untimed: compiles the bytecode
            first_frame([sys.executable, *SOCKVIZ], env=env, cwd=neutral)
        for turn in range(turns):
            # Which side goes first alternates too: neither always has the warmer caches.
            order = ("now", "before") if turn % 2 == 0 else ("before", "now")
            for side in order:
                sides[side].append(
                    first_frame([sys.executable, *SOCKVIZ], env=envs[side], cwd=neutral)
                )
    wall = {side: statistics.median(t[0] for t in runs) for side, runs in sides.items()}
    cpu = {side: statistics.median(t[1] for t in runs) for side, runs in sides.items()}
    return {
        "wall": wall["now"] / wall["before"],
        "cpu": cpu["now"] / cpu["before"],
        "wall_now": wall["now"],
        "wall_before": wall["before"],
        "cpu_now": cpu["now"],
        "cpu_before": cpu["before"],
    }


def startup_rows(turns: int, revision: str | None) -> list[tuple[str, str, str, str]]:
    """The benchmark's rows about the start (name, value, target, verdict); the row against
    ``revision`` only when one is given."""
    ratio = against_bare_textual(turns)
    rows = [
        (
            "startup, first frame: sockviz vs bare Textual app",
            f"{ratio:.2f}x",
            "<= 1.30",
            "ok" if ratio <= 1.30 else "ABOVE",
        )
    ]
    if revision is not None:
        got = against_revision(revision, turns)
        for kind, key in (("wall", "wall"), ("CPU", "cpu")):
            now, before = got[f"{key}_now"], got[f"{key}_before"]
            rows.append(
                (
                    f"startup, first frame: now vs {revision}, {kind}, ratio of medians "
                    f"of {turns} ({now * 1000:.0f} ms vs {before * 1000:.0f} ms)",
                    f"{got[key]:.3f}x",
                    f"<= {NO_SLOWER:.2f}",
                    "ok" if got[key] <= NO_SLOWER else "ABOVE",
                )
            )
    return rows
