"""Shared test helpers: an event collector and a thread/fd census.

Real sockets on loopback everywhere; nothing here stands in for the engine.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sockviz.engine.events import CallEvent, KernelEvent, RunFinished, StepPending
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios.scenario_types import Scenario


class Collector:
    """A consumer that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list = []
        self._cond = threading.Condition()

    def __call__(self, event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    @property
    def calls(self) -> list[CallEvent]:
        return [e for e in self.events if isinstance(e, CallEvent)]

    @property
    def kernel(self) -> list[KernelEvent]:
        return [e for e in self.events if isinstance(e, KernelEvent)]

    @property
    def trace(self) -> list:
        return [e for e in self.events if isinstance(e, (CallEvent, KernelEvent))]

    @property
    def pending(self) -> list[StepPending]:
        return [e for e in self.events if isinstance(e, StepPending)]

    @property
    def finished(self) -> list[RunFinished]:
        return [e for e in self.events if isinstance(e, RunFinished)]

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until no event has arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            with self._cond:
                count = len(self.events)
            if count == seen:
                return
            seen = count
            time.sleep(quiet)


def on_loopback() -> list[str]:
    """The built-in scenarios that run on loopback (the labs run on two hosts and a link:
    tests/test_lab.py)."""
    from sockviz.engine.scenarios import REGISTRY

    return [name for name in REGISTRY if REGISTRY[name].link is None]


def run_scenario(scenario: Scenario, family: str = "ipv4", timeout: float = 10.0) -> Collector:
    """Run a scenario to the end in fast mode; return everything it emitted."""
    collector = Collector()
    runner = Runner(scenario, collector, family=family, mode=Mode.FAST)
    runner.start()
    try:
        assert runner.wait(timeout), "the scenario did not finish"
    finally:
        assert runner.stop(), "a thread outlived stop()"
    return collector


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sockviz-")]


def processes() -> list[tuple[int, int, int, bytes]]:
    """Every process on the machine: (pid, parent pid, session id, command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # state ppid pgrp session ...
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            found.append((int(entry), int(fields[1]), int(fields[3]), cmdline))
        except (OSError, ValueError, IndexError):
            continue
    return found


def engine_processes() -> list[int]:
    """This process's engine children (``python -m sockviz.engine.run.engine_child``) still there,
    zombies included: a child that ended must also have been waited for."""
    return [
        pid
        for pid, ppid, _, cmdline in processes()
        if ppid == os.getpid() and b"sockviz.engine.run.engine_child" in cmdline
    ]


def process_fds(pid: int) -> dict[int, str]:
    """Another process's open descriptors and what they are (``socket:[...]``, ``pipe:[...]``)."""
    out = {}
    for n in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(n)] = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
    return out


def process_threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def threads_after(pid: int, at_most: int, within: float = 1.0) -> int:
    """Another process's thread count once it has fallen to ``at_most``, or after ``within``
    seconds. A thread Python has joined may still be listed for a moment while the kernel
    finishes ending it; the promise is every thread gone within a second."""
    deadline = time.monotonic() + within
    while (count := process_threads(pid)) > at_most and time.monotonic() < deadline:
        time.sleep(0.01)
    return count


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    """What a pseudo-terminal's program wrote until ``needle`` (or the timeout, or its end)."""
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data


def session(sid: int) -> list[int]:
    """The processes of a session, zombies included (the app must reap its engine)."""
    return [pid for pid, _, session_id, _ in processes() if session_id == sid]


def copy_for_nobody(place, root) -> None:
    """A copy of ``root``'s sockviz package in ``place`` that any user may read (the
    engine is standard library only: the system's python3 runs it as uid 65534)."""
    import shutil

    copy = Path(place)
    shutil.copytree(
        Path(root) / "sockviz", copy / "sockviz", ignore=shutil.ignore_patterns("__pycache__")
    )
    for path in [copy, *copy.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def where_stuck(pids: list[int]) -> str:
    """Each thread of ``pids``: its name, state and what the kernel has it waiting in (for
    a test that timed out waiting for a process to end, to say where it was)."""
    lines = []
    for pid in pids:
        for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
            try:
                comm = (task / "comm").read_text().strip()
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
                wchan = (task / "wchan").read_text().strip()
                stack = (task / "stack").read_text().split() if os.geteuid() == 0 else []
            except OSError:
                continue
            frames = [word.split("+")[0] for word in stack if "+" in word][:6]
            lines.append(f"{pid}/{task.name} {comm} {state} {wchan} {' < '.join(frames)}")
    return "\n".join(lines)


@functools.cache
def two_hosts_here() -> bool:
    """Whether two hosts can be made here: a user and network namespace and /dev/net/tun
    (root here). Asked once per test process, of a real run on a link."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sockviz",
            "--trace",
            "--link",
            "delay=1ms",
            "--scenario",
            "udp-echo",
        ],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode == 0 and "no two hosts here" not in proc.stderr
