"""No event without a real call behind it: strace counts the same calls and bytes as the trace."""

from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
import sys

import pytest

from sockviz.engine.scenarios import REGISTRY
from tests.conftest import FAMILIES

pytestmark = pytest.mark.skipif(
    shutil.which("strace") is None or not sys.platform.startswith("linux"),
    reason="needs strace on Linux",
)

COUNTED = ("socket", "bind", "listen", "connect", "accept", "shutdown")
SYSCALL = re.compile(r"^\d+\s+(\w+)\(.*\)\s+=\s+(-?\d+)")
# With two threads strace splits a blocking call: "sendto(... <unfinished ...>" then,
# later, "<... sendto resumed>) = 262144". The result is on the second line.
CLOSE = re.compile(r"^\d+\s+close\((\d+)")
RESUMED = re.compile(r"^\d+\s+<\.\.\. (\w+) resumed>.*\)\s+=\s+(-?\d+)")


IPV6_MARKS = FAMILIES[1].marks
CASES = [
    ("tcp-echo", "ipv4"),
    pytest.param("tcp-echo", "ipv6", marks=IPV6_MARKS),
    ("udp-echo", "ipv4"),
    pytest.param("udp-echo", "ipv6", marks=IPV6_MARKS),
    *((name, "ipv4") for name in REGISTRY if name not in ("tcp-echo", "udp-echo")),
    ("tcp-echo", "unix"),
]


@pytest.mark.parametrize(("name", "family"), CASES)
def test_trace_matches_strace(tmp_path, name, family):
    out = tmp_path / "strace.txt"
    proc = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=network,close,ioctl" + (",read,write" if name == "tls" else ""),
            "-o",
            str(out),
            sys.executable,
            "-m",
            "sockviz",
            "--trace",
            "--scenario",
            name,
            "--family",
            family,
            *(["--size", "4M"] if name == "bulk" else []),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip("strace is not permitted here")
    assert proc.returncode == 0, proc.stderr
    trace = [json.loads(line) for line in proc.stdout.splitlines()]

    seen: collections.Counter = collections.Counter()
    sent = received = 0
    capture: list[str] = []  # the wire's own packet socket: its calls are not the run's
    kernel: list[str] = []  # nor are a netlink socket's, asking the kernel of a connection
    captures = 0
    records = {"write": 0, "read": 0}  # (TLS: OpenSSL's write() and read() of records)
    ours: set[str] = set()  # (the run's sockets now open: socket() and accept4() results)
    opened: dict[str, bool] = {}  # fd -> a socket() counted (two hosts' devices are set up
    split: dict[str, str] = {}  # pid -> the first half of a call strace split in two
    for line in out.read_text().splitlines():  # with ioctls on sockets of their own: not the run's)
        pid = line.split(" ", 1)[0]
        if line.endswith("<unfinished ...>"):
            split[pid] = line
            continue
        if RESUMED.match(line) and pid in split:  # (judged whole: its first half names
            line = split.pop(pid) + " " + line  # the socket - a netlink one's is not the run's)
        setup = re.match(r"^\d+\s+ioctl\((\d+), SIOC", line)
        if setup:
            if opened.pop(setup.group(1), False):
                seen["socket"] -= 1
            continue
        closing = CLOSE.search(line)  # (a descriptor closed: a later socket may get its number)
        if closing:
            opened.pop(closing.group(1), None)
            ours.discard(closing.group(1))
            for kept in (capture, kernel):
                if closing.group(1) in kept:
                    kept.remove(closing.group(1))
            continue
        m = SYSCALL.match(line) or RESUMED.match(line)
        if not m:
            continue
        call, result = m.group(1), int(m.group(2))
        if call == "close":
            continue
        if (
            "AF_PACKET" in line
            or "AF_NETLINK" in line
            or any(f"{call}({fd}," in line for fd in capture + kernel)
        ):
            if call == "socket":  # (the wire's capture; the kernel's socket diagnostics)
                (capture if "AF_PACKET" in line else kernel).append(str(result))
                captures += "AF_PACKET" in line
            continue
        fd = re.match(r"^\d+\s+\w+\((\d+),", line)
        if call in records and result > 0 and fd and fd.group(1) in ours:
            records[call] += result
        call = "accept" if call == "accept4" else call
        if call in ("socket", "accept") and result >= 0:
            ours.add(str(result))
        if call in COUNTED:  # failed attempts too: a failed call is an event as well
            seen[call] += 1
        if call == "socket" and result >= 0:
            opened[str(result)] = True
        if call in ("sendto", "sendmsg") and result > 0:
            sent += result
        if call in ("recvfrom", "recvmsg") and result > 0:
            received += result

    traced = collections.Counter(r["call"] for r in trace if r["call"] in COUNTED)
    assert {c: seen[c] for c in COUNTED} == {c: traced[c] for c in COUNTED}
    if name == "tls":  # (the program's calls move plaintext; OpenSSL writes the records)
        wire = distinct_bytes(r for r in trace if r["call"] == "packet" and r["proto"] == "TCP")
        assert records["write"] == records["read"] > 0, records
        assert wire in (0, records["write"]), (records, wire)  # (0: the wire not watched)
        sent += sum(r["nbytes"] or 0 for r in trace if r["call"] == "sendall")
        received += sum(r["nbytes"] or 0 for r in trace if r["call"] == "recv")
    assert sent == sum(
        r["nbytes"] or 0 for r in trace if r["call"] in ("send", "sendall", "sendto")
    )
    assert received == sum(r["nbytes"] or 0 for r in trace if r["call"] in ("recv", "recvfrom"))
    if name not in ("broken-pipe", "reset", "udp-loss"):  # there, bytes sent are never read
        # (or a datagram is lost on the link, and one goes where nothing listens)
        assert sent == received
    # The wire was watched (as root: this machine's loopback) by one packet socket, and
    # nothing else - but for a bulk transfer's two counters, one packet socket a direction
    # that is never read (its kernel counts the frames it accepts: what tcpdump would see);
    # an AF_UNIX run has no wire to watch, and on two hosts the link carries every segment
    # itself. (The kernel was asked of closed connections over netlink sockets: one per
    # reading, none kept.)
    expected = 0 if family == "unix" or REGISTRY[name].link else 1
    assert captures == expected + (2 if name == "bulk" and expected else 0)
    assert any(r["call"].startswith("packet") for r in trace) == (family != "unix")


def distinct_bytes(packets) -> int:
    """The bytes the packet lines carried, each once: a segment the kernel sent again (a
    tail-loss probe when a loaded machine was slow to ACK) repeats bytes OpenSSL wrote once,
    and a line that repeats any must be marked as sent again (``retry``)."""
    carried: dict[str, set[int]] = collections.defaultdict(set)
    for line in packets:
        span = range(line["seq_rel"], line["seq_rel"] + line["nbytes"])
        repeats = carried[line["from"]].intersection(span)
        assert not repeats or line["retry"] is not None, line  # (a repeat is marked)
        carried[line["from"]].update(span)
    return sum(len(seen) for seen in carried.values())


def test_distinct_bytes_counts_a_repeat_once_and_wants_it_marked():
    def line(seq, nbytes, retry=None):
        return {"from": "client", "seq_rel": seq, "nbytes": nbytes, "retry": retry}

    assert distinct_bytes([line(1, 36), line(37, 36), line(37, 36, retry=0.2)]) == 72
    with pytest.raises(AssertionError):
        distinct_bytes([line(1, 36), line(1, 36)])


def test_each_select_line_is_a_select_strace_saw(tmp_path):
    """nonblocking: every select line is a real select() (pselect6 on Linux) with the
    sockets it names ready, and nothing else the engine does calls select()."""
    out = tmp_path / "strace.txt"
    proc = subprocess.run(
        [
            *("strace", "-f", "-qq", "-e", "trace=select,pselect6", "-o", str(out)),
            *(sys.executable, "-m", "sockviz", "--trace", "--scenario", "nonblocking"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip("strace is not permitted here")
    assert proc.returncode == 0, proc.stderr
    selects = [json.loads(line) for line in proc.stdout.splitlines()]
    selects = [r for r in selects if r["call"] == "select"]
    seen = [line for line in out.read_text().splitlines() if "select" in line]
    assert len(seen) == len(selects) == 4
    assert all(" = 1 " in line for line in seen)  # (one socket ready each time)
    assert [len(r["ready"]) for r in selects] == [1, 1, 1, 1]
