"""strace's witness, read: an ``strace -f -ttt -T`` log as the system calls it saw, each with
when it started and returned (the other witnesses' readers are in
:mod:`tests.witness.witnesses`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Syscall:
    """One system call strace saw: when it started and returned (``-ttt`` plus ``-T``)."""

    pid: int
    name: str
    args: str
    result: str
    start: float
    end: float


LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
DONE = re.compile(r"^(\w+)\((.*)\)\s+=\s+(.*?)\s+<(\d+\.\d+)>$")
UNFINISHED = re.compile(r"^(\w+)\((.*?)\s*<unfinished \.\.\.>$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(.*?)\s+<(\d+\.\d+)>$")


def syscalls(path: Path) -> list[Syscall]:
    """Every finished system call of an ``strace -f -ttt -T`` log, ordered by start."""
    out, open_calls = [], {}
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        if not match:
            continue
        pid, when, rest = int(match[1]), float(match[2]), match[3]
        if (done := DONE.match(rest)) is not None:
            out.append(Syscall(pid, done[1], done[2], done[3], when, when + float(done[4])))
        elif (begun := UNFINISHED.match(rest)) is not None:
            open_calls[pid] = (begun[1], begun[2], when)
        elif (resumed := RESUMED.match(rest)) is not None and pid in open_calls:
            name, args, start = open_calls.pop(pid)
            out.append(
                Syscall(pid, name, args + resumed[2], resumed[3], start, start + float(resumed[4]))
            )
    out.sort(key=lambda call: call.start)
    return out


def fd_of(call: Syscall) -> int | None:
    head = call.args.split(",", 1)[0].strip()
    return int(head) if head.isdigit() else None
