"""The witnesses, read: sockviz's own trace beside tshark's reading of the run's pcap,
``ss -tanoi`` and ``strace -f -ttt -T``.

Each reader turns a tool's text into plain records, so a test compares fields and collects
every mismatch (it never stops at the first: the report is the list). Nothing here knows
what a scenario means to do - only what the tools saw.
"""

from __future__ import annotations

import bisect
import functools
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Runs side by side (2 CPUs: most of a lab's time is a kernel's timer running out).
WORKERS = 4
#: Seconds to look again when ss and sockviz disagree: more than the kernel watcher's
#: interval, so a change the kernel made on its own timer (a SYN retried) during the
#: look is either read by then or shows as ss changing (then the moment proves nothing).
AGAIN = 0.6
#: Stepped runs side by side in this process (they mostly wait; more, and the engines'
#: watchers, sharing one interpreter, read the kernel later than a pause's quiet).
STEPPERS = 8


def need(*tools: str):
    """Skip (with the reason) where a witness is not installed."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed here: {', '.join(missing)}")


@dataclass
class Run:
    """One ``sockviz --trace`` run: its arguments, its lines, stderr and its files."""

    args: tuple[str, ...]
    records: list[dict]
    stderr: str
    pcap: Path | None = None
    strace: Path | None = None

    @property
    def name(self) -> str:
        return " ".join(self.args)


def run_all(
    runs: list[tuple[str, ...]], place: Path, pcap: bool = True, strace: bool = False
) -> list[Run]:
    """``sockviz --trace`` with each of ``runs``' arguments, ``WORKERS`` at a time, each with
    its own pcap (and strace log) in ``place``."""

    def one(numbered: tuple[int, tuple[str, ...]]) -> Run:
        n, args = numbered
        command = [sys.executable, "-m", "sockviz", "--trace", *args]
        pcap_path = place / f"run{n}.pcap" if pcap else None
        strace_path = place / f"run{n}.strace" if strace else None
        if pcap_path is not None:
            command += ["--pcap", str(pcap_path), "--overwrite"]
        if strace_path is not None:
            command = [
                "strace",
                "-f",
                "-ttt",
                "-T",
                "-o",
                str(strace_path),
                "-e",
                "trace=network,close,poll,ppoll",
                *command,
            ]
        proc = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, f"sockviz --trace {' '.join(args)}: {proc.stderr[-2000:]}"
        records = [json.loads(line) for line in proc.stdout.splitlines()]
        return Run(args, records, proc.stderr, pcap_path, strace_path)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, enumerate(runs)))


def scratch() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="sockviz-witness-", dir="/tmp")


# --- tshark ------------------------------------------------------------------------------
FLAG_BITS = {
    "FIN": 0x01,
    "SYN": 0x02,
    "RST": 0x04,
    "PSH": 0x08,
    "ACK": 0x10,
    "URG": 0x20,
    "ECE": 0x40,
    "CWR": 0x80,
}

FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "tcp.seq",
    "tcp.ack",
    "tcp.len",
    "udp.length",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
)


@dataclass
class Frame:
    """One frame as tshark reads it (relative sequence numbers, as Wireshark shows them)."""

    number: int
    epoch: float
    proto: str
    src: str
    dst: str
    flags: frozenset[str]
    seq: int | None
    ack: int | None
    """None when the ACK flag is not set (tshark prints 0 there)."""
    nbytes: int
    retransmission: bool
    """Sent again: tshark marks it (retransmission, fast or spurious), or an earlier frame
    from the same sender carried the same sequence number with bytes, a SYN or a FIN
    (tshark calls some of those "out-of-order": a hole filled sooner than its RTT)."""
    marked: bool = False
    """tshark's own mark alone."""
    sack: tuple[tuple[int, int], ...] | None = None
    """Its SACK blocks' (left, right) edges, relative (None: it carried none)."""
    resent_bytes: bool = False
    """It starts below the highest its sender had sent: bytes sent again, however they
    were cut the first time."""
    repeats: bool = False
    """It carries bytes an earlier frame from the same sender carried (however the two were
    cut: a retransmission starts where the ACKs had got to), or the same SYN or FIN: seen
    twice in the capture, so surely sent twice. (tshark's marks are a guess from order and
    time: on lo a frame taken late - its sender moved to the other CPU, whose backlog was
    behind - is a first sending tshark calls a fast retransmission, after the duplicate ACKs
    its own lateness caused; measured beside two CPU burners. Its bytes were never seen
    before, so it repeats nothing.)"""


def address(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def frames(pcap: Path) -> list[Frame]:
    """Every TCP/UDP frame of ``pcap``, in order, as tshark dissects it."""
    rows, blocks, _icmp = dissect(pcap)
    out = []
    for row in rows:
        (
            number,
            epoch,
            ip_src,
            ip_dst,
            ip6_src,
            ip6_dst,
            tsport,
            tdport,
            usport,
            udport,
            flags,
            seq,
            ack,
            tcp_len,
            udp_len,
            retrans,
            fast,
            spurious,
        ) = row
        src_ip, dst_ip = ip_src or ip6_src, ip_dst or ip6_dst
        if tsport:
            bits = int(flags, 16)
            named = frozenset(name for name, bit in FLAG_BITS.items() if bits & bit)
            out.append(
                Frame(
                    int(number),
                    float(epoch),
                    "TCP",
                    address(src_ip, tsport),
                    address(dst_ip, tdport),
                    named,
                    int(seq),
                    int(ack) if "ACK" in named else None,
                    int(tcp_len),
                    bool(retrans or fast or spurious),
                    bool(retrans or fast or spurious),
                )
            )
        else:
            out.append(
                Frame(
                    int(number),
                    float(epoch),
                    "UDP",
                    address(src_ip, usport),
                    address(dst_ip, udport),
                    frozenset(),
                    None,
                    None,
                    int(udp_len) - 8,
                    False,
                )
            )
    for frame in out:
        frame.sack = blocks.get(frame.number)
    sent: set[tuple[str, str, int, frozenset[str]]] = set()
    high: dict[tuple[str, str], int] = {}  # (bytes past the highest each way has sent)
    seen: dict[tuple[str, str], Ranges] = {}  # (the bytes each way has carried)
    for frame in out:
        ends = frame.flags & {"SYN", "FIN"}
        if frame.proto == "TCP" and (frame.nbytes or ends):
            key = (frame.src, frame.dst, frame.seq, ends)
            way = (frame.src, frame.dst)
            frame.resent_bytes = frame.nbytes > 0 and way in high and (frame.seq or 0) < high[way]
            # (bytes below the highest sent: sent again even where the segments were cut
            # otherwise the second time - a path MTU's retransmissions, which tshark calls
            # out-of-order when they come within an RTT; a packet line's retry holds to it)
            carried = seen.setdefault(way, Ranges())
            start, stop = frame.seq or 0, (frame.seq or 0) + frame.nbytes
            frame.repeats = key in sent or carried.overlaps(start, stop)
            carried.add(start, stop)
            frame.retransmission = frame.retransmission or frame.repeats
            sent.add(key)
            end = (frame.seq or 0) + frame.nbytes
            high[way] = max(high.get(way, 0), end)
    return out


class Ranges:
    """Byte ranges, merged where they touch: [start, stop) pairs in order."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.stops: list[int] = []

    def overlaps(self, start: int, stop: int) -> bool:
        i = bisect.bisect_right(self.starts, start)
        if i and self.stops[i - 1] > start:
            return True
        return i < len(self.starts) and self.starts[i] < stop

    def add(self, start: int, stop: int) -> None:
        if stop <= start:
            return
        i = bisect.bisect_left(self.stops, start)  # (the first range ending at or after it)
        j = bisect.bisect_right(self.starts, stop)  # (past the last range starting by its end)
        if i < j:
            start, stop = min(start, self.starts[i]), max(stop, self.stops[j - 1])
        self.starts[i:j], self.stops[i:j] = [start], [stop]


#: What one tshark pass prints of an ICMP error (the error's own fields, then the packet
#: inside's ports; an address field holds the error's and then the inner packet's).
ICMP_FIELDS = (
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
    "udp.srcport",
    "udp.dstport",
    "tcp.srcport",
    "tcp.dstport",
)
SACK_FIELDS = ("tcp.options.sack_le", "tcp.options.sack_re")


@functools.lru_cache(maxsize=8)
def _dissected(pcap: str, _stamp: tuple[int, int]) -> tuple[list, dict, list]:
    """One tshark pass over ``pcap`` (tshark's start is most of its cost): every field each
    reading needs, every occurrence of each."""
    from sockviz.engine.wire.headers import ICMP_ERRORS

    fields = (*FIELDS, *SACK_FIELDS, *ICMP_FIELDS)
    command = ["tshark", "-n", "-r", pcap, "-o", "tcp.relative_sequence_numbers:TRUE"]
    command += ["-o", "tcp.analyze_sequence_numbers:TRUE", "-Y", "tcp or udp or icmp or icmpv6"]
    command += ["-T", "fields", "-E", "separator=,", "-E", "occurrence=a", "-E", "aggregator=;"]
    for field in fields:
        command += ["-e", field]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows, blocks, icmp = [], {}, []
    for line in proc.stdout.splitlines():
        every = dict(zip(fields, (value.split(";") for value in line.split(",")), strict=True))
        first = {field: values[0] for field, values in every.items()}
        t4, c4, t6, c6 = (first[f] for f in ICMP_FIELDS[:4])
        if t4 or t6:  # an ICMP error (it carries the UDP or TCP header it is about)
            version = 4 if t4 else 6
            kind = ICMP_ERRORS.get((version, int(t4 or t6), int(c4 or c6)), "?")
            sport = first["udp.srcport"] or first["tcp.srcport"]
            dport = first["udp.dstport"] or first["tcp.dstport"]
            src = first["ip.src"] or first["ipv6.src"]  # (the error's own: the first)
            dst = first["ip.dst"] or first["ipv6.dst"]
            icmp.append((version, kind, address(src, dport), address(dst, sport)))
            continue
        rows.append(tuple(first[field] for field in FIELDS))  # (as occurrence=f prints)
        left, right = every["tcp.options.sack_le"], every["tcp.options.sack_re"]
        if left != [""]:  # (frame number -> its SACK blocks, relative as Wireshark shows)
            pairs = zip(left, right, strict=True)
            blocks[int(first["frame.number"])] = tuple((int(a), int(b)) for a, b in pairs)
    return rows, blocks, icmp


def dissect(pcap: Path) -> tuple[list, dict, list]:
    """``pcap`` as tshark reads it: its TCP/UDP frames' fields (:data:`FIELDS`), each
    frame's SACK blocks, and its ICMP errors (read once while the file is unchanged)."""
    stat = Path(pcap).stat()
    return _dissected(str(pcap), (stat.st_mtime_ns, stat.st_size))


def icmp_frames(pcap: Path) -> list[tuple[int, str, str, str]]:
    """Every ICMP or ICMPv6 error about a UDP or TCP packet in ``pcap``: (version, its kind
    as sockviz names it, who answered and the port the packet was for, the address and
    port of the packet's sender) - from tshark's dissection of the error and the packet
    inside."""
    return dissect(pcap)[2]


def flag_set(flags: str | None) -> frozenset[str]:
    """A trace's ``flags`` (``PSH,ACK``) as a set of names."""
    return frozenset(f.strip().upper() for f in (flags or "").split(",") if f.strip())


# --- ss -------------------------------------------------------------------------------------
SS_STATES = {
    "ESTAB": "ESTABLISHED",
    "LISTEN": "LISTEN",
    "TIME-WAIT": "TIME_WAIT",
    "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2",
    "CLOSE-WAIT": "CLOSE_WAIT",
    "LAST-ACK": "LAST_ACK",
    "SYN-SENT": "SYN_SENT",
    "SYN-RECV": "SYN_RECV",
    "CLOSING": "CLOSING",
    "UNCONN": "CLOSE",
    "CLOSED": "CLOSE",
}


#: How ss is run: in this network; a two-host run reads each host's (``nsenter``).
SS_COMMANDS = [["ss", "-tanoi"]]


def ss() -> list[tuple[str, str, str]]:
    """Every TCP socket ``ss -tanoi`` lists: (kernel state name, local, peer)."""
    out = []
    for command in SS_COMMANDS:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
        assert proc.returncode == 0, proc.stderr
        for line in proc.stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 5 and parts[0] in SS_STATES:
                out.append((SS_STATES[parts[0]], normal(parts[3]), normal(parts[4])))
    return out


#: A lab stepped in a process of its own (two hosts are made while a process has one
#: thread), its checks' mismatches printed as one JSON line. Each host's ss is read in its
#: own network (the namespaces' descriptors, as the engine keeps them).
LAB = r"""
import json, os, sys
from sockviz.engine.lab.two_hosts import Hosts
hosts = Hosts()
from sockviz.engine.events import WireStatus
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.scenarios import get
from tests.witness import witnesses
from tests.witness import test_kernel_states, test_quiz_answers
name, family = sys.argv[1], sys.argv[2]
witnesses.SS_COMMANDS = [["nsenter", f"--net=/proc/{os.getpid()}/fd/{fd}", "ss", "-tanoi"]
                         for fd in getattr(hosts, "_ns", {}).values()]
settings, drops, _hold = get(name).link
problems = []
for check in (test_kernel_states.check, test_quiz_answers.check):
    link = Link(hosts, LinkSpec.parse(settings, drops), hold=False)
    problems += check(name, {}, family, capture=link, wire=WireStatus("link"))
hosts.close()
print(json.dumps(problems))
"""


def labs_checked(cases: list[tuple[str, str]]) -> list[str]:
    """Both stepped checks of each (lab, family), each lab in a process of its own, all at
    once (most of a lab is a kernel's timer running out)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LAB, name, family],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, family in cases
    ]
    problems = []
    for (name, family), proc in zip(cases, procs, strict=False):
        try:
            out, err = proc.communicate(timeout=180)
        finally:
            proc.kill()
        assert proc.returncode == 0, f"{name} {family}: {err[-3000:]}"
        problems += json.loads(out.splitlines()[-1])
    return problems


def normal(addr: str) -> str:
    """ss's ``[::ffff:...]``/``*`` forms as sockviz writes addresses."""
    return addr.replace("%lo", "")


def ss_state(
    table: list[tuple[str, str, str]], local: str | None, remote: str | None, listener: bool = False
) -> str:
    """The kernel's state for a socket's addresses as ss shows it: a connection by its
    four addresses (one whose peer is not known yet - a connect() in progress - by its
    own address alone), a listener by its local address; ``CLOSE`` where ss lists nothing
    (a socket the kernel has let go, or one bound and not listening). Where a tuple shows
    twice (an open socket the kernel has put in CLOSE while its connection waits in
    TIME_WAIT), the connection's state wins."""
    if local is None:
        return "CLOSE"
    if listener:
        found = [
            state
            for state, here, there in table
            if here == local and state == "LISTEN" and there.endswith(":*")
        ]
    elif remote:
        found = [state for state, here, there in table if here == local and there == remote]
    else:
        found = [state for state, here, there in table if here == local and state != "LISTEN"]
    found = [s for s in found if s != "CLOSE"] or found
    return found[0] if found else "CLOSE"


# --- a run stepped from Python ---------------------------------------------------------------
def step_through(
    scenario,
    family: str,
    at_pause,
    capture=None,
    wire=None,
    quiet: float = 0.3,
    timeout: float = 90.0,
    **options,
) -> list:
    """Run ``scenario`` in step mode, one call per step; at every pause - before each call,
    and once the run has finished - wait until no event has come for ``quiet`` seconds
    (longer than the kernel watcher's interval: what the kernel did has been read), then
    ``at_pause(runner, latest, pending)`` (``latest()``: the events so far, read when
    called; ``pending`` the step waiting, None at the end).
    Returns every event. ``options``: the Runner's own (``size``)."""
    import time

    from sockviz.engine.run.gate import Mode
    from sockviz.engine.run.runner import Runner
    from tests.helpers import Collector

    collector = Collector()
    runner = Runner(
        scenario, collector, family=family, mode=Mode.STEP, capture=capture, wire=wire, **options
    )
    runner.start()
    deadline = time.monotonic() + timeout
    try:
        seen = 0
        while time.monotonic() < deadline:
            assert collector.wait_for(lambda c, n=seen: len(c.pending) > n or c.finished, 20), (
                f"{scenario.name}: no step came after {seen}"
            )
            collector.wait_quiet(quiet, 10)
            latest = lambda: list(collector.events)  # noqa: E731
            if collector.finished:
                at_pause(runner, latest, None)
                return list(collector.events)
            pending = collector.pending[-1]
            at_pause(runner, latest, pending)
            seen = len(collector.pending)
            made = {call.step for call in collector.calls}
            waiting = {p.step for p in collector.pending} - made
            for n in range(len(waiting)):  # (steps run together wait at the gate together)
                if n:
                    time.sleep(0.05)
                runner.step()
        raise AssertionError(f"{scenario.name} did not finish in {timeout} s")
    finally:
        assert runner.stop(), "a thread outlived stop()"


def fold(scenario, events: list):
    """The run's view after ``events``, as the app folds it (no Textual)."""
    from sockviz.view.fold import apply
    from sockviz.view.run_view import RunView

    view = RunView(scenario)
    for event in events:
        apply(view, event, 0.0)
    return view


def no_mismatch(problems: list[str]) -> None:
    """Every witness test ends the same way: each mismatch printed, none allowed."""
    print("\n".join(problems))
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems[:200])


def stepped_mismatches(check, cases, families) -> list[str]:
    """``check(name, options, family)`` for every case on every family, ``STEPPERS`` runs
    side by side (a stepped run mostly waits for its kernel to settle): every mismatch."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(name, options, family) for name, options in cases for family in families]
    with ThreadPoolExecutor(STEPPERS) as pool:
        found = list(pool.map(lambda job: check(*job), jobs))
    return [p for some in found for p in some]
