"""Two hosts and a link: the built-in labs and every --drop kind, on real kernels.

Each run is ``sockviz --trace`` in a process of its own (two hosts are made while a process
has one thread). What is checked is what the kernels did about the link - the lost
segment, then the sender's kernel sending it again, then the call that waited for it - in
order and in counts; the only times asserted are the kernel's own timers (a SYN's first
retransmission is a second later), never sockviz's speed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sockviz.engine.record.trace_lines import line as trace_line
from sockviz.engine.record.trace_format import from_record
from tests.conftest import IPV6
from tests.helpers import copy_for_nobody

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ["ipv4", pytest.param("ipv6", marks=pytest.mark.skipif(not IPV6,
                                                                   reason="no IPv6"))]


def trace(*args: str, user: list[str] | None = None, python: str = sys.executable,
          cwd=ROOT) -> tuple[list[dict], str]:
    return traces([args], user=user, python=python, cwd=cwd)[0]


def traces(runs: list, user: list[str] | None = None, python: str = sys.executable,
           cwd=ROOT) -> list[tuple[list[dict], str]]:
    """``sockviz --trace`` with each of ``runs``' arguments, all at once (most of a lab's
    time is a kernel's timer running out: they run out side by side); each run's records
    and stderr."""
    procs = [subprocess.Popen([*(user or []), python, "-m", "sockviz", "--trace", *args],
                              cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for args in runs]
    out = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, stderr[-2000:]
        lines = stdout.splitlines()
        for text in lines:  # every line reads back as the event it was written from
            assert trace_line(from_record(json.loads(text))) == text
        out.append(([json.loads(text) for text in lines], stderr))
    return out


def two_hosts_here() -> bool:
    _records, err = trace("--link", "delay=1ms", "--scenario", "udp-echo")
    return "no two hosts here" not in err


needs_hosts = pytest.mark.skipif(not two_hosts_here(), reason="two hosts cannot be made here")


def packets(records: list[dict], **match) -> list[dict]:
    return [r for r in records if r["call"] == "packet"
            and all(r.get(k) == v for k, v in match.items())]


def index(records: list[dict], record: dict) -> int:
    return records.index(record)


def call(records: list[dict], socket: str, name: str, n: int = 0) -> dict:
    return [r for r in records if r["socket"] == socket and r["call"] == name][n]


def lost_then_sent_again(records: list[dict], sender: str, flags: str) -> tuple[dict, dict]:
    """The first ``flags`` segment from ``sender``: dropped on the link; and its retry."""
    lost = packets(records, **{"from": sender, "flags": flags})[0]
    assert lost["link"] == "dropped" and lost["retry"] is None
    again = [r for r in packets(records, **{"from": sender, "flags": flags})
             if r["seq_rel"] == lost["seq_rel"] and r["retry"] is not None]
    assert again and again[0]["link"] == "crossed", "the sender's kernel never sent it again"
    assert index(records, again[0]) > index(records, lost)
    return lost, again[0]


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_lost_syn(family):
    check_lost_syn(trace("--scenario", "lost-syn", "--family", family)[0], family)


def check_lost_syn(records: list[dict], family: str) -> None:
    lost, again = lost_then_sent_again(records, "client", "SYN")
    assert again["retry"] >= 0.9  # (the kernel's first SYN retransmission: one second)
    connect = call(records, "client", "connect")
    assert connect["error"] is None and connect["t"] >= lost["t"] + 0.9
    handshake = packets(records)[1:4]
    assert [p["flags"] for p in handshake] == ["SYN", "SYN,ACK", "ACK"]
    local = "10.217.0.2" if family == "ipv4" else "[fd17:217::2]"
    assert connect["local"].startswith(local)


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_lost_data(family):
    check_lost_data(trace("--scenario", "lost-data", "--family", family)[0], family)


def check_lost_data(records: list[dict], family: str) -> None:
    lost = packets(records, **{"from": "client", "link": "dropped"})[0]
    assert lost["nbytes"] > 0 and lost["seq_rel"] == 1
    again = [p for p in packets(records, **{"from": "client"})
             if p["seq_rel"] == 1 and p["nbytes"] and p["retry"] is not None]
    assert again, "the lost data was never sent again"
    recv = call(records, "conn-1", "recv")
    assert recv["nbytes"] == 8192  # (every byte, once the hole was filled)
    assert index(records, recv) > index(records, lost)
    # The server's kernel answered what came after the hole with ACKs that point at it.
    duplicates = [p for p in packets(records, **{"from": "conn-1", "flags": "ACK"})
                  if p["ack_rel"] == 1 and index(records, p) < index(records, again[0])]
    assert duplicates  # (how many before the retry is the kernels' timing)


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_lost_fin(family):
    check_lost_fin(trace("--scenario", "lost-fin", "--family", family)[0], family)


def check_lost_fin(records: list[dict], family: str) -> None:
    _lost, again = lost_then_sent_again(records, "client", "FIN,ACK")
    end = call(records, "conn-1", "recv", 1)
    assert end["nbytes"] == 0  # end of stream: once the FIN came again
    assert end["t"] >= again["t"]
    # (right after close() the FIN is lost: FIN_WAIT1, whatever the timing; whether the
    # client is seen in FIN_WAIT2 before TIME_WAIT depends on whether the server's kernel
    # acknowledged the FIN on its own or with its own FIN - not asserted)
    assert call(records, "client", "close")["kernel"] == "FIN_WAIT1"
    states = [r["kernel"] for r in records if r["call"] == "kernel" and r["socket"] == "client"]
    assert states[-1] == "TIME_WAIT"


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_slow_link(family):
    check_slow_link(trace("--scenario", "slow-link", "--family", family)[0], family)


def check_slow_link(records: list[dict], family: str) -> None:
    windows = [r for r in records if r["call"] == "kernel" and r["socket"] == "client"
               and r.get("cwnd") is not None]
    assert windows and windows[0]["cwnd"] == 10  # (Linux's initial window)
    assert max(w["cwnd"] for w in windows) > 10  # slow start: it grew
    assert all(w["rtt"] >= 80 for w in windows)  # 40 ms each way, at least
    sums = [r for r in records if r["call"] == "packets"]
    assert sums and sum(s["nbytes"] for s in sums if s["from"] == "client") == 1 << 20


DROPS = {  # kind: (who sends it, its flags, what a kernel sends again first)
    "syn": ("client", "SYN", {"SYN"}),
    # (both kernels wait about a second: the server's SYN-ACK or the client's SYN comes first)
    "syn-ack": ("server", "SYN,ACK", {"SYN,ACK", "SYN"}),
    "ack": ("client", "ACK", {"SYN,ACK"}),  # the server never heard: it sends SYN-ACK again
    "data": ("client", "PSH,ACK", {"PSH,ACK"}),
    "fin": ("client", "FIN,ACK", {"FIN,ACK"}),
}


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_each_drop_kind_and_the_kernel_reaction(family):
    runs = traces([("--drop", kind, "--family", family) for kind in DROPS])
    for kind, (records, _err) in zip(DROPS, runs):
        check_drop(records, kind)


def check_drop(records: list[dict], kind: str) -> None:
    sender, flags, again = DROPS[kind]
    dropped = [p for p in packets(records) if p["link"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["flags"] == flags
    assert dropped[0]["from"] == sender
    retried = [p for p in packets(records) if p["retry"] is not None
               and index(records, p) > index(records, dropped[0])]
    assert retried and retried[0]["flags"] in again
    assert call(records, "server", "close")["error"] is None  # the run went to its end


@needs_hosts
def test_the_same_seed_loses_the_same_segments():
    """The decision for each segment, lost or not, is the seed's for that segment - its
    sender, flags, relative sequence number, length, and how many times it was sent - so
    every segment both runs carried was lost in both or in neither (the kernels need not
    send the very same segments: an ACK delayed or not, one more retransmission on a loaded
    machine; a running count of packets shifted every decision after such a one)."""
    (first, _), (second, _) = traces([("--link", "loss=20%,seed=11")] * 2)

    def decided(records) -> dict:
        times: dict = {}
        out = {}
        for p in packets(records):
            key = (p["from"], p["flags"], p["seq_rel"], p["nbytes"])
            times[key] = times.get(key, 0) + 1
            out[(*key, times[key])] = p["link"]
        return out

    one, two = decided(first), decided(second)
    both = one.keys() & two.keys()
    assert any(one[k] == "lost" for k in both)
    assert {k: one[k] for k in both} == {k: two[k] for k in both}


@needs_hosts
def test_a_delay_makes_the_handshake_a_round_trip():
    records, _ = trace("--link", "delay=30ms")
    syn, syn_ack, ack = packets(records)[:3]
    assert [syn["flags"], syn_ack["flags"], ack["flags"]] == ["SYN", "SYN,ACK", "ACK"]
    assert all(p["link"] == "crossed" and p["delay"] >= 0.03 for p in (syn, syn_ack, ack))
    flow = [r for r in records if r["call"] == "kernel" and r.get("rtt") is not None]
    assert flow and flow[0]["rtt"] >= 60  # (the kernel's own measure: two crossings)


def test_bad_link_options_are_refused_in_one_line():
    for args, words in ((["--link", "delay=soon"], "delay should look like delay=50ms"),
                        (["--drop", "rst"], "expected one of syn, syn-ack, ack, data, fin"),
                        (["--link", "delay=5ms", "--family", "unix"], "no link"),
                        (["--link", "delay=5ms", "--listen", "0"], "a real peer"),
                        (["--hold", "--trace"], "not --trace"),
                        (["--drop", "syn", "--scenario", "backlog-full"],
                         "backlog-full runs on loopback only")):
        proc = subprocess.run([sys.executable, "-m", "sockviz", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


LABS = {"lost-syn": check_lost_syn, "lost-data": check_lost_data,
        "lost-fin": check_lost_fin, "slow-link": check_slow_link}


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv")
                    or not Path("/usr/bin/python3").exists(),
                    reason="needs root to become another user, and the system's python3")
@pytest.mark.parametrize("family", FAMILIES)
def test_an_unprivileged_user_gets_the_labs_or_one_line_why(family):
    """As uid 65534, every lab and every --drop kind: on two hosts where /dev/net/tun lets
    that user open it (then checked as root's are), else one line saying why and the same
    calls on loopback (the engine is standard library only, so the system's python3 runs
    a copy of it)."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    mode = os.stat("/dev/net/tun").st_mode
    open_to_all = bool(mode & stat.S_IROTH and mode & stat.S_IWOTH)
    with tempfile.TemporaryDirectory(dir="/tmp") as place:
        copy = Path(place)
        copy_for_nobody(copy, ROOT)
        runs = [(("--scenario", name), check) for name, check in LABS.items()]
        runs += [(("--drop", kind), lambda records, _family, kind=kind: check_drop(
            records, kind)) for kind in DROPS]
        done = traces([(*args, "--family", family) for args, _check in runs], cwd=copy,
                      python="/usr/bin/python3", user=nobody)
        for (args, check), (records, err) in zip(runs, done):
            assert call(records, "server", "close")["error"] is None, args
            if open_to_all:
                check(records, family)
            else:
                assert err == ("sockviz: note: no two hosts here (/dev/net/tun cannot be "
                               "opened (Permission denied): two hosts need it readable and "
                               "writable); the run goes on loopback, with no link\n"), args


STOP = r"""
import json, os, threading, time
from sockviz.engine.run.gate import Mode
from sockviz.engine.lab.two_hosts import Hosts
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
before = sorted(os.listdir("/proc/self/fd"))
hosts = Hosts()
seen = []
link = Link(hosts, LinkSpec.parse("delay=20ms", ("syn",)))
runner = Runner(get("lost-syn"), seen.append, mode=Mode.FAST, capture=link)
runner.start()
deadline = time.monotonic() + 5
while not any(getattr(e, "link", None) == "dropped" for e in seen):
    assert time.monotonic() < deadline
    time.sleep(0.01)
started = time.monotonic()
stopped = runner.stop(0.5)
took = time.monotonic() - started
hosts.close()
print(json.dumps({"stopped": stopped, "took": took, "threads": threading.active_count(),
                  "fds_left": sorted(os.listdir("/proc/self/fd")) != before,
                  "outcome": runner.result.outcome}))
"""


@needs_hosts
def test_stopping_mid_run_leaves_no_thread_descriptor_or_device():
    """Stopped while connect() waits out the lost SYN: every thread ends (the link's too),
    and once the hosts are let go no descriptor is left - the namespaces and their devices
    end with the last of them."""
    proc = subprocess.run([sys.executable, "-c", STOP], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["stopped"] and got["took"] < 1.0 and got["outcome"] == "stopped"
    assert got["threads"] == 1 and not got["fds_left"]


def test_link_lines_read_back_and_bad_ones_are_refused():
    """The trace's link keys, link lines and TCP_INFO keys: written as the general encoder
    would, read back as the same events; a recording's bad ones named in one line."""
    from sockviz.engine.events import KernelEvent, LinkEvent, Segment
    from sockviz.engine.states import Role, State
    from sockviz.engine.record.trace_format import TraceFormatError, read_trace, to_record

    segment = Segment(seq=7, t=0.5, proto="TCP", flags="SYN", source="client",
                      target="server", seq_rel=0, ack_rel=None, window=64240, nbytes=0,
                      options="mss=1460", cause=None, family="AF_INET",
                      local="10.217.0.2:40000", remote="10.217.0.1:5000", link="held")
    released = LinkEvent(seq=8, t=0.9, what="released", segment=7, source="client",
                         target="server", flags="SYN", family="AF_INET",
                         local="10.217.0.2:40000", remote="10.217.0.1:5000", delay=0.05)
    flow = KernelEvent(seq=9, t=1.0, socket="client", role=Role.CLIENT,
                       state=State.CONNECTED, family="AF_INET", type="SOCK_STREAM",
                       local="10.217.0.2:40000", remote="10.217.0.1:5000", sent_total=0,
                       recv_total=0, kernel="ESTABLISHED", previous="ESTABLISHED",
                       rtt=100.4, cwnd=10, retrans=1)
    for event in (segment, released, flow):
        text = trace_line(event)
        assert text == json.dumps(to_record(event))
        assert from_record(json.loads(text)) == event
    good = [json.loads(trace_line(e)) for e in (segment, released)]
    for key, value, words in (("link", "teleported", "crossed, dropped, lost or held"),
                              ("what", "vanished", "released"),
                              ("segment", -1, "segment")):
        record = good[0 if key == "link" else 1] | {key: value}
        lines = [json.dumps(good[0]), json.dumps(record)] if key != "link" \
            else [json.dumps(record)]
        with pytest.raises(TraceFormatError, match=words) as caught:
            read_trace(lines)
        assert "\n" not in str(caught.value)


EXERCISE = """
[scenario]
name = "my-lost-syn"
summary = "the lost SYN, as an exercise"

[link]
delay = "10ms"
drop = ["syn"]

[[socket]]
name = "server"
role = "listener"

[[socket]]
name = "client"
role = "client"

[[step]]
socket = "server"
call = "socket"

[[step]]
socket = "server"
call = "bind"

[[step]]
socket = "server"
call = "listen"

[[step]]
socket = "client"
call = "socket"

[[step]]
socket = "client"
call = "connect"
expect = { state = "connected", min_seconds = SECONDS, retries = 1 }

[[step]]
socket = "client"
call = "close"

[[step]]
socket = "server"
call = "close"
"""


@needs_hosts
def test_a_teacher_writes_the_lost_syn_as_an_exercise(tmp_path):
    """A scenario file with a [link] and what the lost SYN costs as expectations: met, and
    said so; a wrong one is said as unmet (exit 1); a bad value refused with its line."""
    lesson = tmp_path / "lesson.toml"
    lesson.write_text(EXERCISE.replace("SECONDS", "0.9"))
    _records, err = trace("--scenario", str(lesson))
    assert err == "sockviz: the expectation of " + str(lesson) + " met\n"
    lesson.write_text(EXERCISE.replace("SECONDS", "5"))
    proc = subprocess.run([sys.executable, "-m", "sockviz", "--trace", "--scenario",
                           str(lesson)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 1
    assert "expected state connected, at least 5 s, at least 1 sent again, got state connected, 1." \
        in proc.stderr
    lesson.write_text(EXERCISE.replace("SECONDS", '"soon"'))
    proc = subprocess.run([sys.executable, "-m", "sockviz", "--trace", "--scenario",
                           str(lesson)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2 and "line 37: min_seconds = 'soon'" in proc.stderr


AGAIN = r"""
import json, time
from sockviz.engine.run.gate import Mode
from sockviz.engine.lab.two_hosts import Hosts
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
hosts = Hosts()
runs = []
for run in range(2):  # (as the TUI's r does: a new run on the same two hosts)
    seen = []
    link = Link(hosts, LinkSpec.parse("delay=5ms", ("fin",)), hold=True)
    runner = Runner(get("tcp-echo"), seen.append, mode=Mode.STEP, capture=link)
    runner.start()
    for _ in range(9):  # five calls, connect(), and its SYN, SYN-ACK and ACK let cross
        deadline = time.monotonic() + 5
        while not (runner.gate.waiting or link.waiting()) and time.monotonic() < deadline:
            time.sleep(0.01)
        runner.step()
        time.sleep(0.05)
    time.sleep(0.2)
    runs.append([[e.flags, e.link] for e in seen if type(e).__name__ == "Segment"]
                + [[e.call.value] for e in seen if type(e).__name__ == "CallEvent"][-1:])
    runner.stop()
print(json.dumps(runs))
"""


@needs_hosts
def test_a_second_run_on_the_same_hosts_is_not_held_up_by_the_first():
    """The TUI's r starts a run on the hosts it has: what the first run's closing left on
    the devices is let through, neither held nor counted for a --drop."""
    proc = subprocess.run([sys.executable, "-c", AGAIN], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = json.loads(proc.stdout.splitlines()[-1])
    assert first == second
    assert first[:3] == [["SYN", "held"], ["SYN,ACK", "held"], ["ACK", "held"]]
    assert first[-1] == ["connect"]
