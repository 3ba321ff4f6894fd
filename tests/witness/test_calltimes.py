"""Each call line's ``t`` against strace's clock: the call returned, then ``t`` was taken.

``strace -f -ttt -T`` of ``sockviz --trace`` (``tcp-echo`` and the ``lost-fin`` lab, both
families): each call line is mapped onto its own system calls on the run's own sockets
(``socket``, ``setsockopt``, ``bind``, ``listen``, ``connect`` with its ``SO_ERROR`` read,
``accept4`` on the listener, ``sendto``, ``recvfrom``, ``shutdown``, ``close``) - sockviz's
other descriptors (netlink, the packet socket, pipes, a host's ioctl socket) are left out
by following each descriptor from the ``socket()`` or ``accept4()`` that made it to its
``close()``. The trace's clock starts at an instant strace does not see, so no offset is
assumed: ``t`` + offset must fall, for every call at once, at or after its last system
call returned and before the next call's first one began - and (``t`` being "when the call
returned") before that thread's next system call other than reading the new socket's
addresses (the kernel readings sockviz makes after a call come after its ``t``). Bytes
moved are the sum of the system calls' returns.

A TLS socket's calls after ``wrap_socket()`` (``tls``) but its close are left out: their
system calls are OpenSSL's ``write()`` and ``read()`` of records, whose bytes are not the
plaintext the call line counts - ``test_strace`` holds those bytes to the packet lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from sockviz.engine.scenarios import REGISTRY
from tests.conftest import IPV6
from tests.witness.strace_log import Syscall, fd_of, syscalls
from tests.witness.witnesses import need, no_mismatch, run_all, scratch

FAMS = ("ipv4", "ipv6") if IPV6 else ("ipv4",)

#: The system calls that make each traced call.
MAKES = {
    "socket": {"socket"},
    "setsockopt": {"setsockopt"},
    "bind": {"bind"},
    "listen": {"listen"},
    "connect": {"connect"},
    "accept": {"accept4", "accept"},
    "send": {"sendto", "sendmsg"},
    "sendall": {"sendto", "sendmsg"},
    "sendto": {"sendto", "sendmsg"},
    "recv": {"recvfrom", "recvmsg"},
    "recvfrom": {"recvfrom", "recvmsg"},
    "shutdown": {"shutdown"},
    "close": {"close"},
}

#: Read right after a call to describe it (its addresses, a connect's outcome): part of it.
ASIDE = {"getsockname", "getpeername"}


def runs() -> list[tuple[str, ...]]:
    """``tcp-echo`` and ``lost-fin`` on both families; every other loopback scenario on
    IPv4 (``bulk`` at 256 KiB: its calls' many system calls summed)."""
    out = [
        ("--scenario", name, "--family", family, "--wire", "off")
        for name in ("tcp-echo", "lost-fin")
        for family in FAMS
    ]
    for name, scenario in REGISTRY.items():
        if scenario.link is None and name != "tcp-echo":
            extra = ("--size", "256K") if name == "bulk" else ()
            out.append(("--scenario", name, "--family", "ipv4", "--wire", "off", *extra))
    out.append(("--scenario", "time-wait", "--closer", "server", "--wire", "off"))
    return out


@need("strace")
def test_every_call_time_is_when_its_system_call_returned():
    with scratch() as place:
        done = run_all(runs(), Path(place), pcap=False, strace=True)
        problems = []
        for run in done:
            problems += [f"[{run.name}] {p}" for p in compare(run.records, syscalls(run.strace))]
    no_mismatch(problems)


def ours(calls: list[Syscall], records: list[dict]) -> dict[str, list[Syscall]]:
    """Each of the run's sockets' system calls, by its name, following each descriptor
    from the call that made it to its close."""
    made = iter([r["socket"] for r in records if r["call"] == "socket"])
    accepted = iter([r["socket"] for r in records if r["call"] == "accept" and r["error"] is None])
    names: dict[int, str] = {}
    out: dict[str, list[Syscall]] = {}
    for call in calls:
        fd = fd_of(call)
        if (
            call.name == "socket"
            and call.args.startswith(("AF_INET,", "AF_INET6,"))
            and call.result.isdigit()
            and used_after(call, calls)
        ):
            names[int(call.result)] = name = next(made, f"?{call.result}")
            out.setdefault(name, []).append(call)
            continue
        if fd is None or fd not in names:
            continue
        out.setdefault(names[fd], []).append(call)
        if call.name in ("accept4", "accept") and call.result.isdigit():
            names[int(call.result)] = next(accepted, f"?{call.result}")
        if call.name == "close":
            del names[fd]
    return out


def used_after(made: Syscall, calls: list[Syscall]) -> bool:
    """The descriptor a ``socket()`` returned, if the scenario's calls use it before it is
    closed (a host's ioctl socket is only configured and closed)."""
    fd = made.result
    for call in calls:
        if call.start <= made.start or call.args.split(",")[0] != fd:
            continue
        if call.name == "close":
            return False
        if call.name in (
            "setsockopt",
            "bind",
            "listen",
            "connect",
            "sendto",
            "recvfrom",
            "shutdown",
        ):
            return True
    return False


def groups(records: list[dict], by_name: dict[str, list[Syscall]]) -> list[tuple]:
    """(call line, its system calls) for every call line, in the trace's order."""
    taken = {name: 0 for name in by_name}
    out = []
    wrapped: set[str] = set()  # (TLS sockets: see the module docstring)
    for line in records:
        if line["call"] == "wrap_socket" and line["error"] is None:
            wrapped.add(line["socket"])
        if line["call"] not in MAKES or line["socket"] is None:
            continue
        if line["socket"] in wrapped and line["call"] != "close":
            continue
        # (an accept that made a socket is its listener's call; one that failed is the
        # listener's line)
        owner = (line["parent"] or line["socket"]) if line["call"] == "accept" else line["socket"]
        mine = by_name.get(owner, [])
        n, group = taken.get(owner, 0), []
        while n < len(mine):
            call = mine[n]
            n += 1
            if call.name in MAKES[line["call"]] or (
                line["call"] == "connect" and "SO_ERROR" in call.args and group
            ):
                group.append(call)
                if finished(line, call, group):
                    break
        taken[owner] = n
        out.append((line, group))
    return out


def finished(line: dict, call: Syscall, group: list[Syscall]) -> bool:
    """Has this system call ended the traced call (its outcome, or all its bytes)?"""
    if line["error"] is not None:  # (a connect's: read with getsockopt(SO_ERROR))
        return line["error"] in call.result or (
            "SO_ERROR" in call.args and f"[{line['error']}]" in call.args
        )
    if call.result.startswith("-1"):
        return False  # EAGAIN, EINPROGRESS: it goes on
    if line["call"] == "connect":
        return "SO_ERROR" in call.args or call.result == "0"
    until = re.search(r"until (\d+) bytes", line.get("args") or "")
    if line["call"] == "recv" and until and line["nbytes"] < int(until.group(1)):
        # (a recv until more bytes than came: it ended at the end of the stream, the read
        # that returned 0)
        return moved(group) >= line["nbytes"] and call.result.split()[0] == "0"
    if (line["call"] in ("send", "sendall") or line.get("parts")) and line["nbytes"]:
        return moved(group) >= line["nbytes"]  # (a bulk recv's parts too)
    return True


def moved(group: list[Syscall]) -> int:
    return sum(
        int(c.result.split()[0])
        for c in group
        if c.result.split()[0].isdigit() and c.name in ("sendto", "sendmsg", "recvfrom", "recvmsg")
    )


def compare(records: list[dict], calls: list[Syscall]) -> list[str]:
    pairs = groups(records, ours(calls, records))
    problems = []
    for line, group in pairs:
        if not group or not finished(line, group[-1], group):
            problems.append(
                f"seq {line['seq']} {line['socket']}.{line['call']}(): no system "
                f"call of its own found in strace ({[c.name for c in group]})"
            )
        elif (
            line["nbytes"] is not None
            and line["call"] in ("send", "sendall", "recv", "sendto", "recvfrom")
            and line["error"] is None
            and moved(group) != line["nbytes"]
        ):
            problems.append(
                f"seq {line['seq']} {line['socket']}.{line['call']}(): nbytes: "
                f"strace {moved(group)}, trace {line['nbytes']}"
            )
    pairs = [(line, group) for line, group in pairs if group]
    if not pairs:
        return [*problems, "no call mapped"]
    offset = max(group[-1].end - line["t"] for line, group in pairs)
    for n, (line, group) in enumerate(pairs):
        at = line["t"] + offset
        late = at - group[-1].end
        name = f"seq {line['seq']} {line['socket']}.{line['call']}()"
        if n + 1 < len(pairs):
            nxt_line, nxt = pairs[n + 1]
            together = line.get("parts") is not None or nxt_line.get("parts") is not None
            if at > nxt[0].start and not together:  # (bulk's two calls run side by side)
                problems.append(
                    f"{name}: t={line['t']} is {late * 1000:.3f} ms after its "
                    f"{group[-1].name}() returned - after the next call "
                    f"({nxt_line['socket']}.{nxt_line['call']}(), seq {nxt_line['seq']}) "
                    f"had begun its {nxt[0].name}() "
                    f"({(at - nxt[0].start) * 1000:.3f} ms before t)"
                )
        after = next(
            (
                c
                for c in calls
                if c.pid == group[-1].pid
                and c.start >= group[-1].end
                and c.name not in ASIDE
                and c is not group[-1]
            ),
            None,
        )
        if after is not None and at > after.start:
            problems.append(
                f"{name}: t={line['t']} is {late * 1000:.3f} ms after its {group[-1].name}() "
                f"returned, after the thread's next system call "
                f"({after.name}({after.args[:40]}) began "
                f"{(after.start - group[-1].end) * 1000:.3f} ms after the return): t is not "
                "when the call returned"
            )
    return problems
